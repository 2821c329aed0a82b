/* test_pool_config.c - configuration: defaults with no file, a full file,
 * and errors that name the offending field. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pool_config.h"

Test(config, no_file_gives_every_default)
{
    wp_error_t err = {0};
    pool_config_t *c = pool_config_load(NULL, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_str_eq(c->runtime_dir, "/run/warmpool");
    cr_assert_str_eq(c->state_dir, "/run/warmpool/state");
    cr_assert_str_eq(c->store_dir, "/var/lib/warmpool/templates");
    cr_assert_str_eq(c->memory_dir, "/dev/shm/warmpool");
    cr_assert_str_eq(c->api_socket, "ipc:///run/warmpool/warmpoold.sock");
    cr_assert_str_eq(c->metrics_address, "http://127.0.0.1:9464/metrics");
    cr_assert_str_eq(c->log_level, "warn");
    cr_assert_null(c->qemu_binary);
    cr_assert_null(c->libvirt_uri);
    cr_assert_eq(c->refill_concurrency, 2);
    cr_assert_eq(c->n_templates, 0);
    pool_config_free(c);
}

Test(config, an_empty_object_is_the_defaults)
{
    wp_error_t err = {0};
    pool_config_t *c = pool_config_parse("{}", "<t>", &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(c->refill_concurrency, 2);
    pool_config_free(c);
}

Test(config, a_full_file_is_read)
{
    const char *text =
        "{\"runtime_dir\": \"/r\", \"state_dir\": \"/s\", \"store_dir\": \"/t\","
        " \"memory_dir\": \"/m\", \"api_socket\": \"ipc:///tmp/x.sock\","
        " \"metrics_address\": \"http://0.0.0.0:9000/metrics\", \"refill_concurrency\": 4,"
        " \"log_level\": \"debug\", \"qemu_binary\": \"/usr/bin/qemu-system-x86_64\","
        " \"libvirt_uri\": \"qemu+unix:///system?socket=/tmp/l.sock\","
        " \"templates\": {"
        "   \"small\": {\"target\": 3, \"min\": 1, \"max\": 8, \"sizing\": \"auto\","
        "               \"warm_state\": \"running\"},"
        "   \"big\": {\"target\": 40}}}";
    wp_error_t err = {0};
    pool_config_t *c = pool_config_parse(text, "<t>", &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_str_eq(c->state_dir, "/s");
    cr_assert_str_eq(c->api_socket, "ipc:///tmp/x.sock");
    cr_assert_eq(c->refill_concurrency, 4);
    cr_assert_str_eq(c->qemu_binary, "/usr/bin/qemu-system-x86_64");
    cr_assert_str_eq(c->libvirt_uri, "qemu+unix:///system?socket=/tmp/l.sock");
    cr_assert_eq(c->n_templates, 2);
    const pool_template_config_t *s = pool_config_template(c, "small");
    cr_assert_not_null(s);
    cr_assert_eq(s->target, 3);
    cr_assert_eq(s->min, 1);
    cr_assert_eq(s->max, 8);
    cr_assert_eq(s->sizing, POOL_SIZING_AUTO);
    cr_assert_eq(s->warm_state, POOL_WARM_RUNNING);
    const pool_template_config_t *b = pool_config_template(c, "big");
    cr_assert_eq(b->target, 40);
    cr_assert_eq(b->max, 40, "a target above the default max raises the default");
    cr_assert_eq(b->sizing, POOL_SIZING_FIXED);
    cr_assert_eq(b->warm_state, POOL_WARM_PAUSED);
    cr_assert_null(pool_config_template(c, "none"));
    pool_config_free(c);
}

/* Parse text, expect EINVAL and every `needles` in the message. */
static void bad(const char *text, const char *needle1, const char *needle2)
{
    wp_error_t err = {0};
    pool_config_t *c = pool_config_parse(text, "/etc/warmpool/warmpoold.json", &err);
    cr_assert_null(c, "accepted: %s", text);
    cr_assert_eq(err.code, EINVAL);
    cr_assert(strstr(err.msg, "/etc/warmpool/warmpoold.json") != NULL, "names the file: %s",
              err.msg);
    cr_assert(strstr(err.msg, needle1) != NULL, "'%s' not in: %s", needle1, err.msg);
    if (needle2)
        cr_assert(strstr(err.msg, needle2) != NULL, "'%s' not in: %s", needle2, err.msg);
}

Test(config, share_mount_is_clone_by_default_or_first_call)
{
    wp_error_t err = {0};
    pool_config_t *c = pool_config_parse("{}", "<t>", &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert(c->share_mount_at_clone, "mounted by the clone unless told otherwise");
    pool_config_free(c);
    c = pool_config_parse("{\"share_mount\": \"first_call\"}", "<t>", &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_not(c->share_mount_at_clone);
    pool_config_free(c);
    c = pool_config_parse("{\"share_mount\": \"clone\"}", "<t>", &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert(c->share_mount_at_clone);
    pool_config_free(c);
}

Test(config, warm_up_is_on_by_default_and_a_boolean)
{
    wp_error_t err = {0};
    pool_config_t *c = pool_config_parse("{}", "<t>", &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert(c->warm_up, "refill clones warm up unless told otherwise");
    pool_config_free(c);
    c = pool_config_parse("{\"warm_up\": false}", "<t>", &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_not(c->warm_up);
    pool_config_free(c);
    bad("{\"warm_up\": \"yes\"}", "warm_up", "true or false");
}

Test(config, unknown_keys_are_rejected_by_name)
{
    bad("{\"refil_concurrency\": 2}", "refil_concurrency", "unknown key");
    bad("{\"templates\": {\"small\": {\"target\": 1, \"warm\": 2}}}", "templates.small.warm",
        "unknown key");
}

Test(config, bad_values_name_the_field)
{
    bad("{\"refill_concurrency\": \"two\"}", "refill_concurrency", "integer");
    bad("{\"refill_concurrency\": 0}", "refill_concurrency", "outside");
    bad("{\"refill_concurrency\": 2.5}", "refill_concurrency", "integer");
    bad("{\"state_dir\": \"relative/dir\"}", "state_dir", "must start with '/'");
    bad("{\"api_socket\": \"tcp://0.0.0.0:1\"}", "api_socket", "ipc://");
    bad("{\"metrics_address\": \"127.0.0.1:9464\"}", "metrics_address", "http://");
    bad("{\"log_level\": \"loud\"}", "log_level", "loud");
    bad("{\"libvirt_uri\": 7}", "libvirt_uri", "string");
    bad("{\"share_mount\": \"lease\"}", "share_mount", "first_call");
    bad("{\"share_mount\": true}", "share_mount", "clone");
    bad("{\"templates\": {\"small\": {\"target\": -1}}}", "templates.small.target", "outside");
    bad("{\"templates\": {\"small\": {\"sizing\": \"elastic\"}}}", "templates.small.sizing",
        "elastic");
    bad("{\"templates\": {\"small\": {\"warm_state\": \"frozen\"}}}", "templates.small.warm_state",
        "frozen");
    bad("{\"templates\": {\"small\": {\"target\": 5, \"max\": 4}}}", "templates.small", "target 5");
    bad("{\"templates\": {\"small\": {\"target\": 1, \"min\": 3, \"max\": 2}}}", "templates.small",
        "min 3");
    bad("{\"templates\": {\"Small!\": {}}}", "templates", "Small!");
    bad("{\"templates\": [\"small\"]}", "templates", "object");
    bad("[]", "top", NULL);
}

Test(config, syntax_errors_and_duplicates_give_the_position)
{
    bad("{\"state_dir\": \"/a\",}", "line 1", NULL);
    bad("{\"state_dir\": \"/a\", \"state_dir\": \"/b\"}", "duplicate", NULL);
}

Test(config, a_missing_file_is_an_error_naming_it)
{
    wp_error_t err = {0};
    cr_assert_null(pool_config_load("/nonexistent/warmpoold.json", &err));
    cr_assert_eq(err.code, ENOENT);
    cr_assert(strstr(err.msg, "/nonexistent/warmpoold.json") != NULL, "%s", err.msg);
}
