/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LD_PRELOAD shim for tests/integration/faults.sh: moves one process's wall
 * clock and boot clock without touching the machine's. time() and
 * clock_gettime() of CLOCK_REALTIME(_COARSE) and CLOCK_BOOTTIME are shifted
 * by the seconds in the file named by $CLOCKSHIFT_FILE:
 *
 *     REALTIME_OFFSET [BOOTTIME_OFFSET]        (decimal, may be negative)
 *
 * The file is read at every call, so a test that replaces it (rename) makes
 * the clock jump at once; a missing or unreadable file means no shift.
 * Shifting REALTIME and BOOTTIME by the same amount looks like a resume from
 * suspend; REALTIME alone like a clock step. CLOCK_MONOTONIC (libevent's
 * timers, curl's timeouts) is never shifted.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

/* Parse a decimal at *p (spaces skipped); false when there is none. */
static bool parse_ll(const char **p, long long *ret)
{
        const char *s = *p;
        long long v = 0;
        bool neg = false, any = false;

        while (*s == ' ' || *s == '\t' || *s == '\n')
                s++;
        if (*s == '-' || *s == '+')
                neg = *s++ == '-';
        while (*s >= '0' && *s <= '9' && v < 1000000000000LL) {
                v = v * 10 + (*s++ - '0');
                any = true;
        }
        if (any) {
                *ret = neg ? -v : v;
                *p = s;
        }
        return any;
}

/* Only syscalls and no allocation: callers may be signal handlers. */
static void offsets(long long *ret_real, long long *ret_boot)
{
        const char *path = getenv("CLOCKSHIFT_FILE"), *p;
        char buf[64];
        ssize_t n = -1;
        int fd, saved = errno;

        *ret_real = *ret_boot = 0;
        if (path && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
                n = read(fd, buf, sizeof(buf) - 1);
                (void) close(fd);
        }
        if (n > 0) {
                buf[n] = '\0';
                p = buf;
                if (parse_ll(&p, ret_real))
                        (void) parse_ll(&p, ret_boot);
        }
        errno = saved;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
        static clock_gettime_fn real;
        long long off_real, off_boot;
        int r;

        if (!real)
                real = (clock_gettime_fn) dlsym(RTLD_NEXT, "clock_gettime");
        r = real(id, ts);
        if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE || id == CLOCK_BOOTTIME)) {
                offsets(&off_real, &off_boot);
                ts->tv_sec += (time_t) (id == CLOCK_BOOTTIME ? off_boot : off_real);
        }
        return r;
}

time_t time(time_t *t)
{
        struct timespec ts;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return (time_t) -1;
        if (t)
                *t = ts.tv_sec;
        return ts.tv_sec;
}
