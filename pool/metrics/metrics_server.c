/* metrics_server.c - Prometheus text exposition (format 0.0.4) of the
 * pool's status over nng's HTTP server (contract in metrics_server.h).
 *
 * Families are written one after the other, each with its HELP and TYPE
 * line once and then one sample per template, as the format requires
 * (samples of a family must not be interleaved with another family's). */
#include "metrics_server.h"

#include <errno.h>                      /* ENOMEM */
#include <nng/nng.h>                    /* nng_aio */
#include <stddef.h>                     /* offsetof */
#include <nng/supplemental/http/http.h> /* nng_http_* */
#include <stdio.h>                      /* open_memstream */
#include <stdlib.h>                     /* free */
#include <string.h>                     /* strlen */

#include "wp_log.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_server {
    nng_http_server *server;
    nng_http_handler *handler;
    nng_url *url;
    pool_t *pool;
};

/* Template names are [a-z0-9_-] (pool_template_name_check), so label
 * values need no escaping; write them through one place all the same. */
static void label(FILE *f, const char *name)
{
    fputs("template=\"", f);
    for (const char *p = name; *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc('\\', f), fputc(*p, f);
        else if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

typedef unsigned (*gauge_fn)(const pool_template_status_t *s);
typedef uint64_t (*counter_fn)(const pool_template_status_t *s);

#define FIELD_FN(type, fn, field)                                                                  \
    static type fn(const pool_template_status_t *s)                                                \
    {                                                                                              \
        return s->field;                                                                           \
    }
FIELD_FN(unsigned, g_target, target)
FIELD_FN(unsigned, g_min, min)
FIELD_FN(unsigned, g_max, max)
FIELD_FN(uint64_t, c_clones, clones)
FIELD_FN(uint64_t, c_clone_failures, clone_failures)
FIELD_FN(uint64_t, c_releases, releases)
FIELD_FN(uint64_t, c_deaths, deaths)

static void gauge(FILE *f, const pool_template_status_t *st, size_t n, const char *name,
                  const char *help, gauge_fn get)
{
    family(f, name, "gauge", help);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s{", name);
        label(f, st[i].name);
        fprintf(f, "} %u\n", get(&st[i]));
    }
}

static void counter(FILE *f, const pool_template_status_t *st, size_t n, const char *name,
                    const char *help, counter_fn get)
{
    family(f, name, "counter", help);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s{", name);
        label(f, st[i].name);
        fprintf(f, "} %llu\n", (unsigned long long)get(&st[i]));
    }
}

static void vms(FILE *f, const pool_template_status_t *st, size_t n)
{
    family(f, "warmpool_vms", "gauge", "VMs of a template's pool by state.");
    for (size_t i = 0; i < n; i++) {
        const struct {
            const char *state;
            unsigned value;
        } by_state[] = {{"warm", st[i].warm},
                        {"cloning", st[i].cloning},
                        {"leased", st[i].leased},
                        {"dead", st[i].dead}};
        for (size_t k = 0; k < sizeof(by_state) / sizeof(by_state[0]); k++) {
            fputs("warmpool_vms{", f);
            label(f, st[i].name);
            fprintf(f, ",state=\"%s\"} %u\n", by_state[k].state, by_state[k].value);
        }
    }
}

static void acquires(FILE *f, const pool_template_status_t *st, size_t n)
{
    family(f, "warmpool_acquire_total", "counter",
           "Acquires by result: hit (a warm VM), miss (none warm), failure (an error returned).");
    for (size_t i = 0; i < n; i++) {
        const struct {
            const char *result;
            uint64_t value;
        } by_result[] = {{"hit", st[i].acquire_hits},
                         {"miss", st[i].acquire_misses},
                         {"failure", st[i].acquire_failures}};
        for (size_t k = 0; k < 3; k++) {
            fputs("warmpool_acquire_total{", f);
            label(f, st[i].name);
            fprintf(f, ",result=\"%s\"} %llu\n", by_result[k].result,
                    (unsigned long long)by_result[k].value);
        }
    }
}

static void histogram(FILE *f, const pool_template_status_t *st, size_t n, const char *name,
                      const char *help, size_t offset)
{
    family(f, name, "histogram", help);
    const double *bounds = pool_histogram_bounds_ms();
    for (size_t i = 0; i < n; i++) {
        const pool_histogram_snapshot_t *h =
            (const pool_histogram_snapshot_t *)((const char *)&st[i] + offset);
        uint64_t cumulative = 0;
        for (int b = 0; b <= POOL_HIST_BOUNDS; b++) {
            cumulative += h->buckets[b];
            fprintf(f, "%s_bucket{", name);
            label(f, st[i].name);
            if (b < POOL_HIST_BOUNDS)
                fprintf(f, ",le=\"%g\"} %llu\n", bounds[b] / 1000.0,
                        (unsigned long long)cumulative);
            else
                fprintf(f, ",le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
        }
        fprintf(f, "%s_sum{", name);
        label(f, st[i].name);
        fprintf(f, "} %.9f\n%s_count{", (double)h->sum_ns / 1e9, name);
        label(f, st[i].name);
        fprintf(f, "} %llu\n", (unsigned long long)cumulative);
    }
}

char *metrics_render(pool_t *pool, wp_error_t *err)
{
    pool_template_status_t *st = NULL;
    size_t n = 0;
    if (pool_status(pool, &st, &n, err) < 0)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        free(st);
        wp_error_errno(err, ENOMEM, "render metrics");
        return NULL;
    }
    vms(f, st, n);
    gauge(f, st, n, "warmpool_pool_target", "Warm VMs the pool aims to keep.", g_target);
    gauge(f, st, n, "warmpool_pool_min", "Lower bound of the pool's target.", g_min);
    gauge(f, st, n, "warmpool_pool_max", "Upper bound of the pool's target.", g_max);
    acquires(f, st, n);
    counter(f, st, n, "warmpool_clones_total", "Clones that became ready.", c_clones);
    counter(f, st, n, "warmpool_clone_failures_total", "Clones that failed.", c_clone_failures);
    counter(f, st, n, "warmpool_releases_total", "Leases released (their VMs destroyed).",
            c_releases);
    counter(f, st, n, "warmpool_vm_deaths_total", "VM processes that exited on their own.",
            c_deaths);
    histogram(f, st, n, "warmpool_acquire_latency_seconds",
              "Time in the pool's acquire, hit or miss.",
              offsetof(pool_template_status_t, acquire_latency));
    histogram(f, st, n, "warmpool_clone_latency_seconds", "Time to clone a VM until it is ready.",
              offsetof(pool_template_status_t, clone_latency));
    free(st);
    if (fclose(f) != 0 || text == NULL) {
        free(text);
        wp_error_errno(err, ENOMEM, "render metrics");
        return NULL;
    }
    return text;
}

/* The GET handler: runs on nng's HTTP threads. */
static void serve(nng_aio *aio)
{
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    metrics_server_t *m = nng_http_handler_get_data(h);
    nng_http_res *res = NULL;
    if (nng_http_res_alloc(&res) != 0) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    wp_error_t err = {0};
    char *text = metrics_render(m->pool, &err);
    int rv;
    if (text != NULL) {
        rv = nng_http_res_set_header(res, "Content-Type", CONTENT_TYPE);
        if (rv == 0)
            rv = nng_http_res_copy_data(res, text, strlen(text));
    } else {
        wp_log_warn("metrics: %s", err.msg);
        rv = nng_http_res_set_status(res, NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR);
        if (rv == 0)
            rv = nng_http_res_copy_data(res, err.msg, strlen(err.msg));
    }
    free(text);
    if (rv != 0) {
        nng_http_res_free(res);
        nng_aio_finish(aio, rv);
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

metrics_server_t *metrics_server_start(pool_t *pool, const char *url, wp_error_t *err)
{
    metrics_server_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        wp_error_errno(err, ENOMEM, "metrics server");
        return NULL;
    }
    m->pool = pool;
    int rv = nng_url_parse(&m->url, url);
    if (rv != 0 || strcmp(m->url->u_scheme, "http") != 0 || m->url->u_port == NULL ||
        m->url->u_port[0] == '\0' || m->url->u_path[0] != '/') {
        wp_error_set(err, EINVAL, "metrics address '%s' is not an http://HOST:PORT/PATH URL", url);
        metrics_server_stop(m);
        return NULL;
    }
    const char *step = "serve";
    if ((rv = nng_http_server_hold(&m->server, m->url)) != 0)
        step = "open";
    else if ((rv = nng_http_handler_alloc(&m->handler, m->url->u_path, serve)) != 0 ||
             (rv = nng_http_handler_set_data(m->handler, m, NULL)) != 0)
        step = "handler";
    else if ((rv = nng_http_server_add_handler(m->server, m->handler)) != 0) {
        nng_http_handler_free(m->handler);
        m->handler = NULL;
        step = "register path";
    } else {
        m->handler = NULL; /* the server owns it now */
        rv = nng_http_server_start(m->server);
    }
    if (rv != 0) {
        wp_error_set(err, rv == NNG_EADDRINUSE ? EADDRINUSE : EIO, "metrics on '%s': %s: %s", url,
                     step, nng_strerror(rv));
        metrics_server_stop(m);
        return NULL;
    }
    return m;
}

void metrics_server_stop(metrics_server_t *m)
{
    if (m == NULL)
        return;
    if (m->handler)
        nng_http_handler_free(m->handler);
    if (m->server) {
        nng_http_server_stop(m->server);
        nng_http_server_release(m->server);
    }
    if (m->url)
        nng_url_free(m->url);
    free(m);
}
