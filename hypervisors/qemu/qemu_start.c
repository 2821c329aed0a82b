/* qemu_start.c - starting QEMU: cold boot (template or cold VM) and restore
 * (clone from a template's state file).
 *
 * The sockets QEMU serves are listening sockets we create before fork and
 * QEMU inherits, so we connect() the moment fork returns: the connection
 * waits in the backlog until QEMU's main loop accepts it. Nothing polls for
 * QEMU to come up, and the QMP commands of the start are written before the
 * greeting is read (QEMU reads them after sending it), so a clone costs one
 * QEMU start plus the state load, not a string of round trips. */
#include "qemu_internal.h"

#include <errno.h>    /* EEXIST */
#include <fcntl.h>    /* open */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* calloc */
#include <string.h>   /* strlen */
#include <sys/stat.h> /* mkdir, chmod */
#include <unistd.h>   /* rmdir */

#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_log.h"

void qemu_vm_explain_exit(qemu_vm_t *vm, int wait_ms, wp_error_t *err)
{
    if (err == NULL || vm->proc.pid <= 0)
        return;
    /* a QMP EOF usually means QEMU is on its way out: give it a moment to finish */
    if (wait_ms == 0 && err->code == ECONNRESET)
        wait_ms = 500;
    if (wait_ms > 0)
        qemu_proc_wait(&vm->proc, qemu_deadline(wait_ms));
    bool exited = qemu_proc_exited(&vm->proc);
    char why[64] = "", tail[512] = "";
    if (exited)
        qemu_proc_exit_reason(&vm->proc, why, sizeof(why));
    /* QEMU prints its reason (e.g. "load of migration failed") before it exits */
    if (exited || wait_ms > 0)
        qemu_log_tail(vm->base.runtime_dir, tail, sizeof(tail));
    size_t n = strlen(err->msg);
    if (exited)
        n += (size_t)snprintf(err->msg + n, sizeof(err->msg) - n, "; QEMU pid %d %s",
                              (int)vm->proc.pid, why);
    if (tail[0] != '\0' && n < sizeof(err->msg))
        snprintf(err->msg + n, sizeof(err->msg) - n, " (qemu.log: '%s')", tail);
}

/* Undo a start that failed: kill QEMU, remove everything, free. */
static void start_failed(qemu_vm_t *vm)
{
    if (vm->proc.pid > 0 && !qemu_proc_exited(&vm->proc)) {
        qemu_proc_kill(&vm->proc);
        qemu_proc_wait(&vm->proc, qemu_deadline(QEMU_KILL_TIMEOUT_MS));
    }
    qmp_close(vm->qmp);
    qemu_proc_release(&vm->proc);
    hv_runtime_dir_remove(vm->base.runtime_dir, 0, NULL);
    free(vm);
}

/* Runtime directory, sockets, fork/exec, pidfile, QMP connection. */
static int spawn(hv_backend_t *be, qemu_vm_t *vm, const hv_vm_spec_t *spec, qemu_mode_t mode,
                 wp_error_t *err)
{
    const char *dir = spec->runtime_dir;
    _cleanup_argv_ char **argv = qemu_argv_build(qemu_backend_of(be)->binary, spec, mode, err);
    if (argv == NULL)
        return -1;
    char qmp_path[PATH_MAX + 16], agent_path[PATH_MAX + 16], log_path[PATH_MAX + 16];
    snprintf(qmp_path, sizeof(qmp_path), "%s/%s", dir, QEMU_QMP_SOCK);
    snprintf(agent_path, sizeof(agent_path), "%s/%s", dir, HV_AGENT_SOCK);
    snprintf(log_path, sizeof(log_path), "%s/%s", dir, QEMU_LOG);
    /* ours are closed on return: from then on only QEMU holds the listeners */
    _cleanup_close_ int qmp_fd = qemu_listen_unix(qmp_path, err);
    if (qmp_fd < 0)
        return -1;
    _cleanup_close_ int agent_fd = -1;
    if (spec->agent_transport == HV_AGENT_SERIAL &&
        (agent_fd = qemu_listen_unix(agent_path, err)) < 0)
        return -1;
    _cleanup_close_ int log_fd =
        open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0)
        return wp_error_errno(err, errno, "create '%s'", log_path);
    if (hv_runtime_dir_mark(dir, hv_qemu_ops.name, err) < 0 ||
        hv_endpoint_write(vm->base.runtime_dir, vm->base.agent_endpoint, err) < 0)
        return -1;
    if (qemu_proc_spawn(&vm->proc, argv, qmp_fd, agent_fd, log_fd, err) < 0)
        return -1;
    vm->base.pid = vm->proc.pid;
    vm->t.spawned = wp_now_mono_ns();
    if (qemu_pidfile_write(dir, vm->proc.pid, err) < 0)
        return -1;
    /* Connected at once: the connection waits in the listener's backlog. If
     * QEMU dies, the listener dies with it (ours is closed by then) and the
     * pending connection is reset, so the greeting wait fails at once. */
    vm->qmp = qmp_connect(qmp_path, err);
    return vm->qmp ? 0 : -1;
}

/* Common part of boot and restore. On failure nothing is left behind. */
static qemu_vm_t *start(hv_backend_t *be, const hv_vm_spec_t *spec, qemu_mode_t mode,
                        wp_error_t *err)
{
    if (hv_spec_check(spec, err) < 0)
        return NULL;
    qemu_vm_t *vm = calloc(1, sizeof(*vm));
    if (vm == NULL) {
        wp_error_errno(err, ENOMEM, "start VM '%s'", spec->id);
        return NULL;
    }
    vm->t.start = wp_now_mono_ns();
    vm->base.ops = &hv_qemu_ops;
    vm->base.backend = be;
    vm->proc = (qemu_proc_t)QEMU_PROC_INIT;
    vm->memory_shared = spec->memory_shared;
    snprintf(vm->base.id, sizeof(vm->base.id), "%s", spec->id);
    snprintf(vm->base.runtime_dir, sizeof(vm->base.runtime_dir), "%s", spec->runtime_dir);
    hv_spec_agent_endpoint(spec, vm->base.agent_endpoint, sizeof(vm->base.agent_endpoint));
    if (hv_runtime_dir_create(spec->runtime_dir, err) < 0 ||
        (spec->share_dir != NULL && hv_share_dir_create(spec->share_dir, err) < 0)) {
        free(vm);
        return NULL;
    }
    if (spawn(be, vm, spec, mode, err) < 0) {
        qemu_vm_explain_exit(vm, 0, err);
        start_failed(vm);
        return NULL;
    }
    return vm;
}

/* Negotiate capabilities; the reply comes from QEMU's main loop, so it also
 * means machine init is done and the guest RAM is mapped. */
static int ready(qemu_vm_t *vm, wp_error_t *err)
{
    int64_t deadline = qemu_deadline(QEMU_START_TIMEOUT_MS);
    int64_t caps;
    if (qmp_capabilities(vm->qmp, &caps, deadline, err) < 0 ||
        qmp_wait_greeting(vm->qmp, deadline, err) < 0)
        return -1;
    vm->t.greeting = wp_now_mono_ns();
    return qmp_wait_reply(vm->qmp, caps, NULL, deadline, err);
}

int qemu_boot(hv_backend_t *be, const hv_vm_spec_t *spec, hv_vm_t **out, wp_error_t *err)
{
    qemu_vm_t *vm = start(be, spec, QEMU_MODE_BOOT, err);
    if (vm == NULL)
        return wp_error_wrap(err, "boot VM '%s'", spec->id ? spec->id : "");
    if (ready(vm, err) < 0) {
        qemu_vm_explain_exit(vm, 0, err);
        start_failed(vm);
        return wp_error_wrap(err, "boot VM '%s'", spec->id);
    }
    vm->t.ready = wp_now_mono_ns();
    wp_log_debug("qemu: VM '%s' pid %d booted: fork %.1f ms, greeting %.1f ms, ready %.1f ms",
                 vm->base.id, (int)vm->proc.pid, wp_ms_between(vm->t.start, vm->t.spawned),
                 wp_ms_between(vm->t.start, vm->t.greeting),
                 wp_ms_between(vm->t.start, vm->t.ready));
    *out = &vm->base;
    return 0;
}

/* Pipelined: capabilities, migration capabilities, the state fd and the
 * incoming migration are all written at once. Only getfd carries an fd, so
 * QEMU's one-set-of-fds-per-connection rule holds. */
static int incoming(qemu_vm_t *vm, int state_fd, wp_error_t *err)
{
    static const qmp_capability_t caps[] = {{"x-ignore-shared", true}, {"events", true}};
    qmp_t *q = vm->qmp;
    int64_t deadline = qemu_deadline(QEMU_START_TIMEOUT_MS);
    int64_t id[4];
    if (qmp_capabilities(q, &id[0], deadline, err) < 0 ||
        qmp_migrate_set_capabilities(q, caps, 2, &id[1], deadline, err) < 0 ||
        qmp_getfd(q, QEMU_STATE_FDNAME, state_fd, &id[2], deadline, err) < 0 ||
        qmp_migrate_incoming(q, "fd:" QEMU_STATE_FDNAME, &id[3], deadline, err) < 0)
        return -1;
    if (qmp_wait_greeting(q, deadline, err) < 0)
        return -1;
    vm->t.greeting = wp_now_mono_ns();
    for (int i = 0; i < 4; i++)
        if (qmp_wait_reply(q, id[i], NULL, deadline, err) < 0)
            return -1;
    vm->t.ready = wp_now_mono_ns();
    if (qmp_wait_migration(q, qemu_deadline(QEMU_MIGRATE_TIMEOUT_MS), err) < 0)
        return wp_error_wrap(err, "load device state");
    vm->t.migrated = wp_now_mono_ns();
    return 0;
}

int qemu_restore(hv_backend_t *be, const hv_vm_spec_t *spec, int state_fd, const char *state_path,
                 hv_vm_t **out, wp_error_t *err)
{
    const char *id = spec->id ? spec->id : "";
    qemu_vm_t *vm = start(be, spec, QEMU_MODE_INCOMING, err);
    if (vm == NULL)
        return wp_error_wrap(err, "restore VM '%s'", id);
    if (incoming(vm, state_fd, err) < 0) {
        /* QEMU exits when an incoming migration fails: wait for its last words */
        qemu_vm_explain_exit(vm, QEMU_INCOMING_EXIT_MS, err);
        start_failed(vm);
        return wp_error_wrap(err, "restore VM '%s' from '%s'", id, state_path);
    }
    wp_log_debug("qemu: VM '%s' pid %d restored: fork %.1f ms, greeting %.1f ms, ready %.1f ms, "
                 "migrated %.1f ms",
                 vm->base.id, (int)vm->proc.pid, wp_ms_between(vm->t.start, vm->t.spawned),
                 wp_ms_between(vm->t.start, vm->t.greeting),
                 wp_ms_between(vm->t.start, vm->t.ready),
                 wp_ms_between(vm->t.start, vm->t.migrated));
    *out = &vm->base;
    return 0;
}
