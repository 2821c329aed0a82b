/* agent_warm_up.c - the WarmUp call: one throwaway container created and
 * deleted, so that the next `crun create` in this VM finds the guest's and
 * the emulator's caches warm (under TCG, a first create in a fresh clone
 * costs ~0.5 s, the next ones ~0.1 s: the translated code of the guest
 * kernel's namespace, mount and cgroup paths and of crun, which
 * agent_crun_run runs at fixed addresses, stays with the VM).
 *
 * The container: the default spec (agent_spec.h) plus a network
 * namespace, as containerd's, in a root under the bundle directory that
 * holds only an empty executable file: its process never runs (created,
 * then `crun delete --force`).
 * Its id has a '@', which container ids cannot have, so it never clashes
 * with a container's; nothing of it is left afterwards. */
#include <errno.h>  /* ENOMEM */
#include <stdio.h>  /* snprintf */
#include <string.h> /* strlen */

#include "agent_containers_impl.h"
#include "agent_crun.h"
#include "agent_spec.h"
#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_time.h"

#define WARM_UP_ID "warm-up@agent"

static int write_bundle(const char *bundle, wp_error_t *err)
{
    char *const args[] = {"/never-run", NULL};
    json_auto_t *spec = agent_spec_default(1, args, NULL, false, "warm-up", err);
    if (spec == NULL)
        return -1;
    json_t *ns = json_object_get(json_object_get(spec, "linux"), "namespaces");
    if (json_array_append_new(ns, json_pack("{s:s}", "type", "network")) < 0 ||
        json_object_set_new(json_object_get(spec, "root"), "path", json_string("rootfs")) < 0)
        return wp_error_set(err, ENOMEM, "warm-up spec");
    _cleanup_free_ char *raw = json_dumps(spec, JSON_COMPACT);
    bool hooks = false;
    _cleanup_free_ char *text =
        raw ? agent_spec_prepare(raw, WARM_UP_ID, false, &hooks, err) : NULL;
    if (text == NULL)
        return raw ? -1 : wp_error_set(err, ENOMEM, "warm-up spec");
    char path[600];
    snprintf(path, sizeof(path), "%s/rootfs", bundle);
    if (wp_mkdir_p(path, 0700, err) < 0)
        return -1;
    /* crun create checks that the process's executable exists; it never runs */
    snprintf(path, sizeof(path), "%s/rootfs/never-run", bundle);
    if (wp_write_file_atomic(path, "", 0, 0755, err) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    return wp_write_file_atomic(path, text, strlen(text), 0600, err);
}

int agent_ctr_warm_up(agent_containers_t *m, uint64_t *ns, wp_error_t *err)
{
    int64_t t0 = wp_now_mono_ns();
    char bundle[512], pidfile[600], log[600];
    snprintf(bundle, sizeof(bundle), "%s/%s", m->bundle_dir, WARM_UP_ID);
    snprintf(pidfile, sizeof(pidfile), "%s/init.pid", bundle);
    snprintf(log, sizeof(log), "%s/crun.log", bundle);
    if (wp_rm_tree(bundle, err) < 0 || write_bundle(bundle, err) < 0) {
        wp_rm_tree(bundle, NULL);
        return wp_error_wrap(err, "warm up");
    }
    const char *create[] = {"create",     "--no-pivot", "--bundle", bundle,
                            "--pid-file", pidfile,      WARM_UP_ID, NULL};
    static const int none[3] = {-1, -1, -1};
    int ret = agent_crun_run(&m->crun, log, create, none, err);
    /* whatever create left (it may fail half-way): --force kills the init,
     * which the agent's reaper collects as an unknown pid */
    wp_error_t derr = {0};
    const char *del[] = {"delete", "--force", WARM_UP_ID, NULL};
    int dret = agent_crun_run(&m->crun, log, del, none, &derr);
    if (ret == 0 && dret < 0) {
        *err = derr;
        ret = -1;
    }
    wp_rm_tree(bundle, NULL);
    if (ret < 0)
        return wp_error_wrap(err, "warm up");
    *ns = (uint64_t)(wp_now_mono_ns() - t0);
    return 0;
}
