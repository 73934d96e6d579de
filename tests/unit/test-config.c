/* SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "daemon/diag.h"
#include "daemon/defaults.h"

static int parse(const char *text, struct config **ret, struct diag_list *errs)
{
        return config_parse(text, strlen(text), "test.json", ret, errs);
}

static bool has_error(const struct diag_list *errs, const char *needle)
{
        for (size_t i = 0; i < errs->n; i++)
                if (strstr(errs->msgs[i], needle))
                        return true;
        return false;
}

static void test_empty_object_gives_defaults(void **state)
{
        struct diag_list errs = {};
        struct config *c = NULL;

        assert_int_equal(parse("{}", &c, &errs), 0);
        assert_int_equal(errs.n, 0);
        assert_string_equal(c->tpm.tcti, TPM_TCTI_DEFAULT);
        assert_int_equal(c->tpm.pcr_mask, 0xff);
        assert_string_equal(c->maa.endpoint, MAA_ENDPOINT_DEFAULT);
        assert_int_equal(c->maa.mode, MAA_MODE_GUEST);
        assert_null(c->maa.ca_file);
        assert_string_equal(c->api.socket, API_SOCKET_DEFAULT);
        assert_int_equal(c->api.socket_mode, API_SOCKET_MODE_DEFAULT);
        assert_true(c->refresh.fraction == REFRESH_FRACTION_DEFAULT);
        config_free(c);
}

static void test_full_config(void **state)
{
        static const char text[] =
                "{\n"
                "  \"log\": {\"level\": \"debug\", \"format\": \"json\"},\n"
                "  \"tpm\": {\"tcti\": \"swtpm:host=127.0.0.1,port=2321\", \"pcrs\": [0, 1, 7],\n"
                "           \"event_log\": \"/tmp/ev.bin\", \"fresh_report_timeout_ms\": 5000},\n"
                "  \"maa\": {\"endpoint\": \"https://127.0.0.1:8443\", \"mode\": \"platform\",\n"
                "           \"ca_file\": \"/tmp/ca.pem\", \"connect_timeout_ms\": 1000, \"timeout_ms\": 2000,\n"
                "           \"clock_skew_seconds\": 5},\n"
                "  \"imds\": {\"endpoint\": \"http://127.0.0.1:8080\", \"timeout_ms\": 1000},\n"
                "  \"api\": {\"socket\": \"/tmp/a.sock\", \"socket_mode\": \"0660\", \"token_uids\": [1000, 0],\n"
                "          \"token_gids\": [\"root\"], \"max_connections\": 10, \"rate_per_second\": 2.5,\n"
                "          \"rate_burst\": 4, \"attest_batch_size\": 8, \"metrics_listen\": \"127.0.0.1:9100\"},\n"
                "  \"policy\": {\"file\": \"/tmp/p.json\"},\n"
                "  \"audit\": {\"file\": \"/tmp/audit.jsonl\", \"rotate_bytes\": 1048576},\n"
                "  \"refresh\": {\"fraction\": 0.6, \"jitter\": 0.05, \"backoff_initial_ms\": 100,\n"
                "              \"backoff_max_ms\": 1000}\n"
                "}\n";
        struct diag_list errs = {};
        struct config *c = NULL;

        assert_int_equal(parse(text, &c, &errs), 0);
        assert_int_equal(c->log_level, LOG_DEBUG);
        assert_int_equal(c->log_format, LOG_TARGET_JSON);
        assert_int_equal(c->tpm.pcr_mask, 0x83);
        assert_int_equal(c->maa.mode, MAA_MODE_PLATFORM);
        assert_string_equal(c->maa.ca_file, "/tmp/ca.pem");
        assert_int_equal(c->api.socket_mode, 0660);
        assert_int_equal(c->api.n_token_uids, 2);
        assert_int_equal(c->api.token_uids[0], 1000);
        assert_int_equal(c->api.n_token_gids, 1);
        assert_int_equal(c->api.token_gids[0], 0);
        assert_true(config_uid_may_use_token(c, 1000, 1000));
        assert_true(config_uid_may_use_token(c, 0, 5));
        assert_true(config_uid_may_use_token(c, 4242, 0));
        assert_false(config_uid_may_use_token(c, 4242, 4242));
        assert_int_equal(c->audit.rotate_bytes, 1048576);
        assert_string_equal(c->api.metrics_listen, "127.0.0.1:9100");
        config_free(c);
}

/* Ensure that every error in a file is reported, each with line and column. */
static void test_collects_all_errors_with_positions(void **state)
{
        static const char text[] =
                "{\n"
                "  \"tpm\": {\"tcti\": 5,\n"
                "          \"colour\": \"blue\"},\n"
                "  \"maa\": {\"endpoint\": \"http://insecure.example\"},\n"
                "  \"api\": {\"max_connections\": 0, \"socket_mode\": \"999\"},\n"
                "  \"bogus\": {}\n"
                "}\n";
        struct diag_list errs = {};
        struct config *c = NULL;

        assert_int_equal(parse(text, &c, &errs), -EINVAL);
        assert_null(c);
        assert_int_equal(errs.n, 6);
        assert_true(has_error(&errs, "test.json:2:11: /tpm/tcti: expected a string"));
        assert_true(has_error(&errs, "test.json:3:11: /tpm/colour: unknown key 'colour'"));
        assert_true(has_error(&errs, "test.json:4:11: /maa/endpoint:"));
        assert_true(has_error(&errs, "TLS cannot be turned off"));
        assert_true(has_error(&errs, "test.json:5:11: /api/max_connections: 0 is out of range"));
        assert_true(has_error(&errs, "test.json:5:33: /api/socket_mode: '999' is not an octal"));
        assert_true(has_error(&errs, "test.json:6:3: /bogus: unknown section"));
        diag_list_done(&errs);
}

static void test_syntax_errors(void **state)
{
        struct diag_list errs = {};
        struct config *c = NULL;

        assert_int_equal(parse("{\n  \"log\": {\"level\": \"info\",}\n}", &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_true(has_error(&errs, "test.json:2:"));
        diag_list_done(&errs);

        assert_int_equal(parse("{\"log\": {}, \"log\": {}}", &c, &errs), -EINVAL);
        assert_true(has_error(&errs, "duplicate"));
        diag_list_done(&errs);

        assert_int_equal(parse("[1, 2]", &c, &errs), -EINVAL);
        assert_true(has_error(&errs, "must be a JSON object"));
        diag_list_done(&errs);

        assert_int_equal(parse("", &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        diag_list_done(&errs);
}

static void test_value_checks(void **state)
{
        static const struct {
                const char *text, *needle;
        } cases[] = {
                { "{\"tpm\": {\"pcrs\": []}}", "non-empty array" },
                { "{\"tpm\": {\"pcrs\": [24]}}", "/tpm/pcrs/0: PCR index must be" },
                { "{\"tpm\": {\"pcrs\": [1, 1]}}", "PCR 1 listed twice" },
                { "{\"tpm\": {\"event_log\": \"relative/path\"}}", "not an absolute path" },
                { "{\"maa\": {\"endpoint\": \"https://x/\"}}", "trailing slash" },
                { "{\"maa\": {\"mode\": \"magic\"}}", "\"guest\" or \"platform\"" },
                { "{\"maa\": {\"connect_timeout_ms\": 9000, \"timeout_ms\": 1000}}", "exceeds timeout_ms" },
                { "{\"log\": {\"level\": \"loud\"}}", "expected one of" },
                { "{\"api\": {\"token_uids\": [\"no-such-user-attestd\"]}}", "unknown user" },
                { "{\"api\": {\"token_uids\": [-1]}}", "out of range" },
                { "{\"api\": {\"socket_mode\": \"0777\"}}", "execute bits" },
                { "{\"api\": {\"metrics_listen\": \"nohost\"}}", "HOST:PORT" },
                { "{\"api\": {\"socket\": \"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}", "longer than" },
                { "{\"refresh\": {\"fraction\": 0.9, \"jitter\": 0.2}}", "must stay below 1" },
                { "{\"refresh\": {\"fraction\": \"half\"}}", "expected a number" },
                { "{\"refresh\": {\"backoff_initial_ms\": 5000, \"backoff_max_ms\": 100}}", "exceeds backoff_max_ms" },
                { "{\"audit\": {\"file\": \"/x\"}, \"policy\": {\"file\": \"/x\"}}", "must not be the policy file" },
                { "{\"log\": 3}", "/log: expected an object" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct diag_list errs = {};
                struct config *c = NULL;

                assert_int_equal(parse(cases[i].text, &c, &errs), -EINVAL);
                assert_null(c);
                if (!has_error(&errs, cases[i].needle)) {
                        print_error("case %zu: expected '%s' in:\n", i, cases[i].needle);
                        for (size_t k = 0; k < errs.n; k++)
                                print_error("  %s\n", errs.msgs[k]);
                        fail();
                }
                diag_list_done(&errs);
        }
}

static void test_load_file(void **state)
{
        char path[] = "/tmp/attestd-test-config-XXXXXX";
        struct diag_list errs = {};
        struct config *c = NULL;
        int fd = mkstemp(path);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, "{\"log\": {\"level\": \"notice\"}}", 28), 28);
        close(fd);
        assert_int_equal(config_load(path, &c, &errs), 0);
        assert_int_equal(c->log_level, LOG_NOTICE);
        config_free(c);
        unlink(path);

        assert_int_equal(config_load("/nonexistent/attestd.json", &c, &errs), -ENOENT);
        assert_true(has_error(&errs, "cannot open"));
        diag_list_done(&errs);
        assert_int_equal(config_load("/tmp", &c, &errs), -EINVAL);
        assert_true(has_error(&errs, "not a regular file"));
        diag_list_done(&errs);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty_object_gives_defaults),
                cmocka_unit_test(test_full_config),
                cmocka_unit_test(test_collects_all_errors_with_positions),
                cmocka_unit_test(test_syntax_errors),
                cmocka_unit_test(test_value_checks),
                cmocka_unit_test(test_load_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
