/* pool_internal.h - the pool's records and the rules that keep them safe.
 * Internal to the pool room (pool_*.c and the pool's tests).
 *
 * A VM record (pool_vm_t) lives in the VM table (cds_lfht, keyed by VM id)
 * while it is visible, and in its template's warm queue (cds_wfcq) while it
 * is warm. States:
 *
 *   NEW -> WARM -> ACQUIRING -> LEASED -> (MARKING ->) DEAD
 *                      \            \                   \
 *                       `------------`----> DESTROYING -> GONE
 *
 * Ownership is the state machine: a thread that moves a record by
 * compare-and-swap into NEW, ACQUIRING, MARKING or DESTROYING owns it until
 * it stores the next state, and only the owner touches its handle, its
 * `watched` flag, or the journal for it. WARM, LEASED and DEAD records are
 * owned by nobody; anyone may try to CAS them onward. So a VM is leased once
 * (only one WARM->ACQUIRING succeeds) and released once (one ->DESTROYING).
 *
 * Freeing: records are freed only through pool_vm_retire(), which defers
 * to the watcher thread and then call_rcu: the watcher may hold a pointer
 * from an epoll event it has not yet handled, and RCU readers may hold one
 * from a table lookup. A record destroyed while still linked in a warm queue
 * (a warm VM that died) is retired by whichever of its destroyer and its
 * dequeuer finishes second (the `unqueue` handshake).
 *
 * Counting: per template, `supply` = warm + cloning-for-the-pool, adjusted
 * by CAS so that refill workers never overshoot the target; the gauges warm,
 * cloning, leased and dead are for status only.
 *
 * Threads: refill workers, one watcher thread, and client threads calling
 * pool.h; all are registered RCU readers (pool_thread_online()). */
#ifndef POOL_INTERNAL_H
#define POOL_INTERNAL_H

#include <limits.h>    /* PATH_MAX */
#include <pthread.h>   /* pthread_t, mutex */
#include <semaphore.h> /* sem_t */
#include <stdatomic.h> /* _Atomic */
#include <stdbool.h>   /* bool */

#include <urcu/urcu-memb.h> /* RCU flavour: must come before the structures */
#include <urcu/rculfhash.h> /* cds_lfht: the VM table */
#include <urcu/wfcqueue.h>  /* cds_wfcq: warm queues, retire queue */

#include "pool.h"
#include "pool_journal.h"
#include "pool_sizes.h"
#include "pool_sizing.h"

typedef enum pool_vm_state {
    POOL_VM_NEW = 0,    /* being set up by its creator */
    POOL_VM_WARM,       /* in (or entering) the warm queue */
    POOL_VM_ACQUIRING,  /* taken by an acquirer: resume, token, journal */
    POOL_VM_HEATING,    /* taken by the refill: resumed ahead of demand, then WARM again */
    POOL_VM_LEASED,     /* handed out */
    POOL_VM_MARKING,    /* leased, process gone: being journaled as dead */
    POOL_VM_DEAD,       /* leased, process gone: waits for its holder's release */
    POOL_VM_DESTROYING, /* being destroyed by its owner */
    POOL_VM_GONE,       /* destroyed; waits for retirement */
} pool_vm_state_t;

typedef struct pool_tpl pool_tpl_t;

typedef struct pool_vm {
    struct cds_lfht_node table_node;
    struct cds_wfcq_node queue_node; /* warm queue, then the retire queue */
    struct rcu_head rcu;
    _Atomic int state;   /* pool_vm_state_t */
    _Atomic bool exited; /* set by the watcher before it tries any transition */
    _Atomic int unqueue; /* handshake: see the header comment */
    bool watched;        /* exit fd in the epoll set; owner only */
    bool in_table;       /* owner only */
    bool paused;         /* owner only */
    pool_tpl_t *tpl;
    pool_source_vm_t *handle; /* NULL for a dead VM adopted from the journal */
    pool_vm_info_t info;
    uint8_t token[POOL_TOKEN_BYTES];
    int64_t leased_at_ns; /* CLOCK_REALTIME */
} pool_vm_t;

struct pool_tpl {
    char name[POOL_NAME_MAX + 1];
    struct cds_wfcq_head warm_head; /* paused warm VMs (cold) */
    struct cds_wfcq_tail warm_tail;
    /* Running warm VMs, handed out first: every warm VM of a running pool;
     * in a paused pool, the `hot_target` VMs the refill resumed (clock set)
     * ahead of demand, so a hit does not wait for a guest round trip. */
    struct cds_wfcq_head hot_head;
    struct cds_wfcq_tail hot_tail;
    _Atomic int hot;             /* in the hot queue, plus claimed by a heater */
    _Atomic unsigned hot_target; /* paused pools only */
    _Atomic unsigned target, min, max;
    _Atomic int sizing;     /* pool_sizing_mode_t */
    _Atomic int warm_state; /* pool_warm_state_t */
    _Atomic int supply;
    _Atomic int warm, cloning, leased, dead;
    _Atomic int64_t backoff_until_ns; /* no refill clones before this (monotonic) */
    _Atomic bool ran_dry; /* an acquire took the last warm VM: refill without a burst hold */
    _Atomic unsigned fail_streak;
    _Atomic uint64_t demand;                /* acquires since the last tick */
    _Atomic uint64_t clone_ns_sum, clone_n; /* clone times since the last tick */
    _Atomic bool sizing_reset;              /* re-seed the sizing state at the next tick */
    _Atomic uint64_t rate_millis;           /* demand estimate x1000, for status */
    pool_sizing_t sizing_state;             /* watcher thread only */
    pool_counters_t stats;
};

struct pool {
    pool_source_t src;
    pool_journal_t *journal;
    struct cds_lfht *vms;
    pool_sizing_params_t sizing;
    int tick_ms;

    pthread_mutex_t tpl_lock; /* template creation and size changes; never on acquire */
    /* sizes set live, kept in <state_dir>/sizes.json (pool_sizes.h), and the
     * config file's templates they are compared with; under tpl_lock */
    pool_sizes_t *sizes;
    char sizes_path[PATH_MAX];
    pool_template_config_t *config_tpls;
    size_t n_config_tpls;
    pool_tpl_t *tpls[POOL_TEMPLATES_MAX];
    _Atomic size_t n_tpls; /* tpls[0..n) published, never removed before pool_free */

    unsigned n_workers;
    pthread_t *workers;
    sem_t refill_sem;           /* kicks for the refill workers */
    _Atomic unsigned refill_rr; /* where the next worker starts scanning templates */
    /* An acquire burst in progress (monotonic ns; 0: none): refill clones
     * wait for it to end (pool_refill_note_take) */
    _Atomic int64_t burst_start_ns, burst_last_ns;
    int64_t refill_quiet_ns, refill_hold_max_ns; /* pool_options_t; quiet 0: no hold */
    _Atomic int refill_soon_waiters; /* workers in a timed wait of <= refill_hold_max_ns */

    int epfd, wake_fd, timer_fd; /* the watcher's epoll set, its wakeup eventfd and tick timer */
    pthread_t watcher;
    bool started;
    _Atomic bool watcher_running; /* retire through the watcher (else call_rcu at once) */
    _Atomic bool watch_quit;
    struct cds_wfcq_head retire_head;
    struct cds_wfcq_tail retire_tail;

    _Atomic bool closing;  /* refuse new calls */
    _Atomic bool stopping; /* threads exit */
    bool stopped;
    _Atomic int active_calls;
    pthread_mutex_t gate_lock; /* with gate_cond: pool_stop waits for calls; wait_change */
    pthread_cond_t gate_cond;
    _Atomic uint64_t gen;
    _Atomic int gen_waiters;
};

/* The core's files in layers: each calls only files on the lines below it
 * (and the journal, stats, sizing, sizes and config, which call none).
 *   pool.c (the lifecycle)  pool_acquire.c  pool_release.c  pool_status.c
 *   pool_recover.c  pool_watch.c
 *   pool_tpl.c
 *   pool_refill.c
 *   pool_vm.c
 *   pool_gate.c */

/* ---- pool_gate.c ---- */
void pool_thread_online(void);
int pool_call_enter(pool_t *pool, wp_error_t *err);
void pool_call_leave(pool_t *pool);
void pool_notify(pool_t *pool);

/* ---- pool_tpl.c ---- */
pool_tpl_t *pool_tpl_find(pool_t *pool, const char *name);
/* Find or create; `defaults` sizes a new one. Takes tpl_lock. */
pool_tpl_t *pool_tpl_get(pool_t *pool, const pool_template_config_t *defaults, wp_error_t *err);
/* At open: the sizes set live before the restart, where they still apply
 * (pool_sizes.h); entries the config file has overtaken are dropped. */
int pool_tpl_restore_sizes(pool_t *pool, const char *state_dir, wp_error_t *err);

/* ---- pool_vm.c: records (locking rules above) ---- */
pool_vm_t *pool_vm_new(pool_tpl_t *tpl, pool_source_vm_t *handle, const pool_vm_info_t *info);
/* Add to the table; EEXIST if the id is there. Owner only. */
int pool_vm_table_add(pool_t *pool, pool_vm_t *vm, wp_error_t *err);
/* Caller holds urcu_memb_read_lock(); the result is valid until it unlocks. */
pool_vm_t *pool_vm_lookup(pool_t *pool, const char *id);
int pool_vm_watch(pool_t *pool, pool_vm_t *vm);
void pool_vm_unwatch(pool_t *pool, pool_vm_t *vm);
int pool_vm_journal(pool_t *pool, pool_vm_t *vm, pool_jrec_kind_t kind, bool sync, wp_error_t *err);
/* Owner: destroy the VM, drop it from the table and journal it GONE. The
 * record itself is left for pool_vm_retire / pool_vm_unqueue_done. */
void pool_vm_destroy(pool_t *pool, pool_vm_t *vm, const char *why);
void pool_vm_retire(pool_t *pool, pool_vm_t *vm);
/* The last step of retirement: free after an RCU grace period. */
void pool_vm_free_deferred(pool_vm_t *vm);
/* A record that was WARM (so is or will be linked in its queue) is done
 * with by one side; the second side retires it. */
void pool_vm_unqueue_done(pool_t *pool, pool_vm_t *vm);
/* Publish a set-up record as warm: gauge, state, exit watch, queue (the
 * hot queue when it is not paused). reheated: back from
 * pool_warm_take_paused, still counted in `warm` and claimed in `hot`. */
void pool_warm_put(pool_t *pool, pool_vm_t *vm, bool reheated);
/* Dequeue the next warm record and CAS it into `to` (ACQUIRING or
 * DESTROYING); NULL when both queues are empty. The hot queue first for an
 * acquire, the paused one first otherwise (a shrink keeps the hot ones).
 * Lowers `warm` (and `hot`), not `supply`. */
pool_vm_t *pool_warm_take(pool_t *pool, pool_tpl_t *tpl, pool_vm_state_t to, bool hot_first);
/* The hot queue only (running VMs: nothing to resume); NULL when empty. */
pool_vm_t *pool_warm_take_hot(pool_t *pool, pool_tpl_t *tpl, pool_vm_state_t to);
/* The next paused warm record only, for the heater: it stays counted in
 * `warm` (it is on its way to the hot queue); NULL when none. */
pool_vm_t *pool_warm_take_paused(pool_t *pool, pool_tpl_t *tpl, pool_vm_state_t to);
/* Leased VM found dead (by the watcher or the acquirer): LEASED -> DEAD. */
void pool_vm_mark_dead(pool_t *pool, pool_vm_t *vm);

/* ---- pool_refill.c ---- */
/* Wake a refill worker: a target moved, a VM left the pool. Any thread. */
void pool_kick_refill(pool_t *pool);
int pool_refill_start(pool_t *pool, wp_error_t *err);
void pool_refill_stop(pool_t *pool);
/* Take a fresh clone nobody reserved supply for (an on-demand clone that
 * finished past its deadline): queue it if the pool is short, else destroy
 * it. Takes ownership of the handle. */
void pool_refill_donate(pool_t *pool, pool_tpl_t *tpl, pool_source_vm_t *handle,
                        const pool_vm_info_t *info);
/* A clone took `ns`: feed the histogram and the sizing rule. */
void pool_refill_note_clone(pool_tpl_t *tpl, int64_t ns);
/* Acquires come first. An acquire that took a warm VM calls
 * pool_refill_note_take: refill clones then wait until acquires pause
 * (pool_options_t: refill_quiet_ns, refill_hold_max_ns; a clone's start
 * takes the CPU a burst's acquires need, and a few ms are nothing against
 * a clone's time), except for a template an acquire has emptied: its next
 * acquire would miss, so it refills at once up to its target. Any thread. */
void pool_refill_note_take(pool_t *pool, pool_tpl_t *tpl);

/* ---- pool_watch.c ---- */
int pool_watch_start(pool_t *pool, wp_error_t *err);
void pool_watch_stop(pool_t *pool);
/* One sizing/housekeeping tick; the watcher calls it, tests may too. */
void pool_watch_tick(pool_t *pool, double dt_s);

/* ---- pool_recover.c ---- */
int pool_recover(pool_t *pool, const pool_journal_replay_t *replay, pool_recovery_t *report,
                 wp_error_t *err);

#endif
