/* pool.h - the warm pool: per-template pools of ready VMs, leases, refill,
 * health, restart recovery. The core of warmpoold, with no transport: the
 * API server (nng), the metrics server and main() sit on top of this header.
 *
 * Lifecycle (nng's verbs):
 *   pool_open   read the journal, re-adopt leased VMs, re-adopt or destroy
 *               warm ones, destroy orphans. No threads yet.
 *   pool_start  start the refill workers and the watcher thread.
 *   pool_close  stop accepting calls (they fail with ESHUTDOWN). Idempotent,
 *               never blocks; safe from any thread (not from a signal handler).
 *   pool_stop   pool_close, wait for calls in progress, stop the threads,
 *               destroy warm VMs, detach leased ones (left running and
 *               journaled for the next start). Idempotent.
 *   pool_free   free everything (calls pool_stop first).
 *
 * Threads: every call below except open/free may be made from any thread,
 * concurrently. liburcu needs every thread that reads the VM table to be
 * registered: the pool registers a calling thread on its first call and
 * unregisters it when the thread exits, so callers (nng's worker threads
 * included) need do nothing.
 *
 * VMs move cloning -> warm -> leased -> destroyed; a VM is handed out once
 * and never returns to the pool: release destroys it. Leases are journaled
 * (fsync'd) before they are returned, and survive a daemon restart.
 *
 * Errors (err->code) a client may see:
 *   ENOENT     unknown template; unknown lease (includes "already released")
 *   EPERM      lease token does not match
 *   EALREADY   a release of this lease is already in progress
 *   EAGAIN     acquire with fail_fast and no warm VM
 *   ETIMEDOUT  acquire missed and its clone did not finish by the deadline
 *   ESHUTDOWN  the pool is closing
 *   EINVAL     bad sizes or names
 *   other      the source or the journal failed (message says which) */
#ifndef POOL_H
#define POOL_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "pool_config.h"
#include "pool_source.h"
#include "pool_stats.h"
#include "pool_types.h" /* leases, sizes, statuses: shared with the API's clients */
#include "wp_error.h"

typedef struct pool pool_t;

typedef struct pool_options {
    const pool_config_t *config;  /* copied: templates and state_dir, refill concurrency */
    pool_source_t source;         /* borrowed; must outlive the pool */
    size_t journal_compact_bytes; /* 0: POOL_JOURNAL_COMPACT_DEFAULT */
    int sizing_tick_ms;           /* auto sizing and housekeeping period; 0: 1000 */
    /* Acquires come first: after an acquire that took a warm VM, refill
     * clones wait until acquires pause for refill_quiet_ns, at most
     * refill_hold_max_ns after the burst's first acquire (0: the defaults
     * below; refill_quiet_ns < 0: no wait). */
    int64_t refill_quiet_ns, refill_hold_max_ns;
} pool_options_t;

#define POOL_REFILL_QUIET_DEFAULT_NS    (5 * 1000000ll)
#define POOL_REFILL_HOLD_MAX_DEFAULT_NS (50 * 1000000ll)

/* What pool_open found and did. */
typedef struct pool_recovery {
    size_t leases_adopted;    /* leased VMs found running again */
    size_t leases_dead;       /* leased VMs whose process was gone: marked dead */
    size_t warm_adopted;      /* warm VMs put back in their queues */
    size_t warm_destroyed;    /* warm VMs not wanted or not adoptable */
    size_t orphans_destroyed; /* VMs on the host the journal did not account for */
    size_t journal_truncated_bytes;
} pool_recovery_t;

/* report may be NULL. */
pool_t *pool_open(const pool_options_t *opt, pool_recovery_t *report, wp_error_t *err);
int pool_start(pool_t *pool, wp_error_t *err);
void pool_close(pool_t *pool);
void pool_stop(pool_t *pool);
void pool_free(pool_t *pool);

/* ---- leases ---- */

typedef struct pool_acquire_options {
    bool fail_fast;      /* on a miss, fail with EAGAIN instead of cloning */
    int64_t deadline_ns; /* absolute CLOCK_MONOTONIC (wp_now_mono_ns); 0: none */
} pool_acquire_options_t;

/* Hand out a ready VM of `template_name`. Never waits for a clone in
 * progress or for another client: it takes the next warm VM (resuming it if
 * paused); on a miss it fails fast or clones one itself within the
 * deadline. opt NULL: clone on a miss, no deadline. */
int pool_acquire(pool_t *pool, const char *template_name, const pool_acquire_options_t *opt,
                 pool_lease_t *out, wp_error_t *err);
/* The part of pool_acquire that never waits, for a caller that must not
 * block (the API answers it on nng's callback thread): a running warm VM,
 * when the journal's fsync is cheap (pool_journal_sync_is_cheap). 1: *out
 * is a lease (counted as a hit, as pool_acquire would); 0: it would have to
 * wait (none running, a paused VM to resume, a clone, a disk fsync, or no
 * such template), nothing was counted: call pool_acquire; -1: error. */
int pool_acquire_nowait(pool_t *pool, const char *template_name, pool_lease_t *out,
                        wp_error_t *err);

typedef struct pool_release_result {
    bool vm_died; /* the VM's process had exited before the release */
} pool_release_result_t;

/* End a lease: the VM is destroyed (it never returns to the pool). The
 * release is journaled before the VM is touched. out may be NULL. */
int pool_release(pool_t *pool, const char *vm_id, const char *token, pool_release_result_t *out,
                 wp_error_t *err);

/* State of one lease, checked against its token (ENOENT, EPERM as release). */
int pool_lease_check(pool_t *pool, const char *vm_id, const char *token, pool_lease_state_t *out,
                     wp_error_t *err);

/* Every lease, without tokens, for `status` after a restart. *out is
 * malloc'd (caller frees), *count entries, ordered by VM id. */
int pool_leases(pool_t *pool, pool_lease_summary_t **out, size_t *count, wp_error_t *err);

/* ---- sizing and status ---- */

/* Resize live. Up: refill clones more. Down: surplus warm VMs are destroyed
 * (never leased ones). An unknown template gets a new pool (its VMs come
 * from the source; a template the source lacks shows as clone failures). */
int pool_set_size(pool_t *pool, const char *template_name, const pool_size_t *size,
                  wp_error_t *err);

/* One entry per template, in creation order; *out malloc'd (caller frees). */
int pool_status(pool_t *pool, pool_template_status_t **out, size_t *count, wp_error_t *err);

/* Wait until pool state changes (a VM became warm, was leased, released,
 * died, a target moved) after generation *gen, or until deadline_ns
 * (absolute monotonic; 0: forever). Returns 1 on change with *gen updated,
 * 0 on timeout, -1 once the pool is closing (pool_close wakes every waiter).
 * Start with *gen = 0 to get the current generation at once. For a `watch`
 * API call and for tests. */
int pool_wait_change(pool_t *pool, uint64_t *gen, int64_t deadline_ns);

#endif
