/* shim_config.h - the shim's configuration: a JSON file at
 * SHIM_CONFIG_PATH (or the file $WARMPOOL_SHIM_CONFIG names), every key
 * optional; a missing default file means the defaults. Unknown keys and
 * wrong types are errors naming the key (a typo must not pass silently).
 *
 *   pool_socket        warmpoold's API socket (empty: the API client's default,
 *                      POOL_DEFAULT_API_SOCKET)
 *   template           the template for sandboxes that name none (annotation
 *                      SHIM_TEMPLATE_ANNOTATION on the sandbox's spec wins)
 *   acquire_timeout_s  how long a pool miss may wait for a clone (300)
 *   socket_dir         where shims listen (SHIM_DEFAULT_SOCKET_DIR)
 *   vm_source          where a sandbox's VM comes from: "pool" (default: a
 *                      lease from warmpoold), "clone" (a clone of its own,
 *                      no warmpoold: `warmpoolctl clone --keep`) or "cold"
 *                      (a cold boot, the baseline: `warmpoolctl clone
 *                      --keep --cold`); the VM is destroyed with `warmpoolctl
 *                      vm destroy`
 *   warmpoolctl        the warmpoolctl binary for "clone"/"cold" (default:
 *                      "warmpoolctl" on PATH)
 *   warmpoolctl_args   its global options, e.g. ["--store", DIR,
 *                      "--runtime-dir", DIR, "--memory-dir", DIR] (at most
 *                      SHIM_CTL_ARGS_MAX)
 *
 * A sandbox whose runtime options name a config file (ConfigPath, see
 * shim_options.h) takes that file instead, for all it serves. */
#ifndef SHIM_CONFIG_H
#define SHIM_CONFIG_H

#include <limits.h>  /* PATH_MAX */
#include <stdbool.h> /* bool */

#include "wp_error.h"

#define SHIM_CONFIG_PATH         "/etc/warmpool/shim.json"
#define SHIM_CONFIG_ENV          "WARMPOOL_SHIM_CONFIG"
#define SHIM_TEMPLATE_ANNOTATION "io.warmpool.template"
#define SHIM_DEFAULT_SOCKET_DIR  "/run/containerd/s"
#define SHIM_DEFAULT_TEMPLATE    "default"

#define SHIM_CTL_ARGS_MAX 16

typedef enum shim_vm_source {
    SHIM_VM_POOL = 0, /* a lease from warmpoold */
    SHIM_VM_CLONE,    /* warmpoolctl clone --keep */
    SHIM_VM_COLD,     /* warmpoolctl clone --keep --cold */
} shim_vm_source_t;

typedef struct shim_config {
    char pool_socket[PATH_MAX];
    shim_vm_source_t vm_source;
    char warmpoolctl[PATH_MAX];
    char ctl_args[SHIM_CTL_ARGS_MAX][1024];
    size_t n_ctl_args;
    char template_name[128];
    int acquire_timeout_s;
    char socket_dir[PATH_MAX];
} shim_config_t;

/* Defaults, then the file. */
int shim_config_load(shim_config_t *cfg, wp_error_t *err);
/* Defaults, then the file at path, which must exist (a runtime's
 * ConfigPath option: shim_options.h). */
int shim_config_load_file(shim_config_t *cfg, const char *path, wp_error_t *err);

#endif
