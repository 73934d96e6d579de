/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <pthread.h>
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

#include "attestd/client.h"

/* A fake daemon: answers each accepted connection with the next scripted
 * reply (after reading the request head), then closes. */
struct fake {
        char path[108];
        int lfd;
        const char *const *replies;
        size_t n;
        unsigned delay_ms;              /* before answering */
        char last_request[4096];
        pthread_t thread;
};

static void *serve(void *arg)
{
        struct fake *f = arg;

        for (size_t i = 0; i < f->n; i++) {
                int fd = accept(f->lfd, NULL, NULL);
                ssize_t got;

                if (fd < 0)
                        break;
                got = recv(fd, f->last_request, sizeof(f->last_request) - 1, 0);
                f->last_request[got > 0 ? got : 0] = '\0';
                if (f->delay_ms)
                        usleep(f->delay_ms * 1000);
                if (f->replies[i])
                        (void) send(fd, f->replies[i], strlen(f->replies[i]), MSG_NOSIGNAL);
                close(fd);
        }
        return NULL;
}

static void fake_start(struct fake *f, const char *const *replies, size_t n)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        snprintf(f->path, sizeof(f->path), "/tmp/attestd-test-client-%d.sock", getpid());
        unlink(f->path);
        strcpy(sa.sun_path, f->path);
        f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(f->lfd >= 0);
        assert_int_equal(bind(f->lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->lfd, 16), 0);
        f->replies = replies;
        f->n = n;
        assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
}

static void fake_stop(struct fake *f)
{
        pthread_join(f->thread, NULL);
        close(f->lfd);
        unlink(f->path);
}

#define TRUSTED "{\"verdict\":\"trusted\",\"reasons\":[],\"stale\":false}"
#define SHORT_TRUSTED "{\"verdict\":\"trusted\"}"         /* 21 bytes */
#define HTTP(code, body) "HTTP/1.1 " code "\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n" body

static char *reply(const char *status, const char *body)
{
        char *s;
        assert_true(asprintf(&s, "HTTP/1.1 %s\r\nContent-Length: %zu\r\n\r\n%s", status, strlen(body), body) > 0);
        return s;
}

static void test_verdict_statuses(void **state)
{
        char *r[4] = {
                reply("200 OK", TRUSTED),
                reply("403 Forbidden", "{\"verdict\":\"untrusted\",\"reasons\":[{\"message\":\"x\"}]}"),
                reply("503 Service Unavailable", "{\"verdict\":\"unknown\"}"),
                reply("200 OK", "{\"verdict\":\"untrusted\"}"),   /* status and body disagree */
        };
        struct fake f = {};
        struct attestd_client *c;
        enum attestd_verdict v;
        json_t *doc = NULL;

        fake_start(&f, (const char *const *) r, 4);
        assert_int_equal(attestd_client_new(f.path, &c), 0);
        assert_int_equal(attestd_get_verdict(c, 30, &v, &doc), 0);
        assert_int_equal(v, ATTESTD_VERDICT_TRUSTED);
        assert_non_null(strstr(f.last_request, "GET /v1/verdict?max_age=30 HTTP/1.1\r\n"));
        json_decref(doc);
        assert_int_equal(attestd_get_verdict(c, -1, &v, NULL), 0);
        assert_int_equal(v, ATTESTD_VERDICT_UNTRUSTED);
        assert_int_equal(attestd_get_verdict(c, -1, &v, NULL), 0);
        assert_int_equal(v, ATTESTD_VERDICT_UNKNOWN);
        /* a 200 that does not say trusted is not trusted */
        assert_int_equal(attestd_get_verdict(c, -1, &v, NULL), -EBADMSG);
        attestd_client_free(c);
        fake_stop(&f);
        for (int i = 0; i < 4; i++)
                free(r[i]);
}

/* Ensure that malformed, truncated and oversized answers are errors. */
static void test_malformed_answers(void **state)
{
        static const char *const bad[] = {
                "garbage\r\n\r\n",
                "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}",
                "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"verdict\":",       /* truncated */
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",               /* oversized */
                "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nnotjson",
                NULL,                                                               /* closes silently */
                /* no value: the digits after the blank line are body, not length */
                "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n22",
                /* a trusted verdict behind a length that is not just digits */
                "HTTP/1.1 200 OK\r\nContent-Length: 21 x\r\n\r\n" SHORT_TRUSTED,
                "HTTP/1.1 200 OK\r\nContent-Length: +21\r\n\r\n" SHORT_TRUSTED,
                "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
                /* two lengths that disagree */
                "HTTP/1.1 200 OK\r\nContent-Length: 25\r\nContent-Length: 21\r\n\r\n"
                SHORT_TRUSTED "    ",
        };
        static const int expect[] = { -EBADMSG, -EBADMSG, -EBADMSG, -EBADMSG, -EMSGSIZE, -EBADMSG,
                                      -EBADMSG, -EBADMSG, -EBADMSG, -EBADMSG, -EBADMSG, -EBADMSG,
                                      -EBADMSG };
        const int n = sizeof(bad) / sizeof(bad[0]);
        struct fake f = {};
        struct attestd_client *c;
        enum attestd_verdict v;

        assert_int_equal(sizeof(expect) / sizeof(expect[0]), n);
        fake_start(&f, bad, (size_t) n);
        assert_int_equal(attestd_client_new(f.path, &c), 0);
        for (int i = 0; i < n; i++) {
                int r = attestd_get_verdict(c, -1, &v, NULL);
                if (r != expect[i])
                        fail_msg("case %d: got %d (%s), want %d", i, r, attestd_strerror(r), expect[i]);
        }
        attestd_client_free(c);
        fake_stop(&f);
}

/* Ensure that blanks around the length, a repeated equal length and a
 * length-less body ended by the close are accepted. */
static void test_length_forms(void **state)
{
        static const char *const ok[] = {
                ("HTTP/1.1 200 OK\r\ncontent-length:\t21 \r\n\r\n" SHORT_TRUSTED),
                ("HTTP/1.1 200 OK\r\nContent-Length: 21\r\nContent-Length: 21\r\n\r\n"
                 SHORT_TRUSTED "trailing"),
                ("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" SHORT_TRUSTED),
        };
        struct fake f = {};
        struct attestd_client *c;
        enum attestd_verdict v;

        fake_start(&f, ok, 3);
        assert_int_equal(attestd_client_new(f.path, &c), 0);
        for (int i = 0; i < 3; i++) {
                int r = attestd_get_verdict(c, -1, &v, NULL);
                if (r != 0 || v != ATTESTD_VERDICT_TRUSTED)
                        fail_msg("case %d: got %d (%s)", i, r, attestd_strerror(r));
        }
        attestd_client_free(c);
        fake_stop(&f);
}

static void test_timeout_and_unreachable(void **state)
{
        static const char *const slow[] = { HTTP("200 OK", "{}") };
        struct fake f = { .delay_ms = 600 };
        struct attestd_client *c;
        enum attestd_verdict v;

        fake_start(&f, slow, 1);
        assert_int_equal(attestd_client_new(f.path, &c), 0);
        attestd_client_set_timeout(c, 150);
        assert_int_equal(attestd_get_verdict(c, -1, &v, NULL), -ETIMEDOUT);
        attestd_client_free(c);
        fake_stop(&f);

        assert_int_equal(attestd_client_new("/nonexistent/attestd.sock", &c), 0);
        assert_int_equal(attestd_get_verdict(c, -1, &v, NULL), -ENOENT);
        assert_non_null(strstr(attestd_strerror(-ENOENT), "daemon running"));
        attestd_client_free(c);
}

static void test_wait(void **state)
{
        char *r[3] = {
                reply("503 Service Unavailable", "{\"verdict\":\"unknown\"}"),
                reply("503 Service Unavailable", "{\"verdict\":\"unknown\"}"),
                reply("200 OK", TRUSTED),
        };
        char *u = reply("403 Forbidden", "{\"verdict\":\"untrusted\"}");
        struct fake f = {};
        struct attestd_client *c;
        enum attestd_verdict v;

        fake_start(&f, (const char *const *) r, 3);
        assert_int_equal(attestd_client_new(f.path, &c), 0);
        assert_int_equal(attestd_wait(c, 10000, -1, &v, NULL), 0);
        assert_int_equal(v, ATTESTD_VERDICT_TRUSTED);
        fake_stop(&f);

        /* untrusted ends the wait at once */
        fake_start(&f, (const char *const *) &u, 1);
        assert_int_equal(attestd_wait(c, 10000, -1, &v, NULL), 0);
        assert_int_equal(v, ATTESTD_VERDICT_UNTRUSTED);
        fake_stop(&f);

        /* nobody listening: keeps trying until the deadline */
        assert_int_equal(attestd_wait(c, 300, -1, &v, NULL), -ETIMEDOUT);
        assert_int_equal(v, ATTESTD_VERDICT_UNKNOWN);
        attestd_client_free(c);
        for (int i = 0; i < 3; i++)
                free(r[i]);
        free(u);
}

static void test_token_and_attest(void **state)
{
        char *r[4] = {
                reply("200 OK", "{\"token\":\"aaa.bbb.ccc\"}"),
                reply("403 Forbidden", "{\"error\":{\"code\":\"forbidden\",\"message\":\"no\"}}"),
                reply("200 OK", "{\"verdict\":\"trusted\",\"token\":\"x.y.z\"}"),
                reply("400 Bad Request", "{\"error\":{\"code\":\"bad-nonce\",\"message\":\"no\"}}"),
        };
        struct fake f = {};
        struct attestd_client *c;
        enum attestd_verdict v;
        char *jwt = NULL;
        json_t *doc = NULL;

        fake_start(&f, (const char *const *) r, 4);
        assert_int_equal(attestd_client_new(f.path, &c), 0);
        assert_int_equal(attestd_get_token(c, &jwt), 0);
        assert_string_equal(jwt, "aaa.bbb.ccc");
        free(jwt);
        assert_int_equal(attestd_get_token(c, &jwt), -EPERM);
        assert_int_equal(attestd_attest(c, "bm9uY2U=", &v, &doc), 0);
        assert_non_null(strstr(f.last_request, "POST /v1/attest HTTP/1.1\r\n"));
        assert_non_null(strstr(f.last_request, "{\"nonce\":\"bm9uY2U=\"}"));
        assert_string_equal(json_string_value(json_object_get(doc, "token")), "x.y.z");
        json_decref(doc);
        assert_int_equal(attestd_attest(c, "!!", &v, NULL), -EINVAL);
        attestd_client_free(c);
        fake_stop(&f);
        for (int i = 0; i < 4; i++)
                free(r[i]);
}

static void test_socket_selection(void **state)
{
        struct attestd_client *c;
        char longpath[200];

        unsetenv(ATTESTD_SOCKET_ENV);
        assert_int_equal(attestd_client_new(NULL, &c), 0);
        assert_string_equal(attestd_client_get_socket(c), ATTESTD_SOCKET_DEFAULT);
        attestd_client_free(c);
        setenv(ATTESTD_SOCKET_ENV, "/tmp/x.sock", 1);
        assert_int_equal(attestd_client_new(NULL, &c), 0);
        assert_string_equal(attestd_client_get_socket(c), "/tmp/x.sock");
        attestd_client_free(c);
        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[sizeof(longpath) - 1] = '\0';
        assert_int_equal(attestd_client_new(longpath, &c), -ENAMETOOLONG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_verdict_statuses),
                cmocka_unit_test(test_malformed_answers),
                cmocka_unit_test(test_length_forms),
                cmocka_unit_test(test_timeout_and_unreachable),
                cmocka_unit_test(test_wait),
                cmocka_unit_test(test_token_and_attest),
                cmocka_unit_test(test_socket_selection),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
