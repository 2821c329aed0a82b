/* test_pool_burst.c - acquires come first: after an acquire takes a warm
 * VM, refill clones wait until acquires pause (refill_quiet_ns) or the
 * burst has lasted refill_hold_max_ns, except for a template the burst has
 * emptied. The hold is set long here so that a refill that ignored it would
 * be seen; the times checked are lower bounds the hold guarantees. */
#include <criterion/criterion.h>
#include <unistd.h>

#include "pool_harness.h"

#define SEC (1000000000ll)
#define MS  (1000000ll)

static int clones(harness_t *h)
{
    return fake_source_counts(h->fs).clones;
}

static void take(harness_t *h, pool_lease_t *l)
{
    wp_error_t err = {0};
    pool_acquire_options_t ff = {.fail_fast = true};
    cr_assert_eq(pool_acquire(h->pool, "t", &ff, l, &err), 0, "%s", err.msg);
    cr_assert(l->hit);
}

/* A running pool "t" of `target`, filled, with the given burst hold. */
static void open_full(harness_t *h, unsigned target, int64_t quiet_ns, int64_t hold_max_ns)
{
    char templates[128];
    snprintf(templates, sizeof(templates), "{\"t\": {\"target\": %u, \"warm_state\": \"running\"}}",
             target);
    harness_open_hold(h, HARNESS_DISK, templates, 2, 0, quiet_ns, hold_max_ns);
    cr_assert(WAIT_UNTIL(h->pool, 5000, STATUS(h, "t").warm == target));
    cr_assert_eq(clones(h), (int)target);
}

Test(pool_burst, no_refill_clone_while_acquires_go_on)
{
    harness_t h;
    open_full(&h, 3, 10 * SEC, 60 * SEC);
    pool_lease_t a, b;
    take(&h, &a);
    usleep(150 * 1000);
    take(&h, &b);
    usleep(300 * 1000); /* ample time for a refill that did not wait */
    pool_template_status_t s = STATUS(&h, "t");
    cr_assert_eq(clones(&h), 3, "a refill clone started during the burst");
    cr_assert_eq(s.warm, 1);
    cr_assert_eq(s.cloning, 0);
    harness_close(&h);
}

Test(pool_burst, a_burst_that_empties_the_pool_refills_at_once)
{
    harness_t h;
    open_full(&h, 2, 60 * SEC, 60 * SEC);
    pool_lease_t a, b;
    take(&h, &a);
    take(&h, &b);
    /* the hold (60 s) would outlast this wait: only the empty-pool rule
     * brings the clones */
    cr_assert(WAIT_UNTIL(h.pool, 10000, STATUS(&h, "t").warm == 2), "an emptied pool waited");
    cr_assert_eq(clones(&h), 4);
    harness_close(&h);
}

/* Take one of three warm VMs; the replacement clone is seen at least
 * `at_least_ns` later, and within 10 s. */
static void refill_after_one_take(int64_t quiet_ns, int64_t hold_max_ns, int64_t at_least_ns)
{
    harness_t h;
    open_full(&h, 3, quiet_ns, hold_max_ns);
    pool_lease_t a;
    int64_t t0 = wp_now_mono_ns();
    take(&h, &a);
    cr_assert(WAIT_UNTIL(h.pool, 10000, clones(&h) == 4), "the refill never came");
    int64_t waited = wp_now_mono_ns() - t0;
    cr_assert_geq(waited, at_least_ns, "refill after %.0f ms, before the hold ended",
                  (double)waited / 1e6);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 3));
    harness_close(&h);
}

Test(pool_burst, the_refill_starts_once_acquires_pause)
{
    refill_after_one_take(300 * MS, 60 * SEC, 300 * MS);
}

Test(pool_burst, a_long_burst_holds_the_refill_no_longer_than_the_cap)
{
    refill_after_one_take(60 * SEC, 300 * MS, 300 * MS);
}

Test(pool_burst, an_acquire_after_the_cap_in_the_same_burst_is_refilled)
{
    harness_t h;
    open_full(&h, 3, 60 * SEC, 200 * MS);
    pool_lease_t a, b;
    take(&h, &a);
    cr_assert(WAIT_UNTIL(h.pool, 10000, STATUS(&h, "t").warm == 3 && clones(&h) == 4));
    /* the same burst (quiet 60 s), past its cap, the workers idle: this
     * take must still wake one */
    take(&h, &b);
    cr_assert(WAIT_UNTIL(h.pool, 10000, STATUS(&h, "t").warm == 3 && clones(&h) == 5),
              "the second take was never replaced");
    harness_close(&h);
}
