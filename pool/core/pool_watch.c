/* pool_watch.c - the watcher thread: VM exits, the sizing tick, deferred
 * frees and journal compaction.
 *
 * One epoll set holds every watched VM's exit fd (a pidfd from the real
 * source: the kernel tells us the moment QEMU exits, nothing polls), an
 * eventfd to wake the thread, and a timerfd for the periodic tick that drives
 * `auto` sizing and compaction. The watcher is also where records are freed:
 * a record retired by any thread is queued here and handed to call_rcu at the
 * top of the next loop, when no event of an earlier epoll_wait that might
 * still name it is pending (records are removed from the epoll set before
 * they are retired, so later epoll_waits cannot name them).
 *
 * Threads: one watcher per pool, started/stopped by pool.c. pool_watch_tick
 * runs on it (it alone touches each template's sizing_state). */
#include "pool_internal.h"

#include <errno.h>       /* EINTR */
#include <sys/epoll.h>   /* epoll_wait */
#include <sys/timerfd.h> /* timerfd_settime */
#include <unistd.h>      /* read */

#include "wp_log.h"
#include "wp_time.h"

#define MAX_EVENTS 64

static void drain_retired(pool_t *pool)
{
    struct cds_wfcq_node *node;
    while ((node = cds_wfcq_dequeue_blocking(&pool->retire_head, &pool->retire_tail)) != NULL) {
        pool_vm_t *vm = caa_container_of(node, pool_vm_t, queue_node);
        pool_vm_free_deferred(vm);
    }
}

static void on_exit_event(pool_t *pool, pool_vm_t *vm)
{
    /* set first: an owner mid-transition checks it after its own store */
    atomic_store(&vm->exited, true);
    pool_tpl_t *t = vm->tpl;
    int expected = POOL_VM_WARM;
    if (atomic_compare_exchange_strong(&vm->state, &expected, POOL_VM_DESTROYING)) {
        atomic_fetch_sub(&t->warm, 1);
        if (!vm->paused) /* stable while queued; ours now */
            atomic_fetch_sub(&t->hot, 1);
        atomic_fetch_sub(&t->supply, 1);
        pool_counter_inc(&t->stats.deaths);
        wp_log_warn("warm VM '%s' of '%s' (pid %d) exited: replacing it", vm->info.id, t->name,
                    (int)vm->info.pid);
        pool_kick_refill(pool); /* the replacement need not wait for the cleanup */
        pool_vm_destroy(pool, vm, "exited while warm");
        pool_vm_unqueue_done(pool, vm); /* it is still linked in the warm queue */
        return;
    }
    /* leased: mark it for its holder; any other state: its owner sees `exited` */
    pool_vm_mark_dead(pool, vm);
}

void pool_watch_tick(pool_t *pool, double dt_s)
{
    size_t n = atomic_load_explicit(&pool->n_tpls, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        pool_tpl_t *t = pool->tpls[i];
        pool_sizing_t *s = &t->sizing_state;
        unsigned target = atomic_load(&t->target);
        if (atomic_exchange(&t->sizing_reset, false)) {
            pool_sizing_t kept = *s; /* a measured clone time stays true */
            pool_sizing_init(s, &pool->sizing, target);
            s->clone_s = kept.clone_s;
            s->clone_measured = kept.clone_measured;
        }
        uint64_t clones = atomic_exchange(&t->clone_n, 0);
        uint64_t clone_ns = atomic_exchange(&t->clone_ns_sum, 0);
        if (clones > 0)
            pool_sizing_observe_clone(s, &pool->sizing, (double)clone_ns / (double)clones / 1e9);
        pool_sizing_observe_demand(s, &pool->sizing, (unsigned)atomic_exchange(&t->demand, 0),
                                   dt_s);
        atomic_store(&t->rate_millis, (uint64_t)(s->rate * 1000.0));
        if (atomic_load(&t->sizing) != POOL_SIZING_AUTO)
            continue;
        unsigned want =
            pool_sizing_target(s, &pool->sizing, atomic_load(&t->min), atomic_load(&t->max));
        if (want != target) {
            atomic_store(&t->target, want);
            wp_log_info("pool '%s': auto target %u -> %u (demand %.2f/s, clone %.0f ms, burst "
                        "%.1f)",
                        t->name, target, want, s->rate, s->clone_s * 1000.0, s->burst);
            pool_kick_refill(pool);
            pool_notify(pool);
        }
    }
    if (pool_journal_needs_compaction(pool->journal)) {
        wp_error_t err = {0};
        if (pool_journal_compact(pool->journal, &err) < 0)
            wp_log_error("%s", err.msg);
    }
}

static void *watcher_main(void *arg)
{
    pool_t *pool = arg;
    pool_thread_online();
    struct epoll_event evs[MAX_EVENTS];
    int64_t last_tick = wp_now_mono_ns();
    for (;;) {
        drain_retired(pool);
        if (atomic_load(&pool->watch_quit))
            break;
        int n = epoll_wait(pool->epfd, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno != EINTR)
                wp_log_error("watcher: epoll_wait: %m");
            continue;
        }
        for (int i = 0; i < n; i++) {
            void *ptr = evs[i].data.ptr;
            uint64_t count;
            if (ptr == &pool->wake_fd) {
                ssize_t r = read(pool->wake_fd, &count, sizeof(count));
                (void)r; /* nonblocking; only the wakeup matters */
            } else if (ptr == &pool->timer_fd) {
                ssize_t r = read(pool->timer_fd, &count, sizeof(count));
                (void)r;
                int64_t now = wp_now_mono_ns();
                pool_watch_tick(pool, (double)(now - last_tick) / 1e9);
                last_tick = now;
            } else {
                on_exit_event(pool, ptr);
            }
        }
    }
    return NULL;
}

int pool_watch_start(pool_t *pool, wp_error_t *err)
{
    struct epoll_event wake = {.events = EPOLLIN, .data.ptr = &pool->wake_fd};
    struct epoll_event tick = {.events = EPOLLIN, .data.ptr = &pool->timer_fd};
    long ns = (long)pool->tick_ms * 1000000l;
    struct itimerspec its = {.it_interval = {ns / 1000000000l, ns % 1000000000l},
                             .it_value = {ns / 1000000000l, ns % 1000000000l}};
    if (epoll_ctl(pool->epfd, EPOLL_CTL_ADD, pool->wake_fd, &wake) < 0 ||
        epoll_ctl(pool->epfd, EPOLL_CTL_ADD, pool->timer_fd, &tick) < 0 ||
        timerfd_settime(pool->timer_fd, 0, &its, NULL) < 0)
        return wp_error_errno(err, errno, "watcher: epoll set");
    atomic_store(&pool->watcher_running, true);
    int ret = pthread_create(&pool->watcher, NULL, watcher_main, pool);
    if (ret != 0) {
        atomic_store(&pool->watcher_running, false);
        return wp_error_errno(err, ret, "start watcher thread");
    }
    return 0;
}

void pool_watch_stop(pool_t *pool)
{
    atomic_store(&pool->watch_quit, true);
    uint64_t one = 1;
    ssize_t r = write(pool->wake_fd, &one, sizeof(one));
    (void)r;
    pthread_join(pool->watcher, NULL);
    /* Nothing else runs now (pool_stop quiesced calls and workers first):
     * free what is queued and let later retires go straight to call_rcu. */
    atomic_store(&pool->watcher_running, false);
    drain_retired(pool);
}
