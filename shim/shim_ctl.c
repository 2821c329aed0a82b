/* shim_ctl.c - see shim_ctl.h. */
#include "shim_ctl.h"

#include <errno.h>    /* errno */
#include <fcntl.h>    /* open */
#include <jansson.h>  /* json_loads */
#include <poll.h>     /* poll */
#include <signal.h>   /* sigprocmask */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* malloc */
#include <string.h>   /* strrchr */
#include <sys/wait.h> /* waitpid */
#include <unistd.h>   /* fork, execvp, pipe2 */

#include "wp_cleanup.h"

#define CTL_OUTPUT_MAX (64 * 1024) /* a JSON array of one VM: far less */
#define CTL_ARGV_MAX   (SHIM_CTL_ARGS_MAX + 16)

/* Read both pipes to their ends (bounded), then reap pid. */
static int collect(pid_t pid, int out_fd, int err_fd, char *out, size_t out_len, char *errtext,
                   size_t err_len, int *status)
{
    size_t n_out = 0, n_err = 0;
    struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
    while (p[0].fd >= 0 || p[1].fd >= 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || p[i].revents == 0)
                continue;
            char *buf = i == 0 ? out : errtext;
            size_t *n = i == 0 ? &n_out : &n_err, cap = (i == 0 ? out_len : err_len) - 1;
            char scratch[4096];
            /* past the cap, read on (so the child never blocks) and drop */
            ssize_t r = *n < cap ? read(p[i].fd, buf + *n, cap - *n)
                                 : read(p[i].fd, scratch, sizeof(scratch));
            if (r > 0 && *n < cap)
                *n += (size_t)r;
            else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
                close(p[i].fd);
                p[i].fd = -1;
            }
        }
    }
    out[n_out] = '\0';
    errtext[n_err] = '\0';
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

/* The last non-empty line of text, in place. */
static const char *last_line(char *text)
{
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    char *nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

/* Run warmpoolctl ARGS... tail... ; its stdout into out (NUL-terminated). */
static int run_ctl(const shim_config_t *cfg, const char *what, const char *const *tail, char *out,
                   size_t out_len, wp_error_t *err)
{
    const char *argv[CTL_ARGV_MAX];
    size_t n = 0;
    argv[n++] = cfg->warmpoolctl;
    for (size_t i = 0; i < cfg->n_ctl_args; i++)
        argv[n++] = cfg->ctl_args[i];
    for (size_t i = 0; tail[i] != NULL && n + 1 < CTL_ARGV_MAX; i++)
        argv[n++] = tail[i];
    argv[n] = NULL;
    int o[2], e[2];
    if (pipe2(o, O_CLOEXEC) < 0)
        return wp_error_errno(err, errno, "warmpoolctl: pipe");
    if (pipe2(e, O_CLOEXEC) < 0) {
        close(o[0]);
        close(o[1]);
        return wp_error_errno(err, errno, "warmpoolctl: pipe");
    }
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(o[1], 1) < 0 || dup2(e[1], 2) < 0)
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "cannot execute '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int saved = errno;
    close(o[1]);
    close(e[1]);
    if (pid < 0) {
        close(o[0]);
        close(e[0]);
        return wp_error_errno(err, saved, "warmpoolctl: fork");
    }
    char errtext[4096];
    int status = 0;
    if (collect(pid, o[0], e[0], out, out_len, errtext, sizeof(errtext), &status) < 0)
        return wp_error_errno(err, errno, "warmpoolctl: waitpid");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    return wp_error_set(err, EIO, "'%s %s' failed (status %d): %s", cfg->warmpoolctl, what,
                        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                        last_line(errtext));
}

int shim_ctl_make_vm(const shim_config_t *cfg, const char *template_name, pool_vm_info_t *out,
                     wp_error_t *err)
{
    const char *tail[] = {"--json",
                          "clone",
                          template_name,
                          "--keep",
                          cfg->vm_source == SHIM_VM_COLD ? "--cold" : NULL,
                          NULL};
    _cleanup_free_ char *text = malloc(CTL_OUTPUT_MAX);
    if (text == NULL)
        return wp_error_set(err, ENOMEM, "warmpoolctl output");
    if (run_ctl(cfg, "clone", tail, text, CTL_OUTPUT_MAX, err) < 0)
        return -1;
    json_error_t jerr;
    json_auto_t *all = json_loads(text, 0, &jerr);
    const char *id = NULL, *agent = NULL, *shared = NULL;
    int pid = 0;
    if (all == NULL || !json_is_array(all) || json_array_size(all) != 1 ||
        json_unpack(json_array_get(all, 0), "{s:s, s:s, s:s, s:i}", "id", &id, "agent", &agent,
                    "shared", &shared, "pid", &pid) < 0)
        return wp_error_set(err, EPROTO, "warmpoolctl clone: unexpected output '%.200s'", text);
    *out = (pool_vm_info_t){.pid = pid};
    if (snprintf(out->id, sizeof(out->id), "%s", id) >= (int)sizeof(out->id) ||
        snprintf(out->agent_endpoint, sizeof(out->agent_endpoint), "%s", agent) >=
            (int)sizeof(out->agent_endpoint) ||
        snprintf(out->shared_dir, sizeof(out->shared_dir), "%s", shared) >=
            (int)sizeof(out->shared_dir)) {
        shim_ctl_destroy_vm(cfg, id, NULL);
        return wp_error_set(err, ENAMETOOLONG, "warmpoolctl clone: VM '%.64s': a path too long",
                            id);
    }
    return 0;
}

int shim_ctl_destroy_vm(const shim_config_t *cfg, const char *id, wp_error_t *err)
{
    const char *tail[] = {"vm", "destroy", id, NULL};
    char out[4096];
    return run_ctl(cfg, "vm destroy", tail, out, sizeof(out), err);
}
