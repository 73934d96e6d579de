/* SPDX-License-Identifier: BSD-3-Clause */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "daemon/notify.h"

struct t {
        char dir[64];
        char path[128];
        int fd;
        struct event_base *base;
};

static int setup(void **state)
{
        struct t *t = calloc(1, sizeof(*t));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        strcpy(t->dir, "/tmp/attestd-notify-XXXXXX");
        assert_non_null(mkdtemp(t->dir));
        snprintf(t->path, sizeof(t->path), "%s/notify", t->dir);
        strcpy(sa.sun_path, t->path);
        t->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(t->fd >= 0);
        assert_int_equal(bind(t->fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        setenv("NOTIFY_SOCKET", t->path, 1);
        t->base = event_base_new();
        *state = t;
        return 0;
}

static int teardown(void **state)
{
        struct t *t = *state;

        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        close(t->fd);
        unlink(t->path);
        rmdir(t->dir);
        event_base_free(t->base);
        free(t);
        return 0;
}

static int recv_msg(struct t *t, char *buf, size_t len)
{
        ssize_t n = recv(t->fd, buf, len - 1, 0);
        if (n < 0)
                return -1;
        buf[n] = '\0';
        return (int) n;
}

static void test_messages(void **state)
{
        struct t *t = *state;
        struct notify *n = NULL;
        char buf[512];

        assert_int_equal(notify_new(t->base, &n), 0);
        assert_true(notify_enabled(n));
        assert_int_equal(notify_ready(n, "serving\nverdict unknown"), 0);
        assert_true(recv_msg(t, buf, sizeof(buf)) > 0);
        assert_string_equal(buf, "READY=1\nSTATUS=serving verdict unknown");
        assert_int_equal(notify_status(n, "verdict %s", "trusted"), 0);
        assert_true(recv_msg(t, buf, sizeof(buf)) > 0);
        assert_string_equal(buf, "STATUS=verdict trusted");
        assert_int_equal(notify_reloading(n), 0);
        assert_true(recv_msg(t, buf, sizeof(buf)) > 0);
        assert_true(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
        assert_true(strtoull(buf + 27, NULL, 10) > 0);
        assert_int_equal(notify_errno(n, -ENOENT), 0);
        assert_true(recv_msg(t, buf, sizeof(buf)) > 0);
        assert_string_equal(buf, "ERRNO=2");
        assert_int_equal(notify_stopping(n), 0);
        assert_true(recv_msg(t, buf, sizeof(buf)) > 0);
        assert_string_equal(buf, "STOPPING=1");
        notify_free(n);
}

/* Ensure that WATCHDOG=1 comes from the loop at half the interval. */
static void test_watchdog(void **state)
{
        struct t *t = *state;
        struct timeval tv = { .tv_sec = 0, .tv_usec = 450000 };
        struct notify *n = NULL;
        char buf[512], pid[32];
        int pings = 0;

        snprintf(pid, sizeof(pid), "%d", (int) getpid());
        setenv("WATCHDOG_USEC", "200000", 1);
        setenv("WATCHDOG_PID", pid, 1);
        assert_int_equal(notify_new(t->base, &n), 0);
        assert_int_equal(notify_watchdog_interval_usec(n), 100000);
        assert_int_equal(notify_ready(n, NULL), 0);
        assert_true(recv_msg(t, buf, sizeof(buf)) > 0);
        assert_string_equal(buf, "READY=1");
        /* Not while the loop does not run. */
        usleep(250000);
        assert_int_equal(recv_msg(t, buf, sizeof(buf)), -1);
        event_base_loopexit(t->base, &tv);
        event_base_dispatch(t->base);
        while (recv_msg(t, buf, sizeof(buf)) > 0) {
                assert_string_equal(buf, "WATCHDOG=1");
                pings++;
        }
        assert_true(pings >= 3 && pings <= 6);
        assert_int_equal(notify_stopping(n), 0);
        notify_free(n);
}

static void test_disabled(void **state)
{
        struct t *t = *state;
        struct notify *n = NULL;
        char buf[64];

        unsetenv("NOTIFY_SOCKET");
        assert_int_equal(notify_new(t->base, &n), 0);
        assert_false(notify_enabled(n));
        assert_int_equal(notify_ready(n, "x"), 0);
        assert_int_equal(notify_status(n, "y"), 0);
        assert_int_equal(notify_stopping(n), 0);
        assert_int_equal(recv_msg(t, buf, sizeof(buf)), -1);
        notify_free(n);
}

static void test_listen_fds(void **state)
{
        struct t *t = *state;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char pid[32], path[160];
        int s, fd = -1, saved, nf;

        /* fd 3 is SD_LISTEN_FDS_START: move our own sockets out of the way. */
        nf = fcntl(t->fd, F_DUPFD_CLOEXEC, 64);
        assert_true(nf >= 64);
        close(t->fd);
        t->fd = nf;
        saved = fcntl(3, F_DUPFD_CLOEXEC, 64);
        snprintf(pid, sizeof(pid), "%d", (int) getpid());
        unsetenv("LISTEN_FDS");
        assert_int_equal(notify_listen_fds(&fd), -ENOENT);

        snprintf(path, sizeof(path), "%s/listen", t->dir);
        strcpy(sa.sun_path, path);
        s = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_int_equal(bind(s, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(s, 4), 0);
        assert_int_equal(dup2(s, 3), 3);
        setenv("LISTEN_PID", pid, 1);
        setenv("LISTEN_FDS", "1", 1);
        assert_int_equal(notify_listen_fds(&fd), 0);
        assert_int_equal(fd, 3);
        assert_null(getenv("LISTEN_FDS"));      /* not inherited by children */

        /* A datagram socket is not what the unit file must pass. */
        close(3);
        assert_int_equal(dup2(t->fd, 3), 3);
        setenv("LISTEN_PID", pid, 1);
        setenv("LISTEN_FDS", "1", 1);
        assert_int_equal(notify_listen_fds(&fd), -EINVAL);

        setenv("LISTEN_PID", pid, 1);
        setenv("LISTEN_FDS", "2", 1);
        assert_int_equal(notify_listen_fds(&fd), -EINVAL);
        close(3);
        close(s);
        unlink(path);
        if (saved >= 0) {
                dup2(saved, 3);
                close(saved);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_messages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watchdog, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disabled, setup, teardown),
                cmocka_unit_test_setup_teardown(test_listen_fds, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
