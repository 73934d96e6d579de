/* SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "daemon/defaults.h"
#include "daemon/metrics.h"

static char *render(struct metrics *m)
{
        struct evbuffer *b = evbuffer_new();
        size_t n;
        char *s;

        assert_int_equal(metrics_render(m, b), 0);
        n = evbuffer_get_length(b);
        s = malloc(n + 1);
        evbuffer_remove(b, s, n);
        s[n] = '\0';
        evbuffer_free(b);
        return s;
}

static void test_counter_gauge_histogram(void **state)
{
        struct metrics *m = metrics_new_empty();
        struct metric_family *c, *g, *h;
        const double b[] = { 0.1, 1 };
        char *s;

        assert_int_equal(metrics_family_new(m, "x_total", "Things.", METRIC_COUNTER,
                                            (const char *const[]) { "kind", NULL }, NULL, 0, &c), 0);
        assert_int_equal(metrics_family_new(m, "x_now", "Now.", METRIC_GAUGE, NULL, NULL, 0, &g), 0);
        assert_int_equal(metrics_family_new(m, "x_seconds", "Time.", METRIC_HISTOGRAM, NULL, b, 2, &h), 0);
        assert_int_equal(metrics_family_add(c, (const char *const[]) { "a" }, 2), 0);
        assert_int_equal(metrics_family_add(c, (const char *const[]) { "a" }, 1), 0);
        assert_int_equal(metrics_family_set(g, NULL, 1.5), 0);
        assert_int_equal(metrics_family_observe(h, NULL, 0.05), 0);
        assert_int_equal(metrics_family_observe(h, NULL, 0.5), 0);
        assert_int_equal(metrics_family_observe(h, NULL, 7), 0);
        assert_true(metrics_family_get(c, (const char *const[]) { "a" }) == 3);
        s = render(m);
        assert_string_equal(s,
                            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{kind=\"a\"} 3\n"
                            "# HELP x_now Now.\n# TYPE x_now gauge\nx_now 1.5\n"
                            "# HELP x_seconds Time.\n# TYPE x_seconds histogram\n"
                            "x_seconds_bucket{le=\"0.1\"} 1\nx_seconds_bucket{le=\"1\"} 2\n"
                            "x_seconds_bucket{le=\"+Inf\"} 3\nx_seconds_sum 7.55\nx_seconds_count 3\n");
        free(s);
        metrics_free(m);
}

/* Ensure that label values and help text are escaped as the format requires. */
static void test_escaping(void **state)
{
        struct metrics *m = metrics_new_empty();
        struct metric_family *c;
        char *s;

        assert_int_equal(metrics_family_new(m, "e_total", "a\\b\nc \"q\"", METRIC_COUNTER,
                                            (const char *const[]) { "v", NULL }, NULL, 0, &c), 0);
        assert_int_equal(metrics_family_add(c, (const char *const[]) { "x\"y\\z\nw" }, 1), 0);
        s = render(m);
        assert_non_null(strstr(s, "# HELP e_total a\\\\b\\nc \"q\"\n"));
        assert_non_null(strstr(s, "e_total{v=\"x\\\"y\\\\z\\nw\"} 1\n"));
        free(s);
        metrics_free(m);
}

/* Ensure that bad registrations and bad updates fail without side effects. */
static void test_errors(void **state)
{
        struct metrics *m = metrics_new_empty();
        struct metric_family *c, *h;
        const double bad[] = { 1, 1 }, ok[] = { 1 };
        char longv[METRICS_LABEL_VALUE_MAX + 2];

        assert_int_equal(metrics_family_new(m, "1bad", "h", METRIC_COUNTER, NULL, NULL, 0, NULL), -EINVAL);
        assert_int_equal(metrics_family_new(m, "h", "h", METRIC_HISTOGRAM, NULL, bad, 2, NULL), -EINVAL);
        assert_int_equal(metrics_family_new(m, "h", "h", METRIC_HISTOGRAM,
                                            (const char *const[]) { "le", NULL }, ok, 1, NULL), -EINVAL);
        assert_int_equal(metrics_family_new(m, "c", "h", METRIC_COUNTER,
                                            (const char *const[]) { "a", "b", "c", NULL }, NULL, 0, NULL), -E2BIG);
        assert_int_equal(metrics_family_new(m, "c", "h", METRIC_COUNTER,
                                            (const char *const[]) { "a", NULL }, NULL, 0, &c), 0);
        assert_int_equal(metrics_family_new(m, "c", "h", METRIC_GAUGE, NULL, NULL, 0, NULL), -EEXIST);
        assert_int_equal(metrics_family_new(m, "h", "h", METRIC_HISTOGRAM, NULL, ok, 1, &h), 0);
        assert_int_equal(metrics_family_add(c, (const char *const[]) { "x" }, -1), -EINVAL);
        assert_int_equal(metrics_family_add(c, NULL, 1), -EINVAL);
        assert_int_equal(metrics_family_set(c, (const char *const[]) { "x" }, 1), -EINVAL);
        assert_int_equal(metrics_family_add(h, NULL, 1), -EINVAL);
        memset(longv, 'a', sizeof(longv) - 1);
        longv[sizeof(longv) - 1] = '\0';
        assert_int_equal(metrics_family_add(c, (const char *const[]) { longv }, 1), -E2BIG);
        /* The series cap bounds memory whatever callers pass. */
        for (int i = 0; i < METRICS_SERIES_MAX; i++) {
                char v[16];
                snprintf(v, sizeof(v), "%d", i);
                assert_int_equal(metrics_family_add(c, (const char *const[]) { v }, 1), 0);
        }
        assert_int_equal(metrics_family_add(c, (const char *const[]) { "one-more" }, 1), -E2BIG);
        metrics_free(m);
}

static void test_attestd_families(void **state)
{
        struct metrics *m = metrics_new();
        char *s;

        metrics_attestation(m, METRICS_OUTCOME_TRUSTED);
        metrics_maa_duration(m, 0.3);
        metrics_tpm_duration(m, "quote", 0.02);
        metrics_verdict_state(m, METRICS_VERDICT_TRUSTED);
        metrics_token_expiry(m, 1700000000);
        metrics_ak_cert_expiry(m, 1800000000);
        metrics_last_success(m, 1690000000);
        metrics_audit_write_failure(m);
        metrics_api_request(m, "verdict", 200);
        metrics_api_rate_limited(m, "token");
        s = render(m);
        assert_non_null(strstr(s, "attestd_attestations_total{outcome=\"trusted\"} 1\n"));
        assert_non_null(strstr(s, "attestd_attestations_total{outcome=\"refused\"} 0\n"));
        assert_non_null(strstr(s, "# TYPE attestd_maa_request_duration_seconds histogram\n"));
        assert_non_null(strstr(s, "attestd_maa_request_duration_seconds_bucket{le=\"0.5\"} 1\n"));
        assert_non_null(strstr(s, "attestd_tpm_operation_duration_seconds_bucket{op=\"quote\",le=\"0.025\"} 1\n"));
        assert_non_null(strstr(s, "attestd_verdict{state=\"trusted\"} 1\n"));
        assert_non_null(strstr(s, "attestd_verdict{state=\"unknown\"} 0\n"));
        assert_non_null(strstr(s, "attestd_token_expiry_timestamp_seconds 1700000000\n"));
        assert_non_null(strstr(s, "attestd_ak_cert_expiry_timestamp_seconds 1800000000\n"));
        assert_non_null(strstr(s, "attestd_last_success_timestamp_seconds 1690000000\n"));
        assert_non_null(strstr(s, "attestd_audit_write_failures_total 1\n"));
        assert_non_null(strstr(s, "attestd_api_requests_total{route=\"verdict\",code=\"200\"} 1\n"));
        assert_non_null(strstr(s, "attestd_api_rate_limited_total{route=\"token\"} 1\n"));
        free(s);
        /* NULL registry: setters are no-ops. */
        metrics_attestation(NULL, METRICS_OUTCOME_ERROR);
        metrics_free(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_counter_gauge_histogram),
                cmocka_unit_test(test_escaping),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_attestd_families),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
