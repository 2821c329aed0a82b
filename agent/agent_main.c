/* agent_main.c - warmpool-agent: the guest agent, PID 1 of the guest.
 *
 * As PID 1 it mounts the kernel filesystems and loads its modules, then
 * serves the host over its transport until told to shut down; it reaps
 * every orphan (SIGCHLD through a signalfd). It never exits: PID 1 exiting
 * panics the kernel, so a fatal error powers the guest off instead, which
 * the host sees as the VM ending. Not being PID 1 (a developer running it),
 * it skips the init work. */
#include <errno.h>        /* errno */
#include <signal.h>       /* sigset_t */
#include <stdio.h>        /* fprintf */
#include <string.h>       /* strcmp */
#include <stdlib.h>       /* free */
#include <sys/epoll.h>    /* EPOLLIN */
#include <sys/reboot.h>   /* reboot */
#include <sys/signalfd.h> /* signalfd */
#include <unistd.h>       /* getpid */

#include "agent_crun.h"
#include "agent_init.h"
#include "agent_server.h"
#include "agent_sys.h"
#include "agent_transport.h"
#include "wp_fs.h"
#include "wp_log.h"

typedef struct agent_main {
    agent_transport_t transport;
    agent_watch_t signals;
} agent_main_t;

static void on_signal(agent_server_t *s, agent_watch_t *w, uint32_t events)
{
    (void)events;
    agent_main_t *m = w->opaque;
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGIO)
            m->transport.ops->on_sigio(&m->transport);
    }
    /* every exit, dispatched by pid (crun's own children are waited for
     * where they are run, agent_crun.h, so none is taken here) */
    agent_server_reap(s);
}

static void fatal(const wp_error_t *err)
{
    wp_log_error("agent: %s", err->msg);
    if (getpid() == 1) {
        sync();
        reboot(RB_POWER_OFF);
    }
    _exit(1);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    wp_log_set_level(WP_LOG_INFO);
    wp_error_t err = {0};
    bool pid1 = getpid() == 1;
    if (pid1) {
        if (agent_init_mounts(&err) < 0)
            fatal(&err);
        if (agent_init_modules(AGENT_MODULES_LIST, &err) < 0)
            wp_log_error("agent: %s", err.msg); /* serve anyway: the host learns more */
        if (agent_init_readonly_copy(AGENT_CRUN_BIN, "/run/readonly", &err) < 0)
            wp_log_error("agent: %s", err.msg); /* crun still works, at twice the cost */
    }
    char *cmdline = wp_read_file("/proc/cmdline", 65536, NULL, &err);
    agent_options_t opt;
    if (cmdline == NULL || agent_parse_cmdline(cmdline, &opt, &err) < 0)
        fatal(&err);
    free(cmdline);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGIO);
    sigaddset(&mask, SIGPIPE);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    agent_main_t m = {0};
    m.signals.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    m.signals.fn = on_signal;
    m.signals.opaque = &m;

    agent_ctx_t ctx = {.sys = &agent_sys_linux, .version = WP_VERSION};
    agent_sys_boot_id(ctx.boot_id);
    agent_server_t *s = agent_server_new(&ctx, &err);
    if (s == NULL || m.signals.fd < 0 || agent_server_watch(s, &m.signals, EPOLLIN, &err) < 0)
        fatal(&err);
    m.transport.ops = opt.vsock ? &agent_transport_vsock : &agent_transport_serial;
    m.transport.vsock_port = opt.vsock_port;
    if (m.transport.ops->start(&m.transport, s, &err) < 0)
        fatal(&err);
    for (;;) {
        if (agent_server_run_once(s, -1, &err) < 0)
            fatal(&err);
    }
}
