/* pool_status.c - a snapshot of every pool for `status` and /metrics
 * (contract in pool.h). Reads only atomics: it never slows an acquire.
 * Threads: any registered thread. */
#include "pool_internal.h"

#include <errno.h>  /* ENOMEM */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc */

static unsigned gauge(_Atomic int *g)
{
    int v = atomic_load(g);
    return v > 0 ? (unsigned)v : 0; /* a racing pair of updates may dip below 0 briefly */
}

static void snapshot(pool_tpl_t *t, pool_template_status_t *s)
{
    snprintf(s->name, sizeof(s->name), "%s", t->name);
    s->sizing = (pool_sizing_mode_t)atomic_load(&t->sizing);
    s->warm_state = (pool_warm_state_t)atomic_load(&t->warm_state);
    s->target = atomic_load(&t->target);
    s->min = atomic_load(&t->min);
    s->max = atomic_load(&t->max);
    s->warm = gauge(&t->warm);
    s->cloning = gauge(&t->cloning);
    s->leased = gauge(&t->leased);
    s->dead = gauge(&t->dead);
    pool_counters_t *c = &t->stats;
    s->acquire_hits = pool_counter_get(&c->acquire_hits);
    s->acquire_misses = pool_counter_get(&c->acquire_misses);
    s->acquire_failures = pool_counter_get(&c->acquire_failures);
    s->clones = pool_counter_get(&c->clones);
    s->clone_failures = pool_counter_get(&c->clone_failures);
    s->releases = pool_counter_get(&c->releases);
    s->deaths = pool_counter_get(&c->deaths);
    pool_histogram_snapshot(&c->acquire_latency, &s->acquire_latency);
    pool_histogram_snapshot(&c->clone_latency, &s->clone_latency);
    s->acquire_p50_ms = pool_histogram_quantile_ms(&s->acquire_latency, 0.50);
    s->acquire_p99_ms = pool_histogram_quantile_ms(&s->acquire_latency, 0.99);
    s->clone_p50_ms = pool_histogram_quantile_ms(&s->clone_latency, 0.50);
    s->clone_p99_ms = pool_histogram_quantile_ms(&s->clone_latency, 0.99);
    s->demand_per_s = (double)atomic_load(&t->rate_millis) / 1000.0;
}

int pool_status(pool_t *pool, pool_template_status_t **out, size_t *count, wp_error_t *err)
{
    if (pool_call_enter(pool, err) < 0)
        return -1;
    size_t n = atomic_load_explicit(&pool->n_tpls, memory_order_acquire);
    pool_template_status_t *list = calloc(n ? n : 1, sizeof(*list));
    if (list != NULL)
        for (size_t i = 0; i < n; i++)
            snapshot(pool->tpls[i], &list[i]);
    pool_call_leave(pool);
    if (list == NULL)
        return wp_error_errno(err, ENOMEM, "status");
    *out = list;
    *count = n;
    return 0;
}
