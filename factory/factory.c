/* factory.c - the factory context: configuration, directories, backend
 * handle, names, paths and the per-name build lock. */
#include "factory_internal.h"

#include <ctype.h>    /* islower, isdigit */
#include <errno.h>    /* errno */
#include <fcntl.h>    /* open */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* calloc */
#include <string.h>   /* strlen */
#include <sys/file.h> /* flock */

#include "wp_cleanup.h"
#include "wp_fs.h"

static int set_dir(char *dst, const char *value, const char *fallback, const char *what,
                   wp_error_t *err)
{
    const char *v = value ? value : fallback;
    if (v[0] != '/')
        return wp_error_set(err, EINVAL, "%s '%s' must be an absolute path", what, v);
    if (strlen(v) > PATH_MAX - 128)
        return wp_error_set(err, ENAMETOOLONG, "%s '%s' is too long", what, v);
    snprintf(dst, PATH_MAX, "%s", v);
    return 0;
}

factory_t *factory_open(const factory_config_t *cfg, wp_error_t *err)
{
    static const factory_config_t defaults = {0};
    if (cfg == NULL)
        cfg = &defaults;
    _cleanup_free_ factory_t *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        wp_error_errno(err, ENOMEM, "factory");
        return NULL;
    }
    if (set_dir(f->store_dir, cfg->store_dir, FACTORY_DEFAULT_STORE, "store directory", err) < 0 ||
        set_dir(f->memory_dir, cfg->memory_dir, FACTORY_DEFAULT_MEM, "memory directory", err) < 0 ||
        set_dir(f->runtime_dir, cfg->runtime_dir, FACTORY_DEFAULT_RUN, "runtime directory", err) <
            0)
        return NULL;
    snprintf(f->qemu_binary, sizeof(f->qemu_binary), "%s",
             cfg->qemu_binary ? cfg->qemu_binary : "");
    snprintf(f->libvirt_uri, sizeof(f->libvirt_uri), "%s",
             cfg->libvirt_uri ? cfg->libvirt_uri : "");
    char locks[PATH_MAX + 16], vms[PATH_MAX + 16];
    snprintf(locks, sizeof(locks), "%s/.locks", f->store_dir);
    snprintf(vms, sizeof(vms), "%s/vms", f->runtime_dir);
    if (wp_mkdir_p(locks, 0700, err) < 0 || wp_mkdir_p(f->memory_dir, 0700, err) < 0 ||
        wp_mkdir_p(vms, 0700, err) < 0)
        return NULL;
    pthread_mutex_init(&f->backend_lock, NULL);
    return wp_steal_ptr(&f);
}

void factory_close(factory_t *f)
{
    if (f == NULL)
        return;
    for (int i = 0; i < FACTORY_BACKENDS; i++)
        hv_backend_close(f->backends[i]);
    pthread_mutex_destroy(&f->backend_lock);
    free(f);
}

const char *factory_store_dir(const factory_t *f)
{
    return f->store_dir;
}

const char *factory_runtime_dir(const factory_t *f)
{
    return f->runtime_dir;
}

hv_backend_t *factory_backend(factory_t *f, const char *name, wp_error_t *err)
{
    static const char *const names[FACTORY_BACKENDS] = {"qemu", "libvirt"};
    int slot = -1;
    for (int i = 0; i < FACTORY_BACKENDS; i++)
        if (strcmp(names[i], name) == 0)
            slot = i;
    if (slot < 0) {
        wp_error_set(err, ENOTSUP, "unknown hypervisor backend '%s' (known: qemu, libvirt)", name);
        return NULL;
    }
    pthread_mutex_lock(&f->backend_lock);
    hv_backend_t *be = f->backends[slot];
    if (be == NULL) {
        hv_backend_config_t cfg = {.qemu_binary = f->qemu_binary[0] ? f->qemu_binary : NULL,
                                   .libvirt_uri = f->libvirt_uri[0] ? f->libvirt_uri : NULL};
        be = f->backends[slot] = hv_backend_open(name, &cfg, err);
    }
    pthread_mutex_unlock(&f->backend_lock);
    return be;
}

int factory_check_name(const char *name, wp_error_t *err)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > FACTORY_NAME_MAX)
        return wp_error_set(err, EINVAL, "template name '%s' must be 1 to %d characters",
                            name ? name : "", FACTORY_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        bool ok = islower(c) || isdigit(c) || (i > 0 && (c == '-' || c == '_'));
        if (!ok)
            return wp_error_set(err, EINVAL,
                                "template name '%s' may hold only a-z, 0-9, '-' and '_' and "
                                "must start with a letter or digit",
                                name);
    }
    return 0;
}

void factory_template_dir(const factory_t *f, const char *name, char *out)
{
    snprintf(out, PATH_MAX, "%.3900s/%.64s", f->store_dir, name);
}

void factory_memory_path(const factory_t *f, const char *name, char *out)
{
    snprintf(out, PATH_MAX, "%.3900s/%.64s.mem", f->memory_dir, name);
}

void factory_vm_dir(const factory_t *f, const char *id, char *out)
{
    snprintf(out, PATH_MAX, "%.3900s/vms/%.64s", f->runtime_dir, id);
}

int factory_lock_name(factory_t *f, const char *name, wp_error_t *err)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/.locks/%s.lock", f->store_dir, name);
    _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return wp_error_errno(err, errno, "open lock '%s'", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            return wp_error_set(err, EBUSY,
                                "template '%s' is being built or removed by another process", name);
        return wp_error_errno(err, errno, "lock '%s'", path);
    }
    return wp_steal_fd(&fd);
}
