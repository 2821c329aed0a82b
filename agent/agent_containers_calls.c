/* agent_containers_calls.c - one function per container call (16-31):
 * validate, look up, ask the state table (agent_proc_allows), act through
 * crun or the process, fill the result. A refused call changes nothing.
 * Results are single calloc'd blocks (agent_response_fini frees them). */
#include <errno.h>     /* ENOENT, EEXIST */
#include <signal.h>    /* kill */
#include <stdio.h>     /* snprintf */
#include <stdlib.h>    /* calloc */
#include <string.h>    /* strcmp */
#include <sys/ioctl.h> /* TIOCSWINSZ */
#include <sys/wait.h>  /* waitpid */
#include <termios.h>   /* struct winsize */
#include <unistd.h>    /* close */

#include "agent_cgroup.h"
#include "agent_containers_impl.h"
#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_time.h"

#define REQ(x) WARMPOOL__AGENT__V1__REQUEST__CALL_##x
#define RES(x) WARMPOOL__AGENT__V1__RESPONSE__RESULT_##x
typedef Warmpool__Agent__V1__Response resp_t;

/* Allocate resp's result of type T (with `extra` bytes after it). */
#define RESULT(resp, member, CASE, T, INIT, extra)                                                 \
    ({                                                                                             \
        T *r_ = calloc(1, sizeof(T) + (extra));                                                    \
        if (r_ != NULL) {                                                                          \
            *r_ = (T)INIT;                                                                         \
            (resp)->result_case = RES(CASE);                                                       \
            (resp)->member = (void *)r_;                                                           \
        }                                                                                          \
        r_;                                                                                        \
    })
#define NOMEM(what) wp_error_errno(err, ENOMEM, "%s", what)

static int mount_share(agent_containers_t *m, bool *already, uint64_t *ns, wp_error_t *err)
{
    if (m->ctx->sys->mount_share == NULL)
        return wp_error_set(err, EOPNOTSUPP, "mounting the share is not supported here");
    int64_t t0 = wp_now_mono_ns();
    int ret = m->ctx->sys->mount_share(m->ctx->sys_opaque, AGENT_SHARE_TAG, AGENT_SHARE_GUEST_PATH,
                                       already);
    if (ret < 0)
        return wp_error_errno(err, -ret, "mount share '%s' at '%s'", AGENT_SHARE_TAG,
                              AGENT_SHARE_GUEST_PATH);
    *ns = *already ? 0 : (uint64_t)(wp_now_mono_ns() - t0);
    return 0;
}

static int call_mount(agent_containers_t *m, resp_t *resp, wp_error_t *err)
{
    bool already = false;
    uint64_t ns = 0;
    if (mount_share(m, &already, &ns, err) < 0)
        return -1;
    Warmpool__Agent__V1__MountShareResponse *r =
        RESULT(resp, mount_share, MOUNT_SHARE, Warmpool__Agent__V1__MountShareResponse,
               WARMPOOL__AGENT__V1__MOUNT_SHARE_RESPONSE__INIT, 0);
    if (r == NULL)
        return NOMEM("mount share");
    r->already_mounted = already;
    r->mount_ns = ns;
    return 0;
}

static int call_warm_up(agent_containers_t *m, resp_t *resp, wp_error_t *err)
{
    uint64_t ns = 0;
    if (agent_ctr_warm_up(m, &ns, err) < 0)
        return -1;
    Warmpool__Agent__V1__WarmUpResponse *r =
        RESULT(resp, warm_up, WARM_UP, Warmpool__Agent__V1__WarmUpResponse,
               WARMPOOL__AGENT__V1__WARM_UP_RESPONSE__INIT, 0);
    if (r == NULL)
        return NOMEM("warm up");
    r->duration_ns = ns;
    return 0;
}

typedef struct create_result {
    Warmpool__Agent__V1__CreateContainerResponse create; /* first: the block's address */
    Warmpool__Agent__V1__StdioStreams streams;
} create_result_t;

typedef struct exec_result {
    Warmpool__Agent__V1__ExecProcessResponse exec; /* first: the block's address */
    Warmpool__Agent__V1__StdioStreams streams;
} exec_result_t;

static int call_create(agent_containers_t *m, agent_conn_t *conn,
                       const Warmpool__Agent__V1__CreateContainerRequest *in, resp_t *resp,
                       wp_error_t *err)
{
    if (!agent_id_valid(in->id))
        return wp_error_set(err, EINVAL, "container id '%s' is not valid", in->id);
    if (agent_find_ctr(m, in->id, NULL) != NULL)
        return wp_error_set(err, EEXIST, "container '%s' exists", in->id);
    bool poststart_hooks = false;
    _cleanup_free_ char *spec =
        agent_spec_prepare(in->spec_json, in->id, in->terminal, &poststart_hooks, err);
    if (spec == NULL)
        return -1;
    bool already;
    uint64_t ns;
    if (mount_share(m, &already, &ns, err) < 0)
        return -1;
    _cleanup_free_ agent_container_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NOMEM("container");
    snprintf(c->id, sizeof(c->id), "%s", in->id);
    snprintf(c->bundle, sizeof(c->bundle), "%s/%s", m->bundle_dir, in->id);
    agent_cgroup_path(m->cgroup_root, in->id, c->cgroup, sizeof(c->cgroup));
    c->oom_wd = -1;
    c->poststart_hooks = poststart_hooks;
    char config[600], pidfile[600], console[600];
    agent_ctr_path(c, "config.json", config, sizeof(config));
    agent_ctr_path(c, "init.pid", pidfile, sizeof(pidfile));
    /* '@' is not an id character: no clash with a bundle; short for sun_path */
    snprintf(console, sizeof(console), "%s/console@%u", m->bundle_dir, ++m->console_seq);
    if (wp_rm_tree(c->bundle, err) < 0 || wp_mkdir_p(c->bundle, 0700, err) < 0 ||
        wp_write_file_atomic(config, spec, strlen(spec), 0600, err) < 0)
        return wp_error_wrap(err, "container '%s': bundle", in->id);
    agent_stdio_t io;
    if (agent_stdio_prepare(&io, in->terminal, in->stdin, console, err) < 0) {
        wp_rm_tree(c->bundle, NULL);
        return -1;
    }
    const char *with_console[] = {"create", "--no-pivot",       "--bundle", c->bundle, "--pid-file",
                                  pidfile,  "--console-socket", console,    c->id,     NULL};
    const char *with_pipes[] = {"create",     "--no-pivot", "--bundle", c->bundle,
                                "--pid-file", pidfile,      c->id,      NULL};
    const char *const *argv = in->terminal ? with_console : with_pipes;
    pid_t pid = 0;
    int ret = agent_ctr_crun(m, c, argv, io.child, err);
    if (ret == 0)
        ret = agent_read_pid(pidfile, &pid, err);
    if (ret == 0)
        c->init = agent_proc_new(m->srv, c, "", pid, AGENT_PROC_CREATED, &io, conn, err);
    agent_stdio_close(&io);
    if (c->init == NULL) {
        if (pid > 0) { /* crun made it: undo */
            agent_ctr_crun(m, c, (const char *const[]){"delete", "--force", c->id, NULL}, NULL,
                           NULL);
            waitpid(pid, NULL, 0);
        }
        wp_rm_tree(c->bundle, NULL);
        return wp_error_wrap(err, "create container '%s'", in->id);
    }
    agent_ctr_oom_watch(m, c);
    create_result_t *r =
        RESULT(resp, create_container, CREATE_CONTAINER, create_result_t,
               {.create = WARMPOOL__AGENT__V1__CREATE_CONTAINER_RESPONSE__INIT}, 0);
    c->next = m->list;
    m->list = wp_steal_ptr(&c);
    if (r == NULL)
        return NOMEM("create");
    r->create.pid = (uint32_t)pid;
    agent_proc_streams(m->list->init, &r->streams);
    r->create.streams = &r->streams;
    return 0;
}

static int call_start(agent_containers_t *m, const char *id, resp_t *resp, wp_error_t *err)
{
    agent_container_t *c = agent_find_ctr(m, id, err);
    if (c == NULL || agent_proc_allows(c->init, AGENT_OP_START, err) != 0)
        return -1;
    int ret = c->poststart_hooks
                  ? agent_ctr_crun(m, c, (const char *const[]){"start", c->id, NULL}, NULL, err)
                  : agent_crun_start_direct(&m->crun, c->id, err);
    if (ret < 0)
        return wp_error_wrap(err, "start container '%s'", id);
    if (c->init->state == AGENT_PROC_CREATED)
        c->init->state = AGENT_PROC_RUNNING;
    Warmpool__Agent__V1__StartContainerResponse *r =
        RESULT(resp, start_container, START_CONTAINER, Warmpool__Agent__V1__StartContainerResponse,
               WARMPOOL__AGENT__V1__START_CONTAINER_RESPONSE__INIT, 0);
    if (r == NULL)
        return NOMEM("start");
    r->pid = (uint32_t)c->init->pid;
    return 0;
}

static int call_exec(agent_containers_t *m, agent_conn_t *conn,
                     const Warmpool__Agent__V1__ExecProcessRequest *in, resp_t *resp,
                     wp_error_t *err)
{
    agent_container_t *c = agent_find_ctr(m, in->container_id, err);
    if (c == NULL)
        return -1;
    if (!agent_id_valid(in->exec_id))
        return wp_error_set(err, EINVAL, "exec id '%s' is not valid", in->exec_id);
    if (agent_find_exec(c, in->exec_id) != NULL)
        return wp_error_set(err, EEXIST, "process '%s' exists in container '%s'", in->exec_id,
                            c->id);
    if (agent_proc_allows(c->init, AGENT_OP_EXEC, err) != 0)
        return -1;
    _cleanup_free_ char *process = agent_process_prepare(in->process_json, in->terminal, err);
    if (process == NULL)
        return wp_error_wrap(err, "exec '%s' in container '%s'", in->exec_id, c->id);
    char file[600], pidfile[600], console[600], name[AGENT_ID_MAX + 16];
    snprintf(name, sizeof(name), "exec@%s.json", in->exec_id);
    agent_ctr_path(c, name, file, sizeof(file));
    snprintf(name, sizeof(name), "exec@%s.pid", in->exec_id);
    agent_ctr_path(c, name, pidfile, sizeof(pidfile));
    snprintf(console, sizeof(console), "%s/console@%u", m->bundle_dir, ++m->console_seq);
    unlink(pidfile);
    if (wp_write_file_atomic(file, process, strlen(process), 0600, err) < 0)
        return wp_error_wrap(err, "exec '%s' in container '%s'", in->exec_id, c->id);
    agent_stdio_t io;
    if (agent_stdio_prepare(&io, in->terminal, in->stdin, console, err) < 0)
        return -1;
    const char *args[] = {"exec",  "--detach",         "--process", file,  "--pid-file",
                          pidfile, "--console-socket", console,     c->id, NULL};
    if (!in->terminal)
        args[6] = c->id, args[7] = NULL;
    pid_t pid = 0;
    agent_proc_t *p = NULL;
    int ret = agent_ctr_crun(m, c, args, io.child, err);
    if (ret == 0)
        ret = agent_read_pid(pidfile, &pid, err);
    if (ret == 0)
        p = agent_proc_new(m->srv, c, in->exec_id, pid, AGENT_PROC_RUNNING, &io, conn, err);
    agent_stdio_close(&io);
    if (p == NULL) {
        if (pid > 0)
            kill(pid, SIGKILL); /* reaped by the loop; unknown to the registry */
        return wp_error_wrap(err, "exec '%s' in container '%s'", in->exec_id, c->id);
    }
    p->next = c->execs;
    c->execs = p;
    exec_result_t *r = RESULT(resp, exec_process, EXEC_PROCESS, exec_result_t,
                              {.exec = WARMPOOL__AGENT__V1__EXEC_PROCESS_RESPONSE__INIT}, 0);
    if (r == NULL)
        return NOMEM("exec");
    r->exec.pid = (uint32_t)pid;
    agent_proc_streams(p, &r->streams);
    r->exec.streams = &r->streams;
    return 0;
}

static int call_signal(agent_containers_t *m, const Warmpool__Agent__V1__SignalProcessRequest *in,
                       resp_t *resp, wp_error_t *err)
{
    agent_proc_t *p = agent_find_proc(m, in->container_id, in->exec_id, err);
    if (p == NULL || agent_proc_allows(p, AGENT_OP_SIGNAL, err) != 0)
        return -1;
    if (in->signal >= 65)
        return wp_error_set(err, EINVAL, "signal %u is not valid", in->signal);
    if (in->all) {
        char sig[16];
        snprintf(sig, sizeof(sig), "%u", in->signal);
        if (agent_ctr_crun(m, p->ctr, (const char *const[]){"kill", "--all", p->ctr->id, sig, NULL},
                           NULL, err) < 0)
            return wp_error_wrap(err, "signal container '%s'", p->ctr->id);
    } else if (kill(p->pid, (int)in->signal) < 0) {
        /* ESRCH: exited a moment ago, not reaped yet */
        return wp_error_errno(err, errno, "signal %u to pid %d", in->signal, (int)p->pid);
    }
    if (!RESULT(resp, signal_process, SIGNAL_PROCESS, Warmpool__Agent__V1__SignalProcessResponse,
                WARMPOOL__AGENT__V1__SIGNAL_PROCESS_RESPONSE__INIT, 0))
        return NOMEM("signal");
    return 0;
}

/* 1: deferred (the answer goes when the process has exited). */
static int call_wait(agent_containers_t *m, agent_conn_t *conn, uint32_t id,
                     const Warmpool__Agent__V1__WaitProcessRequest *in, wp_error_t *err)
{
    agent_proc_t *p = agent_find_proc(m, in->container_id, in->exec_id, err);
    if (p == NULL || agent_proc_wait(p, conn, id, err) < 0)
        return -1;
    return 1;
}

static int call_resize(agent_containers_t *m, const Warmpool__Agent__V1__ResizePtyRequest *in,
                       resp_t *resp, wp_error_t *err)
{
    agent_proc_t *p = agent_find_proc(m, in->container_id, in->exec_id, err);
    if (p == NULL || agent_proc_allows(p, AGENT_OP_RESIZE, err) != 0)
        return -1;
    if (p->pty < 0)
        return wp_error_set(err, EINVAL, "process '%s' of container '%s' has no terminal",
                            p->exec_id, p->ctr->id);
    if (in->rows == 0 || in->cols == 0 || in->rows > 65535 || in->cols > 65535)
        return wp_error_set(err, EINVAL, "terminal size %ux%u is not valid", in->rows, in->cols);
    struct winsize ws = {.ws_row = (unsigned short)in->rows, .ws_col = (unsigned short)in->cols};
    if (ioctl(p->pty, TIOCSWINSZ, &ws) < 0)
        return wp_error_errno(err, errno, "resize the terminal");
    if (!RESULT(resp, resize_pty, RESIZE_PTY, Warmpool__Agent__V1__ResizePtyResponse,
                WARMPOOL__AGENT__V1__RESIZE_PTY_RESPONSE__INIT, 0))
        return NOMEM("resize");
    return 0;
}

static int call_close_stdin(agent_containers_t *m, const Warmpool__Agent__V1__CloseStdinRequest *in,
                            resp_t *resp, wp_error_t *err)
{
    agent_proc_t *p = agent_find_proc(m, in->container_id, in->exec_id, err);
    if (p == NULL)
        return -1;
    if (p->in.id != 0)
        agent_in_eof(&p->in);
    if (!RESULT(resp, close_stdin, CLOSE_STDIN, Warmpool__Agent__V1__CloseStdinResponse,
                WARMPOOL__AGENT__V1__CLOSE_STDIN_RESPONSE__INIT, 0))
        return NOMEM("close stdin");
    return 0;
}

static int call_pids(agent_containers_t *m, const char *id, resp_t *resp, wp_error_t *err)
{
    agent_container_t *c = agent_find_ctr(m, id, err);
    if (c == NULL)
        return -1;
    _cleanup_free_ uint32_t *pids = NULL;
    size_t n = 0;
    if (agent_cgroup_pids(c->cgroup, &pids, &n, err) < 0)
        return wp_error_wrap(err, "container '%s'", id);
    Warmpool__Agent__V1__ListPidsResponse *r =
        RESULT(resp, list_pids, LIST_PIDS, Warmpool__Agent__V1__ListPidsResponse,
               WARMPOOL__AGENT__V1__LIST_PIDS_RESPONSE__INIT, n * sizeof(uint32_t));
    if (r == NULL)
        return NOMEM("list pids");
    r->pids = (uint32_t *)(r + 1);
    r->n_pids = n;
    if (n > 0)
        memcpy(r->pids, pids, n * sizeof(uint32_t));
    return 0;
}

static int call_stats(agent_containers_t *m, const char *id, resp_t *resp, wp_error_t *err)
{
    agent_container_t *c = agent_find_ctr(m, id, err);
    agent_cgroup_stats_t st = {0};
    if (c == NULL || agent_cgroup_stats(c->cgroup, &st, err) < 0)
        return -1;
    Warmpool__Agent__V1__ContainerStatsResponse *r =
        RESULT(resp, container_stats, CONTAINER_STATS, Warmpool__Agent__V1__ContainerStatsResponse,
               WARMPOOL__AGENT__V1__CONTAINER_STATS_RESPONSE__INIT, 0);
    if (r == NULL)
        return NOMEM("stats");
    r->cpu_usage_usec = st.cpu_usage_usec;
    r->cpu_user_usec = st.cpu_user_usec;
    r->cpu_system_usec = st.cpu_system_usec;
    r->memory_usage_bytes = st.memory_current;
    r->memory_limit_bytes = st.memory_max;
    r->pids_current = st.pids_current;
    r->pids_limit = st.pids_max;
    r->oom_kills = st.oom_kills;
    return 0;
}

static int call_pause(agent_containers_t *m, const char *id, bool pause, resp_t *resp,
                      wp_error_t *err)
{
    agent_container_t *c = agent_find_ctr(m, id, err);
    if (c == NULL || agent_proc_allows(c->init, pause ? AGENT_OP_PAUSE : AGENT_OP_RESUME, err))
        return -1;
    const char *verb = pause ? "pause" : "resume";
    if (agent_ctr_crun(m, c, (const char *const[]){verb, c->id, NULL}, NULL, err) < 0)
        return wp_error_wrap(err, "%s container '%s'", verb, id);
    c->init->state = pause ? AGENT_PROC_PAUSED : AGENT_PROC_RUNNING;
    void *r = pause ? (void *)RESULT(resp, pause_container, PAUSE_CONTAINER,
                                     Warmpool__Agent__V1__PauseContainerResponse,
                                     WARMPOOL__AGENT__V1__PAUSE_CONTAINER_RESPONSE__INIT, 0)
                    : (void *)RESULT(resp, resume_container, RESUME_CONTAINER,
                                     Warmpool__Agent__V1__ResumeContainerResponse,
                                     WARMPOOL__AGENT__V1__RESUME_CONTAINER_RESPONSE__INIT, 0);
    return r ? 0 : NOMEM(verb);
}

static int call_update(agent_containers_t *m, const Warmpool__Agent__V1__UpdateResourcesRequest *in,
                       resp_t *resp, wp_error_t *err)
{
    agent_container_t *c = agent_find_ctr(m, in->container_id, err);
    if (c == NULL || agent_proc_allows(c->init, AGENT_OP_UPDATE, err) != 0)
        return -1;
    /* the same check as a process object: a JSON object */
    _cleanup_free_ char *json = agent_process_prepare(in->resources_json, false, err);
    if (json == NULL)
        return wp_error_wrap(err, "update container '%s'", c->id);
    char file[600];
    agent_ctr_path(c, "resources.json", file, sizeof(file));
    if (wp_write_file_atomic(file, in->resources_json, strlen(in->resources_json), 0600, err) < 0 ||
        agent_ctr_crun(m, c, (const char *const[]){"update", "--resources", file, c->id, NULL},
                       NULL, err) < 0)
        return wp_error_wrap(err, "update container '%s'", c->id);
    if (!RESULT(resp, update_resources, UPDATE_RESOURCES,
                Warmpool__Agent__V1__UpdateResourcesResponse,
                WARMPOOL__AGENT__V1__UPDATE_RESOURCES_RESPONSE__INIT, 0))
        return NOMEM("update");
    return 0;
}

static int call_delete_process(agent_containers_t *m,
                               const Warmpool__Agent__V1__DeleteProcessRequest *in, resp_t *resp,
                               wp_error_t *err)
{
    agent_container_t *c = agent_find_ctr(m, in->container_id, err);
    if (c == NULL)
        return -1;
    if (in->exec_id[0] == '\0')
        return wp_error_set(
            err, EINVAL, "the init process goes with its container (delete container '%s')", c->id);
    agent_proc_t *p = agent_find_proc(m, in->container_id, in->exec_id, err);
    if (p == NULL || agent_proc_allows(p, AGENT_OP_DELETE, err) != 0)
        return -1;
    Warmpool__Agent__V1__DeleteProcessResponse *r =
        RESULT(resp, delete_process, DELETE_PROCESS, Warmpool__Agent__V1__DeleteProcessResponse,
               WARMPOOL__AGENT__V1__DELETE_PROCESS_RESPONSE__INIT, 0);
    if (r == NULL)
        return NOMEM("delete process");
    r->exit_status = p->exit_status;
    r->exited_at_ns = p->exited_at_ns;
    for (agent_proc_t **pp = &c->execs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    agent_proc_free(p);
    return 0;
}

/* SIGKILL and reap a live process at once (force delete): it dies promptly,
 * and the container's files may go only after it has. */
static void kill_and_reap(agent_proc_t *p)
{
    if (p->state == AGENT_PROC_STOPPED)
        return;
    kill(p->pid, SIGKILL);
    int status = 0;
    while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
    }
    agent_proc_exited(p, status);
}

static int call_delete(agent_containers_t *m, const Warmpool__Agent__V1__DeleteContainerRequest *in,
                       resp_t *resp, wp_error_t *err)
{
    agent_container_t *c = agent_find_ctr(m, in->container_id, err);
    if (c == NULL)
        return -1;
    agent_proc_op_t op = in->force ? AGENT_OP_DELETE_FORCE : AGENT_OP_DELETE;
    if (agent_proc_allows(c->init, op, err) != 0)
        return -1;
    /* a created container has a live init too: crun removes it only by force */
    bool force = c->init->state != AGENT_PROC_STOPPED;
    if (agent_ctr_crun(
            m, c,
            (const char *const[]){"delete", force ? "--force" : c->id, force ? c->id : NULL, NULL},
            NULL, err) < 0)
        return wp_error_wrap(err, "delete container '%s'", c->id);
    for (agent_proc_t *p = c->execs; p != NULL; p = p->next)
        kill_and_reap(p);
    kill_and_reap(c->init);
    Warmpool__Agent__V1__DeleteContainerResponse *r = RESULT(
        resp, delete_container, DELETE_CONTAINER, Warmpool__Agent__V1__DeleteContainerResponse,
        WARMPOOL__AGENT__V1__DELETE_CONTAINER_RESPONSE__INIT, 0);
    if (r == NULL)
        return NOMEM("delete");
    r->exit_status = c->init->exit_status;
    r->exited_at_ns = c->init->exited_at_ns;
    wp_rm_tree(c->bundle, NULL);
    agent_ctr_free(m, c);
    return 0;
}

static int call_state(agent_containers_t *m, const char *id, resp_t *resp, wp_error_t *err)
{
    agent_container_t *c = agent_find_ctr(m, id, err);
    if (c == NULL)
        return -1;
    Warmpool__Agent__V1__ContainerStateResponse *r =
        RESULT(resp, container_state, CONTAINER_STATE, Warmpool__Agent__V1__ContainerStateResponse,
               WARMPOOL__AGENT__V1__CONTAINER_STATE_RESPONSE__INIT, 0);
    if (r == NULL)
        return NOMEM("state");
    r->status = (char *)agent_proc_state_name(c->init->state);
    r->pid = (uint32_t)c->init->pid;
    r->exit_status = c->init->exit_status;
    return 0;
}

bool agent_containers_handles(const Warmpool__Agent__V1__Request *req)
{
    return req->call_case >= REQ(MOUNT_SHARE) && req->call_case <= REQ(WARM_UP);
}

void agent_containers_call(agent_containers_t *m, agent_conn_t *c, uint32_t id,
                           const Warmpool__Agent__V1__Request *req)
{
    wp_error_t e = {0}, *err = &e;
    resp_t resp = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    int ret;
    switch (req->call_case) {
    case REQ(MOUNT_SHARE):
        ret = call_mount(m, &resp, err);
        break;
    case REQ(WARM_UP):
        ret = call_warm_up(m, &resp, err);
        break;
    case REQ(CREATE_CONTAINER):
        ret = call_create(m, c, req->create_container, &resp, err);
        break;
    case REQ(START_CONTAINER):
        ret = call_start(m, req->start_container->id, &resp, err);
        break;
    case REQ(EXEC_PROCESS):
        ret = call_exec(m, c, req->exec_process, &resp, err);
        break;
    case REQ(SIGNAL_PROCESS):
        ret = call_signal(m, req->signal_process, &resp, err);
        break;
    case REQ(WAIT_PROCESS):
        ret = call_wait(m, c, id, req->wait_process, err);
        break;
    case REQ(RESIZE_PTY):
        ret = call_resize(m, req->resize_pty, &resp, err);
        break;
    case REQ(CLOSE_STDIN):
        ret = call_close_stdin(m, req->close_stdin, &resp, err);
        break;
    case REQ(LIST_PIDS):
        ret = call_pids(m, req->list_pids->container_id, &resp, err);
        break;
    case REQ(CONTAINER_STATS):
        ret = call_stats(m, req->container_stats->container_id, &resp, err);
        break;
    case REQ(PAUSE_CONTAINER):
        ret = call_pause(m, req->pause_container->container_id, true, &resp, err);
        break;
    case REQ(RESUME_CONTAINER):
        ret = call_pause(m, req->resume_container->container_id, false, &resp, err);
        break;
    case REQ(UPDATE_RESOURCES):
        ret = call_update(m, req->update_resources, &resp, err);
        break;
    case REQ(DELETE_PROCESS):
        ret = call_delete_process(m, req->delete_process, &resp, err);
        break;
    case REQ(DELETE_CONTAINER):
        ret = call_delete(m, req->delete_container, &resp, err);
        break;
    case REQ(CONTAINER_STATE):
        ret = call_state(m, req->container_state->container_id, &resp, err);
        break;
    default:
        ret = wp_error_set(err, EOPNOTSUPP, "unknown container call");
        break;
    }
    if (ret == 1)
        return; /* answered later */
    if (ret < 0) {
        agent_response_fini(&resp);
        resp.error_code = e.code ? e.code : EIO;
        resp.error_message = e.msg;
    }
    agent_conn_respond(c, id, &resp);
    agent_response_fini(&resp);
}
