/* factory.h - templates and clones: the factory's public contract.
 *
 * A template is a guest booted once until its agent announced itself, then
 * paused and saved: its RAM stays in a memory file on a memory filesystem,
 * its device state in a small state file, and a manifest records everything
 * a clone must match. A clone maps that RAM copy-on-write, loads the device
 * state, gets a new VM generation id, and before anyone else sees it the
 * factory reseeds its RNG with host entropy and sets its wall clock.
 *
 * Store layout (paths from factory_config_t):
 *   <store_dir>/<name>/manifest.json  kernel  initrd  state   (read-only)
 *   <memory_dir>/<name>.mem                                     (read-only)
 *   <runtime_dir>/vms/<vm id>/        per-VM sockets, logs, vm.json
 * A template becomes visible by one rename of its finished directory; builds
 * of one name are serialised by a lock file, <store_dir>/.locks/<name>.lock.
 *
 * Threads: a factory_t may be shared by threads; template handles are
 * read-only after open and may be shared; a factory_vm_t belongs to one
 * thread at a time. */
#ifndef FACTORY_H
#define FACTORY_H

#include <limits.h>  /* PATH_MAX */
#include <stdbool.h> /* bool */
#include <stdint.h>  /* uint64_t */

#include "agent_client.h"
#include "hv.h"
#include "wp_error.h"

#define FACTORY_NAME_MAX        32
#define FACTORY_DEFAULT_STORE   "/var/lib/warmpool/templates"
#define FACTORY_DEFAULT_MEM     "/dev/shm/warmpool"
#define FACTORY_DEFAULT_RUN     "/run/warmpool"
#define FACTORY_DEFAULT_CMDLINE "console=ttyS0 quiet panic=-1 warmpool.transport=serial"

typedef struct factory_config {
    const char *store_dir;   /* NULL: FACTORY_DEFAULT_STORE */
    const char *memory_dir;  /* NULL: FACTORY_DEFAULT_MEM */
    const char *runtime_dir; /* NULL: FACTORY_DEFAULT_RUN */
    const char *qemu_binary; /* NULL: qemu-system-x86_64 from PATH (libvirt: /usr/bin/...) */
    const char *libvirt_uri; /* NULL: "qemu:///system" (templates with backend "libvirt") */
} factory_config_t;

typedef struct factory factory_t;

/* Create the context and the directories it uses. Owned by the caller. */
factory_t *factory_open(const factory_config_t *cfg, wp_error_t *err);
void factory_close(factory_t *f);
const char *factory_store_dir(const factory_t *f);
const char *factory_runtime_dir(const factory_t *f);

/* ---- templates ---- */

typedef struct factory_template_spec {
    const char *name;      /* [a-z0-9][a-z0-9_-]*, at most FACTORY_NAME_MAX */
    const char *kernel;    /* path; copied into the template */
    const char *initrd;    /* path; copied into the template */
    const char *cmdline;   /* NULL: FACTORY_DEFAULT_CMDLINE */
    unsigned vcpus;        /* 0: 1 */
    unsigned memory_mib;   /* 0: 256 */
    const char *machine;   /* NULL: "q35" */
    const char *cpu_model; /* NULL: "max" */
    const char *backend;   /* NULL: "qemu"; or "libvirt" */
    int agent_timeout_ms;  /* 0: 120000 (a TCG cold boot takes ~5 s) */
    bool replace;          /* replace an existing template of that name */
} factory_template_spec_t;

typedef enum factory_build_stage {
    FACTORY_STAGE_PREPARING = 0,
    FACTORY_STAGE_BOOTING,
    FACTORY_STAGE_WAITING_AGENT,
    FACTORY_STAGE_SAVING,
    FACTORY_STAGE_COMMITTING,
    FACTORY_STAGE_DONE,
} factory_build_stage_t;

/* Called as a build moves on; `elapsed_ms` since the build started. */
typedef void (*factory_progress_fn)(factory_build_stage_t stage, double elapsed_ms, void *opaque);
const char *factory_stage_name(factory_build_stage_t stage);

/* Build a template. Atomic: on failure nothing is visible and nothing runs. */
int factory_template_build(factory_t *f, const factory_template_spec_t *spec,
                           factory_progress_fn progress, void *opaque, wp_error_t *err);

/* Remove a template (its clones keep running: they hold private mappings). */
int factory_template_remove(factory_t *f, const char *name, wp_error_t *err);

/* Names of the templates in the store, sorted; free with factory_names_free. */
int factory_template_list(factory_t *f, char ***names, size_t *count, wp_error_t *err);
void factory_names_free(char **names, size_t count);

/* The manifest as JSON text (malloc'd, caller frees). */
char *factory_template_manifest_json(factory_t *f, const char *name, wp_error_t *err);

/* ---- opened templates and clones ---- */

typedef struct factory_template factory_template_t;

/* Open and fully validate a template against this host: hypervisor binary
 * and version, machine, devices, file digests, memory file. A mismatch fails
 * with one sentence naming the template, what differs, and how to rebuild. */
factory_template_t *factory_template_open(factory_t *f, const char *name, wp_error_t *err);
void factory_template_close(factory_template_t *t);
const char *factory_template_name(const factory_template_t *t);

typedef struct factory_clone_options {
    /* TEST ONLY, for proving each mechanism on its own: keep the template's
     * vmgenid (the guest kernel sees no VM fork) and/or skip the agent's
     * reseed. With both set, clones share the template's RNG state: never
     * use them in production. */
    bool test_keep_vmgenid;
    bool test_skip_reseed;
    int agent_timeout_ms; /* 0: 10000 */
    /* Mount the guest's 9p share once the clone is ready (its containers'
     * first call then finds it mounted); false: the first container call
     * mounts it. A template is always saved unmounted (QEMU cannot migrate
     * a guest that has mounted a 9p export); a clone is never migrated. */
    bool mount_share;
    /* Then have the agent create and delete a throwaway container (the
     * WarmUp call, agent.proto): ~0.5 s more per clone under TCG, and the
     * first container in it is created in a fraction of the time. For
     * clones made ahead of demand, not for one a caller waits for. */
    bool warm_up;
    /* Prepended to the VM id ("wp-" for warmpoold's VMs, so the daemon can
     * tell its own from clones kept by `warmpoolctl clone --keep`); at most
     * FACTORY_ID_PREFIX_MAX characters of [a-z0-9-]. NULL: none. */
    const char *id_prefix;
} factory_clone_options_t;

#define FACTORY_ID_PREFIX_MAX 8

typedef struct factory_clone_timings {
    double restore_ms; /* start of the hypervisor until state loaded */
    double resume_ms;  /* vCPUs running again */
    double reseed_ms;  /* agent reseeded the RNG: first agent reply */
    double clock_ms;   /* agent set the wall clock: clone ready */
    double share_ms;   /* share mounted (mount_share only; else 0) */
    double warm_up_ms; /* throwaway container done (warm_up only; else 0) */
} factory_clone_timings_t;

typedef struct factory_vm {
    hv_vm_t *vm;
    agent_client_t *agent;
    char id[64];
    char template_name[FACTORY_NAME_MAX + 1];
    char vmgenid[37];
    char share_dir[PATH_MAX];        /* host side of the guest's shared directory */
    factory_clone_timings_t timings; /* cumulative from the clone's start */
} factory_vm_t;

/* Clone: quick re-check of the template files (stat), restore, new vmgenid,
 * resume, reseed (64 bytes of host getrandom), set clock — in that order.
 * On failure nothing is left running. */
int factory_clone(factory_t *f, factory_template_t *t, const factory_clone_options_t *opt,
                  factory_vm_t **out, wp_error_t *err);

/* Cold-boot a VM from a template's kernel and initrd (not its saved state),
 * with its own private RAM, and wait for its agent's first reply: the
 * baseline clones are measured against. timings.reseed_ms and clock_ms are
 * both the first-reply time. */
int factory_boot_cold(factory_t *f, factory_template_t *t, int agent_timeout_ms, factory_vm_t **out,
                      wp_error_t *err);

/* Destroy a clone and free it: no process or file left. */
int factory_vm_destroy(factory_vm_t *vm, wp_error_t *err);
/* Free the handle, leaving the VM running (its vm.json stays). */
void factory_vm_release(factory_vm_t *vm);

/* Re-open a clone left running by factory_vm_release or by an earlier
 * process (a daemon restart), by id. The handle's agent is NULL: the agent
 * channel serves one host connection at a time and the VM's user may hold
 * it; connect with agent_client_connect(hv_vm_agent_endpoint(vm->vm)) when
 * needed. timings are zero. ENOENT: no such VM; ESRCH: its process is gone
 * (its files are left for factory_vm_destroy_by_id). */
int factory_vm_adopt(factory_t *f, const char *id, factory_vm_t **out, wp_error_t *err);

/* Destroy a VM left running by an earlier process, by id. */
int factory_vm_destroy_by_id(factory_t *f, const char *id, wp_error_t *err);
/* Ids of VMs in the runtime directory, sorted. */
int factory_vm_list(factory_t *f, char ***ids, size_t *count, wp_error_t *err);

#endif
