/* shim_rootfs.c - containerd's rootfs mounts on the host (shim_rootfs.h). */
#include <errno.h>     /* errno */
#include <stdbool.h>   /* bool */
#include <stdio.h>     /* snprintf */
#include <string.h>    /* strcmp */
#include <sys/mount.h> /* mount */

#include "shim_rootfs.h"

#define MOUNT_DATA_MAX 4096

typedef struct flag_option {
    const char *name;
    unsigned long set, clear;
} flag_option_t;

/* The options that are mount flags, not filesystem data. */
static const flag_option_t FLAGS[] = {
    {"ro", MS_RDONLY, 0},         {"rw", 0, MS_RDONLY},   {"nosuid", MS_NOSUID, 0},
    {"suid", 0, MS_NOSUID},       {"nodev", MS_NODEV, 0}, {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},     {"exec", 0, MS_NOEXEC}, {"noatime", MS_NOATIME, 0},
    {"relatime", MS_RELATIME, 0}, {"bind", MS_BIND, 0},   {"rbind", MS_BIND | MS_REC, 0},
};

static int mount_one(const shim_mount_t *m, const char *target, wp_error_t *err)
{
    unsigned long flags = 0;
    char data[MOUNT_DATA_MAX] = "";
    size_t used = 0;
    for (size_t i = 0; i < m->n_options; i++) {
        const char *o = m->options[i];
        bool is_flag = false;
        for (size_t k = 0; k < sizeof(FLAGS) / sizeof(FLAGS[0]); k++)
            if (strcmp(o, FLAGS[k].name) == 0) {
                flags = (flags | FLAGS[k].set) & ~FLAGS[k].clear;
                is_flag = true;
            }
        if (is_flag)
            continue;
        int n = snprintf(data + used, sizeof(data) - used, "%s%s", used ? "," : "", o);
        if (n < 0 || (size_t)n >= sizeof(data) - used)
            return wp_error_set(err, E2BIG, "mount options of '%s' are over %d bytes", m->source,
                                MOUNT_DATA_MAX);
        used += (size_t)n;
    }
    if (strcmp(m->type, "bind") == 0)
        flags |= MS_BIND;
    else if (strcmp(m->type, "rbind") == 0)
        flags |= MS_BIND | MS_REC;
    if (flags & MS_BIND) {
        if (mount(m->source, target, NULL, flags & (MS_BIND | MS_REC), NULL) < 0)
            return wp_error_errno(err, errno, "bind '%s' on '%s'", m->source, target);
        /* a bind takes no other flag until it is remounted */
        unsigned long rest = flags & ~(MS_BIND | MS_REC);
        if (rest && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | rest, NULL) < 0) {
            int e = errno;
            umount2(target, MNT_DETACH);
            return wp_error_errno(err, e, "remount '%s' with its options", target);
        }
        return 0;
    }
    if (mount(m->source, target, m->type, flags, data) < 0)
        return wp_error_errno(err, errno, "mount %s '%s' on '%s' (options '%s')", m->type,
                              m->source, target, data);
    return 0;
}

int shim_rootfs_mount(const shim_mount_t *mounts, size_t n, const char *target, wp_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        if (mount_one(&mounts[i], target, err) < 0) {
            while (i-- > 0)
                umount2(target, MNT_DETACH);
            return wp_error_wrap(err, "rootfs");
        }
    }
    return 0;
}

int shim_rootfs_unmount(const char *target, wp_error_t *err)
{
    /* stacked mounts come off one at a time; EINVAL: nothing (more) is mounted */
    for (int i = 0; i < 64; i++) {
        if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
            continue;
        if (errno == EINVAL || errno == ENOENT)
            return 0;
        return wp_error_errno(err, errno, "unmount '%s'", target);
    }
    return wp_error_set(err, EBUSY, "'%s' still has mounts after 64 unmounts", target);
}
