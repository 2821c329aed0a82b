/* pool.c - the pool's lifecycle: open (recovery), start, close, stop, free
 * (contracts in pool.h; record rules in pool_internal.h). The top of the
 * core: it calls the gate, templates, records, refill, watcher and
 * recovery, and none of them calls back into it. */
#include "pool_internal.h"

#include <errno.h>       /* EINVAL, ENOMEM */
#include <stdlib.h>      /* calloc */
#include <string.h>      /* memcpy */
#include <sys/epoll.h>   /* epoll_create1 */
#include <sys/eventfd.h> /* eventfd */
#include <sys/timerfd.h> /* timerfd_create */
#include <unistd.h>      /* close */

#include "wp_log.h"
#include "wp_time.h"

static void pool_drain(pool_t *pool);

static void pool_free_bare(pool_t *pool)
{
    if (pool->vms != NULL)
        cds_lfht_destroy(pool->vms, NULL);
    urcu_memb_barrier(); /* run every pending call_rcu free before we go */
    for (size_t i = 0; i < atomic_load(&pool->n_tpls); i++) {
        cds_wfcq_destroy(&pool->tpls[i]->warm_head, &pool->tpls[i]->warm_tail);
        cds_wfcq_destroy(&pool->tpls[i]->hot_head, &pool->tpls[i]->hot_tail);
        free(pool->tpls[i]);
    }
    cds_wfcq_destroy(&pool->retire_head, &pool->retire_tail);
    pool_journal_close(pool->journal);
    int fds[] = {pool->epfd, pool->wake_fd, pool->timer_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    sem_destroy(&pool->refill_sem);
    pthread_cond_destroy(&pool->gate_cond);
    pthread_mutex_destroy(&pool->gate_lock);
    pthread_mutex_destroy(&pool->tpl_lock);
    free(pool->sizes);
    free(pool->config_tpls);
    free(pool);
}

static pool_t *pool_alloc(const pool_options_t *opt, wp_error_t *err)
{
    pool_t *pool = calloc(1, sizeof(*pool));
    if (pool == NULL) {
        wp_error_errno(err, ENOMEM, "pool");
        return NULL;
    }
    pool->src = opt->source;
    pool->sizing = POOL_SIZING_DEFAULTS;
    pool->tick_ms = opt->sizing_tick_ms > 0 ? opt->sizing_tick_ms : 1000;
    pool->refill_quiet_ns = opt->refill_quiet_ns < 0    ? 0
                            : opt->refill_quiet_ns == 0 ? POOL_REFILL_QUIET_DEFAULT_NS
                                                        : opt->refill_quiet_ns;
    pool->refill_hold_max_ns =
        opt->refill_hold_max_ns > 0 ? opt->refill_hold_max_ns : POOL_REFILL_HOLD_MAX_DEFAULT_NS;
    pool->n_workers = opt->config->refill_concurrency ? opt->config->refill_concurrency : 1;
    atomic_store(&pool->gen, 1);
    pthread_mutex_init(&pool->tpl_lock, NULL);
    pthread_mutex_init(&pool->gate_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines are monotonic */
    pthread_cond_init(&pool->gate_cond, &ca);
    pthread_condattr_destroy(&ca);
    sem_init(&pool->refill_sem, 0, 0);
    cds_wfcq_init(&pool->retire_head, &pool->retire_tail);
    pool->epfd = epoll_create1(EPOLL_CLOEXEC);
    pool->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pool->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    pool->vms = cds_lfht_new_flavor(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                                    &urcu_memb_flavor, NULL);
    pool->sizes = calloc(1, sizeof(*pool->sizes));
    size_t nt = opt->config->n_templates;
    pool->config_tpls = calloc(nt ? nt : 1, sizeof(*pool->config_tpls));
    if (pool->config_tpls != NULL && nt > 0)
        memcpy(pool->config_tpls, opt->config->templates, nt * sizeof(*pool->config_tpls));
    pool->n_config_tpls = nt;
    if (pool->epfd < 0 || pool->wake_fd < 0 || pool->timer_fd < 0 || pool->vms == NULL ||
        pool->sizes == NULL || pool->config_tpls == NULL) {
        wp_error_errno(err, pool->vms && pool->sizes && pool->config_tpls ? errno : ENOMEM,
                       "pool: epoll, eventfd, VM table or sizes");
        pool_free_bare(pool);
        return NULL;
    }
    return pool;
}

pool_t *pool_open(const pool_options_t *opt, pool_recovery_t *report, wp_error_t *err)
{
    const pool_source_ops_t *ops = opt->source.ops;
    if (opt->config == NULL || ops == NULL || !ops->clone || !ops->pause || !ops->resume ||
        !ops->destroy || !ops->detach || !ops->adopt || !ops->destroy_by_id || !ops->list ||
        !ops->exit_fd) {
        wp_error_set(err, EINVAL, "pool: a configuration and a complete source are required");
        return NULL;
    }
    pool_thread_online();
    pool_t *pool = pool_alloc(opt, err);
    if (pool == NULL)
        return NULL;
    for (size_t i = 0; i < opt->config->n_templates; i++)
        if (pool_tpl_get(pool, &opt->config->templates[i], err) == NULL) {
            pool_free_bare(pool);
            return NULL;
        }
    pool_journal_replay_t replay;
    pool->journal =
        pool_journal_open(opt->config->state_dir, opt->journal_compact_bytes, &replay, err);
    pool_recovery_t local = {0};
    if (pool->journal == NULL || pool_tpl_restore_sizes(pool, opt->config->state_dir, err) < 0 ||
        pool_recover(pool, &replay, &local, err) < 0) {
        pool_journal_replay_free(&replay);
        if (pool->journal != NULL)
            pool_drain(pool); /* what recovery adopted: leased stay running, warm go */
        pool_free_bare(pool);
        return NULL;
    }
    local.journal_truncated_bytes = replay.truncated_bytes;
    pool_journal_replay_free(&replay);
    if (report != NULL)
        *report = local;
    return pool;
}

int pool_start(pool_t *pool, wp_error_t *err)
{
    if (pool->started)
        return 0;
    if (pool_watch_start(pool, err) < 0)
        return -1;
    if (pool_refill_start(pool, err) < 0) {
        pool_watch_stop(pool);
        return -1;
    }
    pool->started = true;
    pool_kick_refill(pool);
    return 0;
}

void pool_close(pool_t *pool)
{
    atomic_store(&pool->closing, true);
    pool_notify(pool); /* wake pool_wait_change callers so pool_stop need not wait for them */
}

/* With every thread gone: destroy warm VMs, detach leased ones. */
static void pool_drain(pool_t *pool)
{
    for (size_t i = 0; i < atomic_load(&pool->n_tpls); i++) {
        pool_tpl_t *t = pool->tpls[i];
        pool_vm_t *vm;
        while ((vm = pool_warm_take(pool, t, POOL_VM_DESTROYING, false)) != NULL) {
            atomic_fetch_sub(&t->supply, 1);
            pool_vm_destroy(pool, vm, "shutdown");
            pool_vm_retire(pool, vm);
        }
    }
    struct cds_lfht_iter iter;
    pool_vm_t *vm;
    urcu_memb_read_lock();
    cds_lfht_for_each_entry(pool->vms, &iter, vm, table_node)
    {
        /* leased and dead VMs stay journaled for the next start */
        pool_vm_unwatch(pool, vm);
        if (vm->handle != NULL)
            pool->src.ops->detach(pool->src.self, vm->handle);
        vm->handle = NULL;
        cds_lfht_del(pool->vms, &vm->table_node);
        pool_vm_retire(pool, vm);
    }
    urcu_memb_read_unlock();
}

void pool_stop(pool_t *pool)
{
    if (pool->stopped)
        return;
    pool_thread_online();
    pool_close(pool);
    pthread_mutex_lock(&pool->gate_lock);
    while (atomic_load(&pool->active_calls) > 0)
        pthread_cond_wait(&pool->gate_cond, &pool->gate_lock);
    pthread_mutex_unlock(&pool->gate_lock);
    atomic_store(&pool->stopping, true);
    if (pool->started) {
        pool_refill_stop(pool);
        pool_watch_stop(pool);
    }
    pool_drain(pool);
    pool->stopped = true;
}

void pool_free(pool_t *pool)
{
    if (pool == NULL)
        return;
    pool_stop(pool);
    pool_free_bare(pool);
}
