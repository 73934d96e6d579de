/* SPDX-License-Identifier: BSD-3-Clause */
#include <math.h>
#include <sys/random.h>

#include "daemon/scheduler.h"

static uint64_t clamp_min(double ms)
{
        if (!(ms >= SCHED_MIN_DELAY_MS))        /* also catches NaN */
                return SCHED_MIN_DELAY_MS;
        if (ms > (double) UINT64_MAX / 2)
                return UINT64_MAX / 2;
        return (uint64_t) ms;
}

uint64_t sched_delay_after_success(const struct sched_policy *p, int64_t now, int64_t iat,
                                   int64_t exp, double u)
{
        double lifetime_ms, target_ms, spread, latest_ms, delay_ms;

        if (exp <= now)
                return SCHED_MIN_DELAY_MS;      /* already expired: refresh at once */
        if (iat > now || iat >= exp)
                iat = now;                      /* clock skew: measure from now */
        lifetime_ms = (double) (exp - iat) * 1000.0;
        spread = p->jitter * (2.0 * u - 1.0);
        target_ms = lifetime_ms * p->fraction * (1.0 + spread);
        delay_ms = target_ms - (double) (now - iat) * 1000.0;
        /* never later than 90% of the way to expiry from now */
        latest_ms = (double) (exp - now) * 1000.0 * 0.9;
        if (delay_ms > latest_ms)
                delay_ms = latest_ms;
        return clamp_min(delay_ms);
}

uint64_t sched_delay_after_failure(const struct sched_policy *p, unsigned failures,
                                   int64_t retry_after_ms, double u)
{
        double ceiling = (double) p->backoff_initial_ms, delay_ms;

        for (unsigned i = 1; i < failures && ceiling < (double) p->backoff_max_ms; i++)
                ceiling *= 2.0;
        if (ceiling > (double) p->backoff_max_ms)
                ceiling = (double) p->backoff_max_ms;
        delay_ms = ceiling * u;
        if (retry_after_ms > 0) {
                double ra = (double) retry_after_ms;
                if (ra > (double) SCHED_RETRY_AFTER_MAX_MS)
                        ra = (double) SCHED_RETRY_AFTER_MAX_MS;
                if (delay_ms < ra)
                        delay_ms = ra;
        }
        return clamp_min(delay_ms);
}

double sched_random_unit(void)
{
        uint64_t r;

        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t) sizeof(r))
                return 0.5;
        return (double) (r >> 11) / 9007199254740992.0;        /* 2^53 */
}
