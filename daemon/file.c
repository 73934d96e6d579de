/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/file.h"

int file_read_all(const char *path, size_t max, uint8_t **ret, size_t *ret_len, struct err *e)
{
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_set(e, -errno, "cannot open '%s': %s", path, strerror(errno));
        for (;;) {
                ssize_t n;

                if (len == cap) {
                        size_t ncap = cap ? cap * 2 : 4096;
                        uint8_t *p;

                        /* one byte more than max tells "too big" from "exactly max" */
                        if (ncap > max + 1)
                                ncap = max + 1;
                        if (ncap <= cap) {
                                r = err_set(e, -E2BIG, "'%s' is larger than %zu bytes", path, max);
                                goto out;
                        }
                        p = realloc(buf, ncap);
                        if (!p) {
                                r = err_set(e, -ENOMEM, "out of memory reading '%s'", path);
                                goto out;
                        }
                        buf = p;
                        cap = ncap;
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = err_set(e, -errno, "cannot read '%s': %s", path, strerror(errno));
                        goto out;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (len > max) {
                r = err_set(e, -E2BIG, "'%s' is larger than %zu bytes", path, max);
                goto out;
        }
        buf[len] = 0;           /* len < cap here: a NUL for text readers */
        *ret = buf;
        *ret_len = len;
        buf = NULL;
        r = 0;
out:
        free(buf);
        (void) close(fd);
        return r;
}
