/* test_ctl_run.c - `warmpoolctl run` without a VM: its argument parsing,
 * exit status mapping and stdin choice (ctl_run_args.c), and the built
 * binary's usage errors and its clean failure when there is neither a
 * daemon nor the template (exit 125, nothing left behind). The run itself
 * needs a VM with the agent's container support: tests/integration. */
#include <criterion/criterion.h>
#include <stdio.h>     /* popen */
#include <stdlib.h>    /* mkdtemp */
#include <string.h>    /* strstr */
#include <sys/stat.h>  /* mkdir */
#include <sys/wait.h>  /* WEXITSTATUS */
#include <unistd.h>    /* geteuid */
#include <signal.h>    /* kill */
#include <spawn.h>     /* posix_spawn */
#include <fcntl.h>     /* open */
#include <stdatomic.h> /* atomic_thread_fence */
#include <jansson.h>   /* json_loads */

#include "ctl_run.h"
#include "agent_share.h"
#include "fake_agent.h"
#include "wp_fs.h"

#define ARGV(...) ((char *[]){"run", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"run", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(out, why, ...)                                                                       \
    ctl_run_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), out, why, sizeof(why))

Test(ctl_run, arguments_parse_up_to_the_command)
{
    ctl_run_args_t a;
    char why[256] = "";
    /* a.argv points into argv: it must outlive the assertions' blocks */
    char *argv1[] = {"run", "small", "--rootfs", "/r", "--tty", "--id", "web", "sh", "-c", "ls -l"};
    int ret = ctl_run_parse(10, argv1, &a, why, sizeof(why));
    cr_assert_eq(ret, 0, "%s", why);
    cr_assert_str_eq(a.template_name, "small");
    cr_assert_str_eq(a.rootfs, "/r");
    cr_assert_str_eq(a.id, "web");
    cr_assert(a.tty);
    cr_assert_not(a.verbose);
    cr_assert_eq(a.argc, 3);
    cr_assert_str_eq(a.argv[0], "sh");
    cr_assert_str_eq(a.argv[1], "-c", "the command's options are its own");
    cr_assert_str_eq(a.argv[2], "ls -l");

    char *argv2[] = {"run", "--rootfs=/r", "--verbose", "small", "--", "--weird", "x"};
    ret = ctl_run_parse(7, argv2, &a, why, sizeof(why));
    cr_assert_eq(ret, 0, "%s", why);
    cr_assert_str_eq(a.template_name, "small");
    cr_assert(a.verbose);
    cr_assert_null(a.id);
    cr_assert_eq(a.argc, 2);
    cr_assert_str_eq(a.argv[0], "--weird", "after --, options are the command's");

    cr_assert_eq(PARSE(&a, why, "small", "--rootfs", "/r", "--no-stdin", "true"), 0, "%s", why);
    cr_assert(a.no_stdin);

    /* a relative rootfs is taken against the working directory */
    char cwd[PATH_MAX], want[PATH_MAX + 16];
    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    snprintf(want, sizeof(want), "%s/out/rootfs", cwd);
    cr_assert_eq(PARSE(&a, why, "small", "--rootfs", "./out/rootfs", "true"), 0, "%s", why);
    cr_assert_str_eq(a.rootfs, want);
    cr_assert_eq(PARSE(&a, why, "small", "--rootfs", "out/rootfs", "true"), 0, "%s", why);
    cr_assert_str_eq(a.rootfs, want);
}

Test(ctl_run, bad_arguments_say_why)
{
    ctl_run_args_t a;
    char why[256];
    cr_assert_eq(PARSE(&a, why, "small", "true"), -1);
    cr_assert(strstr(why, "--rootfs") != NULL, "%s", why);
    cr_assert_eq(PARSE(&a, why, "small", "--rootfs", "/r"), -1);
    cr_assert(strstr(why, "command") != NULL, "%s", why);
    cr_assert_eq(PARSE(&a, why, "--rootfs", "/r"), -1);
    cr_assert(strstr(why, "TEMPLATE") != NULL, "%s", why);
    cr_assert_eq(PARSE(&a, why, "small", "--rootfs", "/r", "--id", "../x", "true"), -1);
    cr_assert(strstr(why, "'../x'") != NULL, "%s", why);
    cr_assert_eq(PARSE(&a, why, "small", "--rootfs", "/r", "--bogus", "true"), -1);
    cr_assert_eq(PARSE(&a, why, "small", "--rootfs"), -1);
    cr_assert_eq(PARSE(&a, why, "small", "--rootfs", "/r", "--tty", "--no-stdin", "sh"), -1);
}

Test(ctl_run, exit_status_is_the_containers)
{
    cr_assert_eq(ctl_run_exit_code(&(agent_exit_t){.exit_status = 0}), 0);
    cr_assert_eq(ctl_run_exit_code(&(agent_exit_t){.exit_status = 3}), 3);
    cr_assert_eq(ctl_run_exit_code(&(agent_exit_t){.exit_status = 137, .signal = 9}), 137);
    cr_assert_eq(ctl_run_exit_code(&(agent_exit_t){.exit_status = 0, .signal = 15}), 143,
                 "a signal counts even if the status forgot it");
    cr_assert_eq(ctl_run_exit_code(&(agent_exit_t){.exit_status = 300}), 255);
}

Test(ctl_run, stdin_is_streamed_like_docker_run_i)
{
    ctl_run_args_t a = {0};
    cr_assert(ctl_run_wants_stdin(&a, false), "a pipe or file is streamed");
    cr_assert_not(ctl_run_wants_stdin(&a, true), "a terminal without --tty is not");
    a.tty = true;
    cr_assert(ctl_run_wants_stdin(&a, true));
    a = (ctl_run_args_t){.no_stdin = true};
    cr_assert_not(ctl_run_wants_stdin(&a, false));
}

static int run_ctl(const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1 </dev/null", WARMPOOLCTL, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(ctl_run, the_binary_fails_cleanly_without_a_vm)
{
    char dir[] = "/tmp/wp-test-ctl-run-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char args[768], out[4096];
    snprintf(args, sizeof(args), "--socket %s/none.sock run small true", dir);
    cr_assert_eq(run_ctl(args, out, sizeof(out)), 2, "%s", out);
    cr_assert(strstr(out, "--rootfs") != NULL, "%s", out);
    /* no daemon answers: the factory is tried, and the template is not there */
    snprintf(args, sizeof(args),
             "--socket %s/none.sock --store %s/store --memory-dir %s/mem --runtime-dir %s/run "
             "run small --rootfs %s -- true",
             dir, dir, dir, dir, dir);
    cr_assert_eq(run_ctl(args, out, sizeof(out)), CTL_RUN_FAILED, "%s", out);
    cr_assert(strstr(out, "'small'") != NULL, "%s", out);
    wp_error_t err = {0};
    cr_assert_eq(wp_rm_tree(dir, &err), 0, "%s", err.msg);
}

/* ---- the whole flow against a scripted agent (fake_agent.c) ---- */

typedef struct flow {
    char dir[64];
    char share[128], rootfs[128], sock[128];
    fake_agent_t agent;
} flow_t;

static void flow_open(flow_t *f, uint32_t status, uint32_t sig)
{
    if (geteuid() != 0)
        cr_skip_test("warmpoolctl run binds the rootfs: needs root");
    snprintf(f->dir, sizeof(f->dir), "/tmp/wp-test-run-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    snprintf(f->share, sizeof(f->share), "%s/share", f->dir);
    snprintf(f->rootfs, sizeof(f->rootfs), "%s/rootfs", f->dir);
    snprintf(f->sock, sizeof(f->sock), "%s/agent.sock", f->dir);
    cr_assert_eq(mkdir(f->share, 0700), 0);
    cr_assert_eq(mkdir(f->rootfs, 0755), 0);
    char marker[192];
    snprintf(marker, sizeof(marker), "%s/marker", f->rootfs);
    wp_error_t err = {0};
    cr_assert_eq(wp_write_file_atomic(marker, "x", 1, 0644, &err), 0, "%s", err.msg);
    memset(&f->agent, 0, sizeof(f->agent));
    snprintf(f->agent.sock_path, sizeof(f->agent.sock_path), "%s", f->sock);
    snprintf(f->agent.share, sizeof(f->agent.share), "%s", f->share);
    f->agent.exit_status = status;
    f->agent.exit_signal = sig;
    fake_agent_start(&f->agent);
    cr_assert_str_eq(f->agent.failure, "");
}

static void flow_close(flow_t *f)
{
    fake_agent_stop(&f->agent);
    cr_assert_str_eq(f->agent.failure, "", "the fake agent: %s", f->agent.failure);
    cr_assert(f->agent.mounted_share);
    cr_assert(f->agent.started);
    cr_assert(f->agent.waited_before_start, "the wait goes out before the start");
    cr_assert(f->agent.rootfs_visible, "the rootfs was bound under the share at create");
    cr_assert(f->agent.deleted && f->agent.delete_force, "the container is deleted at the end");
    /* nothing left: no mount under the dir, no container directory */
    wp_error_t err = {0};
    char *mi = wp_read_file("/proc/self/mountinfo", 1 << 22, NULL, &err);
    cr_assert_not_null(mi, "%s", err.msg);
    cr_assert_null(strstr(mi, f->dir), "a mount was left behind");
    free(mi);
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", f->share, f->agent.container_id);
    cr_assert_neq(access(p, F_OK), 0, "'%s' was left", p);
    cr_assert_eq(wp_rm_tree(f->dir, &err), 0, "%s", err.msg);
}

static int run_shell(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(ctl_run, stdin_streams_in_output_streams_out_and_the_status_comes_back)
{
    flow_t f;
    flow_open(&f, 7, 0);
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof(cmd),
             "printf 'hello\\0binary' | '%s' run --endpoint unix:%s --share %s --rootfs %s "
             "--id web -- cat 2>%s/err",
             WARMPOOLCTL, f.sock, f.share, f.rootfs, f.dir);
    int rc = run_shell(cmd, out, sizeof(out));
    char errp[192];
    snprintf(errp, sizeof(errp), "%s/err", f.dir);
    wp_error_t err = {0};
    char *errtext = wp_read_file(errp, 4096, NULL, &err);
    cr_assert_not_null(errtext, "%s", err.msg);
    cr_assert_eq(rc, 7, "exit %d; stderr: %s", rc, errtext);
    cr_assert_str_eq(errtext, "warn", "stderr is the container's only (no --verbose)");
    free(errtext);
    cr_assert_eq(memcmp(out, "got: hello\0binary", 17), 0, "stdout: '%s'", out);
    cr_assert_str_eq(f.agent.container_id, "web");
    cr_assert(f.agent.create_stdin, "a pipe is streamed");
    cr_assert_not(f.agent.create_terminal);
    cr_assert(f.agent.stdin_eof);
    cr_assert_eq(f.agent.stdin_len, 12);
    /* the spec the agent got: guest paths, the command */
    json_error_t jerr;
    json_auto_t *spec = json_loads(f.agent.spec_json, 0, &jerr);
    cr_assert_not_null(spec, "%s", jerr.text);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(spec, "root"), "path")),
                     "/run/warmpool/share/web/rootfs");
    json_t *args = json_object_get(json_object_get(spec, "process"), "args");
    cr_assert_eq(json_array_size(args), 1);
    cr_assert_str_eq(json_string_value(json_array_get(args, 0)), "cat");
    flow_close(&f);
}

Test(ctl_run, a_killed_container_exits_128_plus_its_signal)
{
    flow_t f;
    flow_open(&f, 137, 9);
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof(cmd),
             "'%s' run --endpoint unix:%s --share %s --rootfs %s --no-stdin --verbose -- sleep 9 "
             "</dev/null 2>&1",
             WARMPOOLCTL, f.sock, f.share, f.rootfs);
    int rc = run_shell(cmd, out, sizeof(out));
    cr_assert_eq(rc, 137, "exit %d: %s", rc, out);
    cr_assert_not(f.agent.create_stdin);
    cr_assert(strstr(out, "got: ") != NULL, "%s", out);
    cr_assert(strstr(out, "created") != NULL && strstr(out, "exited") != NULL,
              "--verbose prints timings: %s", out);
    cr_assert(strncmp(f.agent.container_id, "run-", 4) == 0, "a generated id: '%s'",
              f.agent.container_id);
    flow_close(&f);
}

Test(ctl_run, sigterm_goes_to_the_container)
{
    flow_t f;
    flow_open(&f, 0, 0);
    int in[2];
    cr_assert_eq(pipe(in), 0);
    char outp[192];
    snprintf(outp, sizeof(outp), "%s/out", f.dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char endpoint[160];
    snprintf(endpoint, sizeof(endpoint), "unix:%s", f.sock);
    char *argv[] = {WARMPOOLCTL, "run",    "--endpoint", endpoint, "--share", f.share,
                    "--rootfs",  f.rootfs, "--",         "cat",    NULL};
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, WARMPOOLCTL, &fa, NULL, argv, NULL), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    /* stdin stays open: the container runs until the signal */
    for (int i = 0; i < 2000; i++) {
        atomic_thread_fence(memory_order_acquire);
        if (*(volatile bool *)&f.agent.started)
            break;
        usleep(10000);
    }
    cr_assert(*(volatile bool *)&f.agent.started, "the container never started");
    cr_assert_eq(kill(pid, SIGTERM), 0);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    close(in[1]);
    cr_assert(WIFEXITED(st), "warmpoolctl died of the signal itself");
    cr_assert_eq(WEXITSTATUS(st), 143);
    cr_assert_eq(f.agent.signalled, SIGTERM);
    flow_close(&f);
}

Test(ctl_run, detach_leaves_it_running_and_exec_runs_in_it)
{
    flow_t f;
    flow_open(&f, 0, 0);
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof(cmd),
             "'%s' run --endpoint unix:%s --share %s --rootfs %s --id box --detach -- sleep 99 "
             "</dev/null 2>&1",
             WARMPOOLCTL, f.sock, f.share, f.rootfs);
    int rc = run_shell(cmd, out, sizeof(out));
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "container box\n") != NULL, "%s", out);
    fake_agent_stop(&f.agent);
    cr_assert_str_eq(f.agent.failure, "", "%s", f.agent.failure);
    cr_assert(f.agent.started);
    cr_assert_not(f.agent.deleted, "a detached container stays");
    cr_assert_not(f.agent.create_stdin);
    char p[256];
    snprintf(p, sizeof(p), "%s/box/rootfs/marker", f.share);
    cr_assert_eq(access(p, F_OK), 0, "its rootfs stays bound");

    /* exec in it, through a new connection */
    memset(&f.agent, 0, sizeof(f.agent));
    unlink(f.sock);
    snprintf(f.agent.sock_path, sizeof(f.agent.sock_path), "%s", f.sock);
    snprintf(f.agent.share, sizeof(f.agent.share), "%s", f.share);
    snprintf(f.agent.container_id, sizeof(f.agent.container_id), "box");
    f.agent.exit_status = 4;
    fake_agent_start(&f.agent);
    snprintf(cmd, sizeof(cmd), "printf 'in' | '%s' exec unix:%s box --id e1 -- cat 2>/dev/null",
             WARMPOOLCTL, f.sock);
    rc = run_shell(cmd, out, sizeof(out));
    fake_agent_stop(&f.agent);
    cr_assert_str_eq(f.agent.failure, "", "%s", f.agent.failure);
    cr_assert_eq(rc, 4, "exit %d: %s", rc, out);
    cr_assert_str_eq(out, "got: in");
    cr_assert_str_eq(f.agent.exec_id, "e1");
    cr_assert(f.agent.create_stdin);
    cr_assert(f.agent.deleted_process, "the exec process is deleted after its exit");
    cr_assert_not(f.agent.deleted, "the container is not");
    json_error_t jerr;
    json_auto_t *proc = json_loads(f.agent.process_json, 0, &jerr);
    cr_assert_not_null(proc, "%s", jerr.text);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(proc, "args"), 0)), "cat");
    cr_assert_str_eq(json_string_value(json_object_get(proc, "cwd")), "/");

    /* what the VM's destroy does: the binds go */
    wp_error_t err = {0};
    cr_assert_eq(agent_share_clear(f.share, &err), 0, "%s", err.msg);
    char *mi = wp_read_file("/proc/self/mountinfo", 1 << 22, NULL, &err);
    cr_assert_null(strstr(mi, f.dir), "a mount was left behind");
    free(mi);
    cr_assert_eq(wp_rm_tree(f.dir, &err), 0, "%s", err.msg);
}

Test(ctl_run, exec_arguments_parse)
{
    ctl_exec_args_t a;
    char why[256] = "";
    char *argv1[] = {"exec", "unix:/s", "box", "--tty", "--id", "e1", "sh", "-l"};
    int ret = ctl_exec_parse(8, argv1, &a, why, sizeof(why));
    cr_assert_eq(ret, 0, "%s", why);
    cr_assert_str_eq(a.endpoint, "unix:/s");
    cr_assert_str_eq(a.container_id, "box");
    cr_assert_str_eq(a.exec_id, "e1");
    cr_assert(a.tty);
    cr_assert_eq(a.argc, 2);
    cr_assert_str_eq(a.argv[1], "-l");
    char *argv2[] = {"exec", "unix:/s", "box"};
    cr_assert_eq(ctl_exec_parse(3, argv2, &a, why, sizeof(why)), -1);
    char *argv3[] = {"exec", "unix:/s", "b/x", "true"};
    cr_assert_eq(ctl_exec_parse(4, argv3, &a, why, sizeof(why)), -1);
}
