/* agent_share.c - see agent_share.h. */
#include "agent_share.h"

#include <dirent.h>    /* opendir */
#include <errno.h>     /* EINVAL */
#include <fcntl.h>     /* openat, O_PATH */
#include <limits.h>    /* PATH_MAX */
#include <stdio.h>     /* snprintf */
#include <stdlib.h>    /* realpath */
#include <string.h>    /* strcmp */
#include <sys/mount.h> /* mount, umount2 */
#include <sys/stat.h>  /* mkdirat, fstat */
#include <unistd.h>    /* unlinkat */

#include "agent_protocol.h"
#include "wp_cleanup.h"

#define ROOTFS_NAME "rootfs"
#define MOUNTS_NAME "mounts"
#define MAX_BINDS   256 /* bind mounts one spec may ask for */

bool agent_share_valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > AGENT_ID_MAX || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

int agent_share_check_path(const char *what, const char *path, char *out, wp_error_t *err)
{
    if (path[0] != '/')
        return wp_error_set(err, EINVAL, "%s '%s' is not an absolute path", what, path);
    /* the lexical form: repeated slashes folded, "." and ".." refused */
    char norm[PATH_MAX];
    size_t len = 0;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        if (n == 0)
            break;
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return wp_error_set(err, EINVAL, "%s '%s' has a '%.*s' component", what, path, (int)n,
                                p);
        if (len + 1 + n >= sizeof(norm))
            return wp_error_set(err, ENAMETOOLONG, "%s '%s' is too long", what, path);
        norm[len++] = '/';
        memcpy(norm + len, p, n);
        len += n;
        p = end;
    }
    if (len == 0)
        norm[len++] = '/';
    norm[len] = '\0';
    char real[PATH_MAX];
    if (realpath(path, real) == NULL)
        return wp_error_errno(err, errno, "%s '%s'", what, path);
    size_t rl = strlen(real);
    bool inside = strcmp(real, norm) == 0 ||
                  (rl > len && strncmp(real, norm, len) == 0 && (len == 1 || real[len] == '/'));
    if (!inside)
        return wp_error_set(err, EINVAL,
                            "%s '%s' resolves to '%s', outside the path named (a symlink); name "
                            "the real path",
                            what, path, real);
    snprintf(out, PATH_MAX, "%s", real);
    return 0;
}

/* A directory under dirfd (or the share itself with dirfd AT_FDCWD), opened
 * without following a symlink in its last component. */
static int open_dir(int dirfd, const char *name, wp_error_t *err)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return wp_error_errno(err, errno, "open '%s'", name);
    return fd;
}

/* Bind src (checked) onto the new entry `name` of dirfd, made a directory
 * or a file to match src. On failure the entry is gone. */
static int bind_at(int dirfd, const char *name, const char *src, bool rec, bool ro, wp_error_t *err)
{
    struct stat st;
    if (stat(src, &st) < 0)
        return wp_error_errno(err, errno, "bind source '%s'", src);
    bool dir = S_ISDIR(st.st_mode);
    if (dir && mkdirat(dirfd, name, 0755) < 0)
        return wp_error_errno(err, errno, "mount point '%s' for '%s'", name, src);
    if (!dir) {
        int f = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f < 0)
            return wp_error_errno(err, errno, "mount point '%s' for '%s'", name, src);
        close(f);
    }
    int flags = dir ? AT_REMOVEDIR : 0;
    _cleanup_close_ int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat pt;
    if (fd < 0 || fstat(fd, &pt) < 0 || (S_ISDIR(pt.st_mode) != dir) || S_ISLNK(pt.st_mode)) {
        int e = fd < 0 ? errno : EXDEV;
        unlinkat(dirfd, name, flags);
        return wp_error_errno(err, e, "mount point '%s' for '%s' was replaced", name, src);
    }
    char target[64];
    snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
    if (mount(src, target, NULL, MS_BIND | (rec ? MS_REC : 0), NULL) < 0) {
        int e = errno;
        unlinkat(dirfd, name, flags);
        return wp_error_errno(err, e, "bind '%s'", src);
    }
    if (ro) {
        /* the mount's own root now, not the mount point under it */
        _cleanup_close_ int top = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        snprintf(target, sizeof(target), "/proc/self/fd/%d", top);
        if (top < 0 || mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
            int e = errno;
            char path[96];
            snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
            umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW);
            unlinkat(dirfd, name, flags);
            return wp_error_errno(err, e, "make the bind of '%s' read-only", src);
        }
    }
    return 0;
}

/* Unmount whatever is stacked on entry `name` of dirfd, then remove it. */
static int unbind_at(int dirfd, const char *name, wp_error_t *err)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
    for (int i = 0; i < 64; i++) {
        if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
            continue;
        if (errno == EINVAL || errno == ENOENT)
            break; /* not (or no longer) a mount point */
        return wp_error_errno(err, errno, "unmount '%s'", name);
    }
    if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
        return 0;
    if (errno == ENOTDIR && unlinkat(dirfd, name, 0) == 0)
        return 0;
    return wp_error_errno(err, errno, "remove mount point '%s'", name);
}

int agent_share_bind_rootfs(const char *share_dir, const char *id, const char *rootfs,
                            wp_error_t *err)
{
    if (!agent_share_valid_id(id))
        return wp_error_set(err, EINVAL, "container id '%s' is not 1..%d of [A-Za-z0-9_.-]", id,
                            AGENT_ID_MAX);
    char real[PATH_MAX];
    if (agent_share_check_path("rootfs", rootfs, real, err) < 0)
        return -1;
    struct stat st;
    if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
        return wp_error_set(err, ENOTDIR, "rootfs '%s' is not a directory", rootfs);
    _cleanup_close_ int share = open_dir(AT_FDCWD, share_dir, err);
    if (share < 0)
        return wp_error_wrap(err, "VM share");
    if (mkdirat(share, id, 0755) < 0)
        return wp_error_errno(err, errno, "container directory '%s/%s'", share_dir, id);
    _cleanup_close_ int dir = open_dir(share, id, err);
    if (dir < 0 || bind_at(dir, ROOTFS_NAME, real, true, false, err) < 0) {
        unlinkat(share, id, AT_REMOVEDIR);
        return wp_error_wrap(err, "container '%s'", id);
    }
    return 0;
}

static bool has_option(json_t *mount, const char *opt)
{
    json_t *opts = json_object_get(mount, "options");
    size_t i;
    json_t *v;
    json_array_foreach(opts, i, v) if (json_is_string(v) &&
                                       strcmp(json_string_value(v), opt) == 0) return true;
    return false;
}

static bool is_bind(json_t *mount)
{
    const char *type = json_string_value(json_object_get(mount, "type"));
    return (type && strcmp(type, "bind") == 0) || has_option(mount, "bind") ||
           has_option(mount, "rbind");
}

int agent_share_rewrite_spec(const char *share_dir, const char *id, json_t *spec, wp_error_t *err)
{
    if (!json_is_object(spec))
        return wp_error_set(err, EINVAL, "the OCI spec is not a JSON object");
    json_t *mounts = json_object_get(spec, "mounts");
    if (mounts && !json_is_array(mounts))
        return wp_error_set(err, EINVAL, "the OCI spec's 'mounts' is not an array");
    json_t *root = json_object_get(spec, "root");
    if (root && !json_is_object(root))
        return wp_error_set(err, EINVAL, "the OCI spec's 'root' is not an object");
    /* check every source before mounting any */
    size_t n = 0, i;
    json_t *m;
    json_array_foreach(mounts, i, m)
    {
        if (!json_is_object(m))
            return wp_error_set(err, EINVAL, "the OCI spec's mount %zu is not an object", i);
        if (!is_bind(m))
            continue;
        const char *src = json_string_value(json_object_get(m, "source"));
        char real[PATH_MAX];
        if (src == NULL)
            return wp_error_set(err, EINVAL, "bind mount %zu has no source", i);
        if (agent_share_check_path("bind mount source", src, real, err) < 0)
            return -1;
        if (++n > MAX_BINDS)
            return wp_error_set(err, EINVAL, "the OCI spec has more than %d bind mounts",
                                MAX_BINDS);
    }
    json_auto_t *copy = json_deep_copy(spec);
    if (copy == NULL)
        return wp_error_errno(err, ENOMEM, "OCI spec");
    char guest[PATH_MAX];
    snprintf(guest, sizeof(guest), "%s/%s/%s", AGENT_SHARE_GUEST_PATH, id, ROOTFS_NAME);
    json_t *croot = json_object_get(copy, "root");
    if (croot == NULL) {
        croot = json_object();
        json_object_set_new(copy, "root", croot);
    }
    if (json_object_set_new(croot, "path", json_string(guest)) < 0)
        return wp_error_errno(err, ENOMEM, "OCI spec");
    _cleanup_close_ int share = open_dir(AT_FDCWD, share_dir, err);
    if (share < 0)
        return wp_error_wrap(err, "VM share");
    _cleanup_close_ int dir = open_dir(share, id, err);
    if (dir < 0)
        return wp_error_wrap(err, "container '%s' (bind its rootfs first)", id);
    _cleanup_close_ int mdir = -1;
    if (n > 0) {
        if (mkdirat(dir, MOUNTS_NAME, 0755) < 0 && errno != EEXIST)
            return wp_error_errno(err, errno, "container '%s': mounts directory", id);
        if ((mdir = open_dir(dir, MOUNTS_NAME, err)) < 0)
            return wp_error_wrap(err, "container '%s'", id);
    }
    size_t k = 0;
    json_t *cmounts = json_object_get(copy, "mounts");
    json_array_foreach(cmounts, i, m)
    {
        if (!is_bind(m))
            continue;
        char real[PATH_MAX], name[16];
        const char *src = json_string_value(json_object_get(m, "source"));
        snprintf(name, sizeof(name), "%zu", k);
        if (agent_share_check_path("bind mount source", src, real, err) < 0 ||
            bind_at(mdir, name, real, has_option(m, "rbind"), has_option(m, "ro"), err) < 0)
            goto undo;
        k++;
        snprintf(guest, sizeof(guest), "%s/%s/%s/%s", AGENT_SHARE_GUEST_PATH, id, MOUNTS_NAME,
                 name);
        json_object_set_new(m, "source", json_string(guest));
    }
    json_object_clear(spec);
    json_object_update(spec, copy);
    return 0;
undo:
    while (k > 0) {
        char name[16];
        snprintf(name, sizeof(name), "%zu", --k);
        unbind_at(mdir, name, NULL);
    }
    unlinkat(dir, MOUNTS_NAME, AT_REMOVEDIR);
    return wp_error_wrap(err, "container '%s'", id);
}

int agent_share_prepare(const char *share_dir, const char *id, const char *rootfs, json_t *spec,
                        wp_error_t *err)
{
    if (agent_share_bind_rootfs(share_dir, id, rootfs, err) < 0)
        return -1;
    if (agent_share_rewrite_spec(share_dir, id, spec, err) < 0) {
        agent_share_remove(share_dir, id, NULL);
        return -1;
    }
    return 0;
}

int agent_share_remove(const char *share_dir, const char *id, wp_error_t *err)
{
    if (!agent_share_valid_id(id))
        return wp_error_set(err, EINVAL, "container id '%s' is not 1..%d of [A-Za-z0-9_.-]", id,
                            AGENT_ID_MAX);
    _cleanup_close_ int share = open_dir(AT_FDCWD, share_dir, err);
    if (share < 0)
        return wp_error_wrap(err, "VM share");
    _cleanup_close_ int dir = openat(share, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0 && errno == ENOENT)
        return 0;
    if (dir < 0)
        return wp_error_errno(err, errno, "container directory '%s/%s'", share_dir, id);
    int ret = 0;
    _cleanup_close_ int mdir =
        openat(dir, MOUNTS_NAME, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (mdir >= 0) {
        /* the names we gave are 0..n-1; anything else (the guest can write
         * here) makes the rmdir fail: never a recursive delete near mounts */
        for (int k = 0; k <= MAX_BINDS; k++) {
            char name[16];
            snprintf(name, sizeof(name), "%d", k);
            if (unbind_at(mdir, name, err) < 0)
                ret = -1;
        }
        if (unlinkat(dir, MOUNTS_NAME, AT_REMOVEDIR) < 0 && errno != ENOENT && ret == 0)
            ret = wp_error_errno(err, errno, "remove '%s/%s/%s'", share_dir, id, MOUNTS_NAME);
    }
    if (unbind_at(dir, ROOTFS_NAME, err) < 0)
        ret = -1;
    if (ret == 0 && unlinkat(share, id, AT_REMOVEDIR) < 0 && errno != ENOENT)
        ret = wp_error_errno(err, errno, "remove '%s/%s'", share_dir, id);
    return ret < 0 ? wp_error_wrap(err, "container '%s'", id) : 0;
}

int agent_share_clear(const char *share_dir, wp_error_t *err)
{
    DIR *d = opendir(share_dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : wp_error_errno(err, errno, "VM share '%s'", share_dir);
    int ret = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (agent_share_valid_id(de->d_name) && agent_share_remove(share_dir, de->d_name, err) < 0)
            ret = -1;
    closedir(d);
    return ret;
}
