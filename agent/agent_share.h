/* agent_share.h - a container's files on the host side of the VM's share
 * (factory_vm_t.share_dir, pool_vm_info_t.shared_dir), which the guest
 * sees at AGENT_SHARE_GUEST_PATH over 9p:
 *
 *   <share>/<id>/rootfs      bind mount of the caller's rootfs directory
 *   <share>/<id>/mounts/<n>  bind mount of the spec's n-th bind mount source
 *
 * Paths a caller names (the rootfs, bind sources) must be absolute, have no
 * "." or ".." component, and resolve (realpath) to themselves or below: a
 * symlink anywhere in them is refused, since it could lead outside what the
 * caller meant to share. Refusals are EINVAL with a sentence naming the
 * path, and change nothing. Mount points are created and mounted through
 * O_NOFOLLOW directory fds, so a guest that renames or plants symlinks in
 * the share (it can write there) cannot redirect a host mount.
 *
 * Needs CAP_SYS_ADMIN in the mount namespace the VM's hypervisor sees.
 * Thread-safe (no shared state); two callers must not use one id at once. */
#ifndef AGENT_SHARE_H
#define AGENT_SHARE_H

#include <jansson.h> /* json_t */
#include <stdbool.h> /* bool */

#include "agent_protocol.h"
#include "wp_error.h"

/* A container or exec id by the protocol's rules (agent_protocol.h). */
bool agent_share_valid_id(const char *id);

/* Check a host path as above; out (PATH_MAX bytes) gets its realpath. */
int agent_share_check_path(const char *what, const char *path, char *out, wp_error_t *err);

/* Create <share>/<id> (it must not exist) and bind rootfs (MS_BIND |
 * MS_REC) at <share>/<id>/rootfs. On failure nothing is left. */
int agent_share_bind_rootfs(const char *share_dir, const char *id, const char *rootfs,
                            wp_error_t *err);

/* Rewrite an OCI spec for the guest: root.path becomes
 * AGENT_SHARE_GUEST_PATH/<id>/rootfs, and each bind mount (type "bind", or
 * option "bind"/"rbind") gets its source bound at <share>/<id>/mounts/<n>
 * (n counts bind mounts from 0; MS_REC for "rbind"; read-only on the host
 * too for "ro") and its source rewritten to that guest path. <share>/<id>
 * must exist (agent_share_bind_rootfs). All sources are checked before
 * anything is mounted; on failure no mount is left and spec is unchanged. */
int agent_share_rewrite_spec(const char *share_dir, const char *id, json_t *spec, wp_error_t *err);

/* Both of the above; on failure nothing is left. */
int agent_share_prepare(const char *share_dir, const char *id, const char *rootfs, json_t *spec,
                        wp_error_t *err);

/* Unmount everything under <share>/<id> (detached: the hypervisor may hold
 * files open) and remove the mount points and directories, never the
 * contents of what was mounted. Idempotent: no <share>/<id> is success. */
int agent_share_remove(const char *share_dir, const char *id, wp_error_t *err);

/* agent_share_remove for every container directory in share_dir (a VM
 * about to be destroyed: nothing of the host may stay mounted in it).
 * Missing share_dir: success. */
int agent_share_clear(const char *share_dir, wp_error_t *err);

#endif
