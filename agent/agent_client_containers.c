/* agent_client_containers.c - see agent_client_containers.h. */
#include "agent_client_containers.h"

#include <errno.h>  /* EPROTO */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* malloc */
#include <string.h> /* memcpy */

#include "agent_client_internal.h"

typedef Warmpool__Agent__V1__Request req_t;
typedef Warmpool__Agent__V1__Response resp_t;

/* protobuf-c packs a NULL string as a crash: borrowed strings go through S */
#define S(x) ((char *)((x) ? (x) : ""))
/* A request whose call is `field` (CALL_<UPPER>) pointing to msg. */
#define REQ(req, UPPER, field, msg)                                                                \
    req_t req = WARMPOOL__AGENT__V1__REQUEST__INIT;                                                \
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_##UPPER;                                    \
    req.field = &(msg)
#define WANT(UPPER) WARMPOOL__AGENT__V1__RESPONSE__RESULT_##UPPER

static void free_resp(resp_t **r)
{
    if (*r)
        warmpool__agent__v1__response__free_unpacked(*r, NULL);
}
#define _cleanup_resp_ __attribute__((cleanup(free_resp)))

static void take_process(const Warmpool__Agent__V1__StdioStreams *s, uint32_t pid,
                         agent_process_t *out)
{
    *out = (agent_process_t){.pid = pid};
    if (s) {
        out->stdin_stream = s->stdin_stream;
        out->stdout_stream = s->stdout_stream;
        out->stderr_stream = s->stderr_stream;
    }
}

int agent_client_mount_share(agent_client_t *c, bool *already_mounted, int timeout_ms,
                             wp_error_t *err)
{
    Warmpool__Agent__V1__MountShareRequest m = WARMPOOL__AGENT__V1__MOUNT_SHARE_REQUEST__INIT;
    REQ(req, MOUNT_SHARE, mount_share, m);
    _cleanup_resp_ resp_t *r = NULL;
    if (agent_client_simple_call(c, &req, WANT(MOUNT_SHARE), &r, timeout_ms, err) < 0)
        return wp_error_wrap(err, "mount the share");
    if (already_mounted)
        *already_mounted = r->mount_share->already_mounted;
    return 0;
}

int agent_client_warm_up(agent_client_t *c, uint64_t *duration_ns, int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__WarmUpRequest m = WARMPOOL__AGENT__V1__WARM_UP_REQUEST__INIT;
    REQ(req, WARM_UP, warm_up, m);
    _cleanup_resp_ resp_t *r = NULL;
    if (agent_client_simple_call(c, &req, WANT(WARM_UP), &r, timeout_ms, err) < 0)
        return wp_error_wrap(err, "warm up");
    if (duration_ns)
        *duration_ns = r->warm_up->duration_ns;
    return 0;
}

int agent_client_create(agent_client_t *c, const char *id, const char *spec_json, bool terminal,
                        bool want_stdin, agent_process_t *out, int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__CreateContainerRequest m =
        WARMPOOL__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
    m.id = S(id);
    m.spec_json = S(spec_json);
    m.terminal = terminal;
    m.stdin = want_stdin;
    REQ(req, CREATE_CONTAINER, create_container, m);
    _cleanup_resp_ resp_t *r = NULL;
    if (agent_client_simple_call(c, &req, WANT(CREATE_CONTAINER), &r, timeout_ms, err) < 0)
        return wp_error_wrap(err, "create container '%s'", id);
    take_process(r->create_container->streams, r->create_container->pid, out);
    return 0;
}

int agent_client_start(agent_client_t *c, const char *id, uint32_t *pid, int timeout_ms,
                       wp_error_t *err)
{
    Warmpool__Agent__V1__StartContainerRequest m =
        WARMPOOL__AGENT__V1__START_CONTAINER_REQUEST__INIT;
    m.id = S(id);
    REQ(req, START_CONTAINER, start_container, m);
    _cleanup_resp_ resp_t *r = NULL;
    if (agent_client_simple_call(c, &req, WANT(START_CONTAINER), &r, timeout_ms, err) < 0)
        return wp_error_wrap(err, "start container '%s'", id);
    if (pid)
        *pid = r->start_container->pid;
    return 0;
}

int agent_client_exec(agent_client_t *c, const char *container_id, const char *exec_id,
                      const char *process_json, bool terminal, bool want_stdin,
                      agent_process_t *out, int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__ExecProcessRequest m = WARMPOOL__AGENT__V1__EXEC_PROCESS_REQUEST__INIT;
    m.container_id = S(container_id);
    m.exec_id = S(exec_id);
    m.process_json = S(process_json);
    m.terminal = terminal;
    m.stdin = want_stdin;
    REQ(req, EXEC_PROCESS, exec_process, m);
    _cleanup_resp_ resp_t *r = NULL;
    if (agent_client_simple_call(c, &req, WANT(EXEC_PROCESS), &r, timeout_ms, err) < 0)
        return wp_error_wrap(err, "exec '%s' in container '%s'", S(exec_id), container_id);
    take_process(r->exec_process->streams, r->exec_process->pid, out);
    return 0;
}

int agent_client_signal(agent_client_t *c, const char *container_id, const char *exec_id,
                        int signal, bool all, int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__SignalProcessRequest m = WARMPOOL__AGENT__V1__SIGNAL_PROCESS_REQUEST__INIT;
    m.container_id = S(container_id);
    m.exec_id = S(exec_id);
    m.signal = (uint32_t)signal;
    m.all = all;
    REQ(req, SIGNAL_PROCESS, signal_process, m);
    if (agent_client_simple_call(c, &req, WANT(SIGNAL_PROCESS), NULL, timeout_ms, err) < 0)
        return wp_error_wrap(err, "signal %d to container '%s'", signal, container_id);
    return 0;
}

int agent_client_wait_send(agent_client_t *c, const char *container_id, const char *exec_id,
                           uint32_t *call, wp_error_t *err)
{
    Warmpool__Agent__V1__WaitProcessRequest m = WARMPOOL__AGENT__V1__WAIT_PROCESS_REQUEST__INIT;
    m.container_id = S(container_id);
    m.exec_id = S(exec_id);
    REQ(req, WAIT_PROCESS, wait_process, m);
    if (agent_client_call_send(c, &req, call, err) < 0)
        return wp_error_wrap(err, "wait for container '%s'", container_id);
    return 0;
}

static int take_exit(resp_t *r, agent_exit_t *out, wp_error_t *err)
{
    if (r->result_case != WANT(WAIT_PROCESS))
        return wp_error_set(err, EPROTO, "agent answered a wait with the wrong result kind");
    *out = (agent_exit_t){.exit_status = r->wait_process->exit_status,
                          .signal = r->wait_process->signal,
                          .exited_at_ns = r->wait_process->exited_at_ns};
    return 0;
}

int agent_client_wait_collect(agent_client_t *c, uint32_t call, agent_exit_t *out, wp_error_t *err)
{
    _cleanup_resp_ resp_t *r = NULL;
    int ret = agent_client_call_poll(c, call, &r, err);
    if (ret <= 0)
        return ret < 0 ? wp_error_wrap(err, "wait") : 0;
    return take_exit(r, out, err) < 0 ? -1 : 1;
}

int agent_client_wait_process(agent_client_t *c, const char *container_id, const char *exec_id,
                              agent_exit_t *out, int timeout_ms, wp_error_t *err)
{
    uint32_t call;
    if (agent_client_wait_send(c, container_id, exec_id, &call, err) < 0)
        return -1;
    _cleanup_resp_ resp_t *r = NULL;
    if (agent_client_call_wait(c, call, &r, timeout_ms, err) < 0) {
        agent_client_call_abandon(c, call);
        return wp_error_wrap(err, "wait for container '%s'", container_id);
    }
    return take_exit(r, out, err);
}

int agent_client_resize(agent_client_t *c, const char *container_id, const char *exec_id,
                        unsigned rows, unsigned cols, int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__ResizePtyRequest m = WARMPOOL__AGENT__V1__RESIZE_PTY_REQUEST__INIT;
    m.container_id = S(container_id);
    m.exec_id = S(exec_id);
    m.rows = rows;
    m.cols = cols;
    REQ(req, RESIZE_PTY, resize_pty, m);
    if (agent_client_simple_call(c, &req, WANT(RESIZE_PTY), NULL, timeout_ms, err) < 0)
        return wp_error_wrap(err, "resize the terminal of container '%s'", container_id);
    return 0;
}

int agent_client_close_stdin(agent_client_t *c, const char *container_id, const char *exec_id,
                             int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__CloseStdinRequest m = WARMPOOL__AGENT__V1__CLOSE_STDIN_REQUEST__INIT;
    m.container_id = S(container_id);
    m.exec_id = S(exec_id);
    REQ(req, CLOSE_STDIN, close_stdin, m);
    if (agent_client_simple_call(c, &req, WANT(CLOSE_STDIN), NULL, timeout_ms, err) < 0)
        return wp_error_wrap(err, "close stdin of container '%s'", container_id);
    return 0;
}

int agent_client_pids(agent_client_t *c, const char *container_id, uint32_t **pids, size_t *count,
                      int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__ListPidsRequest m = WARMPOOL__AGENT__V1__LIST_PIDS_REQUEST__INIT;
    m.container_id = S(container_id);
    REQ(req, LIST_PIDS, list_pids, m);
    _cleanup_resp_ resp_t *r = NULL;
    if (agent_client_simple_call(c, &req, WANT(LIST_PIDS), &r, timeout_ms, err) < 0)
        return wp_error_wrap(err, "list the pids of container '%s'", container_id);
    size_t n = r->list_pids->n_pids;
    uint32_t *copy = malloc(n ? n * sizeof(*copy) : 1);
    if (copy == NULL)
        return wp_error_errno(err, ENOMEM, "pids of container '%s'", container_id);
    if (n)
        memcpy(copy, r->list_pids->pids, n * sizeof(*copy));
    *pids = copy;
    *count = n;
    return 0;
}

int agent_client_stats(agent_client_t *c, const char *container_id, agent_stats_t *out,
                       int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__ContainerStatsRequest m =
        WARMPOOL__AGENT__V1__CONTAINER_STATS_REQUEST__INIT;
    m.container_id = S(container_id);
    REQ(req, CONTAINER_STATS, container_stats, m);
    _cleanup_resp_ resp_t *r = NULL;
    if (agent_client_simple_call(c, &req, WANT(CONTAINER_STATS), &r, timeout_ms, err) < 0)
        return wp_error_wrap(err, "stats of container '%s'", container_id);
    const Warmpool__Agent__V1__ContainerStatsResponse *s = r->container_stats;
    *out = (agent_stats_t){.cpu_usage_usec = s->cpu_usage_usec,
                           .cpu_user_usec = s->cpu_user_usec,
                           .cpu_system_usec = s->cpu_system_usec,
                           .memory_usage_bytes = s->memory_usage_bytes,
                           .memory_limit_bytes = s->memory_limit_bytes,
                           .pids_current = s->pids_current,
                           .pids_limit = s->pids_limit,
                           .oom_kills = s->oom_kills};
    return 0;
}

int agent_client_pause(agent_client_t *c, const char *container_id, int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__PauseContainerRequest m =
        WARMPOOL__AGENT__V1__PAUSE_CONTAINER_REQUEST__INIT;
    m.container_id = S(container_id);
    REQ(req, PAUSE_CONTAINER, pause_container, m);
    if (agent_client_simple_call(c, &req, WANT(PAUSE_CONTAINER), NULL, timeout_ms, err) < 0)
        return wp_error_wrap(err, "pause container '%s'", container_id);
    return 0;
}

int agent_client_resume(agent_client_t *c, const char *container_id, int timeout_ms,
                        wp_error_t *err)
{
    Warmpool__Agent__V1__ResumeContainerRequest m =
        WARMPOOL__AGENT__V1__RESUME_CONTAINER_REQUEST__INIT;
    m.container_id = S(container_id);
    REQ(req, RESUME_CONTAINER, resume_container, m);
    if (agent_client_simple_call(c, &req, WANT(RESUME_CONTAINER), NULL, timeout_ms, err) < 0)
        return wp_error_wrap(err, "resume container '%s'", container_id);
    return 0;
}

int agent_client_update(agent_client_t *c, const char *container_id, const char *resources_json,
                        int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__UpdateResourcesRequest m =
        WARMPOOL__AGENT__V1__UPDATE_RESOURCES_REQUEST__INIT;
    m.container_id = S(container_id);
    m.resources_json = S(resources_json);
    REQ(req, UPDATE_RESOURCES, update_resources, m);
    if (agent_client_simple_call(c, &req, WANT(UPDATE_RESOURCES), NULL, timeout_ms, err) < 0)
        return wp_error_wrap(err, "update the resources of container '%s'", container_id);
    return 0;
}

int agent_client_delete_process(agent_client_t *c, const char *container_id, const char *exec_id,
                                agent_exit_t *out, int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__DeleteProcessRequest m = WARMPOOL__AGENT__V1__DELETE_PROCESS_REQUEST__INIT;
    m.container_id = S(container_id);
    m.exec_id = S(exec_id);
    REQ(req, DELETE_PROCESS, delete_process, m);
    _cleanup_resp_ resp_t *r = NULL;
    if (agent_client_simple_call(c, &req, WANT(DELETE_PROCESS), &r, timeout_ms, err) < 0)
        return wp_error_wrap(err, "delete process '%s' of container '%s'", S(exec_id),
                             container_id);
    if (out)
        *out = (agent_exit_t){.exit_status = r->delete_process->exit_status,
                              .exited_at_ns = r->delete_process->exited_at_ns};
    return 0;
}

int agent_client_delete_container(agent_client_t *c, const char *container_id, bool force,
                                  agent_exit_t *out, int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__DeleteContainerRequest m =
        WARMPOOL__AGENT__V1__DELETE_CONTAINER_REQUEST__INIT;
    m.container_id = S(container_id);
    m.force = force;
    REQ(req, DELETE_CONTAINER, delete_container, m);
    _cleanup_resp_ resp_t *r = NULL;
    if (agent_client_simple_call(c, &req, WANT(DELETE_CONTAINER), &r, timeout_ms, err) < 0)
        return wp_error_wrap(err, "delete container '%s'", container_id);
    if (out)
        *out = (agent_exit_t){.exit_status = r->delete_container->exit_status,
                              .exited_at_ns = r->delete_container->exited_at_ns};
    return 0;
}

int agent_client_state(agent_client_t *c, const char *container_id, agent_state_t *out,
                       int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__ContainerStateRequest m =
        WARMPOOL__AGENT__V1__CONTAINER_STATE_REQUEST__INIT;
    m.container_id = S(container_id);
    REQ(req, CONTAINER_STATE, container_state, m);
    _cleanup_resp_ resp_t *r = NULL;
    if (agent_client_simple_call(c, &req, WANT(CONTAINER_STATE), &r, timeout_ms, err) < 0)
        return wp_error_wrap(err, "state of container '%s'", container_id);
    *out = (agent_state_t){.pid = r->container_state->pid,
                           .exit_status = r->container_state->exit_status};
    snprintf(out->status, sizeof(out->status), "%s", r->container_state->status);
    return 0;
}
