/* pool_harness.h - a pool over the fake source in a temporary state
 * directory, and WAIT_UNTIL for conditions the pool reaches in the
 * background (woken by pool_wait_change, never by sleeping). Test-only. */
#ifndef POOL_HARNESS_H
#define POOL_HARNESS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_source.h"
#include "pool.h"
#include "wp_fs.h"
#include "wp_time.h"

typedef struct harness {
    fake_source_t *fs;
    pool_t *pool;
    pool_config_t *cfg;
    pool_recovery_t recovery;
    int64_t refill_quiet_ns, refill_hold_max_ns; /* pool_options_t; 0: defaults */
    char dir[64];
} harness_t;

/* Disk and memory filesystems for the state directory: the journal's
 * fsync is cheap only on the second (pool_journal_sync_is_cheap). */
#define HARNESS_DISK "/tmp"
#define HARNESS_MEM  "/dev/shm"

/* Open and start a pool with its state under base; `templates` is the JSON
 * object of the config's "templates" key; the refill's burst hold as in
 * pool_options_t (0, 0: the defaults). */
static inline void harness_open_hold(harness_t *h, const char *base, const char *templates,
                                     unsigned concurrency, int tick_ms, int64_t quiet_ns,
                                     int64_t hold_max_ns)
{
    memset(h, 0, sizeof(*h));
    h->refill_quiet_ns = quiet_ns;
    h->refill_hold_max_ns = hold_max_ns;
    snprintf(h->dir, sizeof(h->dir), "%s/wp-pool-test-XXXXXX", base);
    cr_assert_not_null(mkdtemp(h->dir));
    char json[2048];
    snprintf(json, sizeof(json),
             "{\"state_dir\": \"%s/state\", \"refill_concurrency\": %u, \"templates\": %s}", h->dir,
             concurrency, templates);
    wp_error_t err = {0};
    h->cfg = pool_config_parse(json, "<test>", &err);
    cr_assert_not_null(h->cfg, "%s", err.msg);
    h->fs = fake_source_new();
    pool_options_t opt = {.config = h->cfg,
                          .source = fake_source_as_source(h->fs),
                          .sizing_tick_ms = tick_ms,
                          .refill_quiet_ns = quiet_ns,
                          .refill_hold_max_ns = hold_max_ns};
    h->pool = pool_open(&opt, &h->recovery, &err);
    cr_assert_not_null(h->pool, "%s", err.msg);
    cr_assert_eq(pool_start(h->pool, &err), 0, "%s", err.msg);
}

static inline void harness_open_at(harness_t *h, const char *base, const char *templates,
                                   unsigned concurrency, int tick_ms)
{
    harness_open_hold(h, base, templates, concurrency, tick_ms, 0, 0);
}

static inline void harness_open_opts(harness_t *h, const char *templates, unsigned concurrency,
                                     int tick_ms)
{
    harness_open_at(h, HARNESS_DISK, templates, concurrency, tick_ms);
}

static inline void harness_open(harness_t *h, const char *templates)
{
    harness_open_opts(h, templates, 2, 0);
}

/* Stop the pool as SIGTERM would and start a new one on the same state
 * directory and the same (fake) host. */
static inline void harness_restart(harness_t *h)
{
    pool_free(h->pool);
    wp_error_t err = {0};
    pool_options_t opt = {.config = h->cfg,
                          .source = fake_source_as_source(h->fs),
                          .refill_quiet_ns = h->refill_quiet_ns,
                          .refill_hold_max_ns = h->refill_hold_max_ns};
    h->pool = pool_open(&opt, &h->recovery, &err);
    cr_assert_not_null(h->pool, "%s", err.msg);
    cr_assert_eq(pool_start(h->pool, &err), 0, "%s", err.msg);
}

static inline void harness_close(harness_t *h)
{
    pool_free(h->pool);
    fake_source_free(h->fs);
    pool_config_free(h->cfg);
    wp_rm_tree(h->dir, NULL);
}

static inline pool_template_status_t harness_status(pool_t *pool, const char *name)
{
    pool_template_status_t *list = NULL, found = {0};
    size_t n = 0;
    wp_error_t err = {0};
    cr_assert_eq(pool_status(pool, &list, &n, &err), 0, "%s", err.msg);
    bool seen = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0) {
            found = list[i];
            seen = true;
        }
    free(list);
    cr_assert(seen, "no template '%s' in status", name);
    return found;
}

/* Evaluate expr after every pool state change until it holds or timeout_ms
 * passes; true if it held. */
#define WAIT_UNTIL(pool, timeout_ms, expr)                                                         \
    ({                                                                                             \
        uint64_t gen_ = 0;                                                                         \
        int64_t dl_ = wp_now_mono_ns() + (int64_t)(timeout_ms)*1000000;                            \
        bool ok_ = false;                                                                          \
        pool_wait_change((pool), &gen_, 0);                                                        \
        for (;;) {                                                                                 \
            if ((expr)) {                                                                          \
                ok_ = true;                                                                        \
                break;                                                                             \
            }                                                                                      \
            if (wp_now_mono_ns() >= dl_)                                                           \
                break;                                                                             \
            pool_wait_change((pool), &gen_, dl_);                                                  \
        }                                                                                          \
        ok_;                                                                                       \
    })

#define STATUS(h, name) harness_status((h)->pool, (name))

#endif
