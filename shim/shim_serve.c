/* shim_serve.c - the serving shim's loop (shim.h): ttrpc, the agent and
 * the stdio FIFOs on one thread. */
#include <errno.h>        /* errno */
#include <poll.h>         /* poll */
#include <signal.h>       /* sigprocmask */
#include <stdlib.h>       /* calloc */
#include <string.h>       /* strcmp */
#include <sys/signalfd.h> /* signalfd */
#include <unistd.h>       /* read */

#include "shim.h"
#include "shim_events.pb-c.h"
#include "wp_cleanup.h"
#include "wp_log.h"
#include "wp_time.h"

#define MAX_POLL 256

void shim_on_agent_event(void *opaque, const Warmpool__Agent__V1__Event *ev)
{
    shim_t *s = opaque;
    if (ev->event_case == WARMPOOL__AGENT__V1__EVENT__EVENT_PROCESS_EXITED) {
        const Warmpool__Agent__V1__ProcessExited *x = ev->process_exited;
        shim_proc_t *p = shim_proc_find(s, x->container_id, x->exec_id, NULL);
        if (p == NULL || p->exit_seen)
            return;
        p->exit_seen = true;
        p->exit_status = x->exit_status;
        p->exited_at_ns = x->exited_at_ns;
    } else if (ev->event_case == WARMPOOL__AGENT__V1__EVENT__EVENT_CONTAINER_OOM) {
        Containerd__Events__TaskOOM oom = CONTAINERD__EVENTS__TASK_OOM__INIT;
        oom.container_id = ev->container_oom->container_id;
        shim_events_publish(s->events, "/tasks/oom", &oom.base);
    }
}

/* The agent's connection broke: the VM is gone (or unusable), and so is
 * every process in it. Each ends as if killed (137), with what output got
 * out, so that containerd's Waits return and it can clean up. */
static void vm_lost(shim_t *s, const wp_error_t *why)
{
    wp_log_error("sandbox %s: the VM's agent is gone (%s): every process ends", s->id, why->msg);
    for (shim_task_t *t = s->tasks; t; t = t->next)
        for (shim_proc_t *p = t->procs; p; p = p->next) {
            shim_io_free(p->io);
            p->io = NULL;
            if (p->status != SHIM_STOPPED && !p->exit_seen && p->pid != 0) {
                p->exit_seen = true;
                p->exit_status = 137;
                p->exited_at_ns = (uint64_t)wp_now_real_ns();
            }
        }
    agent_client_close(s->vm.agent);
    s->vm.agent = NULL;
}

static int take_signals(wp_error_t *err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return wp_error_errno(err, errno, "block signals");
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        return wp_error_errno(err, errno, "signalfd");
    return fd;
}

/* One turn: wait for anything, then serve it all. */
static int turn(shim_t *s, int sigfd, bool *stop, wp_error_t *err)
{
    struct pollfd fds[MAX_POLL];
    int n = 0;
    fds[n++] = (struct pollfd){.fd = ttrpc_server_fd(s->srv), .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    int agent_at = -1;
    if (s->vm.agent) {
        agent_at = n;
        fds[n++] = (struct pollfd){.fd = agent_client_fd(s->vm.agent), .events = POLLIN};
    }
    int io_from = n, timeout = -1;
    for (shim_task_t *t = s->tasks; t; t = t->next)
        for (shim_proc_t *p = t->procs; p; p = p->next) {
            if (p->io && n + 3 <= MAX_POLL)
                n += shim_io_poll_fds(p->io, fds + n);
            if (p->io && shim_io_draining(p->io))
                timeout = SHIM_IO_DRAIN_POLL_MS;
        }
    if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR)
        return wp_error_errno(err, errno, "poll");
    if (fds[1].revents) {
        struct signalfd_siginfo si;
        if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            wp_log_info("signal %u: stopping", si.ssi_signo);
            *stop = true;
            return 0;
        }
    }
    if (ttrpc_server_process(s->srv, 0, err) < 0)
        return -1;
    if (s->vm.agent && agent_at >= 0 && fds[agent_at].revents) {
        wp_error_t e = {0};
        if (agent_client_pump(s->vm.agent, 0, &e) < 0)
            vm_lost(s, &e);
    }
    /* the fds of this turn belong to the processes that still exist: a
     * handler may have deleted some, so match them by fd */
    for (shim_task_t *t = s->tasks; t; t = t->next)
        for (shim_proc_t *p = t->procs; p; p = p->next) {
            if (p->io == NULL)
                continue;
            wp_error_t e = {0};
            if (shim_io_handle(p->io, fds + io_from, n - io_from, &e) < 0)
                wp_log_warn("%s stdio: %s", t->id, e.msg);
        }
    shim_settle_exits(s);
    return 0;
}

int shim_serve(shim_t *s, int listen_fd, wp_error_t *err)
{
    s->srv = ttrpc_server_new(err);
    if (s->srv == NULL || ttrpc_server_listen_fd(s->srv, listen_fd, err) < 0 ||
        shim_task_register(s, err) < 0)
        return -1;
    _cleanup_close_ int sigfd = take_signals(err);
    if (sigfd < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    bool stop = false;
    int ret = 0;
    while (!s->shutdown && !stop)
        if ((ret = turn(s, sigfd, &stop, err)) < 0)
            break;
    shim_task_teardown(s);
    ttrpc_server_free(s->srv);
    s->srv = NULL;
    return ret;
}
