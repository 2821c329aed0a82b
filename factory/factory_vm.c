/* factory_vm.c - VMs a previous process left running: list, adopt and destroy by id. */
#include "factory_internal.h"

#include <errno.h>   /* ESRCH */
#include <stdlib.h>  /* calloc */
#include <jansson.h> /* json_loads */
#include <string.h>  /* strspn */
#include <unistd.h>  /* access */

#include "agent_share.h" /* agent_share_clear */
#include "wp_fs.h"

int factory_vm_list(factory_t *f, char ***ids, size_t *count, wp_error_t *err)
{
    char vms[PATH_MAX + 8];
    snprintf(vms, sizeof(vms), "%s/vms", f->runtime_dir);
    return factory_list_dir(vms, NULL, ids, count, err);
}

/* The backend a VM was started with: from its vm.json, or, for a VM whose
 * clone never finished (its process died mid-start), from the mark the
 * backend left in the directory; "qemu" if neither says. */
static void vm_backend(const char *dir, char *out, size_t len)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/vm.json", dir);
    snprintf(out, len, "qemu");
    json_t *root = json_load_file(path, 0, NULL);
    const char *b = NULL;
    if (root && json_unpack(root, "{s:s}", "backend", &b) == 0)
        snprintf(out, len, "%s", b);
    else
        hv_runtime_dir_backend(dir, out, len, NULL);
    json_decref(root);
}

/* The VM's directory, if id is a VM id and the directory exists. */
static int vm_dir(factory_t *f, const char *id, char *dir, wp_error_t *err)
{
    if (id[0] == '\0' || id[0] == '.' || strlen(id) >= 64 ||
        strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(id))
        return wp_error_set(err, EINVAL, "'%s' is not a VM id", id);
    factory_vm_dir(f, id, dir);
    if (access(dir, F_OK) < 0)
        return wp_error_set(err, ENOENT, "no VM '%s' in '%s/vms'", id, f->runtime_dir);
    return 0;
}

int factory_vm_adopt(factory_t *f, const char *id, factory_vm_t **out, wp_error_t *err)
{
    char dir[PATH_MAX], record[PATH_MAX + 16], backend[16];
    if (vm_dir(f, id, dir, err) < 0)
        return -1;
    snprintf(record, sizeof(record), "%s/vm.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(record, JSON_REJECT_DUPLICATES, &jerr);
    const char *tmpl = NULL, *genid = NULL, *be_name = NULL;
    if (root == NULL || json_unpack(root, "{s:s, s:s, s:s}", "template", &tmpl, "vmgenid", &genid,
                                    "backend", &be_name) < 0) {
        json_decref(root);
        return wp_error_set(err, EINVAL, "adopt VM '%s': '%s' is not a VM record", id, record);
    }
    factory_vm_t *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        json_decref(root);
        return wp_error_errno(err, ENOMEM, "adopt VM '%s'", id);
    }
    snprintf(v->id, sizeof(v->id), "%s", id);
    snprintf(v->template_name, sizeof(v->template_name), "%s", tmpl);
    snprintf(v->vmgenid, sizeof(v->vmgenid), "%s", genid);
    snprintf(backend, sizeof(backend), "%s", be_name);
    json_decref(root);
    factory_share_dir(dir, v->share_dir);
    hv_backend_t *be = factory_backend(f, backend, err);
    if (be == NULL || hv_attach(be, id, dir, &v->vm, err) < 0) {
        free(v);
        return wp_error_wrap(err, "adopt VM '%s'", id);
    }
    *out = v;
    return 0;
}

int factory_vm_destroy_by_id(factory_t *f, const char *id, wp_error_t *err)
{
    char dir[PATH_MAX];
    if (vm_dir(f, id, dir, err) < 0)
        return -1;
    char backend[16];
    vm_backend(dir, backend, sizeof(backend));
    hv_backend_t *be = factory_backend(f, backend, err);
    if (be == NULL)
        return wp_error_wrap(err, "destroy VM '%s'", id);
    char share[PATH_MAX];
    factory_share_dir(dir, share);
    agent_share_clear(share, NULL); /* as factory_vm_destroy */
    hv_vm_t *vm = NULL;
    wp_error_t attach_err = {0};
    if (hv_attach(be, id, dir, &vm, &attach_err) < 0) {
        if (attach_err.code != ESRCH) {
            if (err)
                *err = attach_err;
            return wp_error_wrap(err, "destroy VM '%s'", id);
        }
        /* its process is gone: only files are left */
        return hv_runtime_dir_discard(dir, err);
    }
    if (hv_destroy(vm, err) < 0)
        return wp_error_wrap(err, "destroy VM '%s'", id);
    return 0;
}
