/* hv.c - backend selection and dispatch for hv.h. */
#include "hv_backend.h"

#include <errno.h>  /* ENOENT */
#include <fcntl.h>  /* open */
#include <unistd.h> /* close */
#include <stdlib.h> /* calloc */
#include <string.h> /* strcmp */

static const hv_ops_t *const hv_backends[] = {&hv_qemu_ops, &hv_libvirt_ops};

hv_backend_t *hv_backend_open(const char *name, const hv_backend_config_t *cfg, wp_error_t *err)
{
    static const hv_backend_config_t defaults = {0};
    for (size_t i = 0; i < sizeof(hv_backends) / sizeof(hv_backends[0]); i++) {
        if (strcmp(hv_backends[i]->name, name) != 0)
            continue;
        hv_backend_t *be = calloc(1, sizeof(*be));
        if (be == NULL) {
            wp_error_errno(err, ENOMEM, "open backend '%s'", name);
            return NULL;
        }
        be->ops = hv_backends[i];
        if (be->ops->open(be, cfg ? cfg : &defaults, err) < 0) {
            free(be);
            wp_error_wrap(err, "open backend '%s'", name);
            return NULL;
        }
        return be;
    }
    wp_error_set(err, ENOENT, "unknown hypervisor backend '%s' (known: qemu, libvirt)", name);
    return NULL;
}

void hv_backend_close(hv_backend_t *be)
{
    if (be == NULL)
        return;
    be->ops->close(be);
    free(be);
}

const char *hv_backend_name(const hv_backend_t *be)
{
    return be->ops->name;
}

int hv_describe(hv_backend_t *be, const hv_vm_spec_t *spec, hv_description_t *out, wp_error_t *err)
{
    return be->ops->describe(be, spec, out, err);
}

int hv_boot(hv_backend_t *be, const hv_vm_spec_t *spec, hv_vm_t **out, wp_error_t *err)
{
    return be->ops->boot(be, spec, out, err);
}

int hv_pause(hv_vm_t *vm, wp_error_t *err)
{
    return vm->ops->pause(vm, err);
}

int hv_save_template(hv_vm_t *vm, const char *state_path, wp_error_t *err)
{
    return vm->ops->save_template(vm, state_path, err);
}

int hv_restore(hv_backend_t *be, const hv_vm_spec_t *spec, const char *state_path, hv_vm_t **out,
               wp_error_t *err)
{
    const char *id = spec->id ? spec->id : "";
    if (spec->memory_shared)
        return wp_error_set(err, EINVAL,
                            "restore VM '%s': a clone must map the template's memory private "
                            "(memory_shared=false), or its writes would reach the template",
                            id);
    int fd = open(state_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wp_error_errno(err, errno, "restore VM '%s': open state '%s'", id, state_path);
    int ret = be->ops->restore(be, spec, fd, state_path, out, err);
    close(fd);
    return ret;
}

int hv_resume(hv_vm_t *vm, wp_error_t *err)
{
    return vm->ops->resume(vm, err);
}

const char *hv_vm_agent_endpoint(const hv_vm_t *vm)
{
    return vm->agent_endpoint;
}

const char *hv_vm_id(const hv_vm_t *vm)
{
    return vm->id;
}

const char *hv_vm_runtime_dir(const hv_vm_t *vm)
{
    return vm->runtime_dir;
}

pid_t hv_vm_pid(const hv_vm_t *vm)
{
    return vm->pid;
}

int hv_vm_exit_fd(const hv_vm_t *vm)
{
    return vm->ops->exit_fd(vm);
}

int hv_query(hv_vm_t *vm, hv_vm_status_t *out, wp_error_t *err)
{
    return vm->ops->query(vm, out, err);
}

int hv_destroy(hv_vm_t *vm, wp_error_t *err)
{
    if (vm == NULL)
        return 0;
    return vm->ops->destroy(vm, err);
}

void hv_vm_free(hv_vm_t *vm)
{
    if (vm != NULL)
        vm->ops->free(vm);
}

int hv_attach(hv_backend_t *be, const char *id, const char *runtime_dir, hv_vm_t **out,
              wp_error_t *err)
{
    return be->ops->attach(be, id, runtime_dir, out, err);
}
