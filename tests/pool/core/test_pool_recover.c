/* test_pool_recover.c - restart safety: leases survive a restart with the
 * same id, token and endpoint; a lease whose VM died meanwhile is marked;
 * warm VMs are re-adopted up to the target; cut-short destroys and orphans
 * are destroyed. A crash is simulated by writing the journal a crashed
 * daemon would have left and placing its VMs on the fake host. */
#include <errno.h>

#include "pool_harness.h"
#include "pool_journal.h"

Test(pool_recover, leases_survive_a_restart_with_the_same_id_token_and_endpoint)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 2}}");
    pool_lease_t a, b;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &b, &err), 0, "%s", err.msg);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 2));

    harness_restart(&h);
    cr_assert_eq(h.recovery.leases_adopted, 2);
    cr_assert_eq(h.recovery.leases_dead, 0);
    cr_assert_eq(h.recovery.orphans_destroyed, 0, "shutdown destroyed the warm VMs itself");
    pool_lease_summary_t *list;
    size_t n;
    cr_assert_eq(pool_leases(h.pool, &list, &n, &err), 0);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        const pool_lease_t *l = strcmp(list[i].vm.id, a.vm.id) == 0 ? &a : &b;
        cr_assert_str_eq(list[i].vm.id, l->vm.id);
        cr_assert_str_eq(list[i].vm.agent_endpoint, l->vm.agent_endpoint);
        cr_assert_str_eq(list[i].vm.shared_dir, l->vm.shared_dir);
        cr_assert_eq(list[i].state, POOL_LEASE_ACTIVE);
    }
    free(list);
    cr_assert_eq(STATUS(&h, "t").leased, 2);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 2), "refilled after restart");
    cr_assert_eq(pool_release(h.pool, a.vm.id, a.token, NULL, &err), 0, "old token: %s", err.msg);
    cr_assert_eq(pool_release(h.pool, b.vm.id, "00000000000000000000000000000000", NULL, &err), -1);
    cr_assert_eq(err.code, EPERM);
    cr_assert_eq(pool_release(h.pool, b.vm.id, b.token, NULL, &err), 0, "%s", err.msg);

    harness_restart(&h);
    cr_assert_eq(h.recovery.leases_adopted, 0, "released leases stay released");
    harness_close(&h);
}

Test(pool_recover, a_lease_whose_vm_died_while_down_is_marked_dead)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 0}}");
    pool_lease_t a;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &a, &err), 0, "%s", err.msg);
    pool_free(h.pool);
    fake_source_kill(h.fs, a.vm.id);
    pool_options_t opt = {.config = h.cfg, .source = fake_source_as_source(h.fs)};
    h.pool = pool_open(&opt, &h.recovery, &err);
    cr_assert_not_null(h.pool, "%s", err.msg);
    cr_assert_eq(pool_start(h.pool, &err), 0);
    cr_assert_eq(h.recovery.leases_dead, 1);
    pool_lease_state_t ls;
    cr_assert_eq(pool_lease_check(h.pool, a.vm.id, a.token, &ls, &err), 0, "%s", err.msg);
    cr_assert_eq(ls, POOL_LEASE_DEAD);
    pool_release_result_t rr;
    cr_assert_eq(pool_release(h.pool, a.vm.id, a.token, &rr, &err), 0, "%s", err.msg);
    cr_assert(rr.vm_died);
    harness_close(&h);
}

static void put(pool_journal_t *j, pool_jrec_kind_t kind, const char *id, uint8_t token_byte)
{
    pool_jrec_t r = {.kind = kind, .time_ns = 1};
    snprintf(r.template_name, sizeof(r.template_name), "t");
    snprintf(r.vm.id, sizeof(r.vm.id), "%s", id);
    snprintf(r.vm.agent_endpoint, sizeof(r.vm.agent_endpoint), "unix:/old/%s", id);
    memset(r.token, token_byte, sizeof(r.token));
    r.paused = true;
    wp_error_t err = {0};
    cr_assert_eq(pool_journal_append(j, &r, true, &err), 0, "%s", err.msg);
}

Test(pool_recover, after_a_crash_warm_vms_are_readopted_and_orphans_destroyed)
{
    char dir[] = "/tmp/wp-pool-crash-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char state[128];
    snprintf(state, sizeof(state), "%s/state", dir);
    /* what a kill -9'd daemon leaves: a journal and VMs running */
    pool_journal_replay_t replay;
    wp_error_t err = {0};
    pool_journal_t *j = pool_journal_open(state, 0, &replay, &err);
    cr_assert_not_null(j, "%s", err.msg);
    pool_journal_replay_free(&replay);
    fake_source_t *fs = fake_source_new();
    const char *host[] = {"vm-a", "vm-b", "vm-c", "vm-d", "vm-e", "stray"};
    for (size_t i = 0; i < 6; i++)
        fake_source_add_orphan(fs, host[i]);
    put(j, POOL_JREC_WARM, "vm-a", 0);
    put(j, POOL_JREC_WARM, "vm-b", 0);
    put(j, POOL_JREC_WARM, "vm-c", 0);
    put(j, POOL_JREC_LEASED, "vm-e", 0xab);
    put(j, POOL_JREC_LEASED, "vm-d", 0xcd);
    put(j, POOL_JREC_DESTROYING, "vm-d", 0xcd); /* release acknowledged, destroy cut short */
    put(j, POOL_JREC_WARM, "vm-gone", 0);       /* journaled, but not on the host any more */
    pool_journal_close(j);

    char json[256];
    snprintf(json, sizeof(json), "{\"state_dir\": \"%s\", \"templates\": {\"t\": {\"target\": 2}}}",
             state);
    pool_config_t *cfg = pool_config_parse(json, "<test>", &err);
    cr_assert_not_null(cfg, "%s", err.msg);
    pool_options_t opt = {.config = cfg, .source = fake_source_as_source(fs)};
    pool_recovery_t rep;
    pool_t *pool = pool_open(&opt, &rep, &err);
    cr_assert_not_null(pool, "%s", err.msg);
    cr_assert_eq(rep.warm_adopted, 2, "the pool wants two");
    cr_assert_eq(rep.warm_destroyed, 2, "vm-c is surplus, vm-gone is not adoptable");
    cr_assert_eq(rep.leases_adopted, 1);
    cr_assert_eq(rep.orphans_destroyed, 2, "vm-d's destroy is finished, stray is killed");
    cr_assert_not(fake_source_exists(fs, "vm-c"));
    cr_assert_not(fake_source_exists(fs, "vm-d"));
    cr_assert_not(fake_source_exists(fs, "stray"));
    cr_assert(fake_source_exists(fs, "vm-a") && fake_source_exists(fs, "vm-b"));
    cr_assert_eq(fake_source_counts(fs).clones, 0);

    cr_assert_eq(pool_start(pool, &err), 0);
    pool_template_status_t s = harness_status(pool, "t");
    cr_assert_eq(s.warm, 2);
    cr_assert_eq(s.leased, 1);
    pool_lease_summary_t *list;
    size_t n;
    cr_assert_eq(pool_leases(pool, &list, &n, &err), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(list[0].vm.agent_endpoint, "unix:/old/vm-e", "the endpoint the client has");
    free(list);
    cr_assert_eq(pool_release(pool, "vm-e", "abababababababababababababababab", NULL, &err), 0,
                 "%s", err.msg);
    pool_lease_t lease;
    cr_assert_eq(pool_acquire(pool, "t", NULL, &lease, &err), 0, "%s", err.msg);
    cr_assert(lease.hit);
    cr_assert(strcmp(lease.vm.id, "vm-a") == 0 || strcmp(lease.vm.id, "vm-b") == 0,
              "an adopted warm VM serves acquires: %s", lease.vm.id);
    cr_assert_eq(pool_release(pool, lease.vm.id, lease.token, NULL, &err), 0);
    pool_free(pool);
    pool_config_free(cfg);
    fake_source_free(fs);
    wp_rm_tree(dir, NULL);
}

Test(pool_recover, a_second_daemon_on_the_same_state_dir_is_refused)
{
    harness_t h;
    harness_open(&h, "{}");
    pool_options_t opt = {.config = h.cfg, .source = fake_source_as_source(h.fs)};
    wp_error_t err = {0};
    cr_assert_null(pool_open(&opt, NULL, &err));
    cr_assert_eq(err.code, EBUSY, "%s", err.msg);
    harness_close(&h);
}
