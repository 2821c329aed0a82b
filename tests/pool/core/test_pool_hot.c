/* test_pool_hot.c - a paused pool keeps `hot` warm VMs resumed (clock set
 * by the source) ahead of demand: an acquire takes one of those without a
 * resume of its own, and the refill resumes the next; `hot: 0` keeps every
 * warm VM paused; a running pool has nothing to heat. */
#include <criterion/criterion.h>

#include "pool_harness.h"

static int resumes(harness_t *h)
{
    return fake_source_counts(h->fs).resumes;
}

Test(pool_hot, an_acquire_takes_a_resumed_vm_and_the_next_is_resumed_ahead)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 3, \"hot\": 1}}");
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 3 && resumes(&h) == 1));
    fake_counts_t c = fake_source_counts(h.fs);
    cr_assert_eq(c.pauses, 3, "every clone is paused first");
    pool_lease_t l;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &l, &err), 0, "%s", err.msg);
    cr_assert(l.hit);
    cr_assert_not(fake_source_paused(h.fs, l.vm.id), "the lease is running");
    /* the acquire itself resumed nothing: the one resumed ahead was taken,
     * then the refill resumes another and clones a replacement (paused) */
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 3 && resumes(&h) == 2));
    cr_assert_eq(fake_source_counts(h.fs).pauses, 4);
    harness_close(&h);
}

Test(pool_hot, hot_zero_keeps_every_warm_vm_paused_until_its_acquire)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 2, \"hot\": 0}}");
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 2));
    cr_assert_eq(resumes(&h), 0);
    pool_lease_t l;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(resumes(&h), 1, "resumed by the acquire");
    harness_close(&h);
}

Test(pool_hot, never_more_resumed_than_asked_and_a_shrink_keeps_them)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 4, \"hot\": 2}}");
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 4 && resumes(&h) == 2));
    pool_size_t size = {.sizing = POOL_SIZING_FIXED, .target = 2, .min = 0, .max = 16};
    wp_error_t err = {0};
    cr_assert_eq(pool_set_size(h.pool, "t", &size, &err), 0, "%s", err.msg);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 2));
    /* the two left are the resumed ones (a resumed one destroyed would
     * have the heater resume a paused one) */
    cr_assert_eq(resumes(&h), 2, "the shrink destroyed paused VMs, not resumed ones");
    pool_lease_t a, b;
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &b, &err), 0, "%s", err.msg);
    cr_assert_not(fake_source_paused(h.fs, a.vm.id));
    cr_assert_not(fake_source_paused(h.fs, b.vm.id));
    harness_close(&h);
}

Test(pool_hot, a_running_pool_has_nothing_to_resume)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 2, \"warm_state\": \"running\", \"hot\": 2}}");
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 2));
    fake_counts_t c = fake_source_counts(h.fs);
    cr_assert_eq(c.pauses, 0);
    cr_assert_eq(c.resumes, 0);
    harness_close(&h);
}
