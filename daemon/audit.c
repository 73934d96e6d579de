/* SPDX-License-Identifier: BSD-3-Clause */
#define LOG_MODULE "audit"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/audit.h"
#include "daemon/defaults.h"
#include "daemon/log.h"
#include "daemon/xalloc.h"
#include "proto/rfc3339.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define EXTRA_DEPTH_MAX 16

struct audit {
        char *path;
        int fd;
        uint64_t size;          /* bytes of complete records in the current file */
        uint64_t rotate_bytes;
        unsigned keep;
        uint64_t seq;           /* of the next record */
        char prev[SHA256_HEX_LEN + 1];
        bool healthy;
        bool broken;            /* bytes we could not roll back follow the records */
        char last_error[ERR_MSG_MAX];
};

static const struct {
        const char *name;
        const char *message_id;
        bool critical;
} event_table[_AUDIT_EVENT_MAX] = {
        [AUDIT_EVENT_ATTESTATION] = { "attestation", AUDIT_MESSAGE_ID_ATTESTATION, true },
        [AUDIT_EVENT_VERDICT_CHANGE] = { "verdict_change", AUDIT_MESSAGE_ID_VERDICT_CHANGE, true },
        [AUDIT_EVENT_TOKEN_ISSUED] = { "token_issued", AUDIT_MESSAGE_ID_TOKEN_ISSUED, false },
        [AUDIT_EVENT_FRESH_ATTEST] = { "fresh_attest", AUDIT_MESSAGE_ID_FRESH_ATTEST, false },
        [AUDIT_EVENT_CONFIG_RELOAD] = { "config_reload", AUDIT_MESSAGE_ID_CONFIG_RELOAD, true },
        [AUDIT_EVENT_STARTUP] = { "startup", AUDIT_MESSAGE_ID_STARTUP, true },
        [AUDIT_EVENT_SHUTDOWN] = { "shutdown", AUDIT_MESSAGE_ID_SHUTDOWN, true },
};

/* Members every record has, in order; extra members may not reuse them. */
static const char *const standard_keys[] = {
        "seq", "time", "event", "caller", "outcome", "jti", "policy_sha256", "evidence_sha256", "prev", NULL,
};

const char *audit_event_to_string(enum audit_event e)
{
        return e >= 0 && e < _AUDIT_EVENT_MAX ? event_table[e].name : NULL;
}

enum audit_event audit_event_from_string(const char *s)
{
        for (int i = 0; s && i < _AUDIT_EVENT_MAX; i++)
                if (strcmp(s, event_table[i].name) == 0)
                        return i;
        return _AUDIT_EVENT_INVALID;
}

bool audit_event_is_critical(enum audit_event e)
{
        return e >= 0 && e < _AUDIT_EVENT_MAX && event_table[e].critical;
}

bool audit_is_healthy(const struct audit *a)
{
        return a->healthy;
}

const char *audit_last_error(const struct audit *a)
{
        return a->healthy ? "" : a->last_error;
}

uint64_t audit_next_seq(const struct audit *a)
{
        return a->seq;
}

/* ---- reading records back ------------------------------------------------- */

/*
 * The seq of one record line (without '\n'), or -EBADMSG. Also used by
 * verification, which checks more.
 */
static int parse_record(const char *line, size_t len, json_t **ret, uint64_t *ret_seq, char *why, size_t whylen)
{
        json_error_t jerr;
        json_t *o, *seq, *prev, *event, *tm;

        o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!o) {
                (void) snprintf(why, whylen, "not JSON (%.100s at column %d)", jerr.text, jerr.column);
                return -EBADMSG;
        }
        seq = json_object_get(o, "seq");
        prev = json_object_get(o, "prev");
        event = json_object_get(o, "event");
        tm = json_object_get(o, "time");
        if (!json_is_object(o) || !json_is_integer(seq) || json_integer_value(seq) < 1) {
                (void) snprintf(why, whylen, "not an audit record (no positive integer \"seq\")");
                goto bad;
        }
        if (!json_is_string(prev) || !sha256_hex_valid(json_string_value(prev))) {
                (void) snprintf(why, whylen, "\"prev\" is not 64 lowercase hex digits");
                goto bad;
        }
        if (!json_is_string(event) || audit_event_from_string(json_string_value(event)) < 0 ||
            !json_is_string(tm)) {
                (void) snprintf(why, whylen, "missing or unknown \"event\" or \"time\"");
                goto bad;
        }
        *ret_seq = (uint64_t) json_integer_value(seq);
        *ret = o;
        return 0;
bad:
        json_decref(o);
        return -EBADMSG;
}

/*
 * Find the last complete line of the open file fd (size bytes). A trailing
 * partial line is reported through *ret_partial (its length). Returns 1 with
 * *ret_line (callee-allocated, NUL-terminated, no '\n'), 0 when the file
 * holds no complete line, or -errno / -EBADMSG.
 */
static int last_line(int fd, uint64_t size, char **ret_line, size_t *ret_len, uint64_t *ret_partial)
{
        size_t window = 2 * (size_t) AUDIT_RECORD_MAX_BYTES + 2, got = 0, start, end;
        uint64_t off = size > window ? size - window : 0;
        char *buf = NULL, *line;
        int r;

        buf = xmalloc(window);
        while (got < size - off) {
                ssize_t n = pread(fd, buf + got, (size_t) (size - off) - got, (off_t) (off + got));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        goto out;
                }
                got += (size_t) n;
        }
        end = got;
        while (end > 0 && buf[end - 1] != '\n')
                end--;
        *ret_partial = got - end;
        if (got - end > AUDIT_RECORD_MAX_BYTES || (end == 0 && off > 0)) {
                r = -EBADMSG;   /* longer than any record we write */
                goto out;
        }
        if (end == 0) {
                r = 0;
                goto out;
        }
        start = end - 1;
        while (start > 0 && buf[start - 1] != '\n')
                start--;
        if (start == 0 && off > 0) {
                r = -EBADMSG;
                goto out;
        }
        line = xmalloc(end - start);
        memcpy(line, buf + start, end - start - 1);
        line[end - start - 1] = '\0';
        *ret_line = line;
        *ret_len = end - start - 1;
        r = 1;
out:
        free(buf);
        return r;
}

static char *numbered(const char *path, unsigned i)
{
        size_t len = strlen(path) + 16;
        char *s = xmalloc(len);

        (void) snprintf(s, len, "%s.%u", path, i);
        return s;
}

/* Take seq and prev from the last record of the newest rotated file, for a
 * current file without records (rotation done, first write not). */
static int continue_from_rotated(struct audit *a, bool *found, struct err *e)
{
        for (unsigned i = 1; i <= a->keep; i++) {
                char *p = numbered(a->path, i), *line = NULL;
                uint64_t partial = 0, seq = 0;
                size_t len = 0;
                json_t *o = NULL;
                char why[160];
                int fd, r;
                struct stat st;

                fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0) {
                        r = -errno;
                        free(p);
                        if (r == -ENOENT)
                                continue;
                        return err_set(e, r, "cannot open rotated audit log: %s", strerror(-r));
                }
                r = fstat(fd, &st) < 0 ? -errno : last_line(fd, (uint64_t) st.st_size, &line, &len, &partial);
                (void) close(fd);
                if (r == 0) {
                        free(p);
                        continue;
                }
                if (r > 0)
                        r = parse_record(line, len, &o, &seq, why, sizeof(why));
                if (r == 0 && seq >= INT64_MAX) {
                        r = -EBADMSG;
                        (void) snprintf(why, sizeof(why), "seq %" PRIu64 " leaves no room for another record", seq);
                }
                else
                        (void) snprintf(why, sizeof(why), "%s", strerror(-r));
                if (r < 0) {
                        err_set(e, r, "cannot continue the chain from '%s': last record: %s", p, why);
                        free(line);
                        free(p);
                        return r;
                }
                json_decref(o);
                a->seq = seq + 1;
                r = sha256_hex(line, len, a->prev);
                free(line);
                free(p);
                *found = true;
                return r;
        }
        return 0;
}

int audit_open(const char *path, uint64_t rotate_bytes, unsigned keep, struct audit **ret,
               struct audit_open_info *info, struct err *e)
{
        struct audit *a = NULL;
        struct stat st;
        char *line = NULL, why[160];
        size_t len = 0;
        uint64_t partial = 0, seq = 0;
        bool found = false;
        json_t *o = NULL;
        int r;

        if (keep < AUDIT_KEEP_MIN || keep > AUDIT_KEEP_MAX || rotate_bytes < AUDIT_ROTATE_BYTES_MIN)
                return err_set(e, -EINVAL, "audit: keep must be %d-%d and rotate_bytes at least %llu",
                               AUDIT_KEEP_MIN, AUDIT_KEEP_MAX, AUDIT_ROTATE_BYTES_MIN);
        a = xcalloc(1, sizeof(*a));
        a->path = xstrdup(path);
        a->rotate_bytes = rotate_bytes;
        a->keep = keep;
        a->seq = 1;
        a->healthy = true;
        memcpy(a->prev, ZERO_HASH, sizeof(a->prev));
        a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, AUDIT_FILE_MODE);
        if (a->fd < 0) {
                r = err_set(e, -errno, "cannot open audit log '%s': %m", path);
                goto out;
        }
        if (fstat(a->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                r = err_set(e, S_ISREG(st.st_mode) ? -errno : -EINVAL, "audit log '%s' is not a regular file", path);
                goto out;
        }
        r = last_line(a->fd, (uint64_t) st.st_size, &line, &len, &partial);
        if (r < 0) {
                err_set(e, r, "cannot read the last record of '%s': %s", path,
                        r == -EBADMSG ? "a line longer than any record" : strerror(-r));
                goto out;
        }
        if (partial > 0) {
                /* A crash or a full disk cut the last write short: drop it. */
                if (ftruncate(a->fd, (off_t) ((uint64_t) st.st_size - partial)) < 0 || fdatasync(a->fd) < 0) {
                        r = err_set(e, -errno, "cannot truncate the partial last line of '%s': %m", path);
                        goto out;
                }
        }
        a->size = (uint64_t) st.st_size - partial;
        if (r > 0) {
                r = parse_record(line, len, &o, &seq, why, sizeof(why));
                if (r == 0 && seq >= INT64_MAX) {
                        r = -EBADMSG;
                        (void) snprintf(why, sizeof(why), "seq %" PRIu64 " leaves no room for another record", seq);
                }
                if (r < 0) {
                        err_set(e, r, "cannot continue the chain of '%s': last record: %s", path, why);
                        goto out;
                }
                a->seq = seq + 1;
                r = sha256_hex(line, len, a->prev);
                if (r < 0)
                        goto out;
                found = true;
        } else {
                r = continue_from_rotated(a, &found, e);
                if (r < 0)
                        goto out;
        }
        if (info)
                *info = (struct audit_open_info) { .next_seq = a->seq, .truncated_bytes = partial,
                                                   .continued = found };
        *ret = a;
        a = NULL;
        r = 0;
out:
        json_decref(o);
        free(line);
        audit_close(a);
        return r;
}

struct audit *audit_close(struct audit *a)
{
        if (!a)
                return NULL;
        if (a->fd >= 0)
                (void) close(a->fd);
        free(a->path);
        free(a);
        return NULL;
}

/* ---- writing ---------------------------------------------------------------- */

static int fail(struct audit *a, struct err *e, int r, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int fail(struct audit *a, struct err *e, int r, const char *fmt, ...)
{
        va_list ap;

        errno = -r;
        va_start(ap, fmt);
        (void) vsnprintf(a->last_error, sizeof(a->last_error), fmt, ap);
        va_end(ap);
        a->healthy = false;
        return err_set(e, r, "%s", a->last_error);
}

static int fsync_dir(const char *path)
{
        char *copy = xstrdup(path);
        int fd, r = 0;

        fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                r = -errno;
        if (fd >= 0)
                (void) close(fd);
        free(copy);
        return r;
}

/*
 * audit.jsonl → .1 → .2 … (.keep dropped). The new file is created first as
 * path.new, so that a failure leaves the current file in use, and a crash
 * between the renames leaves path missing (open then continues from .1).
 */
static int rotate(struct audit *a, struct err *e)
{
        size_t len = strlen(a->path) + 8;
        char *tmp = xmalloc(len);
        int nfd, r;

        (void) snprintf(tmp, len, "%s.new", a->path);
        nfd = open(tmp, O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                   AUDIT_FILE_MODE);
        if (nfd < 0) {
                r = fail(a, e, -errno, "audit: cannot create '%s' to rotate to: %m", tmp);
                free(tmp);
                return r;
        }
        for (unsigned i = a->keep; i >= 1; i--) {
                char *from = i == 1 ? xstrdup(a->path) : numbered(a->path, i - 1), *to = numbered(a->path, i);

                r = rename(from, to) < 0 && errno != ENOENT ? -errno : 0;
                if (r < 0)
                        fail(a, e, r, "audit: cannot rotate '%s' to '%s': %m", from, to);
                free(from);
                free(to);
                if (r < 0)
                        goto out;
        }
        if (rename(tmp, a->path) < 0) {
                r = fail(a, e, -errno, "audit: cannot rename '%s' to '%s': %m", tmp, a->path);
                goto out;
        }
        r = fsync_dir(a->path);
        if (r < 0) {
                fail(a, e, r, "audit: cannot sync the directory of '%s' after rotation: %m", a->path);
                /* the rename happened: carry on writing to the new file */
        }
        (void) close(a->fd);
        a->fd = nfd;
        nfd = -1;
        a->size = 0;
out:
        if (nfd >= 0) {
                (void) close(nfd);
                (void) unlink(tmp);
        }
        free(tmp);
        return r;
}

/* Refuse anything that looks like a bearer token, anywhere in v. */
static int check_no_token(json_t *v, int depth)
{
        const char *key;
        json_t *m;
        size_t i;

        if (depth > EXTRA_DEPTH_MAX)
                return -E2BIG;
        if (json_is_string(v))
                return log_has_jws(json_string_value(v)) ? -EPERM : 0;
        if (json_is_object(v)) {
                json_object_foreach(v, key, m) {
                        int r = log_has_jws(key) ? -EPERM : check_no_token(m, depth + 1);
                        if (r < 0)
                                return r;
                }
        } else if (json_is_array(v)) {
                json_array_foreach(v, i, m) {
                        int r = check_no_token(m, depth + 1);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static json_t *string_or_null(const char *s)
{
        return s ? json_string(s) : json_null();
}

/* The record's line including '\n' (callee-allocated). */
static int build_line(struct audit *a, const struct audit_record *rec, char **ret, size_t *ret_len,
                      struct err *e)
{
        struct timespec ts;
        char when[RFC3339_MAX], *text = NULL, *line;
        json_t *o = NULL, *v;
        const char *key;
        size_t len;
        int r;

        if (!audit_event_to_string(rec->event) || (rec->extra && !json_is_object(rec->extra)))
                return err_set(e, -EINVAL, "audit: invalid event or extra members");
        if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || rfc3339_format(ts.tv_sec, (int) (ts.tv_nsec / 1000000), when) < 0)
                return err_set(e, -EINVAL, "audit: the clock cannot be read or formatted");
        o = json_pack("{sI, ss, ss}", "seq", (json_int_t) a->seq, "time", when,
                      "event", event_table[rec->event].name);
        if (!o)
                return -ENOMEM;
        if (rec->caller) {
                json_t *c = json_pack("{sI, sI, sI}", "uid", (json_int_t) rec->caller->uid,
                                      "gid", (json_int_t) rec->caller->gid, "pid", (json_int_t) rec->caller->pid);
                if (c && rec->caller->pod_uid)
                        json_object_set_new(c, "pod_uid", json_string(rec->caller->pod_uid));
                if (c && rec->caller->container_id)
                        json_object_set_new(c, "container_id", json_string(rec->caller->container_id));
                json_object_set_new(o, "caller", c);
        }
        json_object_set_new(o, "outcome", string_or_null(rec->outcome));
        json_object_set_new(o, "jti", string_or_null(rec->jti));
        json_object_set_new(o, "policy_sha256", string_or_null(rec->policy_sha256));
        json_object_set_new(o, "evidence_sha256", string_or_null(rec->evidence_sha256));
        if (rec->extra) {
                json_object_foreach(rec->extra, key, v) {
                        for (const char *const *k = standard_keys; *k; k++)
                                if (strcmp(key, *k) == 0) {
                                        r = err_set(e, -EINVAL, "audit: extra member '%s' would replace a standard one", key);
                                        goto out;
                                }
                        json_object_set(o, key, v);
                }
        }
        json_object_set_new(o, "prev", json_string(a->prev));
        r = check_no_token(o, 0);
        if (r < 0) {
                err_set(e, r, r == -EPERM ? "audit: refusing to store a bearer token (record only its jti)"
                                          : "audit: extra members nested too deeply");
                goto out;
        }
        text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!text) {
                r = -ENOMEM;
                goto out;
        }
        len = strlen(text);
        if (len + 1 > AUDIT_RECORD_MAX_BYTES) {
                r = err_set(e, -E2BIG, "audit: record of %zu bytes exceeds %d", len + 1, AUDIT_RECORD_MAX_BYTES);
                goto out;
        }
        line = xmalloc(len + 1);
        memcpy(line, text, len);
        line[len] = '\n';
        *ret = line;
        *ret_len = len + 1;
        r = 0;
out:
        free(text);
        json_decref(o);
        return r;
}

static void journal(const struct audit_record *rec, uint64_t seq)
{
        char f_event[64], f_seq[48], f_outcome[128], f_jti[128], f_pol[96], f_uid[48], f_pid[48];
        const char *fields[8];
        size_t n = 0;

        (void) snprintf(f_event, sizeof(f_event), "ATTESTD_EVENT=%s", event_table[rec->event].name);
        fields[n++] = f_event;
        (void) snprintf(f_seq, sizeof(f_seq), "ATTESTD_SEQ=%" PRIu64, seq);
        fields[n++] = f_seq;
        if (rec->outcome) {
                (void) snprintf(f_outcome, sizeof(f_outcome), "ATTESTD_OUTCOME=%s", rec->outcome);
                fields[n++] = f_outcome;
        }
        if (rec->jti) {
                (void) snprintf(f_jti, sizeof(f_jti), "ATTESTD_JTI=%s", rec->jti);
                fields[n++] = f_jti;
        }
        if (rec->policy_sha256) {
                (void) snprintf(f_pol, sizeof(f_pol), "ATTESTD_POLICY_SHA256=%s", rec->policy_sha256);
                fields[n++] = f_pol;
        }
        if (rec->caller) {
                (void) snprintf(f_uid, sizeof(f_uid), "ATTESTD_CALLER_UID=%u", (unsigned) rec->caller->uid);
                fields[n++] = f_uid;
                (void) snprintf(f_pid, sizeof(f_pid), "ATTESTD_CALLER_PID=%d", (int) rec->caller->pid);
                fields[n++] = f_pid;
        }
        fields[n] = NULL;
        log_event(LOG_INFO, LOG_MODULE, event_table[rec->event].message_id, fields,
                  "audit record %" PRIu64 ": %s%s%s", seq, event_table[rec->event].name,
                  rec->outcome ? " " : "", rec->outcome ? rec->outcome : "");
}

int audit_append(struct audit *a, const struct audit_record *rec, struct err *e)
{
        char *line = NULL;
        size_t len = 0;
        ssize_t n;
        int r;

        if (a->broken)
                return fail(a, e, -EIO, "audit: '%s' ends in a record that could not be removed after a failed "
                            "write; reopen the log (restart) to truncate it", a->path);
        r = build_line(a, rec, &line, &len, e);
        if (r < 0)
                return r;
        if (a->size > 0 && a->size + len > a->rotate_bytes) {
                r = rotate(a, e);
                if (r < 0 && a->size > 0)
                        goto out;
        }
        do
                n = write(a->fd, line, len);
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t) len) {
                r = n < 0 ? -errno : -ENOSPC;
                if (n < 0)
                        fail(a, e, r, "audit: cannot write record %" PRIu64 " to '%s': %m", a->seq, a->path);
                else
                        fail(a, e, r, "audit: short write of record %" PRIu64 " to '%s' (%zd of %zu bytes)",
                             a->seq, a->path, n, len);
                if (n > 0 && ftruncate(a->fd, (off_t) a->size) < 0)
                        a->broken = true;
                goto out;
        }
        a->size += len;
        r = sha256_hex(line, len - 1, a->prev);
        if (r < 0) {
                a->broken = true;
                r = fail(a, e, r, "audit: cannot hash record %" PRIu64, a->seq);
                goto out;
        }
        a->seq++;
        journal(rec, a->seq - 1);
        if (audit_event_is_critical(rec->event) || !a->healthy) {
                if (fdatasync(a->fd) < 0) {
                        r = fail(a, e, -errno, "audit: record %" PRIu64 " was written to '%s' but fdatasync failed, "
                                 "it may not be durable: %m", a->seq - 1, a->path);
                        goto out;
                }
        }
        a->healthy = true;
        a->last_error[0] = '\0';
        r = 0;
out:
        free(line);
        return r;
}

/* ---- verification ---------------------------------------------------------------- */

struct reader {
        FILE *f;
        char *buf;              /* AUDIT_RECORD_MAX_BYTES */
        size_t start, len;      /* unread bytes are buf[start..len) */
        bool eof;
};

/*
 * Next line of r: 1 with *ret and *ret_len (borrowed until the next call, '\n'
 * excluded) for a complete line, 2 for a trailing line without '\n', 0 at
 * the end, -E2BIG for a line longer than any record, -EIO.
 */
static int next_line(struct reader *r, const char **ret, size_t *ret_len)
{
        for (;;) {
                char *nl = memchr(r->buf + r->start, '\n', r->len - r->start);
                size_t have = r->len - r->start;

                if (nl) {
                        *ret = r->buf + r->start;
                        *ret_len = (size_t) (nl - (r->buf + r->start));
                        r->start += *ret_len + 1;
                        return 1;
                }
                if (have >= AUDIT_RECORD_MAX_BYTES)
                        return -E2BIG;
                if (r->eof) {
                        if (have == 0)
                                return 0;
                        *ret = r->buf + r->start;
                        *ret_len = have;
                        r->start = r->len;
                        return 2;
                }
                memmove(r->buf, r->buf + r->start, have);
                r->start = 0;
                r->len = have + fread(r->buf + have, 1, AUDIT_RECORD_MAX_BYTES - have, r->f);
                if (ferror(r->f))
                        return -EIO;
                if (feof(r->f))
                        r->eof = true;
        }
}

static void broke(struct audit_verify_result *res, size_t file, uint64_t line, uint64_t seq, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

static void broke(struct audit_verify_result *res, size_t file, uint64_t line, uint64_t seq, const char *fmt, ...)
{
        va_list ap;

        res->intact = false;
        res->bad_file = file;
        res->bad_line = line;
        res->bad_seq = seq;
        va_start(ap, fmt);
        (void) vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
        va_end(ap);
}

int audit_verify_files(const char *const *paths, size_t n, struct audit_verify_result *res,
                       struct err *e)
{
        struct reader rd = {};
        char prev_hash[SHA256_HEX_LEN + 1] = "";
        uint64_t prev_seq = 0;
        int r = 0;

        *res = (struct audit_verify_result) { .intact = true };
        rd.buf = xmalloc(AUDIT_RECORD_MAX_BYTES);
        for (size_t fi = 0; fi < n && res->intact; fi++) {
                uint64_t lineno = 0;

                rd.f = fopen(paths[fi], "re");
                if (!rd.f) {
                        r = err_set(e, -errno, "cannot open '%s': %m", paths[fi]);
                        goto out;
                }
                rd.start = rd.len = 0;
                rd.eof = false;
                while (res->intact) {
                        const char *line;
                        size_t len;
                        uint64_t seq = 0, expect = prev_seq + 1;
                        json_t *o = NULL;
                        const char *pv;
                        char why[160];
                        int k = next_line(&rd, &line, &len);

                        if (k == 0)
                                break;
                        lineno++;
                        if (k == -EIO) {
                                r = err_set(e, -EIO, "cannot read '%s'", paths[fi]);
                                goto out;
                        }
                        if (k == -E2BIG) {
                                broke(res, fi, lineno, expect, "a line longer than %d bytes", AUDIT_RECORD_MAX_BYTES);
                                break;
                        }
                        if (k == 2) {
                                if (fi == n - 1)
                                        res->partial_tail = true;
                                else
                                        broke(res, fi, lineno, expect,
                                              "the file ends in an incomplete line, but it is not the last file");
                                break;
                        }
                        if (parse_record(line, len, &o, &seq, why, sizeof(why)) < 0) {
                                broke(res, fi, lineno, expect, "%s", why);
                                break;
                        }
                        pv = json_string_value(json_object_get(o, "prev"));
                        if (res->n_records > 0 && seq != expect) {
                                broke(res, fi, lineno, seq, "seq %" PRIu64 " follows seq %" PRIu64 " (a record was "
                                      "removed, reordered or renumbered)", seq, prev_seq);
                        } else if (res->n_records > 0 && strcmp(pv, prev_hash) != 0) {
                                broke(res, fi, lineno, seq, "\"prev\" is not the SHA-256 of record %" PRIu64
                                      " (that record or this one was changed)", prev_seq);
                        } else if (res->n_records == 0 && seq == 1 && strcmp(pv, ZERO_HASH) != 0) {
                                broke(res, fi, lineno, seq, "the first record (seq 1) must have \"prev\" of 64 zeros");
                        } else {
                                if (res->n_records == 0)
                                        res->first_seq = seq;
                                res->n_records++;
                                res->last_seq = seq;
                                prev_seq = seq;
                                if (sha256_hex(line, len, prev_hash) < 0) {
                                        json_decref(o);
                                        r = err_set(e, -EIO, "cannot hash");
                                        goto out;
                                }
                        }
                        json_decref(o);
                }
                (void) fclose(rd.f);
                rd.f = NULL;
        }
out:
        if (rd.f)
                (void) fclose(rd.f);
        free(rd.buf);
        return r;
}
