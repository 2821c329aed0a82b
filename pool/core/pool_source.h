/* pool_source.h - where the pool gets its VMs: the interface below the pool.
 *
 * The pool never speaks of QEMU, templates on disk or agents: it asks a
 * source for a ready VM of a template, pauses/resumes it, destroys it, and is
 * told when its process exits. The daemon plugs in a source over factory.h
 * (factory_clone, factory_vm_destroy, hv_pause/hv_resume, a pidfd per VM);
 * the unit tests plug in a scripted fake (tests/pool/core/fake_source.h).
 *
 * Handles: a pool_source_vm_t is opaque to the pool and owned by the source.
 * It is created by clone() or adopt() and ends with destroy() (VM gone, handle
 * freed) or detach() (VM left running, handle freed: daemon shutdown keeps
 * leased VMs). The pool serialises calls on one handle (one thread at a time
 * owns a VM); calls on different handles may run concurrently from any
 * threads, so every op must be thread-safe with respect to other handles.
 *
 * Errors: ops return 0 / -1 with err filled (wp_error.h); the pool wraps the
 * message with the template and VM it was doing.
 *
 * Exit notification, without polling: exit_fd() returns a file descriptor
 * that becomes readable (POLLIN) once the VM's process has exited — a pidfd
 * (pidfd_open(2), works for re-adopted VMs that are not our children) in the
 * daemon, an eventfd in the fake. The fd is owned by the handle and stays
 * open until destroy()/detach(); the pool registers it in its own epoll set
 * (EPOLLONESHOT) and removes it before calling destroy()/detach(). */
#ifndef POOL_SOURCE_H
#define POOL_SOURCE_H

#include <stddef.h>    /* size_t */
#include <stdint.h>    /* int64_t */
#include <stdlib.h>    /* free */
#include <sys/types.h> /* pid_t */

#include "pool_types.h" /* pool_vm_info_t */
#include "wp_error.h"

#define POOL_REFILL_NICE 10 /* refill threads and the clones they start */

typedef struct pool_source_vm pool_source_vm_t;

typedef struct pool_source_ops {
    /* Clone a VM of `template_name`, ready: restored, new identity, RNG
     * reseeded, clock set, agent answering, vCPUs running. Blocks; many
     * clones may run at once (the pool bounds how many). The refill calls
     * it from threads at POOL_REFILL_NICE: the source starts the VM from
     * the calling thread (so its start-up runs at that priority) and gives
     * the finished VM normal priority (nice 0). deadline_ns is an
     * absolute CLOCK_MONOTONIC time (wp_now_mono_ns) after which the source
     * should give up with ETIMEDOUT, 0 for none. ENOENT: no such template. */
    int (*clone)(void *self, const char *template_name, int64_t deadline_ns, pool_vm_info_t *info,
                 pool_source_vm_t **out, wp_error_t *err);

    /* Stop / restart the vCPUs of a warm VM (`warm_state: paused`). resume
     * must also set the guest wall clock: time passed while it was paused. */
    int (*pause)(void *self, pool_source_vm_t *vm, wp_error_t *err);
    int (*resume)(void *self, pool_source_vm_t *vm, wp_error_t *err);

    /* Stop the VM, remove every file it had, free the handle. Always frees,
     * even on error; a VM whose process already exited is not an error. */
    int (*destroy)(void *self, pool_source_vm_t *vm, wp_error_t *err);

    /* Free the handle, leaving the VM running (shutdown with leases out). */
    void (*detach)(void *self, pool_source_vm_t *vm);

    /* Re-open a VM left running by an earlier daemon, by id (after a
     * restart). Fills info as clone() does. ESRCH: its process is gone (the
     * source has then cleaned up whatever it left). */
    int (*adopt)(void *self, const char *id, pool_vm_info_t *info, pool_source_vm_t **out,
                 wp_error_t *err);

    /* Destroy a VM the pool holds no handle for (an orphan, a destroy cut
     * short by a crash). An id that names nothing is success. */
    int (*destroy_by_id)(void *self, const char *id, wp_error_t *err);

    /* Ids of every VM of this source present on the host (running or left
     * behind), so the pool can destroy those it does not account for.
     * *ids is a malloc'd array of malloc'd strings; free with
     * pool_source_ids_free. */
    int (*list)(void *self, char ***ids, size_t *count, wp_error_t *err);

    /* The exit notification fd (see the header comment); never fails. */
    int (*exit_fd)(void *self, pool_source_vm_t *vm);
} pool_source_ops_t;

/* A source: its ops and its context, passed back as `self`. Borrowed by the
 * pool; the source must outlive it. */
typedef struct pool_source {
    const pool_source_ops_t *ops;
    void *self;
} pool_source_t;

static inline void pool_source_ids_free(char **ids, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(ids[i]);
    free(ids);
}

#endif
