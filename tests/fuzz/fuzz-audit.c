/* SPDX-License-Identifier: BSD-3-Clause */
/* Verify arbitrary bytes as an audit log file; then open it as the live log
 * (recovering a partial last line) and append a record (not a critical one,
 * to keep fdatasync out of the loop), which must leave a
 * chain that verifies whenever the input's own records did. */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/audit.h"
#include "daemon/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int write_all(int fd, const uint8_t *data, size_t size)
{
        while (size > 0) {
                ssize_t n = write(fd, data, size);
                if (n <= 0)
                        return -1;
                data += n;
                size -= (size_t) n;
        }
        return 0;
}

static char dir[PATH_MAX - 16], path[PATH_MAX];

static void cleanup(void)
{
        (void) unlink(path);
        (void) rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *paths[] = { path };
        struct audit_verify_result before, after;
        struct audit_record rec = { .event = AUDIT_EVENT_TOKEN_ISSUED, .outcome = "ok" };
        struct audit *a = NULL;
        int fd;

        if (!path[0]) {
                /* $TMPDIR on a tmpfs keeps disk flushes out of the loop */
                const char *tmpdir = getenv("TMPDIR");

                log_setup(LOG_TARGET_TEXT, LOG_ERR);
                if ((size_t) snprintf(dir, sizeof(dir), "%s/fuzz-audit-XXXXXX",
                                      tmpdir && *tmpdir ? tmpdir : "/tmp") >= sizeof(dir) ||
                    !mkdtemp(dir))
                        abort();
                (void) snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
                atexit(cleanup);
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write_all(fd, data, size) < 0)
                abort();
        close(fd);
        if (audit_verify_files(paths, 1, &before, NULL) < 0)
                abort();
        if (audit_open(path, 1 << 20, 1, &a, NULL, NULL) == 0) {
                if (audit_append(a, &rec, NULL) < 0)
                        abort();
                audit_close(a);
                if (audit_verify_files(paths, 1, &after, NULL) < 0)
                        abort();
                /* an intact log stays intact, one record longer, without the partial tail */
                if (before.intact && (!after.intact || after.partial_tail ||
                                      after.n_records != before.n_records + 1))
                        abort();
        }
        return 0;
}
