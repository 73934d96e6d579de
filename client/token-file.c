/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "client/token-file.h"

int token_file_read(const char *path, size_t max, bool strip_newline, char **ret,
                    size_t *ret_len)
{
        /* room for max bytes, a "\r\n" to strip, one byte to detect overflow */
        size_t cap = max + 3, len = 0;
        char *buf = NULL;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        buf = malloc(cap + 1);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        while (len < cap) {
                ssize_t n = read(fd, buf + len, cap - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        goto out;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (strip_newline && len > 0 && buf[len - 1] == '\n') {
                len--;
                if (len > 0 && buf[len - 1] == '\r')
                        len--;
        }
        if (len > max) {
                r = -E2BIG;
                goto out;
        }
        buf[len] = '\0';
        *ret = buf;
        *ret_len = len;
        buf = NULL;
        r = 0;
out:
        free(buf);
        close(fd);
        return r;
}
