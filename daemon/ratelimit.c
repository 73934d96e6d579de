/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "daemon/ratelimit.h"
#include "daemon/xalloc.h"

struct bucket {
        uid_t uid;
        double tokens;
        uint64_t last_usec;
};

struct ratelimit {
        double rate;
        double burst;
        unsigned max, n;
        struct bucket *b;
};

struct ratelimit *ratelimit_new(double rate_per_s, unsigned burst, unsigned table_max)
{
        struct ratelimit *rl;

        if (!(rate_per_s > 0) || burst < 1 || table_max < 1)
                return NULL;
        rl = xcalloc(1, sizeof(*rl));
        rl->rate = rate_per_s;
        rl->burst = burst;
        rl->max = table_max;
        rl->b = xcalloc(table_max, sizeof(struct bucket));
        return rl;
}

struct ratelimit *ratelimit_free(struct ratelimit *rl)
{
        if (rl) {
                free(rl->b);
                free(rl);
        }
        return NULL;
}

unsigned ratelimit_size(const struct ratelimit *rl)
{
        return rl->n;
}

static void refill(const struct ratelimit *rl, struct bucket *b, uint64_t now)
{
        if (now > b->last_usec) {
                b->tokens += (double) (now - b->last_usec) / 1e6 * rl->rate;
                if (b->tokens > rl->burst)
                        b->tokens = rl->burst;
        }
        b->last_usec = now;
}

static struct bucket *find_slot(struct ratelimit *rl, uid_t uid, uint64_t now)
{
        struct bucket *lru = NULL;

        for (unsigned i = 0; i < rl->n; i++)
                if (rl->b[i].uid == uid)
                        return &rl->b[i];
        if (rl->n < rl->max) {
                lru = &rl->b[rl->n++];
        } else {
                for (unsigned i = 0; i < rl->n; i++) {
                        struct bucket *b = &rl->b[i];
                        double full_after = (rl->burst - b->tokens) / rl->rate * 1e6;
                        if (now >= b->last_usec && (double) (now - b->last_usec) >= full_after) {
                                lru = b;        /* refilled: same as a fresh bucket */
                                break;
                        }
                        if (!lru || b->last_usec < lru->last_usec)
                                lru = b;
                }
        }
        lru->uid = uid;
        lru->tokens = rl->burst;
        lru->last_usec = now;
        return lru;
}

int ratelimit_take(struct ratelimit *rl, uid_t uid, uint64_t now_usec, unsigned *ret_retry_after_s)
{
        struct bucket *b = find_slot(rl, uid, now_usec);

        refill(rl, b, now_usec);
        if (b->tokens >= 1.0) {
                b->tokens -= 1.0;
                return 0;
        }
        *ret_retry_after_s = (unsigned) ceil((1.0 - b->tokens) / rl->rate);
        if (*ret_retry_after_s < 1)
                *ret_retry_after_s = 1;
        return -EAGAIN;
}
