/* pool_recover.c - after a restart, account for every VM: re-adopt leases
 * (same id, token, endpoint), re-adopt warm VMs the pools still want,
 * finish destroys a crash cut short, and destroy VMs on the host that the
 * journal does not know (clones in flight when the daemon died).
 *
 * Threads: runs inside pool_open, before any pool thread exists; the
 * caller's thread is registered. */
#include "pool_internal.h"

#include <errno.h>  /* ESRCH */
#include <stdio.h>  /* snprintf */
#include <string.h> /* memcpy */

#include "wp_log.h"
#include "wp_time.h"

static void journal_gone(pool_t *pool, const pool_jrec_t *rec)
{
    pool_jrec_t gone = *rec;
    gone.kind = POOL_JREC_GONE;
    gone.time_ns = wp_now_real_ns();
    wp_error_t err = {0};
    if (pool_journal_append(pool->journal, &gone, false, &err) < 0)
        wp_log_warn("VM '%s': %s", rec->vm.id, err.msg);
}

static void destroy_by_id(pool_t *pool, const char *id, const char *why)
{
    wp_error_t err = {0};
    if (pool->src.ops->destroy_by_id(pool->src.self, id, &err) < 0)
        wp_log_warn("VM '%s': destroy (%s): %s", id, why, err.msg);
    else
        wp_log_info("VM '%s' destroyed (%s)", id, why);
}

/* A lease's template keeps existing even if the configuration dropped it. */
static pool_tpl_t *tpl_for(pool_t *pool, const char *name, wp_error_t *err)
{
    pool_template_config_t none = {
        .target = 0, .min = 0, .max = POOL_DEFAULT_MAX, .hot = POOL_DEFAULT_HOT};
    snprintf(none.name, sizeof(none.name), "%s", name);
    return pool_tpl_get(pool, &none, err);
}

static int adopt_lease(pool_t *pool, const pool_jrec_t *rec, pool_recovery_t *report,
                       wp_error_t *err)
{
    pool_tpl_t *t = tpl_for(pool, rec->template_name, err);
    if (t == NULL)
        return -1;
    pool_source_vm_t *h = NULL;
    pool_vm_info_t info = {0};
    wp_error_t aerr = {0};
    if (rec->kind == POOL_JREC_LEASED &&
        pool->src.ops->adopt(pool->src.self, rec->vm.id, &info, &h, &aerr) < 0) {
        wp_log_warn("leased VM '%s' of '%s' is gone (%s): its lease is kept, marked dead",
                    rec->vm.id, t->name, aerr.msg);
        h = NULL;
    }
    pool_vm_t *vm = pool_vm_new(t, h, &rec->vm); /* the endpoint the client was given */
    if (vm == NULL) {
        if (h != NULL)
            pool->src.ops->detach(pool->src.self, h);
        return wp_error_errno(err, ENOMEM, "VM '%s'", rec->vm.id);
    }
    if (h != NULL)
        vm->info.pid = info.pid;
    memcpy(vm->token, rec->token, sizeof(vm->token));
    vm->leased_at_ns = rec->time_ns;
    if (pool_vm_table_add(pool, vm, err) < 0) {
        if (h != NULL)
            pool->src.ops->detach(pool->src.self, h);
        pool_vm_free_deferred(vm);
        return -1;
    }
    if (h != NULL) {
        atomic_store(&vm->state, POOL_VM_LEASED);
        atomic_fetch_add(&t->leased, 1);
        pool_vm_watch(pool, vm);
        report->leases_adopted++;
        wp_log_info("leased VM '%s' of '%s' re-adopted (pid %d)", vm->info.id, t->name,
                    (int)vm->info.pid);
        return 0;
    }
    atomic_store(&vm->state, POOL_VM_DEAD);
    atomic_fetch_add(&t->dead, 1);
    report->leases_dead++;
    if (rec->kind == POOL_JREC_LEASED) {
        wp_error_t jerr = {0};
        if (pool_vm_journal(pool, vm, POOL_JREC_DEAD, false, &jerr) < 0)
            wp_log_warn("VM '%s': %s", vm->info.id, jerr.msg);
    }
    return 0;
}

/* Adopt a warm VM if its pool is short; 0 when it was not wanted or not usable. */
static int try_adopt_warm(pool_t *pool, const pool_jrec_t *rec)
{
    pool_tpl_t *t = pool_tpl_find(pool, rec->template_name);
    if (t == NULL || atomic_load(&t->supply) >= (int)atomic_load(&t->target))
        return 0;
    const pool_source_ops_t *ops = pool->src.ops;
    pool_source_vm_t *h = NULL;
    pool_vm_info_t info = {0};
    wp_error_t err = {0};
    if (ops->adopt(pool->src.self, rec->vm.id, &info, &h, &err) < 0) {
        wp_log_info("warm VM '%s' of '%s' not adoptable: %s", rec->vm.id, t->name, err.msg);
        return 0;
    }
    /* It may have been mid-acquire (resumed) when the daemon died: it was
     * never handed out (no LEASED record), so it is still clean. */
    bool pause = atomic_load(&t->warm_state) == POOL_WARM_PAUSED;
    int ret = 0;
    if (pause != rec->paused)
        ret = pause ? ops->pause(pool->src.self, h, &err) : ops->resume(pool->src.self, h, &err);
    pool_vm_t *vm = ret == 0 ? pool_vm_new(t, h, &info) : NULL;
    if (vm == NULL) {
        ops->destroy(pool->src.self, h, NULL);
        return 0;
    }
    vm->paused = pause;
    if (pool_vm_table_add(pool, vm, &err) < 0 ||
        (pause != rec->paused && pool_vm_journal(pool, vm, POOL_JREC_WARM, false, &err) < 0)) {
        wp_log_warn("VM '%s': %s", vm->info.id, err.msg);
        pool_vm_destroy(pool, vm, "not recorded");
        pool_vm_retire(pool, vm);
        return 0;
    }
    atomic_fetch_add(&t->supply, 1);
    pool_warm_put(pool, vm, false);
    wp_log_info("warm VM '%s' of '%s' re-adopted", vm->info.id, t->name);
    return 1;
}

static void sweep_orphans(pool_t *pool, pool_recovery_t *report)
{
    char **ids = NULL;
    size_t n = 0;
    wp_error_t err = {0};
    if (pool->src.ops->list(pool->src.self, &ids, &n, &err) < 0) {
        wp_log_warn("orphan sweep: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        urcu_memb_read_lock();
        bool known = pool_vm_lookup(pool, ids[i]) != NULL;
        urcu_memb_read_unlock();
        if (known)
            continue;
        wp_log_warn("VM '%s' is on this host but not in the journal: destroying the orphan",
                    ids[i]);
        destroy_by_id(pool, ids[i], "orphan");
        report->orphans_destroyed++;
    }
    pool_source_ids_free(ids, n);
}

int pool_recover(pool_t *pool, const pool_journal_replay_t *replay, pool_recovery_t *report,
                 wp_error_t *err)
{
    for (size_t i = 0; i < replay->count; i++) {
        const pool_jrec_t *rec = &replay->records[i];
        switch (rec->kind) {
        case POOL_JREC_LEASED:
        case POOL_JREC_DEAD:
            if (adopt_lease(pool, rec, report, err) < 0)
                return wp_error_wrap(err, "re-adopt lease of VM '%s'", rec->vm.id);
            break;
        case POOL_JREC_WARM:
            if (try_adopt_warm(pool, rec)) {
                report->warm_adopted++;
                break;
            }
            destroy_by_id(pool, rec->vm.id, "warm, not re-adopted");
            journal_gone(pool, rec);
            report->warm_destroyed++;
            break;
        case POOL_JREC_DESTROYING:
            destroy_by_id(pool, rec->vm.id, "release cut short by a restart");
            journal_gone(pool, rec);
            report->orphans_destroyed++;
            break;
        case POOL_JREC_GONE:
            break; /* replay never reports these */
        }
    }
    sweep_orphans(pool, report);
    return 0;
}
