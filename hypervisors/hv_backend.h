/* hv_backend.h - what a backend implements behind hv.h. Private to
 * hypervisors/: only hv.c and the backends include it.
 *
 * Every hv_vm_t starts with `struct hv_vm` (the common part) so hv.c can
 * answer the accessors; a backend embeds it first and recovers its own
 * record with caa_container_of-style casts. */
#ifndef HV_BACKEND_H
#define HV_BACKEND_H

#include <limits.h> /* PATH_MAX */

#include "hv.h"

typedef struct hv_ops {
    const char *name;
    int (*open)(hv_backend_t *be, const hv_backend_config_t *cfg, wp_error_t *err);
    void (*close)(hv_backend_t *be);
    int (*describe)(hv_backend_t *be, const hv_vm_spec_t *spec, hv_description_t *out,
                    wp_error_t *err);
    int (*boot)(hv_backend_t *be, const hv_vm_spec_t *spec, hv_vm_t **out, wp_error_t *err);
    int (*pause)(hv_vm_t *vm, wp_error_t *err);
    int (*save_template)(hv_vm_t *vm, const char *state_path, wp_error_t *err);
    /* spec checked by hv.c (memory_shared false); state_fd open for reading,
     * owned by hv.c; state_path for messages */
    int (*restore)(hv_backend_t *be, const hv_vm_spec_t *spec, int state_fd, const char *state_path,
                   hv_vm_t **out, wp_error_t *err);
    int (*resume)(hv_vm_t *vm, wp_error_t *err);
    int (*query)(hv_vm_t *vm, hv_vm_status_t *out, wp_error_t *err);
    int (*destroy)(hv_vm_t *vm, wp_error_t *err); /* must free vm */
    void (*free)(hv_vm_t *vm);
    int (*attach)(hv_backend_t *be, const char *id, const char *runtime_dir, hv_vm_t **out,
                  wp_error_t *err);
    int (*exit_fd)(const hv_vm_t *vm);
} hv_ops_t;

struct hv_backend {
    const hv_ops_t *ops;
    void *priv; /* backend-owned */
};

struct hv_vm {
    const hv_ops_t *ops;
    hv_backend_t *backend;
    char id[64];
    char runtime_dir[PATH_MAX];
    char agent_endpoint[PATH_MAX + 16];
    pid_t pid;
};

extern const hv_ops_t hv_qemu_ops;
extern const hv_ops_t hv_libvirt_ops;

/* Names every backend uses inside a VM's runtime directory. */
#define HV_AGENT_SOCK    "agent.sock"     /* virtio-serial agent channel */
#define HV_CONSOLE       "console.log"    /* guest serial console */
#define HV_ENDPOINT_FILE "agent.endpoint" /* the agent endpoint, for attach */
#define HV_PIDFILE       "qemu.pid"       /* the QEMU process */
#define HV_BACKEND_FILE  "backend"        /* the backend's name */

/* hv_spec.c: what a backend checks in any spec (id, runtime directory and
 * socket path length, required fields, sizes, transport). */
int hv_spec_check(const hv_vm_spec_t *spec, wp_error_t *err);
/* The agent endpoint for spec ("unix:<dir>/agent.sock" or "vsock:CID:PORT"). */
void hv_spec_agent_endpoint(const hv_vm_spec_t *spec, char *out, size_t len);
/* Create a VM's runtime directory, mode 0700 (its sockets control the VM); an
 * existing empty one is accepted, a used one is EEXIST. */
int hv_runtime_dir_create(const char *dir, wp_error_t *err);
/* Write text to the file `name` in a runtime directory (mode 0600, replaced). */
int hv_runtime_file_write(const char *dir, const char *name, const char *text, wp_error_t *err);
/* Create a VM's shared directory as a shared mount point of its own
 * (hv_share.c says why); without the right to mount, a plain directory. */
int hv_share_dir_create(const char *share, wp_error_t *err);
/* Detach every mount below dir (deepest first); how many were. */
int hv_mounts_detach_under(const char *dir);
/* Remove it and all in it (destroy), after detaching the mounts below it
 * (its share, and whatever a client left bound in the share). Returns ret,
 * or -1 with err set if ret was 0 and the removal failed: the first
 * failure is the one reported. */
int hv_runtime_dir_remove(const char *dir, int ret, wp_error_t *err);
/* Record which backend starts the VM (HV_BACKEND_FILE), before it starts:
 * a process that dies mid-start leaves a directory hv_runtime_dir_backend
 * can still attribute, so the VM is found and destroyed later. */
int hv_runtime_dir_mark(const char *dir, const char *backend, wp_error_t *err);
/* Record the agent endpoint in the runtime directory (vsock ports appear on
 * no command line), and read it back for attach (default: the unix socket). */
int hv_endpoint_write(const char *runtime_dir, const char *endpoint, wp_error_t *err);
void hv_endpoint_read(const char *runtime_dir, char *out, size_t len);
/* s with ',' doubled, as QEMU's option syntax wants (malloc'd; NULL on ENOMEM). */
char *hv_opts_escape(const char *s);

#endif
