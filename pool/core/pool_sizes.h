/* pool_sizes.h - pool sizes set live (`warmpoolctl pool set`, the API's
 * set_size) kept across daemon restarts.
 *
 * <state_dir>/sizes.json holds, per template sized live, the size set and
 * the size the config file gave it at that moment (or that it was not in
 * the config). At start the live size wins, unless the config file's size
 * for that template has changed since (the operator edited the config
 * deliberately: the config wins and the entry is dropped), or the template
 * was in the config then and is no longer (removed on purpose). The file is
 * rewritten atomically (write beside, fsync, rename) before a new size
 * takes effect, so a size reported to a client is never lost.
 *
 *   {"version": 1, "templates": {"NAME": {"sizing": "fixed"|"auto",
 *     "target": N, "min": N, "max": N,
 *     "config": {"sizing": ..., "target": N, "min": N, "max": N} | null}}}
 *
 * Not thread-safe: the pool calls these under its tpl_lock. */
#ifndef POOL_SIZES_H
#define POOL_SIZES_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */

#include "pool.h" /* pool_size_t, pool_template_config_t */

#define POOL_SIZES_FILE "sizes.json"

typedef struct pool_size_entry {
    char name[POOL_NAME_MAX + 1];
    pool_size_t size;   /* as set live */
    bool in_config;     /* the template was in the config file when it was set */
    pool_size_t config; /* its size there then (in_config only) */
} pool_size_entry_t;

typedef struct pool_sizes {
    pool_size_entry_t entries[POOL_TEMPLATES_MAX];
    size_t n;
} pool_sizes_t;

/* Parse the file's text; `origin` names it in errors (EBADMSG). */
int pool_sizes_parse(const char *text, const char *origin, pool_sizes_t *out, wp_error_t *err);
/* Read path into *out: a missing file is no entries. */
int pool_sizes_load(const char *path, pool_sizes_t *out, wp_error_t *err);
/* Write *s to path atomically. */
int pool_sizes_save(const char *path, const pool_sizes_t *s, wp_error_t *err);

/* Record `size` for `name`, replacing an earlier entry; cfg is the config
 * file's entry for it, or NULL when it has none. ENOSPC when full. */
int pool_sizes_put(pool_sizes_t *s, const char *name, const pool_size_t *size,
                   const pool_template_config_t *cfg, wp_error_t *err);
/* Remove entry i. */
void pool_sizes_drop(pool_sizes_t *s, size_t i);

/* Whether entry e still applies given the config file's entry for its
 * template (cfg NULL: none): false when that changed since e was set. */
bool pool_sizes_applies(const pool_size_entry_t *e, const pool_template_config_t *cfg);

#endif
