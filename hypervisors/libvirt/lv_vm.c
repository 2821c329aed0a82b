/* lv_vm.c - a VM as a transient libvirt domain: start (boot or restore),
 * pause/resume, save as a template, query, destroy, free, attach.
 *
 * Transient, so libvirt keeps no definition once the domain stops: nothing
 * of a VM outlives it in libvirt's configuration. Pause is virDomainSuspend
 * (a raw QMP "stop" would leave libvirt's idea of the state stale). */
#include "lv_internal.h"

#include <errno.h>       /* ESRCH */
#include <fcntl.h>       /* open */
#include <stdio.h>       /* snprintf */
#include <stdlib.h>      /* calloc */
#include <string.h>      /* strstr */
#include <sys/eventfd.h> /* eventfd */
#include <unistd.h>      /* fsync, unlink */

#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_log.h"
#include "wp_time.h"

static void domain_freep(virDomainPtr *d)
{
    if (*d != NULL)
        virDomainFree(*d);
}
#define _cleanup_domain_ __attribute__((cleanup(domain_freep)))

static lv_vm_t *vm_new(hv_backend_t *be, const char *id, const char *runtime_dir, wp_error_t *err)
{
    lv_vm_t *vm = calloc(1, sizeof(*vm));
    if (vm == NULL) {
        wp_error_errno(err, ENOMEM, "VM '%s'", id);
        return NULL;
    }
    vm->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->exit_fd < 0) {
        wp_error_errno(err, errno, "VM '%s': eventfd", id);
        free(vm);
        return NULL;
    }
    vm->base.ops = &hv_libvirt_ops;
    vm->base.backend = be;
    snprintf(vm->base.id, sizeof(vm->base.id), "%s", id);
    snprintf(vm->base.runtime_dir, sizeof(vm->base.runtime_dir), "%s", runtime_dir);
    lv_domain_name(id, vm->name, sizeof(vm->name));
    pthread_mutex_init(&vm->mig_lock, NULL);
    pthread_cond_init(&vm->mig_cond, NULL);
    return vm;
}

static void vm_free(lv_vm_t *vm)
{
    lv_conn_unregister(lv_backend_of(vm->base.backend), vm);
    close(vm->exit_fd);
    pthread_mutex_destroy(&vm->mig_lock);
    pthread_cond_destroy(&vm->mig_cond);
    free(vm);
}

/* QEMU's pid, from libvirt's pidfile (privileged daemon only), checked against
 * the process's command line. 0 when it cannot be known. */
static pid_t domain_pid(const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "/run/libvirt/qemu/%s.pid", name);
    _cleanup_free_ char *text = wp_read_file(path, 32, NULL, NULL);
    long pid = text ? strtol(text, NULL, 10) : 0;
    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    size_t len = 0;
    _cleanup_free_ char *args = wp_read_file(path, 1 << 20, &len, NULL);
    char want[LV_DOMAIN_NAME_MAX + 16];
    snprintf(want, sizeof(want), "guest=%s,", name);
    for (size_t off = 0; args != NULL && off < len; off += strlen(args + off) + 1)
        if (strncmp(args + off, want, strlen(want)) == 0)
            return (pid_t)pid;
    return 0;
}

/* The QEMU pid in the runtime directory, as the QEMU backend keeps it: an
 * operator (or a test) finds a VM's process the same way on both backends. */
static void write_pidfile(const lv_vm_t *vm)
{
    if (vm->base.pid <= 0)
        return;
    char text[32];
    snprintf(text, sizeof(text), "%d\n", (int)vm->base.pid);
    wp_error_t err = {0};
    if (hv_runtime_file_write(vm->base.runtime_dir, HV_PIDFILE, text, &err) < 0)
        wp_log_warn("libvirt: VM '%s': %s", vm->base.id, err.msg);
}

/* libvirt keeps a log file per domain ever started, transient ones too: a
 * pool would pile up one per clone. The log of a VM we ended ourselves is
 * removed; that of a VM that died on its own (or failed to start) is kept
 * for whoever investigates. Only the privileged daemon's path is known. */
static void forget_log(const lv_backend_t *lb, const char *name)
{
    if (strcmp(lb->uri, "qemu:///system") != 0)
        return;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "/var/log/libvirt/qemu/%s.log", name);
    if (unlink(path) < 0 && errno != ENOENT)
        wp_log_debug("libvirt: remove '%s': %s", path, strerror(errno));
}

/* Kill the domain if it runs (*was_running says whether it did); undefine it if someone made it
 * persistent. */
static int stop_domain(lv_backend_t *lb, const char *name, bool *was_running, wp_error_t *err)
{
    if (was_running != NULL)
        *was_running = false;
    wp_error_t lerr = {0};
    _cleanup_domain_ virDomainPtr dom = lv_domain(lb, name, &lerr);
    if (dom == NULL) {
        if (lerr.code == ESRCH)
            return 0;
        if (err != NULL)
            *err = lerr;
        return -1;
    }
    bool active = virDomainIsActive(dom) == 1;
    if (active && virDomainDestroy(dom) < 0 && virDomainIsActive(dom) == 1)
        return lv_error(err, 0, "libvirt: destroy domain '%s'", name);
    if (was_running != NULL)
        *was_running = active;
    if (virDomainIsPersistent(dom) == 1 && virDomainUndefine(dom) < 0)
        return lv_error(err, 0, "libvirt: undefine domain '%s'", name);
    return 0;
}

/* Undo a start that failed: no domain, no files. */
static void start_failed(lv_vm_t *vm)
{
    stop_domain(lv_backend_of(vm->base.backend), vm->name, NULL, NULL);
    hv_runtime_dir_remove(vm->base.runtime_dir, 0, NULL);
    vm_free(vm);
}

static lv_vm_t *start(hv_backend_t *be, const hv_vm_spec_t *spec, lv_mode_t mode,
                      virDomainPtr *dom_out, wp_error_t *err)
{
    lv_backend_t *lb = lv_backend_of(be);
    lv_xml_options_t opt = {.emulator = lb->emulator, .mode = mode};
    _cleanup_free_ char *xml = lv_domain_xml(spec, &opt, err);
    if (xml == NULL)
        return NULL;
    lv_vm_t *vm = vm_new(be, spec->id, spec->runtime_dir, err);
    if (vm == NULL)
        return NULL;
    vm->memory_shared = spec->memory_shared;
    hv_spec_agent_endpoint(spec, vm->base.agent_endpoint, sizeof(vm->base.agent_endpoint));
    if (hv_runtime_dir_create(spec->runtime_dir, err) < 0 ||
        (spec->share_dir != NULL && hv_share_dir_create(spec->share_dir, err) < 0)) {
        vm_free(vm);
        return NULL;
    }
    if (hv_runtime_dir_mark(spec->runtime_dir, hv_libvirt_ops.name, err) < 0 ||
        hv_endpoint_write(spec->runtime_dir, vm->base.agent_endpoint, err) < 0) {
        hv_runtime_dir_remove(spec->runtime_dir, 0, NULL);
        vm_free(vm);
        return NULL;
    }
    /* registered before the start, so not even an immediate crash is missed */
    lv_conn_register(lb, vm);
    virConnectPtr c = lv_conn_get(lb, err);
    virDomainPtr dom = NULL;
    if (c != NULL) {
        unsigned flags = mode == LV_MODE_INCOMING ? VIR_DOMAIN_START_PAUSED : 0;
        dom = virDomainCreateXML(c, xml, flags);
        if (dom == NULL)
            lv_error(err, 0, "libvirt: create domain '%s'", vm->name);
        virConnectClose(c);
    }
    if (dom == NULL) {
        start_failed(vm);
        return NULL;
    }
    vm->base.pid = domain_pid(vm->name);
    write_pidfile(vm);
    *dom_out = dom;
    return vm;
}

int lv_boot(hv_backend_t *be, const hv_vm_spec_t *spec, hv_vm_t **out, wp_error_t *err)
{
    int64_t t0 = wp_now_mono_ns();
    _cleanup_domain_ virDomainPtr dom = NULL;
    lv_vm_t *vm = start(be, spec, LV_MODE_BOOT, &dom, err);
    if (vm == NULL)
        return wp_error_wrap(err, "boot VM '%s'", spec->id ? spec->id : "");
    wp_log_debug("libvirt: VM '%s' (domain '%s', pid %d) booted in %.1f ms", vm->base.id, vm->name,
                 (int)vm->base.pid, wp_ms_between(t0, wp_now_mono_ns()));
    *out = &vm->base;
    return 0;
}

int lv_restore(hv_backend_t *be, const hv_vm_spec_t *spec, int fd, const char *state_path,
               hv_vm_t **out, wp_error_t *err)
{
    const char *id = spec->id ? spec->id : "";
    int64_t t0 = wp_now_mono_ns();
    _cleanup_domain_ virDomainPtr dom = NULL;
    lv_vm_t *vm = start(be, spec, LV_MODE_INCOMING, &dom, err);
    if (vm == NULL)
        return wp_error_wrap(err, "restore VM '%s'", id);
    int64_t t1 = wp_now_mono_ns();
    if (lv_migrate(lv_backend_of(be), vm, dom, fd, true, err) < 0) {
        start_failed(vm);
        return wp_error_wrap(err, "restore VM '%s' from '%s'", id, state_path);
    }
    wp_log_debug("libvirt: VM '%s' (pid %d) restored: domain created %.1f ms, state loaded %.1f ms",
                 vm->base.id, (int)vm->base.pid, wp_ms_between(t0, t1),
                 wp_ms_between(t0, wp_now_mono_ns()));
    *out = &vm->base;
    return 0;
}

static virDomainPtr live_domain(lv_vm_t *vm, const char *what, wp_error_t *err)
{
    if (vm->saved) {
        wp_error_set(err, ESRCH, "%s VM '%s': its template was saved and the domain has ended",
                     what, vm->base.id);
        return NULL;
    }
    virDomainPtr dom = lv_domain(lv_backend_of(vm->base.backend), vm->name, err);
    if (dom == NULL)
        wp_error_wrap(err, "%s VM '%s'", what, vm->base.id);
    return dom;
}

/* One libvirt call on a live domain (pause, resume). */
static int on_domain(hv_vm_t *hv, const char *what, int (*call)(virDomainPtr), wp_error_t *err)
{
    lv_vm_t *vm = lv_vm_of(hv);
    _cleanup_domain_ virDomainPtr dom = live_domain(vm, what, err);
    if (dom == NULL)
        return -1;
    if (call(dom) < 0)
        return lv_error(err, 0, "%s VM '%s'", what, vm->base.id);
    return 0;
}

int lv_pause(hv_vm_t *hv, wp_error_t *err)
{
    return on_domain(hv, "pause", virDomainSuspend, err);
}

int lv_resume(hv_vm_t *hv, wp_error_t *err)
{
    return on_domain(hv, "resume", virDomainResume, err);
}

int lv_save_template(hv_vm_t *hv, const char *state_path, wp_error_t *err)
{
    lv_vm_t *vm = lv_vm_of(hv);
    if (!vm->memory_shared)
        return wp_error_set(err, EINVAL,
                            "save template of VM '%s': its memory is not shared "
                            "(boot it with memory_shared=true), the state would carry all its RAM",
                            vm->base.id);
    _cleanup_domain_ virDomainPtr dom = live_domain(vm, "save template of", err);
    if (dom == NULL)
        return -1;
    _cleanup_close_ int fd = open(state_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return wp_error_errno(err, errno, "save template of VM '%s': create '%s'", vm->base.id,
                              state_path);
    int state = 0;
    int ret = 0;
    if (virDomainGetState(dom, &state, NULL, 0) < 0 ||
        (state != VIR_DOMAIN_PAUSED && virDomainSuspend(dom) < 0))
        ret = lv_error(err, 0, "pause");
    if (ret == 0)
        ret = lv_migrate(lv_backend_of(vm->base.backend), vm, dom, fd, false, err);
    /* the template is the memory file and the state: the domain has no further use */
    if (ret == 0)
        ret = stop_domain(lv_backend_of(vm->base.backend), vm->name, NULL, err);
    if (ret == 0)
        forget_log(lv_backend_of(vm->base.backend), vm->name);
    if (ret == 0) {
        vm->saved = true;
        if (fsync(fd) < 0)
            ret = wp_error_errno(err, errno, "fsync '%s'", state_path);
    }
    if (ret < 0) {
        unlink(state_path);
        return wp_error_wrap(err, "save template of VM '%s' to '%s'", vm->base.id, state_path);
    }
    return 0;
}

int lv_query(hv_vm_t *hv, hv_vm_status_t *out, wp_error_t *err)
{
    lv_vm_t *vm = lv_vm_of(hv);
    *out = (hv_vm_status_t){.state = HV_VM_GONE, .pid = vm->base.pid};
    if (vm->saved)
        return 0;
    wp_error_t lerr = {0};
    _cleanup_domain_ virDomainPtr dom = lv_domain(lv_backend_of(hv->backend), vm->name, &lerr);
    if (dom == NULL) {
        if (lerr.code == ESRCH)
            return 0;
        if (err != NULL)
            *err = lerr;
        return wp_error_wrap(err, "query VM '%s'", vm->base.id);
    }
    int state = 0, reason = 0;
    if (virDomainGetState(dom, &state, &reason, 0) < 0)
        return lv_error(err, 0, "query VM '%s'", vm->base.id);
    switch (state) {
    case VIR_DOMAIN_RUNNING:
        out->state = HV_VM_RUNNING;
        break;
    case VIR_DOMAIN_PAUSED:
        out->state = reason == VIR_DOMAIN_PAUSED_MIGRATION ? HV_VM_INCOMING : HV_VM_PAUSED;
        break;
    case VIR_DOMAIN_SHUTOFF:
    case VIR_DOMAIN_CRASHED:
        out->state = HV_VM_GONE;
        break;
    default:
        out->state = HV_VM_OTHER;
    }
    return 0;
}

int lv_destroy(hv_vm_t *hv, wp_error_t *err)
{
    lv_vm_t *vm = lv_vm_of(hv);
    bool was_running = false;
    int ret = stop_domain(lv_backend_of(hv->backend), vm->name, &was_running, err);
    if (ret == 0 && was_running)
        forget_log(lv_backend_of(hv->backend), vm->name);
    ret = hv_runtime_dir_remove(vm->base.runtime_dir, ret, err);
    if (ret < 0)
        wp_error_wrap(err, "destroy VM '%s'", vm->base.id);
    vm_free(vm);
    return ret;
}

void lv_vm_free(hv_vm_t *hv)
{
    vm_free(lv_vm_of(hv));
}

int lv_attach(hv_backend_t *be, const char *id, const char *runtime_dir, hv_vm_t **out,
              wp_error_t *err)
{
    lv_vm_t *vm = vm_new(be, id, runtime_dir, err);
    if (vm == NULL)
        return wp_error_wrap(err, "attach VM '%s'", id);
    lv_conn_register(lv_backend_of(be), vm);
    wp_error_t lerr = {0};
    _cleanup_domain_ virDomainPtr dom = lv_domain(lv_backend_of(be), vm->name, &lerr);
    if (dom == NULL || virDomainIsActive(dom) != 1) {
        vm_free(vm);
        if (dom == NULL && lerr.code != ESRCH) {
            if (err != NULL)
                *err = lerr;
            return wp_error_wrap(err, "attach VM '%s'", id);
        }
        return wp_error_set(err, ESRCH, "attach VM '%s': libvirt has no running domain '%s'", id,
                            vm->name);
    }
    _cleanup_free_ char *xml = virDomainGetXMLDesc(dom, 0);
    vm->memory_shared = xml != NULL && strstr(xml, ",share=on") != NULL;
    vm->base.pid = domain_pid(vm->name);
    hv_endpoint_read(runtime_dir, vm->base.agent_endpoint, sizeof(vm->base.agent_endpoint));
    *out = &vm->base;
    return 0;
}
