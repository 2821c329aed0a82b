/* shim_task.c - the Task service's lifecycle calls: Create, Start, Exec,
 * Wait, State, Delete, Connect, Shutdown (the rest: shim_task_ops.c).
 * Each looks the process up, asks its state whether the call is legal,
 * and delegates to the agent (agent_client_containers.h). */
#include <errno.h>   /* errno */
#include <jansson.h> /* json_load_file */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* free, malloc */
#include <string.h>  /* strcmp */
#include <unistd.h>  /* getpid */

#include "agent_share.h"
#include "shim_events.pb-c.h"
#include "shim_options.h"
#include "shim_rootfs.h"
#include "shim_task_internal.h"
#include "wp_cleanup.h"
#include "wp_log.h"
#include "wp_time.h"

void shim_reply(ttrpc_call_t *call, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    _cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        ttrpc_call_reply(call, TTRPC_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
        return;
    }
    protobuf_c_message_pack(m, buf);
    ttrpc_call_reply(call, TTRPC_OK, NULL, buf, len);
}

void shim_reply_empty(ttrpc_call_t *call)
{
    ttrpc_call_reply(call, TTRPC_OK, NULL, NULL, 0);
}

static void reply_err(ttrpc_call_t *call, const wp_error_t *err)
{
    wp_log_debug("%s: %s", ttrpc_call_method(call), err->msg);
    ttrpc_call_reply_error(call, err);
}

/* ---- Create ---- */

static const char *template_for(shim_t *s, json_t *spec)
{
    json_t *a = json_object_get(json_object_get(spec, "annotations"), SHIM_TEMPLATE_ANNOTATION);
    return json_is_string(a) ? json_string_value(a) : s->cfg.template_name;
}

static void record_task(shim_t *s, shim_task_t *t)
{
    shim_record_t r = {.shim_pid = getpid()};
    snprintf(r.shared_dir, sizeof(r.shared_dir), "%s", s->vm.lease.vm.shared_dir);
    snprintf(r.vm_id, sizeof(r.vm_id), "%s", s->vm.lease.vm.id);
    snprintf(r.token, sizeof(r.token), "%s", s->vm.lease.token);
    r.own_vm = s->vm.api == NULL; /* made by warmpoolctl, not leased */
    snprintf(r.config_path, sizeof(r.config_path), "%s", s->cfg_path);
    wp_error_t err = {0};
    if (shim_record_write(t->bundle, &r, &err) < 0)
        wp_log_warn("task %s: %s (a crash would leave its lease to warmpoold)", t->id, err.msg);
}

/* Undo a task's host side: share binds, rootfs. Its record (the lease, for
 * `delete` after a crash) goes separately, once the lease is handled. */
static void task_unprepare(shim_t *s, shim_task_t *t)
{
    wp_error_t err = {0};
    if (t->share_bound && agent_share_remove(s->vm.lease.vm.shared_dir, t->id, &err) < 0)
        wp_log_warn("task %s: %s", t->id, err.msg);
    t->share_bound = false;
    char rootfs[PATH_MAX + 8];
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", t->bundle);
    if (t->rootfs_mounted && shim_rootfs_unmount(rootfs, &err) < 0)
        wp_log_warn("task %s: %s", t->id, err.msg);
    t->rootfs_mounted = false;
}

/* Give the VM back (warmpoold destroys it). */
static void release_vm(shim_t *s)
{
    if (!s->have_vm)
        return;
    wp_error_t err = {0};
    if (shim_vm_release(&s->vm, &err) < 0)
        wp_log_warn("%s", err.msg);
    s->have_vm = false;
}

static int mount_rootfs(shim_task_t *t, const Containerd__Task__V2__CreateTaskRequest *req,
                        wp_error_t *err)
{
    if (req->n_rootfs == 0)
        return 0; /* the bundle's rootfs is a directory already */
    shim_mount_t m[16];
    if (req->n_rootfs > sizeof(m) / sizeof(m[0]))
        return wp_error_set(err, E2BIG, "%zu rootfs mounts (at most 16)", req->n_rootfs);
    for (size_t i = 0; i < req->n_rootfs; i++)
        m[i] = (shim_mount_t){req->rootfs[i]->type, req->rootfs[i]->source, req->rootfs[i]->options,
                              req->rootfs[i]->n_options};
    char target[PATH_MAX + 8];
    snprintf(target, sizeof(target), "%s/rootfs", t->bundle);
    if (shim_rootfs_mount(m, req->n_rootfs, target, err) < 0)
        return -1;
    t->rootfs_mounted = true;
    return 0;
}

static void publish_create(shim_t *s, const Containerd__Task__V2__CreateTaskRequest *req,
                           uint32_t pid)
{
    Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
    io.stdin = req->stdin;
    io.stdout = req->stdout;
    io.stderr = req->stderr;
    io.terminal = req->terminal;
    Containerd__Events__TaskCreate ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
    ev.container_id = req->id;
    ev.bundle = req->bundle;
    ev.n_rootfs = req->n_rootfs;
    ev.rootfs = req->rootfs;
    ev.io = &io;
    ev.pid = pid;
    shim_events_publish(s->events, "/tasks/create", &ev.base);
}

/* The container in the VM; t and its init process are in s already. */
static int create_task(shim_t *s, shim_task_t *t,
                       const Containerd__Task__V2__CreateTaskRequest *req, wp_error_t *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/config.json", req->bundle);
    json_error_t jerr;
    json_auto_t *spec = json_load_file(path, 0, &jerr);
    if (spec == NULL)
        return wp_error_set(err, EINVAL, "bundle spec '%s': %s", path, jerr.text);
    int64_t t0 = wp_now_mono_ns(), t_vm = t0, t_mounted, t_shared;
    if (!s->have_vm) {
        /* the sandbox's runtime may name a config file of its own */
        char cfg_path[PATH_MAX];
        int named = shim_options_config_path(req->options, cfg_path, sizeof(cfg_path), err);
        if (named < 0)
            return -1;
        if (named == 1) { /* loaded aside: a bad file leaves the default in place */
            _cleanup_free_ shim_config_t *own = malloc(sizeof(*own));
            if (own == NULL)
                return wp_error_set(err, ENOMEM, "out of memory");
            if (shim_config_load_file(own, cfg_path, err) < 0)
                return -1;
            s->cfg = *own;
            snprintf(s->cfg_path, sizeof(s->cfg_path), "%s", cfg_path);
        }
        const char *tpl = template_for(s, spec);
        if (shim_vm_acquire(&s->vm, &s->cfg, tpl, err) < 0)
            return -1;
        s->have_vm = true;
        agent_client_on_event(s->vm.agent, shim_on_agent_event, s);
        agent_client_on_stream(s->vm.agent, shim_io_early_sink, s->early);
        wp_log_info("sandbox %s: VM %s of template '%s' (%s)", s->id, s->vm.lease.vm.id, tpl,
                    s->vm.lease.hit ? "warm" : "cloned on demand");
        t_vm = wp_now_mono_ns();
    }
    json_t *poststop = json_object_get(json_object_get(spec, "hooks"), "poststop");
    t->poststop_hooks = json_is_array(poststop) && json_array_size(poststop) > 0;
    if (mount_rootfs(t, req, err) < 0)
        return -1;
    t_mounted = wp_now_mono_ns();
    record_task(s, t);
    char rootfs[PATH_MAX + 8];
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", t->bundle);
    if (agent_share_prepare(s->vm.lease.vm.shared_dir, t->id, rootfs, spec, err) < 0)
        return -1;
    t->share_bound = true;
    t_shared = wp_now_mono_ns();
    _cleanup_free_ char *text = json_dumps(spec, JSON_COMPACT);
    if (text == NULL)
        return wp_error_set(err, ENOMEM, "encode the spec");
    shim_proc_t *p = t->procs;
    agent_process_t ap;
    if (agent_client_create(s->vm.agent, t->id, text, req->terminal, req->stdin[0] != '\0', &ap,
                            SHIM_AGENT_CALL_MS, err) < 0)
        return -1;
    p->pid = ap.pid;
    /* where a Create's time goes (containerd -debug passes -debug to shims) */
    wp_log_debug("task %s: VM %.1f ms, rootfs mounted %.1f ms, shared %.1f ms, created in the "
                 "VM %.1f ms",
                 t->id, (double)(t_vm - t0) / 1e6, (double)(t_mounted - t_vm) / 1e6,
                 (double)(t_shared - t_mounted) / 1e6, (double)(wp_now_mono_ns() - t_shared) / 1e6);
    p->io = shim_io_open(s->vm.agent, s->early, &ap, req->stdin, req->stdout, req->stderr, err);
    if (p->io == NULL) {
        agent_client_delete_container(s->vm.agent, t->id, true, NULL, SHIM_AGENT_CALL_MS, NULL);
        return -1;
    }
    return 0;
}

static void task_create(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__CreateTaskRequest, req,
                containerd__task__v2__create_task_request, call, payload, len);
    wp_error_t err = {0};
    if (!agent_share_valid_id(req->id) || strlen(req->bundle) >= PATH_MAX - 32) {
        wp_error_set(&err, EINVAL, "task id '%s' or its bundle path is not usable", req->id);
        return reply_err(call, &err);
    }
    if (shim_task_find(s, req->id) != NULL) {
        wp_error_set(&err, EEXIST, "task %s already exists", req->id);
        return reply_err(call, &err);
    }
    if (req->checkpoint[0] != '\0') {
        wp_error_set(&err, ENOTSUP, "task %s: restoring a checkpoint is not supported", req->id);
        return reply_err(call, &err);
    }
    shim_task_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        wp_error_set(&err, ENOMEM, "out of memory");
        return reply_err(call, &err);
    }
    snprintf(t->id, sizeof(t->id), "%s", req->id);
    snprintf(t->bundle, sizeof(t->bundle), "%s", req->bundle);
    t->next = s->tasks;
    s->tasks = t;
    if (shim_proc_add(t, "", req->terminal, req->stdin, req->stdout, req->stderr, &err) == NULL ||
        create_task(s, t, req, &err) < 0) {
        wp_error_wrap(&err, "create task %s", req->id);
        if (s->have_vm)
            task_unprepare(s, t);
        if (s->tasks == t && t->next == NULL)
            release_vm(s);
        shim_record_remove(t->bundle, NULL);
        shim_task_free(s, t);
        return reply_err(call, &err);
    }
    publish_create(s, req, t->procs->pid);
    Containerd__Task__V2__CreateTaskResponse r = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
    r.pid = t->procs->pid;
    shim_reply(call, &r.base);
}

/* ---- Start, Exec ---- */

static int start_exec(shim_t *s, shim_proc_t *p, wp_error_t *err)
{
    agent_process_t ap;
    if (agent_client_exec(s->vm.agent, p->task->id, p->exec_id, p->exec_spec, p->terminal,
                          p->stdin_path[0] != '\0', &ap, SHIM_AGENT_CALL_MS, err) < 0)
        return -1;
    p->pid = ap.pid;
    p->io = shim_io_open(s->vm.agent, s->early, &ap, p->stdin_path, p->stdout_path, p->stderr_path,
                         err);
    if (p->io == NULL) {
        agent_client_signal(s->vm.agent, p->task->id, p->exec_id, 9, false, SHIM_AGENT_CALL_MS,
                            NULL);
        return -1;
    }
    return 0;
}

static void task_start(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__StartRequest, req, containerd__task__v2__start_request, call,
                payload, len);
    wp_error_t err = {0};
    shim_proc_t *p = shim_proc_find(s, req->id, req->exec_id, &err);
    if (p == NULL || shim_proc_check(p, SHIM_OP_START, &err) < 0)
        return reply_err(call, &err);
    bool exec = p->exec_id[0] != '\0';
    int ret = exec
                  ? start_exec(s, p, &err)
                  : agent_client_start(s->vm.agent, p->task->id, &p->pid, SHIM_AGENT_CALL_MS, &err);
    if (ret < 0)
        return reply_err(call, &err);
    p->status = SHIM_RUNNING;
    if (exec) {
        Containerd__Events__TaskExecStarted ev = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
        ev.container_id = p->task->id;
        ev.exec_id = p->exec_id;
        ev.pid = p->pid;
        shim_events_publish(s->events, "/tasks/exec-started", &ev.base);
    } else {
        Containerd__Events__TaskStart ev = CONTAINERD__EVENTS__TASK_START__INIT;
        ev.container_id = p->task->id;
        ev.pid = p->pid;
        shim_events_publish(s->events, "/tasks/start", &ev.base);
    }
    Containerd__Task__V2__StartResponse r = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
    r.pid = p->pid;
    shim_reply(call, &r.base);
}

static void task_exec(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__ExecProcessRequest, req,
                containerd__task__v2__exec_process_request, call, payload, len);
    wp_error_t err = {0};
    shim_proc_t *init = shim_proc_find(s, req->id, NULL, &err);
    if (init == NULL || shim_proc_check(init, SHIM_OP_EXEC, &err) < 0)
        return reply_err(call, &err);
    if (req->exec_id[0] == '\0' || !agent_share_valid_id(req->exec_id)) {
        wp_error_set(&err, EINVAL, "exec id '%s' is not usable", req->exec_id);
        return reply_err(call, &err);
    }
    if (shim_proc_find(s, req->id, req->exec_id, NULL) != NULL) {
        wp_error_set(&err, EEXIST, "exec %s already exists in task %s", req->exec_id, req->id);
        return reply_err(call, &err);
    }
    if (req->spec == NULL || req->spec->value.len == 0) {
        wp_error_set(&err, EINVAL, "exec %s has no process spec", req->exec_id);
        return reply_err(call, &err);
    }
    shim_proc_t *p = shim_proc_add(init->task, req->exec_id, req->terminal, req->stdin, req->stdout,
                                   req->stderr, &err);
    if (p == NULL)
        return reply_err(call, &err);
    p->exec_spec = strndup((const char *)req->spec->value.data, req->spec->value.len);
    Containerd__Events__TaskExecAdded ev = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
    ev.container_id = req->id;
    ev.exec_id = req->exec_id;
    shim_events_publish(s->events, "/tasks/exec-added", &ev.base);
    shim_reply_empty(call);
}

/* ---- Wait, State ---- */

static void task_wait(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__WaitRequest, req, containerd__task__v2__wait_request, call,
                payload, len);
    wp_error_t err = {0};
    shim_proc_t *p = shim_proc_find(s, req->id, req->exec_id, &err);
    if (p == NULL)
        return reply_err(call, &err);
    ttrpc_call_t **w = realloc(p->waiters, (p->n_waiters + 1) * sizeof(*w));
    if (w == NULL) {
        wp_error_set(&err, ENOMEM, "out of memory");
        return reply_err(call, &err);
    }
    p->waiters = w;
    p->waiters[p->n_waiters++] = call;
    if (p->status == SHIM_STOPPED) /* a wait after the exit returns at once */
        shim_proc_answer_waiters(p);
}

static void task_state(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__StateRequest, req, containerd__task__v2__state_request, call,
                payload, len);
    wp_error_t err = {0};
    shim_proc_t *p = shim_proc_find(s, req->id, req->exec_id, &err);
    if (p == NULL)
        return reply_err(call, &err);
    static const Containerd__Task__V2__Status STATUS[] = {
        [SHIM_CREATED] = CONTAINERD__TASK__V2__STATUS__CREATED,
        [SHIM_RUNNING] = CONTAINERD__TASK__V2__STATUS__RUNNING,
        [SHIM_PAUSED] = CONTAINERD__TASK__V2__STATUS__PAUSED,
        [SHIM_STOPPED] = CONTAINERD__TASK__V2__STATUS__STOPPED,
    };
    Containerd__Task__V2__StateResponse r = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
    Containerd__Task__V2__Timestamp ts;
    shim_timestamp(&ts, p->status == SHIM_STOPPED ? p->exited_at_ns : 0);
    r.id = p->task->id;
    r.bundle = p->task->bundle;
    r.pid = p->pid;
    r.status = STATUS[p->status];
    r.stdin = p->stdin_path;
    r.stdout = p->stdout_path;
    r.stderr = p->stderr_path;
    r.terminal = p->terminal;
    r.exit_status = p->status == SHIM_STOPPED ? p->exit_status : 0;
    r.exited_at = &ts;
    r.exec_id = p->exec_id;
    shim_reply(call, &r.base);
}

/* ---- Delete ---- */

static void reply_deleted(ttrpc_call_t *call, const shim_proc_t *p)
{
    Containerd__Task__V2__DeleteResponse r = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    Containerd__Task__V2__Timestamp ts;
    shim_timestamp(&ts, p->exited_at_ns ? p->exited_at_ns : (uint64_t)wp_now_real_ns());
    r.pid = p->pid;
    r.exit_status = p->exit_status;
    r.exited_at = &ts;
    shim_reply(call, &r.base);
}

static void task_delete(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__DeleteRequest, req, containerd__task__v2__delete_request,
                call, payload, len);
    wp_error_t err = {0};
    shim_proc_t *p = shim_proc_find(s, req->id, req->exec_id, &err);
    if (p == NULL || shim_proc_check(p, SHIM_OP_DELETE, &err) < 0)
        return reply_err(call, &err);
    shim_task_t *t = p->task;
    if (p->exec_id[0] != '\0') {
        if (p->pid != 0 &&
            agent_client_delete_process(s->vm.agent, t->id, p->exec_id, NULL, SHIM_AGENT_CALL_MS,
                                        &err) < 0 &&
            err.code != ENOENT)
            return reply_err(call, &err);
        reply_deleted(call, p);
        shim_proc_remove(p);
        return;
    }
    /* The VM's last task: releasing the VM (warmpoold destroys it) ends
     * every process and mount in the guest, so the guest's own delete
     * (`crun delete`, ~0.2 s under TCG) would be wasted, unless the spec
     * has poststop hooks, which only it runs; the VM goes first, before the
     * reply, so that nothing of the task outlives it. */
    bool last = s->tasks == t && t->next == NULL;
    if ((!last || t->poststop_hooks) && s->vm.agent != NULL &&
        agent_client_delete_container(s->vm.agent, t->id, true, NULL, SHIM_AGENT_CALL_MS, &err) <
            0 &&
        err.code != ENOENT)
        wp_log_warn("task %s: %s", t->id, err.msg);
    /* as runc's shim: the rootfs is unmounted before the reply */
    task_unprepare(s, t);
    if (last)
        release_vm(s);
    shim_record_remove(t->bundle, NULL);
    Containerd__Events__TaskDelete ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
    Containerd__Task__V2__Timestamp ts;
    shim_timestamp(&ts, p->exited_at_ns);
    ev.container_id = t->id;
    ev.pid = p->pid;
    ev.exit_status = p->exit_status;
    ev.exited_at = &ts;
    ev.id = t->id;
    reply_deleted(call, p);
    shim_events_publish(s->events, "/tasks/delete", &ev.base); /* ev points into t */
    shim_task_free(s, t);
}

/* ---- Connect, Shutdown ---- */

static void task_connect(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__ConnectRequest, req, containerd__task__v2__connect_request,
                call, payload, len);
    Containerd__Task__V2__ConnectResponse r = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
    r.shim_pid = (uint32_t)getpid();
    shim_proc_t *p = shim_proc_find(s, req->id, NULL, NULL);
    r.task_pid = p ? p->pid : 0;
    r.version = "warmpool " WP_VERSION;
    shim_reply(call, &r.base);
}

static void task_shutdown(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    shim_t *s = opaque;
    SHIM_DECODE(Containerd__Task__V2__ShutdownRequest, req, containerd__task__v2__shutdown_request,
                call, payload, len);
    /* a pod's shim stays while any of its containers does */
    if (s->tasks == NULL)
        s->shutdown = true;
    shim_reply_empty(call);
}

void shim_task_teardown(shim_t *s)
{
    while (s->tasks) {
        shim_task_t *t = s->tasks;
        if (s->vm.agent)
            agent_client_delete_container(s->vm.agent, t->id, true, NULL, SHIM_AGENT_CALL_MS, NULL);
        task_unprepare(s, t);
        if (t->next == NULL)
            release_vm(s);
        shim_record_remove(t->bundle, NULL);
        shim_task_free(s, t);
    }
}

int shim_task_register(shim_t *s, wp_error_t *err)
{
    static const struct {
        const char *name;
        ttrpc_handler_fn fn;
    } methods[] = {
        {"Create", task_create},
        {"Start", task_start},
        {"Exec", task_exec},
        {"Wait", task_wait},
        {"State", task_state},
        {"Delete", task_delete},
        {"Connect", task_connect},
        {"Shutdown", task_shutdown},
        {"Kill", shim_task_kill},
        {"Pids", shim_task_pids},
        {"Pause", shim_task_pause},
        {"Resume", shim_task_resume},
        {"CloseIO", shim_task_close_io},
        {"ResizePty", shim_task_resize_pty},
        {"Update", shim_task_update},
        {"Stats", shim_task_stats},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (ttrpc_server_add(s->srv, SHIM_TASK_SERVICE, methods[i].name, methods[i].fn, s, err) < 0)
            return -1;
    return 0;
}
