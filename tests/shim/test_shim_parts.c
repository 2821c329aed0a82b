/* test_shim_parts.c - the shim's pieces that need neither containerd nor
 * a VM: its flags, its configuration file, what each process state takes,
 * the socket path, the cleanup record, and the rootfs mounts (overlay and
 * bind, stacked and lifted again). */
#include <criterion/criterion.h>
#include <errno.h>     /* ENOENT */
#include <stdio.h>     /* fopen */
#include <stdlib.h>    /* setenv */
#include <string.h>    /* strstr */
#include <sys/mount.h> /* umount2 */
#include <sys/stat.h>  /* mkdir */
#include <unistd.h>    /* access */

#include "shim.h"
#include "shim_cmd.h"
#include "shim_options.h"
#include "shim_rootfs.h"
#include "wp_fs.h"

#define ARGS(...)  ((char *[]){"shim", __VA_ARGS__, NULL})
#define NARGS(...) ((int)(sizeof((char *[]){"shim", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(a, why, ...)                                                                         \
    shim_args_parse(NARGS(__VA_ARGS__), ARGS(__VA_ARGS__), a, why, sizeof(why))

Test(shim_args, go_style_flags_as_containerd_passes_them)
{
    shim_args_t a;
    char why[256] = "";
    cr_assert_eq(PARSE(&a, why, "-namespace", "k8s.io", "-address", "/run/c.sock",
                       "-publish-binary", "/usr/bin/containerd", "-id", "abc", "-debug", "start"),
                 0, "%s", why);
    cr_assert_str_eq(a.ns, "k8s.io");
    cr_assert_str_eq(a.address, "/run/c.sock");
    cr_assert_str_eq(a.id, "abc");
    cr_assert(a.debug);
    cr_assert_str_eq(a.command, "start");
    cr_assert_eq(PARSE(&a, why, "--id=x", "-bundle=/b", "delete"), 0, "%s", why);
    cr_assert_str_eq(a.id, "x");
    cr_assert_str_eq(a.bundle, "/b");
    cr_assert_str_eq(a.ns, "default");
    cr_assert_not(a.debug);
}

Test(shim_args, usage_errors_say_what_is_wrong)
{
    shim_args_t a;
    char why[256] = "";
    cr_assert_eq(PARSE(&a, why, "-id", "x"), -1);
    cr_assert(strstr(why, "no command") != NULL, "%s", why);
    cr_assert_eq(PARSE(&a, why, "-id", "x", "serve"), -1);
    cr_assert(strstr(why, "unknown command 'serve'") != NULL, "%s", why);
    cr_assert_eq(PARSE(&a, why, "-idd", "x", "start"), -1);
    cr_assert(strstr(why, "unknown flag '-idd'") != NULL, "%s", why);
    cr_assert_eq(PARSE(&a, why, "start", "-id"), -1);
    cr_assert(strstr(why, "-id needs a value") != NULL, "%s", why);
    cr_assert_eq(PARSE(&a, why, "start"), -1);
    cr_assert(strstr(why, "-id is required") != NULL, "%s", why);
}

static char cfg_dir[] = "/tmp/wp-shim-cfg-XXXXXX";

static int load_text(const char *text, shim_config_t *cfg, wp_error_t *err)
{
    cr_assert_not_null(mkdtemp(cfg_dir));
    char path[600];
    snprintf(path, sizeof(path), "%s/shim.json", cfg_dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    setenv(SHIM_CONFIG_ENV, path, 1);
    int ret = shim_config_load(cfg, err);
    unlink(path);
    rmdir(cfg_dir);
    memcpy(cfg_dir, "/tmp/wp-shim-cfg-XXXXXX", sizeof(cfg_dir));
    return ret;
}

Test(shim_config, the_file_sets_what_it_names_and_refuses_what_it_does_not_know)
{
    shim_config_t cfg;
    wp_error_t err = {0};
    cr_assert_eq(load_text("{\"template\": \"small\", \"acquire_timeout_s\": 9}", &cfg, &err), 0,
                 "%s", err.msg);
    cr_assert_str_eq(cfg.template_name, "small");
    cr_assert_eq(cfg.acquire_timeout_s, 9);
    cr_assert_str_eq(cfg.socket_dir, SHIM_DEFAULT_SOCKET_DIR);
    cr_assert_str_eq(cfg.pool_socket, "", "empty: the API client's default");

    cr_assert_eq(load_text("{\"templte\": \"small\"}", &cfg, &err), -1);
    cr_assert(strstr(err.msg, "unknown key 'templte'") != NULL, "%s", err.msg);
    cr_assert_eq(load_text("{\"acquire_timeout_s\": 0}", &cfg, &err), -1);
    cr_assert(strstr(err.msg, "acquire_timeout_s") != NULL, "%s", err.msg);
    cr_assert_eq(load_text("{\"template\": 3}", &cfg, &err), -1);
    cr_assert(strstr(err.msg, "'template' must be a non-empty string") != NULL, "%s", err.msg);
    cr_assert_eq(load_text("{nope", &cfg, &err), -1);
    cr_assert_eq(err.code, EINVAL);
    setenv(SHIM_CONFIG_ENV, "/nonexistent/shim.json", 1);
    cr_assert_eq(shim_config_load(&cfg, &err), -1, "a named file that is missing is an error");
    unsetenv(SHIM_CONFIG_ENV);
}

/* runtimeoptions.v1.Options packed: type_url 1 and config_path 2, strings */
static size_t pack_options(uint8_t *buf, const char *path)
{
    size_t n = 0, len = strlen(path);
    buf[n++] = 0x12; /* field 2, length-delimited */
    buf[n++] = (uint8_t)len;
    memcpy(buf + n, path, len);
    return n + len;
}

Test(shim_options, config_path_from_runtimeoptions_and_nothing_from_other_types)
{
    uint8_t buf[128];
    char path[256] = "unchanged";
    wp_error_t err = {0};
    Containerd__Task__V2__Any any = CONTAINERD__TASK__V2__ANY__INIT;
    cr_assert_eq(shim_options_config_path(NULL, path, sizeof(path), &err), 0);
    any.type_url = "containerd.runc.v1.Options"; /* runc's: not ours to read */
    any.value.data = buf;
    any.value.len = pack_options(buf, "/etc/warmpool/shim-big.json");
    cr_assert_eq(shim_options_config_path(&any, path, sizeof(path), &err), 0);
    cr_assert_str_eq(path, "unchanged");
    any.type_url = "runtimeoptions.v1.Options";
    cr_assert_eq(shim_options_config_path(&any, path, sizeof(path), &err), 1, "%s", err.msg);
    cr_assert_str_eq(path, "/etc/warmpool/shim-big.json");
    any.type_url = "type.googleapis.com/runtimeoptions.v1.Options";
    cr_assert_eq(shim_options_config_path(&any, path, sizeof(path), &err), 1, "%s", err.msg);
    any.value.len = 0; /* no ConfigPath: the default configuration */
    cr_assert_eq(shim_options_config_path(&any, path, sizeof(path), &err), 0);

    any.value.len = pack_options(buf, "shim.json");
    cr_assert_eq(shim_options_config_path(&any, path, sizeof(path), &err), -1);
    cr_assert(strstr(err.msg, "not absolute") != NULL, "%s", err.msg);
    any.value.len = pack_options(buf, "/etc/warmpool/shim-big.json");
    char small[8];
    cr_assert_eq(shim_options_config_path(&any, small, sizeof(small), &err), -1);
    cr_assert_eq(err.code, ENAMETOOLONG);
    buf[1] = 100; /* a length past the end */
    cr_assert_eq(shim_options_config_path(&any, path, sizeof(path), &err), -1);
    cr_assert(strstr(err.msg, "do not decode") != NULL, "%s", err.msg);
}

Test(shim_config, a_named_file_loads_over_the_defaults_and_must_exist)
{
    char dir[] = "/tmp/wp-shim-cfg-XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/big.json", dir);
    wp_error_t err = {0};
    cr_assert_eq(wp_write_file_atomic(path, "{\"template\": \"big\"}", 19, 0600, &err), 0);
    shim_config_t cfg;
    cr_assert_eq(shim_config_load_file(&cfg, path, &err), 0, "%s", err.msg);
    cr_assert_str_eq(cfg.template_name, "big");
    cr_assert_eq(cfg.acquire_timeout_s, 300, "the rest are the defaults");
    unlink(path);
    rmdir(dir);
    cr_assert_eq(shim_config_load_file(&cfg, path, &err), -1);
    cr_assert(strstr(err.msg, path) != NULL, "the error names the file: %s", err.msg);
}

Test(shim_state, each_state_takes_only_its_operations)
{
    shim_task_t t = {.id = "web"};
    shim_proc_t p = {.task = &t};
    wp_error_t err = {0};
    p.status = SHIM_CREATED;
    cr_assert_eq(shim_proc_check(&p, SHIM_OP_START, &err), 0);
    cr_assert_eq(shim_proc_check(&p, SHIM_OP_DELETE, &err), 0);
    cr_assert_eq(shim_proc_check(&p, SHIM_OP_PAUSE, &err), -1);
    p.status = SHIM_RUNNING;
    cr_assert_eq(shim_proc_check(&p, SHIM_OP_START, &err), -1, "start twice");
    cr_assert_eq(err.code, EBUSY);
    cr_assert(strstr(err.msg, "task web is running: cannot start it") != NULL, "%s", err.msg);
    cr_assert_eq(shim_proc_check(&p, SHIM_OP_DELETE, &err), -1, "delete while running");
    cr_assert_eq(shim_proc_check(&p, SHIM_OP_EXEC, &err), 0);
    p.status = SHIM_PAUSED;
    cr_assert_eq(shim_proc_check(&p, SHIM_OP_RESUME, &err), 0);
    cr_assert_eq(shim_proc_check(&p, SHIM_OP_EXEC, &err), -1);
    p.status = SHIM_STOPPED;
    cr_assert_eq(shim_proc_check(&p, SHIM_OP_KILL, &err), -1);
    cr_assert_eq(err.code, ENOENT, "a finished process is NOT_FOUND to containerd");
    cr_assert(strstr(err.msg, "already finished") != NULL, "%s", err.msg);
    cr_assert_eq(ttrpc_code_from_errno(err.code), TTRPC_NOT_FOUND);
    cr_assert_eq(shim_proc_check(&p, SHIM_OP_DELETE, &err), 0);
    snprintf(p.exec_id, sizeof(p.exec_id), "e1");
    p.status = SHIM_RUNNING;
    cr_assert_eq(shim_proc_check(&p, SHIM_OP_START, &err), -1);
    cr_assert(strstr(err.msg, "exec e1 is running") != NULL, "%s", err.msg);
}

Test(shim_state, processes_are_found_by_task_and_exec)
{
    shim_t s = {0};
    shim_task_t *t = calloc(1, sizeof(*t));
    snprintf(t->id, sizeof(t->id), "web");
    s.tasks = t;
    wp_error_t err = {0};
    cr_assert_not_null(shim_proc_add(t, "", false, "", "/o", "", &err));
    cr_assert_not_null(shim_proc_add(t, "e1", true, "/i", "/o2", "", &err));
    cr_assert_not_null(shim_proc_find(&s, "web", NULL, &err));
    shim_proc_t *e = shim_proc_find(&s, "web", "e1", &err);
    cr_assert_not_null(e);
    cr_assert(e->terminal);
    cr_assert_str_eq(e->stdin_path, "/i");
    cr_assert_null(shim_proc_find(&s, "web", "e2", &err));
    cr_assert(strstr(err.msg, "exec e2 of task web not found") != NULL, "%s", err.msg);
    cr_assert_null(shim_proc_find(&s, "db", NULL, &err));
    cr_assert_eq(err.code, ENOENT);
    shim_proc_remove(e);
    cr_assert_null(shim_proc_find(&s, "web", "e1", &err));
    shim_task_free(&s, t);
    cr_assert_null(s.tasks);
}

Test(shim_start, the_socket_path_is_per_address_namespace_and_sandbox)
{
    shim_config_t cfg = {.socket_dir = "/run/containerd/s"};
    char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
    wp_error_t err = {0};
    cr_assert_eq(
        shim_socket_path(&cfg, "/run/containerd/containerd.sock", "k8s.io", "pod1", a, &err), 0);
    cr_assert_eq(
        shim_socket_path(&cfg, "/run/containerd/containerd.sock", "default", "pod1", b, &err), 0);
    cr_assert_eq(
        shim_socket_path(&cfg, "/run/containerd/containerd.sock", "k8s.io", "pod1", c, &err), 0);
    cr_assert_str_neq(a, b);
    cr_assert_str_eq(a, c, "the same sandbox always finds the same shim");
    cr_assert_eq(strlen(a), strlen("/run/containerd/s/") + 64);
    snprintf(cfg.socket_dir, sizeof(cfg.socket_dir), "/%0100d", 0);
    cr_assert_eq(shim_socket_path(&cfg, "x", "y", "z", a, &err), -1, "over sun_path");
    cr_assert_eq(err.code, ENAMETOOLONG);
}

Test(shim_vm, the_record_round_trips_and_is_private)
{
    char dir[] = "/tmp/wp-shim-rec-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    shim_record_t r = {.shim_pid = 4242}, back;
    snprintf(r.shared_dir, sizeof(r.shared_dir), "/run/warmpool/vms/x/shared");
    snprintf(r.vm_id, sizeof(r.vm_id), "wp-small-1");
    snprintf(r.token, sizeof(r.token), "00ff");
    r.own_vm = true;
    snprintf(r.config_path, sizeof(r.config_path), "/etc/warmpool/shim-big.json");
    wp_error_t err = {0};
    cr_assert_eq(shim_record_read(dir, &back, &err), 0, "none yet");
    cr_assert_eq(shim_record_write(dir, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(shim_record_read(dir, &back, &err), 1, "%s", err.msg);
    cr_assert_str_eq(back.token, "00ff");
    cr_assert_str_eq(back.shared_dir, r.shared_dir);
    cr_assert_eq(back.shim_pid, 4242);
    cr_assert(back.own_vm);
    cr_assert_str_eq(back.config_path, "/etc/warmpool/shim-big.json");
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, SHIM_RECORD_NAME);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 077, 0, "the token is readable by root only");
    FILE *f = fopen(path, "w");
    fputs("{\"shared_dir\": 1}", f);
    fclose(f);
    cr_assert_eq(shim_record_read(dir, &back, &err), -1, "a damaged record is an error");
    cr_assert(strstr(err.msg, "not a warmpool shim record") != NULL, "%s", err.msg);
    cr_assert_eq(shim_record_remove(dir, &err), 0);
    cr_assert_eq(shim_record_remove(dir, &err), 0, "idempotent");
    shim_config_t cfg = {0};
    cr_assert_eq(shim_vm_reap(dir, "web", &cfg, &err), 0, "no record: nothing to reap");
    rmdir(dir);
}

static void write_marker(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

Test(shim_rootfs, overlay_and_bind_mounts_stack_and_come_off)
{
    if (geteuid() != 0)
        cr_skip_test("mounts need root");
    char dir[] = "/tmp/wp-shim-rootfs-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char lower[600], upper[600], work[600], target[600], opt_lower[700], opt_upper[700],
        opt_work[700];
    snprintf(lower, sizeof(lower), "%s/lower", dir);
    snprintf(upper, sizeof(upper), "%s/upper", dir);
    snprintf(work, sizeof(work), "%s/work", dir);
    snprintf(target, sizeof(target), "%s/rootfs", dir);
    for (const char *d = lower; d; d = d == lower   ? upper
                                       : d == upper ? work
                                       : d == work  ? target
                                                    : NULL)
        cr_assert_eq(mkdir(d, 0755), 0);
    write_marker(lower, "from-lower", "l");
    snprintf(opt_lower, sizeof(opt_lower), "lowerdir=%s", lower);
    snprintf(opt_upper, sizeof(opt_upper), "upperdir=%s", upper);
    snprintf(opt_work, sizeof(opt_work), "workdir=%s", work);
    char *opts[] = {opt_work, opt_upper, opt_lower, "index=off"};
    shim_mount_t m = {"overlay", "overlay", opts, 4};
    wp_error_t err = {0};
    cr_assert_eq(shim_rootfs_mount(&m, 1, target, &err), 0, "%s", err.msg);
    char path[700];
    snprintf(path, sizeof(path), "%s/from-lower", target);
    cr_assert_eq(access(path, F_OK), 0, "the lower layer shows");
    write_marker(target, "written", "w");
    snprintf(path, sizeof(path), "%s/written", upper);
    cr_assert_eq(access(path, F_OK), 0, "writes go to the upper layer");
    cr_assert_eq(shim_rootfs_unmount(target, &err), 0, "%s", err.msg);
    snprintf(path, sizeof(path), "%s/from-lower", target);
    cr_assert_eq(access(path, F_OK), -1, "unmounted");

    char *ro[] = {"rbind", "ro"};
    shim_mount_t b = {"bind", lower, ro, 2};
    cr_assert_eq(shim_rootfs_mount(&b, 1, target, &err), 0, "%s", err.msg);
    snprintf(path, sizeof(path), "%s/new", target);
    cr_assert_null(fopen(path, "w"), "a read-only bind");
    cr_assert_eq(errno, EROFS);
    cr_assert_eq(shim_rootfs_unmount(target, &err), 0, "%s", err.msg);
    cr_assert_eq(shim_rootfs_unmount(target, &err), 0, "nothing mounted is success");

    char *bad[] = {"lowerdir=/nonexistent-layer"};
    shim_mount_t o = {"overlay", "overlay", bad, 1};
    cr_assert_eq(shim_rootfs_mount(&o, 1, target, &err), -1);
    cr_assert(strstr(err.msg, "mount overlay") != NULL, "%s", err.msg);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
