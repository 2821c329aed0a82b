/* shim_rootfs.h - the rootfs mounts containerd passes in Create, mounted on
 * the host at <bundle>/rootfs (then bound into the VM's share by
 * agent_share), and unmounted at Delete or by the `delete` command.
 *
 * Types: "overlay" (options lowerdir=, upperdir=, workdir=, ...: passed to
 * the kernel as its data), "bind" / "rbind" and anything with a "bind" or
 * "rbind" option (a bind mount, "ro" remounted read-only), or another
 * filesystem type with its options as data. Several mounts stack on the
 * same target in order, as containerd's mount.All does. Needs
 * CAP_SYS_ADMIN. */
#ifndef SHIM_ROOTFS_H
#define SHIM_ROOTFS_H

#include <stddef.h> /* size_t */

#include "wp_error.h"

typedef struct shim_mount {
    const char *type, *source;
    char *const *options;
    size_t n_options;
} shim_mount_t;

/* Mount each of mounts (n may be 0: nothing to do) on target. On failure
 * what was mounted is unmounted again. */
int shim_rootfs_mount(const shim_mount_t *mounts, size_t n, const char *target, wp_error_t *err);
/* Unmount everything stacked on target (lazily: a VM's 9p server may still
 * hold a file). Nothing mounted there is success. */
int shim_rootfs_unmount(const char *target, wp_error_t *err);

#endif
