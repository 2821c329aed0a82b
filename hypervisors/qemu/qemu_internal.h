/* qemu_internal.h - the direct-QEMU backend's records, shared by its files
 * (and readable by tests). Nothing here is global: the backend's state lives
 * in hv_backend_t.priv, a VM's in its qemu_vm_t.
 *
 * Threads: qemu_backend_t is shared by every thread using the backend; only
 * its version cache changes after open, under `lock`. A qemu_vm_t belongs to
 * one thread at a time (hv.h). */
#ifndef QEMU_INTERNAL_H
#define QEMU_INTERNAL_H

#include <pthread.h>  /* pthread_mutex_t */
#include <sys/stat.h> /* struct stat fields */

#include "hv_backend.h"
#include "qemu_argv.h"
#include "qemu_proc.h"
#include "qmp.h"
#include "wp_time.h"

/* Deadlines. They bound hangs; nothing waits for them to pass. */
#define QEMU_START_TIMEOUT_MS   30000  /* fork -> QMP ready: ~0.1 s normally */
#define QEMU_COMMAND_TIMEOUT_MS 10000  /* one QMP command */
#define QEMU_MIGRATE_TIMEOUT_MS 120000 /* device state save or load */
#define QEMU_QUIT_TIMEOUT_MS    2000   /* quit -> exit, before SIGKILL */
#define QEMU_KILL_TIMEOUT_MS    5000   /* SIGKILL -> exit */
#define QEMU_ATTACH_TIMEOUT_MS  5000   /* greeting on reconnect */
#define QEMU_VERSION_TIMEOUT_MS 10000  /* `qemu --version` */
#define QEMU_INCOMING_EXIT_MS   1000   /* a failed incoming migration -> QEMU exits */
#define QEMU_STATE_FDNAME       "state"

typedef struct qemu_backend {
    char binary[PATH_MAX]; /* absolute, resolved at open */
    pthread_mutex_t lock;  /* guards the version cache below */
    bool cached;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char version[64];
} qemu_backend_t;

/* Where a start's time goes (CLOCK_MONOTONIC ns; 0 = did not happen). */
typedef struct qemu_timings {
    int64_t start;    /* hv_boot / hv_restore entered */
    int64_t spawned;  /* fork returned */
    int64_t greeting; /* QMP greeting read */
    int64_t ready;    /* replies to the pipelined setup commands read */
    int64_t migrated; /* incoming migration completed (clones) */
    int64_t resumed;  /* reply to cont read */
} qemu_timings_t;

typedef struct qemu_vm {
    struct hv_vm base; /* first: hv.c answers the accessors from it */
    qmp_t *qmp;        /* NULL once the process has ended */
    qemu_proc_t proc;
    bool memory_shared;
    bool saved; /* hv_save_template ended the process */
    qemu_timings_t t;
} qemu_vm_t;

static inline qemu_vm_t *qemu_vm_of(hv_vm_t *vm)
{
    return (qemu_vm_t *)vm;
}

static inline qemu_backend_t *qemu_backend_of(hv_backend_t *be)
{
    return be->priv;
}

static inline int64_t qemu_deadline(int ms)
{
    return wp_now_mono_ns() + (int64_t)ms * 1000000;
}

/* qemu_start.c */
int qemu_boot(hv_backend_t *be, const hv_vm_spec_t *spec, hv_vm_t **out, wp_error_t *err);
int qemu_restore(hv_backend_t *be, const hv_vm_spec_t *spec, int state_fd, const char *state_path,
                 hv_vm_t **out, wp_error_t *err);
/* Append why QEMU is gone (exit status, qemu.log tail) to err's message, if
 * it is, after waiting up to wait_ms for it to go (0: only after a QMP EOF).
 * With wait_ms > 0 the log tail is added even if QEMU is still running. */
void qemu_vm_explain_exit(qemu_vm_t *vm, int wait_ms, wp_error_t *err);

/* qemu_vm.c */
int qemu_pause(hv_vm_t *vm, wp_error_t *err);
int qemu_resume(hv_vm_t *vm, wp_error_t *err);
int qemu_save_template(hv_vm_t *vm, const char *state_path, wp_error_t *err);
int qemu_query(hv_vm_t *vm, hv_vm_status_t *out, wp_error_t *err);
/* End the process: quit, wait, SIGKILL by pidfd after QEMU_QUIT_TIMEOUT_MS; reap. */
int qemu_vm_stop_process(qemu_vm_t *vm, wp_error_t *err);

/* qemu_handle.c */
int qemu_destroy(hv_vm_t *vm, wp_error_t *err);
void qemu_vm_free(hv_vm_t *vm);
int qemu_attach(hv_backend_t *be, const char *id, const char *runtime_dir, hv_vm_t **out,
                wp_error_t *err);

/* Timings of the last start/resume of a VM of this backend (tests, benchmarks). */
static inline const qemu_timings_t *qemu_vm_timings(const hv_vm_t *vm)
{
    return &((const qemu_vm_t *)vm)->t;
}

#endif
