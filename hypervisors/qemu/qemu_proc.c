/* qemu_proc.c - QEMU process handling (see qemu_proc.h). */
#include "qemu_proc.h"

#include <dirent.h>      /* opendir */
#include <errno.h>       /* errno */
#include <fcntl.h>       /* open, fcntl */
#include <limits.h>      /* PATH_MAX, INT_MAX */
#include <poll.h>        /* poll */
#include <signal.h>      /* SIGKILL, sigset_t */
#include <spawn.h>       /* posix_spawn */
#include <stdio.h>       /* snprintf */
#include <stdlib.h>      /* strtol */
#include <string.h>      /* strlen, memcmp */
#include <sys/socket.h>  /* socket, bind, listen */
#include <sys/syscall.h> /* SYS_pidfd_open, SYS_pidfd_send_signal */
#include <sys/un.h>      /* sockaddr_un */
#include <sys/wait.h>    /* waitpid */
#include <unistd.h>      /* environ */

#include "qemu_argv.h"
#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_time.h"

int qemu_listen_unix(const char *path, wp_error_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return wp_error_set(err, ENAMETOOLONG, "socket path '%s' is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wp_error_errno(err, errno, "create socket '%s'", path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return wp_error_errno(err, errno, "bind '%s'", path);
    /* a small backlog: our own connect() waits in it until QEMU's main loop accepts */
    if (listen(fd, 8) < 0)
        return wp_error_errno(err, errno, "listen on '%s'", path);
    return wp_steal_fd(&fd);
}

/* A copy of fd at 16 or above, close-on-exec: the spawn's dup2s onto 0-4
 * then never overwrite a source that happens to sit there. */
static int lift(int fd)
{
    return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 16);
}

/* posix_spawn, not fork: glibc's spawn shares the daemon's memory with the
 * child until exec (CLONE_VM | CLONE_VFORK), where fork would copy the page
 * tables of a many-threaded daemon under its mm lock at every refill, and
 * every other thread touching memory meanwhile would wait (an acquire's
 * latency tail). */
int qemu_proc_spawn(qemu_proc_t *p, char *const argv[], int qmp_fd, int agent_fd, int log_fd,
                    wp_error_t *err)
{
    _cleanup_close_ int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0)
        return wp_error_errno(err, errno, "open '/dev/null'");
    _cleanup_close_ int q = lift(qmp_fd);
    _cleanup_close_ int a = lift(agent_fd);
    _cleanup_close_ int l = lift(log_fd);
    _cleanup_close_ int n = lift(null_fd);
    if (q < 0 || l < 0 || n < 0 || (agent_fd >= 0 && a < 0))
        return wp_error_errno(err, errno, "spawn '%s': duplicate its fds", argv[0]);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* dup2 leaves the new fds without FD_CLOEXEC: exactly these survive exec */
    posix_spawn_file_actions_adddup2(&fa, n, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, l, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, l, STDERR_FILENO);
    posix_spawn_file_actions_adddup2(&fa, q, QEMU_QMP_FD);
    if (a >= 0)
        posix_spawn_file_actions_adddup2(&fa, a, QEMU_AGENT_FD);
    /* fds another thread opened without O_CLOEXEC must not reach QEMU */
    posix_spawn_file_actions_addclosefrom_np(&fa, a >= 0 ? QEMU_AGENT_FD + 1 : QEMU_AGENT_FD);
    /* the daemon's blocked and ignored signals are not QEMU's */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return wp_error_errno(err, rc, "start QEMU '%s'", argv[0]);
    *p = (qemu_proc_t){.pid = pid, .pidfd = -1, .is_child = true};
    /* race-free for our own child: it cannot be reaped by anyone else meanwhile */
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (p->pidfd < 0) {
        int e = errno;
        if (e == ESRCH) { /* already reaped: SIGCHLD is ignored in this process */
            p->exited = true;
            return 0;
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return wp_error_errno(err, e, "pidfd_open for QEMU pid %d", (int)pid);
    }
    return 0;
}

int qemu_proc_adopt(qemu_proc_t *p, pid_t pid, wp_error_t *err)
{
    *p = (qemu_proc_t){.pid = pid, .pidfd = -1};
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (p->pidfd < 0)
        return wp_error_errno(err, errno, "QEMU pid %d", (int)pid);
    if (qemu_proc_exited(p))
        return wp_error_set(err, ESRCH, "QEMU pid %d has exited", (int)pid);
    return 0;
}

bool qemu_proc_exited(qemu_proc_t *p)
{
    if (p->exited || p->pid <= 0)
        return true;
    if (p->is_child) {
        int status;
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid || (r < 0 && errno == ECHILD)) {
            p->exited = true;
            p->status = r == p->pid ? status : 0;
        }
        return p->exited;
    }
    struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
    if (p->pidfd >= 0 && poll(&pfd, 1, 0) == 1)
        p->exited = true;
    return p->exited;
}

int qemu_proc_wait(qemu_proc_t *p, int64_t deadline_ns)
{
    while (!qemu_proc_exited(p)) {
        if (p->pidfd < 0)
            return -1;
        int64_t left = deadline_ns - wp_now_mono_ns();
        if (left <= 0)
            return -1;
        int64_t ms = (left + 999999) / 1000000;
        struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
        /* the pidfd turns readable when the process exits (a zombie, for our child) */
        if (poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms) < 0 && errno != EINTR)
            return -1;
    }
    return 0;
}

void qemu_proc_kill(qemu_proc_t *p)
{
    if (qemu_proc_exited(p))
        return;
    if (p->pidfd >= 0)
        syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
}

void qemu_proc_release(qemu_proc_t *p)
{
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
}

void qemu_proc_exit_reason(const qemu_proc_t *p, char *out, size_t len)
{
    if (!p->is_child)
        snprintf(out, len, "has exited");
    else if (WIFEXITED(p->status))
        snprintf(out, len, "exited with status %d", WEXITSTATUS(p->status));
    else if (WIFSIGNALED(p->status))
        snprintf(out, len, "was killed by signal %d", WTERMSIG(p->status));
    else
        snprintf(out, len, "has exited");
}

int qemu_pidfile_write(const char *runtime_dir, pid_t pid, wp_error_t *err)
{
    char text[32];
    snprintf(text, sizeof(text), "%d\n", (int)pid);
    /* no fsync: the runtime directory does not outlive a host reboot, nor does QEMU */
    return hv_runtime_file_write(runtime_dir, HV_PIDFILE, text, err);
}

int qemu_pidfile_read(const char *runtime_dir, pid_t *pid, wp_error_t *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", runtime_dir, HV_PIDFILE);
    _cleanup_free_ char *text = wp_read_file(path, 64, NULL, err);
    if (text == NULL)
        return -1;
    char *end;
    long v = strtol(text, &end, 10);
    if (v <= 0 || v > INT_MAX || (*end != '\n' && *end != '\0'))
        return wp_error_set(err, EINVAL, "'%s' does not hold a pid", path);
    *pid = (pid_t)v;
    return 0;
}

bool qemu_proc_is_vm(pid_t pid, const char *runtime_dir)
{
    char path[64], want[PATH_MAX + 32];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    int wlen = snprintf(want, sizeof(want), "file:%s/%s", runtime_dir, HV_CONSOLE);
    size_t len = 0;
    _cleanup_free_ char *args = wp_read_file(path, 1 << 20, &len, NULL);
    if (args == NULL)
        return false;
    /* arguments are NUL-separated; match one whole argument */
    for (size_t off = 0; off < len; off += strlen(args + off) + 1)
        if (strcmp(args + off, want) == 0 && wlen > 0)
            return true;
    return false;
}

int qemu_proc_find_vm(const char *runtime_dir, pid_t *pid, wp_error_t *err)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return wp_error_errno(err, errno, "open /proc");
    struct dirent *e;
    int found = 0;
    while (found == 0 && (e = readdir(proc)) != NULL) {
        long v = strtol(e->d_name, NULL, 10);
        if (v > 0 && v <= INT_MAX && qemu_proc_is_vm((pid_t)v, runtime_dir))
            found = (int)v;
    }
    closedir(proc);
    if (found == 0)
        return wp_error_set(err, ESRCH, "no QEMU runs for '%s'", runtime_dir);
    *pid = found;
    return 0;
}

void qemu_log_tail(const char *runtime_dir, char *out, size_t len)
{
    char path[PATH_MAX], buf[1024];
    out[0] = '\0';
    snprintf(path, sizeof(path), "%s/%s", runtime_dir, QEMU_LOG);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t start = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, start);
    if (n <= 0)
        return;
    buf[n] = '\0';
    /* keep the last three non-empty lines, newest last, on one line */
    const char *lines[3] = {0};
    size_t nl = 0;
    for (char *save = NULL, *l = strtok_r(buf, "\r\n", &save); l;
         l = strtok_r(NULL, "\r\n", &save)) {
        if (nl == 3)
            memmove(lines, lines + 1, 2 * sizeof(lines[0]));
        lines[nl == 3 ? 2 : nl++] = l;
    }
    size_t used = 0;
    for (size_t i = 0; i < nl && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? " | " : "", lines[i]);
}
