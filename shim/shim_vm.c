/* shim_vm.c - the sandbox's VM and the cleanup record (shim_vm.h). */
#include <errno.h>   /* errno */
#include <jansson.h> /* json_pack */
#include <signal.h>  /* kill */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc */
#include <string.h>  /* strlen */
#include <unistd.h>  /* unlink */

#include "agent_client_containers.h"
#include "agent_share.h"
#include "shim_ctl.h"
#include "shim_vm.h"
#include "wp_cleanup.h"
#include "wp_fs.h"

#define ANNOUNCE_MS 10000
#define CALL_MS     30000

static const char *socket_or_default(const shim_config_t *cfg)
{
    return cfg->pool_socket[0] ? cfg->pool_socket : NULL;
}

int shim_vm_acquire(shim_vm_t *vm, const shim_config_t *cfg, const char *template_name,
                    wp_error_t *err)
{
    *vm = (shim_vm_t){.cfg = cfg};
    if (cfg->vm_source != SHIM_VM_POOL) {
        if (shim_ctl_make_vm(cfg, template_name, &vm->lease.vm, err) < 0)
            return wp_error_wrap(err, "make a VM of template '%s'", template_name);
        snprintf(vm->lease.template_name, sizeof(vm->lease.template_name), "%s", template_name);
    } else {
        vm->api = api_client_open(socket_or_default(cfg), err);
        if (vm->api == NULL)
            return wp_error_wrap(err, "warmpoold");
        if (api_client_acquire(vm->api, template_name, false, cfg->acquire_timeout_s * 1000,
                               &vm->lease, err) < 0) {
            shim_vm_release(vm, NULL);
            return wp_error_wrap(err, "acquire a VM of template '%s'", template_name);
        }
    }
    vm->leased = true;
    vm->agent = agent_client_connect_announced(vm->lease.vm.agent_endpoint, ANNOUNCE_MS, err);
    if (vm->agent == NULL || agent_client_mount_share(vm->agent, NULL, CALL_MS, err) < 0) {
        wp_error_wrap(err, "VM '%s'", vm->lease.vm.id);
        shim_vm_release(vm, NULL);
        return -1;
    }
    return 0;
}

int shim_vm_release(shim_vm_t *vm, wp_error_t *err)
{
    if (vm->agent) {
        agent_client_close(vm->agent);
        vm->agent = NULL;
    }
    int ret = 0;
    if (vm->leased && vm->api == NULL) {
        ret = shim_ctl_destroy_vm(vm->cfg, vm->lease.vm.id, err);
        vm->leased = false;
    } else if (vm->leased) {
        ret = api_client_release(vm->api, vm->lease.vm.id, vm->lease.token, NULL, err);
        vm->leased = false;
        if (ret < 0)
            wp_error_wrap(err, "release VM '%s'", vm->lease.vm.id);
    }
    if (vm->api) {
        api_client_close(vm->api);
        vm->api = NULL;
    }
    return ret;
}

static void record_path(const char *bundle, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", bundle, SHIM_RECORD_NAME);
}

int shim_record_write(const char *bundle, const shim_record_t *r, wp_error_t *err)
{
    char path[PATH_MAX + 32];
    record_path(bundle, path, sizeof(path));
    json_auto_t *o = json_pack("{s:s, s:i, s:s, s:s, s:b, s:s}", "shared_dir", r->shared_dir,
                               "shim_pid", (int)r->shim_pid, "vm_id", r->vm_id, "token", r->token,
                               "own_vm", r->own_vm, "config_path", r->config_path);
    _cleanup_free_ char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text == NULL)
        return wp_error_set(err, ENOMEM, "encode '%s'", path);
    return wp_write_file_atomic(path, text, strlen(text), 0600, err);
}

int shim_record_read(const char *bundle, shim_record_t *r, wp_error_t *err)
{
    char path[PATH_MAX + 32];
    record_path(bundle, path, sizeof(path));
    *r = (shim_record_t){0};
    json_error_t jerr;
    json_auto_t *o = json_load_file(path, 0, &jerr);
    if (o == NULL && access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    const char *shared = NULL, *vm_id = NULL, *token = NULL, *config_path = "";
    int pid = 0, own = 0;
    if (o == NULL || json_unpack(o, "{s:s, s:i, s:s, s:s, s?b, s?s}", "shared_dir", &shared,
                                 "shim_pid", &pid, "vm_id", &vm_id, "token", &token, "own_vm", &own,
                                 "config_path", &config_path) < 0)
        return wp_error_set(err, EINVAL, "'%s' is not a warmpool shim record", path);
    snprintf(r->shared_dir, sizeof(r->shared_dir), "%s", shared);
    snprintf(r->vm_id, sizeof(r->vm_id), "%s", vm_id);
    snprintf(r->token, sizeof(r->token), "%s", token);
    r->shim_pid = pid;
    r->own_vm = own;
    snprintf(r->config_path, sizeof(r->config_path), "%s", config_path);
    return 1;
}

int shim_record_remove(const char *bundle, wp_error_t *err)
{
    char path[PATH_MAX + 32];
    record_path(bundle, path, sizeof(path));
    if (unlink(path) < 0 && errno != ENOENT)
        return wp_error_errno(err, errno, "remove '%s'", path);
    return 0;
}

/* Kill the dead-or-hung shim and wait (briefly) until it is gone, so it
 * cannot race the cleanup. Not our child: poll for its end. */
static void stop_shim(pid_t pid)
{
    if (pid <= 1 || pid == getpid() || kill(pid, 0) < 0)
        return;
    kill(pid, SIGKILL);
    for (int i = 0; i < 200 && kill(pid, 0) == 0; i++)
        usleep(10000);
}

int shim_vm_reap(const char *bundle, const char *id, const shim_config_t *cfg, wp_error_t *err)
{
    shim_record_t r;
    int got = shim_record_read(bundle, &r, err);
    if (got <= 0)
        return got;
    stop_shim(r.shim_pid);
    /* the sandbox's own configuration (a runtime's ConfigPath) says where
     * its VM came from: pool socket, warmpoolctl and its options */
    _cleanup_free_ shim_config_t *own_cfg = NULL;
    if (r.config_path[0] != '\0') {
        own_cfg = malloc(sizeof(*own_cfg));
        if (own_cfg == NULL)
            return wp_error_set(err, ENOMEM, "container '%s': config", id);
        if (shim_config_load_file(own_cfg, r.config_path, err) < 0)
            return wp_error_wrap(err, "container '%s'", id);
        cfg = own_cfg;
    }
    if (agent_share_remove(r.shared_dir, id, err) < 0)
        return wp_error_wrap(err, "container '%s'", id);
    if (r.own_vm && r.vm_id[0] != '\0') {
        wp_error_t e = {0};
        /* gone already (another container's delete, or its shim, destroyed
         * it): warmpoolctl says "no VM 'ID' in ..." */
        if (shim_ctl_destroy_vm(cfg, r.vm_id, &e) < 0 && strstr(e.msg, ": no VM '") == NULL) {
            *err = e;
            return wp_error_wrap(err, "destroy VM '%s'", r.vm_id);
        }
    } else if (r.token[0] != '\0') {
        api_client_t *api = api_client_open(socket_or_default(cfg), err);
        if (api == NULL)
            return wp_error_wrap(err, "release VM '%s'", r.vm_id);
        wp_error_t e = {0};
        int ret = api_client_release(api, r.vm_id, r.token, NULL, &e);
        api_client_close(api);
        /* ENOENT: warmpoold no longer knows the lease (it reclaimed it) */
        if (ret < 0 && e.code != ENOENT) {
            *err = e;
            return wp_error_wrap(err, "release VM '%s'", r.vm_id);
        }
    }
    return shim_record_remove(bundle, err);
}
