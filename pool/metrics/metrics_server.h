/* metrics_server.h - Prometheus text exposition of the pool's metrics on an
 * HTTP endpoint (nng's HTTP server): per-template warm / leased / cloning
 * gauges and target, acquire hits and misses, clone and clone-failure
 * counters, acquire and clone latency histograms. Rendered from pool_status()
 * on every scrape. Start/stop from the daemon's main thread. */
#ifndef METRICS_SERVER_H
#define METRICS_SERVER_H

#include "pool.h"
#include "wp_error.h"

typedef struct metrics_server metrics_server_t;

/* url: "http://127.0.0.1:9464/metrics" (address, port and path). */
metrics_server_t *metrics_server_start(pool_t *pool, const char *url, wp_error_t *err);
void metrics_server_stop(metrics_server_t *m);

/* The exposition text for the current status (malloc'd; for tests). */
char *metrics_render(pool_t *pool, wp_error_t *err);

#endif
