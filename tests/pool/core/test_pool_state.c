/* test_pool_state.c - the pool's state machine over the fake source: fill
 * to target, concurrent acquires, release, live resize, misses, errors. */
#include <errno.h>
#include <pthread.h>

#include "pool_harness.h"

#define T3 "{\"t\": {\"target\": 3, \"max\": 64}}"

Test(pool_state, fills_to_target_paused_and_stops_there)
{
    harness_t h;
    harness_open(&h, T3);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 3));
    pool_template_status_t s = STATUS(&h, "t");
    cr_assert_eq(s.cloning, 0);
    cr_assert_eq(s.target, 3);
    fake_counts_t c = fake_source_counts(h.fs);
    cr_assert_eq(c.clones, 3, "supply never overshoots the target: %d clones", c.clones);
    cr_assert_eq(c.pauses, 3, "warm_state paused is the default");
    cr_assert_eq(fake_source_count(h.fs), 3);
    harness_close(&h);
}

typedef struct worker_arg {
    pool_t *pool;
    pool_lease_t leases[2];
    int failures;
} worker_arg_t;

static void *acquire_two(void *p)
{
    worker_arg_t *a = p;
    for (int i = 0; i < 2; i++) {
        wp_error_t err = {0};
        if (pool_acquire(a->pool, "t", NULL, &a->leases[i], &err) < 0)
            a->failures++;
    }
    return NULL;
}

Test(pool_state, twenty_acquires_from_ten_threads_get_twenty_distinct_vms)
{
    harness_t h;
    harness_open(&h, T3);
    fake_source_set_clone_delay_ms(h.fs, 5);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 3));
    pthread_t th[10];
    worker_arg_t args[10];
    for (int i = 0; i < 10; i++) {
        args[i] = (worker_arg_t){.pool = h.pool};
        pthread_create(&th[i], NULL, acquire_two, &args[i]);
    }
    for (int i = 0; i < 10; i++)
        pthread_join(th[i], NULL);
    pool_lease_t *all[20];
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(args[i].failures, 0);
        all[2 * i] = &args[i].leases[0];
        all[2 * i + 1] = &args[i].leases[1];
    }
    for (int i = 0; i < 20; i++)
        for (int j = i + 1; j < 20; j++) {
            cr_assert_str_neq(all[i]->vm.id, all[j]->vm.id, "VM leased twice");
            cr_assert_str_neq(all[i]->token, all[j]->token);
        }
    pool_template_status_t s = STATUS(&h, "t");
    cr_assert_eq(s.leased, 20);
    cr_assert_eq(s.acquire_hits + s.acquire_misses, 20);
    cr_assert_geq(s.acquire_hits, 3);
    pool_lease_summary_t *list;
    size_t n;
    wp_error_t err = {0};
    cr_assert_eq(pool_leases(h.pool, &list, &n, &err), 0);
    cr_assert_eq(n, 20);
    free(list);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(pool_release(h.pool, all[i]->vm.id, all[i]->token, NULL, &err), 0, "%s",
                     err.msg);
        cr_assert_not(fake_source_exists(h.fs, all[i]->vm.id), "release destroys the VM");
    }
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 3));
    cr_assert_eq(STATUS(&h, "t").leased, 0);
    harness_close(&h);
}

Test(pool_state, release_destroys_and_the_pool_refills)
{
    harness_t h;
    harness_open(&h, T3);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 3));
    pool_lease_t lease;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &lease, &err), 0, "%s", err.msg);
    cr_assert(lease.hit);
    cr_assert_not(fake_source_paused(h.fs, lease.vm.id), "a leased VM runs");
    cr_assert_str_eq(lease.template_name, "t");
    cr_assert_eq(strlen(lease.token), POOL_TOKEN_HEX_LEN);
    cr_assert(strncmp(lease.vm.agent_endpoint, "unix:", 5) == 0);
    cr_assert(lease.vm.pid > 0);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 3), "refilled while leased");
    pool_release_result_t rr;
    cr_assert_eq(pool_release(h.pool, lease.vm.id, lease.token, &rr, &err), 0, "%s", err.msg);
    cr_assert_not(rr.vm_died);
    cr_assert_not(fake_source_exists(h.fs, lease.vm.id));
    pool_template_status_t s = STATUS(&h, "t");
    cr_assert_eq(s.leased, 0);
    cr_assert_eq(s.releases, 1);
    cr_assert_eq(s.warm, 3, "a released VM never returns to the pool");
    cr_assert_eq(fake_source_count(h.fs), 3);
    harness_close(&h);
}

Test(pool_state, resize_up_and_down_live_never_touches_leases)
{
    harness_t h;
    harness_open(&h, T3);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 3));
    pool_lease_t lease;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &lease, &err), 0, "%s", err.msg);
    pool_size_t up = {.sizing = POOL_SIZING_FIXED, .target = 6, .max = 64};
    cr_assert_eq(pool_set_size(h.pool, "t", &up, &err), 0, "%s", err.msg);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 6));
    pool_size_t down = {.sizing = POOL_SIZING_FIXED, .target = 1, .max = 64};
    cr_assert_eq(pool_set_size(h.pool, "t", &down, &err), 0, "%s", err.msg);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 1 && fake_source_count(h.fs) == 2));
    pool_size_t zero = {.sizing = POOL_SIZING_FIXED, .target = 0, .max = 64};
    cr_assert_eq(pool_set_size(h.pool, "t", &zero, &err), 0, "%s", err.msg);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 0 && fake_source_count(h.fs) == 1));
    cr_assert(fake_source_exists(h.fs, lease.vm.id), "the leased VM survives a shrink");
    pool_lease_state_t ls;
    cr_assert_eq(pool_lease_check(h.pool, lease.vm.id, lease.token, &ls, &err), 0);
    cr_assert_eq(ls, POOL_LEASE_ACTIVE);
    pool_size_t bad = {.sizing = POOL_SIZING_FIXED, .target = 9, .min = 0, .max = 4};
    cr_assert_eq(pool_set_size(h.pool, "t", &bad, &err), -1);
    cr_assert_eq(err.code, EINVAL);
    harness_close(&h);
}

Test(pool_state, set_size_creates_a_pool_for_a_new_template)
{
    harness_t h;
    harness_open(&h, "{}");
    pool_size_t two = {.sizing = POOL_SIZING_FIXED, .target = 2, .max = 4};
    wp_error_t err = {0};
    cr_assert_eq(pool_set_size(h.pool, "fresh", &two, &err), 0, "%s", err.msg);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "fresh").warm == 2));
    cr_assert_eq(pool_set_size(h.pool, "Bad Name", &two, &err), -1);
    cr_assert_eq(err.code, EINVAL);
    harness_close(&h);
}

Test(pool_state, a_miss_fails_fast_or_clones_within_the_deadline)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 0}}");
    fake_source_set_clone_delay_ms(h.fs, 20);
    pool_lease_t lease;
    wp_error_t err = {0};
    pool_acquire_options_t fast = {.fail_fast = true};
    cr_assert_eq(pool_acquire(h.pool, "t", &fast, &lease, &err), -1);
    cr_assert_eq(err.code, EAGAIN, "%s", err.msg);
    cr_assert(strstr(err.msg, "'t'") != NULL, "names the template: %s", err.msg);

    pool_acquire_options_t wait = {.deadline_ns = wp_now_mono_ns() + 2000000000ll};
    cr_assert_eq(pool_acquire(h.pool, "t", &wait, &lease, &err), 0, "%s", err.msg);
    cr_assert_not(lease.hit);
    cr_assert_eq(pool_release(h.pool, lease.vm.id, lease.token, NULL, &err), 0, "%s", err.msg);

    fake_source_set_clone_delay_ms(h.fs, 400);
    pool_acquire_options_t tight = {.deadline_ns = wp_now_mono_ns() + 50000000ll};
    cr_assert_eq(pool_acquire(h.pool, "t", &tight, &lease, &err), -1);
    cr_assert_eq(err.code, ETIMEDOUT, "%s", err.msg);

    /* a source that finishes late: the VM must not leak */
    fake_source_honour_deadline(h.fs, false);
    fake_source_set_clone_delay_ms(h.fs, 100);
    tight.deadline_ns = wp_now_mono_ns() + 20000000ll;
    cr_assert_eq(pool_acquire(h.pool, "t", &tight, &lease, &err), -1);
    cr_assert_eq(err.code, ETIMEDOUT, "%s", err.msg);
    cr_assert_eq(fake_source_count(h.fs), 0, "a late clone nobody wants is destroyed");

    pool_template_status_t s = STATUS(&h, "t");
    cr_assert_eq(s.acquire_misses, 4);
    cr_assert_eq(s.acquire_failures, 3);
    harness_close(&h);
}

Test(pool_state, acquire_never_waits_behind_a_clone_in_progress)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 1}}");
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 1));
    fake_source_set_clone_delay_ms(h.fs, 1000); /* the refill after our acquire is slow */
    pool_lease_t a, b;
    wp_error_t err = {0};
    int64_t t0 = wp_now_mono_ns();
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &a, &err), 0, "%s", err.msg);
    pool_acquire_options_t fast = {.fail_fast = true};
    cr_assert_eq(pool_acquire(h.pool, "t", &fast, &b, &err), -1);
    cr_assert_eq(err.code, EAGAIN);
    double ms = wp_ms_between(t0, wp_now_mono_ns());
    cr_assert_lt(ms, 500.0, "acquires took %.0f ms: they waited for the 1 s clone", ms);
    /* the refill starts once the acquire burst is quiet (pool_refill.c) */
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").cloning == 1), "the refill clone runs");
    fake_source_set_clone_delay_ms(h.fs, 0);
    cr_assert_eq(pool_release(h.pool, a.vm.id, a.token, NULL, &err), 0);
    harness_close(&h); /* waits for the slow clone and destroys it */
}

Test(pool_state, refill_respects_its_concurrency_bound)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 8}}");
    fake_source_set_clone_delay_ms(h.fs, 10);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 8));
    fake_counts_t c = fake_source_counts(h.fs);
    cr_assert_leq(c.max_concurrent_clones, 2, "%d clones at once", c.max_concurrent_clones);
    cr_assert_eq(c.clones, 8);
    harness_close(&h);
}

Test(pool_state, lease_errors_unknown_wrong_token_double_release)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 1}}");
    pool_lease_t lease;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "nope", NULL, &lease, &err), -1);
    cr_assert_eq(err.code, ENOENT);
    cr_assert(strstr(err.msg, "'nope'") != NULL, "%s", err.msg);

    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &lease, &err), 0, "%s", err.msg);
    cr_assert_eq(pool_release(h.pool, "no-such-vm", lease.token, NULL, &err), -1);
    cr_assert_eq(err.code, ENOENT);

    char wrong[POOL_TOKEN_HEX_LEN + 1];
    memcpy(wrong, lease.token, sizeof(wrong));
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    cr_assert_eq(pool_release(h.pool, lease.vm.id, wrong, NULL, &err), -1);
    cr_assert_eq(err.code, EPERM, "%s", err.msg);
    cr_assert_eq(pool_release(h.pool, lease.vm.id, "zz", NULL, &err), -1);
    cr_assert_eq(err.code, EPERM);
    cr_assert_eq(pool_release(h.pool, lease.vm.id, NULL, NULL, &err), -1);
    cr_assert_eq(err.code, EPERM);
    cr_assert(fake_source_exists(h.fs, lease.vm.id), "a wrong token destroys nothing");

    cr_assert_eq(pool_release(h.pool, lease.vm.id, lease.token, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(pool_release(h.pool, lease.vm.id, lease.token, NULL, &err), -1);
    cr_assert_eq(err.code, ENOENT, "double release: %s", err.msg);
    pool_lease_state_t ls;
    cr_assert_eq(pool_lease_check(h.pool, lease.vm.id, lease.token, &ls, &err), -1);
    cr_assert_eq(err.code, ENOENT);
    harness_close(&h);
}

Test(pool_state, calls_after_close_fail_with_eshutdown)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 0}}");
    pool_close(h.pool);
    pool_lease_t lease;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &lease, &err), -1);
    cr_assert_eq(err.code, ESHUTDOWN);
    harness_close(&h);
}

Test(pool_state, auto_sizing_raises_the_target_under_demand)
{
    harness_t h;
    harness_open_opts(&h, "{\"t\": {\"sizing\": \"auto\", \"target\": 1, \"min\": 1, \"max\": 10}}",
                      2, 20);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 1));
    pool_lease_t leases[8];
    wp_error_t err = {0};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(pool_acquire(h.pool, "t", NULL, &leases[i], &err), 0, "%s", err.msg);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").target >= 4), "target %u after a burst of 8",
              STATUS(&h, "t").target);
    cr_assert_leq(STATUS(&h, "t").target, 10);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(pool_release(h.pool, leases[i].vm.id, leases[i].token, NULL, &err), 0);
    harness_close(&h);
}
