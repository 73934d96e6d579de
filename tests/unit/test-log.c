/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "test"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon/log.h"

/* Capture what the logger writes to stderr during fn(). */
static char *capture(void (*fn)(void))
{
        char path[] = "/tmp/attestd-test-log-XXXXXX";
        int fd = mkstemp(path), saved = dup(STDERR_FILENO);
        char *buf = calloc(1, 65536);
        ssize_t n;

        assert_true(fd >= 0 && saved >= 0 && buf);
        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        fn();
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        lseek(fd, 0, SEEK_SET);
        n = read(fd, buf, 65535);
        assert_true(n >= 0);
        close(fd);
        unlink(path);
        return buf;
}

static int side_effects;

static const char *count_call(void)
{
        side_effects++;
        return "x";
}

static void emit_levels(void)
{
        log_debug("debug line %s", count_call());
        log_info("info line");
        log_warning("warning line");
        log_error("error line");
}

/* Ensure that messages below the level are neither written nor formatted. */
static void test_levels(void **state)
{
        char *out;

        log_setup(LOG_TARGET_TEXT, LOG_WARNING);
        side_effects = 0;
        out = capture(emit_levels);
        assert_null(strstr(out, "debug line"));
        assert_null(strstr(out, "info line"));
        assert_non_null(strstr(out, "warning: test: warning line"));
        assert_non_null(strstr(out, "error: test: error line"));
        assert_int_equal(side_effects, 0);
        free(out);
}

static void emit_errno(void)
{
        int r;

        errno = 42;
        r = log_error_errno(-ENOENT, "open failed: %m");
        assert_int_equal(r, -ENOENT);
        assert_int_equal(errno, 42);       /* preserved */
        r = log_debug_errno(-EIO, "suppressed");
        assert_int_equal(r, -EIO);         /* returned even when not logged */
}

static void test_errno(void **state)
{
        char *out;

        log_setup(LOG_TARGET_TEXT, LOG_INFO);
        out = capture(emit_errno);
        assert_non_null(strstr(out, "open failed: No such file or directory"));
        free(out);
}

static void emit_hostile(void)
{
        log_warning("caller said '%s'", "line1\nline2\x1b[31m");
        log_warning("token eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl end");
}

/* Ensure that control characters are escaped and bearer tokens never appear. */
static void test_hostile_strings(void **state)
{
        char *out;

        log_setup(LOG_TARGET_TEXT, LOG_INFO);
        out = capture(emit_hostile);
        assert_non_null(strstr(out, "line1\\nline2\\x1b[31m"));
        assert_null(strstr(out, "eyJhbGciOiJSUzI1NiJ9"));
        assert_non_null(strstr(out, "token [redacted-jwt] end"));
        free(out);
}

static void emit_json(void)
{
        static const char *const fields[] = { "RESULT=trusted", "POLICY_SHA256=abc", NULL };

        log_info("hello \"world\"");
        log_event(LOG_NOTICE, "attest", "0123456789abcdef0123456789abcdef", fields, "verdict %s", "trusted");
}

/* Ensure that JSON output is one valid object per line with the fields. */
static void test_json_lines(void **state)
{
        char *out, *line, *save = NULL;
        int n = 0;

        log_setup(LOG_TARGET_JSON, LOG_INFO);
        out = capture(emit_json);
        for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_error_t e;
                json_t *o = json_loads(line, 0, &e);
                assert_non_null(o);
                assert_string_equal(json_string_value(json_object_get(o, "module")), n == 0 ? "test" : "attest");
                if (n == 0)
                        assert_string_equal(json_string_value(json_object_get(o, "message")), "hello \"world\"");
                else {
                        assert_string_equal(json_string_value(json_object_get(o, "message_id")),
                                            "0123456789abcdef0123456789abcdef");
                        assert_string_equal(json_string_value(json_object_get(o, "result")), "trusted");
                        assert_string_equal(json_string_value(json_object_get(o, "level")), "notice");
                }
                json_decref(o);
                n++;
        }
        assert_int_equal(n, 2);
        free(out);
}

static void test_names(void **state)
{
        assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
        assert_int_equal(log_level_from_string("loud"), -EINVAL);
        assert_int_equal(log_target_from_string("json"), LOG_TARGET_JSON);
        assert_int_equal(log_target_from_string("xml"), _LOG_TARGET_INVALID);
        assert_string_equal(log_target_to_string(LOG_TARGET_JOURNAL), "journal");
        /* AUTO without $JOURNAL_STREAM resolves to text */
        unsetenv("JOURNAL_STREAM");
        log_setup(LOG_TARGET_AUTO, LOG_INFO);
        assert_int_equal(log_get_target(), LOG_TARGET_TEXT);
}

static void test_sanitize_truncates(void **state)
{
        char small[16];

        log_sanitize(small, sizeof(small), "0123456789abcdefghijklmnop");
        assert_true(strlen(small) < sizeof(small));
        assert_non_null(strstr(small, "..."));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_levels),
                cmocka_unit_test(test_errno),
                cmocka_unit_test(test_hostile_strings),
                cmocka_unit_test(test_json_lines),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_sanitize_truncates),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
