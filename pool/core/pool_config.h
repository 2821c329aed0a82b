/* pool_config.h - warmpoold's configuration: a JSON file, every field optional.
 *
 * The daemon starts with no file at all: pool_config_defaults() gives a
 * usable configuration with no templates (pools are then sized live with
 * `warmpoolctl pool set`). The file format, every key optional:
 *
 *   {
 *     "runtime_dir": "/run/warmpool",             per-VM sockets and logs
 *     "state_dir": "/run/warmpool/state",     the journal
 *     "store_dir": "/var/lib/warmpool/templates", the template store
 *     "memory_dir": "/dev/shm/warmpool",          template memory files
 *     "api_socket": "ipc:///run/warmpool/warmpoold.sock",
 *     "metrics_address": "http://127.0.0.1:9464/metrics",
 *     "refill_concurrency": 2,                    clones in flight, 1..64
 *     "log_level": "warn",                        error|warn|info|debug
 *     "qemu_binary": null,                        null: from PATH
 *     "libvirt_uri": null,                        null: qemu:///system (libvirt templates)
 *     "templates": {
 *       "small": {"target": 3, "min": 0, "max": 16,
 *                 "sizing": "fixed" | "auto", "warm_state": "paused" | "running",
 *                 "hot": 1}
 *     }
 *   }
 *
 * Validation is strict: an unknown key, a wrong type, a relative path, or
 * min <= target <= max violated fails with one sentence naming the field as a
 * path ("templates.small.max: ..."). Duplicate keys are rejected.
 *
 * Ownership: a pool_config_t owns its strings and template array; free it
 * with pool_config_free(). Read-only after load: any thread may read it. */
#ifndef POOL_CONFIG_H
#define POOL_CONFIG_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */

#include "pool_types.h" /* POOL_NAME_MAX, sizing modes, warm states, defaults */
#include "wp_error.h"

#define POOL_TEMPLATES_MAX   64
#define POOL_CONCURRENCY_MAX 64

#define POOL_DEFAULT_RUNTIME_DIR "/run/warmpool"
/* A memory filesystem on purpose: the journal describes VM processes, which
 * do not outlive the host; it must survive the daemon (kill -9), which the
 * page cache does, and a journal that outlived a reboot would only list dead
 * VMs. fsync is still done, so a state_dir on disk stays crash-consistent. */
#define POOL_DEFAULT_STATE_DIR   "/run/warmpool/state"
#define POOL_DEFAULT_STORE_DIR   "/var/lib/warmpool/templates"
#define POOL_DEFAULT_MEMORY_DIR  "/dev/shm/warmpool"
#define POOL_DEFAULT_METRICS     "http://127.0.0.1:9464/metrics"
#define POOL_DEFAULT_CONCURRENCY 2
#define POOL_DEFAULT_HOT         1 /* paused pools: VMs kept resumed ahead of demand */

typedef struct pool_template_config {
    char name[POOL_NAME_MAX + 1];
    unsigned target; /* fixed: the warm count; auto: the starting target */
    unsigned min;
    unsigned max;
    pool_sizing_mode_t sizing;
    pool_warm_state_t warm_state;
    unsigned hot; /* paused pools: warm VMs kept resumed, clock set, ahead of demand */
} pool_template_config_t;

typedef struct pool_config {
    char *runtime_dir;
    char *state_dir;
    char *store_dir;
    char *memory_dir;
    char *api_socket;      /* nng URL, ipc:// */
    char *metrics_address; /* http://host:port/path */
    char *log_level;
    char *qemu_binary; /* NULL: from PATH */
    char *libvirt_uri; /* NULL: "qemu:///system" (libvirt templates) */
    unsigned refill_concurrency;
    /* true ("share_mount": "clone", the default): each clone mounts its 9p
     * share once ready, off the acquire path; false ("first_call"): the
     * first container call of the lease does */
    bool share_mount_at_clone;
    /* true ("warm_up": true, the default): each clone made for a pool
     * creates and deletes a throwaway container before it counts as warm,
     * so that the lease's first container is created several times faster
     * (factory_clone_options_t.warm_up); clones made for a waiting acquire
     * skip it */
    bool warm_up;
    size_t n_templates;
    pool_template_config_t *templates;
} pool_config_t;

/* A configuration with every default and no templates. */
pool_config_t *pool_config_defaults(wp_error_t *err);

/* Parse JSON text; `origin` names the source in errors (a path, "<string>"). */
pool_config_t *pool_config_parse(const char *text, const char *origin, wp_error_t *err);

/* Load a file; path NULL means defaults only. */
pool_config_t *pool_config_load(const char *path, wp_error_t *err);

void pool_config_free(pool_config_t *cfg);

/* The template's entry, or NULL. */
const pool_template_config_t *pool_config_template(const pool_config_t *cfg, const char *name);

/* 0 when name is a valid template name, else -1 with EINVAL naming it. */
int pool_template_name_check(const char *name, wp_error_t *err);

/* Check min <= target <= max <= POOL_TARGET_MAX for template `name`. */
int pool_template_bounds_check(const char *name, unsigned target, unsigned min, unsigned max,
                               wp_error_t *err);

#endif
