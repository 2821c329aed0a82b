/* factory_build.c - build a template: boot -> agent ready -> save -> commit.
 *
 * Everything is assembled under hidden staging names (".build-<name>-<pid>")
 * and made visible by one rename of the finished directory; a failure at
 * any stage removes the staging files and the VM. Builds of one name are
 * serialised by factory_lock_name(). */
#include "factory_internal.h"

#include <dirent.h>   /* opendir */
#include <errno.h>    /* errno */
#include <signal.h>   /* kill */
#include <stdlib.h>   /* realpath, strtol */
#include <fcntl.h>    /* open */
#include <stdio.h>    /* snprintf, rename */
#include <string.h>   /* strcmp */
#include <sys/stat.h> /* chmod */
#include <time.h>     /* gmtime_r */
#include <unistd.h>   /* getpid, unlink */

#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_id.h"
#include "wp_log.h"
#include "wp_time.h"

const char *factory_stage_name(factory_build_stage_t stage)
{
    static const char *const names[] = {"preparing", "booting",    "waiting for agent",
                                        "saving",    "committing", "done"};
    return stage <= FACTORY_STAGE_DONE ? names[stage] : "?";
}

typedef struct build {
    factory_t *f;
    const factory_template_spec_t *spec;
    factory_progress_fn progress;
    void *opaque;
    int64_t start_ns;
    char staging[PATH_MAX];    /* <store>/.build-<name>-<pid> */
    char memory_tmp[PATH_MAX]; /* <memdir>/.build-<name>-<pid>.mem */
    char runtime[PATH_MAX];    /* <run>/vms/build-<name>-<pid> */
    factory_manifest_t m;
} build_t;

static void stage(build_t *b, factory_build_stage_t s)
{
    if (b->progress)
        b->progress(s, wp_ms_between(b->start_ns, wp_now_mono_ns()), b->opaque);
}

static int record_file(build_t *b, const char *src, const char *name, factory_file_record_t *rec,
                       wp_error_t *err)
{
    char dst[PATH_MAX + 64];
    snprintf(dst, sizeof(dst), "%s/%s", b->staging, name);
    if (src != NULL && wp_copy_file(src, dst, 0444, err) < 0)
        return -1;
    snprintf(rec->file, sizeof(rec->file), "%s", name);
    return factory_sha256_file(dst, rec->sha256, &rec->size, err);
}

/* Boot, wait for the agent, save. Fills the VM-derived manifest fields. */
static int boot_and_save(build_t *b, hv_backend_t *be, wp_error_t *err)
{
    const factory_template_spec_t *spec = b->spec;
    factory_manifest_t *m = &b->m;
    char kernel[PATH_MAX + 16], initrd[PATH_MAX + 16], state[PATH_MAX + 16], id[96];
    snprintf(kernel, sizeof(kernel), "%s/kernel", b->staging);
    snprintf(initrd, sizeof(initrd), "%s/initrd", b->staging);
    snprintf(state, sizeof(state), "%s/state", b->staging);
    snprintf(id, sizeof(id), "build-%s-%d", spec->name, (int)getpid());
    char share[PATH_MAX];
    factory_share_dir(b->runtime, share);
    hv_vm_spec_t vs = {
        .id = id,
        .runtime_dir = b->runtime,
        .share_dir = share,
        .kernel = kernel,
        .initrd = initrd,
        .cmdline = m->cmdline,
        .vcpus = m->hv.vcpus,
        .memory_mib = m->hv.memory_mib,
        .machine = m->hv.machine,
        .cpu_model = m->hv.cpu_model,
        .memory_file = b->memory_tmp,
        .memory_shared = true,
        .vmgenid = m->vmgenid,
        .agent_transport = m->transport,
    };
    /* vs points into m->hv: describe into a copy, then keep it */
    hv_description_t described;
    if (hv_describe(be, &vs, &described, err) < 0)
        return -1;

    stage(b, FACTORY_STAGE_BOOTING);
    int64_t boot_ns = wp_now_mono_ns();
    hv_vm_t *vm = NULL;
    if (hv_boot(be, &vs, &vm, err) < 0)
        return wp_error_wrap(err, "boot");

    stage(b, FACTORY_STAGE_WAITING_AGENT);
    int timeout = spec->agent_timeout_ms > 0 ? spec->agent_timeout_ms : 120000;
    _cleanup_agent_client_ agent_client_t *agent =
        agent_client_connect(hv_vm_agent_endpoint(vm), err);
    if (agent == NULL || agent_client_wait_announce(agent, timeout, err) < 0) {
        wp_error_wrap(err, "wait for the agent (console log: %s/console.log)", b->runtime);
        hv_destroy(vm, NULL);
        return -1;
    }
    m->boot_to_agent_ms = wp_ms_between(boot_ns, wp_now_mono_ns());
    const Warmpool__Agent__V1__Announce *a = agent_client_announce(agent);
    snprintf(m->agent_version, sizeof(m->agent_version), "%s", a->agent_version);
    snprintf(m->agent_boot_id, sizeof(m->agent_boot_id), "%s", a->boot_id);
    m->agent_protocol = a->protocol_version;
    if (factory_reseed_guest(agent, timeout, err) < 0) {
        hv_destroy(vm, NULL);
        return -1;
    }

    stage(b, FACTORY_STAGE_SAVING);
    int64_t save_ns = wp_now_mono_ns();
    int ret = hv_save_template(vm, state, err);
    m->save_ms = wp_ms_between(save_ns, wp_now_mono_ns());
    /* the VM process has ended (or failed to save): clean up its runtime dir either way */
    wp_error_t ignored = {0};
    hv_destroy(vm, &ignored);
    if (ret < 0)
        return wp_error_wrap(err, "save");
    m->hv = described;
    return 0;
}

static int commit(build_t *b, wp_error_t *err)
{
    factory_manifest_t *m = &b->m;
    char final_dir[PATH_MAX], final_mem[PATH_MAX], manifest[PATH_MAX + 32];
    factory_template_dir(b->f, m->name, final_dir);
    factory_memory_path(b->f, m->name, final_mem);
    snprintf(m->memory_file, sizeof(m->memory_file), "%s", final_mem);
    struct stat st;
    if (stat(b->memory_tmp, &st) < 0)
        return wp_error_errno(err, errno, "memory file '%s'", b->memory_tmp);
    m->memory_size = (uint64_t)st.st_size;
    if (record_file(b, NULL, "state", &m->state, err) < 0)
        return -1;
    _cleanup_free_ char *json = factory_manifest_to_json(m, err);
    if (json == NULL)
        return -1;
    snprintf(manifest, sizeof(manifest), "%s/manifest.json", b->staging);
    char state[PATH_MAX + 16];
    snprintf(state, sizeof(state), "%s/state", b->staging);
    if (wp_write_file_atomic(manifest, json, strlen(json), 0444, err) < 0 ||
        chmod(state, 0444) < 0 || chmod(b->memory_tmp, 0444) < 0)
        return err && err->code ? -1 : wp_error_errno(err, errno, "make template read-only");

    /* replacing: move the old template aside first, delete it after */
    char trash[PATH_MAX + 64];
    snprintf(trash, sizeof(trash), "%s/.trash-%s-%d", b->f->store_dir, m->name, (int)getpid());
    bool replaced = false;
    if (access(final_dir, F_OK) == 0) {
        if (!b->spec->replace)
            return wp_error_set(err, EEXIST,
                                "template '%s' already exists; remove it with 'warmpoolctl "
                                "template rm %s' or build with --force",
                                m->name, m->name);
        if (rename(final_dir, trash) < 0)
            return wp_error_errno(err, errno, "move old template '%s' aside", m->name);
        replaced = true;
    }
    if (rename(b->memory_tmp, final_mem) < 0 || rename(b->staging, final_dir) < 0) {
        int e = errno;
        if (replaced)
            rename(trash, final_dir);
        return wp_error_errno(err, e, "publish template '%s'", m->name);
    }
    _cleanup_close_ int dfd = open(b->f->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
    if (replaced && wp_rm_tree(trash, err) < 0)
        wp_log_warn("template '%s': old copy left at '%s': %s", m->name, trash, err->msg);
    return 0;
}

/* Entries of dir named <prefix><pid><suffix> whose pid is not running: what
 * a crashed build left. Calls drop(dir, entry) for each. */
static void for_each_stale(const char *dir, const char *prefix, const char *suffix,
                           void (*drop)(build_t *b, const char *path), build_t *b)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    size_t plen = strlen(prefix), slen = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len <= plen + slen || strncmp(de->d_name, prefix, plen) != 0 ||
            strcmp(de->d_name + len - slen, suffix) != 0)
            continue;
        char *end;
        long pid = strtol(de->d_name + plen, &end, 10);
        if (end != de->d_name + len - slen || pid <= 0 || pid == getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* that build is still running (we hold the lock: it cannot be) */
        char path[PATH_MAX * 2];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        drop(b, path);
    }
    closedir(d);
}

static void drop_path(build_t *b, const char *path)
{
    wp_log_warn("template '%s': removing what a crashed build left: '%s'", b->spec->name, path);
    wp_rm_tree(path, NULL);
}

static void drop_vm(build_t *b, const char *path)
{
    /* a crashed build may have left its QEMU running: stop it by its pid */
    hv_backend_t *be = factory_backend(b->f, b->spec->backend ? b->spec->backend : "qemu", NULL);
    hv_vm_t *vm = NULL;
    const char *id = strrchr(path, '/') + 1;
    if (be != NULL && hv_attach(be, id, path, &vm, NULL) == 0)
        hv_destroy(vm, NULL);
    drop_path(b, path);
}

static void remove_stale(build_t *b)
{
    char prefix[128], vms[PATH_MAX + 8];
    snprintf(prefix, sizeof(prefix), ".build-%s-", b->spec->name);
    for_each_stale(b->f->store_dir, prefix, "", drop_path, b);
    for_each_stale(b->f->memory_dir, prefix, ".mem", drop_path, b);
    snprintf(prefix, sizeof(prefix), "build-%s-", b->spec->name);
    snprintf(vms, sizeof(vms), "%s/vms", b->f->runtime_dir);
    for_each_stale(vms, prefix, "", drop_vm, b);
}

int factory_template_build(factory_t *f, const factory_template_spec_t *spec,
                           factory_progress_fn progress, void *opaque, wp_error_t *err)
{
    build_t b = {.f = f, .spec = spec, .progress = progress, .opaque = opaque};
    b.start_ns = wp_now_mono_ns();
    if (factory_check_name(spec->name, err) < 0)
        return -1;
    if (spec->kernel == NULL || spec->initrd == NULL)
        return wp_error_set(err, EINVAL, "template '%s' needs a kernel and an initrd", spec->name);
    stage(&b, FACTORY_STAGE_PREPARING);
    _cleanup_close_ int lock = factory_lock_name(f, spec->name, err);
    if (lock < 0)
        return -1;
    char existing[PATH_MAX];
    factory_template_dir(f, spec->name, existing);
    if (!spec->replace && access(existing, F_OK) == 0)
        return wp_error_set(err, EEXIST,
                            "template '%s' already exists; remove it with 'warmpoolctl template "
                            "rm %s' or build with --force",
                            spec->name, spec->name);
    remove_stale(&b);

    factory_manifest_t *m = &b.m;
    m->format = FACTORY_MANIFEST_FORMAT;
    snprintf(m->name, sizeof(m->name), "%s", spec->name);
    snprintf(m->cmdline, sizeof(m->cmdline), "%s",
             spec->cmdline ? spec->cmdline : FACTORY_DEFAULT_CMDLINE);
    m->hv.vcpus = spec->vcpus ? spec->vcpus : 1;
    m->hv.memory_mib = spec->memory_mib ? spec->memory_mib : 256;
    snprintf(m->hv.machine, sizeof(m->hv.machine), "%s", spec->machine ? spec->machine : "q35");
    snprintf(m->hv.cpu_model, sizeof(m->hv.cpu_model), "%s",
             spec->cpu_model ? spec->cpu_model : "max");
    m->transport =
        strstr(m->cmdline, "warmpool.transport=vsock") ? HV_AGENT_VSOCK : HV_AGENT_SERIAL;
    if (realpath(spec->kernel, m->source_kernel) == NULL)
        return wp_error_errno(err, errno, "template '%s': kernel '%s'", spec->name, spec->kernel);
    if (realpath(spec->initrd, m->source_initrd) == NULL)
        return wp_error_errno(err, errno, "template '%s': initrd '%s'", spec->name, spec->initrd);
    time_t now = time(NULL);
    struct tm tm;
    strftime(m->created, sizeof(m->created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    if (wp_uuid_random(m->vmgenid, err) < 0)
        return -1;
    hv_backend_t *be = factory_backend(f, spec->backend ? spec->backend : "qemu", err);
    if (be == NULL)
        return wp_error_wrap(err, "template '%s'", spec->name);

    snprintf(b.staging, sizeof(b.staging), "%s/.build-%s-%d", f->store_dir, spec->name,
             (int)getpid());
    snprintf(b.memory_tmp, sizeof(b.memory_tmp), "%s/.build-%s-%d.mem", f->memory_dir, spec->name,
             (int)getpid());
    snprintf(b.runtime, sizeof(b.runtime), "%s/vms/build-%s-%d", f->runtime_dir, spec->name,
             (int)getpid());
    int ret = wp_mkdir_p(b.staging, 0755, err);
    if (ret == 0)
        ret = record_file(&b, m->source_kernel, "kernel", &m->kernel, err);
    if (ret == 0)
        ret = record_file(&b, m->source_initrd, "initrd", &m->initrd, err);
    if (ret == 0)
        ret = boot_and_save(&b, be, err);
    if (ret == 0) {
        stage(&b, FACTORY_STAGE_COMMITTING);
        ret = commit(&b, err);
    }
    if (ret < 0) {
        wp_rm_tree(b.staging, NULL);
        unlink(b.memory_tmp);
        hv_runtime_dir_discard(b.runtime, NULL);
        return wp_error_wrap(err, "build template '%s'", spec->name);
    }
    stage(&b, FACTORY_STAGE_DONE);
    return 0;
}
