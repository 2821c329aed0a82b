/* pool_vm.c - VM records: the table, the warm queues, exit watches,
 * destruction and retirement. The ownership rules are in pool_internal.h;
 * every function here says which side of them it is on. */
#include "pool_internal.h"

#include <errno.h>     /* EEXIST */
#include <stdint.h>    /* uint64_t */
#include <stdio.h>     /* snprintf */
#include <stdlib.h>    /* calloc, free */
#include <string.h>    /* strcmp */
#include <sys/epoll.h> /* epoll_ctl */
#include <unistd.h>    /* write */

#include "wp_log.h"
#include "wp_time.h"

/* FNV-1a: ids are short and random enough; speed matters more than quality. */
static unsigned long hash_id(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (unsigned long)h;
}

static int match_id(struct cds_lfht_node *node, const void *key)
{
    const pool_vm_t *vm = caa_container_of(node, pool_vm_t, table_node);
    return strcmp(vm->info.id, key) == 0;
}

pool_vm_t *pool_vm_new(pool_tpl_t *tpl, pool_source_vm_t *handle, const pool_vm_info_t *info)
{
    pool_vm_t *vm = calloc(1, sizeof(*vm));
    if (vm == NULL)
        return NULL;
    cds_lfht_node_init(&vm->table_node);
    cds_wfcq_node_init(&vm->queue_node);
    atomic_init(&vm->state, POOL_VM_NEW);
    vm->tpl = tpl;
    vm->handle = handle;
    vm->info = *info;
    return vm;
}

int pool_vm_table_add(pool_t *pool, pool_vm_t *vm, wp_error_t *err)
{
    urcu_memb_read_lock();
    struct cds_lfht_node *got = cds_lfht_add_unique(pool->vms, hash_id(vm->info.id), match_id,
                                                    vm->info.id, &vm->table_node);
    urcu_memb_read_unlock();
    if (got != &vm->table_node)
        return wp_error_set(err, EEXIST, "VM id '%s' is already in the pool", vm->info.id);
    vm->in_table = true;
    return 0;
}

pool_vm_t *pool_vm_lookup(pool_t *pool, const char *id)
{
    struct cds_lfht_iter iter;
    cds_lfht_lookup(pool->vms, hash_id(id), match_id, id, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    return node ? caa_container_of(node, pool_vm_t, table_node) : NULL;
}

int pool_vm_watch(pool_t *pool, pool_vm_t *vm)
{
    if (vm->handle == NULL || vm->watched)
        return 0;
    /* One-shot: an exited process stays readable; the first report is all
     * we need, and a record in a state the watcher leaves to its owner must
     * not make epoll_wait spin. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = vm};
    int fd = pool->src.ops->exit_fd(pool->src.self, vm->handle);
    vm->watched = true; /* before the event can reach the watcher */
    if (epoll_ctl(pool->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        vm->watched = false;
        wp_log_error("VM '%s': cannot watch its exit (fd %d): %m", vm->info.id, fd);
        return -1;
    }
    return 0;
}

void pool_vm_unwatch(pool_t *pool, pool_vm_t *vm)
{
    if (!vm->watched)
        return;
    int fd = pool->src.ops->exit_fd(pool->src.self, vm->handle);
    epoll_ctl(pool->epfd, EPOLL_CTL_DEL, fd, NULL);
    vm->watched = false;
}

int pool_vm_journal(pool_t *pool, pool_vm_t *vm, pool_jrec_kind_t kind, bool sync, wp_error_t *err)
{
    pool_jrec_t rec = {
        .kind = kind, .paused = vm->paused, .time_ns = wp_now_real_ns(), .vm = vm->info};
    if (kind == POOL_JREC_LEASED || kind == POOL_JREC_DEAD) {
        memcpy(rec.token, vm->token, sizeof(rec.token));
        rec.time_ns = vm->leased_at_ns;
    }
    snprintf(rec.template_name, sizeof(rec.template_name), "%s", vm->tpl->name);
    return pool_journal_append(pool->journal, &rec, sync, err);
}

void pool_vm_destroy(pool_t *pool, pool_vm_t *vm, const char *why)
{
    pool_vm_unwatch(pool, vm);
    if (vm->handle != NULL) {
        wp_error_t err = {0};
        if (pool->src.ops->destroy(pool->src.self, vm->handle, &err) < 0)
            wp_log_warn("VM '%s' of '%s': destroy (%s): %s", vm->info.id, vm->tpl->name, why,
                        err.msg);
        vm->handle = NULL;
    } else {
        /* a lease found dead at restart: no handle, but maybe files left */
        wp_error_t err = {0};
        if (pool->src.ops->destroy_by_id(pool->src.self, vm->info.id, &err) < 0)
            wp_log_warn("VM '%s' of '%s': clean up (%s): %s", vm->info.id, vm->tpl->name, why,
                        err.msg);
    }
    if (vm->in_table) {
        urcu_memb_read_lock();
        cds_lfht_del(pool->vms, &vm->table_node);
        urcu_memb_read_unlock();
        vm->in_table = false;
        /* Only a VM the journal may know of needs its GONE record. */
        wp_error_t err = {0};
        if (pool_vm_journal(pool, vm, POOL_JREC_GONE, false, &err) < 0)
            wp_log_warn("VM '%s': %s", vm->info.id, err.msg);
    }
    atomic_store(&vm->state, POOL_VM_GONE);
    wp_log_info("VM '%s' of '%s' destroyed (%s)", vm->info.id, vm->tpl->name, why);
    pool_notify(pool);
}

static void free_rcu(struct rcu_head *head)
{
    free(caa_container_of(head, pool_vm_t, rcu));
}

void pool_vm_retire(pool_t *pool, pool_vm_t *vm)
{
    if (atomic_load(&pool->watcher_running)) {
        /* the watcher may hold an epoll event naming this record: it frees
         * it after finishing the batch it is in (pool_watch.c) */
        cds_wfcq_node_init(&vm->queue_node);
        cds_wfcq_enqueue(&pool->retire_head, &pool->retire_tail, &vm->queue_node);
        uint64_t one = 1;
        ssize_t n = write(pool->wake_fd, &one, sizeof(one));
        (void)n; /* a full counter already means "wake up" */
        return;
    }
    pool_vm_free_deferred(vm);
}

void pool_vm_free_deferred(pool_vm_t *vm)
{
    urcu_memb_call_rcu(&vm->rcu, free_rcu);
}

void pool_vm_unqueue_done(pool_t *pool, pool_vm_t *vm)
{
    if (atomic_exchange(&vm->unqueue, 1) == 1)
        pool_vm_retire(pool, vm);
}

void pool_warm_put(pool_t *pool, pool_vm_t *vm, bool reheated)
{
    pool_tpl_t *t = vm->tpl;
    bool hot = !vm->paused;
    /* counted first: whoever moves it out of WARM lowers the gauges
     * (`paused` is stable while it is queued) */
    if (!reheated)
        atomic_fetch_add(&t->warm, 1);
    if (hot && !reheated)
        atomic_fetch_add(&t->hot, 1);
    atomic_store(&vm->state, POOL_VM_WARM);
    pool_vm_watch(pool, vm);
    cds_wfcq_node_init(&vm->queue_node);
    if (hot)
        cds_wfcq_enqueue(&t->hot_head, &t->hot_tail, &vm->queue_node);
    else
        cds_wfcq_enqueue(&t->warm_head, &t->warm_tail, &vm->queue_node);
    pool_notify(pool);
}

/* Dequeue from one queue until a record CASes into `to`. */
static pool_vm_t *take_from(pool_t *pool, pool_tpl_t *tpl, bool hot, pool_vm_state_t to,
                            bool counted)
{
    struct cds_wfcq_head *head = hot ? &tpl->hot_head : &tpl->warm_head;
    struct cds_wfcq_tail *tail = hot ? &tpl->hot_tail : &tpl->warm_tail;
    for (;;) {
        /* The dequeue lock is held for a pointer swap, never across a clone
         * or another client's work. */
        struct cds_wfcq_node *node = cds_wfcq_dequeue_blocking(head, tail);
        if (node == NULL)
            return NULL;
        pool_vm_t *vm = caa_container_of(node, pool_vm_t, queue_node);
        int expected = POOL_VM_WARM;
        if (atomic_compare_exchange_strong(&vm->state, &expected, (int)to)) {
            if (counted)
                atomic_fetch_sub(&tpl->warm, 1);
            if (hot)
                atomic_fetch_sub(&tpl->hot, 1);
            return vm;
        }
        /* destroyed while queued (it died): the destroyer may still be at it */
        pool_vm_unqueue_done(pool, vm);
    }
}

pool_vm_t *pool_warm_take(pool_t *pool, pool_tpl_t *tpl, pool_vm_state_t to, bool hot_first)
{
    pool_vm_t *vm = take_from(pool, tpl, hot_first, to, true);
    return vm ? vm : take_from(pool, tpl, !hot_first, to, true);
}

pool_vm_t *pool_warm_take_hot(pool_t *pool, pool_tpl_t *tpl, pool_vm_state_t to)
{
    return take_from(pool, tpl, true, to, true);
}

pool_vm_t *pool_warm_take_paused(pool_t *pool, pool_tpl_t *tpl, pool_vm_state_t to)
{
    return take_from(pool, tpl, false, to, false);
}

void pool_vm_mark_dead(pool_t *pool, pool_vm_t *vm)
{
    int expected = POOL_VM_LEASED;
    if (!atomic_compare_exchange_strong(&vm->state, &expected, POOL_VM_MARKING))
        return; /* not leased any more, or someone else marks it */
    pool_tpl_t *t = vm->tpl;
    pool_vm_unwatch(pool, vm);
    wp_error_t err = {0};
    if (pool_vm_journal(pool, vm, POOL_JREC_DEAD, false, &err) < 0)
        wp_log_warn("VM '%s': %s", vm->info.id, err.msg);
    atomic_fetch_sub(&t->leased, 1);
    atomic_fetch_add(&t->dead, 1);
    pool_counter_inc(&t->stats.deaths);
    atomic_store(&vm->state, POOL_VM_DEAD);
    wp_log_warn("leased VM '%s' of '%s' (pid %d) exited: marked dead for its holder", vm->info.id,
                t->name, (int)vm->info.pid);
    pool_notify(pool);
}
