/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_AUDIT_H
#define ATTESTD_DAEMON_AUDIT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "proto/err.h"
#include "proto/sha256.h"

/*
 * The tamper-evident audit log: one JSON object per line, members in this
 * order (compact, so the bytes are deterministic):
 *   seq              u64, +1 per record, continuing across rotations and restarts
 *   time             RFC 3339 UTC with milliseconds
 *   event            see enum audit_event
 *   caller           {"uid", "gid", "pid", "pod_uid"?, "container_id"?}, absent when none
 *   outcome, jti, policy_sha256, evidence_sha256    string or null
 *   ...              the record's extra members, in their order
 *   prev             lowercase hex SHA-256 of the previous line's exact bytes
 *                    (without its '\n'); 64 zeros before the first record ever
 *
 * Each record is one write() of the whole line on an O_APPEND descriptor;
 * critical events are fdatasync()ed. A failed or short write is truncated
 * away, so that only complete records remain; a partial last line left by a
 * crash is truncated on open. Tokens are never stored: a record whose
 * strings look like a compact JWS is refused (-EPERM).
 *
 * Every record is also logged with log_event() (the journal under systemd)
 * with MESSAGE_ID (below) and ATTESTD_EVENT=, ATTESTD_SEQ=, ATTESTD_OUTCOME=,
 * ATTESTD_JTI=, ATTESTD_POLICY_SHA256=, ATTESTD_CALLER_UID=, ATTESTD_CALLER_PID=.
 */

enum audit_event {
        AUDIT_EVENT_ATTESTATION,        /* critical */
        AUDIT_EVENT_VERDICT_CHANGE,     /* critical */
        AUDIT_EVENT_TOKEN_ISSUED,
        AUDIT_EVENT_FRESH_ATTEST,
        AUDIT_EVENT_CONFIG_RELOAD,      /* critical */
        AUDIT_EVENT_STARTUP,            /* critical */
        AUDIT_EVENT_SHUTDOWN,           /* critical */
        _AUDIT_EVENT_MAX,
        _AUDIT_EVENT_INVALID = -EINVAL,
};

/* Stable journal MESSAGE_IDs, one per event. */
#define AUDIT_MESSAGE_ID_ATTESTATION    "3f3323a92b514ba99bd9870272ca2ba7"
#define AUDIT_MESSAGE_ID_VERDICT_CHANGE "c647a19e309d46b9aa6bb5d4a4edb818"
#define AUDIT_MESSAGE_ID_TOKEN_ISSUED   "573ecc739cf44311ba67355e09b07218"
#define AUDIT_MESSAGE_ID_FRESH_ATTEST   "1fc5777f1e4949a69d586a99cdde3537"
#define AUDIT_MESSAGE_ID_CONFIG_RELOAD  "ed44933f029c468981384c8db3af7809"
#define AUDIT_MESSAGE_ID_STARTUP        "bb6d569bf8fd4bd69b202d863c8b69e0"
#define AUDIT_MESSAGE_ID_SHUTDOWN       "58adc21d42534acb835f30543d701aba"

const char *audit_event_to_string(enum audit_event e);
enum audit_event audit_event_from_string(const char *s);
bool audit_event_is_critical(enum audit_event e);

struct audit_caller {
        uid_t uid;
        gid_t gid;
        pid_t pid;
        const char *pod_uid;            /* borrowed; NULL: absent */
        const char *container_id;       /* borrowed; NULL: absent */
};

struct audit_record {
        enum audit_event event;
        const struct audit_caller *caller;      /* borrowed; NULL: no caller */
        const char *outcome;                    /* borrowed; NULL: null */
        const char *jti;
        const char *policy_sha256;
        const char *evidence_sha256;
        json_t *extra;                          /* borrowed object or NULL */
};

struct audit;

struct audit_open_info {
        uint64_t next_seq;              /* seq the next record gets */
        uint64_t truncated_bytes;       /* partial last line removed (a crash mid-write) */
        bool continued;                 /* the chain continues existing records */
};

/*
 * Open (creating) the log at path. rotate_bytes: rotate before a record
 * would grow the file past it; keep: rotated files kept (path.1 … path.keep).
 * *ret callee-allocated (audit_close()); info (may be NULL) says what open
 * found. Returns 0, -errno from the file system, or -EBADMSG when the last
 * record cannot be read (the chain cannot be continued; move the file away).
 */
int audit_open(const char *path, uint64_t rotate_bytes, unsigned keep, struct audit **ret,
               struct audit_open_info *info, struct err *e);

/* Closes the file; accepts NULL; returns NULL. */
struct audit *audit_close(struct audit *a);

/*
 * Append one record (fdatasync'ed when critical, or when the log was
 * unhealthy). Returns 0, or: -EINVAL (bad record), -EPERM (holds a token),
 * -E2BIG (longer than AUDIT_RECORD_MAX_BYTES) — the log stays healthy; or a
 * write/sync/rotation failure (-ENOSPC, -EIO, …), after which the log is
 * unhealthy until an append fully succeeds. When only the sync failed the
 * record is in the file (the chain goes on) but may not be durable.
 */
int audit_append(struct audit *a, const struct audit_record *rec, struct err *e);

bool audit_is_healthy(const struct audit *a);
const char *audit_last_error(const struct audit *a);   /* borrowed; "" when healthy */
uint64_t audit_next_seq(const struct audit *a);

struct audit_verify_result {
        uint64_t n_records;             /* complete records checked */
        uint64_t first_seq, last_seq;
        bool intact;                    /* every complete record chains */
        bool partial_tail;              /* the last file ends in an incomplete line (not a break) */
        uint64_t bad_seq;               /* !intact: the seq found (or expected) where the chain breaks */
        size_t bad_file;                /* !intact: index into paths */
        uint64_t bad_line;              /* !intact: 1-based line in that file */
        char reason[256];               /* !intact: why */
};

/*
 * Check paths[0..n) (oldest first, e.g. audit.jsonl.2 audit.jsonl.1
 * audit.jsonl): each line a record, seq continuous, prev the SHA-256 of the
 * line before (64 zeros before seq 1). Stops at the first break. Returns 0
 * when the check ran (*res says whether the chain is intact) or -errno when
 * a file cannot be read (message in e).
 */
int audit_verify_files(const char *const *paths, size_t n, struct audit_verify_result *res,
                       struct err *e);

#endif
