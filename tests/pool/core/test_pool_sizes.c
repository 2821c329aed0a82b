/* test_pool_sizes.c - sizes set live survive a restart (pool_sizes.h): kept
 * while the config file agrees, dropped when the config changed since or
 * dropped the template, refused when the sizes file cannot be written (the
 * size does not change), and a damaged sizes file stops the start with a
 * message naming it; the file's codec. */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool_harness.h"
#include "pool_sizes.h"

static pool_size_t fixed(unsigned n)
{
    return (pool_size_t){.sizing = POOL_SIZING_FIXED, .target = n, .min = 0, .max = 16};
}

static void set(harness_t *h, const char *name, pool_size_t size)
{
    wp_error_t err = {0};
    cr_assert_eq(pool_set_size(h->pool, name, &size, &err), 0, "%s", err.msg);
}

static char *sizes_path(harness_t *h)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/state/%s", h->dir, POOL_SIZES_FILE);
    return path;
}

Test(pool_sizes, a_size_set_live_survives_a_restart)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 1}}");
    set(&h, "t", fixed(3));
    pool_size_t a = {.sizing = POOL_SIZING_AUTO, .target = 2, .min = 1, .max = 5};
    set(&h, "new", a); /* a template only `pool set` knows */
    harness_restart(&h);
    pool_template_status_t t = STATUS(&h, "t");
    cr_assert_eq(t.target, 3, "the live size, not the config's 1: %u", t.target);
    cr_assert(WAIT_UNTIL(h.pool, 5000, STATUS(&h, "t").warm == 3));
    pool_template_status_t n = STATUS(&h, "new");
    cr_assert_eq(n.sizing, POOL_SIZING_AUTO);
    cr_assert_eq(n.min, 1);
    cr_assert_eq(n.max, 5);
    harness_close(&h);
}

Test(pool_sizes, the_config_wins_once_it_changed_or_dropped_the_template)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 1}, \"u\": {\"target\": 1}}");
    set(&h, "t", fixed(3));
    set(&h, "u", fixed(2));
    /* the operator edits the config: t's target becomes 2, u is removed */
    h.cfg->templates[0].target = 2;
    cr_assert_str_eq(h.cfg->templates[1].name, "u");
    h.cfg->n_templates = 1;
    harness_restart(&h);
    cr_assert_eq(STATUS(&h, "t").target, 2, "the edited config, not the live 3");
    pool_template_status_t *list;
    size_t n;
    wp_error_t err = {0};
    cr_assert_eq(pool_status(h.pool, &list, &n, &err), 0);
    free(list);
    cr_assert_eq(n, 1, "u went with the config");
    pool_sizes_t s;
    cr_assert_eq(pool_sizes_load(sizes_path(&h), &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.n, 0, "both entries dropped from the file");
    h.cfg->n_templates = 2; /* harness_close frees what was parsed */
    harness_close(&h);
}

Test(pool_sizes, a_size_that_cannot_be_saved_is_not_applied)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 1}}");
    cr_assert_eq(mkdir(sizes_path(&h), 0700), 0, "a directory where the file goes");
    pool_size_t size = fixed(4);
    wp_error_t err = {0};
    cr_assert_eq(pool_set_size(h.pool, "t", &size, &err), -1);
    cr_assert(strstr(err.msg, "save pool sizes") != NULL, "%s", err.msg);
    cr_assert_eq(STATUS(&h, "t").target, 1, "nothing changed");
    cr_assert_eq(rmdir(sizes_path(&h)), 0);
    harness_close(&h);
}

Test(pool_sizes, a_damaged_sizes_file_stops_the_start_and_names_it)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 1}}");
    set(&h, "t", fixed(2));
    pool_free(h.pool);
    h.pool = NULL;
    FILE *f = fopen(sizes_path(&h), "w");
    cr_assert_not_null(f);
    fputs("{\"version\": 1, \"templates\": {\"t\": {\"sizing\": \"fixed\"", f);
    fclose(f);
    pool_options_t opt = {.config = h.cfg, .source = fake_source_as_source(h.fs)};
    wp_error_t err = {0};
    pool_recovery_t rec;
    cr_assert_null(pool_open(&opt, &rec, &err));
    cr_assert_eq(err.code, EBADMSG, "%d %s", err.code, err.msg);
    cr_assert(strstr(err.msg, POOL_SIZES_FILE) != NULL && strstr(err.msg, "remove the file"), "%s",
              err.msg);
    struct stat st;
    cr_assert_eq(stat(sizes_path(&h), &st), 0, "the damaged file is left for the operator");
    unlink(sizes_path(&h));
    h.pool = pool_open(&opt, &rec, &err);
    cr_assert_not_null(h.pool, "%s", err.msg);
    cr_assert_eq(STATUS(&h, "t").target, 1, "without it: the configured size");
    harness_close(&h);
}

Test(pool_sizes, codec_refuses_what_it_cannot_trust)
{
    pool_sizes_t s;
    wp_error_t err = {0};
    static const char *bad[] = {
        "[]",
        "{\"version\": 2, \"templates\": {}}",
        "{\"version\": 1, \"templates\": {\"t\": {\"sizing\": \"some\", \"target\": 1, "
        "\"min\": 0, \"max\": 2}}}",
        "{\"version\": 1, \"templates\": {\"t\": {\"sizing\": \"fixed\", \"target\": -1, "
        "\"min\": 0, \"max\": 2}}}",
        "{\"version\": 1, \"templates\": {\"t\": {\"sizing\": \"fixed\", \"target\": 1, "
        "\"min\": 0, \"max\": 99999}}}",
        "{\"version\": 1, \"templates\": {\"t\": {\"sizing\": \"fixed\", \"target\": 1}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(pool_sizes_parse(bad[i], "x.json", &s, &err), -1, "accepted: %s", bad[i]);
        cr_assert_eq(err.code, EBADMSG, "%s", bad[i]);
        cr_assert(strstr(err.msg, "'x.json'") != NULL, "%s", err.msg);
    }
    const char *good = "{\"version\": 1, \"templates\": {\"t\": {\"sizing\": \"auto\", "
                       "\"target\": 3, \"min\": 1, \"max\": 9, \"config\": {\"sizing\": "
                       "\"fixed\", \"target\": 2, \"min\": 0, \"max\": 16}}, \"v\": "
                       "{\"sizing\": \"fixed\", \"target\": 0, \"min\": 0, \"max\": 1, "
                       "\"config\": null}}}";
    cr_assert_eq(pool_sizes_parse(good, "x.json", &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.entries[0].name, "t");
    cr_assert_eq(s.entries[0].size.sizing, POOL_SIZING_AUTO);
    cr_assert_eq(s.entries[0].size.max, 9);
    cr_assert(s.entries[0].in_config);
    cr_assert_eq(s.entries[0].config.target, 2);
    cr_assert_not(s.entries[1].in_config);
    pool_template_config_t cfg = {.sizing = POOL_SIZING_FIXED, .target = 2, .max = 16};
    cr_assert(pool_sizes_applies(&s.entries[0], &cfg));
    cfg.target = 3;
    cr_assert_not(pool_sizes_applies(&s.entries[0], &cfg), "the config moved");
    cr_assert_not(pool_sizes_applies(&s.entries[0], NULL), "the config dropped it");
    cr_assert(pool_sizes_applies(&s.entries[1], NULL));
    cr_assert_not(pool_sizes_applies(&s.entries[1], &cfg), "the config took it over");
}
