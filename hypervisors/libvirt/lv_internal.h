/* lv_internal.h - the libvirt backend's records, shared by its files.
 *
 * One lv_backend_t per hv_backend_open("libvirt"): a connection to libvirtd
 * (reopened when libvirtd restarts), the registry of open VM handles that
 * lifecycle events are delivered to, and the emulator's identity. A VM is a
 * transient libvirt domain named LV_DOMAIN_PREFIX + id; its handle holds an
 * eventfd that becomes readable when libvirt reports the domain stopped.
 *
 * Threads: libvirt's event loop runs on a thread of its own (lv_conn.c);
 * callbacks run there and take `lock`. Everything else as in hv.h. */
#ifndef LV_INTERNAL_H
#define LV_INTERNAL_H

#include <libvirt/libvirt.h> /* virConnectPtr, virDomainPtr */
#include <pthread.h>         /* pthread_mutex_t */
#include <stdbool.h>         /* bool */
#include <stdint.h>          /* int64_t */

#include "hv_backend.h"
#include "lv_xml.h"

#define LV_DEFAULT_URI        "qemu:///system"
#define LV_MIGRATE_TIMEOUT_MS 120000 /* device state save or load */
#define LV_RECONNECT_MS       500    /* between attempts while libvirtd is away */
#define LV_RESYNC_FIRST_MS    2000   /* after a reconnect: look at every VM again */
#define LV_RESYNC_LAST_MS     10000

typedef struct lv_vm lv_vm_t;

typedef struct lv_backend {
    char uri[256];
    char emulator[PATH_MAX];
    char version[64];     /* QEMU's, as libvirt reports it */
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* lost, resync scheduled, or closing (CLOCK_MONOTONIC) */
    virConnectPtr conn;   /* NULL while libvirtd is unreachable */
    bool broken;          /* libvirt closed conn: reopen before use */
    bool opened_once;
    int64_t resync_due[2]; /* CLOCK_MONOTONIC ns of pending resyncs, 0: none */
    bool closing;
    int lifecycle_cb; /* callback id on conn, -1 none */
    lv_vm_t *vms;     /* open handles, for events */
    pthread_t reconnector;
    bool reconnector_started;
} lv_backend_t;

struct lv_vm {
    struct hv_vm base; /* first: hv.c answers the accessors from it */
    char name[LV_DOMAIN_NAME_MAX];
    int exit_fd; /* eventfd, written once the domain stopped */
    bool memory_shared;
    bool saved;      /* hv_save_template ended the domain */
    bool registered; /* on backend->vms */
    lv_vm_t *next;
    /* the last MIGRATION event, from the event loop thread, and whether
     * the domain stopped (a migration waiter must not wait for its deadline) */
    pthread_mutex_t mig_lock;
    pthread_cond_t mig_cond;
    char mig_status[32];
    bool stopped;
};

static inline lv_backend_t *lv_backend_of(hv_backend_t *be)
{
    return be->priv;
}

static inline lv_vm_t *lv_vm_of(hv_vm_t *vm)
{
    return (lv_vm_t *)vm;
}

/* lv_conn.c */
int lv_conn_open(lv_backend_t *lb, wp_error_t *err);
void lv_conn_close(lv_backend_t *lb);
/* The connection, reopened if libvirtd restarted; a new reference the caller
 * drops with virConnectClose. */
virConnectPtr lv_conn_get(lv_backend_t *lb, wp_error_t *err);
/* Start/stop delivering lifecycle events to vm (its exit_fd). */
void lv_conn_register(lv_backend_t *lb, lv_vm_t *vm);
void lv_conn_unregister(lv_backend_t *lb, lv_vm_t *vm);
/* Append libvirt's last error message to err as "(what): <message>". */
int lv_error(wp_error_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The domain of vm, a new reference; ESRCH if libvirt has no such domain. */
virDomainPtr lv_domain(lv_backend_t *lb, const char *name, wp_error_t *err);

/* lv_monitor.c: QMP through libvirt (libvirt-qemu), for what libvirt has no API for. */
int lv_monitor(virDomainPtr dom, const char *cmd, int fd, wp_error_t *err);
/* Load (incoming) or save (outgoing) device state through fd, with
 * x-ignore-shared, waiting for QEMU's MIGRATION event. */
int lv_migrate(lv_backend_t *lb, lv_vm_t *vm, virDomainPtr dom, int fd, bool incoming,
               wp_error_t *err);

/* lv_vm.c */
int lv_boot(hv_backend_t *be, const hv_vm_spec_t *spec, hv_vm_t **out, wp_error_t *err);
int lv_restore(hv_backend_t *be, const hv_vm_spec_t *spec, int state_fd, const char *state_path,
               hv_vm_t **out, wp_error_t *err);
int lv_pause(hv_vm_t *vm, wp_error_t *err);
int lv_resume(hv_vm_t *vm, wp_error_t *err);
int lv_save_template(hv_vm_t *vm, const char *state_path, wp_error_t *err);
int lv_query(hv_vm_t *vm, hv_vm_status_t *out, wp_error_t *err);
int lv_destroy(hv_vm_t *vm, wp_error_t *err);
void lv_vm_free(hv_vm_t *vm);
int lv_attach(hv_backend_t *be, const char *id, const char *runtime_dir, hv_vm_t **out,
              wp_error_t *err);

#endif
