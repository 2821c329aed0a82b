/* qemu_backend.c - the direct-QEMU backend: open/close, describe (with the
 * binary's version cached per binary identity), and the ops table. */
#include "qemu_internal.h"

#include <errno.h>    /* ENOENT */
#include <fcntl.h>    /* O_CLOEXEC */
#include <limits.h>   /* INT_MAX */
#include <poll.h>     /* poll */
#include <signal.h>   /* SIGKILL */
#include <spawn.h>    /* posix_spawn */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* getenv, calloc */
#include <string.h>   /* strchr, strncmp */
#include <sys/wait.h> /* waitpid */
#include <unistd.h>   /* access, pipe2, getcwd */

#include "wp_cleanup.h"

extern char **environ;

#define QEMU_DEFAULT_BINARY "qemu-system-x86_64"

/* Absolute path of `name`: as given if it has a '/', else the first match in PATH. */
static int resolve_binary(const char *name, char *out, size_t len, wp_error_t *err)
{
    if (strchr(name, '/') != NULL) {
        char cwd[PATH_MAX] = "";
        if (name[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
            return wp_error_errno(err, errno, "resolve QEMU binary '%s'", name);
        snprintf(out, len, "%s%s%s", cwd, cwd[0] ? "/" : "", name);
        if (access(out, X_OK) < 0)
            return wp_error_errno(err, errno, "QEMU binary '%s'", out);
        return 0;
    }
    const char *path = getenv("PATH");
    if (path == NULL || path[0] == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        if (n > 0 && p[0] == '/') {
            snprintf(out, len, "%.*s/%s", (int)n, p, name);
            if (access(out, X_OK) == 0)
                return 0;
        }
        p += n + (p[n] == ':');
    }
    return wp_error_set(err, ENOENT, "QEMU binary '%s' not found in PATH '%s'", name, path);
}

static int qemu_open(hv_backend_t *be, const hv_backend_config_t *cfg, wp_error_t *err)
{
    qemu_backend_t *qb = calloc(1, sizeof(*qb));
    if (qb == NULL)
        return wp_error_errno(err, ENOMEM, "open QEMU backend");
    const char *name = cfg->qemu_binary ? cfg->qemu_binary : QEMU_DEFAULT_BINARY;
    if (resolve_binary(name, qb->binary, sizeof(qb->binary), err) < 0) {
        free(qb);
        return -1;
    }
    pthread_mutex_init(&qb->lock, NULL);
    be->priv = qb;
    return 0;
}

static void qemu_close(hv_backend_t *be)
{
    qemu_backend_t *qb = qemu_backend_of(be);
    if (qb == NULL)
        return;
    pthread_mutex_destroy(&qb->lock);
    free(qb);
    be->priv = NULL;
}

/* Parse "QEMU emulator version 7.2.22 (Debian ...)" into "7.2.22". */
static int parse_version(const char *text, char *out, size_t len)
{
    static const char prefix[] = "QEMU emulator version ";
    const char *p = strstr(text, prefix);
    if (p == NULL)
        return -1;
    p += sizeof(prefix) - 1;
    size_t n = strspn(p, "0123456789.");
    if (n == 0 || n >= len)
        return -1;
    snprintf(out, len, "%.*s", (int)n, p);
    return 0;
}

/* Run `binary --version` and read its first bytes, with a deadline. */
static int probe_version(const char *binary, char *out, size_t len, wp_error_t *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return wp_error_errno(err, errno, "run '%s --version'", binary);
    _cleanup_close_ int rd = fds[0];
    _cleanup_close_ int wr = fds[1];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, wr, STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    char *const argv[] = {(char *)binary, "--version", NULL};
    pid_t pid;
    int ret = posix_spawn(&pid, binary, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (ret != 0)
        return wp_error_errno(err, ret, "run '%s --version'", binary);
    close(wp_steal_fd(&wr)); /* EOF once the child exits */
    char text[512];
    size_t got = 0;
    int64_t deadline = qemu_deadline(QEMU_VERSION_TIMEOUT_MS);
    for (;;) {
        int64_t left = (deadline - wp_now_mono_ns() + 999999) / 1000000;
        struct pollfd pfd = {.fd = rd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left) == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return wp_error_set(err, ETIMEDOUT, "'%s --version' did not finish", binary);
        }
        ssize_t n = read(rd, text + got, sizeof(text) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (got += (size_t)n) == sizeof(text) - 1)
            break;
    }
    text[got] = '\0';
    int status;
    waitpid(pid, &status, 0);
    if (parse_version(text, out, len) < 0)
        return wp_error_set(err, EPROTO, "'%s --version' printed no version: '%.80s'", binary,
                            text);
    return 0;
}

/* The version of the binary as it is now: re-probed only when it changed on disk. */
static int binary_version(qemu_backend_t *qb, char *out, size_t len, wp_error_t *err)
{
    struct stat st;
    if (stat(qb->binary, &st) < 0)
        return wp_error_errno(err, errno, "QEMU binary '%s'", qb->binary);
    pthread_mutex_lock(&qb->lock);
    int ret = 0;
    if (!qb->cached || qb->dev != st.st_dev || qb->ino != st.st_ino || qb->size != st.st_size ||
        qb->mtime.tv_sec != st.st_mtim.tv_sec || qb->mtime.tv_nsec != st.st_mtim.tv_nsec) {
        /* probed under the lock: concurrent describes wait for one probe, not run many */
        ret = probe_version(qb->binary, qb->version, sizeof(qb->version), err);
        qb->cached = ret == 0;
        qb->dev = st.st_dev;
        qb->ino = st.st_ino;
        qb->size = st.st_size;
        qb->mtime = st.st_mtim;
    }
    if (ret == 0)
        snprintf(out, len, "%s", qb->version);
    pthread_mutex_unlock(&qb->lock);
    return ret;
}

static int qemu_describe(hv_backend_t *be, const hv_vm_spec_t *spec, hv_description_t *out,
                         wp_error_t *err)
{
    qemu_backend_t *qb = qemu_backend_of(be);
    *out = (hv_description_t){.memory_mib = spec->memory_mib, .vcpus = spec->vcpus};
    snprintf(out->backend, sizeof(out->backend), "%s", hv_qemu_ops.name);
    size_t blen = strlen(qb->binary);
    if (blen >= sizeof(out->binary))
        return wp_error_set(err, ENAMETOOLONG, "describe QEMU: binary path '%s' is too long",
                            qb->binary);
    memcpy(out->binary, qb->binary, blen + 1);
    snprintf(out->machine, sizeof(out->machine), "%s", spec->machine ? spec->machine : "");
    snprintf(out->cpu_model, sizeof(out->cpu_model), "%s", spec->cpu_model ? spec->cpu_model : "");
    qemu_argv_devices(spec, out);
    if (binary_version(qb, out->version, sizeof(out->version), err) < 0)
        return wp_error_wrap(err, "describe QEMU");
    return 0;
}

static int qemu_exit_fd(const hv_vm_t *hv)
{
    return ((const qemu_vm_t *)hv)->proc.pidfd;
}

const hv_ops_t hv_qemu_ops = {
    .name = "qemu",
    .open = qemu_open,
    .close = qemu_close,
    .describe = qemu_describe,
    .boot = qemu_boot,
    .pause = qemu_pause,
    .save_template = qemu_save_template,
    .restore = qemu_restore,
    .resume = qemu_resume,
    .query = qemu_query,
    .destroy = qemu_destroy,
    .free = qemu_vm_free,
    .attach = qemu_attach,
    .exit_fd = qemu_exit_fd,
};
