/* test_ctl_daemon.c - the built warmpoolctl's daemon commands against an
 * api_server over the fake pool, and its errors when nothing listens. */
#include <errno.h>
#include <jansson.h>
#include <sys/wait.h>

#include "api_harness.h"

/* Run warmpoolctl with args (a shell fragment), stdout and stderr in out;
 * returns the exit status. */
static int ctl(const char *url, const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' %s 2>&1", WARMPOOLCTL, url, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t got = fread(out, 1, cap - 1, p);
    out[got] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    cr_assert_not_null(j, "not JSON (%s): %s", e.text, text);
    return j;
}

Test(ctl_daemon, no_daemon_is_a_clear_error)
{
    char out[2048];
    cr_assert_eq(ctl("ipc:///tmp/nonexistent.sock", "status", out, sizeof(out)), 1, "%s", out);
    cr_assert(strstr(out, "warmpoold is not running (no socket at '/tmp/nonexistent.sock')"), "%s",
              out);
    /* a leftover file where the socket was: nobody listens there either */
    char path[] = "/tmp/wp-ctl-test-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof(url), "ipc://%s", path);
    cr_assert_eq(ctl(url, "acquire t", out, sizeof(out)), 1, "%s", out);
    cr_assert(strstr(out, "warmpoold is not running"), "%s", out);
    unlink(path);
    cr_assert_eq(ctl("ipc:///tmp/nonexistent.sock", "pool set", out, sizeof(out)), 2, "usage");
}

Test(ctl_daemon, every_command_answers_help_with_the_usage)
{
    static const char *const cmds[] = {"run", "exec", "clone", "template", "pool", "vm"};
    char out[8192];
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char args[64];
        snprintf(args, sizeof(args), "%s --help", cmds[i]);
        cr_assert_eq(ctl("ipc:///tmp/nonexistent.sock", args, out, sizeof(out)), 0, "%s: %s", args,
                     out);
        cr_assert(strstr(out, "Usage: warmpoolctl") && strstr(out, "--cold"), "%s: %s", args, out);
    }
}

Test(ctl_daemon, status_pool_set_acquire_release_leases_health)
{
    api_harness_t a;
    api_harness_open(&a, "{\"t\": {\"target\": 2, \"max\": 64}}", NULL);
    cr_assert(WAIT_UNTIL(a.h.pool, 5000, STATUS(&a.h, "t").warm == 2));
    char out[8192];
    cr_assert_eq(ctl(a.url, "status", out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "TEMPLATE") && strstr(out, "ACQ_P99_MS") && strstr(out, "no leases"),
              "%s", out);

    cr_assert_eq(ctl(a.url, "pool set u 3 --max 8", out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "pool 'u': fixed, target 3 (min 0, max 8)"), "%s", out);
    cr_assert_eq(ctl(a.url, "--json pool set t auto --min 1 --max 5", out, sizeof(out)), 0, "%s",
                 out);
    json_auto_t *set = parse(out);
    cr_assert_str_eq(json_string_value(json_object_get(set, "sizing")), "auto");
    json_int_t target = json_integer_value(json_object_get(set, "target"));
    cr_assert(target >= 1 && target <= 5, "auto starts within [min, max]: %lld", (long long)target);
    cr_assert_eq(ctl(a.url, "pool set t 3 --min 5", out, sizeof(out)), 1, "%s", out);

    cr_assert_eq(ctl(a.url, "acquire t --json", out, sizeof(out)), 0, "%s", out);
    json_auto_t *lease = parse(out);
    const char *id = json_string_value(json_object_get(lease, "vm_id"));
    const char *token = json_string_value(json_object_get(lease, "token"));
    cr_assert(id && token && fake_source_exists(a.h.fs, id), "%s", out);
    cr_assert_eq(ctl(a.url, "--json leases", out, sizeof(out)), 0, "%s", out);
    json_auto_t *leases = parse(out);
    cr_assert_eq(json_array_size(leases), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(leases, 0), "vm_id")), id);
    cr_assert_null(json_object_get(json_array_get(leases, 0), "token"), "never listed");
    cr_assert_eq(ctl(a.url, "--json status", out, sizeof(out)), 0, "%s", out);
    json_auto_t *status = parse(out);
    cr_assert_eq(json_array_size(json_object_get(status, "templates")), 2);
    cr_assert_eq(json_array_size(json_object_get(status, "leases")), 1);

    char args[256];
    snprintf(args, sizeof(args), "release %s %s", id, token);
    cr_assert_eq(ctl(a.url, args, out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "released"), "%s", out);
    cr_assert_eq(ctl(a.url, args, out, sizeof(out)), 1, "double release: %s", out);
    cr_assert(strstr(out, "no lease"), "%s", out);
    cr_assert_eq(ctl(a.url, "acquire nope --fail-fast", out, sizeof(out)), 1, "%s", out);
    cr_assert(strstr(out, "'nope'"), "%s", out);

    cr_assert_eq(ctl(a.url, "health --json", out, sizeof(out)), 0, "%s", out);
    json_auto_t *health = parse(out);
    cr_assert_str_eq(json_string_value(json_object_get(health, "version")), WP_VERSION);
    cr_assert_eq(json_integer_value(json_object_get(health, "templates")), 2);
    api_harness_close(&a);
}
