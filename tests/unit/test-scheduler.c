/* SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon/scheduler.h"

static const struct sched_policy pol = {
        .fraction = 0.5, .jitter = 0.1, .backoff_initial_ms = 1000, .backoff_max_ms = 300000,
};

/* An 8 h token refreshes at 4 h, spread by +-10 %. */
static void test_success_fraction_and_jitter(void **state)
{
        int64_t iat = 1700000000, exp = iat + 28800;

        assert_int_equal(sched_delay_after_success(&pol, iat, iat, exp, 0.5), 14400000);
        assert_int_equal(sched_delay_after_success(&pol, iat, iat, exp, 0.0), 12960000);
        assert_true(sched_delay_after_success(&pol, iat, iat, exp, 0.999999) <= 15840000);
        assert_true(sched_delay_after_success(&pol, iat, iat, exp, 0.999999) > 15839000);
        /* measured from iat: 1 h after issue, 3 h remain until the 4 h point */
        assert_int_equal(sched_delay_after_success(&pol, iat + 3600, iat, exp, 0.5), 10800000);
}

/* Ensure that the refresh always comes before expiry, whatever the inputs. */
static void test_success_never_after_expiry(void **state)
{
        struct sched_policy late = pol;
        int64_t iat = 1700000000;

        late.fraction = 0.95;
        late.jitter = 0.5;
        for (int64_t life = 1; life < 100000; life = life * 3 + 1)
                for (double u = 0.0; u < 1.0; u += 0.125)
                        for (int64_t off = 0; off < life; off += life / 4 + 1) {
                                int64_t now = iat + off;
                                uint64_t d = sched_delay_after_success(&late, now, iat, iat + life, u);
                                assert_true(d >= SCHED_MIN_DELAY_MS);
                                if ((iat + life - now) * 1000 > SCHED_MIN_DELAY_MS)
                                        assert_true(d < (uint64_t) (iat + life - now) * 1000);
                        }
}

static void test_success_odd_clocks(void **state)
{
        int64_t now = 1700000000;

        /* expired token: at once */
        assert_int_equal(sched_delay_after_success(&pol, now, now - 100, now - 1, 0.5), SCHED_MIN_DELAY_MS);
        /* iat in the future (skew): measured from now */
        assert_int_equal(sched_delay_after_success(&pol, now, now + 50, now + 1000, 0.5), 500000);
        /* past the refresh point already: at once */
        assert_int_equal(sched_delay_after_success(&pol, now, now - 900, now + 100, 0.5), SCHED_MIN_DELAY_MS);
}

static void test_failure_backoff_grows_to_cap(void **state)
{
        /* u close to 1 shows the ceiling: 1, 2, 4, ... s up to 300 s */
        uint64_t prev = 0;
        for (unsigned n = 1; n <= 12; n++) {
                uint64_t d = sched_delay_after_failure(&pol, n, -1, 0.9999999);
                assert_true(d >= prev);
                assert_true(d <= 300000);
                prev = d;
        }
        assert_true(prev > 299000);
        assert_true(sched_delay_after_failure(&pol, 3, -1, 0.9999999) >= 3999);
        assert_true(sched_delay_after_failure(&pol, 3, -1, 0.9999999) <= 4000);
        /* full jitter: u = 0 gives the floor */
        assert_int_equal(sched_delay_after_failure(&pol, 5, -1, 0.0), SCHED_MIN_DELAY_MS);
        /* a huge failure count neither overflows nor stops */
        assert_true(sched_delay_after_failure(&pol, 4000000000u, -1, 0.5) == 150000);
}

static void test_failure_honours_retry_after(void **state)
{
        assert_int_equal(sched_delay_after_failure(&pol, 1, 7000, 0.1), 7000);
        /* jittered delay already longer than Retry-After */
        assert_int_equal(sched_delay_after_failure(&pol, 20, 2000, 0.5), 150000);
        /* absurd Retry-After is capped at an hour */
        assert_int_equal(sched_delay_after_failure(&pol, 1, 1000ll * 86400 * 365, 0.5),
                         SCHED_RETRY_AFTER_MAX_MS);
}

static void test_random_unit(void **state)
{
        for (int i = 0; i < 1000; i++) {
                double u = sched_random_unit();
                assert_true(u >= 0.0 && u < 1.0);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_success_fraction_and_jitter),
                cmocka_unit_test(test_success_never_after_expiry),
                cmocka_unit_test(test_success_odd_clocks),
                cmocka_unit_test(test_failure_backoff_grows_to_cap),
                cmocka_unit_test(test_failure_honours_retry_after),
                cmocka_unit_test(test_random_unit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
