/* lv_kvm.h - can the user libvirt runs QEMU as open /dev/kvm?
 *
 * libvirt (9.0) probes QEMU's capabilities as root, then trusts its cached
 * copy only while the user it runs QEMU as (qemu.conf `user` and `group`;
 * Debian: libvirt-qemu) can open /dev/kvm. When that user cannot, libvirtd
 * finds the cache stale at every start and re-probes QEMU (~60 s on these
 * machines) before every domain. A host without udev leaves /dev/kvm
 * root:root 0600: exactly that. The backend checks when it opens and warns
 * once, naming the fix; it never changes the host itself
 * (deploy/host/kvm-device.sh does, as a packaged install's udev rule would).
 *
 * Internal to the libvirt backend and its tests; any thread. */
#ifndef LV_KVM_H
#define LV_KVM_H

#include <stdbool.h>   /* bool */
#include <stddef.h>    /* size_t */
#include <sys/types.h> /* mode_t, uid_t, gid_t */

#define LV_KVM_DEVICE    "/dev/kvm"
#define LV_QEMU_CONF     "/etc/libvirt/qemu.conf"
#define LV_QEMU_USER_DEF "libvirt-qemu" /* Debian's build of libvirt */

/* Whether a process running as uid with `groups` may open a node owned by
 * node_uid:node_gid with `mode` for reading and writing, by the mode bits
 * (as access(2) decides for a node without ACLs); uid 0 always may. */
bool lv_kvm_mode_allows(mode_t mode, uid_t node_uid, gid_t node_gid, uid_t uid, const gid_t *groups,
                        size_t ngroups);

/* The QEMU user and group set in qemu.conf's text: the last uncommented
 * `user = "..."` and `group = "..."`; each left as it was where absent. */
void lv_qemu_conf_ids(const char *conf_text, char *user, size_t user_len, char *group,
                      size_t group_len);

/* 1 with a one-line warning in msg when `device` exists and the QEMU user
 * named by the qemu.conf at conf_path (missing file: libvirt's defaults)
 * cannot open it for reading and writing; 0 when it can, or when there is
 * nothing to check (no device, no such user). */
int lv_kvm_check(const char *device, const char *conf_path, char *msg, size_t len);

#endif
