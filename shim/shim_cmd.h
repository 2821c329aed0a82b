/* shim_cmd.h - the shim binary's commands, as containerd runs them
 * (../shared/specs/containerd-shim-v2.md, "Lifecycle"):
 *
 *   containerd-shim-warmpool-v2 -namespace NS -address ADDR
 *       -publish-binary BIN -id ID [-bundle DIR] [-debug] start|delete
 *
 * Flags take Go's forms (-flag value, -flag=value, --flag). */
#ifndef SHIM_CMD_H
#define SHIM_CMD_H

#include <stdbool.h> /* bool */

#include "shim_config.h"

typedef struct shim_args {
    const char *ns, *address, *publish_binary, *id, *bundle;
    bool debug;
    const char *command; /* "start", "delete" */
} shim_args_t;

/* Parse argv; on a usage error, why (len bytes) says what is wrong. */
int shim_args_parse(int argc, char **argv, shim_args_t *a, char *why, size_t len);

/* start: print the serving shim's address (starting it unless the sandbox
 * has one) and exit; the server runs on in a child of its own session.
 * Returns the exit status. */
int shim_cmd_start(const shim_args_t *a, const shim_config_t *cfg);
/* delete: clean up after a shim that died; stdout gets a DeleteResponse. */
int shim_cmd_delete(const shim_args_t *a, const shim_config_t *cfg);

/* The socket a sandbox's shim listens on: <socket_dir>/<sha256 hex of
 * address, namespace and sandbox id> (out: PATH_MAX bytes). */
int shim_socket_path(const shim_config_t *cfg, const char *address, const char *ns,
                     const char *sandbox_id, char *out, wp_error_t *err);

/* True when a shim answers on the socket at path. */
bool shim_listens(const char *path);

/* Print "fmt...\n" on stderr; returns the commands' failure status, 1. */
int shim_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
