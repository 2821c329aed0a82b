/* hv_spec.c - what every backend shares: the checks of a VM spec, the
 * runtime directory, and the agent endpoint a spec implies and its record
 * there (see hv_backend.h). */
#include "hv_backend.h"

#include <dirent.h>   /* opendir: is the runtime directory empty */
#include <errno.h>    /* EINVAL */
#include <fcntl.h>    /* open */
#include <libgen.h>   /* dirname */
#include <stdlib.h>   /* malloc */
#include <stdio.h>    /* snprintf */
#include <string.h>   /* strlen, strspn */
#include <sys/stat.h> /* mkdir, chmod */
#include <sys/un.h>   /* sockaddr_un: socket path limit */
#include <unistd.h>   /* close */

#include "wp_cleanup.h"
#include "wp_fs.h"

/* An id names files and directories, and must fit struct hv_vm's id[64]. */
static bool id_ok(const char *id)
{
    size_t len = strlen(id);
    if (len == 0 || len >= 64 || id[0] == '.')
        return false;
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

int hv_spec_check(const hv_vm_spec_t *spec, wp_error_t *err)
{
    if (spec->id == NULL || !id_ok(spec->id))
        return wp_error_set(err, EINVAL, "VM id '%s' is not 1-63 characters of [A-Za-z0-9._-]",
                            spec->id ? spec->id : "(null)");
    if (spec->runtime_dir == NULL || spec->runtime_dir[0] != '/')
        return wp_error_set(err, EINVAL, "VM '%s': runtime directory '%s' is not absolute",
                            spec->id, spec->runtime_dir ? spec->runtime_dir : "(null)");
    /* the longest socket name must fit sockaddr_un */
    if (strlen(spec->runtime_dir) + 1 + strlen(HV_AGENT_SOCK) >=
        sizeof(((struct sockaddr_un *)0)->sun_path))
        return wp_error_set(err, ENAMETOOLONG,
                            "VM '%s': runtime directory '%s' is too long for a unix socket path",
                            spec->id, spec->runtime_dir);
    const char *missing = spec->kernel == NULL        ? "kernel"
                          : spec->machine == NULL     ? "machine"
                          : spec->cpu_model == NULL   ? "cpu_model"
                          : spec->memory_file == NULL ? "memory_file"
                                                      : NULL;
    if (missing != NULL)
        return wp_error_set(err, EINVAL, "VM '%s': no %s given", spec->id, missing);
    if (spec->vcpus == 0 || spec->memory_mib == 0)
        return wp_error_set(err, EINVAL, "VM '%s': %u vCPUs and %u MiB is not a machine", spec->id,
                            spec->vcpus, spec->memory_mib);
    if (spec->agent_transport == HV_AGENT_VSOCK && spec->vsock_cid < 3)
        return wp_error_set(err, EINVAL, "VM '%s': vsock CID %u is reserved (use 3 or more)",
                            spec->id, spec->vsock_cid);
    if (spec->agent_transport != HV_AGENT_VSOCK && spec->agent_transport != HV_AGENT_SERIAL)
        return wp_error_set(err, EINVAL, "VM '%s': unknown agent transport %d", spec->id,
                            (int)spec->agent_transport);
    return 0;
}

void hv_spec_agent_endpoint(const hv_vm_spec_t *spec, char *out, size_t len)
{
    if (spec->agent_transport == HV_AGENT_VSOCK)
        snprintf(out, len, "vsock:%u:%u", spec->vsock_cid,
                 spec->vsock_port ? spec->vsock_port : HV_AGENT_VSOCK_PORT);
    else
        snprintf(out, len, "unix:%s/%s", spec->runtime_dir, HV_AGENT_SOCK);
}

static bool dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return false;
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir(d)) != NULL)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/* mode 0700: the sockets in it give control of the VM. An existing empty
 * directory is accepted (the caller may have made it); a used one is not. */
int hv_runtime_dir_create(const char *dir, wp_error_t *err)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", dir);
    if (wp_mkdir_p(dirname(parent), 0700, err) < 0)
        return -1;
    if (mkdir(dir, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return wp_error_errno(err, errno, "create runtime directory '%s'", dir);
    if (!dir_is_empty(dir))
        return wp_error_set(err, EEXIST, "runtime directory '%s' exists and is not empty", dir);
    if (chmod(dir, 0700) < 0)
        return wp_error_errno(err, errno, "chmod runtime directory '%s'", dir);
    return 0;
}

int hv_runtime_file_write(const char *dir, const char *name, const char *text, wp_error_t *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return wp_error_errno(err, errno, "create '%s'", path);
    return wp_write_all(fd, text, strlen(text), err);
}

int hv_endpoint_write(const char *runtime_dir, const char *endpoint, wp_error_t *err)
{
    return hv_runtime_file_write(runtime_dir, HV_ENDPOINT_FILE, endpoint, err);
}

void hv_endpoint_read(const char *runtime_dir, char *out, size_t len)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", runtime_dir, HV_ENDPOINT_FILE);
    _cleanup_free_ char *text = wp_read_file(path, len - 1, NULL, NULL);
    if (text != NULL)
        snprintf(out, len, "%s", text);
    else
        snprintf(out, len, "unix:%s/%s", runtime_dir, HV_AGENT_SOCK);
}

int hv_runtime_dir_mark(const char *dir, const char *backend, wp_error_t *err)
{
    return hv_runtime_file_write(dir, HV_BACKEND_FILE, backend, err);
}

int hv_runtime_dir_backend(const char *runtime_dir, char *out, size_t len, wp_error_t *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", runtime_dir, HV_BACKEND_FILE);
    _cleanup_free_ char *text = wp_read_file(path, 32, NULL, err);
    if (text == NULL)
        return -1;
    snprintf(out, len, "%s", text);
    return 0;
}

int hv_runtime_dir_discard(const char *runtime_dir, wp_error_t *err)
{
    return hv_runtime_dir_remove(runtime_dir, 0, err);
}

int hv_runtime_dir_remove(const char *dir, int ret, wp_error_t *err)
{
    wp_error_t rm_err = {0};
    hv_mounts_detach_under(dir);
    if (wp_rm_tree(dir, &rm_err) < 0 && ret == 0) {
        if (err != NULL)
            *err = rm_err;
        return -1;
    }
    return ret;
}

/* QemuOpts/keyval values escape ',' as ",,": a path with a comma stays one value. */
char *hv_opts_escape(const char *s)
{
    size_t commas = 0;
    for (const char *p = s; *p; p++)
        commas += *p == ',';
    char *out = malloc(strlen(s) + commas + 1);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (const char *p = s; *p; p++) {
        *o++ = *p;
        if (*p == ',')
            *o++ = ',';
    }
    *o = '\0';
    return out;
}
