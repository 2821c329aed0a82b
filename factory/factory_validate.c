/* factory_validate.c - does a template still match this host?
 *
 * Open-time validation is thorough (digests of kernel, initrd and state,
 * hypervisor identity, memory file); clone-time re-checks are a stat of each
 * file against the signature recorded when it was last verified, so the
 * clone path stays cheap and a changed file is still caught before use. */
#include "factory_internal.h"

#include <errno.h>  /* errno */
#include <stdio.h>  /* snprintf */
#include <string.h> /* strcmp */

#include "factory_digest.h"

int factory_file_sig_read(const char *path, factory_file_sig_t *out, wp_error_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return wp_error_errno(err, errno, "stat '%s'", path);
    *out = (factory_file_sig_t){.dev = st.st_dev,
                                .ino = st.st_ino,
                                .size = st.st_size,
                                .mtime = st.st_mtim,
                                .ctime = st.st_ctim};
    return 0;
}

static bool sig_equal(const factory_file_sig_t *a, const factory_file_sig_t *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Fail with the one sentence an operator needs: which template, what
 * differs, what to do. `what` is already formatted. */
static int mismatch(const factory_template_t *t, int code, const char *what, wp_error_t *err)
{
    char hint[PATH_MAX * 3];
    factory_manifest_rebuild_hint(&t->manifest, hint, sizeof(hint));
    return wp_error_set(err, code,
                        "template '%s' cannot be cloned on this host: %s; rebuild it with '%s'",
                        t->manifest.name, what, hint);
}

void factory_share_dir(const char *runtime_dir, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s", runtime_dir, FACTORY_SHARE_SUBDIR);
}

void factory_spec_from_manifest(const factory_template_t *t, const char *runtime_dir, char *share,
                                hv_vm_spec_t *spec)
{
    const factory_manifest_t *m = &t->manifest;
    if (runtime_dir != NULL)
        factory_share_dir(runtime_dir, share);
    else
        snprintf(share, PATH_MAX, "/%s", FACTORY_SHARE_SUBDIR);
    *spec = (hv_vm_spec_t){
        .runtime_dir = runtime_dir,
        .share_dir = share,
        .kernel = t->kernel_path,
        .initrd = t->initrd_path,
        .cmdline = m->cmdline,
        .vcpus = m->hv.vcpus,
        .memory_mib = m->hv.memory_mib,
        .machine = m->hv.machine,
        .cpu_model = m->hv.cpu_model,
        .memory_file = m->memory_file,
        .memory_shared = false,
        .vmgenid = m->vmgenid,
        .agent_transport = m->transport,
    };
}

static int check_hypervisor(factory_template_t *t, wp_error_t *err)
{
    const factory_manifest_t *m = &t->manifest;
    hv_backend_t *be = factory_backend(t->factory, m->hv.backend, err);
    if (be == NULL)
        return wp_error_wrap(err, "template '%s'", m->name);
    hv_vm_spec_t spec;
    char share[PATH_MAX];
    factory_spec_from_manifest(t, NULL, share, &spec);
    hv_description_t now;
    char what[1024];
    if (hv_describe(be, &spec, &now, err) < 0) {
        snprintf(what, sizeof(what), "the hypervisor it was built with is not usable (%.900s)",
                 err ? err->msg : "");
        return mismatch(t, ENOENT, what, err);
    }
    if (strcmp(now.binary, m->hv.binary) != 0) {
        snprintf(what, sizeof(what), "it was built with '%s' but this host runs '%s'", m->hv.binary,
                 now.binary);
        return mismatch(t, EINVAL, what, err);
    }
    if (strcmp(now.version, m->hv.version) != 0) {
        snprintf(what, sizeof(what), "it was built with QEMU %s but '%s' is now QEMU %s",
                 m->hv.version, now.binary, now.version);
        return mismatch(t, EINVAL, what, err);
    }
    bool same_devices = now.n_devices == m->hv.n_devices;
    for (unsigned i = 0; same_devices && i < now.n_devices; i++)
        same_devices = strcmp(now.devices[i], m->hv.devices[i]) == 0;
    if (strcmp(now.machine, m->hv.machine) != 0 || strcmp(now.cpu_model, m->hv.cpu_model) != 0 ||
        !same_devices) {
        snprintf(what, sizeof(what),
                 "its machine, CPU model or device list (%s, %s, %u devices) differs from what "
                 "this warmpool would start (%s, %s, %u devices)",
                 m->hv.machine, m->hv.cpu_model, m->hv.n_devices, now.machine, now.cpu_model,
                 now.n_devices);
        return mismatch(t, EINVAL, what, err);
    }
    return 0;
}

static int check_file(factory_template_t *t, const char *label, const char *path,
                      const factory_file_record_t *rec, factory_file_sig_t *sig, wp_error_t *err)
{
    char what[PATH_MAX + 256];
    wp_error_t local = {0};
    if (factory_file_sig_read(path, sig, &local) < 0) {
        snprintf(what, sizeof(what), "its %s file '%s' is missing", label, path);
        return mismatch(t, ENOENT, what, err);
    }
    if ((uint64_t)sig->size != rec->size) {
        snprintf(what, sizeof(what),
                 "its %s file '%s' is %lld bytes, not the %llu it was built with", label, path,
                 (long long)sig->size, (unsigned long long)rec->size);
        return mismatch(t, EINVAL, what, err);
    }
    char digest[FACTORY_SHA256_HEX];
    if (factory_sha256_file(path, digest, NULL, &local) < 0) {
        snprintf(what, sizeof(what), "its %s file cannot be read (%.900s)", label, local.msg);
        return mismatch(t, local.code, what, err);
    }
    if (strcmp(digest, rec->sha256) != 0) {
        snprintf(
            what, sizeof(what),
            "its %s file '%s' has changed since it was built (sha256 %.12s..., expected %.12s...)",
            label, path, digest, rec->sha256);
        return mismatch(t, EINVAL, what, err);
    }
    return 0;
}

static int check_memory(factory_template_t *t, factory_file_sig_t *sig, wp_error_t *err)
{
    const factory_manifest_t *m = &t->manifest;
    char what[PATH_MAX + 256];
    wp_error_t local = {0};
    if (factory_file_sig_read(m->memory_file, sig, &local) < 0) {
        snprintf(what, sizeof(what),
                 "its memory file '%s' is gone (memory filesystems are emptied at reboot)",
                 m->memory_file);
        return mismatch(t, ENOENT, what, err);
    }
    if ((uint64_t)sig->size != m->memory_size) {
        snprintf(what, sizeof(what), "its memory file '%s' is %lld bytes, not %llu", m->memory_file,
                 (long long)sig->size, (unsigned long long)m->memory_size);
        return mismatch(t, EINVAL, what, err);
    }
    return 0;
}

int factory_template_validate(factory_template_t *t, wp_error_t *err)
{
    factory_file_sig_t k, i, s, mem;
    if (check_hypervisor(t, err) < 0 ||
        check_file(t, "kernel", t->kernel_path, &t->manifest.kernel, &k, err) < 0 ||
        check_file(t, "initrd", t->initrd_path, &t->manifest.initrd, &i, err) < 0 ||
        check_file(t, "state", t->state_path, &t->manifest.state, &s, err) < 0 ||
        check_memory(t, &mem, err) < 0)
        return -1;
    pthread_mutex_lock(&t->sig_lock);
    t->kernel_sig = k;
    t->initrd_sig = i;
    t->state_sig = s;
    t->memory_sig = mem;
    pthread_mutex_unlock(&t->sig_lock);
    return 0;
}

int factory_template_recheck(factory_template_t *t, wp_error_t *err)
{
    factory_file_sig_t k, i, s, mem;
    wp_error_t local = {0};
    bool same = factory_file_sig_read(t->kernel_path, &k, &local) == 0 &&
                factory_file_sig_read(t->initrd_path, &i, &local) == 0 &&
                factory_file_sig_read(t->state_path, &s, &local) == 0 &&
                factory_file_sig_read(t->manifest.memory_file, &mem, &local) == 0;
    pthread_mutex_lock(&t->sig_lock);
    same = same && sig_equal(&k, &t->kernel_sig) && sig_equal(&i, &t->initrd_sig) &&
           sig_equal(&s, &t->state_sig) && sig_equal(&mem, &t->memory_sig);
    pthread_mutex_unlock(&t->sig_lock);
    /* the hypervisor binary is checked every time: hv_describe caches by its stat */
    if (check_hypervisor(t, err) < 0)
        return -1;
    return same ? 0 : factory_template_validate(t, err);
}
