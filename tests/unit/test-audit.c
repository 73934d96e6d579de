/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/audit.h"
#include "daemon/log.h"

/* ---- failure injection (linked with --wrap=write,--wrap=fdatasync) ---- */

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);

static int write_errno;         /* fail the next write with this errno */
static ssize_t write_short = -1; /* write only this many bytes of the next write */
static int sync_errno;
static unsigned n_syncs;

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
        if (write_errno) {
                errno = write_errno;
                write_errno = 0;
                return -1;
        }
        if (write_short >= 0) {
                ssize_t k = __real_write(fd, buf, (size_t) write_short);
                write_short = -1;
                return k;
        }
        return __real_write(fd, buf, n);
}

int __wrap_fdatasync(int fd)
{
        n_syncs++;
        if (sync_errno) {
                errno = sync_errno;
                sync_errno = 0;
                return -1;
        }
        return __real_fdatasync(fd);
}

/* ---- helpers ---- */

struct fx {
        char dir[64];
        char path[128];
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));

        strcpy(f->dir, "/tmp/test-audit-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        (void) snprintf(f->path, sizeof(f->path), "%s/audit.jsonl", f->dir);
        write_errno = sync_errno = 0;
        write_short = -1;
        n_syncs = 0;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        char p[160];

        (void) unlink(f->path);
        for (int i = 1; i <= 10; i++) {
                (void) snprintf(p, sizeof(p), "%s.%d", f->path, i);
                (void) unlink(p);
        }
        (void) snprintf(p, sizeof(p), "%s.new", f->path);
        (void) unlink(p);
        (void) rmdir(f->dir);
        free(f);
        return 0;
}

static struct audit *open_log(const char *path, uint64_t rotate, unsigned keep, struct audit_open_info *info)
{
        struct audit *a = NULL;
        struct err e = {};
        int r = audit_open(path, rotate, keep, &a, info, &e);

        if (r < 0)
                fail_msg("audit_open: %s", e.msg);
        return a;
}

static int append(struct audit *a, enum audit_event ev, const char *outcome, json_t *extra)
{
        struct audit_caller caller = { .uid = 1000, .gid = 1000, .pid = 42, .pod_uid = "pod-1" };
        struct audit_record rec = {
                .event = ev,
                .caller = ev == AUDIT_EVENT_TOKEN_ISSUED ? &caller : NULL,
                .outcome = outcome,
                .jti = "a241cac19aae204ef52e39c2d6b5d2c70e1e2c1aeac4ad9bf86aa1781267adc4",
                .policy_sha256 = "aa42b6401c5aaa8f2e86f2deba80f8504646201e926565e6a8d41229fe4bc2ad",
                .extra = extra,
        };
        return audit_append(a, &rec, NULL);
}

static void verify(const char *const *paths, size_t n, struct audit_verify_result *res)
{
        struct err e = {};

        assert_int_equal(audit_verify_files(paths, n, res, &e), 0);
}

static char *slurp(const char *path, size_t *len)
{
        FILE *f = fopen(path, "r");
        char *buf = calloc(1, 1 << 20);

        assert_non_null(f);
        *len = fread(buf, 1, (1 << 20) - 1, f);
        fclose(f);
        return buf;
}

static void spit(const char *path, const char *buf, size_t len)
{
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        assert_int_equal(fwrite(buf, 1, len, f), len);
        fclose(f);
}

/* A log of n records (seq 1..n). */
static void make_log(const char *path, int n)
{
        struct audit *a = open_log(path, 1 << 20, 3, NULL);

        for (int i = 0; i < n; i++)
                assert_int_equal(append(a, i == 0 ? AUDIT_EVENT_STARTUP : AUDIT_EVENT_ATTESTATION, "trusted", NULL), 0);
        audit_close(a);
}

/* ---- tests ---- */

static void test_records_and_chain(void **state)
{
        struct fx *f = *state;
        const char *paths[] = { f->path };
        struct audit_verify_result res;
        struct audit_open_info info;
        struct audit *a = open_log(f->path, 1 << 20, 3, &info);
        json_t *extra = json_pack("{ss, si}", "verdict", "trusted", "age", 3), *o;
        char *buf, *nl;
        size_t len;

        assert_false(info.continued);
        assert_int_equal(info.next_seq, 1);
        assert_int_equal(append(a, AUDIT_EVENT_STARTUP, NULL, NULL), 0);
        assert_int_equal(n_syncs, 1);
        assert_int_equal(append(a, AUDIT_EVENT_TOKEN_ISSUED, "ok", NULL), 0);
        assert_int_equal(n_syncs, 1);   /* not critical: no sync */
        assert_int_equal(append(a, AUDIT_EVENT_VERDICT_CHANGE, "trusted", extra), 0);
        assert_int_equal(n_syncs, 2);
        assert_true(audit_is_healthy(a));
        assert_string_equal(audit_last_error(a), "");
        assert_int_equal(audit_next_seq(a), 4);
        audit_close(a);
        json_decref(extra);

        buf = slurp(f->path, &len);
        nl = strchr(buf, '\n');
        *nl = '\0';
        assert_true(strncmp(buf, "{\"seq\":1,\"time\":\"", 17) == 0);
        assert_non_null(strstr(buf, "Z\",\"event\":\"startup\",\"outcome\":null,\"jti\":\"a241"));
        assert_non_null(strstr(buf, ",\"evidence_sha256\":null,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"}"));
        o = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, NULL);
        assert_non_null(o);
        extra = json_pack("{si, si, si, ss}", "uid", 1000, "gid", 1000, "pid", 42, "pod_uid", "pod-1");
        assert_true(json_equal(json_object_get(o, "caller"), extra));
        json_decref(extra);
        json_decref(o);
        assert_non_null(strstr(nl + 1, "\"evidence_sha256\":null,\"verdict\":\"trusted\",\"age\":3,\"prev\":\""));
        free(buf);

        verify(paths, 1, &res);
        assert_true(res.intact);
        assert_false(res.partial_tail);
        assert_int_equal(res.n_records, 3);
        assert_int_equal(res.first_seq, 1);
        assert_int_equal(res.last_seq, 3);
}

static void test_restart_continues(void **state)
{
        struct fx *f = *state;
        const char *paths[] = { f->path };
        struct audit_verify_result res;
        struct audit_open_info info;
        struct audit *a;

        make_log(f->path, 3);
        a = open_log(f->path, 1 << 20, 3, &info);
        assert_true(info.continued);
        assert_int_equal(info.next_seq, 4);
        assert_int_equal(info.truncated_bytes, 0);
        assert_int_equal(append(a, AUDIT_EVENT_SHUTDOWN, NULL, NULL), 0);
        audit_close(a);
        verify(paths, 1, &res);
        assert_true(res.intact);
        assert_int_equal(res.n_records, 4);
        assert_int_equal(res.last_seq, 4);
}

static void test_partial_last_line(void **state)
{
        struct fx *f = *state;
        const char *paths[] = { f->path };
        struct audit_verify_result res;
        struct audit_open_info info;
        struct audit *a;
        int fd;

        make_log(f->path, 2);
        /* a crash in the middle of write(): half a record, no newline */
        fd = open(f->path, O_WRONLY | O_APPEND);
        assert_int_equal(__real_write(fd, "{\"seq\":3,\"ti", 12), 12);
        close(fd);
        verify(paths, 1, &res);
        assert_true(res.intact);
        assert_true(res.partial_tail);
        assert_int_equal(res.n_records, 2);

        a = open_log(f->path, 1 << 20, 3, &info);
        assert_int_equal(info.truncated_bytes, 12);
        assert_int_equal(info.next_seq, 3);
        assert_int_equal(append(a, AUDIT_EVENT_ATTESTATION, "trusted", NULL), 0);
        audit_close(a);
        verify(paths, 1, &res);
        assert_true(res.intact);
        assert_false(res.partial_tail);
        assert_int_equal(res.n_records, 3);
}

static void test_rotation(void **state)
{
        struct fx *f = *state;
        char p1[160], p2[160], p3[160], p4[160];
        const char *paths[] = { p3, p2, p1, f->path };
        struct audit_verify_result res;
        struct audit_open_info info;
        json_t *extra = json_pack("{ss}", "pad", "................................................................"
                                  "................................................................");
        struct audit *a = open_log(f->path, 4096, 3, NULL);
        struct stat st;

        (void) snprintf(p1, sizeof(p1), "%s.1", f->path);
        (void) snprintf(p2, sizeof(p2), "%s.2", f->path);
        (void) snprintf(p3, sizeof(p3), "%s.3", f->path);
        (void) snprintf(p4, sizeof(p4), "%s.4", f->path);
        for (int i = 0; i < 100; i++)
                assert_int_equal(append(a, AUDIT_EVENT_FRESH_ATTEST, "ok", extra), 0);
        audit_close(a);
        json_decref(extra);
        assert_int_equal(stat(p3, &st), 0);
        assert_true(st.st_size <= 4096);
        assert_int_equal(stat(p4, &st), -1);    /* keep = 3 */
        verify(paths, 4, &res);
        assert_true(res.intact);
        assert_int_equal(res.last_seq, 100);
        assert_true(res.first_seq > 1);         /* the oldest were dropped */
        assert_int_equal(res.n_records, 100 - res.first_seq + 1);
        /* the wrong order is a break */
        {
                const char *wrong[] = { p2, p3, p1, f->path };
                verify(wrong, 4, &res);
                assert_false(res.intact);
                assert_int_equal(res.bad_file, 1);
        }
        /* a crash after rotating away the current file, before the new one
         * got a record: the chain continues from .1 */
        assert_int_equal(rename(f->path, p1), 0);
        a = open_log(f->path, 4096, 3, &info);
        assert_true(info.continued);
        assert_int_equal(info.next_seq, 101);
        assert_int_equal(append(a, AUDIT_EVENT_STARTUP, NULL, NULL), 0);
        audit_close(a);
        {
                const char *two[] = { p1, f->path };
                verify(two, 2, &res);
                assert_true(res.intact);
                assert_int_equal(res.last_seq, 101);
        }
}

/* Rewrite the log with a transformation of its lines, then verify. */
static void tamper(const char *path, void (*fn)(char **lines, size_t *n), struct audit_verify_result *res)
{
        const char *paths[] = { path };
        char *buf, *lines[16], *out;
        size_t len, n = 0, o = 0;

        buf = slurp(path, &len);
        for (char *s = buf; *s; ) {
                char *nl = strchr(s, '\n');
                *nl = '\0';
                lines[n++] = s;
                s = nl + 1;
        }
        fn(lines, &n);
        out = calloc(1, len + 64);
        for (size_t i = 0; i < n; i++)
                o += (size_t) sprintf(out + o, "%s\n", lines[i]);
        spit(path, out, o);
        free(out);
        free(buf);
        verify(paths, 1, res);
}

static void edit_time_byte(char **lines, size_t *n)
{
        char *t = strstr(lines[2], "\"time\":\"20");
        t[9] = t[9] == '9' ? '8' : '9';         /* still valid JSON */
}

static void break_json(char **lines, size_t *n)
{
        lines[2][0] = '[';
}

static void delete_line(char **lines, size_t *n)
{
        memmove(&lines[2], &lines[3], (*n - 3) * sizeof(char *));
        (*n)--;
}

static void reorder(char **lines, size_t *n)
{
        char *t = lines[2];
        lines[2] = lines[3];
        lines[3] = t;
}

static void change_seq(char **lines, size_t *n)
{
        lines[2][7] = '9';      /* {"seq":3 → {"seq":9 */
}

static void bad_first_prev(char **lines, size_t *n)
{
        char *p = strstr(lines[0], "\"prev\":\"0000");
        p[8] = '1';
}

static void test_tampering(void **state)
{
        struct fx *f = *state;
        struct audit_verify_result res;

        make_log(f->path, 5);
        tamper(f->path, edit_time_byte, &res);
        assert_false(res.intact);
        assert_int_equal(res.bad_seq, 4);
        assert_int_equal(res.bad_line, 4);
        assert_non_null(strstr(res.reason, "\"prev\" is not the SHA-256 of record 3"));
        assert_int_equal(res.n_records, 3);

        make_log(f->path, 5);   /* appends 6..10 to the tampered file: start over */
        (void) unlink(f->path);
        make_log(f->path, 5);
        tamper(f->path, break_json, &res);
        assert_false(res.intact);
        assert_int_equal(res.bad_seq, 3);
        assert_non_null(strstr(res.reason, "not JSON"));

        (void) unlink(f->path);
        make_log(f->path, 5);
        tamper(f->path, delete_line, &res);
        assert_false(res.intact);
        assert_int_equal(res.bad_seq, 4);
        assert_non_null(strstr(res.reason, "seq 4 follows seq 2"));

        (void) unlink(f->path);
        make_log(f->path, 5);
        tamper(f->path, reorder, &res);
        assert_false(res.intact);
        assert_int_equal(res.bad_seq, 4);
        assert_int_equal(res.bad_line, 3);

        (void) unlink(f->path);
        make_log(f->path, 5);
        tamper(f->path, change_seq, &res);
        assert_false(res.intact);
        assert_int_equal(res.bad_seq, 9);

        (void) unlink(f->path);
        make_log(f->path, 5);
        tamper(f->path, bad_first_prev, &res);
        assert_false(res.intact);
        assert_int_equal(res.bad_seq, 1);
        assert_non_null(strstr(res.reason, "64 zeros"));
}

static void test_partial_in_older_file_is_a_break(void **state)
{
        struct fx *f = *state;
        char p1[160];
        const char *paths[] = { p1, f->path };
        struct audit_verify_result res;
        int fd;

        (void) snprintf(p1, sizeof(p1), "%s.1", f->path);
        make_log(p1, 2);
        fd = open(p1, O_WRONLY | O_APPEND);
        assert_int_equal(__real_write(fd, "{\"se", 4), 4);
        close(fd);
        spit(f->path, "", 0);
        verify(paths, 2, &res);
        assert_false(res.intact);
        assert_int_equal(res.bad_file, 0);
        assert_non_null(strstr(res.reason, "not the last file"));
}

static void test_enospc_short_write(void **state)
{
        struct fx *f = *state;
        const char *paths[] = { f->path };
        struct audit_verify_result res;
        struct audit *a = open_log(f->path, 1 << 20, 3, NULL);
        struct err e = {};
        struct audit_record rec = { .event = AUDIT_EVENT_ATTESTATION, .outcome = "trusted" };

        assert_int_equal(append(a, AUDIT_EVENT_STARTUP, NULL, NULL), 0);
        write_short = 40;       /* the disk fills up 40 bytes into the record */
        assert_int_equal(audit_append(a, &rec, &e), -ENOSPC);
        assert_non_null(strstr(e.msg, "short write of record 2"));
        assert_false(audit_is_healthy(a));
        assert_non_null(strstr(audit_last_error(a), "short write"));
        verify(paths, 1, &res);
        assert_true(res.intact);
        assert_false(res.partial_tail); /* the 40 bytes were truncated away */
        assert_int_equal(res.n_records, 1);

        write_errno = ENOSPC;   /* nothing written at all */
        assert_int_equal(audit_append(a, &rec, &e), -ENOSPC);
        assert_false(audit_is_healthy(a));

        /* space again: the next record takes seq 2 and the log is healthy */
        n_syncs = 0;
        assert_int_equal(append(a, AUDIT_EVENT_TOKEN_ISSUED, "ok", NULL), 0);
        assert_int_equal(n_syncs, 1);   /* synced although not critical: it proves recovery */
        assert_true(audit_is_healthy(a));
        audit_close(a);
        verify(paths, 1, &res);
        assert_true(res.intact);
        assert_int_equal(res.n_records, 2);
        assert_int_equal(res.last_seq, 2);
}

static void test_eio_and_sync_failure(void **state)
{
        struct fx *f = *state;
        const char *paths[] = { f->path };
        struct audit_verify_result res;
        struct audit *a = open_log(f->path, 1 << 20, 3, NULL);
        struct err e = {};
        struct audit_record rec = { .event = AUDIT_EVENT_VERDICT_CHANGE, .outcome = "untrusted" };

        write_errno = EIO;
        assert_int_equal(audit_append(a, &rec, &e), -EIO);
        assert_non_null(strstr(e.msg, "cannot write record 1"));
        assert_false(audit_is_healthy(a));
        assert_int_equal(audit_next_seq(a), 1);

        sync_errno = EIO;
        assert_int_equal(audit_append(a, &rec, &e), -EIO);
        assert_non_null(strstr(e.msg, "fdatasync failed"));
        assert_false(audit_is_healthy(a));
        assert_int_equal(audit_next_seq(a), 2);         /* written, chain goes on */

        assert_int_equal(audit_append(a, &rec, &e), 0);
        assert_true(audit_is_healthy(a));
        audit_close(a);
        verify(paths, 1, &res);
        assert_true(res.intact);
        assert_int_equal(res.n_records, 2);
}

static void test_refuses_bad_records(void **state)
{
        struct fx *f = *state;
        struct audit *a = open_log(f->path, 1 << 20, 3, NULL);
        struct audit_record rec = { .event = AUDIT_EVENT_TOKEN_ISSUED, .outcome = "ok" };
        struct err e = {};
        char *big = malloc(70000);
        json_t *extra;

        extra = json_pack("{s{ss}}", "response", "token",
                          "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl");
        rec.extra = extra;
        assert_int_equal(audit_append(a, &rec, &e), -EPERM);
        assert_non_null(strstr(e.msg, "refusing to store a bearer token"));
        json_decref(extra);
        rec.extra = NULL;
        rec.jti = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        assert_int_equal(audit_append(a, &rec, &e), -EPERM);
        rec.jti = NULL;

        extra = json_pack("{si}", "seq", 7);
        rec.extra = extra;
        assert_int_equal(audit_append(a, &rec, &e), -EINVAL);
        json_decref(extra);

        memset(big, 'x', 69999);
        big[69999] = '\0';
        extra = json_pack("{ss}", "big", big);
        rec.extra = extra;
        assert_int_equal(audit_append(a, &rec, &e), -E2BIG);
        json_decref(extra);
        free(big);

        rec.extra = NULL;
        rec.event = _AUDIT_EVENT_MAX;
        assert_int_equal(audit_append(a, &rec, &e), -EINVAL);

        assert_true(audit_is_healthy(a));       /* the caller's mistakes do not fail the log */
        assert_int_equal(audit_next_seq(a), 1);
        audit_close(a);
}

static void test_open_errors(void **state)
{
        struct fx *f = *state;
        struct audit *a = NULL;
        struct err e = {};

        assert_int_equal(audit_open(f->path, 1 << 20, 0, &a, NULL, &e), -EINVAL);
        assert_int_equal(audit_open(f->path, 100, 3, &a, NULL, &e), -EINVAL);
        spit(f->path, "garbage\n", 8);
        assert_int_equal(audit_open(f->path, 1 << 20, 3, &a, NULL, &e), -EBADMSG);
        assert_non_null(strstr(e.msg, "not JSON"));
        assert_int_equal(audit_open(f->dir, 1 << 20, 3, &a, NULL, &e) < 0, 1);
        assert_null(a);
}

static void test_verify_errors(void **state)
{
        struct fx *f = *state;
        const char *missing[] = { "/nonexistent/audit.jsonl" };
        const char *paths[] = { f->path };
        struct audit_verify_result res;
        struct err e = {};
        char *big = malloc(70000);

        assert_int_equal(audit_verify_files(missing, 1, &res, &e), -ENOENT);
        assert_non_null(strstr(e.msg, "cannot open"));
        memset(big, 'x', 70000);
        spit(f->path, big, 70000);
        verify(paths, 1, &res);
        assert_false(res.intact);
        assert_non_null(strstr(res.reason, "longer than"));
        free(big);
        spit(f->path, "", 0);
        verify(paths, 1, &res);
        assert_true(res.intact);
        assert_int_equal(res.n_records, 0);
}

static void test_event_strings(void **state)
{
        static const char *const names[] = {
                "attestation", "verdict_change", "token_issued", "fresh_attest", "config_reload", "startup", "shutdown",
        };

        for (int i = 0; i < _AUDIT_EVENT_MAX; i++) {
                assert_string_equal(audit_event_to_string(i), names[i]);
                assert_int_equal(audit_event_from_string(names[i]), i);
        }
        assert_true(audit_event_is_critical(AUDIT_EVENT_STARTUP));
        assert_false(audit_event_is_critical(AUDIT_EVENT_TOKEN_ISSUED));
        assert_false(audit_event_is_critical(AUDIT_EVENT_FRESH_ATTEST));
        assert_int_equal(audit_event_from_string("boot"), _AUDIT_EVENT_INVALID);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_records_and_chain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart_continues, setup, teardown),
                cmocka_unit_test_setup_teardown(test_partial_last_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tampering, setup, teardown),
                cmocka_unit_test_setup_teardown(test_partial_in_older_file_is_a_break, setup, teardown),
                cmocka_unit_test_setup_teardown(test_enospc_short_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_eio_and_sync_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_bad_records, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_verify_errors, setup, teardown),
                cmocka_unit_test(test_event_strings),
        };

        log_setup(LOG_TARGET_TEXT, LOG_WARNING);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
