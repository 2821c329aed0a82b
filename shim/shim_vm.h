/* shim_vm.h - the sandbox's VM: a lease from warmpoold, the agent
 * connection, and the record that lets `delete` clean up after a shim
 * that died.
 *
 * The record, <bundle>/warmpool.json (mode 0600: it holds the lease's
 * token), is written for every container the shim creates: the VM's shared
 * directory, the shim's pid, and for the sandbox's own container the lease
 * (VM id and token). It is removed when the shim deletes the container
 * itself; one still there at `delete` means the shim died (shim_vm_reap). */
#ifndef SHIM_VM_H
#define SHIM_VM_H

#include <stdbool.h>   /* bool */
#include <sys/types.h> /* pid_t */

#include "agent_client.h"
#include "api_client.h"
#include "shim_config.h"

typedef struct shim_vm {
    const shim_config_t *cfg; /* where the VM came from (vm_source) */
    api_client_t *api;
    pool_lease_t lease; /* vm_source "clone"/"cold": the VM, no token */
    bool leased;        /* a lease to release, or a VM of our own to destroy */
    agent_client_t *agent;
} shim_vm_t;

/* Lease a VM of template_name (a miss waits for a clone up to the
 * config's acquire timeout) or, with vm_source "clone"/"cold", make one
 * (shim_ctl.h); connect to its agent and make sure its share is mounted in
 * the guest. cfg must outlive vm. On failure nothing is held. */
int shim_vm_acquire(shim_vm_t *vm, const shim_config_t *cfg, const char *template_name,
                    wp_error_t *err);
/* Close the agent connection and end the lease, or destroy the VM made
 * for us (either way the VM is destroyed). Idempotent. */
int shim_vm_release(shim_vm_t *vm, wp_error_t *err);

#define SHIM_RECORD_NAME "warmpool.json"

typedef struct shim_record {
    char shared_dir[PATH_MAX];
    pid_t shim_pid;
    char vm_id[128], token[128]; /* empty unless the sandbox's container */
    bool own_vm;                 /* vm_id is ours to destroy (vm_source clone/cold) */
    char config_path[PATH_MAX];  /* the sandbox's ConfigPath ("": the default file) */
} shim_record_t;

int shim_record_write(const char *bundle, const shim_record_t *r, wp_error_t *err);
/* 1 with *r, 0 when there is none, -1 for a record that cannot be read. */
int shim_record_read(const char *bundle, shim_record_t *r, wp_error_t *err);
int shim_record_remove(const char *bundle, wp_error_t *err);

/* `delete` after a shim died: for container id in bundle, kill the shim
 * that recorded it if it still runs, remove the container's files from
 * the VM's share, end the lease if the record holds one (through
 * cfg->pool_socket) or destroy the VM it made (own_vm, through cfg's
 * warmpoolctl), remove the record; cfg is the record's config_path when it
 * names one. No record: nothing to do. */
int shim_vm_reap(const char *bundle, const char *id, const shim_config_t *cfg, wp_error_t *err);

#endif
