/* shim_options.h - the runtime options containerd hands a task's Create
 * (CreateTaskRequest.options, an Any): for a runtime other than runc,
 * containerd 1.6's CRI plugin sends runtimeoptions.v1.Options built from the
 * runtime's `options` table in config.toml, and `ctr run
 * --runtime-config-path FILE` sends the same type. Its config_path names the
 * shim's configuration for that runtime (as Kata's ConfigPath does), so one
 * shim binary can serve several runtimes (e.g. one per template):
 *
 *   [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.warmpool-big]
 *     runtime_type = "io.containerd.warmpool.v2"
 *   [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.warmpool-big.options]
 *     ConfigPath = "/etc/warmpool/shim-big.json"
 *
 * Pure; thread-safe. */
#ifndef SHIM_OPTIONS_H
#define SHIM_OPTIONS_H

#include <stddef.h> /* size_t */

#include "shim_task.pb-c.h" /* Containerd__Task__V2__Any */
#include "wp_error.h"

#define SHIM_OPTIONS_TYPE "runtimeoptions.v1.Options"

/* The config_path in opts into out: 1 when there is one, 0 when opts is
 * NULL, of another type (runc's, say: ignored) or names no path. EINVAL:
 * opts claims the type but does not decode, or the path is not absolute;
 * ENAMETOOLONG: it does not fit out. */
int shim_options_config_path(const Containerd__Task__V2__Any *opts, char *out, size_t len,
                             wp_error_t *err);

#endif
