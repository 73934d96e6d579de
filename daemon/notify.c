/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "notify"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "daemon/defaults.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/xalloc.h"

struct notify {
        bool enabled;
        unsigned long long watchdog_usec;       /* ping interval, 0 = off */
        struct event *watchdog;
};

static int send_state(struct notify *n, const char *state)
{
        int r;

        if (!n || !n->enabled)
                return 0;
        r = sd_notify(0, state);
        if (r < 0)
                return log_debug_errno(r, "sd_notify failed: %m");
        return 0;
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
        (void) send_state(arg, "WATCHDOG=1");
}

int notify_new(struct event_base *base, struct notify **ret)
{
        struct notify *n = xcalloc(1, sizeof(*n));
        uint64_t usec = 0;

        n->enabled = getenv("NOTIFY_SOCKET") != NULL;
        if (n->enabled && sd_watchdog_enabled(0, &usec) > 0 && usec >= 2) {
                n->watchdog_usec = usec / 2;
                n->watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, n);
                if (!n->watchdog) {
                        free(n);
                        return -ENOMEM;
                }
        }
        *ret = n;
        return 0;
}

struct notify *notify_free(struct notify *n)
{
        if (!n)
                return NULL;
        if (n->watchdog)
                event_free(n->watchdog);
        free(n);
        return NULL;
}

bool notify_enabled(const struct notify *n)
{
        return n && n->enabled;
}

unsigned long long notify_watchdog_interval_usec(const struct notify *n)
{
        return n ? n->watchdog_usec : 0;
}

static int status_line(char *buf, size_t len, const char *prefix, const char *status)
{
        size_t o = (size_t) snprintf(buf, len, "%s", prefix);

        for (const char *s = status; *s && o + 1 < len; s++)
                buf[o++] = (*s == '\n' || (unsigned char) *s < 0x20) ? ' ' : *s;
        buf[o] = '\0';
        return 0;
}

int notify_ready(struct notify *n, const char *status)
{
        char buf[NOTIFY_STATUS_MAX + 32];

        if (!n || !n->enabled)
                return 0;
        if (n->watchdog && !event_pending(n->watchdog, EV_TIMEOUT, NULL)) {
                struct timeval tv = {
                        .tv_sec = (time_t) (n->watchdog_usec / 1000000),
                        .tv_usec = (suseconds_t) (n->watchdog_usec % 1000000),
                };
                if (event_add(n->watchdog, &tv) < 0)
                        return log_error_errno(-ENOMEM, "Cannot start the watchdog timer");
        }
        if (!status)
                return send_state(n, "READY=1");
        status_line(buf, sizeof(buf), "READY=1\nSTATUS=", status);
        return send_state(n, buf);
}

int notify_status(struct notify *n, const char *fmt, ...)
{
        char text[NOTIFY_STATUS_MAX], buf[NOTIFY_STATUS_MAX + 8];
        va_list ap;

        if (!n || !n->enabled)
                return 0;
        va_start(ap, fmt);
        (void) vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        status_line(buf, sizeof(buf), "STATUS=", text);
        return send_state(n, buf);
}

int notify_reloading(struct notify *n)
{
        char buf[64];
        struct timespec ts;

        if (!n || !n->enabled)
                return 0;
        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                return -errno;
        snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
                 (unsigned long long) ts.tv_sec * 1000000ull + (unsigned long long) ts.tv_nsec / 1000);
        return send_state(n, buf);
}

int notify_stopping(struct notify *n)
{
        if (!n)
                return 0;
        if (n->watchdog)
                event_del(n->watchdog);
        return send_state(n, "STOPPING=1");
}

int notify_errno(struct notify *n, int err)
{
        char buf[32];

        snprintf(buf, sizeof(buf), "ERRNO=%d", abs(err));
        return send_state(n, buf);
}

int notify_listen_fds(int *ret_fd)
{
        int n, r;

        n = sd_listen_fds(1);
        if (n < 0)
                return log_error_errno(n, "Cannot read the socket-activation fds: %m");
        if (n == 0)
                return -ENOENT;
        if (n != 1)
                return log_error_errno(-EINVAL, "Socket activation passed %d fds; attestd takes exactly one "
                                       "(ListenStream=/run/attestd/attestd.sock)", n);
        r = sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0);
        if (r < 0)
                return log_error_errno(r, "Cannot inspect the socket-activated fd: %m");
        if (r == 0)
                return log_error_errno(-EINVAL, "The socket-activated fd is not a listening AF_UNIX "
                                       "stream socket (ListenStream= with a path is required)");
        *ret_fd = SD_LISTEN_FDS_START;
        return 0;
}
