/* hv_share.c - a VM's shared directory as a mount point of its own, and
 * the mounts under a runtime directory undone before it is removed.
 *
 * Why a mount point: the host puts each container's rootfs under the share
 * with a bind mount made after the hypervisor started. libvirt runs QEMU in
 * a mount namespace of its own (a slave copy of the host's, made at domain
 * start), and on a host whose mounts are private (no systemd, as on these
 * machines) nothing mounted later reaches it: the guest saw an empty
 * rootfs. A share that is itself a shared mount before QEMU starts is a
 * peer of its copy in QEMU's namespace, so every later bind under it
 * appears there too. The direct QEMU backend shares the host's namespace
 * and does not need it; both do the same so that a share behaves alike. */
#include "hv_backend.h"

#include <errno.h>     /* errno */
#include <stdio.h>     /* fopen */
#include <stdlib.h>    /* qsort */
#include <string.h>    /* strncmp */
#include <sys/mount.h> /* mount, umount2 */

#include "wp_fs.h"
#include "wp_log.h"

int hv_share_dir_create(const char *share, wp_error_t *err)
{
    if (wp_mkdir_p(share, 0700, err) < 0)
        return -1;
    if (mount(share, share, NULL, MS_BIND, NULL) < 0 ||
        mount(NULL, share, NULL, MS_SHARED, NULL) < 0) {
        /* without CAP_SYS_ADMIN: a plain directory; containers then only
         * work with a hypervisor in our own mount namespace */
        wp_log_info("VM share '%s': not a shared mount point (%s): container mounts made "
                    "later will not reach a hypervisor in another mount namespace",
                    share, strerror(errno));
        umount2(share, MNT_DETACH);
    }
    return 0;
}

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] && p[3]) {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

static int longest_first(const void *a, const void *b)
{
    return (int)(strlen(*(char *const *)b) - strlen(*(char *const *)a));
}

int hv_mounts_detach_under(const char *dir)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return 0;
    size_t dlen = strlen(dir);
    char *found[256];
    size_t n = 0;
    char line[4096];
    while (n < sizeof(found) / sizeof(found[0]) && fgets(line, sizeof(line), f) != NULL) {
        /* id parent major:minor root mount-point ... */
        char point[4096];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
            continue;
        unescape(point);
        if (strncmp(point, dir, dlen) == 0 && point[dlen] == '/')
            found[n++] = strdup(point);
    }
    fclose(f);
    /* deepest first; detached: QEMU may still hold files open in them */
    qsort(found, n, sizeof(found[0]), longest_first);
    int detached = 0;
    for (size_t i = 0; i < n; i++) {
        if (found[i] != NULL && umount2(found[i], MNT_DETACH) == 0)
            detached++;
        free(found[i]);
    }
    return detached;
}
