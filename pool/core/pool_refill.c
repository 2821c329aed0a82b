/* pool_refill.c - the refill workers: keep every template's supply (warm +
 * cloning) at its target, a bounded number of clones at a time, and destroy
 * surplus warm VMs when a target drops.
 *
 * Work is claimed by compare-and-swap on a template's `supply`, so workers
 * never clone past a target, whatever they race with. Workers sleep on a
 * semaphore that acquires, deaths and size changes post to; the timed waits
 * are the back-off after clone failures (100 ms doubling to 30 s), so a
 * template that cannot be cloned does not spin a core, and the end of an
 * acquire burst (pool_refill_note_take): on 2 cores a clone starting (the
 * daemon's spawn, QEMU loading) beside a burst made its slowest acquires
 * wait for a CPU for several ms. Threads: the workers
 * are started and joined by pool.c; pool_kick_refill, pool_refill_donate
 * and pool_refill_note_clone may be called from any registered thread. */
#include "pool_internal.h"

#include <errno.h>        /* EINTR */
#include <stdlib.h>       /* calloc */
#include <string.h>       /* strerror */
#include <sys/resource.h> /* setpriority */
#include <sys/syscall.h>  /* SYS_gettid */
#include <time.h>         /* timespec */
#include <unistd.h>       /* syscall */

#include "wp_log.h"
#include "wp_time.h"

#define BACKOFF_MIN_NS (100 * 1000000ll)
#define BACKOFF_MAX_NS (30 * 1000000000ll)

typedef enum work {
    WORK_NONE,
    WORK_CLONE,
    WORK_SHRINK,
    WORK_HEAT, /* resume a paused warm VM into the hot queue */
} work_t;

/* A paused pool short of hot VMs with a paused one to resume: claim a hot
 * slot (undone by the heater if the paused VM is gone by then). */
static bool claim_heat(pool_tpl_t *t)
{
    if (atomic_load(&t->warm_state) != POOL_WARM_PAUSED)
        return false;
    int want = (int)atomic_load(&t->hot_target);
    int hot = atomic_load(&t->hot);
    while (hot < want && atomic_load(&t->warm) > hot)
        if (atomic_compare_exchange_weak(&t->hot, &hot, hot + 1))
            return true;
    return false;
}

void pool_kick_refill(pool_t *pool)
{
    /* A few pending kicks are enough to wake every worker; more would only
     * make them rescan for nothing. */
    int value = 0;
    sem_getvalue(&pool->refill_sem, &value);
    if (value < (int)pool->n_workers + 1)
        sem_post(&pool->refill_sem);
}

void pool_refill_note_take(pool_t *pool, pool_tpl_t *tpl)
{
    if (pool->refill_quiet_ns == 0) {
        pool_kick_refill(pool);
        return;
    }
    int64_t now = wp_now_mono_ns();
    int64_t last = atomic_exchange(&pool->burst_last_ns, now);
    bool dry = atomic_load(&tpl->warm) == 0;
    if (dry)
        atomic_store(&tpl->ran_dry, true);
    if (now - last >= pool->refill_quiet_ns)
        atomic_store(&pool->burst_start_ns, now);
    else if (!dry && atomic_load(&pool->refill_soon_waiters) > 0)
        return; /* a worker looks again when the burst's hold ends: no wake-up per acquire */
    pool_kick_refill(pool);
}

/* When refill clones may start, given the acquire burst (<= now: at once). */
static int64_t burst_hold_until(pool_t *pool, int64_t now)
{
    int64_t last = atomic_load(&pool->burst_last_ns);
    if (last == 0 || now - last >= pool->refill_quiet_ns)
        return 0;
    int64_t until = last + pool->refill_quiet_ns;
    int64_t cap = atomic_load(&pool->burst_start_ns) + pool->refill_hold_max_ns;
    return until < cap ? until : cap;
}

/* Claim one unit of work; *wake_at gets the earliest time worth looking
 * again when there is none (a back-off's or a burst's end; 0: no timed
 * wake needed). */
static work_t pick(pool_t *pool, pool_tpl_t **out, int64_t *wake_at)
{
    size_t n = atomic_load_explicit(&pool->n_tpls, memory_order_acquire);
    unsigned start = atomic_fetch_add(&pool->refill_rr, 1);
    int64_t now = wp_now_mono_ns();
    for (size_t k = 0; k < n; k++) {
        pool_tpl_t *t = pool->tpls[(start + k) % n];
        int target = (int)atomic_load(&t->target);
        int supply = atomic_load(&t->supply);
        while (supply > target && atomic_load(&t->warm) > 0) {
            if (atomic_compare_exchange_weak(&t->supply, &supply, supply - 1)) {
                *out = t;
                return WORK_SHRINK;
            }
        }
        if (claim_heat(t)) {
            *out = t;
            return WORK_HEAT;
        }
        if (supply >= target) {
            /* refilled. (A take racing with this may have its fresh flag
             * cleared: its clones then wait at most the burst's cap.) */
            atomic_store(&t->ran_dry, false);
            continue;
        }
        int64_t until = atomic_load(&t->backoff_until_ns);
        /* a pool the burst has emptied needs its clones now */
        if (!atomic_load(&t->ran_dry)) {
            int64_t burst = burst_hold_until(pool, now);
            if (burst > until)
                until = burst;
        }
        if (until > now) {
            if (*wake_at == 0 || until < *wake_at)
                *wake_at = until;
            continue;
        }
        while (supply < target) {
            if (atomic_compare_exchange_weak(&t->supply, &supply, supply + 1)) {
                atomic_fetch_add(&t->cloning, 1);
                *out = t;
                return WORK_CLONE;
            }
        }
    }
    return WORK_NONE;
}

void pool_refill_note_clone(pool_tpl_t *t, int64_t ns)
{
    pool_histogram_record(&t->stats.clone_latency, ns);
    pool_counter_inc(&t->stats.clones);
    atomic_fetch_add(&t->clone_ns_sum, (uint64_t)ns);
    atomic_fetch_add(&t->clone_n, 1);
}

/* Pause (if the pool keeps VMs paused), record, journal. Takes the handle;
 * NULL (handle destroyed) on failure. */
static pool_vm_t *setup_warm(pool_t *pool, pool_tpl_t *t, pool_source_vm_t *h,
                             const pool_vm_info_t *info, wp_error_t *err)
{
    bool pause = atomic_load(&t->warm_state) == POOL_WARM_PAUSED;
    if (pause && pool->src.ops->pause(pool->src.self, h, err) < 0) {
        wp_error_wrap(err, "pause VM '%s'", info->id);
        pool->src.ops->destroy(pool->src.self, h, NULL);
        return NULL;
    }
    pool_vm_t *vm = pool_vm_new(t, h, info);
    if (vm == NULL) {
        wp_error_errno(err, ENOMEM, "VM '%s'", info->id);
        pool->src.ops->destroy(pool->src.self, h, NULL);
        return NULL;
    }
    vm->paused = pause;
    /* Not fsync'd: a warm VM the journal loses is found by the orphan sweep
     * on the next start and destroyed; nobody was promised anything. */
    if (pool_vm_table_add(pool, vm, err) < 0 ||
        pool_vm_journal(pool, vm, POOL_JREC_WARM, false, err) < 0) {
        pool_vm_destroy(pool, vm, "not recorded");
        pool_vm_retire(pool, vm);
        return NULL;
    }
    return vm;
}

/* Queue a set-up VM whose supply was reserved, unless the target dropped
 * meanwhile or we are stopping. */
static void offer_reserved(pool_t *pool, pool_vm_t *vm)
{
    pool_tpl_t *t = vm->tpl;
    int supply = atomic_load(&t->supply);
    while (supply > (int)atomic_load(&t->target) || atomic_load(&pool->stopping)) {
        if (atomic_compare_exchange_weak(&t->supply, &supply, supply - 1)) {
            pool_vm_destroy(pool, vm, "surplus");
            pool_vm_retire(pool, vm);
            return;
        }
    }
    pool_warm_put(pool, vm, false);
}

void pool_refill_donate(pool_t *pool, pool_tpl_t *t, pool_source_vm_t *h,
                        const pool_vm_info_t *info)
{
    int supply = atomic_load(&t->supply);
    bool reserved = false;
    while (!reserved && supply < (int)atomic_load(&t->target) && !atomic_load(&pool->stopping))
        reserved = atomic_compare_exchange_weak(&t->supply, &supply, supply + 1);
    if (!reserved) {
        pool->src.ops->destroy(pool->src.self, h, NULL);
        return;
    }
    wp_error_t err = {0};
    pool_vm_t *vm = setup_warm(pool, t, h, info, &err);
    if (vm == NULL) {
        atomic_fetch_sub(&t->supply, 1);
        wp_log_warn("pool '%s': %s", t->name, err.msg);
        return;
    }
    offer_reserved(pool, vm);
}

static void clone_failed(pool_t *pool, pool_tpl_t *t, const wp_error_t *err)
{
    unsigned streak = atomic_fetch_add(&t->fail_streak, 1) + 1;
    int64_t backoff = BACKOFF_MIN_NS << (streak > 9 ? 9 : streak - 1);
    if (backoff > BACKOFF_MAX_NS)
        backoff = BACKOFF_MAX_NS;
    /* back-off before giving the slot back, or another worker retries now */
    atomic_store(&t->backoff_until_ns, wp_now_mono_ns() + backoff);
    pool_counter_inc(&t->stats.clone_failures);
    atomic_fetch_sub(&t->cloning, 1);
    atomic_fetch_sub(&t->supply, 1);
    wp_log_warn("pool '%s': clone failed (%u in a row, next try in %.1f s): %s", t->name, streak,
                (double)backoff / 1e9, err->msg);
    pool_notify(pool);
}

static void refill_clone(pool_t *pool, pool_tpl_t *t)
{
    pool_vm_info_t info = {0};
    pool_source_vm_t *h = NULL;
    wp_error_t err = {0};
    int64_t t0 = wp_now_mono_ns();
    if (pool->src.ops->clone(pool->src.self, t->name, 0, &info, &h, &err) < 0) {
        clone_failed(pool, t, &err);
        return;
    }
    pool_refill_note_clone(t, wp_now_mono_ns() - t0);
    pool_vm_t *vm = setup_warm(pool, t, h, &info, &err);
    if (vm == NULL) {
        clone_failed(pool, t, &err);
        return;
    }
    atomic_store(&t->fail_streak, 0);
    atomic_fetch_sub(&t->cloning, 1);
    wp_log_info("VM '%s' of '%s' warm (clone %.0f ms)", info.id, t->name,
                wp_ms_between(t0, wp_now_mono_ns()));
    offer_reserved(pool, vm);
}

/* Resume the next paused warm VM (the source sets its clock) and move it
 * to the hot queue, where acquires look first. */
static void refill_heat(pool_t *pool, pool_tpl_t *t)
{
    pool_vm_t *vm = pool_warm_take_paused(pool, t, POOL_VM_HEATING);
    if (vm == NULL) {
        atomic_fetch_sub(&t->hot, 1); /* acquirers took them: give the claim back */
        return;
    }
    wp_error_t err = {0};
    if (atomic_load(&vm->exited) || pool->src.ops->resume(pool->src.self, vm->handle, &err) < 0) {
        if (err.code)
            wp_log_warn("VM '%s' of '%s': resume ahead of demand failed: %s", vm->info.id, t->name,
                        err.msg);
        atomic_fetch_sub(&t->hot, 1);
        atomic_fetch_sub(&t->warm, 1);
        atomic_fetch_sub(&t->supply, 1);
        pool_vm_destroy(pool, vm, "resume failed");
        pool_vm_retire(pool, vm);
        pool_kick_refill(pool);
        return;
    }
    vm->paused = false;
    /* not fsync'd, as any warm record: after a crash it is re-adopted
     * either way, paused again if the pool pauses */
    if (pool_vm_journal(pool, vm, POOL_JREC_WARM, false, &err) < 0)
        wp_log_warn("VM '%s': %s", vm->info.id, err.msg);
    wp_log_debug("VM '%s' of '%s' resumed ahead of demand", vm->info.id, t->name);
    pool_warm_put(pool, vm, true);
}

static void refill_shrink(pool_t *pool, pool_tpl_t *t)
{
    pool_vm_t *vm = pool_warm_take(pool, t, POOL_VM_DESTROYING, false);
    if (vm == NULL) {
        /* acquirers took them first (and counted them): give the claim back */
        atomic_fetch_add(&t->supply, 1);
        return;
    }
    pool_vm_destroy(pool, vm, "pool shrunk");
    pool_vm_retire(pool, vm);
}

static void idle_wait(pool_t *pool, int64_t wake_at)
{
    if (wake_at == 0) {
        while (sem_wait(&pool->refill_sem) < 0 && errno == EINTR)
            ;
        return;
    }
    /* back soon enough (a burst's hold, not a clone failure's back-off)
     * that acquires need not kick us */
    bool soon = wake_at - wp_now_mono_ns() <= pool->refill_hold_max_ns;
    if (soon)
        atomic_fetch_add(&pool->refill_soon_waiters, 1);
    struct timespec ts = {.tv_sec = wake_at / 1000000000, .tv_nsec = wake_at % 1000000000};
    while (sem_clockwait(&pool->refill_sem, CLOCK_MONOTONIC, &ts) < 0 && errno == EINTR)
        ;
    if (soon)
        atomic_fetch_sub(&pool->refill_soon_waiters, 1);
}

static void *worker_main(void *arg)
{
    pool_t *pool = arg;
    pool_thread_online();
    /* Clones made ahead of demand must not take CPU from acquires and
     * leased VMs: this thread, and the hypervisor processes it starts
     * (they inherit its nice value), run at POOL_REFILL_NICE; the source
     * gives a finished clone normal priority (pool_source.h). */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), POOL_REFILL_NICE) < 0)
        wp_log_warn("refill worker: nice %d: %s", POOL_REFILL_NICE, strerror(errno));
    while (!atomic_load(&pool->stopping)) {
        pool_tpl_t *t = NULL;
        int64_t wake_at = 0;
        switch (pick(pool, &t, &wake_at)) {
        case WORK_CLONE:
            refill_clone(pool, t);
            break;
        case WORK_SHRINK:
            refill_shrink(pool, t);
            break;
        case WORK_HEAT:
            refill_heat(pool, t);
            break;
        case WORK_NONE:
            idle_wait(pool, wake_at);
            break;
        }
    }
    return NULL;
}

int pool_refill_start(pool_t *pool, wp_error_t *err)
{
    pool->workers = calloc(pool->n_workers, sizeof(*pool->workers));
    if (pool->workers == NULL)
        return wp_error_errno(err, ENOMEM, "refill workers");
    for (unsigned i = 0; i < pool->n_workers; i++) {
        int ret = pthread_create(&pool->workers[i], NULL, worker_main, pool);
        if (ret != 0) {
            pool->n_workers = i; /* join what did start */
            pool_refill_stop(pool);
            return wp_error_errno(err, ret, "start refill worker %u", i);
        }
    }
    return 0;
}

void pool_refill_stop(pool_t *pool)
{
    atomic_store(&pool->stopping, true);
    for (unsigned i = 0; i < pool->n_workers; i++)
        sem_post(&pool->refill_sem);
    for (unsigned i = 0; i < pool->n_workers; i++)
        pthread_join(pool->workers[i], NULL);
    free(pool->workers);
    pool->workers = NULL;
}
