/* pool_tpl.c - the per-template records: find, create, and live size
 * changes (pool_set_size, pool.h), which are kept in the sizes file
 * (pool_sizes.h) and restored at open. */
#include "pool_internal.h"

#include <errno.h>  /* ENOSPC, ENOMEM */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc */
#include <string.h> /* strcmp */

#include "wp_log.h"

pool_tpl_t *pool_tpl_find(pool_t *pool, const char *name)
{
    size_t n = atomic_load_explicit(&pool->n_tpls, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (strcmp(pool->tpls[i]->name, name) == 0)
            return pool->tpls[i];
    return NULL;
}

static void tpl_set_size(pool_tpl_t *t, pool_sizing_mode_t sizing, unsigned target, unsigned min,
                         unsigned max)
{
    atomic_store(&t->min, min);
    atomic_store(&t->max, max);
    atomic_store(&t->sizing, (int)sizing);
    atomic_store(&t->target, target);
    if (sizing == POOL_SIZING_AUTO)
        atomic_store(&t->sizing_reset, true);
}

pool_tpl_t *pool_tpl_get(pool_t *pool, const pool_template_config_t *defaults, wp_error_t *err)
{
    pthread_mutex_lock(&pool->tpl_lock);
    pool_tpl_t *t = pool_tpl_find(pool, defaults->name);
    size_t n = atomic_load(&pool->n_tpls);
    if (t == NULL && n == POOL_TEMPLATES_MAX) {
        pthread_mutex_unlock(&pool->tpl_lock);
        wp_error_set(err, ENOSPC, "template '%s': at most %d pools", defaults->name,
                     POOL_TEMPLATES_MAX);
        return NULL;
    }
    if (t == NULL && (t = calloc(1, sizeof(*t))) != NULL) {
        snprintf(t->name, sizeof(t->name), "%s", defaults->name);
        cds_wfcq_init(&t->warm_head, &t->warm_tail);
        cds_wfcq_init(&t->hot_head, &t->hot_tail);
        atomic_store(&t->warm_state, (int)defaults->warm_state);
        atomic_store(&t->hot_target, defaults->hot);
        tpl_set_size(t, defaults->sizing, defaults->target, defaults->min, defaults->max);
        pool_sizing_init(&t->sizing_state, &pool->sizing, defaults->target);
        pool->tpls[n] = t;
        atomic_store_explicit(&pool->n_tpls, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&pool->tpl_lock);
    if (t == NULL)
        wp_error_errno(err, ENOMEM, "template '%s'", defaults->name);
    return t;
}

static const pool_template_config_t *config_tpl(const pool_t *pool, const char *name)
{
    for (size_t i = 0; i < pool->n_config_tpls; i++)
        if (strcmp(pool->config_tpls[i].name, name) == 0)
            return &pool->config_tpls[i];
    return NULL;
}

/* Under tpl_lock: record the size in the sizes file before it takes
 * effect (a size a client was told about survives a restart). On failure
 * the in-memory record is as before. */
static int sizes_record(pool_t *pool, const char *name, const pool_size_t *size, wp_error_t *err)
{
    pool_sizes_t before = *pool->sizes;
    if (pool_sizes_put(pool->sizes, name, size, config_tpl(pool, name), err) < 0 ||
        pool_sizes_save(pool->sizes_path, pool->sizes, err) < 0) {
        *pool->sizes = before;
        return -1;
    }
    return 0;
}

static pool_template_config_t size_defaults(const char *name, const pool_size_t *size)
{
    pool_template_config_t d = {.target = size->target,
                                .min = size->min,
                                .max = size->max,
                                .sizing = size->sizing,
                                .hot = POOL_DEFAULT_HOT};
    snprintf(d.name, sizeof(d.name), "%s", name);
    return d;
}

int pool_set_size(pool_t *pool, const char *name, const pool_size_t *size, wp_error_t *err)
{
    if (pool_template_name_check(name, err) < 0 ||
        pool_template_bounds_check(name, size->target, size->min, size->max, err) < 0)
        return -1;
    if (pool_call_enter(pool, err) < 0)
        return -1;
    pool_template_config_t defaults = size_defaults(name, size);
    pool_tpl_t *t = pool_tpl_get(pool, &defaults, err);
    int ret = t != NULL ? 0 : -1;
    if (t != NULL) {
        pthread_mutex_lock(&pool->tpl_lock);
        ret = sizes_record(pool, name, size, err);
        if (ret == 0)
            tpl_set_size(t, size->sizing, size->target, size->min, size->max);
        pthread_mutex_unlock(&pool->tpl_lock);
    }
    if (ret == 0) {
        wp_log_info("pool '%s': sizing %s, target %u, min %u, max %u", name,
                    pool_sizing_mode_name(size->sizing), size->target, size->min, size->max);
        pool_kick_refill(pool);
        pool_notify(pool);
    }
    pool_call_leave(pool);
    return ret;
}

int pool_tpl_restore_sizes(pool_t *pool, const char *state_dir, wp_error_t *err)
{
    snprintf(pool->sizes_path, sizeof(pool->sizes_path), "%s/%s", state_dir, POOL_SIZES_FILE);
    if (pool_sizes_load(pool->sizes_path, pool->sizes, err) < 0)
        return wp_error_wrap(err, "pool sizes (remove the file to start with the configured "
                                  "sizes)");
    bool dropped = false;
    for (size_t i = 0; i < pool->sizes->n;) {
        const pool_size_entry_t *e = &pool->sizes->entries[i];
        const pool_template_config_t *cfg = config_tpl(pool, e->name);
        wp_error_t bad = {0};
        if (!pool_sizes_applies(e, cfg) || pool_template_name_check(e->name, &bad) < 0 ||
            pool_template_bounds_check(e->name, e->size.target, e->size.min, e->size.max, &bad) <
                0) {
            wp_log_info("pool '%s': the size set live no longer applies (%s); using the "
                        "configured one",
                        e->name, bad.code ? bad.msg : "the config file changed it since");
            pool_sizes_drop(pool->sizes, i);
            dropped = true;
            continue;
        }
        pool_template_config_t d = size_defaults(e->name, &e->size);
        if (cfg != NULL) {
            d.warm_state = cfg->warm_state;
            d.hot = cfg->hot;
        }
        pool_tpl_t *t = pool_tpl_get(pool, &d, err);
        if (t == NULL)
            return -1;
        tpl_set_size(t, e->size.sizing, e->size.target, e->size.min, e->size.max);
        pool_sizing_init(&t->sizing_state, &pool->sizing, e->size.target);
        wp_log_info("pool '%s': sizing %s, target %u (set live before the restart)", e->name,
                    pool_sizing_mode_name(e->size.sizing), e->size.target);
        i++;
    }
    if (dropped && pool_sizes_save(pool->sizes_path, pool->sizes, err) < 0)
        return -1;
    return 0;
}
