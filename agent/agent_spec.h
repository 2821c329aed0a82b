/* agent_spec.h - a default OCI runtime spec for a container in a warm VM,
 * like `crun spec`'s, for callers with no bundle of their own (warmpoolctl
 * run). Differences from crun's: no network namespace (the VM is the
 * sandbox and its network is the container's), root writable, args, env
 * and terminal from the caller. root.path is left for agent_share to set.
 * Thread-safe. */
#ifndef AGENT_SPEC_H
#define AGENT_SPEC_H

#include <jansson.h> /* json_t */
#include <stdbool.h> /* bool */

#include "wp_error.h"

#define AGENT_SPEC_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* args: argc >= 1 strings (process.args); env: NULL-terminated extra
 * "NAME=value" strings (may be NULL), after PATH (and TERM=xterm with a
 * terminal); hostname may be NULL ("warmpool"). The caller owns the result
 * (json_decref). */
json_t *agent_spec_default(int argc, char *const *args, char *const *env, bool terminal,
                           const char *hostname, wp_error_t *err);

#endif
