/* pool.c - the pool's lifecycle, its call gate, templates and sizing
 * changes (contracts in pool.h; record rules in pool_internal.h). */
#include "pool_internal.h"

#include <errno.h>       /* ESHUTDOWN */
#include <stdio.h>       /* snprintf */
#include <stdlib.h>      /* calloc */
#include <string.h>      /* strcmp */
#include <sys/epoll.h>   /* epoll_create1 */
#include <sys/eventfd.h> /* eventfd */
#include <sys/timerfd.h> /* timerfd_create */
#include <unistd.h>      /* close */

#include "wp_log.h"
#include "wp_time.h"

/* liburcu keeps per-thread reader state and must be told when a thread
 * starts and stops reading. A thread's first pool call registers it; a
 * pthread key destructor unregisters it at thread exit. The key is the one
 * process-wide variable here: it is written once (pthread_once) and is
 * process state by nature, as liburcu's own registry is. */
static pthread_key_t rcu_key;
static pthread_once_t rcu_key_once = PTHREAD_ONCE_INIT;
static _Thread_local bool rcu_online;

static void rcu_thread_exit(void *unused)
{
    (void)unused;
    urcu_memb_unregister_thread();
    rcu_online = false;
}

static void rcu_key_init(void)
{
    pthread_key_create(&rcu_key, rcu_thread_exit);
}

void pool_thread_online(void)
{
    if (rcu_online)
        return;
    pthread_once(&rcu_key_once, rcu_key_init);
    urcu_memb_register_thread();
    pthread_setspecific(rcu_key, (void *)1);
    rcu_online = true;
}

int pool_call_enter(pool_t *pool, wp_error_t *err)
{
    atomic_fetch_add(&pool->active_calls, 1);
    if (atomic_load(&pool->closing)) {
        pool_call_leave(pool);
        return wp_error_set(err, ESHUTDOWN, "warmpoold is shutting down");
    }
    pool_thread_online();
    return 0;
}

void pool_call_leave(pool_t *pool)
{
    if (atomic_fetch_sub(&pool->active_calls, 1) == 1 && atomic_load(&pool->closing)) {
        pthread_mutex_lock(&pool->gate_lock);
        pthread_cond_broadcast(&pool->gate_cond);
        pthread_mutex_unlock(&pool->gate_lock);
    }
}

void pool_notify(pool_t *pool)
{
    atomic_fetch_add(&pool->gen, 1);
    /* Only pay for the mutex when someone waits: a waiter registers before
     * it rechecks gen, so either it sees our increment or we see it. */
    if (atomic_load(&pool->gen_waiters) > 0) {
        pthread_mutex_lock(&pool->gate_lock);
        pthread_cond_broadcast(&pool->gate_cond);
        pthread_mutex_unlock(&pool->gate_lock);
    }
}

int pool_wait_change(pool_t *pool, uint64_t *gen, int64_t deadline_ns)
{
    if (atomic_load(&pool->closing))
        return -1;
    uint64_t cur = atomic_load(&pool->gen);
    if (*gen == 0 || cur != *gen) {
        *gen = cur;
        return 1;
    }
    struct timespec ts = {.tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000};
    /* Counted as a call so that pool_stop waits for us to leave; pool_close
     * wakes us (it bumps gen). */
    atomic_fetch_add(&pool->active_calls, 1);
    pthread_mutex_lock(&pool->gate_lock);
    atomic_fetch_add(&pool->gen_waiters, 1);
    while (atomic_load(&pool->gen) == *gen && !atomic_load(&pool->closing)) {
        if (deadline_ns == 0)
            pthread_cond_wait(&pool->gate_cond, &pool->gate_lock);
        else if (pthread_cond_timedwait(&pool->gate_cond, &pool->gate_lock, &ts) == ETIMEDOUT)
            break;
    }
    atomic_fetch_sub(&pool->gen_waiters, 1);
    pthread_mutex_unlock(&pool->gate_lock);
    pool_call_leave(pool);
    if (atomic_load(&pool->closing))
        return -1;
    cur = atomic_load(&pool->gen);
    int changed = cur != *gen;
    *gen = cur;
    return changed;
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

pool_tpl_t *pool_tpl_find(pool_t *pool, const char *name)
{
    size_t n = atomic_load_explicit(&pool->n_tpls, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (strcmp(pool->tpls[i]->name, name) == 0)
            return pool->tpls[i];
    return NULL;
}

static void tpl_set_size(pool_tpl_t *t, pool_sizing_mode_t sizing, unsigned target, unsigned min,
                         unsigned max)
{
    atomic_store(&t->min, min);
    atomic_store(&t->max, max);
    atomic_store(&t->sizing, (int)sizing);
    atomic_store(&t->target, target);
    if (sizing == POOL_SIZING_AUTO)
        atomic_store(&t->sizing_reset, true);
}

pool_tpl_t *pool_tpl_get(pool_t *pool, const pool_template_config_t *defaults, wp_error_t *err)
{
    pthread_mutex_lock(&pool->tpl_lock);
    pool_tpl_t *t = pool_tpl_find(pool, defaults->name);
    size_t n = atomic_load(&pool->n_tpls);
    if (t == NULL && n == POOL_TEMPLATES_MAX) {
        pthread_mutex_unlock(&pool->tpl_lock);
        wp_error_set(err, ENOSPC, "template '%s': at most %d pools", defaults->name,
                     POOL_TEMPLATES_MAX);
        return NULL;
    }
    if (t == NULL && (t = calloc(1, sizeof(*t))) != NULL) {
        snprintf(t->name, sizeof(t->name), "%s", defaults->name);
        cds_wfcq_init(&t->warm_head, &t->warm_tail);
        cds_wfcq_init(&t->hot_head, &t->hot_tail);
        atomic_store(&t->warm_state, (int)defaults->warm_state);
        atomic_store(&t->hot_target, defaults->hot);
        tpl_set_size(t, defaults->sizing, defaults->target, defaults->min, defaults->max);
        pool_sizing_init(&t->sizing_state, &pool->sizing, defaults->target);
        pool->tpls[n] = t;
        atomic_store_explicit(&pool->n_tpls, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&pool->tpl_lock);
    if (t == NULL)
        wp_error_errno(err, ENOMEM, "template '%s'", defaults->name);
    return t;
}

static const pool_template_config_t *config_tpl(const pool_t *pool, const char *name)
{
    for (size_t i = 0; i < pool->n_config_tpls; i++)
        if (strcmp(pool->config_tpls[i].name, name) == 0)
            return &pool->config_tpls[i];
    return NULL;
}

/* Under tpl_lock: record the size in the sizes file before it takes
 * effect (a size a client was told about survives a restart). On failure
 * the in-memory record is as before. */
static int sizes_record(pool_t *pool, const char *name, const pool_size_t *size, wp_error_t *err)
{
    pool_sizes_t before = *pool->sizes;
    if (pool_sizes_put(pool->sizes, name, size, config_tpl(pool, name), err) < 0 ||
        pool_sizes_save(pool->sizes_path, pool->sizes, err) < 0) {
        *pool->sizes = before;
        return -1;
    }
    return 0;
}

static pool_template_config_t size_defaults(const char *name, const pool_size_t *size)
{
    pool_template_config_t d = {.target = size->target,
                                .min = size->min,
                                .max = size->max,
                                .sizing = size->sizing,
                                .hot = POOL_DEFAULT_HOT};
    snprintf(d.name, sizeof(d.name), "%s", name);
    return d;
}

int pool_set_size(pool_t *pool, const char *name, const pool_size_t *size, wp_error_t *err)
{
    if (pool_template_name_check(name, err) < 0 ||
        pool_template_bounds_check(name, size->target, size->min, size->max, err) < 0)
        return -1;
    if (pool_call_enter(pool, err) < 0)
        return -1;
    pool_template_config_t defaults = size_defaults(name, size);
    pool_tpl_t *t = pool_tpl_get(pool, &defaults, err);
    int ret = t != NULL ? 0 : -1;
    if (t != NULL) {
        pthread_mutex_lock(&pool->tpl_lock);
        ret = sizes_record(pool, name, size, err);
        if (ret == 0)
            tpl_set_size(t, size->sizing, size->target, size->min, size->max);
        pthread_mutex_unlock(&pool->tpl_lock);
    }
    if (ret == 0) {
        wp_log_info("pool '%s': sizing %s, target %u, min %u, max %u", name,
                    pool_sizing_mode_name(size->sizing), size->target, size->min, size->max);
        pool_kick_refill(pool);
        pool_notify(pool);
    }
    pool_call_leave(pool);
    return ret;
}

/* At open: the sizes set live before the restart, where they still apply
 * (pool_sizes.h); entries the config file has overtaken are dropped. */
static int sizes_restore(pool_t *pool, const char *state_dir, wp_error_t *err)
{
    snprintf(pool->sizes_path, sizeof(pool->sizes_path), "%s/%s", state_dir, POOL_SIZES_FILE);
    if (pool_sizes_load(pool->sizes_path, pool->sizes, err) < 0)
        return wp_error_wrap(err, "pool sizes (remove the file to start with the configured "
                                  "sizes)");
    bool dropped = false;
    for (size_t i = 0; i < pool->sizes->n;) {
        const pool_size_entry_t *e = &pool->sizes->entries[i];
        const pool_template_config_t *cfg = config_tpl(pool, e->name);
        wp_error_t bad = {0};
        if (!pool_sizes_applies(e, cfg) || pool_template_name_check(e->name, &bad) < 0 ||
            pool_template_bounds_check(e->name, e->size.target, e->size.min, e->size.max, &bad) <
                0) {
            wp_log_info("pool '%s': the size set live no longer applies (%s); using the "
                        "configured one",
                        e->name, bad.code ? bad.msg : "the config file changed it since");
            pool_sizes_drop(pool->sizes, i);
            dropped = true;
            continue;
        }
        pool_template_config_t d = size_defaults(e->name, &e->size);
        if (cfg != NULL) {
            d.warm_state = cfg->warm_state;
            d.hot = cfg->hot;
        }
        pool_tpl_t *t = pool_tpl_get(pool, &d, err);
        if (t == NULL)
            return -1;
        tpl_set_size(t, e->size.sizing, e->size.target, e->size.min, e->size.max);
        pool_sizing_init(&t->sizing_state, &pool->sizing, e->size.target);
        wp_log_info("pool '%s': sizing %s, target %u (set live before the restart)", e->name,
                    pool_sizing_mode_name(e->size.sizing), e->size.target);
        i++;
    }
    if (dropped && pool_sizes_save(pool->sizes_path, pool->sizes, err) < 0)
        return -1;
    return 0;
}

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
    if (pool->journal == NULL || sizes_restore(pool, opt->config->state_dir, err) < 0 ||
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
