/* test_agent_share.c - a container's files on the host (agent_share.h) and
 * the default spec (agent_spec.h): binds and their removal leave
 * /proc/self/mountinfo as it was, escaping paths are refused with nothing
 * changed, the rewritten spec is checked field by field. The mount tests
 * need root (they skip without it). */
#include <criterion/criterion.h>
#include <errno.h>    /* EINVAL */
#include <fcntl.h>    /* open */
#include <limits.h>   /* PATH_MAX */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* mkdtemp */
#include <string.h>   /* strstr */
#include <sys/stat.h> /* mkdir */
#include <unistd.h>   /* geteuid */

#include "agent_protocol.h"
#include "agent_share.h"
#include "agent_spec.h"
#include "wp_fs.h"

typedef struct env {
    char base[64];
    char share[128], rootfs[128], vol[128], file[128];
} env_t;

static void write_text(const char *path, const char *text)
{
    wp_error_t err = {0};
    cr_assert_eq(wp_write_file_atomic(path, text, strlen(text), 0644, &err), 0, "%s", err.msg);
}

static void env_open(env_t *e)
{
    if (geteuid() != 0)
        cr_skip_test("bind mounts need root");
    snprintf(e->base, sizeof(e->base), "/tmp/wp-test-share-XXXXXX");
    cr_assert_not_null(mkdtemp(e->base));
    snprintf(e->share, sizeof(e->share), "%s/share", e->base);
    snprintf(e->rootfs, sizeof(e->rootfs), "%s/rootfs", e->base);
    snprintf(e->vol, sizeof(e->vol), "%s/vol", e->base);
    snprintf(e->file, sizeof(e->file), "%s/hosts", e->base);
    cr_assert_eq(mkdir(e->share, 0700), 0);
    cr_assert_eq(mkdir(e->rootfs, 0755), 0);
    cr_assert_eq(mkdir(e->vol, 0755), 0);
    char p[192];
    snprintf(p, sizeof(p), "%s/etc-marker", e->rootfs);
    write_text(p, "rootfs\n");
    snprintf(p, sizeof(p), "%s/data", e->vol);
    write_text(p, "volume\n");
    write_text(e->file, "127.0.0.1 localhost\n");
}

/* The mountinfo lines that concern this test's directory (other tests may
 * mount elsewhere meanwhile). */
static char *our_mounts(const env_t *e)
{
    wp_error_t err = {0};
    char *all = wp_read_file("/proc/self/mountinfo", 1 << 22, NULL, &err);
    cr_assert_not_null(all, "%s", err.msg);
    size_t cap = strlen(all) + 1, len = 0;
    char *out = calloc(1, cap);
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n"))
        if (strstr(line, e->base)) {
            len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
        }
    free(all);
    return out;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static bool exists(const char *fmt, const env_t *e, const char *rest)
{
    char p[256];
    snprintf(p, sizeof(p), fmt, e->share, rest);
    struct stat st;
    return lstat(p, &st) == 0;
}

static void env_close(env_t *e)
{
    /* nothing may be mounted any more: wp_rm_tree would otherwise reach
     * into the binds */
    char *left = our_mounts(e);
    cr_assert_str_eq(left, "", "mounts left behind:\n%s", left);
    free(left);
    wp_rm_tree(e->base, NULL);
}

/* A spec with two bind mounts (a directory, rbind; a file, ro) and a tmpfs. */
static json_t *spec_with_binds(const env_t *e)
{
    char *args[] = {"sh", "-c", "echo hi"};
    wp_error_t err = {0};
    json_t *spec = agent_spec_default(3, args, NULL, false, NULL, &err);
    cr_assert_not_null(spec, "%s", err.msg);
    json_t *mounts = json_object_get(spec, "mounts");
    json_array_append_new(mounts,
                          json_pack("{s:s, s:s, s:s, s:[s, s]}", "destination", "/data", "type",
                                    "bind", "source", e->vol, "options", "rbind", "rw"));
    json_array_append_new(mounts,
                          json_pack("{s:s, s:s, s:s, s:[s, s]}", "destination", "/etc/hosts",
                                    "type", "none", "source", e->file, "options", "bind", "ro"));
    json_array_append_new(mounts, json_pack("{s:s, s:s, s:s}", "destination", "/scratch", "type",
                                            "tmpfs", "source", "tmpfs"));
    return spec;
}

Test(agent_share, bind_and_remove_leave_mountinfo_as_before)
{
    env_t e;
    env_open(&e);
    char *before = our_mounts(&e);
    wp_error_t err = {0};
    cr_assert_eq(agent_share_bind_rootfs(e.share, "c1", e.rootfs, &err), 0, "%s", err.msg);
    char *during = our_mounts(&e);
    cr_assert_eq(count_lines(during), count_lines(before) + 1, "one mount:\n%s", during);
    cr_assert(exists("%s/c1/rootfs/%s", &e, "etc-marker"), "the rootfs shows through the bind");
    /* a second bind of the same id is refused, changing nothing */
    cr_assert_eq(agent_share_bind_rootfs(e.share, "c1", e.rootfs, &err), -1);
    cr_assert_eq(err.code, EEXIST, "%s", err.msg);
    char *still = our_mounts(&e);
    cr_assert_str_eq(still, during);
    cr_assert_eq(agent_share_remove(e.share, "c1", &err), 0, "%s", err.msg);
    char *after = our_mounts(&e);
    cr_assert_str_eq(after, before, "before:\n%s\nafter:\n%s", before, after);
    cr_assert_not(exists("%s/%s", &e, "c1"), "the container directory is gone");
    char marker[192];
    snprintf(marker, sizeof(marker), "%s/etc-marker", e.rootfs);
    cr_assert_eq(access(marker, F_OK), 0, "the rootfs itself is untouched");
    /* idempotent */
    cr_assert_eq(agent_share_remove(e.share, "c1", &err), 0, "%s", err.msg);
    free(before);
    free(during);
    free(still);
    free(after);
    env_close(&e);
}

Test(agent_share, the_spec_is_rewritten_to_guest_paths)
{
    env_t e;
    env_open(&e);
    char *before = our_mounts(&e);
    json_auto_t *spec = spec_with_binds(&e);
    wp_error_t err = {0};
    cr_assert_eq(agent_share_prepare(e.share, "c1", e.rootfs, spec, &err), 0, "%s", err.msg);
    char *during = our_mounts(&e);
    cr_assert_eq(count_lines(during), count_lines(before) + 3, "rootfs and two binds:\n%s", during);

    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(spec, "root"), "path")),
                     AGENT_SHARE_GUEST_PATH "/c1/rootfs");
    json_t *mounts = json_object_get(spec, "mounts");
    cr_assert_eq(json_array_size(mounts), 10);
    /* the standard mounts are untouched */
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(mounts, 0), "source")),
                     "proc");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(mounts, 1), "destination")),
                     "/dev");
    json_t *data = json_array_get(mounts, 7), *hosts = json_array_get(mounts, 8),
           *scratch = json_array_get(mounts, 9);
    cr_assert_str_eq(json_string_value(json_object_get(data, "source")),
                     AGENT_SHARE_GUEST_PATH "/c1/mounts/0");
    cr_assert_str_eq(json_string_value(json_object_get(data, "destination")), "/data");
    cr_assert_str_eq(json_string_value(json_object_get(data, "type")), "bind");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(data, "options"), 0)),
                     "rbind");
    cr_assert_str_eq(json_string_value(json_object_get(hosts, "source")),
                     AGENT_SHARE_GUEST_PATH "/c1/mounts/1");
    cr_assert_str_eq(json_string_value(json_object_get(hosts, "destination")), "/etc/hosts");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(hosts, "options"), 1)), "ro");
    cr_assert_str_eq(json_string_value(json_object_get(scratch, "source")), "tmpfs");

    /* the host side: the volume and the file show through, the file read-only */
    cr_assert(exists("%s/c1/mounts/0/%s", &e, "data"));
    char p[256];
    snprintf(p, sizeof(p), "%s/c1/mounts/1", e.share);
    wp_error_t rerr = {0};
    char *text = wp_read_file(p, 4096, NULL, &rerr);
    cr_assert_not_null(text, "%s", rerr.msg);
    cr_assert_str_eq(text, "127.0.0.1 localhost\n");
    free(text);
    int fd = open(p, O_WRONLY);
    cr_assert_lt(fd, 0, "the ro bind is read-only on the host too");
    cr_assert_eq(errno, EROFS);

    cr_assert_eq(agent_share_remove(e.share, "c1", &err), 0, "%s", err.msg);
    char *after = our_mounts(&e);
    cr_assert_str_eq(after, before);
    cr_assert_not(exists("%s/%s", &e, "c1"));
    snprintf(p, sizeof(p), "%s/data", e.vol);
    cr_assert_eq(access(p, F_OK), 0, "the volume is untouched");
    free(before);
    free(during);
    free(after);
    env_close(&e);
}

/* prepare must refuse spec (with its error code) and change nothing. */
static void refused(env_t *e, json_t *spec, const char *rootfs, int code, const char *words)
{
    char *before = our_mounts(e);
    json_auto_t *copy = json_deep_copy(spec);
    wp_error_t err = {0};
    cr_assert_eq(agent_share_prepare(e->share, "c1", rootfs, spec, &err), -1);
    cr_assert_eq(err.code, code, "%s", err.msg);
    cr_assert(strstr(err.msg, words) != NULL, "'%s' not in: %s", words, err.msg);
    cr_assert(json_equal(spec, copy), "the spec changed");
    char *after = our_mounts(e);
    cr_assert_str_eq(after, before);
    cr_assert_not(exists("%s/%s", e, "c1"), "the container directory was left");
    free(before);
    free(after);
}

static json_t *spec_with_source(const env_t *e, const char *source)
{
    json_t *spec = spec_with_binds(e);
    json_t *m = json_array_get(json_object_get(spec, "mounts"), 8);
    json_object_set_new(m, "source", json_string(source));
    return spec;
}

Test(agent_share, escaping_paths_are_refused_changing_nothing)
{
    env_t e;
    env_open(&e);
    char p[256], link[192];
    /* ".." after normalisation, even when it would land inside */
    snprintf(p, sizeof(p), "%s/vol/../hosts", e.base);
    json_auto_t *s1 = spec_with_source(&e, p);
    refused(&e, s1, e.rootfs, EINVAL, "'..'");
    snprintf(p, sizeof(p), "%s//./hosts", e.base);
    json_auto_t *s2 = spec_with_source(&e, p);
    refused(&e, s2, e.rootfs, EINVAL, "'.'");
    json_auto_t *s3 = spec_with_source(&e, "etc/hosts");
    refused(&e, s3, e.rootfs, EINVAL, "not an absolute path");
    /* a symlink that leads outside what was named */
    snprintf(link, sizeof(link), "%s/sneaky", e.base);
    cr_assert_eq(symlink("/etc", link), 0);
    snprintf(p, sizeof(p), "%s/sneaky/passwd", e.base);
    json_auto_t *s4 = spec_with_source(&e, p);
    refused(&e, s4, e.rootfs, EINVAL, "resolves to '/etc/passwd'");
    /* the rootfs too */
    json_auto_t *s5 = spec_with_binds(&e);
    refused(&e, s5, link, EINVAL, "resolves to '/etc'");
    snprintf(p, sizeof(p), "%s/rootfs/..", e.base);
    refused(&e, s5, p, EINVAL, "'..'");
    /* a source that does not exist */
    snprintf(p, sizeof(p), "%s/nowhere", e.base);
    json_auto_t *s6 = spec_with_source(&e, p);
    refused(&e, s6, e.rootfs, ENOENT, "nowhere");
    /* a bad id */
    json_auto_t *s7 = spec_with_binds(&e);
    wp_error_t err = {0};
    cr_assert_eq(agent_share_prepare(e.share, "../x", e.rootfs, s7, &err), -1);
    cr_assert_eq(err.code, EINVAL, "%s", err.msg);
    env_close(&e);
}

Test(agent_share, clear_unbinds_every_container_and_rm_tree_never_crosses_a_mount)
{
    env_t e;
    env_open(&e);
    wp_error_t err = {0};
    cr_assert_eq(agent_share_bind_rootfs(e.share, "a", e.rootfs, &err), 0, "%s", err.msg);
    json_auto_t *spec = spec_with_binds(&e);
    cr_assert_eq(agent_share_prepare(e.share, "b", e.rootfs, spec, &err), 0, "%s", err.msg);
    /* a VM's directory removed with a bind still in it: refused, data kept */
    cr_assert_eq(wp_rm_tree(e.share, &err), -1);
    cr_assert_eq(err.code, EBUSY, "%s", err.msg);
    char p[192];
    snprintf(p, sizeof(p), "%s/etc-marker", e.rootfs);
    cr_assert_eq(access(p, F_OK), 0, "the rootfs was not emptied");
    snprintf(p, sizeof(p), "%s/data", e.vol);
    cr_assert_eq(access(p, F_OK), 0, "the volume was not emptied");
    /* what the factory does before destroying a VM */
    cr_assert_eq(agent_share_clear(e.share, &err), 0, "%s", err.msg);
    cr_assert_not(exists("%s/%s", &e, "a"));
    cr_assert_not(exists("%s/%s", &e, "b"));
    cr_assert_eq(wp_rm_tree(e.share, &err), 0, "%s", err.msg);
    snprintf(p, sizeof(p), "%s/etc-marker", e.rootfs);
    cr_assert_eq(access(p, F_OK), 0);
    cr_assert_eq(agent_share_clear(e.share, &err), 0, "a missing share is clear");
    env_close(&e);
}

Test(agent_share, check_path_normalises_and_resolves)
{
    char out[PATH_MAX];
    wp_error_t err = {0};
    cr_assert_eq(agent_share_check_path("x", "//tmp///", out, &err), 0, "%s", err.msg);
    cr_assert_str_eq(out, "/tmp");
    cr_assert_eq(agent_share_check_path("x", "/", out, &err), 0, "%s", err.msg);
    cr_assert_str_eq(out, "/");
    cr_assert_eq(agent_share_check_path("x", "/tmp/..", out, &err), -1);
    cr_assert_eq(err.code, EINVAL);
}

Test(agent_share, ids_follow_the_protocol)
{
    cr_assert(agent_share_valid_id("abc-1_2.3"));
    cr_assert_not(agent_share_valid_id(""));
    cr_assert_not(agent_share_valid_id("."));
    cr_assert_not(agent_share_valid_id(".."));
    cr_assert_not(agent_share_valid_id("a/b"));
    cr_assert_not(agent_share_valid_id("a b"));
    char long_id[AGENT_ID_MAX + 2];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[AGENT_ID_MAX + 1] = '\0';
    cr_assert_not(agent_share_valid_id(long_id));
    long_id[AGENT_ID_MAX] = '\0';
    cr_assert(agent_share_valid_id(long_id));
}

static bool has_string(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (strcmp(json_string_value(v), s) == 0) return true;
    return false;
}

Test(agent_spec, the_default_is_crun_specs_without_a_network_namespace)
{
    char *args[] = {"echo", "a b"};
    char *env[] = {"FOO=bar", NULL};
    wp_error_t err = {0};
    json_auto_t *spec = agent_spec_default(2, args, env, true, "box", &err);
    cr_assert_not_null(spec, "%s", err.msg);
    json_t *proc = json_object_get(spec, "process");
    cr_assert(json_is_true(json_object_get(proc, "terminal")));
    cr_assert_str_eq(json_string_value(json_object_get(proc, "cwd")), "/");
    json_t *a = json_object_get(proc, "args");
    cr_assert_eq(json_array_size(a), 2);
    cr_assert_str_eq(json_string_value(json_array_get(a, 1)), "a b");
    json_t *e = json_object_get(proc, "env");
    cr_assert_str_eq(json_string_value(json_array_get(e, 0)), AGENT_SPEC_PATH);
    cr_assert(has_string(e, "TERM=xterm"));
    cr_assert(has_string(e, "FOO=bar"));
    cr_assert_str_eq(json_string_value(json_object_get(spec, "hostname")), "box");
    json_t *caps = json_object_get(proc, "capabilities");
    cr_assert(has_string(json_object_get(caps, "bounding"), "CAP_KILL"));
    cr_assert_eq(json_array_size(json_object_get(caps, "bounding")), 3);
    json_t *rl = json_array_get(json_object_get(proc, "rlimits"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(rl, "type")), "RLIMIT_NOFILE");
    cr_assert(json_is_false(json_object_get(json_object_get(spec, "root"), "readonly")));
    json_t *ns = json_object_get(json_object_get(spec, "linux"), "namespaces");
    const char *want_ns[] = {"pid", "ipc", "uts", "mount"};
    cr_assert_eq(json_array_size(ns), 4);
    for (size_t i = 0; i < 4; i++)
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ns, i), "type")),
                         want_ns[i]);
    const char *want_mounts[] = {"/proc",       "/dev", "/dev/pts",      "/dev/shm",
                                 "/dev/mqueue", "/sys", "/sys/fs/cgroup"};
    json_t *mounts = json_object_get(spec, "mounts");
    cr_assert_eq(json_array_size(mounts), 7);
    for (size_t i = 0; i < 7; i++)
        cr_assert_str_eq(
            json_string_value(json_object_get(json_array_get(mounts, i), "destination")),
            want_mounts[i]);
    /* without a terminal: no TERM */
    json_auto_t *plain = agent_spec_default(1, args, NULL, false, NULL, &err);
    cr_assert_not(
        has_string(json_object_get(json_object_get(plain, "process"), "env"), "TERM=xterm"));
    cr_assert(json_is_false(json_object_get(json_object_get(plain, "process"), "terminal")));
    /* refusals */
    cr_assert_null(agent_spec_default(0, args, NULL, false, NULL, &err));
    cr_assert_eq(err.code, EINVAL);
    char *bad_env[] = {"NOEQUALS", NULL};
    cr_assert_null(agent_spec_default(1, args, bad_env, false, NULL, &err));
    cr_assert_eq(err.code, EINVAL);
}
