/* test_pool_health.c - VM deaths and source failures: a warm VM that dies
 * is replaced, a leased one is marked for its holder, clone failures back
 * off, a VM that will not resume is skipped. */
#include <errno.h>
#include <time.h>

#include "pool_harness.h"

/* Some VM on the fake host that is not `except`. */
static void some_vm(harness_t *h, const char *except, char *out)
{
    pool_source_t src = fake_source_as_source(h->fs);
    char **ids;
    size_t n;
    cr_assert_eq(src.ops->list(src.self, &ids, &n, NULL), 0);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (except == NULL || strcmp(ids[i], except) != 0)
            snprintf(out, POOL_VM_ID_MAX, "%s", ids[i]);
    pool_source_ids_free(ids, n);
    cr_assert_neq(out[0], '\0');
}

Test(pool_health, a_warm_vm_that_dies_is_removed_and_replaced)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 2}}");
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 2));
    char victim[POOL_VM_ID_MAX];
    some_vm(&h, NULL, victim);
    cr_assert_eq(fake_source_kill(h.fs, victim), 0);
    cr_assert(WAIT_UNTIL(h.pool, 5000,
                         STATUS(&h, "t").deaths == 1 && STATUS(&h, "t").warm == 2 &&
                             !fake_source_exists(h.fs, victim)));
    cr_assert_eq(fake_source_counts(h.fs).clones, 3);
    /* the dead VM's record may still sit in the queue: acquires skip it */
    pool_lease_t a, b;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &b, &err), 0, "%s", err.msg);
    cr_assert_str_neq(a.vm.id, victim);
    cr_assert_str_neq(b.vm.id, victim);
    cr_assert(a.hit && b.hit);
    cr_assert_eq(pool_release(h.pool, a.vm.id, a.token, NULL, &err), 0);
    cr_assert_eq(pool_release(h.pool, b.vm.id, b.token, NULL, &err), 0);
    harness_close(&h);
}

Test(pool_health, a_leased_vm_that_dies_is_marked_for_its_holder)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 1}}");
    pool_lease_t lease;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &lease, &err), 0, "%s", err.msg);
    cr_assert_eq(fake_source_kill(h.fs, lease.vm.id), 0);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").dead == 1));
    cr_assert_eq(STATUS(&h, "t").leased, 0);
    pool_lease_state_t ls;
    cr_assert_eq(pool_lease_check(h.pool, lease.vm.id, lease.token, &ls, &err), 0, "%s", err.msg);
    cr_assert_eq(ls, POOL_LEASE_DEAD);
    pool_lease_summary_t *list;
    size_t n;
    cr_assert_eq(pool_leases(h.pool, &list, &n, &err), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(list[0].state, POOL_LEASE_DEAD);
    free(list);
    pool_release_result_t rr = {0};
    cr_assert_eq(pool_release(h.pool, lease.vm.id, lease.token, &rr, &err), 0, "%s", err.msg);
    cr_assert(rr.vm_died, "release tells the holder the VM had died");
    cr_assert_not(fake_source_exists(h.fs, lease.vm.id));
    cr_assert_eq(STATUS(&h, "t").dead, 0);
    harness_close(&h);
}

Test(pool_health, clone_failures_are_counted_and_backed_off)
{
    harness_t h;
    fake_source_t *fs;
    harness_open(&h, "{\"t\": {\"target\": 0}}");
    fs = h.fs;
    fake_source_fail_clones(fs, 3);
    pool_size_t two = {.sizing = POOL_SIZING_FIXED, .target = 2, .max = 4};
    wp_error_t err = {0};
    cr_assert_eq(pool_set_size(h.pool, "t", &two, &err), 0);
    cr_assert(WAIT_UNTIL(h.pool, 10000, STATUS(&h, "t").warm == 2));
    pool_template_status_t s = STATUS(&h, "t");
    cr_assert_eq(s.clone_failures, 3);
    cr_assert_eq(s.clones, 2);

    /* a template the source can never clone does not spin a core */
    fake_source_fail_clones(fs, -1);
    pool_size_t three = {.sizing = POOL_SIZING_FIXED, .target = 3, .max = 4};
    cr_assert_eq(pool_set_size(h.pool, "t", &three, &err), 0);
    struct timespec ts = {0, 500 * 1000000};
    nanosleep(&ts, NULL);
    uint64_t failures = STATUS(&h, "t").clone_failures - 3;
    cr_assert_geq(failures, 2);
    cr_assert_leq(failures, 6, "%llu clone attempts in 0.5 s: no back-off",
                  (unsigned long long)failures);
    fake_source_fail_clones(fs, 0);
    harness_close(&h);
}

Test(pool_health, a_vm_that_will_not_resume_is_skipped)
{
    harness_t h;
    /* hot 0: no VM is resumed ahead of demand, so the scripted resume
     * failure meets the acquire's own resume, not the refill's */
    harness_open(&h, "{\"t\": {\"target\": 2, \"warm_state\": \"paused\", \"hot\": 0}}");
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 2));
    fake_source_fail_resumes(h.fs, 1);
    pool_lease_t lease;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &lease, &err), 0, "%s", err.msg);
    cr_assert(lease.hit, "the second warm VM serves the acquire");
    cr_assert_eq(fake_source_counts(h.fs).destroys, 1, "the broken VM is destroyed");
    cr_assert_eq(pool_release(h.pool, lease.vm.id, lease.token, NULL, &err), 0);
    harness_close(&h);
}

Test(pool_health, running_warm_state_never_pauses)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 2, \"warm_state\": \"running\"}}");
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 2));
    pool_lease_t lease;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &lease, &err), 0, "%s", err.msg);
    fake_counts_t c = fake_source_counts(h.fs);
    cr_assert_eq(c.pauses, 0);
    cr_assert_eq(c.resumes, 0);
    cr_assert_eq(pool_release(h.pool, lease.vm.id, lease.token, NULL, &err), 0);
    harness_close(&h);
}
