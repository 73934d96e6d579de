/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>

#include "daemon/defaults.h"
#include "daemon/http.h"

static void check_retry(const char *v, time_t now, int64_t expect)
{
        int64_t s = -2;

        if (http_parse_retry_after(v, now, &s) != 0)
                fail_msg("'%s' was refused", v);
        if (s != expect)
                fail_msg("'%s': %lld, want %lld", v, (long long) s, (long long) expect);
}

static void test_retry_after_delta(void **state)
{
        (void) state;
        check_retry("0", 0, 0);
        check_retry("120", 0, 120);
        check_retry("  7\r\n", 0, 7);
        check_retry("999999999999999999999999", 0, HTTP_RETRY_AFTER_MAX_S);
        check_retry("3601", 0, HTTP_RETRY_AFTER_MAX_S);
}

static void test_retry_after_date(void **state)
{
        /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 (RFC 9110 examples) */
        (void) state;
        check_retry("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30, 30);
        check_retry("Sunday, 06-Nov-94 08:49:37 GMT", 784111777 - 30, 30);
        check_retry("Sun Nov  6 08:49:37 1994", 784111777 - 30, 30);
        check_retry("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 100, 0);      /* past */
        check_retry("Sun, 06 Nov 1994 08:49:37 GMT", 0, HTTP_RETRY_AFTER_MAX_S);
}

static void test_retry_after_invalid(void **state)
{
        static const char *const bad[] = { "", "   ", "12a", "-5", "1.5", "soon", NULL };
        int64_t s = 42;

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(http_parse_retry_after(bad[i], 0, &s), -EINVAL);
        assert_int_equal(s, 42);
}

static void never_cb(struct http_response *resp, void *userdata)
{
        (void) resp;
        (void) userdata;
        fail_msg("callback of a refused request ran");
}

/* Ensure that incomplete requests are refused before anything starts. */
static void test_request_validation(void **state)
{
        static const char *const bad_header[] = { "X-Bad: a\r\nInjected: b", NULL };
        static const char *const no_colon[] = { "NoColon", NULL };
        struct event_base *base = event_base_new();
        struct http_client *c = NULL;
        struct http_transfer *t = NULL;
        const struct http_request ok = {
                .method = HTTP_GET,
                .url = "http://127.0.0.1:9/",
                .connect_timeout_ms = 100,
                .timeout_ms = 200,
                .max_response_bytes = 1024,
        };
        struct http_request r;

        (void) state;
        assert_non_null(base);
        assert_int_equal(http_client_new(base, &c), 0);
#define REFUSE(field, value, code)                                                        \
        do {                                                                              \
                r = ok;                                                                   \
                r.field = value;                                                          \
                assert_int_equal(http_request_start(c, &r, never_cb, NULL, &t), code);    \
                assert_null(t);                                                           \
        } while (0)
        REFUSE(url, NULL, -EINVAL);
        REFUSE(url, "", -EINVAL);
        REFUSE(connect_timeout_ms, 0, -EINVAL);
        REFUSE(timeout_ms, 0, -EINVAL);
        REFUSE(connect_timeout_ms, 300, -EINVAL);       /* > total */
        REFUSE(timeout_ms, HTTP_TIMEOUT_MS_MAX + 1, -EINVAL);
        REFUSE(max_response_bytes, 0, -EINVAL);
        REFUSE(max_response_bytes, HTTP_RESPONSE_MAX_BYTES_MAX + 1, -EINVAL);
        REFUSE(method, _HTTP_METHOD_MAX, -EINVAL);
        REFUSE(headers, bad_header, -EINVAL);
        REFUSE(headers, no_colon, -EINVAL);
        REFUSE(body_len, 5, -EINVAL);                   /* GET with a body, no data */
#undef REFUSE
        assert_int_equal(http_client_in_flight(c), 0);
        assert_int_equal(http_request_start(c, NULL, never_cb, NULL, NULL), -EINVAL);
        assert_int_equal(http_request_start(c, &ok, NULL, NULL, NULL), -EINVAL);
        c = http_client_free(c);
        assert_null(c);
        event_base_free(base);
}

struct cancel_state {
        int calls;
        int error;
};

static void count_cb(struct http_response *resp, void *userdata)
{
        struct cancel_state *s = userdata;

        s->calls++;
        s->error = resp->error;
}

/* Ensure that freeing the client reports in-flight transfers as cancelled
 * and that a cancelled transfer never calls back. */
static void test_free_cancels(void **state)
{
        struct event_base *base = event_base_new();
        struct http_client *c = NULL;
        struct http_transfer *t = NULL;
        struct cancel_state a = { 0 }, b = { 0 };
        const struct http_request req = {
                .method = HTTP_GET,
                .url = "http://127.0.0.1:9/",
                .connect_timeout_ms = 1000,
                .timeout_ms = 1000,
                .max_response_bytes = 1024,
        };

        (void) state;
        assert_int_equal(http_client_new(base, &c), 0);
        assert_int_equal(http_request_start(c, &req, count_cb, &a, NULL), 0);
        assert_int_equal(http_request_start(c, &req, count_cb, &b, &t), 0);
        assert_int_equal(http_client_in_flight(c), 2);
        http_transfer_cancel(t);
        assert_int_equal(http_client_in_flight(c), 1);
        (void) http_client_free(c);
        assert_int_equal(a.calls, 1);
        assert_int_equal(a.error, -ECANCELED);
        assert_int_equal(b.calls, 0);
        event_base_free(base);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_retry_after_delta),
                cmocka_unit_test(test_retry_after_date),
                cmocka_unit_test(test_retry_after_invalid),
                cmocka_unit_test(test_request_validation),
                cmocka_unit_test(test_free_cancels),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
