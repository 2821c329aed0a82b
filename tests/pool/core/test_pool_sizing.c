/* test_pool_sizing.c - the `auto` sizing rule against a synthetic demand
 * pattern (quiet, step up, burst, decay), and the latency histograms that
 * feed status. One tick is one second. */
#include <criterion/criterion.h>
#include <math.h>

#include "pool_sizing.h"
#include "pool_stats.h"

static const unsigned MIN = 1, MAX = 40;

static unsigned tick(pool_sizing_t *s, const pool_sizing_params_t *p, unsigned acquires)
{
    pool_sizing_observe_demand(s, p, acquires, 1.0);
    return pool_sizing_target(s, p, MIN, MAX);
}

Test(sizing, follows_a_step_a_burst_and_a_decay)
{
    pool_sizing_params_t p = POOL_SIZING_DEFAULTS;
    pool_sizing_t s;
    pool_sizing_init(&s, &p, 2);
    pool_sizing_observe_clone(&s, &p, 0.4); /* the measured TCG clone time */

    /* quiet: the configured starting target decays to min */
    unsigned t = 0;
    for (int i = 0; i < 600; i++)
        t = tick(&s, &p, 0);
    cr_assert_eq(t, MIN);

    /* step up to 5 acquires/s: lambda*T = 2, + 3*sqrt(2) = 6.2 -> 6 */
    unsigned prev = t;
    for (int i = 0; i < 30; i++) {
        t = tick(&s, &p, 5);
        cr_assert_geq(t, prev, "the target never falls while demand rises (tick %d)", i);
        prev = t;
    }
    cr_assert_eq(t, 6, "steady state at 5/s: %u", t);
    cr_assert_geq(tick(&s, &p, 5), 5);

    /* a burst of 30 in one second: the next target covers a burst like it */
    t = tick(&s, &p, 30);
    cr_assert_eq(t, 30, "after a burst of 30: %u", t);

    /* decay: demand stops; the target falls monotonically, slowly at first */
    prev = t;
    unsigned after_minute = 0;
    for (int i = 1; i <= 1800; i++) {
        t = tick(&s, &p, 0);
        cr_assert_leq(t, prev, "no rise without demand (tick %d)", i);
        prev = t;
        if (i == 60)
            after_minute = t;
    }
    cr_assert_geq(after_minute, 15, "a burst is remembered for minutes: %u", after_minute);
    cr_assert_eq(t, MIN, "back to min after half an hour: %u", t);
}

Test(sizing, stays_within_min_and_max)
{
    pool_sizing_params_t p = POOL_SIZING_DEFAULTS;
    pool_sizing_t s;
    pool_sizing_init(&s, &p, 0);
    cr_assert_eq(pool_sizing_target(&s, &p, 3, 10), 3);
    for (int i = 0; i < 60; i++)
        pool_sizing_observe_demand(&s, &p, 1000, 1.0);
    cr_assert_eq(pool_sizing_target(&s, &p, 3, 10), 10);
}

Test(sizing, a_slower_clone_needs_more_warm_vms)
{
    pool_sizing_params_t p = POOL_SIZING_DEFAULTS;
    pool_sizing_t fast, slow;
    pool_sizing_init(&fast, &p, 0);
    pool_sizing_init(&slow, &p, 0);
    pool_sizing_observe_clone(&fast, &p, 0.4);
    pool_sizing_observe_clone(&slow, &p, 2.0);
    for (int i = 0; i < 60; i++) {
        pool_sizing_observe_demand(&fast, &p, 5, 1.0);
        pool_sizing_observe_demand(&slow, &p, 5, 1.0);
    }
    unsigned tf = pool_sizing_target(&fast, &p, 0, 100);
    unsigned ts = pool_sizing_target(&slow, &p, 0, 100);
    cr_assert_eq(tf, 6);
    cr_assert_eq(ts, 19, "lambda*T = 10, + 3*sqrt(10) = 19.5: %u", ts);
}

Test(sizing, clone_time_starts_pessimistic_then_follows_measurements)
{
    pool_sizing_params_t p = POOL_SIZING_DEFAULTS;
    pool_sizing_t s;
    pool_sizing_init(&s, &p, 0);
    cr_assert_float_eq(s.clone_s, 1.0, 1e-9);
    pool_sizing_observe_clone(&s, &p, 0.4);
    cr_assert_float_eq(s.clone_s, 0.4, 1e-9, "the first sample replaces the guess");
    pool_sizing_observe_clone(&s, &p, 1.4);
    cr_assert_float_eq(s.clone_s, 0.6, 1e-9, "then an EWMA with alpha 0.2");
}

Test(histogram, quantiles_within_a_bucket)
{
    pool_histogram_t h = {0};
    for (int i = 0; i < 98; i++)
        pool_histogram_record(&h, 700000);         /* 0.7 ms: bucket (0.5, 1] */
    pool_histogram_record(&h, 20 * 1000000ll);     /* 20 ms: (10, 25] */
    pool_histogram_record(&h, 100000 * 1000000ll); /* 100 s: +Inf */
    pool_histogram_snapshot_t s;
    pool_histogram_snapshot(&h, &s);
    cr_assert_eq(s.count, 100);
    double p50 = pool_histogram_quantile_ms(&s, 0.5);
    cr_assert(p50 > 0.5 && p50 <= 1.0, "p50 %.3f", p50);
    double p99 = pool_histogram_quantile_ms(&s, 0.99);
    cr_assert(p99 > 10.0 && p99 <= 25.0, "p99 %.3f", p99);
    cr_assert_float_eq(pool_histogram_quantile_ms(&s, 1.0), 30000.0, 1e-9);
    cr_assert_eq(s.buckets[POOL_HIST_BOUNDS], 1);
    pool_histogram_snapshot_t empty = {0};
    cr_assert_float_eq(pool_histogram_quantile_ms(&empty, 0.5), 0.0, 1e-12);
}
