/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_SCHEDULER_H
#define ATTESTD_DAEMON_SCHEDULER_H

#include <stdint.h>

/*
 * Refresh timing. Pure arithmetic so that it can be tested exhaustively;
 * the caller supplies the clock and a uniform random number u in [0, 1).
 *
 * After a success the next refresh comes at `fraction` of the token's
 * lifetime, spread by +-`jitter` of that interval, and always before the
 * token expires. After the n-th consecutive failure the delay is "full
 * jitter" exponential backoff: uniform in [0, min(cap, initial * 2^(n-1))],
 * but never sooner than the server's Retry-After. It never gives up.
 */
struct sched_policy {
        double fraction;
        double jitter;
        uint64_t backoff_initial_ms;
        uint64_t backoff_max_ms;
};

#define SCHED_MIN_DELAY_MS      100
#define SCHED_RETRY_AFTER_MAX_MS (3600ull * 1000)

/* now, iat, exp in seconds since the epoch (wall clock). */
uint64_t sched_delay_after_success(const struct sched_policy *p, int64_t now, int64_t iat,
                                   int64_t exp, double u);

/* failures >= 1; retry_after_ms < 0 when the server sent none. */
uint64_t sched_delay_after_failure(const struct sched_policy *p, unsigned failures,
                                   int64_t retry_after_ms, double u);

/* A uniform double in [0, 1) from the kernel's CSPRNG (falls back to 0.5). */
double sched_random_unit(void);

#endif
