/* agent_init.c - see agent_init.h. */
#include "agent_init.h"

#include <errno.h>       /* errno */
#include <fcntl.h>       /* open */
#include <stdio.h>       /* fopen */
#include <stdlib.h>      /* strtoul */
#include <string.h>      /* strncmp */
#include <sys/mount.h>   /* mount */
#include <sys/stat.h>    /* mkdir */
#include <sys/syscall.h> /* SYS_finit_module */
#include <unistd.h>      /* syscall, dup2 */

#include "wp_cleanup.h"
#include "wp_log.h"

int agent_init_mounts(wp_error_t *err)
{
    static const struct {
        const char *src, *dir, *type;
        unsigned long flags;
    } mounts[] = {
        {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC},
        {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC},
        {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID},
        {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV},
        {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV},
    };
    for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
        mkdir(mounts[i].dir, 0755);
        if (mount(mounts[i].src, mounts[i].dir, mounts[i].type, mounts[i].flags, NULL) < 0 &&
            errno != EBUSY)
            return wp_error_errno(err, errno, "mount %s on '%s'", mounts[i].type, mounts[i].dir);
    }
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
