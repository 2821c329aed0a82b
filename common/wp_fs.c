/* wp_fs.c - see wp_fs.h. */
#include "wp_fs.h"

#include <dirent.h>   /* fdopendir, readdir */
#include <stdbool.h>  /* bool */
#include <errno.h>    /* errno */
#include <fcntl.h>    /* open, openat */
#include <libgen.h>   /* dirname */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* malloc */
#include <string.h>   /* strlen, strdup */
#include <sys/stat.h> /* mkdir, fstat */
#include <unistd.h>   /* unlinkat, fsync */

#include "wp_cleanup.h"

int wp_mkdir_p(const char *path, unsigned mode, wp_error_t *err)
{
    char buf[4096];
    if (strlen(path) >= sizeof(buf))
        return wp_error_set(err, ENAMETOOLONG, "path '%s' is too long", path);
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return wp_error_errno(err, errno, "create directory '%s'", buf);
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return wp_error_errno(err, errno, "create directory '%s'", buf);
    return 0;
}

/* Whether the directory fd is the root of a mount (a bind mount under the
 * tree, e.g. a container's rootfs in a VM's share). */
static bool is_mount_root(int fd)
{
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
        return false;
    return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static int rm_at(int parent_fd, const char *name, int depth, wp_error_t *err)
{
    if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return wp_error_errno(err, errno, "remove '%s'", name);
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return wp_error_errno(err, errno, "open directory '%s'", name);
    /* never remove what is mounted below the tree: that is someone's data */
    if (depth > 0 && is_mount_root(fd)) {
        close(fd);
        return wp_error_set(err, EBUSY, "'%s' is a mount point: not removing what is mounted there",
                            name);
    }
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return wp_error_errno(err, errno, "read directory '%s'", name);
    }
    int ret = 0;
    struct dirent *de;
    while (ret == 0 && (de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        ret = rm_at(dirfd(dir), de->d_name, depth + 1, err);
    }
    closedir(dir);
    if (ret < 0)
        return ret;
    if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return wp_error_errno(err, errno, "remove directory '%s'", name);
    return 0;
}

int wp_rm_tree(const char *path, wp_error_t *err)
{
    int ret = rm_at(AT_FDCWD, path, 0, err);
    if (ret < 0)
        return wp_error_wrap(err, "remove '%s'", path);
    return 0;
}

char *wp_read_file(const char *path, size_t max_len, size_t *len_out, wp_error_t *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        wp_error_errno(err, errno, "open '%s'", path);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        wp_error_errno(err, errno, "stat '%s'", path);
        return NULL;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    if (cap > max_len + 1)
        cap = max_len + 1;
    _cleanup_free_ char *buf = malloc(cap + 1);
    if (buf == NULL) {
        wp_error_errno(err, ENOMEM, "read '%s'", path);
        return NULL;
    }
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            if (len > max_len) {
                wp_error_set(err, EFBIG, "'%s' is larger than %zu bytes", path, max_len);
                return NULL;
            }
            cap *= 2;
            char *grown = realloc(buf, cap + 1);
            if (grown == NULL) {
                wp_error_errno(err, ENOMEM, "read '%s'", path);
                return NULL;
            }
            buf = grown;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            wp_error_errno(err, errno, "read '%s'", path);
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max_len) {
        wp_error_set(err, EFBIG, "'%s' is larger than %zu bytes", path, max_len);
        return NULL;
    }
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return wp_steal_ptr(&buf);
}

int wp_write_all(int fd, const void *buf, size_t len, wp_error_t *err)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return wp_error_errno(err, errno, "write");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_parent(const char *path, wp_error_t *err)
{
    _cleanup_free_ char *copy = strdup(path);
    if (copy == NULL)
        return wp_error_errno(err, ENOMEM, "fsync parent of '%s'", path);
    _cleanup_close_ int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0)
        return wp_error_errno(err, errno, "fsync directory of '%s'", path);
    return 0;
}

int wp_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         wp_error_t *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return wp_error_errno(err, errno, "create '%s'", tmp);
    if (wp_write_all(fd, data, len, err) < 0 || fsync(fd) < 0) {
        if (err && err->code == 0)
            wp_error_errno(err, errno, "fsync '%s'", tmp);
        unlink(tmp);
        return wp_error_wrap(err, "write '%s'", path);
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return wp_error_errno(err, e, "rename '%s' to '%s'", tmp, path);
    }
    return fsync_parent(path, err);
}

int wp_copy_file(const char *src, const char *dst, unsigned mode, wp_error_t *err)
{
    _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return wp_error_errno(err, errno, "open '%s'", src);
    _cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0)
        return wp_error_errno(err, errno, "create '%s'", dst);
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return wp_error_errno(err, errno, "read '%s'", src);
        if (n == 0)
            break;
        if (wp_write_all(out, buf, (size_t)n, err) < 0)
            return wp_error_wrap(err, "copy to '%s'", dst);
    }
    if (fsync(out) < 0)
        return wp_error_errno(err, errno, "fsync '%s'", dst);
    return 0;
}
