/* agent_init.c - see agent_init.h. */
#include "agent_init.h"

#include <errno.h>       /* errno */
#include <stdbool.h>     /* bool */
#include <fcntl.h>       /* open */
#include <stdio.h>       /* fopen */
#include <stdlib.h>      /* strtoul */
#include <string.h>      /* strncmp */
#include <sys/mount.h>   /* mount */
#include <sys/stat.h>    /* mkdir */
#include <sys/statvfs.h> /* statvfs */
#include <sys/syscall.h> /* SYS_finit_module */
#include <unistd.h>      /* syscall, dup2, symlink, readlink */

#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_log.h"

int agent_init_mounts(wp_error_t *err)
{
    static const struct {
        const char *src, *dir, *type;
        unsigned long flags;
        const char *data;
    } mounts[] = {
        {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
        {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
        {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL},
        {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
        {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, NULL},
        {"cgroup2", AGENT_CGROUP_ROOT, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
        /* its own instance, not the kernel's initial one; 0666 ptmx so a
         * container's non-root user can open ptys */
        {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
         "newinstance,ptmxmode=0666,mode=0620"},
        {"shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
        {"mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
    };
    for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
        mkdir(mounts[i].dir, 0755);
        if (mount(mounts[i].src, mounts[i].dir, mounts[i].type, mounts[i].flags, mounts[i].data) <
                0 &&
            errno != EBUSY)
            return wp_error_errno(err, errno, "mount %s on '%s'", mounts[i].type, mounts[i].dir);
    }
    if (agent_init_dev_links("/dev", err) < 0)
        return -1;
    /* crun's bundles and state live here, on the /run tmpfs */
    if (mkdir(AGENT_RUN_DIR, 0755) < 0 && errno != EEXIST)
        return wp_error_errno(err, errno, "mkdir '%s'", AGENT_RUN_DIR);
    if (agent_cgroup_enable(AGENT_CGROUP_ROOT, err) < 0)
        return -1;
    /* the kernel gives init the console only if the initramfs has /dev/console */
    if (fcntl(STDERR_FILENO, F_GETFD) < 0) {
        int fd = open("/dev/console", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
    }
    return 0;
}

int agent_init_readonly_copy(const char *bin, const char *dir, wp_error_t *err)
{
    struct statvfs fs;
    if (statvfs(bin, &fs) < 0)
        return wp_error_errno(err, errno, "statvfs '%s'", bin);
    if (fs.f_flag & ST_RDONLY)
        return 0;
    const char *base = strrchr(bin, '/');
    char copy[256];
    if (snprintf(copy, sizeof(copy), "%s/%s", dir, base ? base + 1 : bin) >= (int)sizeof(copy))
        return wp_error_set(err, ENAMETOOLONG, "'%s': path too long", dir);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return wp_error_errno(err, errno, "mkdir '%s'", dir);
    if (mount("ramfs", dir, "ramfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
        return wp_error_errno(err, errno, "mount ramfs on '%s'", dir);
    if (wp_copy_file(bin, copy, 0755, err) < 0)
        goto undo;
    if (mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) {
        wp_error_errno(err, errno, "remount '%s' read-only", dir);
        goto undo;
    }
    if (mount(copy, bin, NULL, MS_BIND, NULL) < 0) {
        wp_error_errno(err, errno, "bind '%s' over '%s'", copy, bin);
        goto undo;
    }
    return 0;
undo:
    umount2(dir, MNT_DETACH);
    return -1;
}

int agent_init_dev_links(const char *dev, wp_error_t *err)
{
    static const struct {
        const char *name, *target;
    } links[] = {
        {"ptmx", "pts/ptmx"},          {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"},
        {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
    };
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        char path[256], cur[256];
        snprintf(path, sizeof(path), "%s/%s", dev, links[i].name);
        ssize_t n = readlink(path, cur, sizeof(cur) - 1);
        if (n >= 0 && (size_t)n == strlen(links[i].target) &&
            memcmp(cur, links[i].target, (size_t)n) == 0)
            continue;
        /* devtmpfs made ptmx a node of the kernel's initial devpts */
        if (unlink(path) < 0 && errno != ENOENT)
            return wp_error_errno(err, errno, "replace '%s'", path);
        if (symlink(links[i].target, path) < 0)
            return wp_error_errno(err, errno, "symlink '%s' -> '%s'", path, links[i].target);
    }
    return 0;
}

int agent_cgroup_subtree_line(const char *available, char *out, size_t len, wp_error_t *err)
{
    static const char *const wanted[] = {AGENT_CGROUP_CONTROLLERS};
    size_t used = 0;
    if (len == 0)
        return wp_error_set(err, ENOSPC, "no room for the cgroup.subtree_control line");
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        size_t wlen = strlen(wanted[i]);
        bool found = false;
        for (const char *p = available; *p && !found;) {
            p += strspn(p, " \t\n");
            size_t tlen = strcspn(p, " \t\n");
            found = tlen == wlen && strncmp(p, wanted[i], wlen) == 0;
            p += tlen;
        }
        if (!found)
            continue;
        int n = snprintf(out + used, len - used, "%s+%s", used ? " " : "", wanted[i]);
        if (n < 0 || (size_t)n >= len - used)
            return wp_error_set(err, ENOSPC, "cgroup.subtree_control line longer than %zu bytes",
                                len - 1);
        used += (size_t)n;
    }
    return 0;
}

int agent_cgroup_enable(const char *dir, wp_error_t *err)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
    _cleanup_free_ char *available = wp_read_file(path, 4096, NULL, err);
    if (available == NULL)
        return wp_error_wrap(err, "cgroup controllers");
    char line[128];
    if (agent_cgroup_subtree_line(available, line, sizeof(line), err) < 0)
        return -1;
    if (line[0] == '\0') {
        wp_log_warn("agent: '%s' lists none of the container controllers", path);
        return 0;
    }
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return wp_error_errno(err, errno, "open '%s'", path);
    /* one write: the kernel applies the whole line or none of it */
    if (wp_write_all(fd, line, strlen(line), err) < 0)
        return wp_error_wrap(err, "enable '%s' in '%s'", line, path);
    return 0;
}

int agent_init_modules(const char *list, wp_error_t *err)
{
    _cleanup_fclose_ FILE *f = fopen(list, "re");
    if (f == NULL)
        return errno == ENOENT ? 0 : wp_error_errno(err, errno, "open '%s'", list);
    char line[512];
    int failed = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        _cleanup_close_ int fd = open(line, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)) {
            wp_log_error("agent: load module '%s' failed (errno %d)", line, errno);
            failed++;
        }
    }
    if (failed)
        return wp_error_set(err, EIO, "%d module(s) from '%s' did not load", failed, list);
    return 0;
}

int agent_parse_cmdline(const char *cmdline, agent_options_t *out, wp_error_t *err)
{
    *out = (agent_options_t){.vsock = false, .vsock_port = 1024};
    const char *p = cmdline;
    while (*p) {
        while (*p == ' ' || *p == '\n' || *p == '\t')
            p++;
        size_t len = strcspn(p, " \n\t");
        if (len == 0)
            break;
        char word[256];
        snprintf(word, sizeof(word), "%.*s", (int)(len < 255 ? len : 255), p);
        p += len;
        if (strncmp(word, "warmpool.", 9) != 0)
            continue;
        if (strcmp(word, "warmpool.transport=serial") == 0) {
            out->vsock = false;
        } else if (strcmp(word, "warmpool.transport=vsock") == 0) {
            out->vsock = true;
        } else if (strncmp(word, "warmpool.vsock_port=", 20) == 0) {
            char *end;
            unsigned long port = strtoul(word + 20, &end, 10);
            /* 0xffffffff is VMADDR_PORT_ANY: a port the host could not know */
            if (word[20] == '\0' || *end != '\0' || port == 0 || port >= 0xffffffffUL)
                return wp_error_set(err, EINVAL, "bad '%s' on the kernel command line", word);
            out->vsock_port = (unsigned)port;
        } else {
            return wp_error_set(err, EINVAL, "unknown option '%s' on the kernel command line",
                                word);
        }
    }
    return 0;
}
