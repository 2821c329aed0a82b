/* pool_stats.c - fixed-bucket latency histograms (see pool_stats.h). */
#include "pool_stats.h"

#include <string.h> /* memset */

/* From 50 us (a warm hit with nothing to resume) to 30 s (a clone on a
 * loaded host, or a cold boot), roughly 1-2.5-5 per decade. */
static const double bounds_ms[POOL_HIST_BOUNDS] = {
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
};

const double *pool_histogram_bounds_ms(void)
{
    return bounds_ms;
}

void pool_histogram_record(pool_histogram_t *h, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    double ms = (double)ns / 1e6;
    size_t i = 0;
    while (i < POOL_HIST_BOUNDS && ms > bounds_ms[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)ns, memory_order_relaxed);
}

void pool_histogram_snapshot(pool_histogram_t *h, pool_histogram_snapshot_t *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i <= POOL_HIST_BOUNDS; i++) {
        out->buckets[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        out->count += out->buckets[i];
    }
    out->sum_ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

double pool_histogram_quantile_ms(const pool_histogram_snapshot_t *s, double q)
{
    if (s->count == 0)
        return 0.0;
    if (q <= 0.0)
        q = 1e-9;
    if (q > 1.0)
        q = 1.0;
    double rank = q * (double)s->count;
    double seen = 0.0;
    for (size_t i = 0; i < POOL_HIST_BOUNDS; i++) {
        double in_bucket = (double)s->buckets[i];
        if (in_bucket > 0.0 && seen + in_bucket >= rank) {
            double lo = i == 0 ? 0.0 : bounds_ms[i - 1];
            return lo + (bounds_ms[i] - lo) * ((rank - seen) / in_bucket);
        }
        seen += in_bucket;
    }
    return bounds_ms[POOL_HIST_BOUNDS - 1];
}
