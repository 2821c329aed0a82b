/* hv.h - the hypervisor backend interface.
 *
 * One ops table per backend (qemu/ today, libvirt/ next), picked by name. No
 * backend detail crosses this header: callers speak of VMs, templates, state
 * files and agent endpoints, never of QMP, command lines or domain XML.
 *
 * Lifecycle of a template VM:  hv_boot -> (agent ready) -> hv_save_template
 *   (pauses, saves device state; guest RAM stays in the shared memory file;
 *   the VM process ends) -> hv_destroy (removes the runtime directory) or
 *   hv_vm_free (leaves it).
 * Lifecycle of a clone:        hv_restore (left paused) -> hv_resume -> ...
 *   -> hv_destroy (frees the handle).
 *
 * Threads: a backend handle may be used from several threads at once; a VM
 * handle belongs to one thread at a time (the caller serialises). */
#ifndef HV_H
#define HV_H

#include <stdbool.h>   /* bool */
#include <stdint.h>    /* uint32_t */
#include <sys/types.h> /* pid_t */

#include "wp_error.h"

typedef struct hv_backend hv_backend_t;
typedef struct hv_vm hv_vm_t;

typedef enum hv_agent_transport {
    HV_AGENT_SERIAL = 0, /* virtio-serial port, host side a unix socket */
    HV_AGENT_VSOCK = 1,  /* AF_VSOCK, needs /dev/vhost-vsock on the host */
} hv_agent_transport_t;

#define HV_AGENT_PORT_NAME  "org.warmpool.agent" /* virtio-serial port name */
#define HV_AGENT_VSOCK_PORT 1024                 /* default agent vsock port */

/* What to run. Strings are borrowed for the duration of the call. */
typedef struct hv_vm_spec {
    const char *id;          /* VM id, unique on the host ([a-z0-9-], <= 48 chars) */
    const char *runtime_dir; /* per-VM directory, created by the backend, removed by destroy */
    const char *kernel;
    const char *initrd;
    const char *cmdline;
    unsigned vcpus;
    unsigned memory_mib;
    const char *machine;     /* e.g. "q35" */
    const char *cpu_model;   /* e.g. "max" */
    const char *memory_file; /* guest RAM backing file on a memory filesystem */
    bool memory_shared;      /* true for a template (writes reach the file), false for a
                                clone (private copy-on-write mapping of the file) */
    const char *vmgenid;     /* VM generation id GUID, "xxxxxxxx-xxxx-..." */
    hv_agent_transport_t agent_transport;
    uint32_t vsock_cid;    /* HV_AGENT_VSOCK only */
    uint32_t vsock_port;   /* HV_AGENT_VSOCK only; 0 means HV_AGENT_VSOCK_PORT */
    const char *share_dir; /* host directory shared into the guest (9p, mount tag
                              "warmpool"), created if missing; or NULL */
} hv_vm_spec_t;

/* What a template records so a clone can check it runs on the same thing. */
#define HV_MAX_DEVICES 16
typedef struct hv_description {
    char backend[16]; /* "qemu" */
    char binary[256]; /* absolute path of the hypervisor binary */
    char version[64]; /* e.g. "7.2.22" */
    char machine[64];
    char cpu_model[64];
    unsigned memory_mib;
    unsigned vcpus;
    unsigned n_devices;
    char devices[HV_MAX_DEVICES][64]; /* e.g. "virtio-serial-pci", "vmgenid" */
} hv_description_t;

typedef enum hv_vm_state {
    HV_VM_RUNNING = 0,
    HV_VM_PAUSED = 1,
    HV_VM_INCOMING = 2, /* waiting for / loading saved state */
    HV_VM_GONE = 3,     /* process has exited */
    HV_VM_OTHER = 4,
} hv_vm_state_t;

typedef struct hv_vm_status {
    hv_vm_state_t state;
    pid_t pid;
} hv_vm_status_t;

typedef struct hv_backend_config {
    const char *qemu_binary; /* NULL: "qemu-system-x86_64" from PATH */
    const char *libvirt_uri; /* NULL: "qemu:///system" (libvirt backend) */
} hv_backend_config_t;

/* Open backend `name` ("qemu" or "libvirt"). The caller owns the handle; close with
 * hv_backend_close. */
hv_backend_t *hv_backend_open(const char *name, const hv_backend_config_t *cfg, wp_error_t *err);
void hv_backend_close(hv_backend_t *be);
const char *hv_backend_name(const hv_backend_t *be);

/* Fill *out with what a VM booted from spec would be (binary, version,
 * devices). Cheap after the first call: the version is cached per binary
 * identity (path, size, mtime) in the backend handle. */
int hv_describe(hv_backend_t *be, const hv_vm_spec_t *spec, hv_description_t *out, wp_error_t *err);

/* Cold-boot a VM, running. Returns once the hypervisor has mapped the guest
 * RAM (memory_file may be unlinked from then on). The handle is owned by the
 * caller. On failure nothing is left running and the runtime directory is
 * removed; the message ends with the hypervisor's last log lines if it died. */
int hv_boot(hv_backend_t *be, const hv_vm_spec_t *spec, hv_vm_t **out, wp_error_t *err);

/* Pause a running VM (vCPUs stopped; zero CPU while waiting). */
int hv_pause(hv_vm_t *vm, wp_error_t *err);

/* Save a template: pause if running, save device state (not the shared RAM)
 * to state_path, wait for completion (by event, not by sleeping), then end
 * the VM process and fsync state_path. The VM must have been booted with
 * memory_shared=true (EINVAL otherwise). Afterwards the handle answers
 * hv_query (HV_VM_GONE), hv_destroy and hv_vm_free; other calls fail with
 * ESRCH. On failure state_path is removed. */
int hv_save_template(hv_vm_t *vm, const char *state_path, wp_error_t *err);

/* Start a clone from a template's state file; the VM is left paused with its
 * state loaded. spec must describe the same machine as the template's, with
 * memory_shared=false (EINVAL otherwise: the clone would write into the
 * template). On failure nothing is left, as for hv_boot. */
int hv_restore(hv_backend_t *be, const hv_vm_spec_t *spec, const char *state_path, hv_vm_t **out,
               wp_error_t *err);

/* Resume a paused VM. */
int hv_resume(hv_vm_t *vm, wp_error_t *err);

/* Where the host reaches the guest agent: "unix:/path" or "vsock:CID:PORT".
 * Owned by the handle. */
const char *hv_vm_agent_endpoint(const hv_vm_t *vm);
const char *hv_vm_id(const hv_vm_t *vm);
const char *hv_vm_runtime_dir(const hv_vm_t *vm);
pid_t hv_vm_pid(const hv_vm_t *vm); /* 0 when the backend cannot tell */

/* An fd that becomes readable once the VM has ended, for poll/epoll: a pidfd
 * (qemu), an eventfd signalled from libvirt's domain lifecycle events
 * (libvirt). Owned by the handle: dup it to keep it past hv_destroy or
 * hv_vm_free. -1 if there is none (a template whose state was saved). */
int hv_vm_exit_fd(const hv_vm_t *vm);

/* Current state. Notices an exited process without blocking: HV_VM_GONE is
 * an answer, not an error. */
int hv_query(hv_vm_t *vm, hv_vm_status_t *out, wp_error_t *err);

/* Stop the VM (SIGTERM-free: quit, then SIGKILL after ~2 s if needed), reap
 * it if it is our child, remove its runtime directory and every file in it,
 * and free the handle. Works when the VM process already died. Always frees,
 * even on error. */
int hv_destroy(hv_vm_t *vm, wp_error_t *err);

/* Free the handle and close its connections, leaving the VM running (a CLI
 * that hands a VM to a later command). */
void hv_vm_free(hv_vm_t *vm);

/* Re-open a VM left running by hv_vm_free or by a previous process, from its
 * runtime directory. Fails with ESRCH if its process is gone (or the pid now
 * belongs to another process). The previous handle must have been freed: the
 * hypervisor serves one control connection at a time. */
int hv_attach(hv_backend_t *be, const char *id, const char *runtime_dir, hv_vm_t **out,
              wp_error_t *err);

/* Remove the runtime directory of a VM whose process is gone (hv_attach
 * said ESRCH): the mounts below it (its share, binds a client left there)
 * are detached first, then the files go. */
int hv_runtime_dir_discard(const char *runtime_dir, wp_error_t *err);

/* The name of the backend that started (or was starting) the VM of
 * runtime_dir, recorded before the VM started; -1 (ENOENT) if none was. */
int hv_runtime_dir_backend(const char *runtime_dir, char *out, size_t len, wp_error_t *err);

#endif
