/* qemu_vm.c - operations on a running QEMU: pause, resume, query, and saving
 * a template (device state to a file by migration; the guest RAM stays in
 * the shared memory file thanks to x-ignore-shared). */
#include "qemu_internal.h"

#include <errno.h>  /* ESRCH */
#include <fcntl.h>  /* open */
#include <stdio.h>  /* snprintf */
#include <string.h> /* strcmp */
#include <unistd.h> /* fsync, unlink */

#include "wp_cleanup.h"
#include "wp_log.h"

/* A VM whose process is gone (or whose template was saved) takes no commands. */
static int need_qmp(qemu_vm_t *vm, const char *what, wp_error_t *err)
{
    if (vm->saved)
        return wp_error_set(err, ESRCH, "%s VM '%s': its template was saved and QEMU has exited",
                            what, vm->base.id);
    if (vm->qmp == NULL || qemu_proc_exited(&vm->proc))
        return wp_error_set(err, ESRCH, "%s VM '%s': QEMU pid %d has exited", what, vm->base.id,
                            (int)vm->proc.pid);
    return 0;
}

int qemu_pause(hv_vm_t *hv, wp_error_t *err)
{
    qemu_vm_t *vm = qemu_vm_of(hv);
    if (need_qmp(vm, "pause", err) < 0)
        return -1;
    if (qmp_stop(vm->qmp, NULL, qemu_deadline(QEMU_COMMAND_TIMEOUT_MS), err) < 0) {
        qemu_vm_explain_exit(vm, 0, err);
        return wp_error_wrap(err, "pause VM '%s'", vm->base.id);
    }
    return 0;
}

int qemu_resume(hv_vm_t *hv, wp_error_t *err)
{
    qemu_vm_t *vm = qemu_vm_of(hv);
    if (need_qmp(vm, "resume", err) < 0)
        return -1;
    if (qmp_cont(vm->qmp, NULL, qemu_deadline(QEMU_COMMAND_TIMEOUT_MS), err) < 0) {
        qemu_vm_explain_exit(vm, 0, err);
        return wp_error_wrap(err, "resume VM '%s'", vm->base.id);
    }
    vm->t.resumed = wp_now_mono_ns();
    if (vm->t.migrated != 0)
        wp_log_debug("qemu: VM '%s' resumed %.1f ms after its restore began", vm->base.id,
                     wp_ms_between(vm->t.start, vm->t.resumed));
    return 0;
}

static hv_vm_state_t map_status(const char *s)
{
    static const struct {
        const char *name;
        hv_vm_state_t state;
    } map[] = {
        {"running", HV_VM_RUNNING},     {"paused", HV_VM_PAUSED},
        {"prelaunch", HV_VM_PAUSED},    {"postmigrate", HV_VM_PAUSED},
        {"suspended", HV_VM_PAUSED},    {"finish-migrate", HV_VM_PAUSED},
        {"save-vm", HV_VM_PAUSED},      {"inmigrate", HV_VM_INCOMING},
        {"restore-vm", HV_VM_INCOMING},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].name, s) == 0)
            return map[i].state;
    return HV_VM_OTHER; /* shutdown, guest-panicked, internal-error, ... */
}

int qemu_query(hv_vm_t *hv, hv_vm_status_t *out, wp_error_t *err)
{
    qemu_vm_t *vm = qemu_vm_of(hv);
    *out = (hv_vm_status_t){.state = HV_VM_GONE, .pid = vm->proc.pid};
    if (vm->saved || vm->qmp == NULL || qemu_proc_exited(&vm->proc))
        return 0;
    char status[32];
    wp_error_t qerr = {0};
    if (qmp_query_status(vm->qmp, status, sizeof(status), qemu_deadline(QEMU_COMMAND_TIMEOUT_MS),
                         &qerr) < 0) {
        /* a connection that closed because QEMU is exiting is an answer, not an error */
        if (qerr.code == ECONNRESET && qemu_proc_wait(&vm->proc, qemu_deadline(500)) == 0)
            return 0;
        if (err != NULL)
            *err = qerr;
        qemu_vm_explain_exit(vm, 0, err);
        return wp_error_wrap(err, "query VM '%s'", vm->base.id);
    }
    out->state = map_status(status);
    return 0;
}

int qemu_vm_stop_process(qemu_vm_t *vm, wp_error_t *err)
{
    if (vm->proc.pid <= 0 || qemu_proc_exited(&vm->proc))
        return 0;
    int64_t deadline = qemu_deadline(QEMU_QUIT_TIMEOUT_MS);
    if (vm->qmp != NULL) {
        wp_error_t ignored = {0};
        /* a hung QEMU is handled by the SIGKILL below */
        if (qmp_quit(vm->qmp, NULL, deadline, &ignored) < 0)
            wp_log_debug("qemu: VM '%s': quit: %s", vm->base.id, ignored.msg);
    }
    if (qemu_proc_wait(&vm->proc, deadline) == 0)
        return 0;
    wp_log_warn("qemu: VM '%s': QEMU pid %d still running %d ms after quit, sending SIGKILL",
                vm->base.id, (int)vm->proc.pid, QEMU_QUIT_TIMEOUT_MS);
    qemu_proc_kill(&vm->proc);
    if (qemu_proc_wait(&vm->proc, qemu_deadline(QEMU_KILL_TIMEOUT_MS)) == 0)
        return 0;
    return wp_error_set(err, ETIMEDOUT, "QEMU pid %d did not exit %d ms after SIGKILL",
                        (int)vm->proc.pid, QEMU_KILL_TIMEOUT_MS);
}

/* stop + capabilities + state fd pipelined, then the migration itself. */
static int migrate_out(qemu_vm_t *vm, int fd, wp_error_t *err)
{
    static const qmp_capability_t caps[] = {{"x-ignore-shared", true}, {"events", true}};
    qmp_t *q = vm->qmp;
    int64_t deadline = qemu_deadline(QEMU_COMMAND_TIMEOUT_MS);
    int64_t id[3];
    /* stop on a paused VM is a no-op, so no query-status round trip first */
    if (qmp_stop(q, &id[0], deadline, err) < 0 ||
        qmp_migrate_set_capabilities(q, caps, 2, &id[1], deadline, err) < 0 ||
        qmp_getfd(q, QEMU_STATE_FDNAME, fd, &id[2], deadline, err) < 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if (qmp_wait_reply(q, id[i], NULL, deadline, err) < 0)
            return -1;
    if (qmp_migrate(q, "fd:" QEMU_STATE_FDNAME, NULL, deadline, err) < 0)
        return -1;
    return qmp_wait_migration(q, qemu_deadline(QEMU_MIGRATE_TIMEOUT_MS), err);
}

int qemu_save_template(hv_vm_t *hv, const char *state_path, wp_error_t *err)
{
    qemu_vm_t *vm = qemu_vm_of(hv);
    if (!vm->memory_shared)
        return wp_error_set(err, EINVAL,
                            "save template of VM '%s': its memory is not shared "
                            "(boot it with memory_shared=true), the state would carry all its RAM",
                            vm->base.id);
    if (need_qmp(vm, "save template of", err) < 0)
        return -1;
    int64_t start = wp_now_mono_ns();
    _cleanup_close_ int fd = open(state_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return wp_error_errno(err, errno, "save template of VM '%s': create '%s'", vm->base.id,
                              state_path);
    if (migrate_out(vm, fd, err) < 0) {
        qemu_vm_explain_exit(vm, 0, err);
        unlink(state_path);
        return wp_error_wrap(err, "save template of VM '%s' to '%s'", vm->base.id, state_path);
    }
    int64_t migrated = wp_now_mono_ns();
    /* the template is the memory file and the state: this process has no further use */
    int ret = qemu_vm_stop_process(vm, err);
    qmp_close(vm->qmp);
    vm->qmp = NULL;
    vm->saved = true;
    /* QEMU has exited, so every byte it wrote is in the file: make it durable */
    if (ret == 0 && fsync(fd) < 0)
        ret = wp_error_errno(err, errno, "fsync '%s'", state_path);
    if (ret < 0) {
        unlink(state_path);
        return wp_error_wrap(err, "save template of VM '%s' to '%s'", vm->base.id, state_path);
    }
    wp_log_debug("qemu: VM '%s' saved to '%s': migration %.1f ms, quit+fsync %.1f ms", vm->base.id,
                 state_path, wp_ms_between(start, migrated),
                 wp_ms_between(migrated, wp_now_mono_ns()));
    return 0;
}
