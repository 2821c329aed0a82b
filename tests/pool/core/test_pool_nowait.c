/* test_pool_nowait.c - pool_acquire_nowait, the acquire the API answers on
 * nng's callback thread: it leases a running warm VM when the journal is
 * in memory, and otherwise (nothing running, a paused VM, a disk journal,
 * no such template) says "would wait" having counted nothing, so that the
 * pool_acquire that follows counts the call once. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/magic.h> /* TMPFS_MAGIC */
#include <sys/vfs.h>     /* statfs */

#include "pool_harness.h"

Test(pool_nowait, a_running_warm_vm_is_leased_and_counted_as_a_hit)
{
    harness_t h;
    harness_open_at(&h, HARNESS_MEM, "{\"t\": {\"target\": 2, \"warm_state\": \"running\"}}", 2, 0);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 2));
    pool_lease_t l;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire_nowait(h.pool, "t", &l, &err), 1, "%s", err.msg);
    cr_assert(l.hit);
    cr_assert_eq(strlen(l.token), POOL_TOKEN_HEX_LEN);
    pool_template_status_t st = STATUS(&h, "t");
    cr_assert_eq(st.leased, 1);
    cr_assert_eq(st.acquire_hits, 1);
    cr_assert_eq(st.acquire_misses + st.acquire_failures, 0);
    /* a real lease: its token releases it */
    cr_assert_eq(pool_release(h.pool, l.vm.id, l.token, NULL, &err), 0, "%s", err.msg);
    harness_close(&h);
}

Test(pool_nowait, an_empty_pool_would_wait_and_nothing_is_counted)
{
    harness_t h;
    harness_open_at(&h, HARNESS_MEM, "{\"t\": {\"target\": 0}}", 2, 0);
    pool_lease_t l;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire_nowait(h.pool, "t", &l, &err), 0);
    cr_assert_eq(pool_acquire_nowait(h.pool, "nope", &l, &err), 0, "pool_acquire says ENOENT");
    pool_template_status_t st = STATUS(&h, "t");
    cr_assert_eq(st.acquire_hits + st.acquire_misses + st.acquire_failures, 0);
    cr_assert_eq(fake_source_count(h.fs), 0, "no clone was started for it");
    /* the full acquire that follows counts the miss once */
    pool_acquire_options_t fast = {.fail_fast = true};
    cr_assert_eq(pool_acquire(h.pool, "t", &fast, &l, &err), -1);
    cr_assert_eq(err.code, EAGAIN);
    cr_assert_eq(STATUS(&h, "t").acquire_misses, 1);
    harness_close(&h);
}

Test(pool_nowait, a_paused_vm_would_need_a_resume)
{
    harness_t h;
    harness_open_at(&h, HARNESS_MEM, "{\"t\": {\"target\": 1, \"hot\": 0}}", 2, 0);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 1));
    pool_lease_t l;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire_nowait(h.pool, "t", &l, &err), 0);
    cr_assert_eq(STATUS(&h, "t").warm, 1, "the paused VM stays queued");
    cr_assert_eq(fake_source_counts(h.fs).resumes, 0);
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &l, &err), 0, "%s", err.msg);
    cr_assert(l.hit);
    cr_assert_eq(fake_source_counts(h.fs).resumes, 1);
    harness_close(&h);
}

Test(pool_nowait, a_journal_on_disk_would_wait_for_its_fsync)
{
    struct statfs fs;
    if (statfs(HARNESS_DISK, &fs) == 0 && fs.f_type == TMPFS_MAGIC)
        cr_skip_test(HARNESS_DISK " is a tmpfs here");
    harness_t h;
    harness_open_at(&h, HARNESS_DISK, "{\"t\": {\"target\": 1, \"warm_state\": \"running\"}}", 2,
                    0);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 1));
    pool_lease_t l;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire_nowait(h.pool, "t", &l, &err), 0);
    cr_assert_eq(STATUS(&h, "t").warm, 1);
    harness_close(&h);
}
