/* test_ctl_run.c - `warmpoolctl run` without a VM: its argument parsing,
 * exit status mapping and stdin choice (ctl_run_args.c), and the built
 * binary's usage errors and its clean failure when there is neither a
 * daemon nor the template (exit 125, nothing left behind). The run itself
 * needs a VM with the agent's container support: tests/integration. */
#include <criterion/criterion.h>
#include <stdio.h>    /* popen */
#include <stdlib.h>   /* mkdtemp */
#include <string.h>   /* strstr */
#include <sys/wait.h> /* WEXITSTATUS */

#include "ctl_run.h"
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
