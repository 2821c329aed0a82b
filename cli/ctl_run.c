/* ctl_run.c - `warmpoolctl run TEMPLATE --rootfs DIR [--tty] [--] CMD...`:
 * one container in a warm VM, its stdio on ours, our exit status its.
 *
 * Flow: a VM (leased from warmpoold when its socket answers, else cloned
 * here with the factory; or, with --endpoint and --share, one already
 * running, which is left running) -> the agent -> mount the share -> bind the rootfs
 * and build the spec (agent_share, agent_spec) -> create -> send the wait
 * -> (terminal: raw mode, size) -> start -> copy stdin to the stdin stream
 * and the output streams to fds 1 and 2 until the wait is answered and the
 * output has ended -> delete the container, unbind, release or destroy.
 * Every way out goes through run_cleanup, so no lease, VM, mount or raw
 * terminal is left behind. Signals are taken through a signalfd from the
 * start, so a ^C during the acquire also cleans up: SIGINT, SIGTERM,
 * SIGHUP and SIGQUIT before the start abort the run, after it they go to
 * the container's init (with --tty, ^C is a byte on its terminal anyway);
 * SIGWINCH resizes its terminal. */
#include <errno.h>        /* errno */
#include <poll.h>         /* poll */
#include <signal.h>       /* sigprocmask */
#include <stdio.h>        /* fprintf */
#include <string.h>       /* strcmp */
#include <sys/ioctl.h>    /* TIOCGWINSZ */
#include <sys/signalfd.h> /* signalfd */
#include <termios.h>      /* tcgetattr */
#include <unistd.h>       /* isatty */

#include "agent_protocol.h"
#include "agent_share.h"
#include "agent_spec.h"
#include "ctl.h"
#include "ctl_run.h"
#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_id.h"
#include "wp_time.h"

#define CALL_MS     30000 /* one agent call; a create runs crun in a TCG guest */
#define ANNOUNCE_MS 10000

typedef struct run {
    ctl_t *ctl;
    const ctl_run_args_t *a; /* run only */
    bool tty, verbose;
    int64_t t0;
    /* the VM: a lease, or a clone of our own */
    api_client_t *api;
    pool_lease_t lease;
    bool leased;
    factory_template_t *tpl;
    factory_vm_t *fvm;
    agent_client_t *agent; /* fvm's, or ours to close (own_agent) */
    bool own_agent;
    char share[PATH_MAX];
    /* the container */
    char id[AGENT_ID_MAX + 1];
    char exec_id[AGENT_ID_MAX + 1]; /* exec: the process; "" for init */
    bool bound, created, started;
    agent_process_t proc;
    bool stdin_open;
    bool exited_event, waited;
    agent_exit_t exit;
    bool out_broken[3]; /* fd 1 or 2 failed: its output is dropped from then on */
    double first_output_ms;
    /* the caller's side */
    int sigfd;
    sigset_t old_mask;
    bool raw;
    struct termios saved_tio;
} run_t;

static double since(const run_t *r)
{
    return wp_ms_between(r->t0, wp_now_mono_ns());
}

static void note(const run_t *r, const char *what)
{
    if (r->verbose)
        fprintf(stderr, "warmpoolctl run: %-12s %9.2f ms\n", what, since(r));
}

/* ---- the caller's terminal and signals ---- */

static int take_signals(run_t *r, wp_error_t *err)
{
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&set, sigs[i]);
    if (sigprocmask(SIG_BLOCK, &set, &r->old_mask) < 0)
        return wp_error_errno(err, errno, "block signals");
    r->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (r->sigfd < 0)
        return wp_error_errno(err, errno, "signalfd");
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is an EPIPE we handle */
    return 0;
}

/* The next pending signal, 0 when none. */
static int next_signal(run_t *r)
{
    struct signalfd_siginfo si;
    if (read(r->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return 0;
    return (int)si.ssi_signo;
}

/* A signal before the container runs: abort the run (cleanup follows). */
static int check_abort(run_t *r, wp_error_t *err)
{
    int sig;
    while ((sig = next_signal(r)) != 0)
        if (sig != SIGWINCH)
            return wp_error_set(err, EINTR, "interrupted by signal %d (%s)", sig, strsignal(sig));
    return 0;
}

static int raw_mode(run_t *r, wp_error_t *err)
{
    if (!isatty(STDIN_FILENO))
        return 0;
    if (tcgetattr(STDIN_FILENO, &r->saved_tio) < 0)
        return wp_error_errno(err, errno, "read the terminal's settings");
    struct termios raw = r->saved_tio;
    cfmakeraw(&raw);
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
        return wp_error_errno(err, errno, "put the terminal in raw mode");
    r->raw = true;
    return 0;
}

static int send_size(run_t *r, wp_error_t *err)
{
    struct winsize ws;
    int fd = isatty(STDIN_FILENO) ? STDIN_FILENO : STDOUT_FILENO;
    if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0)
        return 0; /* not a terminal: the agent's default size stands */
    return agent_client_resize(r->agent, r->id, r->exec_id, ws.ws_row, ws.ws_col, CALL_MS, err);
}

/* ---- the VM ---- */

static bool no_daemon(int code)
{
    return code == ENOENT || code == ECONNREFUSED;
}

static int get_vm(run_t *r, wp_error_t *err)
{
    if (r->a->endpoint) {
        snprintf(r->share, sizeof(r->share), "%s", r->a->share);
        r->agent = agent_client_connect_announced(r->a->endpoint, ANNOUNCE_MS, err);
        r->own_agent = r->agent != NULL;
        if (r->agent == NULL)
            return -1;
        note(r, "connected");
        return 0;
    }
    wp_error_t oerr = {0};
    r->api = api_client_open(r->ctl->socket_url, &oerr);
    if (r->api == NULL && !no_daemon(oerr.code)) {
        *err = oerr;
        return -1;
    }
    if (r->api != NULL) {
        if (api_client_acquire(r->api, r->a->template_name, false, 0, &r->lease, err) < 0)
            return wp_error_wrap(err, "acquire a VM of '%s'", r->a->template_name);
        r->leased = true;
        snprintf(r->share, sizeof(r->share), "%s", r->lease.vm.shared_dir);
        note(r, "acquired");
        r->agent = agent_client_connect_announced(r->lease.vm.agent_endpoint, ANNOUNCE_MS, err);
        r->own_agent = r->agent != NULL;
        if (r->agent == NULL)
            return wp_error_wrap(err, "VM '%s'", r->lease.vm.id);
        return 0;
    }
    if (r->verbose)
        fprintf(stderr, "warmpoolctl run: no warmpoold (%s): cloning here\n", oerr.msg);
    factory_t *f = ctl_factory(r->ctl);
    if (f == NULL)
        return wp_error_set(err, EIO, "no factory (see above)");
    r->tpl = factory_template_open(f, r->a->template_name, err);
    if (r->tpl == NULL || factory_clone(f, r->tpl, NULL, &r->fvm, err) < 0)
        return -1;
    snprintf(r->share, sizeof(r->share), "%s", r->fvm->share_dir);
    r->agent = r->fvm->agent;
    note(r, "cloned");
    return 0;
}

/* ---- stdio ---- */

static int sink(void *opaque, uint32_t stream, const uint8_t *data, size_t len, bool eof,
                wp_error_t *err)
{
    (void)err;
    (void)eof;
    run_t *r = opaque;
    int fd = stream == r->proc.stderr_stream ? STDERR_FILENO : STDOUT_FILENO;
    if (len > 0 && r->first_output_ms == 0) {
        r->first_output_ms = since(r);
        note(r, "first output");
    }
    /* a reader that went away (EPIPE) must not stop the container: drop */
    if (len > 0 && !r->out_broken[fd] && wp_write_all(fd, data, len, NULL) < 0)
        r->out_broken[fd] = true;
    return 0;
}

static void on_event(void *opaque, const Warmpool__Agent__V1__Event *ev)
{
    run_t *r = opaque;
    if (ev->event_case == WARMPOOL__AGENT__V1__EVENT__EVENT_PROCESS_EXITED &&
        strcmp(ev->process_exited->container_id, r->id) == 0 &&
        strcmp(ev->process_exited->exec_id, r->exec_id) == 0)
        r->exited_event = true;
    else if (ev->event_case == WARMPOOL__AGENT__V1__EVENT__EVENT_CONTAINER_OOM &&
             strcmp(ev->container_oom->container_id, r->id) == 0)
        fprintf(stderr, "warmpoolctl run: container '%s' ran out of memory (OOM kill %llu)\n",
                r->id, (unsigned long long)ev->container_oom->oom_kills);
}

static int copy_stdin(run_t *r, wp_error_t *err)
{
    uint8_t buf[AGENT_STREAM_CHUNK];
    size_t room = agent_client_stdin_room(r->agent, r->proc.stdin_stream);
    if (room > sizeof(buf))
        room = sizeof(buf);
    ssize_t n = read(STDIN_FILENO, buf, room);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        /* end of input (or a hung-up terminal): the container sees EOF */
        r->stdin_open = false;
        return agent_client_stdin_eof(r->agent, r->proc.stdin_stream, err);
    }
    size_t taken;
    return agent_client_stdin_write(r->agent, r->proc.stdin_stream, buf, (size_t)n, &taken, err);
}

static int on_signal(run_t *r, int sig, wp_error_t *err)
{
    if (sig == SIGWINCH)
        return r->tty ? send_size(r, err) : 0;
    /* ESRCH: it exited meanwhile; the wait says how */
    wp_error_t e = {0};
    if (agent_client_signal(r->agent, r->id, r->exec_id, sig, false, CALL_MS, &e) < 0 &&
        e.code != ESRCH) {
        *err = e;
        return -1;
    }
    return 0;
}

static bool output_done(const run_t *r)
{
    /* the agent sends every output EOF before ProcessExited */
    return r->exited_event || (!agent_client_stream_open(r->agent, r->proc.stdout_stream) &&
                               !agent_client_stream_open(r->agent, r->proc.stderr_stream));
}

static int stream_until_exit(run_t *r, uint32_t wait_call, wp_error_t *err)
{
    for (;;) {
        /* collect first: the answer may have come inside an earlier call */
        if (!r->waited) {
            int got = agent_client_wait_collect(r->agent, wait_call, &r->exit, err);
            if (got < 0)
                return -1;
            r->waited = got == 1;
            if (r->waited)
                note(r, "exited");
        }
        if (r->waited && output_done(r))
            return 0;
        struct pollfd p[3] = {
            {.fd = agent_client_fd(r->agent), .events = POLLIN},
            {.fd = r->sigfd, .events = POLLIN},
            {.fd = -1, .events = POLLIN},
        };
        if (r->stdin_open && agent_client_stdin_room(r->agent, r->proc.stdin_stream) > 0)
            p[2].fd = STDIN_FILENO;
        if (poll(p, 3, -1) < 0 && errno != EINTR)
            return wp_error_errno(err, errno, "poll");
        if (agent_client_pump(r->agent, 0, err) < 0)
            return -1;
        if (p[1].revents) {
            int sig;
            while ((sig = next_signal(r)) != 0)
                if (on_signal(r, sig, err) < 0)
                    return -1;
        }
        if (p[2].revents && r->stdin_open && copy_stdin(r, err) < 0)
            return -1;
    }
}

/* ---- the run ---- */

/* --detach: say where the container runs and leave it all in place (the
 * VM's end removes the binds: factory VM destroy clears its share). */
static int detach(run_t *r)
{
    const char *endpoint = r->a->endpoint ? r->a->endpoint
                           : r->leased    ? r->lease.vm.agent_endpoint
                                          : hv_vm_agent_endpoint(r->fvm->vm);
    printf("container %s\nendpoint  %s\nshare     %s\n", r->id, endpoint, r->share);
    if (r->leased) {
        printf("vm        %s\ntoken     %s\n", r->lease.vm.id, r->lease.token);
        printf("exec with: warmpoolctl exec %s %s -- CMD\n", endpoint, r->id);
        printf("end with:  warmpoolctl release %s %s\n", r->lease.vm.id, r->lease.token);
        r->leased = false;
    } else if (r->fvm) {
        printf("vm        %s\n", r->fvm->id);
        printf("exec with: warmpoolctl exec %s %s -- CMD\n", endpoint, r->id);
        printf("end with:  warmpoolctl vm destroy %s\n", r->fvm->id);
        factory_vm_release(r->fvm);
        r->fvm = NULL;
        r->agent = NULL;
    }
    fflush(stdout);
    r->created = r->bound = false;
    r->exit = (agent_exit_t){0};
    return 0;
}

static int run_container(run_t *r, wp_error_t *err)
{
    if (take_signals(r, err) < 0 || get_vm(r, err) < 0 || check_abort(r, err) < 0)
        return -1;
    if (r->a->id) {
        snprintf(r->id, sizeof(r->id), "%s", r->a->id);
    } else {
        uint8_t rnd[4];
        char hex[9];
        if (wp_random_bytes(rnd, sizeof(rnd), err) < 0)
            return -1;
        wp_hex(rnd, sizeof(rnd), hex);
        snprintf(r->id, sizeof(r->id), "run-%s", hex);
    }
    if (agent_client_mount_share(r->agent, NULL, CALL_MS, err) < 0)
        return -1;
    note(r, "share mounted");
    json_auto_t *spec = agent_spec_default(r->a->argc, r->a->argv, NULL, r->tty, NULL, err);
    if (spec == NULL || agent_share_prepare(r->share, r->id, r->a->rootfs, spec, err) < 0)
        return -1;
    r->bound = true;
    _cleanup_free_ char *text = json_dumps(spec, JSON_COMPACT);
    if (text == NULL)
        return wp_error_errno(err, ENOMEM, "OCI spec");
    bool want_stdin = ctl_run_wants_stdin(r->a, isatty(STDIN_FILENO));
    if (agent_client_create(r->agent, r->id, text, r->tty, want_stdin, &r->proc, CALL_MS, err) < 0)
        return -1;
    r->created = true;
    note(r, "created");
    r->stdin_open = r->proc.stdin_stream != 0;
    agent_client_on_event(r->agent, on_event, r);
    agent_client_on_stream(r->agent, sink, r);
    uint32_t wait_call;
    if (agent_client_wait_send(r->agent, r->id, NULL, &wait_call, err) < 0)
        return -1;
    if (r->tty && (raw_mode(r, err) < 0 || send_size(r, err) < 0))
        return -1;
    if (check_abort(r, err) < 0 || agent_client_start(r->agent, r->id, NULL, CALL_MS, err) < 0)
        return -1;
    r->started = true;
    note(r, "started");
    if (r->a->detach)
        return detach(r);
    return stream_until_exit(r, wait_call, err);
}

/* Undo whatever run_container got to; reports (but survives) failures. */
static int run_cleanup(run_t *r)
{
    int ret = 0;
    wp_error_t err = {0};
    if (r->raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &r->saved_tio);
    if (r->created && r->agent && r->exec_id[0] != '\0') {
        /* a process still running (we failed before its exit) is killed first */
        if (!r->waited)
            agent_client_signal(r->agent, r->id, r->exec_id, SIGKILL, false, CALL_MS, NULL);
        if (r->waited &&
            agent_client_delete_process(r->agent, r->id, r->exec_id, NULL, CALL_MS, &err) < 0)
            ret = ctl_fail(&err);
    } else if (r->created && r->agent &&
               agent_client_delete_container(r->agent, r->id, true, NULL, CALL_MS, &err) < 0) {
        ret = ctl_fail(&err);
    }
    /* unbind even when the delete failed: the VM goes next anyway */
    if (r->bound && agent_share_remove(r->share, r->id, &err) < 0)
        ret = ctl_fail(&err);
    if (r->own_agent)
        agent_client_close(r->agent);
    if (r->leased) {
        if (api_client_release(r->api, r->lease.vm.id, r->lease.token, NULL, &err) < 0)
            ret = ctl_fail(&err);
    }
    if (r->fvm && factory_vm_destroy(r->fvm, &err) < 0)
        ret = ctl_fail(&err);
    r->agent = NULL;
    factory_template_close(r->tpl);
    api_client_close(r->api);
    if (r->sigfd >= 0) {
        close(r->sigfd);
        sigprocmask(SIG_SETMASK, &r->old_mask, NULL);
    }
    return ret;
}

static int exec_process(run_t *r, const ctl_exec_args_t *a, wp_error_t *err)
{
    if (take_signals(r, err) < 0)
        return -1;
    r->agent = agent_client_connect_announced(a->endpoint, ANNOUNCE_MS, err);
    r->own_agent = r->agent != NULL;
    if (r->agent == NULL)
        return -1;
    snprintf(r->id, sizeof(r->id), "%s", a->container_id);
    if (a->exec_id) {
        snprintf(r->exec_id, sizeof(r->exec_id), "%s", a->exec_id);
    } else {
        uint8_t rnd[4];
        char hex[9];
        if (wp_random_bytes(rnd, sizeof(rnd), err) < 0)
            return -1;
        wp_hex(rnd, sizeof(rnd), hex);
        snprintf(r->exec_id, sizeof(r->exec_id), "exec-%s", hex);
    }
    json_auto_t *spec = agent_spec_default(a->argc, a->argv, NULL, a->tty, NULL, err);
    if (spec == NULL)
        return -1;
    _cleanup_free_ char *text = json_dumps(json_object_get(spec, "process"), JSON_COMPACT);
    if (text == NULL)
        return wp_error_errno(err, ENOMEM, "OCI process");
    bool want_stdin = !a->no_stdin && (a->tty || !isatty(STDIN_FILENO));
    if (check_abort(r, err) < 0 || agent_client_exec(r->agent, r->id, r->exec_id, text, a->tty,
                                                     want_stdin, &r->proc, CALL_MS, err) < 0)
        return -1;
    r->created = true; /* for the cleanup: the exec process is deleted */
    note(r, "exec started");
    r->stdin_open = r->proc.stdin_stream != 0;
    agent_client_on_event(r->agent, on_event, r);
    agent_client_on_stream(r->agent, sink, r);
    uint32_t wait_call;
    if (agent_client_wait_send(r->agent, r->id, r->exec_id, &wait_call, err) < 0)
        return -1;
    if (a->tty && (raw_mode(r, err) < 0 || send_size(r, err) < 0))
        return -1;
    return stream_until_exit(r, wait_call, err);
}

/* The exit or error status warmpoolctl ends with, after the cleanup. */
static int finish_status(run_t *r, int status, wp_error_t *err)
{
    if (status < 0) {
        /* the message must not land on a raw terminal */
        if (r->raw) {
            tcsetattr(STDIN_FILENO, TCSANOW, &r->saved_tio);
            r->raw = false;
        }
        ctl_fail(err);
    }
    bool cleanup_failed = run_cleanup(r) != 0;
    if (status < 0 || cleanup_failed)
        return CTL_RUN_FAILED;
    return ctl_run_exit_code(&r->exit);
}

int ctl_exec(ctl_t *ctl, int argc, char **argv)
{
    ctl_exec_args_t a;
    char why[256];
    if (ctl_exec_parse(argc, argv, &a, why, sizeof(why)) < 0)
        return ctl_usage("exec", "%s", why);
    run_t r = {.ctl = ctl, .tty = a.tty, .verbose = a.verbose, .t0 = wp_now_mono_ns(), .sigfd = -1};
    wp_error_t err = {0};
    int status = exec_process(&r, &a, &err);
    return finish_status(&r, status, &err);
}

int ctl_run(ctl_t *ctl, int argc, char **argv)
{
    ctl_run_args_t a;
    char why[256];
    if (ctl_run_parse(argc, argv, &a, why, sizeof(why)) < 0)
        return ctl_usage("run", "%s", why);
    run_t r = {.ctl = ctl,
               .a = &a,
               .tty = a.tty,
               .verbose = a.verbose,
               .t0 = wp_now_mono_ns(),
               .sigfd = -1};
    wp_error_t err = {0};
    int status = run_container(&r, &err);
    return finish_status(&r, status, &err);
}
