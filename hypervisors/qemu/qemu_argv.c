/* qemu_argv.c - QEMU command line construction (see qemu_argv.h). */
#include "qemu_argv.h"

#include <errno.h>  /* EINVAL */
#include <stdarg.h> /* va_list */
#include <stdio.h>  /* vasprintf */
#include <stdlib.h> /* calloc, free */
#include <string.h> /* strlen */
#include <sys/un.h> /* sockaddr_un: socket path limit */

#include "wp_cleanup.h"

typedef struct argv_builder {
    char **v;
    size_t n, cap;
    bool failed; /* allocation failed: checked once at the end */
} argv_builder_t;

__attribute__((format(printf, 2, 3))) static void add(argv_builder_t *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    if (b->n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        char **v = realloc(b->v, cap * sizeof(*v));
        if (v == NULL) {
            b->failed = true;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    int ret = vasprintf(&b->v[b->n], fmt, ap);
    va_end(ap);
    if (ret < 0) {
        b->failed = true;
        return;
    }
    b->v[++b->n] = NULL;
}

char **qemu_argv_build(const char *binary, const hv_vm_spec_t *spec, qemu_mode_t mode,
                       wp_error_t *err)
{
    if (hv_spec_check(spec, err) < 0)
        return NULL;
    _cleanup_free_ char *mem = hv_opts_escape(spec->memory_file);
    _cleanup_free_ char *share = spec->share_dir ? hv_opts_escape(spec->share_dir) : NULL;
    _cleanup_free_ char *machine = hv_opts_escape(spec->machine);
    argv_builder_t b = {0};
    if (mem == NULL || machine == NULL || (spec->share_dir != NULL && share == NULL))
        b.failed = true;
    add(&b, "%s", binary);
    add(&b, "-nodefaults");
    add(&b, "-no-user-config");
    add(&b, "-display");
    add(&b, "none");
    add(&b, "-machine");
    add(&b, "%s,accel=tcg,memory-backend=mem", machine);
    add(&b, "-cpu");
    add(&b, "%s", spec->cpu_model);
    add(&b, "-smp");
    add(&b, "%u", spec->vcpus);
    add(&b, "-m");
    add(&b, "%uM", spec->memory_mib);
    add(&b, "-object");
    /* share=off maps the template's file privately: clones share its pages
     * copy-on-write and never write into it */
    add(&b, "memory-backend-file,id=mem,size=%uM,mem-path=%s,share=%s", spec->memory_mib, mem,
        spec->memory_shared ? "on" : "off");
    add(&b, "-kernel");
    add(&b, "%s", spec->kernel);
    if (spec->initrd != NULL) {
        add(&b, "-initrd");
        add(&b, "%s", spec->initrd);
    }
    if (spec->cmdline != NULL) {
        add(&b, "-append");
        add(&b, "%s", spec->cmdline);
    }
    add(&b, "-serial");
    add(&b, "file:%s/%s", spec->runtime_dir, HV_CONSOLE);
    add(&b, "-device");
    add(&b, "vmgenid,guid=%s", spec->vmgenid ? spec->vmgenid : "auto");
    add(&b, "-chardev");
    add(&b, "socket,id=qmp,fd=%d,server=on,wait=off", QEMU_QMP_FD);
    add(&b, "-mon");
    add(&b, "chardev=qmp,mode=control");
    if (spec->agent_transport == HV_AGENT_VSOCK) {
        add(&b, "-device");
        add(&b, "vhost-vsock-pci,guest-cid=%u", spec->vsock_cid);
    } else {
        add(&b, "-chardev");
        add(&b, "socket,id=agent,fd=%d,server=on,wait=off", QEMU_AGENT_FD);
        add(&b, "-device");
        add(&b, "virtio-serial-pci,id=vser0");
        add(&b, "-device");
        add(&b, "virtserialport,bus=vser0.0,chardev=agent,name=%s", HV_AGENT_PORT_NAME);
    }
    if (spec->share_dir != NULL) {
        add(&b, "-fsdev");
        /* multidevs=remap: containers' rootfs are bind mounts of other
         * filesystems under the share; without it their inode numbers can
         * collide with the share's in the guest */
        add(&b, "local,id=share,path=%s,security_model=none,multidevs=remap", share);
        add(&b, "-device");
        add(&b, "virtio-9p-pci,fsdev=share,mount_tag=warmpool");
    }
    if (mode == QEMU_MODE_INCOMING) {
        add(&b, "-S");
        add(&b, "-incoming");
        add(&b, "defer");
    }
    if (b.failed) {
        qemu_argv_free(b.v);
        wp_error_errno(err, ENOMEM, "VM '%s': build QEMU command line", spec->id);
        return NULL;
    }
    return b.v;
}

void qemu_argv_free(char **argv)
{
    if (argv == NULL)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

static void add_device(hv_description_t *out, const char *fmt, const char *arg)
{
    if (out->n_devices < HV_MAX_DEVICES)
        snprintf(out->devices[out->n_devices++], sizeof(out->devices[0]), fmt, arg);
}

void qemu_argv_devices(const hv_vm_spec_t *spec, hv_description_t *out)
{
    out->n_devices = 0;
    add_device(out, "%s", "memory-backend-file");
    add_device(out, "%s", "vmgenid");
    if (spec->agent_transport == HV_AGENT_VSOCK) {
        add_device(out, "%s", "vhost-vsock-pci");
    } else {
        add_device(out, "%s", "virtio-serial-pci");
        add_device(out, "virtserialport:%s", HV_AGENT_PORT_NAME);
    }
    if (spec->share_dir != NULL)
        add_device(out, "%s", "virtio-9p-pci");
}
