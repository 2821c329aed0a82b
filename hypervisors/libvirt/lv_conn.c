/* lv_conn.c - the connection to libvirtd: libvirt's event loop, domain
 * lifecycle events delivered to open VM handles, and reconnecting when
 * libvirtd restarts (running domains survive a libvirtd restart; a handle
 * must too).
 *
 * libvirt's default event loop is process-wide by libvirt's design: it is
 * registered once and run by one thread, shared by every backend handle and
 * counted, so the thread ends with the last handle. */
#include "lv_internal.h"

#include <errno.h>       /* ESRCH */
#include <stdarg.h>      /* va_list */
#include <stdint.h>      /* uint64_t */
#include <stdio.h>       /* vsnprintf */
#include <string.h>      /* strlen */
#include <sys/eventfd.h> /* eventfd_write */
#include <libvirt/virterror.h>

#include "wp_log.h"
#include "wp_time.h"

/* ---- the process-wide event loop ---- */

static pthread_mutex_t loop_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned loop_users;
static bool loop_registered, loop_stop;
static pthread_t loop_thread;

static void *loop_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&loop_lock);
        bool stop = loop_stop;
        pthread_mutex_unlock(&loop_lock);
        if (stop)
            return NULL;
        if (virEventRunDefaultImpl() < 0)
            wp_log_warn("libvirt: event loop: %s", virGetLastErrorMessage());
    }
}

static void wake_loop(int timer, void *opaque)
{
    (void)opaque;
    virEventRemoveTimeout(timer);
}

/* libvirt prints every error to stderr unless told otherwise; ours carry it
 * in wp_error_t (lv_error) instead */
static void quiet_errors(void *opaque, virErrorPtr e)
{
    (void)opaque, (void)e;
}

static int loop_ref(wp_error_t *err)
{
    pthread_mutex_lock(&loop_lock);
    int ret = 0;
    if (!loop_registered) {
        virSetErrorFunc(NULL, quiet_errors);
        if (virEventRegisterDefaultImpl() < 0)
            ret = wp_error_set(err, EIO, "libvirt: register event loop: %s",
                               virGetLastErrorMessage());
        else
            loop_registered = true;
    }
    if (ret == 0 && loop_users == 0) {
        loop_stop = false;
        int rc = pthread_create(&loop_thread, NULL, loop_main, NULL);
        if (rc != 0)
            ret = wp_error_errno(err, rc, "libvirt: start event loop thread");
    }
    if (ret == 0)
        loop_users++;
    pthread_mutex_unlock(&loop_lock);
    return ret;
}

static void loop_unref(void)
{
    pthread_mutex_lock(&loop_lock);
    bool last = --loop_users == 0;
    if (last)
        loop_stop = true;
    pthread_mutex_unlock(&loop_lock);
    if (!last)
        return;
    /* a zero timeout makes the loop's current iteration return */
    virEventAddTimeout(0, wake_loop, NULL, NULL);
    pthread_join(loop_thread, NULL);
}

/* ---- errors ---- */

int lv_error(wp_error_t *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    virErrorPtr e = virGetLastError();
    int ecode = code;
    if (e != NULL && code == 0)
        ecode = e->code == VIR_ERR_NO_DOMAIN                     ? ESRCH
                : e->code == VIR_ERR_SYSTEM_ERROR && e->int1 > 0 ? e->int1
                                                                 : EIO;
    if (ecode == 0)
        ecode = EIO;
    return wp_error_set(err, ecode, "%s: %s", what, e && e->message ? e->message : "libvirt error");
}

/* ---- events ---- */

static void signal_exit(lv_vm_t *vm)
{
    eventfd_write(vm->exit_fd, 1);
    pthread_mutex_lock(&vm->mig_lock);
    vm->stopped = true;
    pthread_cond_broadcast(&vm->mig_cond);
    pthread_mutex_unlock(&vm->mig_lock);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    (void)conn;
    lv_backend_t *lb = opaque;
    if (event != VIR_DOMAIN_EVENT_STOPPED && event != VIR_DOMAIN_EVENT_CRASHED)
        return 0;
    const char *name = virDomainGetName(dom);
    pthread_mutex_lock(&lb->lock);
    for (lv_vm_t *vm = lb->vms; vm != NULL; vm = vm->next)
        if (name != NULL && strcmp(vm->name, name) == 0) {
            wp_log_debug("libvirt: domain '%s' stopped (event %d, detail %d)", name, event, detail);
            signal_exit(vm);
        }
    pthread_mutex_unlock(&lb->lock);
    return 0;
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
    (void)conn;
    lv_backend_t *lb = opaque;
    pthread_mutex_lock(&lb->lock);
    if (!lb->closing) {
        wp_log_warn("libvirt: connection to '%s' lost (reason %d); reconnecting", lb->uri, reason);
        lb->broken = true;
        pthread_cond_broadcast(&lb->cond);
    }
    pthread_mutex_unlock(&lb->lock);
}

/* Under lb->lock. Domains that stopped while we were away sent their event
 * to nobody: check each open handle's domain once connected again. */
static void resync(lv_backend_t *lb)
{
    for (lv_vm_t *vm = lb->vms; vm != NULL; vm = vm->next) {
        virDomainPtr dom = virDomainLookupByName(lb->conn, vm->name);
        if (dom == NULL || virDomainIsActive(dom) != 1) {
            wp_log_info("libvirt: domain '%s' has stopped (found on a check after a reconnect)",
                        vm->name);
            signal_exit(vm);
        }
        if (dom != NULL)
            virDomainFree(dom);
    }
}

/* Under lb->lock (or with no other thread left): let go of the connection. */
static void drop_conn(lv_backend_t *lb)
{
    if (lb->conn == NULL)
        return;
    if (lb->lifecycle_cb >= 0)
        virConnectDomainEventDeregisterAny(lb->conn, lb->lifecycle_cb);
    virConnectUnregisterCloseCallback(lb->conn, on_close);
    virConnectClose(lb->conn);
    lb->conn = NULL;
    lb->lifecycle_cb = -1;
}

/* Under lb->lock: drop a broken connection, open a new one with its callbacks. */
static int reopen(lv_backend_t *lb, wp_error_t *err)
{
    drop_conn(lb);
    virConnectPtr c = virConnectOpen(lb->uri);
    if (c == NULL)
        return lv_error(err, ECONNREFUSED, "libvirt: connect to '%s'", lb->uri);
    /* a dead libvirtd is noticed within ~15 s even with no call in flight */
    virConnectSetKeepAlive(c, 5, 3);
    int cb = virConnectDomainEventRegisterAny(c, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                              VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), lb, NULL);
    if (cb < 0 || virConnectRegisterCloseCallback(c, on_close, lb, NULL) < 0) {
        lv_error(err, 0, "libvirt: register event callbacks on '%s'", lb->uri);
        if (cb >= 0)
            virConnectDomainEventDeregisterAny(c, cb);
        virConnectClose(c);
        return -1;
    }
    lb->conn = c;
    lb->lifecycle_cb = cb;
    /* a reconnect (not the first open): libvirtd re-attaches to running
     * domains in the background after its start, and a domain that dies
     * before it is back reports no event; look again once it has settled */
    if (lb->opened_once) {
        int64_t now = wp_now_mono_ns();
        lb->resync_due[0] = now + (int64_t)LV_RESYNC_FIRST_MS * 1000000;
        lb->resync_due[1] = now + (int64_t)LV_RESYNC_LAST_MS * 1000000;
        pthread_cond_broadcast(&lb->cond);
    }
    lb->opened_once = true;
    lb->broken = false;
    resync(lb);
    return 0;
}

/* Under lb->lock: the earliest pending resync, 0 if none. */
static int64_t next_resync(const lv_backend_t *lb)
{
    int64_t due = 0;
    for (int i = 0; i < 2; i++)
        if (lb->resync_due[i] != 0 && (due == 0 || lb->resync_due[i] < due))
            due = lb->resync_due[i];
    return due;
}

/* Under lb->lock: wait for a signal on lb->cond, or until the monotonic time
 * `until` (0: no limit). The condition variable runs on CLOCK_MONOTONIC. */
static void wait_until(lv_backend_t *lb, int64_t until)
{
    if (until == 0) {
        pthread_cond_wait(&lb->cond, &lb->lock);
        return;
    }
    struct timespec ts = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
    pthread_cond_timedwait(&lb->cond, &lb->lock, &ts);
}

/* Reopens a lost connection (every LV_RECONNECT_MS while libvirtd is away)
 * and runs the resyncs a reconnect scheduled. */
static void *reconnect_main(void *arg)
{
    lv_backend_t *lb = arg;
    pthread_mutex_lock(&lb->lock);
    while (!lb->closing) {
        if (lb->broken) {
            wp_error_t err = {0};
            if (reopen(lb, &err) == 0) {
                wp_log_info("libvirt: reconnected to '%s'", lb->uri);
                continue;
            }
            wp_log_debug("libvirt: %s", err.msg);
            wait_until(lb, wp_now_mono_ns() + (int64_t)LV_RECONNECT_MS * 1000000);
            continue;
        }
        int64_t due = next_resync(lb);
        if (due != 0 && wp_now_mono_ns() >= due) {
            for (int i = 0; i < 2; i++)
                if (lb->resync_due[i] == due)
                    lb->resync_due[i] = 0;
            resync(lb);
            continue;
        }
        wait_until(lb, due);
    }
    pthread_mutex_unlock(&lb->lock);
    return NULL;
}

int lv_conn_open(lv_backend_t *lb, wp_error_t *err)
{
    lb->lifecycle_cb = -1;
    if (loop_ref(err) < 0)
        return -1;
    pthread_mutex_lock(&lb->lock);
    int ret = reopen(lb, err);
    pthread_mutex_unlock(&lb->lock);
    if (ret == 0) {
        int rc = pthread_create(&lb->reconnector, NULL, reconnect_main, lb);
        if (rc == 0)
            lb->reconnector_started = true;
        else
            ret = wp_error_errno(err, rc, "libvirt: start reconnect thread");
    }
    if (ret < 0)
        lv_conn_close(lb);
    return ret;
}

void lv_conn_close(lv_backend_t *lb)
{
    pthread_mutex_lock(&lb->lock);
    lb->closing = true;
    pthread_cond_broadcast(&lb->cond);
    pthread_mutex_unlock(&lb->lock);
    if (lb->reconnector_started)
        pthread_join(lb->reconnector, NULL);
    lb->reconnector_started = false;
    drop_conn(lb);
    loop_unref();
}

virConnectPtr lv_conn_get(lv_backend_t *lb, wp_error_t *err)
{
    pthread_mutex_lock(&lb->lock);
    if ((lb->conn == NULL || lb->broken) && reopen(lb, err) < 0) {
        pthread_mutex_unlock(&lb->lock);
        return NULL;
    }
    virConnectPtr c = lb->conn;
    virConnectRef(c);
    pthread_mutex_unlock(&lb->lock);
    return c;
}

void lv_conn_register(lv_backend_t *lb, lv_vm_t *vm)
{
    pthread_mutex_lock(&lb->lock);
    vm->next = lb->vms;
    lb->vms = vm;
    vm->registered = true;
    pthread_mutex_unlock(&lb->lock);
}

void lv_conn_unregister(lv_backend_t *lb, lv_vm_t *vm)
{
    pthread_mutex_lock(&lb->lock);
    for (lv_vm_t **p = &lb->vms; vm->registered && *p != NULL; p = &(*p)->next)
        if (*p == vm) {
            *p = vm->next;
            vm->registered = false;
            break;
        }
    pthread_mutex_unlock(&lb->lock);
}

virDomainPtr lv_domain(lv_backend_t *lb, const char *name, wp_error_t *err)
{
    virConnectPtr c = lv_conn_get(lb, err);
    if (c == NULL)
        return NULL;
    virDomainPtr dom = virDomainLookupByName(c, name);
    if (dom == NULL)
        lv_error(err, 0, "libvirt: domain '%s'", name);
    virConnectClose(c);
    return dom;
}
