/* pool_gate.c - how a call enters the pool and how waiters learn of a
 * change: RCU registration of calling threads, the call gate that
 * pool_close shuts and pool_stop waits on, and the generation counter
 * behind pool_wait_change (pool.h). Calls nothing else of the pool. */
#include "pool_internal.h"

#include <errno.h> /* ESHUTDOWN, ETIMEDOUT */
#include <time.h>  /* struct timespec */

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
