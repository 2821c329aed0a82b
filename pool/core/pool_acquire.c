/* pool_acquire.c - handing out a VM (contract in pool.h).
 *
 * The hit path is: dequeue (a pointer swap under the queue's dequeue lock),
 * one CAS WARM -> ACQUIRING that makes this thread the VM's only owner,
 * resume if paused, 16 random bytes, one journal append shared with other
 * acquirers' fsync (group commit; none on a memory filesystem), one store.
 * Nothing on it waits for a clone, and nothing waits for another client
 * except that shared fsync. Taking a warm VM also tells the refill that a
 * burst is on (pool_refill_note_take): its clones wait for the burst.
 * pool_acquire_nowait is that path without the resume, for running VMs
 * with the journal in memory: it sleeps on nothing but the journal mutex
 * (and the clean-up of a warm VM found dead, which is rare and brief).
 * Threads: any registered thread (pool_call_enter registers it). */
#include "pool_internal.h"

#include <errno.h>  /* EAGAIN, ETIMEDOUT */
#include <stdio.h>  /* snprintf */
#include <string.h> /* memset */

#include "wp_id.h"
#include "wp_log.h"
#include "wp_time.h"

/* Owner of vm (ACQUIRING): make it a lease. The lease is on disk before it
 * exists in memory, so a restart never forgets a lease a client holds. */
static int grant(pool_t *pool, pool_vm_t *vm, bool hit, pool_lease_t *out, wp_error_t *err)
{
    pool_tpl_t *t = vm->tpl;
    if (wp_random_bytes(vm->token, sizeof(vm->token), err) < 0)
        return wp_error_wrap(err, "lease token");
    vm->leased_at_ns = wp_now_real_ns();
    if (pool_vm_journal(pool, vm, POOL_JREC_LEASED, true, err) < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    wp_hex(vm->token, sizeof(vm->token), out->token);
    snprintf(out->template_name, sizeof(out->template_name), "%s", t->name);
    out->vm = vm->info;
    out->hit = hit;
    pool_vm_watch(pool, vm); /* an on-demand clone is not watched yet */
    atomic_fetch_add(&t->leased, 1);
    atomic_store(&vm->state, POOL_VM_LEASED);
    /* The watcher may have seen the exit while we owned the VM and left it
     * to us; it sets `exited` before trying LEASED, we check after. */
    if (atomic_load(&vm->exited))
        pool_vm_mark_dead(pool, vm);
    pool_notify(pool);
    return 0;
}

/* Owner: destroy a VM we could not hand out. */
static void discard(pool_t *pool, pool_vm_t *vm, const char *why)
{
    pool_vm_destroy(pool, vm, why);
    pool_vm_retire(pool, vm);
}

/* 1: leased from the warm queues (hot_only: the running VMs' only); 0: they
 * had nothing usable; -1: error. */
static int acquire_warm(pool_t *pool, pool_tpl_t *t, bool hot_only, pool_lease_t *out,
                        wp_error_t *err)
{
    pool_vm_t *vm;
    while ((vm = hot_only ? pool_warm_take_hot(pool, t, POOL_VM_ACQUIRING)
                          : pool_warm_take(pool, t, POOL_VM_ACQUIRING, true)) != NULL) {
        atomic_fetch_sub(&t->supply, 1);
        pool_refill_note_take(pool, t); /* the replacement starts once the burst ends */
        if (atomic_load(&vm->exited)) {
            pool_counter_inc(&t->stats.deaths);
            discard(pool, vm, "exited while warm");
            continue;
        }
        if (vm->paused) {
            wp_error_t rerr = {0};
            if (pool->src.ops->resume(pool->src.self, vm->handle, &rerr) < 0) {
                wp_log_warn("VM '%s' of '%s': resume failed, trying the next: %s", vm->info.id,
                            t->name, rerr.msg);
                discard(pool, vm, "resume failed");
                continue;
            }
            vm->paused = false;
        }
        if (grant(pool, vm, true, out, err) < 0) {
            discard(pool, vm, "lease not recorded");
            return -1;
        }
        return 1;
    }
    return 0;
}

static int acquire_cloned(pool_t *pool, pool_tpl_t *t, int64_t deadline, pool_lease_t *out,
                          wp_error_t *err)
{
    if (deadline != 0 && wp_now_mono_ns() >= deadline)
        return wp_error_set(err, ETIMEDOUT, "no warm VM and the deadline has passed");
    pool_vm_info_t info = {0};
    pool_source_vm_t *h = NULL;
    int64_t t0 = wp_now_mono_ns();
    atomic_fetch_add(&t->cloning, 1);
    int ret = pool->src.ops->clone(pool->src.self, t->name, deadline, &info, &h, err);
    atomic_fetch_sub(&t->cloning, 1);
    if (ret < 0) {
        pool_counter_inc(&t->stats.clone_failures);
        return wp_error_wrap(err, "clone on demand");
    }
    int64_t done = wp_now_mono_ns();
    pool_refill_note_clone(t, done - t0);
    if (deadline != 0 && done > deadline) {
        /* the client has given up: a lease now could be lost with the reply */
        pool_refill_donate(pool, t, h, &info);
        return wp_error_set(err, ETIMEDOUT,
                            "clone on demand finished %.0f ms after the deadline (kept it warm "
                            "if the pool was short)",
                            wp_ms_between(deadline, done));
    }
    pool_vm_t *vm = pool_vm_new(t, h, &info);
    if (vm == NULL) {
        pool->src.ops->destroy(pool->src.self, h, NULL);
        return wp_error_errno(err, ENOMEM, "VM '%s'", info.id);
    }
    atomic_store(&vm->state, POOL_VM_ACQUIRING);
    if (pool_vm_table_add(pool, vm, err) < 0 || grant(pool, vm, false, out, err) < 0) {
        discard(pool, vm, "lease not recorded");
        return -1;
    }
    return 0;
}

/* Account for a lease just made. */
static void leased(pool_tpl_t *t, int64_t t0, pool_lease_t *out)
{
    int64_t dt = wp_now_mono_ns() - t0;
    out->wait_ms = (double)dt / 1e6;
    pool_histogram_record(&t->stats.acquire_latency, dt);
    wp_log_info("lease of VM '%s' of '%s' (%s, %.2f ms)", out->vm.id, t->name,
                out->hit ? "warm" : "cloned on demand", out->wait_ms);
}

int pool_acquire(pool_t *pool, const char *name, const pool_acquire_options_t *opt,
                 pool_lease_t *out, wp_error_t *err)
{
    static const pool_acquire_options_t defaults = {0};
    if (opt == NULL)
        opt = &defaults;
    int64_t t0 = wp_now_mono_ns();
    if (pool_call_enter(pool, err) < 0)
        return -1;
    int ret = -1;
    pool_tpl_t *t = pool_tpl_find(pool, name);
    if (t == NULL) {
        wp_error_set(err, ENOENT,
                     "acquire: no pool for template '%s' (size one with "
                     "'warmpoolctl pool set %s N')",
                     name, name);
        goto out;
    }
    atomic_fetch_add(&t->demand, 1);
    ret = acquire_warm(pool, t, false, out, err);
    if (ret == 0) {
        pool_counter_inc(&t->stats.acquire_misses);
        if (opt->fail_fast)
            ret = wp_error_set(err, EAGAIN,
                               "no warm VM (target %u, %d cloning) and fail-fast "
                               "was asked",
                               atomic_load(&t->target), atomic_load(&t->cloning));
        else
            ret = acquire_cloned(pool, t, opt->deadline_ns, out, err);
    } else if (ret == 1) {
        pool_counter_inc(&t->stats.acquire_hits);
        ret = 0;
    }
    if (ret < 0) {
        pool_counter_inc(&t->stats.acquire_failures);
        wp_error_wrap(err, "acquire '%s'", name);
        goto out;
    }
    leased(t, t0, out);
out:
    pool_call_leave(pool);
    return ret;
}

int pool_acquire_nowait(pool_t *pool, const char *name, pool_lease_t *out, wp_error_t *err)
{
    int64_t t0 = wp_now_mono_ns();
    if (!pool_journal_sync_is_cheap(pool->journal))
        return 0; /* the lease's fsync would wait on a disk */
    if (pool_call_enter(pool, err) < 0)
        return -1;
    pool_tpl_t *t = pool_tpl_find(pool, name);
    int ret = t != NULL ? acquire_warm(pool, t, true, out, err) : 0;
    if (ret != 0)
        atomic_fetch_add(&t->demand, 1); /* else pool_acquire counts it */
    if (ret < 0) {
        pool_counter_inc(&t->stats.acquire_failures);
        wp_error_wrap(err, "acquire '%s'", name);
    } else if (ret == 1) {
        pool_counter_inc(&t->stats.acquire_hits);
        leased(t, t0, out);
    }
    pool_call_leave(pool);
    return ret;
}
