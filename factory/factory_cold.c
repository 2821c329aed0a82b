/* factory_cold.c - cold boots from a template's kernel and initrd: the
 * baseline that benchmarks compare clones with. */
#include "factory_internal.h"

#include <errno.h>  /* ENOMEM */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc */
#include <unistd.h> /* unlink */

#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_id.h"
#include "wp_time.h"

int factory_boot_cold(factory_t *f, factory_template_t *t, int agent_timeout_ms, factory_vm_t **out,
                      wp_error_t *err)
{
    int64_t start_ns = wp_now_mono_ns();
    const char *name = t->manifest.name;
    hv_backend_t *be = factory_backend(f, t->manifest.hv.backend, err);
    if (be == NULL)
        return -1;
    _cleanup_free_ factory_vm_t *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return wp_error_errno(err, ENOMEM, "cold boot '%s'", name);
    unsigned char raw[6];
    char hex[13];
    if (wp_random_bytes(raw, sizeof(raw), err) < 0 || wp_uuid_random(v->vmgenid, err) < 0)
        return -1;
    wp_hex(raw, sizeof(raw), hex);
    snprintf(v->id, sizeof(v->id), "cold-%s-%s", name, hex);
    snprintf(v->template_name, sizeof(v->template_name), "%s", name);
    char runtime[PATH_MAX], mem[PATH_MAX + 32];
    factory_vm_dir(f, v->id, runtime);
    snprintf(mem, sizeof(mem), "%s/.%s.mem", f->memory_dir, v->id);
    hv_vm_spec_t spec;
    char share[PATH_MAX];
    factory_spec_from_manifest(t, runtime, share, &spec);
    snprintf(v->share_dir, sizeof(v->share_dir), "%s", share);
    spec.id = v->id;
    spec.vmgenid = v->vmgenid;
    spec.memory_file = mem;
    spec.memory_shared = false;
    int ret = hv_boot(be, &spec, &v->vm, err);
    /* QEMU has the file mapped by now: unlinking it now means it goes when QEMU goes */
    unlink(mem);
    if (ret < 0) {
        hv_runtime_dir_discard(runtime, NULL);
        return wp_error_wrap(err, "cold boot '%s'", name);
    }
    v->timings.restore_ms = v->timings.resume_ms = wp_ms_between(start_ns, wp_now_mono_ns());
    /* as a clone's: `vm ls`, `vm destroy ID` and adoption find it */
    if (factory_write_vm_record(v, t->manifest.hv.backend, err) < 0) {
        factory_vm_destroy(wp_steal_ptr(&v), NULL);
        return wp_error_wrap(err, "cold boot '%s'", name);
    }
    int timeout = agent_timeout_ms > 0 ? agent_timeout_ms : 120000;
    v->agent = agent_client_connect(hv_vm_agent_endpoint(v->vm), err);
    if (v->agent == NULL || agent_client_wait_announce(v->agent, timeout, err) < 0 ||
        agent_client_ping(v->agent, timeout, err) < 0) {
        wp_error_wrap(err, "cold boot '%s': agent", name);
        factory_vm_destroy(wp_steal_ptr(&v), NULL);
        return -1;
    }
    v->timings.reseed_ms = v->timings.clock_ms = wp_ms_between(start_ns, wp_now_mono_ns());
    *out = wp_steal_ptr(&v);
    return 0;
}
