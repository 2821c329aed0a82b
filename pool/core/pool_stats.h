/* pool_stats.h - lock-free counters and latency histograms for metrics and
 * `warmpoolctl status`.
 *
 * Histograms have fixed buckets (upper bounds in milliseconds, the same for
 * every histogram, so Prometheus can aggregate across templates and hosts).
 * Recording is one relaxed atomic increment per field: any thread may record
 * at any time, never blocking. A snapshot is not an atomic cut across
 * buckets (a record racing with it may show in count but not yet in its
 * bucket); that is what a scrape tolerates and what Prometheus clients do.
 *
 * Quantiles are estimated from a snapshot by linear interpolation inside the
 * bucket holding the rank: exact to within one bucket's width, which at the
 * 1 ms mark is 0.5..1 ms. */
#ifndef POOL_STATS_H
#define POOL_STATS_H

#include <stdatomic.h> /* atomic counters */
#include <stddef.h>    /* size_t */
#include <stdint.h>    /* uint64_t */

#include "pool_types.h" /* POOL_HIST_BOUNDS, pool_histogram_snapshot_t */

typedef struct pool_histogram {
    _Atomic uint64_t buckets[POOL_HIST_BOUNDS + 1]; /* not cumulative; last is +Inf */
    _Atomic uint64_t sum_ns;
} pool_histogram_t;

/* The finite upper bounds in ms, ascending; POOL_HIST_BOUNDS of them. */
const double *pool_histogram_bounds_ms(void);

/* Record one duration (negative counts as 0). Any thread, lock-free. */
void pool_histogram_record(pool_histogram_t *h, int64_t ns);

void pool_histogram_snapshot(pool_histogram_t *h, pool_histogram_snapshot_t *out);

/* Estimated q-quantile (0 < q <= 1) in ms; 0 when empty. A rank in the +Inf
 * bucket reports the largest finite bound (the estimate cannot see past it). */
double pool_histogram_quantile_ms(const pool_histogram_snapshot_t *s, double q);

/* Per-template counters; gauges (warm, leased, cloning) live in the pool. */
typedef struct pool_counters {
    _Atomic uint64_t acquire_hits;     /* served from the warm queue */
    _Atomic uint64_t acquire_misses;   /* queue empty: cloned on demand or failed fast */
    _Atomic uint64_t acquire_failures; /* returned an error to the client */
    _Atomic uint64_t clones;           /* clones that succeeded */
    _Atomic uint64_t clone_failures;
    _Atomic uint64_t releases;
    _Atomic uint64_t deaths; /* VM processes that exited on their own */
    pool_histogram_t acquire_latency;
    pool_histogram_t clone_latency;
} pool_counters_t;

static inline void pool_counter_inc(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static inline uint64_t pool_counter_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
