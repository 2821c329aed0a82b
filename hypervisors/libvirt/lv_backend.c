/* lv_backend.c - the libvirt backend: open/close, describe, the ops table. */
#include "lv_internal.h"
#include "lv_kvm.h"

#include <errno.h>  /* ENOMEM */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc */
#include <string.h> /* strchr */
#include <time.h>   /* CLOCK_MONOTONIC */
#include <unistd.h> /* access */

#include "wp_log.h"

#define LV_DEFAULT_EMULATOR "/usr/bin/qemu-system-x86_64"

static int lv_open(hv_backend_t *be, const hv_backend_config_t *cfg, wp_error_t *err)
{
    lv_backend_t *lb = calloc(1, sizeof(*lb));
    if (lb == NULL)
        return wp_error_errno(err, ENOMEM, "open libvirt backend");
    snprintf(lb->uri, sizeof(lb->uri), "%s", cfg->libvirt_uri ? cfg->libvirt_uri : LV_DEFAULT_URI);
    /* libvirt wants an absolute emulator path; the QEMU backend's PATH lookup is not its */
    const char *emu = cfg->qemu_binary ? cfg->qemu_binary : LV_DEFAULT_EMULATOR;
    if (emu[0] != '/' || access(emu, X_OK) < 0) {
        free(lb);
        return wp_error_set(err, ENOENT,
                            "libvirt backend: emulator '%s' is not an absolute path to an "
                            "executable",
                            emu);
    }
    snprintf(lb->emulator, sizeof(lb->emulator), "%s", emu);
    pthread_mutex_init(&lb->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lb->cond, &ca);
    pthread_condattr_destroy(&ca);
    be->priv = lb;
    if (lv_conn_open(lb, err) < 0) {
        pthread_mutex_destroy(&lb->lock);
        pthread_cond_destroy(&lb->cond);
        free(lb);
        be->priv = NULL;
        return wp_error_wrap(err, "libvirt backend (is libvirtd running? start it with "
                                  "'virtlogd -d && libvirtd -d')");
    }
    /* a system libvirtd runs QEMU as its own user (a session one: as us) */
    char why[768];
    if (strstr(lb->uri, "/system") != NULL &&
        lv_kvm_check(LV_KVM_DEVICE, LV_QEMU_CONF, why, sizeof(why)) == 1)
        wp_log_warn("%s", why);
    return 0;
}

static void lv_close(hv_backend_t *be)
{
    lv_backend_t *lb = lv_backend_of(be);
    if (lb == NULL)
        return;
    lv_conn_close(lb);
    pthread_mutex_destroy(&lb->lock);
    pthread_cond_destroy(&lb->cond);
    free(lb);
    be->priv = NULL;
}

/* QEMU's version as libvirt reports it (major * 1e6 + minor * 1e3 + micro). */
static int qemu_version(lv_backend_t *lb, char *out, size_t len, wp_error_t *err)
{
    virConnectPtr c = lv_conn_get(lb, err);
    if (c == NULL)
        return -1;
    unsigned long v = 0;
    int rc = virConnectGetVersion(c, &v);
    if (rc < 0)
        lv_error(err, 0, "libvirt: hypervisor version");
    virConnectClose(c);
    if (rc < 0)
        return -1;
    snprintf(out, len, "%lu.%lu.%lu", v / 1000000, v / 1000 % 1000, v % 1000);
    return 0;
}

static int lv_describe(hv_backend_t *be, const hv_vm_spec_t *spec, hv_description_t *out,
                       wp_error_t *err)
{
    lv_backend_t *lb = lv_backend_of(be);
    *out = (hv_description_t){.memory_mib = spec->memory_mib, .vcpus = spec->vcpus};
    snprintf(out->backend, sizeof(out->backend), "%s", hv_libvirt_ops.name);
    if (strlen(lb->emulator) >= sizeof(out->binary))
        return wp_error_set(err, ENAMETOOLONG, "describe libvirt: emulator path '%s' is too long",
                            lb->emulator);
    snprintf(out->binary, sizeof(out->binary), "%s", lb->emulator);
    snprintf(out->machine, sizeof(out->machine), "%s", spec->machine ? spec->machine : "");
    snprintf(out->cpu_model, sizeof(out->cpu_model), "%s", spec->cpu_model ? spec->cpu_model : "");
    lv_xml_devices(spec, out);
    if (qemu_version(lb, out->version, sizeof(out->version), err) < 0)
        return wp_error_wrap(err, "describe libvirt");
    return 0;
}

static int lv_exit_fd(const hv_vm_t *hv)
{
    const lv_vm_t *vm = (const lv_vm_t *)hv;
    return vm->exit_fd;
}

const hv_ops_t hv_libvirt_ops = {
    .name = "libvirt",
    .open = lv_open,
    .close = lv_close,
    .describe = lv_describe,
    .boot = lv_boot,
    .pause = lv_pause,
    .save_template = lv_save_template,
    .restore = lv_restore,
    .resume = lv_resume,
    .query = lv_query,
    .destroy = lv_destroy,
    .free = lv_vm_free,
    .attach = lv_attach,
    .exit_fd = lv_exit_fd,
};
