/* agent_proc.c - see agent_proc.h. */
#include "agent_proc.h"

#include <errno.h>    /* EINVAL, ESRCH, EBUSY */
#include <fcntl.h>    /* pipe2 */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* calloc */
#include <string.h>   /* strcpy */
#include <sys/wait.h> /* WIFSIGNALED */
#include <unistd.h>   /* close, dup */

#include "agent_crun.h"
#include "wp_time.h"

/* The errno refusing each operation in each state; 0: legal. The one
 * place the state machine lives: every call consults it before acting, so
 * a refused call changes nothing. */
static const int refusal[AGENT_PROC_STATES][AGENT_OP_COUNT] = {
    [AGENT_PROC_CREATED] =
        {[AGENT_OP_EXEC] = EINVAL, [AGENT_OP_PAUSE] = EINVAL, [AGENT_OP_RESUME] = EINVAL},
    [AGENT_PROC_RUNNING] =
        {[AGENT_OP_START] = EINVAL, [AGENT_OP_RESUME] = EINVAL, [AGENT_OP_DELETE] = EBUSY},
    [AGENT_PROC_PAUSED] = {[AGENT_OP_START] = EINVAL,
                           [AGENT_OP_EXEC] = EINVAL,
                           [AGENT_OP_PAUSE] = EINVAL,
                           [AGENT_OP_DELETE] = EBUSY},
    [AGENT_PROC_STOPPED] = {[AGENT_OP_START] = EINVAL,
                            [AGENT_OP_EXEC] = EINVAL,
                            [AGENT_OP_SIGNAL] = ESRCH,
                            [AGENT_OP_PAUSE] = EINVAL,
                            [AGENT_OP_RESUME] = EINVAL,
                            [AGENT_OP_UPDATE] = EINVAL,
                            [AGENT_OP_RESIZE] = ESRCH},
};

static const char *const state_names[AGENT_PROC_STATES] = {"created", "running", "paused",
                                                           "stopped"};
static const char *const op_names[AGENT_OP_COUNT] = {"start",  "exec into", "signal",
                                                     "pause",  "resume",    "update",
                                                     "resize", "delete",    "force-delete"};

const char *agent_proc_state_name(agent_proc_state_t st)
{
    return state_names[st];
}

int agent_proc_allows(const agent_proc_t *p, agent_proc_op_t op, wp_error_t *err)
{
    int code = refusal[p->state][op];
    if (code == 0)
        return 0;
    if (p->exec_id[0] != '\0')
        wp_error_set(err, code, "cannot %s process '%s' of container '%s': it is %s", op_names[op],
                     p->exec_id, p->ctr->id, state_names[p->state]);
    else
        wp_error_set(err, code, "cannot %s container '%s': it is %s", op_names[op], p->ctr->id,
                     state_names[p->state]);
    return code;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void agent_stdio_close(agent_stdio_t *io)
{
    for (int i = 0; i < 3; i++) {
        close_fd(&io->child[i]);
        close_fd(&io->parent[i]);
    }
    close_fd(&io->console);
    if (io->console_path[0] != '\0')
        unlink(io->console_path);
    io->console_path[0] = '\0';
}

int agent_stdio_prepare(agent_stdio_t *io, bool terminal, bool stdin, const char *console_path,
                        wp_error_t *err)
{
    *io = (agent_stdio_t){.terminal = terminal,
                          .stdin = stdin,
                          .console = -1,
                          .child = {-1, -1, -1},
                          .parent = {-1, -1, -1}};
    if (terminal) {
        io->console = agent_console_listen(console_path, err);
        if (io->console < 0)
            return -1;
        snprintf(io->console_path, sizeof(io->console_path), "%s", console_path);
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        if (i == 0 && !stdin)
            continue;
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0) {
            agent_stdio_close(io);
            return wp_error_errno(err, errno, "stdio pipe");
        }
        /* stdin: the child reads fds[0]; stdout, stderr: the child writes fds[1] */
        io->child[i] = i == 0 ? fds[0] : fds[1];
        io->parent[i] = i == 0 ? fds[1] : fds[0];
    }
    return 0;
}

static bool outputs_done(const agent_proc_t *p)
{
    return (p->out.id == 0 || p->out.eof) && (p->err.id == 0 || p->err.eof);
}

static void publish(agent_proc_t *p)
{
    if (p->published || p->state != AGENT_PROC_STOPPED || !outputs_done(p))
        return;
    p->published = true;
    Warmpool__Agent__V1__ProcessExited ex = WARMPOOL__AGENT__V1__PROCESS_EXITED__INIT;
    ex.container_id = p->ctr->id;
    ex.exec_id = p->exec_id;
    ex.pid = (uint32_t)p->pid;
    ex.exit_status = p->exit_status;
    ex.exited_at_ns = p->exited_at_ns;
    ex.signal = p->signal;
    Warmpool__Agent__V1__Event ev = WARMPOOL__AGENT__V1__EVENT__INIT;
    ev.event_case = WARMPOOL__AGENT__V1__EVENT__EVENT_PROCESS_EXITED;
    ev.process_exited = &ex;
    agent_server_broadcast(p->srv, &ev);
    while (p->waiters != NULL) {
        agent_waiter_t *w = p->waiters;
        p->waiters = w->next;
        agent_proc_wait(p, w->conn, w->id, NULL);
        free(w);
    }
}

static void on_output_eof(void *opaque)
{
    publish(opaque);
}

agent_proc_t *agent_proc_new(agent_server_t *srv, agent_container_t *ctr, const char *exec_id,
                             pid_t pid, agent_proc_state_t st, agent_stdio_t *io,
                             agent_conn_t *conn, wp_error_t *err)
{
    int master = -1;
    if (io->terminal) {
        master = agent_console_receive(io->console, err);
        if (master < 0)
            return NULL;
    }
    agent_proc_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        close_fd(&master);
        wp_error_errno(err, ENOMEM, "process");
        return NULL;
    }
    *p = (agent_proc_t){.ctr = ctr, .srv = srv, .pid = pid, .state = st, .pty = -1};
    snprintf(p->exec_id, sizeof(p->exec_id), "%s", exec_id);
    p->out.watch.fd = p->err.watch.fd = p->in.watch.fd = -1;
    for (int i = 0; i < 3; i++) /* the child's ends belong to the process now */
        close_fd(&io->child[i]);
    int ret = 0;
    if (io->terminal) {
        p->pty = dup(master);
        if (io->stdin)
            ret = agent_in_open(&p->in, srv, conn, fcntl(master, F_DUPFD_CLOEXEC, 0), err);
        if (ret == 0)
            ret = agent_out_open(&p->out, srv, conn, master, on_output_eof, p, err);
        else
            close(master);
    } else {
        if (io->parent[0] >= 0)
            ret = agent_in_open(&p->in, srv, conn, io->parent[0], err);
        io->parent[0] = -1;
        if (ret == 0)
            ret = agent_out_open(&p->out, srv, conn, io->parent[1], on_output_eof, p, err);
        io->parent[1] = -1;
        if (ret == 0)
            ret = agent_out_open(&p->err, srv, conn, io->parent[2], on_output_eof, p, err);
        io->parent[2] = -1;
    }
    if (ret < 0) {
        agent_proc_free(p);
        return NULL;
    }
    return p;
}

void agent_proc_streams(const agent_proc_t *p, Warmpool__Agent__V1__StdioStreams *out)
{
    warmpool__agent__v1__stdio_streams__init(out);
    out->stdin_stream = p->in.id;
    out->stdout_stream = p->out.id;
    out->stderr_stream = p->err.id;
}

void agent_proc_exited(agent_proc_t *p, int status)
{
    if (p->state == AGENT_PROC_STOPPED)
        return;
    p->state = AGENT_PROC_STOPPED;
    p->exited_at_ns = (uint64_t)wp_now_real_ns();
    if (WIFSIGNALED(status)) {
        p->signal = (uint32_t)WTERMSIG(status);
        p->exit_status = 128 + p->signal;
    } else {
        p->exit_status = (uint32_t)WEXITSTATUS(status);
    }
    agent_in_reader_gone(&p->in);
    publish(p);
}

int agent_proc_wait(agent_proc_t *p, agent_conn_t *conn, uint32_t id, wp_error_t *err)
{
    if (!p->published) {
        agent_waiter_t *w = calloc(1, sizeof(*w));
        if (w == NULL)
            return wp_error_errno(err, ENOMEM, "wait");
        *w = (agent_waiter_t){.next = p->waiters, .conn = conn, .id = id};
        p->waiters = w;
        return 0;
    }
    Warmpool__Agent__V1__WaitProcessResponse out = WARMPOOL__AGENT__V1__WAIT_PROCESS_RESPONSE__INIT;
    out.exit_status = p->exit_status;
    out.exited_at_ns = p->exited_at_ns;
    out.signal = p->signal;
    Warmpool__Agent__V1__Response resp = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    resp.result_case = WARMPOOL__AGENT__V1__RESPONSE__RESULT_WAIT_PROCESS;
    resp.wait_process = &out;
    agent_conn_respond(conn, id, &resp);
    return 0;
}

void agent_proc_conn_gone(agent_proc_t *p, agent_conn_t *conn)
{
    if (p->out.conn == conn)
        agent_out_detach(&p->out);
    if (p->err.conn == conn)
        agent_out_detach(&p->err);
    if (p->in.conn == conn)
        agent_in_close(&p->in);
    for (agent_waiter_t **w = &p->waiters; *w != NULL;) {
        if ((*w)->conn == conn) {
            agent_waiter_t *gone = *w;
            *w = gone->next;
            free(gone);
        } else {
            w = &(*w)->next;
        }
    }
}

void agent_proc_free(agent_proc_t *p)
{
    if (p == NULL)
        return;
    agent_out_close(&p->out);
    agent_out_close(&p->err);
    agent_in_close(&p->in);
    publish(p);
    while (p->waiters != NULL) { /* never stopped (the agent is going away) */
        agent_waiter_t *w = p->waiters;
        p->waiters = w->next;
        free(w);
    }
    close_fd(&p->pty);
    agent_server_defer_free(p->srv, free, p);
}
