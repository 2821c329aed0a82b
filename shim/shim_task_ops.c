/* shim_task_ops.c - the Task service's calls on running processes: Kill,
 * Pids, Pause, Resume, CloseIO, ResizePty, Update, Stats. */
#include <errno.h>  /* ESRCH */
#include <stdlib.h> /* free */
#include <string.h> /* strndup */

#include "cgroups_v2_metrics.pb-c.h"
#include "shim_events.pb-c.h"
#include "shim_task_internal.h"
#include "wp_cleanup.h"
#include "wp_log.h"

#define METRICS_TYPE_URL "io.containerd.cgroups.v2.Metrics"

static void reply_err(ttrpc_call_t *call, const wp_error_t *err)
{
    wp_log_debug("%s: %s", ttrpc_call_method(call), err->msg);
    ttrpc_call_reply_error(call, err);
}

void shim_task_kill(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__KillRequest, req, containerd__task__v2__kill_request, call,
                payload, len);
    wp_error_t err = {0};
    shim_proc_t *p = shim_proc_find(s, req->id, req->exec_id, &err);
    if (p == NULL || shim_proc_check(p, SHIM_OP_KILL, &err) < 0)
        return reply_err(call, &err);
    if (req->signal == 0 || req->signal > 64) {
        wp_error_set(&err, EINVAL, "signal %u is not a signal", req->signal);
        return reply_err(call, &err);
    }
    if (agent_client_signal(s->vm.agent, p->task->id, p->exec_id, (int)req->signal, req->all,
                            SHIM_AGENT_CALL_MS, &err) < 0) {
        /* it exited meanwhile: its exit is on the way */
        if (err.code == ESRCH)
            wp_error_set(&err, ENOENT, "process already finished");
        return reply_err(call, &err);
    }
    shim_reply_empty(call);
}

void shim_task_pids(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__PidsRequest, req, containerd__task__v2__pids_request, call,
                payload, len);
    wp_error_t err = {0};
    shim_proc_t *p = shim_proc_find(s, req->id, NULL, &err);
    _cleanup_free_ uint32_t *pids = NULL;
    size_t n = 0;
    if (p == NULL ||
        agent_client_pids(s->vm.agent, req->id, &pids, &n, SHIM_AGENT_CALL_MS, &err) < 0)
        return reply_err(call, &err);
    _cleanup_free_ Containerd__Task__V2__ProcessInfo *info = calloc(n ? n : 1, sizeof(*info));
    _cleanup_free_ Containerd__Task__V2__ProcessInfo **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (info == NULL || ptrs == NULL) {
        wp_error_set(&err, ENOMEM, "out of memory");
        return reply_err(call, &err);
    }
    for (size_t i = 0; i < n; i++) {
        containerd__task__v2__process_info__init(&info[i]);
        info[i].pid = pids[i];
        ptrs[i] = &info[i];
    }
    Containerd__Task__V2__PidsResponse r = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
    r.n_processes = n;
    r.processes = ptrs;
    shim_reply(call, &r.base);
}

/* Pause and Resume: the container's cgroup, frozen or thawed; every
 * process of the task follows (they share the cgroup). */
static void freeze(shim_t *s, ttrpc_call_t *call, const char *id, bool pause)
{
    wp_error_t err = {0};
    shim_proc_t *p = shim_proc_find(s, id, NULL, &err);
    if (p == NULL || shim_proc_check(p, pause ? SHIM_OP_PAUSE : SHIM_OP_RESUME, &err) < 0)
        return reply_err(call, &err);
    int ret = pause ? agent_client_pause(s->vm.agent, id, SHIM_AGENT_CALL_MS, &err)
                    : agent_client_resume(s->vm.agent, id, SHIM_AGENT_CALL_MS, &err);
    if (ret < 0)
        return reply_err(call, &err);
    for (shim_proc_t *q = p->task->procs; q; q = q->next)
        if (q->status == (pause ? SHIM_RUNNING : SHIM_PAUSED))
            q->status = pause ? SHIM_PAUSED : SHIM_RUNNING;
    Containerd__Events__TaskPaused paused = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
    Containerd__Events__TaskResumed resumed = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
    paused.container_id = resumed.container_id = (char *)id;
    shim_events_publish(s->events, pause ? "/tasks/paused" : "/tasks/resumed",
                        pause ? &paused.base : &resumed.base);
    shim_reply_empty(call);
}

void shim_task_pause(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    SHIM_DECODE(Containerd__Task__V2__PauseRequest, req, containerd__task__v2__pause_request, call,
                payload, len);
    freeze(opaque, call, req->id, true);
}

void shim_task_resume(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    SHIM_DECODE(Containerd__Task__V2__ResumeRequest, req, containerd__task__v2__resume_request,
                call, payload, len);
    freeze(opaque, call, req->id, false);
}

void shim_task_close_io(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__CloseIORequest, req, containerd__task__v2__close_iorequest,
                call, payload, len);
    wp_error_t err = {0};
    shim_proc_t *p = shim_proc_find(s, req->id, req->exec_id, &err);
    if (p == NULL)
        return reply_err(call, &err);
    if (req->stdin && p->io != NULL && shim_io_close_stdin(p->io, &err) < 0)
        return reply_err(call, &err);
    shim_reply_empty(call);
}

void shim_task_resize_pty(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__ResizePtyRequest, req,
                containerd__task__v2__resize_pty_request, call, payload, len);
    wp_error_t err = {0};
    shim_proc_t *p = shim_proc_find(s, req->id, req->exec_id, &err);
    if (p == NULL || shim_proc_check(p, SHIM_OP_RESIZE, &err) < 0)
        return reply_err(call, &err);
    if (!p->terminal) {
        wp_error_set(&err, EINVAL, "%s has no terminal to resize", req->id);
        return reply_err(call, &err);
    }
    /* an exec not started yet has no terminal in the guest: nothing to size */
    if (p->pid != 0 && agent_client_resize(s->vm.agent, req->id, p->exec_id, req->height,
                                           req->width, SHIM_AGENT_CALL_MS, &err) < 0)
        return reply_err(call, &err);
    shim_reply_empty(call);
}

void shim_task_update(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__UpdateTaskRequest, req,
                containerd__task__v2__update_task_request, call, payload, len);
    wp_error_t err = {0};
    shim_proc_t *p = shim_proc_find(s, req->id, NULL, &err);
    if (p == NULL)
        return reply_err(call, &err);
    if (req->resources == NULL || req->resources->value.len == 0) {
        wp_error_set(&err, EINVAL, "update of %s names no resources", req->id);
        return reply_err(call, &err);
    }
    /* containerd marshals the OCI LinuxResources (not a protobuf) as JSON */
    _cleanup_free_ char *json =
        strndup((const char *)req->resources->value.data, req->resources->value.len);
    if (json == NULL ||
        agent_client_update(s->vm.agent, req->id, json, SHIM_AGENT_CALL_MS, &err) < 0)
        return reply_err(call, &err);
    shim_reply_empty(call);
}

void shim_task_stats(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__StatsRequest, req, containerd__task__v2__stats_request, call,
                payload, len);
    wp_error_t err = {0};
    agent_stats_t st;
    if (shim_proc_find(s, req->id, NULL, &err) == NULL ||
        agent_client_stats(s->vm.agent, req->id, &st, SHIM_AGENT_CALL_MS, &err) < 0)
        return reply_err(call, &err);
    Io__Containerd__Cgroups__V2__PidsStat pids = IO__CONTAINERD__CGROUPS__V2__PIDS_STAT__INIT;
    pids.current = st.pids_current;
    pids.limit = st.pids_limit;
    Io__Containerd__Cgroups__V2__CPUStat cpu = IO__CONTAINERD__CGROUPS__V2__CPUSTAT__INIT;
    cpu.usage_usec = st.cpu_usage_usec;
    cpu.user_usec = st.cpu_user_usec;
    cpu.system_usec = st.cpu_system_usec;
    Io__Containerd__Cgroups__V2__MemoryStat mem = IO__CONTAINERD__CGROUPS__V2__MEMORY_STAT__INIT;
    mem.usage = st.memory_usage_bytes;
    mem.usage_limit = st.memory_limit_bytes;
    Io__Containerd__Cgroups__V2__MemoryEvents ev = IO__CONTAINERD__CGROUPS__V2__MEMORY_EVENTS__INIT;
    ev.oom_kill = st.oom_kills;
    Io__Containerd__Cgroups__V2__Metrics m = IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
    m.pids = &pids;
    m.cpu = &cpu;
    m.memory = &mem;
    m.memory_events = &ev;
    size_t mlen = io__containerd__cgroups__v2__metrics__get_packed_size(&m);
    _cleanup_free_ uint8_t *mbuf = malloc(mlen ? mlen : 1);
    if (mbuf == NULL) {
        wp_error_set(&err, ENOMEM, "out of memory");
        return reply_err(call, &err);
    }
    io__containerd__cgroups__v2__metrics__pack(&m, mbuf);
    Containerd__Task__V2__Any any = CONTAINERD__TASK__V2__ANY__INIT;
    any.type_url = METRICS_TYPE_URL;
    any.value = (ProtobufCBinaryData){.len = mlen, .data = mbuf};
    Containerd__Task__V2__StatsResponse r = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
    r.stats = &any;
    shim_reply(call, &r.base);
}
