/* test_container_vm.c - containers in clones of a real template (QEMU TCG,
 * and through libvirt as the _libvirt variant): Debian's crun in the guest,
 * the busybox test rootfs bound into the VM's 9p share, stdio as credited
 * streams. Output and exit codes, stdin byte-exact, a flood that neither
 * starves pings nor grows the agent, exec, signals, a pty and its size,
 * OOM, stats, two containers at once, and delete leaving no mount on the
 * host and no process in the guest. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_client_containers.h"
#include "agent_share.h"
#include "agent_spec.h"
#include "vm_helpers.h"
#include "wp_fs.h"
#include "wp_time.h"

#define CALL_MS 30000

TestSuite(container_vm, .init = vm_env_setup, .fini = vm_env_teardown, .timeout = 600);

/* What one process wrote, and how it ended. */
typedef struct capture {
    char *out, *err; /* NUL-terminated; malloc'd */
    size_t out_len, err_len;
    size_t out_cap_keep; /* keep at most this much of stdout (0: all) */
    uint64_t out_total;  /* every byte seen on stdout */
    uint32_t out_stream, err_stream;
    bool out_eof, err_eof;
    bool exited; /* ProcessExited seen */
    bool exit_after_eof;
    uint64_t ooms;
} capture_t;

static void append(char **buf, size_t *len, const uint8_t *data, size_t n)
{
    *buf = realloc(*buf, *len + n + 1);
    cr_assert_not_null(*buf);
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static int sink(void *opaque, uint32_t stream, const uint8_t *data, size_t len, bool eof,
                wp_error_t *err)
{
    (void)err;
    capture_t *c = opaque;
    if (stream == c->out_stream) {
        c->out_total += len;
        size_t keep = len;
        if (c->out_cap_keep && c->out_len + keep > c->out_cap_keep)
            keep = c->out_cap_keep > c->out_len ? c->out_cap_keep - c->out_len : 0;
        if (keep)
            append(&c->out, &c->out_len, data, keep);
        c->out_eof |= eof;
    } else if (stream == c->err_stream) {
        append(&c->err, &c->err_len, data, len);
        c->err_eof |= eof;
    }
    return 0;
}

static void on_event(void *opaque, const Warmpool__Agent__V1__Event *ev)
{
    capture_t *c = opaque;
    if (ev->event_case == WARMPOOL__AGENT__V1__EVENT__EVENT_PROCESS_EXITED) {
        c->exited = true;
        c->exit_after_eof =
            (c->out_stream == 0 || c->out_eof) && (c->err_stream == 0 || c->err_eof);
    } else if (ev->event_case == WARMPOOL__AGENT__V1__EVENT__EVENT_CONTAINER_OOM) {
        c->ooms = ev->container_oom->oom_kills;
    }
}

static void capture_free(capture_t *c)
{
    free(c->out);
    free(c->err);
    memset(c, 0, sizeof(*c));
}

/* Bind rootfs (NULL: the test rootfs) under the VM's share and build a
 * spec for argv. */
static json_t *prepare_at(factory_vm_t *vm, const char *id, char *const argv[], bool terminal,
                          const char *rootfs_dir)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    wp_error_t err = {0};
    json_t *spec = agent_spec_default(argc, argv, NULL, terminal, NULL, &err);
    cr_assert_not_null(spec, "%s", err.msg);
    char rootfs[1024];
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", getenv("WP_GUEST_DIR"));
    if (rootfs_dir != NULL)
        snprintf(rootfs, sizeof(rootfs), "%s", rootfs_dir);
    char real[PATH_MAX];
    cr_assert_not_null(realpath(rootfs, real), "no test rootfs at '%s'", rootfs);
    cr_assert_eq(agent_share_prepare(vm->share_dir, id, real, spec, &err), 0, "%s", err.msg);
    return spec;
}

static json_t *prepare(factory_vm_t *vm, const char *id, char *const argv[], bool terminal)
{
    return prepare_at(vm, id, argv, terminal, NULL);
}

/* Create the container (not started), streams captured into c. */
static void create(factory_vm_t *vm, const char *id, json_t *spec, bool terminal, bool want_stdin,
                   capture_t *c, agent_process_t *p)
{
    char *text = json_dumps(spec, JSON_COMPACT);
    wp_error_t err = {0};
    agent_client_on_event(vm->agent, on_event, c);
    cr_assert_eq(agent_client_create(vm->agent, id, text, terminal, want_stdin, p, CALL_MS, &err),
                 0, "%s", err.msg);
    free(text);
    c->out_stream = p->stdout_stream;
    c->err_stream = p->stderr_stream;
    if (p->stdout_stream)
        cr_assert_eq(agent_client_stream_sink(vm->agent, p->stdout_stream, sink, c, &err), 0);
    if (p->stderr_stream)
        cr_assert_eq(agent_client_stream_sink(vm->agent, p->stderr_stream, sink, c, &err), 0);
}

/* Delete the container and its files; assert nothing of it is left. */
static void delete_checked(factory_vm_t *vm, const char *id)
{
    wp_error_t err = {0};
    cr_assert_eq(agent_client_delete_container(vm->agent, id, true, NULL, CALL_MS, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(agent_share_remove(vm->share_dir, id, &err), 0, "%s", err.msg);
    char dir[PATH_MAX + 80];
    snprintf(dir, sizeof(dir), "%s/%s", vm->share_dir, id);
    FILE *m = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    while (fgets(line, sizeof(line), m) != NULL)
        cr_assert(strstr(line, dir) == NULL, "a mount is left: %s", line);
    fclose(m);
    agent_state_t st;
    cr_assert_eq(agent_client_state(vm->agent, id, &st, CALL_MS, &err), -1);
    cr_assert_eq(err.code, ENOENT, "deleted: %d %s", err.code, err.msg);
}

/* Run argv to its end with stdin (len bytes, NULL: none); returns the exit. */
static agent_exit_t run(factory_vm_t *vm, const char *id, char *const argv[], const void *in,
                        size_t len, capture_t *c)
{
    json_t *spec = prepare(vm, id, argv, false);
    agent_process_t p;
    create(vm, id, spec, false, in != NULL, c, &p);
    json_decref(spec);
    wp_error_t err = {0};
    uint32_t wait_call;
    cr_assert_eq(agent_client_wait_send(vm->agent, id, NULL, &wait_call, &err), 0, "%s", err.msg);
    cr_assert_eq(agent_client_start(vm->agent, id, NULL, CALL_MS, &err), 0, "%s", err.msg);
    if (in != NULL) {
        cr_assert_eq(agent_client_stdin_write_all(vm->agent, p.stdin_stream, in, len, 120000, &err),
                     0, "%s", err.msg);
        cr_assert_eq(agent_client_stdin_eof(vm->agent, p.stdin_stream, &err), 0, "%s", err.msg);
    }
    agent_exit_t ex;
    int r;
    int64_t deadline = wp_now_mono_ns() + 300ll * 1000000000;
    while ((r = agent_client_wait_collect(vm->agent, wait_call, &ex, &err)) == 0) {
        cr_assert_lt(wp_now_mono_ns(), deadline, "the process did not end");
        cr_assert_eq(agent_client_pump(vm->agent, 1000, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(r, 1, "%s", err.msg);
    /* the exit event may follow the wait's answer on the wire: take it */
    for (int i = 0; i < 50 && !c->exited; i++)
        agent_client_pump(vm->agent, 100, &err);
    cr_assert(c->exited, "a ProcessExited event");
    cr_assert(c->exit_after_eof, "every output stream ended before the exit event");
    return ex;
}

Test(container_vm, echo_exit_codes_and_delete_leave_nothing)
{
    factory_vm_t *vm = vm_clone(NULL);
    capture_t c = {0};
    agent_exit_t ex =
        run(vm, "echo", (char *[]){"/bin/echo", "hello", "from", "crun", NULL}, NULL, 0, &c);
    cr_assert_eq(ex.exit_status, 0);
    cr_assert_str_eq(c.out ? c.out : "", "hello from crun\n");
    delete_checked(vm, "echo");
    capture_free(&c);

    ex = run(vm, "one", (char *[]){"/bin/sh", "-c", "echo oops >&2; exit 1", NULL}, NULL, 0, &c);
    cr_assert_eq(ex.exit_status, 1);
    cr_assert_str_eq(c.err ? c.err : "", "oops\n", "stderr is its own stream");
    delete_checked(vm, "one");
    capture_free(&c);

    /* a namespace's init ignores SIGKILL from inside it: a child dies of
     * it and the shell passes its status on (the init's own death by a
     * signal is in exec_signals_stats_and_two_containers) */
    ex = run(vm, "nine", (char *[]){"/bin/sh", "-c", "sh -c 'kill -9 $$'; exit $?", NULL}, NULL, 0,
             &c);
    cr_assert_eq(ex.exit_status, 137, "128 + SIGKILL: %u", ex.exit_status);
    cr_assert_gt(ex.exited_at_ns, 0);
    delete_checked(vm, "nine");
    capture_free(&c);
    vm_destroy_checked(vm);
}

/* The WarmUp call leaves nothing (a container of the same id-space still
 * works) and crun's fixed layout does not reach the container: its
 * processes run with ASLR (personality 0, not ADDR_NO_RANDOMIZE 0040000). */
Test(container_vm, warm_up_then_containers_keep_their_aslr)
{
    factory_vm_t *vm = vm_clone(NULL);
    wp_error_t err = {0};
    uint64_t ns = 0;
    cr_assert_eq(agent_client_warm_up(vm->agent, &ns, 60000, &err), 0, "%s", err.msg);
    cr_assert_gt(ns, 0);
    capture_t c = {0};
    agent_exit_t ex = run(vm, "persona",
                          (char *[]){"/bin/sh", "-c",
                                     "cat /proc/self/personality; cat /proc/sys/kernel/"
                                     "randomize_va_space",
                                     NULL},
                          NULL, 0, &c);
    cr_assert_eq(ex.exit_status, 0, "%s", c.err ? c.err : "");
    cr_assert_str_eq(c.out ? c.out : "", "00000000\n2\n");
    delete_checked(vm, "persona");
    capture_free(&c);
    vm_destroy_checked(vm);
}

Test(container_vm, stdin_through_cat_is_byte_exact)
{
    factory_vm_t *vm = vm_clone(NULL);
    size_t len = 8u << 20;
    uint8_t *in = malloc(len);
    for (size_t off = 0; off < len;)
        off += (size_t)getrandom(in + off, len - off, 0);
    capture_t c = {0};
    agent_exit_t ex = run(vm, "cat", (char *[]){"/bin/cat", NULL}, in, len, &c);
    cr_assert_eq(ex.exit_status, 0);
    cr_assert_eq(c.out_len, len, "got %zu of %zu bytes", c.out_len, len);
    cr_assert_eq(memcmp(c.out, in, len), 0, "byte-exact");
    free(in);
    delete_checked(vm, "cat");
    capture_free(&c);
    vm_destroy_checked(vm);
}

/* Run a shell command in a container of rootfs_dir (NULL: the test
 * rootfs), in the guest's pid namespace when guest_pid_ns (the agent is
 * pid 1 there, every guest process visible), and delete it; returns its
 * stdout and stderr (malloc'd). */
static char *sh_in_container(factory_vm_t *vm, const char *id, const char *rootfs_dir,
                             bool guest_pid_ns, const char *cmd)
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    json_t *spec = prepare_at(vm, id, argv, false, rootfs_dir);
    json_t *ns = json_object_get(json_object_get(spec, "linux"), "namespaces");
    for (size_t i = 0; guest_pid_ns && i < json_array_size(ns); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(ns, i), "type")), "pid") == 0)
            json_array_remove(ns, i--);
    capture_t c = {0};
    agent_process_t p;
    create(vm, id, spec, false, false, &c, &p);
    json_decref(spec);
    wp_error_t err = {0};
    cr_assert_eq(agent_client_start(vm->agent, id, NULL, CALL_MS, &err), 0, "%s", err.msg);
    agent_exit_t ex;
    cr_assert_eq(agent_client_wait_process(vm->agent, id, NULL, &ex, CALL_MS, &err), 0, "%s",
                 err.msg);
    for (int i = 0; i < 50 && !(c.out_eof && c.err_eof); i++)
        agent_client_pump(vm->agent, 100, &err);
    char *out = NULL;
    cr_assert_geq(asprintf(&out, "%s%s", c.out ? c.out : "", c.err ? c.err : ""), 0);
    delete_checked(vm, id);
    capture_free(&c);
    return out;
}

static char *in_guest_ns(factory_vm_t *vm, const char *id, const char *cmd)
{
    return sh_in_container(vm, id, NULL, true, cmd);
}

/* The share is the guest's whole view of the host. A container's symlinks
 * to host paths (absolute, or climbing with ..) resolve inside the guest,
 * links the guest plants in the share stay links on the host (never
 * followed by QEMU's 9p server, nor by the host's cleanup), and a later
 * spec naming such a link as a bind source is refused on the host. */
static void escape_attempts(factory_vm_t *vm)
{
    char tmp[] = "/tmp/wp-escape-XXXXXX";
    cr_assert_not_null(mkdtemp(tmp));
    char secret_dir[600], secret[700], rootfs[600], cmd[4096], link[800];
    snprintf(secret_dir, sizeof(secret_dir), "%s/host-only", tmp);
    snprintf(secret, sizeof(secret), "%s/secret", secret_dir);
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
    cr_assert_eq(mkdir(secret_dir, 0700), 0);
    FILE *f = fopen(secret, "w");
    cr_assert_not_null(f);
    fputs("TOKEN-7d1f0c\n", f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "cp -a '%s/rootfs' '%s'", getenv("WP_GUEST_DIR"), rootfs);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(link, sizeof(link), "%s/abs", rootfs);
    cr_assert_eq(symlink(secret, link), 0);
    char climb[700];
    snprintf(climb, sizeof(climb), "../../../../../../../../..%s", secret);
    snprintf(link, sizeof(link), "%s/rel", rootfs);
    cr_assert_eq(symlink(climb, link), 0);

    snprintf(cmd, sizeof(cmd),
             "cat /abs /rel /../../../../..%s %s/../host-only/secret; ls -a /..; "
             "ln -s %s /planted && ln -s %s /planted-dir && echo planted",
             secret, rootfs, secret, secret_dir);
    char *out = sh_in_container(vm, "escape", rootfs, false, cmd);
    cr_assert(strstr(out, "TOKEN") == NULL, "the host file was read from the guest: %s", out);
    cr_assert(strstr(out, "planted") != NULL, "the guest could not write its rootfs: %s", out);
    cr_assert(strstr(out, "No such file") != NULL, "the paths resolve in the guest: %s", out);
    free(out);

    /* the guest's links are links on the host, and the cleanup kept off them */
    struct stat st;
    snprintf(link, sizeof(link), "%s/planted-dir", rootfs);
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "a guest symlink is a symlink on the host");
    size_t len = 0;
    wp_error_t err = {0};
    char *kept = wp_read_file(secret, 100, &len, &err);
    cr_assert_not_null(kept, "%s", err.msg);
    cr_assert_str_eq(kept, "TOKEN-7d1f0c\n", "the host file is untouched");
    free(kept);

    /* a bind source through the planted link is refused before anything is mounted */
    json_t *spec = agent_spec_default(1, (char *[]){"/bin/true", NULL}, NULL, false, NULL, &err);
    cr_assert_not_null(spec);
    json_t *m = json_pack("{s:s, s:s, s:s, s:[s]}", "destination", "/data", "type", "bind",
                          "source", link, "options", "rbind");
    json_array_append_new(json_object_get(spec, "mounts"), m);
    cr_assert_eq(agent_share_prepare(vm->share_dir, "escape2", rootfs, spec, &err), -1,
                 "a bind through a symlink was accepted");
    json_decref(spec);
    snprintf(link, sizeof(link), "%s/escape2", vm->share_dir);
    cr_assert_eq(access(link, F_OK), -1, "a refused prepare leaves nothing in the share");

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    cr_assert_eq(system(cmd), 0);
}

Test(container_vm, nothing_outside_the_share_can_be_reached_from_the_guest)
{
    factory_vm_t *vm = vm_clone(NULL);
    escape_attempts(vm);
    vm_destroy_checked(vm);
}

static unsigned long agent_rss_kb(factory_vm_t *vm, const char *id)
{
    char *out = in_guest_ns(vm, id, "grep VmRSS /proc/1/status");
    unsigned long kb = 0;
    cr_assert(sscanf(out, "VmRSS: %lu kB", &kb) == 1, "read: %s", out);
    free(out);
    return kb;
}

Test(container_vm, a_stdout_flood_neither_starves_pings_nor_grows_the_agent)
{
    factory_vm_t *vm = vm_clone(NULL);
    unsigned long rss_before = agent_rss_kb(vm, "rss1");
    const unsigned mib = 256;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "head -c %u /dev/zero", mib << 20);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    json_t *spec = prepare(vm, "flood", argv, false);
    capture_t c = {.out_cap_keep = 1};
    agent_process_t p;
    create(vm, "flood", spec, false, false, &c, &p);
    json_decref(spec);
    wp_error_t err = {0};
    uint32_t wait_call;
    cr_assert_eq(agent_client_wait_send(vm->agent, "flood", NULL, &wait_call, &err), 0);
    cr_assert_eq(agent_client_start(vm->agent, "flood", NULL, CALL_MS, &err), 0, "%s", err.msg);
    double worst_ms = 0;
    unsigned pings = 0;
    agent_exit_t ex;
    int64_t t0 = wp_now_mono_ns();
    while (agent_client_wait_collect(vm->agent, wait_call, &ex, &err) == 0) {
        int64_t p0 = wp_now_mono_ns();
        cr_assert_eq(agent_client_ping(vm->agent, CALL_MS, &err), 0, "%s", err.msg);
        double ms = wp_ms_between(p0, wp_now_mono_ns());
        worst_ms = ms > worst_ms ? ms : worst_ms;
        pings++;
        agent_client_pump(vm->agent, 50, &err);
    }
    double s = wp_ms_between(t0, wp_now_mono_ns()) / 1000.0;
    cr_assert_eq(ex.exit_status, 0);
    for (int i = 0; i < 50 && !c.exited; i++)
        agent_client_pump(vm->agent, 100, &err);
    cr_assert(c.exit_after_eof);
    cr_assert_eq(c.out_total, (uint64_t)mib << 20, "every byte arrived: %llu",
                 (unsigned long long)c.out_total);
    delete_checked(vm, "flood");
    capture_free(&c);
    unsigned long rss_after = agent_rss_kb(vm, "rss2");
    /* a bound, not a time: the agent buffers at most a window per stream */
    cr_log_info("flood: %u MiB in %.1f s (%.1f MiB/s), %u pings, slowest %.1f ms; agent RSS "
                "%lu -> %lu kB",
                mib, s, mib / s, pings, worst_ms, rss_before, rss_after);
    fprintf(stderr,
            "container_vm: flood %u MiB in %.1f s, %u pings answered during it (slowest %.1f "
            "ms), agent RSS %lu -> %lu kB\n",
            mib, s, pings, worst_ms, rss_before, rss_after);
    cr_assert_gt(pings, 1, "pings were answered while the flood ran");
    cr_assert_lt(rss_after, rss_before + 4096, "the agent grew by %lu kB over a %u MiB flood",
                 rss_after - rss_before, mib);
    vm_destroy_checked(vm);
}

/* A long-running container for exec, signals, stats. */
static void start_sleeper(factory_vm_t *vm, const char *id, capture_t *c)
{
    json_t *spec = prepare(vm, id, (char *[]){"/bin/sleep", "600", NULL}, false);
    agent_process_t p;
    create(vm, id, spec, false, false, c, &p);
    json_decref(spec);
    wp_error_t err = {0};
    uint32_t pid = 0;
    cr_assert_eq(agent_client_start(vm->agent, id, &pid, CALL_MS, &err), 0, "%s", err.msg);
    cr_assert_gt(pid, 1);
}

Test(container_vm, exec_signals_stats_and_two_containers)
{
    factory_vm_t *vm = vm_clone(NULL);
    capture_t a = {0}, b = {0};
    start_sleeper(vm, "a", &a);
    start_sleeper(vm, "b", &b);
    wp_error_t err = {0};
    agent_state_t st;
    cr_assert_eq(agent_client_state(vm->agent, "a", &st, CALL_MS, &err), 0, "%s", err.msg);
    cr_assert_str_eq(st.status, "running");

    /* exec into a: its output on the exec's own stream */
    capture_t e = {0};
    agent_process_t p;
    const char *proc = "{\"args\": [\"/bin/sh\", \"-c\", \"echo exec in $(hostname); exit 3\"], "
                       "\"env\": [\"PATH=/bin\"], \"cwd\": \"/\", \"user\": {\"uid\": 0, "
                       "\"gid\": 0}}";
    agent_client_on_event(vm->agent, on_event, &e);
    cr_assert_eq(agent_client_exec(vm->agent, "a", "e1", proc, false, false, &p, CALL_MS, &err), 0,
                 "%s", err.msg);
    e.out_stream = p.stdout_stream;
    e.err_stream = p.stderr_stream;
    agent_client_stream_sink(vm->agent, p.stdout_stream, sink, &e, &err);
    agent_client_stream_sink(vm->agent, p.stderr_stream, sink, &e, &err);
    agent_exit_t ex;
    cr_assert_eq(agent_client_wait_process(vm->agent, "a", "e1", &ex, CALL_MS, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(ex.exit_status, 3);
    for (int i = 0; i < 50 && !e.out_eof; i++)
        agent_client_pump(vm->agent, 100, &err);
    cr_assert_str_eq(e.out ? e.out : "", "exec in warmpool\n");
    agent_exit_t again;
    cr_assert_eq(agent_client_wait_process(vm->agent, "a", "e1", &again, CALL_MS, &err), 0,
                 "a wait after the exit answers at once: %s", err.msg);
    cr_assert_eq(again.exit_status, 3);
    capture_free(&e);

    agent_stats_t stats;
    cr_assert_eq(agent_client_stats(vm->agent, "a", &stats, CALL_MS, &err), 0, "%s", err.msg);
    cr_assert_gt(stats.memory_usage_bytes, 0);
    cr_assert_gt(stats.pids_current, 0);
    cr_assert_gt(stats.cpu_usage_usec, 0);
    uint32_t *pids;
    size_t n;
    cr_assert_eq(agent_client_pids(vm->agent, "a", &pids, &n, CALL_MS, &err), 0, "%s", err.msg);
    cr_assert_geq(n, 1);
    free(pids);

    cr_assert_eq(agent_client_pause(vm->agent, "b", CALL_MS, &err), 0, "%s", err.msg);
    cr_assert_eq(agent_client_state(vm->agent, "b", &st, CALL_MS, &err), 0, "%s", err.msg);
    cr_assert_str_eq(st.status, "paused");
    cr_assert_eq(agent_client_resume(vm->agent, "b", CALL_MS, &err), 0, "%s", err.msg);

    /* SIGTERM to a (sleep as pid 1 of its namespace ignores it: the kernel
     * drops default-action signals to a namespace's init), SIGKILL ends it */
    cr_assert_eq(agent_client_signal(vm->agent, "a", NULL, SIGKILL, false, CALL_MS, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(agent_client_wait_process(vm->agent, "a", NULL, &ex, CALL_MS, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(ex.exit_status, 137);
    cr_assert_eq(ex.signal, SIGKILL);
    cr_assert_eq(agent_client_signal(vm->agent, "a", NULL, SIGKILL, false, CALL_MS, &err), -1);
    cr_assert_eq(err.code, ESRCH, "a kill of an exited process: %d %s", err.code, err.msg);
    cr_assert_eq(agent_client_state(vm->agent, "b", &st, CALL_MS, &err), 0, "%s", err.msg);
    cr_assert_str_eq(st.status, "running", "b is untouched by a's end");
    cr_assert_eq(agent_client_signal(vm->agent, "b", NULL, SIGKILL, true, CALL_MS, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(agent_client_wait_process(vm->agent, "b", NULL, &ex, CALL_MS, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(ex.exit_status, 137, "kill --all: %u", ex.exit_status);
    delete_checked(vm, "a");
    delete_checked(vm, "b");
    capture_free(&a);
    capture_free(&b);

    /* SIGTERM reaches an init that handles it (as a server does) */
    capture_t t = {0};
    json_t *spec = prepare(
        vm, "term",
        (char *[]){"/bin/sh", "-c",
                   "trap 'echo got TERM; exit 143' TERM; echo ready; while :; do sleep 1; done",
                   NULL},
        false);
    create(vm, "term", spec, false, false, &t, &p);
    json_decref(spec);
    cr_assert_eq(agent_client_start(vm->agent, "term", NULL, CALL_MS, &err), 0, "%s", err.msg);
    for (int i = 0; i < 100 && (t.out == NULL || strstr(t.out, "ready") == NULL); i++)
        agent_client_pump(vm->agent, 100, &err);
    cr_assert(t.out && strstr(t.out, "ready"), "the trap is set");
    cr_assert_eq(agent_client_signal(vm->agent, "term", NULL, SIGTERM, false, CALL_MS, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(agent_client_wait_process(vm->agent, "term", NULL, &ex, CALL_MS, &err), 0, "%s",
                 err.msg);
    for (int i = 0; i < 50 && !t.out_eof; i++)
        agent_client_pump(vm->agent, 100, &err);
    cr_assert_eq(ex.exit_status, 143);
    cr_assert(strstr(t.out, "got TERM") != NULL, "%s", t.out);
    delete_checked(vm, "term");
    capture_free(&t);

    /* after the deletes no container process is left in the guest */
    char *ps = in_guest_ns(vm, "ps", "ps -o comm,args");
    cr_assert(strstr(ps, "sleep 600") == NULL && strstr(ps, "got TERM") == NULL,
              "a deleted container's process is left: %s", ps);
    free(ps);
    vm_destroy_checked(vm);
}

Test(container_vm, a_pty_shows_its_size_and_a_memory_limit_reports_oom)
{
    factory_vm_t *vm = vm_clone(NULL);
    json_t *spec = prepare(vm, "tty", (char *[]){"/bin/sh", "-c", "read x; stty size", NULL}, true);
    capture_t c = {0};
    agent_process_t p;
    create(vm, "tty", spec, true, true, &c, &p);
    json_decref(spec);
    cr_assert_eq(p.stderr_stream, 0, "a terminal has one output stream");
    wp_error_t err = {0};
    cr_assert_eq(agent_client_start(vm->agent, "tty", NULL, CALL_MS, &err), 0, "%s", err.msg);
    cr_assert_eq(agent_client_resize(vm->agent, "tty", NULL, 33, 97, CALL_MS, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(agent_client_stdin_write_all(vm->agent, p.stdin_stream, "go\n", 3, CALL_MS, &err),
                 0, "%s", err.msg);
    agent_exit_t ex;
    cr_assert_eq(agent_client_wait_process(vm->agent, "tty", NULL, &ex, CALL_MS, &err), 0, "%s",
                 err.msg);
    for (int i = 0; i < 50 && !c.out_eof; i++)
        agent_client_pump(vm->agent, 100, &err);
    cr_assert(c.out && strstr(c.out, "33 97") != NULL, "stty size printed: %s",
              c.out ? c.out : "(nothing)");
    delete_checked(vm, "tty");
    capture_free(&c);

    /* 16 MiB limit, then a shell that holds 64 MiB in a variable */
    spec = prepare(
        vm, "oom",
        (char *[]){"/bin/sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a)", NULL}, false);
    json_t *res = json_object_get(json_object_get(spec, "linux"), "resources");
    json_object_set_new(
        res, "memory",
        json_pack("{s:I, s:I}", "limit", (json_int_t)16 << 20, "swap", (json_int_t)16 << 20));
    create(vm, "oom", spec, false, false, &c, &p);
    json_decref(spec);
    cr_assert_eq(agent_client_start(vm->agent, "oom", NULL, CALL_MS, &err), 0, "%s", err.msg);
    cr_assert_eq(agent_client_wait_process(vm->agent, "oom", NULL, &ex, 120000, &err), 0, "%s",
                 err.msg);
    for (int i = 0; i < 50 && c.ooms == 0; i++)
        agent_client_pump(vm->agent, 100, &err);
    cr_assert_gt(c.ooms, 0, "a ContainerOom event (exit status %u)", ex.exit_status);
    agent_stats_t stats;
    cr_assert_eq(agent_client_stats(vm->agent, "oom", &stats, CALL_MS, &err), 0, "%s", err.msg);
    cr_assert_eq(stats.memory_limit_bytes, 16u << 20);
    cr_assert_gt(stats.oom_kills, 0);
    delete_checked(vm, "oom");
    capture_free(&c);
    vm_destroy_checked(vm);
}
