/* lv_monitor.c - QMP through libvirt-qemu for what libvirt's API has no
 * call for: migration to and from a file descriptor with x-ignore-shared.
 *
 * The state file goes to QEMU as a file descriptor (getfd + "fd:" URI):
 * libvirt's seccomp sandbox (spawn=deny) kills QEMU on an "exec:" URI, and a
 * path would need QEMU to open it under its own identity. Completion is
 * QEMU's MIGRATION event (the "events" capability), delivered by libvirt. */
#include "lv_internal.h"

#include <errno.h>   /* EPROTO */
#include <jansson.h> /* json_loads */
#include <libvirt/libvirt-qemu.h>
#include <stdlib.h> /* free */
#include <string.h> /* strcmp */

#include <time.h> /* clock_gettime */

#define LV_STATE_FDNAME "warmpool-state"

int lv_monitor(virDomainPtr dom, const char *cmd, int fd, wp_error_t *err)
{
    char *reply = NULL;
    int rc;
    if (fd >= 0) {
        int files[1] = {fd};
        rc = virDomainQemuMonitorCommandWithFiles(dom, cmd, 1, files, NULL, NULL, &reply, 0);
    } else {
        rc = virDomainQemuMonitorCommand(dom, cmd, &reply, 0);
    }
    if (rc < 0)
        return lv_error(err, 0, "QMP '%.60s'", cmd);
    json_error_t jerr;
    json_t *root = json_loads(reply, 0, &jerr);
    int ret = 0;
    json_t *e = root ? json_object_get(root, "error") : NULL;
    if (root == NULL)
        ret = wp_error_set(err, EPROTO, "QMP '%.60s': unreadable reply '%.80s'", cmd, reply);
    else if (e != NULL)
        ret = wp_error_set(err, EIO, "QMP '%.60s': %s", cmd,
                           json_string_value(json_object_get(e, "desc"))
                               ? json_string_value(json_object_get(e, "desc"))
                               : "error");
    json_decref(root);
    free(reply);
    return ret;
}

static void on_migration(virConnectPtr conn, virDomainPtr dom, const char *event, long long secs,
                         unsigned int micros, const char *details, void *opaque)
{
    (void)conn, (void)dom, (void)event, (void)secs, (void)micros;
    lv_vm_t *vm = opaque;
    json_t *root = details ? json_loads(details, 0, NULL) : NULL;
    const char *status = root ? json_string_value(json_object_get(root, "status")) : NULL;
    if (status != NULL) {
        pthread_mutex_lock(&vm->mig_lock);
        snprintf(vm->mig_status, sizeof(vm->mig_status), "%s", status);
        pthread_cond_broadcast(&vm->mig_cond);
        pthread_mutex_unlock(&vm->mig_lock);
    }
    json_decref(root);
}

/* Wait for "completed" (0) or "failed"/"cancelled" (-1), or the deadline. */
static int wait_migration(lv_vm_t *vm, wp_error_t *err)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += LV_MIGRATE_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&vm->mig_lock);
    int ret = 1;
    while (ret == 1) {
        if (strcmp(vm->mig_status, "completed") == 0)
            ret = 0;
        else if (strcmp(vm->mig_status, "failed") == 0 || strcmp(vm->mig_status, "cancelled") == 0)
            ret = wp_error_set(err, EIO, "migration %s (QEMU's log: /var/log/libvirt/qemu/%s.log)",
                               vm->mig_status, vm->name);
        else if (vm->stopped)
            ret = wp_error_set(err, ESRCH,
                               "the domain stopped during the migration (last status "
                               "'%s'); QEMU's log: /var/log/libvirt/qemu/%s.log",
                               vm->mig_status, vm->name);
        else if (pthread_cond_timedwait(&vm->mig_cond, &vm->mig_lock, &until) == ETIMEDOUT)
            ret = wp_error_set(err, ETIMEDOUT, "migration not done after %d ms (last status '%s')",
                               LV_MIGRATE_TIMEOUT_MS, vm->mig_status);
    }
    pthread_mutex_unlock(&vm->mig_lock);
    return ret;
}

int lv_migrate(lv_backend_t *lb, lv_vm_t *vm, virDomainPtr dom, int fd, bool incoming,
               wp_error_t *err)
{
    virConnectPtr c = lv_conn_get(lb, err);
    if (c == NULL)
        return -1;
    pthread_mutex_lock(&vm->mig_lock);
    vm->mig_status[0] = '\0';
    pthread_mutex_unlock(&vm->mig_lock);
    int cb =
        virConnectDomainQemuMonitorEventRegister(c, dom, "MIGRATION", on_migration, vm, NULL, 0);
    if (cb < 0) {
        virConnectClose(c);
        return lv_error(err, 0, "watch MIGRATION events of '%s'", vm->name);
    }
    int ret =
        lv_monitor(dom,
                   "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":"
                   "[{\"capability\":\"x-ignore-shared\",\"state\":true},"
                   "{\"capability\":\"events\",\"state\":true}]}}",
                   -1, err);
    if (ret == 0)
        ret = lv_monitor(
            dom, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"" LV_STATE_FDNAME "\"}}", fd,
            err);
    if (ret == 0)
        ret = lv_monitor(
            dom,
            incoming
                ? "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"fd:" LV_STATE_FDNAME
                  "\"}}"
                : "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:" LV_STATE_FDNAME "\"}}",
            -1, err);
    if (ret == 0)
        ret = wait_migration(vm, err);
    virConnectDomainQemuMonitorEventDeregister(c, cb);
    virConnectClose(c);
    return ret;
}
