/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_RATELIMIT_H
#define ATTESTD_DAEMON_RATELIMIT_H

#include <stdint.h>
#include <sys/types.h>

/*
 * Per-uid token buckets with a bounded table (API_RATE_TABLE_MAX entries).
 * When the table is full a new uid takes the slot of a bucket that has
 * refilled completely (indistinguishable from a fresh one), or else of the
 * least recently used one, so a flood of uids costs no memory. Pure: the
 * caller passes the time (monotonic microseconds).
 */

struct ratelimit;

/* rate_per_s > 0, burst >= 1. [out] callee-allocated; free with ratelimit_free(). */
struct ratelimit *ratelimit_new(double rate_per_s, unsigned burst, unsigned table_max);
struct ratelimit *ratelimit_free(struct ratelimit *rl);

/* Take one token for uid at now_usec. Returns 0 when allowed, or -EAGAIN
 * with *ret_retry_after_s (>= 1) when the bucket is empty. */
int ratelimit_take(struct ratelimit *rl, uid_t uid, uint64_t now_usec, unsigned *ret_retry_after_s);

/* Buckets held (for tests). */
unsigned ratelimit_size(const struct ratelimit *rl);

#endif
