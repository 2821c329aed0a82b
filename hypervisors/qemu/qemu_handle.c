/* qemu_handle.c - the ends of a VM handle: destroy (VM and files gone),
 * free (VM left running) and attach (a handle again, from the runtime
 * directory of a VM left running by this or another process). */
#include "qemu_internal.h"

#include <errno.h>    /* ESRCH */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* free */
#include <string.h>   /* strstr */
#include <sys/wait.h> /* waitpid */

#include "wp_cleanup.h"
#include "wp_fs.h"

int qemu_destroy(hv_vm_t *hv, wp_error_t *err)
{
    qemu_vm_t *vm = qemu_vm_of(hv);
    int ret = qemu_vm_stop_process(vm, err);
    qmp_close(vm->qmp);
    qemu_proc_release(&vm->proc);
    /* sockets, pidfile, logs, and whatever the caller kept there */
    ret = hv_runtime_dir_remove(vm->base.runtime_dir, ret, err);
    if (ret < 0)
        wp_error_wrap(err, "destroy VM '%s'", vm->base.id);
    free(vm);
    return ret;
}

void qemu_vm_free(hv_vm_t *hv)
{
    qemu_vm_t *vm = qemu_vm_of(hv);
    /* QEMU's server chardev goes back to listening: hv_attach can reconnect */
    qmp_close(vm->qmp);
    qemu_proc_release(&vm->proc);
    free(vm);
}

/* Was the VM started with shared memory (a template not yet saved)? */
static bool cmdline_shared(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    size_t len = 0;
    _cleanup_free_ char *args = wp_read_file(path, 1 << 20, &len, NULL);
    for (size_t off = 0; args != NULL && off < len; off += strlen(args + off) + 1)
        if (strncmp(args + off, "memory-backend-file,", 20) == 0)
            return strstr(args + off, ",share=on") != NULL;
    return false;
}

static int connect_qmp(qemu_vm_t *vm, wp_error_t *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", vm->base.runtime_dir, QEMU_QMP_SOCK);
    vm->qmp = qmp_connect(path, err);
    if (vm->qmp == NULL)
        return -1;
    int64_t deadline = qemu_deadline(QEMU_ATTACH_TIMEOUT_MS);
    int64_t caps;
    if (qmp_capabilities(vm->qmp, &caps, deadline, err) < 0)
        return -1;
    /* QEMU serves one QMP client at a time: a second one waits in the backlog */
    if (qmp_wait_greeting(vm->qmp, deadline, err) < 0)
        return wp_error_wrap(err, "QMP '%s' (is another client still connected?)", path);
    return qmp_wait_reply(vm->qmp, caps, NULL, deadline, err);
}

int qemu_attach(hv_backend_t *be, const char *id, const char *runtime_dir, hv_vm_t **out,
                wp_error_t *err)
{
    pid_t pid;
    wp_error_t perr = {0};
    if (qemu_pidfile_read(runtime_dir, &pid, &perr) < 0) {
        if (perr.code != ENOENT) {
            if (err != NULL)
                *err = perr;
            return wp_error_wrap(err, "attach VM '%s'", id);
        }
        /* no pid file: a daemon killed right after spawning QEMU; look for
         * the QEMU by its command line before calling the VM gone */
        if (qemu_proc_find_vm(runtime_dir, &pid, NULL) < 0)
            return wp_error_set(err, ESRCH, "attach VM '%s': no QEMU pidfile in '%s'", id,
                                runtime_dir);
    }
    _cleanup_free_ qemu_vm_t *vm = calloc(1, sizeof(*vm));
    if (vm == NULL)
        return wp_error_errno(err, ENOMEM, "attach VM '%s'", id);
    vm->base.ops = &hv_qemu_ops;
    vm->base.backend = be;
    snprintf(vm->base.id, sizeof(vm->base.id), "%s", id);
    snprintf(vm->base.runtime_dir, sizeof(vm->base.runtime_dir), "%s", runtime_dir);
    if (qemu_proc_adopt(&vm->proc, pid, err) < 0)
        return wp_error_wrap(err, "attach VM '%s'", id);
    /* the pidfd pins the pid from here on, so this check cannot go stale */
    if (!qemu_proc_is_vm(pid, runtime_dir)) {
        qemu_proc_release(&vm->proc);
        return wp_error_set(err, ESRCH, "attach VM '%s': pid %d is not its QEMU (pid reused)", id,
                            (int)pid);
    }
    /* if this process started it (and freed the handle), it is ours to reap */
    vm->proc.is_child = waitpid(pid, NULL, WNOHANG) == 0;
    vm->base.pid = pid;
    vm->memory_shared = cmdline_shared(pid);
    hv_endpoint_read(runtime_dir, vm->base.agent_endpoint, sizeof(vm->base.agent_endpoint));
    if (connect_qmp(vm, err) < 0) {
        qemu_vm_explain_exit(vm, 0, err);
        qmp_close(vm->qmp);
        qemu_proc_release(&vm->proc);
        return wp_error_wrap(err, "attach VM '%s'", id);
    }
    *out = &wp_steal_ptr(&vm)->base;
    return 0;
}
