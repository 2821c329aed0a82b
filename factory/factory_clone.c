/* factory_clone.c - clone a template: restore -> new identity -> reseed ->
 * clock, in that order, before the clone is handed to anyone. */
#include "factory_internal.h"

#include <errno.h>  /* ENOMEM */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc */
#include <string.h> /* strlen */

#include "agent_client_containers.h" /* agent_client_mount_share */
#include "agent_share.h"             /* agent_share_clear */
#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_id.h"
#include "wp_time.h"

#define RESEED_BYTES 64

int factory_reseed_guest(agent_client_t *agent, int timeout_ms, wp_error_t *err)
{
    unsigned char entropy[RESEED_BYTES];
    if (wp_random_bytes(entropy, sizeof(entropy), err) < 0)
        return -1;
    int ret = agent_client_reseed(agent, entropy, sizeof(entropy), timeout_ms, err);
    explicit_bzero(entropy, sizeof(entropy));
    return ret < 0 ? wp_error_wrap(err, "reseed the guest RNG") : 0;
}

int factory_write_vm_record(const factory_vm_t *v, const char *backend, wp_error_t *err)
{
    char path[PATH_MAX + 16], text[PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/vm.json", hv_vm_runtime_dir(v->vm));
    int n = snprintf(text, sizeof(text),
                     "{\"id\": \"%s\", \"template\": \"%s\", \"backend\": \"%s\", "
                     "\"vmgenid\": \"%s\", \"pid\": %d, \"agent\": \"%s\"}\n",
                     v->id, v->template_name, backend, v->vmgenid, (int)hv_vm_pid(v->vm),
                     hv_vm_agent_endpoint(v->vm));
    return wp_write_file_atomic(path, text, (size_t)n, 0600, err);
}

#define FACTORY_WARM_UP_TIMEOUT_MS 30000

/* The steps after the VM exists; on failure the caller destroys it. */
static int bring_up(factory_vm_t *v, const factory_template_t *t,
                    const factory_clone_options_t *opt, int64_t start_ns, wp_error_t *err)
{
    int timeout = opt->agent_timeout_ms > 0 ? opt->agent_timeout_ms : 10000;
    if (factory_write_vm_record(v, t->manifest.hv.backend, err) < 0)
        return -1;
    /* connect before resuming: the guest then wakes up with its host already there */
    v->agent = agent_client_connect(hv_vm_agent_endpoint(v->vm), err);
    if (v->agent == NULL)
        return wp_error_wrap(err, "connect to the agent");
    if (hv_resume(v->vm, err) < 0)
        return wp_error_wrap(err, "resume");
    v->timings.resume_ms = wp_ms_between(start_ns, wp_now_mono_ns());
    if (opt->test_skip_reseed) {
        if (agent_client_ping(v->agent, timeout, err) < 0)
            return wp_error_wrap(err, "ping the agent");
    } else if (factory_reseed_guest(v->agent, timeout, err) < 0) {
        return -1;
    }
    v->timings.reseed_ms = wp_ms_between(start_ns, wp_now_mono_ns());
    if (agent_client_set_clock(v->agent, wp_now_real_ns(), timeout, err) < 0)
        return wp_error_wrap(err, "set the guest clock");
    v->timings.clock_ms = wp_ms_between(start_ns, wp_now_mono_ns());
    if (opt->mount_share) {
        if (agent_client_mount_share(v->agent, NULL, timeout, err) < 0)
            return wp_error_wrap(err, "mount the share");
        v->timings.share_ms = wp_ms_between(start_ns, wp_now_mono_ns());
    }
    if (opt->warm_up) {
        /* a create of its own: seconds under TCG on a busy host */
        int warm_timeout =
            timeout < FACTORY_WARM_UP_TIMEOUT_MS ? FACTORY_WARM_UP_TIMEOUT_MS : timeout;
        if (agent_client_warm_up(v->agent, NULL, warm_timeout, err) < 0)
            return wp_error_wrap(err, "warm up containers in the clone");
        v->timings.warm_up_ms = wp_ms_between(start_ns, wp_now_mono_ns());
    }
    return 0;
}

int factory_clone(factory_t *f, factory_template_t *t, const factory_clone_options_t *opt,
                  factory_vm_t **out, wp_error_t *err)
{
    static const factory_clone_options_t defaults = {0};
    if (opt == NULL)
        opt = &defaults;
    int64_t start_ns = wp_now_mono_ns();
    const char *name = t->manifest.name;
    if (factory_template_recheck(t, err) < 0)
        return -1;
    hv_backend_t *be = factory_backend(f, t->manifest.hv.backend, err);
    if (be == NULL)
        return wp_error_wrap(err, "clone '%s'", name);
    _cleanup_free_ factory_vm_t *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return wp_error_errno(err, ENOMEM, "clone '%s'", name);
    unsigned char raw[6];
    char hex[13];
    if (wp_random_bytes(raw, sizeof(raw), err) < 0)
        return wp_error_wrap(err, "clone '%s'", name);
    wp_hex(raw, sizeof(raw), hex);
    const char *prefix = opt->id_prefix ? opt->id_prefix : "";
    if (strlen(prefix) > FACTORY_ID_PREFIX_MAX ||
        strspn(prefix, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(prefix))
        return wp_error_set(err, EINVAL, "clone '%s': '%s' is not a VM id prefix", name, prefix);
    snprintf(v->id, sizeof(v->id), "%s%s-%s", prefix, name, hex);
    snprintf(v->template_name, sizeof(v->template_name), "%s", name);
    if (opt->test_keep_vmgenid)
        snprintf(v->vmgenid, sizeof(v->vmgenid), "%s", t->manifest.vmgenid);
    else if (wp_uuid_random(v->vmgenid, err) < 0)
        return wp_error_wrap(err, "clone '%s'", name);

    char runtime[PATH_MAX];
    factory_vm_dir(f, v->id, runtime);
    hv_vm_spec_t spec;
    char share[PATH_MAX];
    factory_spec_from_manifest(t, runtime, share, &spec);
    spec.id = v->id;
    spec.vmgenid = v->vmgenid;
    snprintf(v->share_dir, sizeof(v->share_dir), "%s", share);
    if (hv_restore(be, &spec, t->state_path, &v->vm, err) < 0) {
        hv_runtime_dir_discard(runtime, NULL);
        return wp_error_wrap(err, "clone '%s': restore", name);
    }
    v->timings.restore_ms = wp_ms_between(start_ns, wp_now_mono_ns());
    if (bring_up(v, t, opt, start_ns, err) < 0) {
        wp_error_wrap(err, "clone '%s' as '%s'", name, v->id);
        factory_vm_destroy(wp_steal_ptr(&v), NULL);
        return -1;
    }
    *out = wp_steal_ptr(&v);
    return 0;
}

int factory_vm_destroy(factory_vm_t *v, wp_error_t *err)
{
    if (v == NULL)
        return 0;
    if (v->agent)
        agent_client_close(v->agent);
    /* a container's binds left in the share (its user was killed) go
     * first: the VM's directory is removed next */
    if (v->share_dir[0] != '\0')
        agent_share_clear(v->share_dir, NULL);
    int ret = v->vm ? hv_destroy(v->vm, err) : 0;
    free(v);
    return ret;
}

void factory_vm_release(factory_vm_t *v)
{
    if (v == NULL)
        return;
    if (v->agent)
        agent_client_close(v->agent);
    hv_vm_free(v->vm);
    free(v);
}
