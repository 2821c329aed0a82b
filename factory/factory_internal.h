/* factory_internal.h - the factory's private structures, shared by its .c
 * files only. */
#ifndef FACTORY_INTERNAL_H
#define FACTORY_INTERNAL_H

#include <limits.h>   /* PATH_MAX */
#include <pthread.h>  /* pthread_mutex_t */
#include <sys/stat.h> /* struct stat */

#include "factory.h"
#include "factory_manifest.h"

#define FACTORY_BACKENDS 2

struct factory {
    char store_dir[PATH_MAX];
    char memory_dir[PATH_MAX];
    char runtime_dir[PATH_MAX];
    char qemu_binary[PATH_MAX];
    char libvirt_uri[256];
    pthread_mutex_t backend_lock;             /* guards backends (each opened on first use) */
    hv_backend_t *backends[FACTORY_BACKENDS]; /* "qemu", "libvirt" */
};

/* A file's identity as last validated: any write, truncation, chmod or
 * replacement changes one of these, so a cheap stat detects it. */
typedef struct factory_file_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    struct timespec ctime;
} factory_file_sig_t;

struct factory_template {
    factory_t *factory;
    factory_manifest_t manifest;
    char dir[PATH_MAX];
    char kernel_path[PATH_MAX];
    char initrd_path[PATH_MAX];
    char state_path[PATH_MAX];
    pthread_mutex_t sig_lock; /* guards the signatures below */
    factory_file_sig_t kernel_sig, initrd_sig, state_sig, memory_sig;
};

/* The backend for templates of kind `name` ("qemu" or "libvirt"), opened once. */
hv_backend_t *factory_backend(factory_t *f, const char *name, wp_error_t *err);

/* Template names: [a-z0-9][a-z0-9_-]*, 1..FACTORY_NAME_MAX. */
int factory_check_name(const char *name, wp_error_t *err);

/* Path helpers (snprintf into out, PATH_MAX). */
void factory_template_dir(const factory_t *f, const char *name, char *out);
void factory_memory_path(const factory_t *f, const char *name, char *out);
void factory_vm_dir(const factory_t *f, const char *id, char *out);

/* Take the per-name build lock (non-blocking). Returns the lock fd. */
int factory_lock_name(factory_t *f, const char *name, wp_error_t *err);

/* Sorted names of the non-hidden entries of dir that pass keep (NULL: all). */
int factory_list_dir(const char *dir, bool (*keep)(const char *dir, const char *name), char ***out,
                     size_t *count, wp_error_t *err);

/* Validation (factory_validate.c). */
int factory_file_sig_read(const char *path, factory_file_sig_t *out, wp_error_t *err);
int factory_template_validate(factory_template_t *t, wp_error_t *err);
int factory_template_recheck(factory_template_t *t, wp_error_t *err);

/* The hv spec a clone (or the build) of manifest m uses. Strings point into
 * m, except share_dir, which points to share (PATH_MAX bytes): the VM's
 * shared directory, <runtime_dir>/shared. runtime_dir NULL (validation,
 * which only describes the VM): a placeholder share. */
void factory_spec_from_manifest(const factory_template_t *t, const char *runtime_dir, char *share,
                                hv_vm_spec_t *spec);

/* <runtime>/vm.json: id, template, backend, vmgenid, pid, agent endpoint;
 * what `vm ls`, `vm destroy` and adoption read (factory_clone.c). */
int factory_write_vm_record(const factory_vm_t *v, const char *backend, wp_error_t *err);

/* Every VM gets a directory shared into the guest (9p, tag "warmpool"): the
 * host side of a container's rootfs and volumes. */
#define FACTORY_SHARE_SUBDIR "shared"
void factory_share_dir(const char *runtime_dir, char *out);

/* Feed the guest 64 bytes of host getrandom() and make its kernel reseed its
 * CRNG now (factory_clone.c). Used on every clone, and on the template just
 * before it is saved: that gives the template host entropy and resets the
 * kernel's own reseed timer, so a clone's RNG diverges because warmpool
 * reseeds it, not because a timer happened to fire. */
int factory_reseed_guest(agent_client_t *agent, int timeout_ms, wp_error_t *err);

#endif
