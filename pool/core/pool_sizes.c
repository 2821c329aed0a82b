/* pool_sizes.c - see pool_sizes.h. */
#include "pool_sizes.h"

#include <errno.h>   /* ENOENT */
#include <jansson.h> /* json_* */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* free */
#include <string.h>  /* strcmp */

#include "wp_fs.h"

#define SIZES_MAX_BYTES (1u << 20)

static json_t *size_json(const pool_size_t *s)
{
    return json_pack("{s:s, s:I, s:I, s:I}", "sizing", pool_sizing_mode_name(s->sizing), "target",
                     (json_int_t)s->target, "min", (json_int_t)s->min, "max", (json_int_t)s->max);
}

static int size_parse(const json_t *v, const char *origin, const char *name, pool_size_t *out,
                      wp_error_t *err)
{
    const char *sizing = NULL;
    json_int_t target = -1, min = -1, max = -1;
    if (!json_is_object(v) || json_unpack((json_t *)v, "{s:s, s:I, s:I, s:I}", "sizing", &sizing,
                                          "target", &target, "min", &min, "max", &max) < 0)
        return wp_error_set(err, EBADMSG, "'%s': template '%s' needs sizing, target, min and max",
                            origin, name);
    if (strcmp(sizing, "fixed") != 0 && strcmp(sizing, "auto") != 0)
        return wp_error_set(err, EBADMSG, "'%s': template '%s': sizing '%s' is not fixed or auto",
                            origin, name, sizing);
    if (target < 0 || min < 0 || max < 0 || target > (json_int_t)POOL_TARGET_MAX ||
        max > (json_int_t)POOL_TARGET_MAX)
        return wp_error_set(err, EBADMSG, "'%s': template '%s': a size out of range", origin, name);
    *out =
        (pool_size_t){.sizing = strcmp(sizing, "auto") == 0 ? POOL_SIZING_AUTO : POOL_SIZING_FIXED,
                      .target = (unsigned)target,
                      .min = (unsigned)min,
                      .max = (unsigned)max};
    return 0;
}

int pool_sizes_parse(const char *text, const char *origin, pool_sizes_t *out, wp_error_t *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (root == NULL)
        return wp_error_set(err, EBADMSG, "'%s': line %d: %s", origin, je.line, je.text);
    int ret = 0;
    json_t *tpls = json_object_get(root, "templates");
    json_int_t version = json_integer_value(json_object_get(root, "version"));
    if (!json_is_object(root) || version != 1 || !json_is_object(tpls))
        ret = wp_error_set(err, EBADMSG, "'%s' is not a version 1 sizes file", origin);
    const char *name;
    json_t *v;
    json_object_foreach(ret == 0 ? tpls : NULL, name, v)
    {
        if (out->n == POOL_TEMPLATES_MAX || strlen(name) > POOL_NAME_MAX) {
            ret = wp_error_set(err, EBADMSG, "'%s': too many templates or a name too long", origin);
            break;
        }
        pool_size_entry_t *e = &out->entries[out->n];
        snprintf(e->name, sizeof(e->name), "%s", name);
        json_t *cfg = json_object_get(v, "config");
        if ((ret = size_parse(v, origin, name, &e->size, err)) < 0 ||
            (cfg != NULL && !json_is_null(cfg) &&
             (ret = size_parse(cfg, origin, name, &e->config, err)) < 0))
            break;
        e->in_config = cfg != NULL && !json_is_null(cfg);
        out->n++;
    }
    json_decref(root);
    return ret;
}

int pool_sizes_load(const char *path, pool_sizes_t *out, wp_error_t *err)
{
    wp_error_t rerr = {0};
    char *text = wp_read_file(path, SIZES_MAX_BYTES, NULL, &rerr);
    if (text == NULL && rerr.code == ENOENT) {
        memset(out, 0, sizeof(*out));
        return 0;
    }
    if (text == NULL)
        return wp_error_set(err, rerr.code, "%s", rerr.msg);
    int ret = pool_sizes_parse(text, path, out, err);
    free(text);
    return ret;
}

int pool_sizes_save(const char *path, const pool_sizes_t *s, wp_error_t *err)
{
    json_t *tpls = json_object();
    for (size_t i = 0; i < s->n; i++) {
        const pool_size_entry_t *e = &s->entries[i];
        json_t *v = size_json(&e->size);
        json_object_set_new(v, "config", e->in_config ? size_json(&e->config) : json_null());
        json_object_set_new(tpls, e->name, v);
    }
    json_t *root = json_pack("{s:i, s:o}", "version", 1, "templates", tpls);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (text == NULL)
        return wp_error_errno(err, ENOMEM, "sizes '%s'", path);
    int ret = wp_write_file_atomic(path, text, strlen(text), 0600, err);
    free(text);
    if (ret < 0)
        return wp_error_wrap(err, "save pool sizes");
    return 0;
}

int pool_sizes_put(pool_sizes_t *s, const char *name, const pool_size_t *size,
                   const pool_template_config_t *cfg, wp_error_t *err)
{
    size_t i = 0;
    while (i < s->n && strcmp(s->entries[i].name, name) != 0)
        i++;
    if (i == s->n) {
        if (s->n == POOL_TEMPLATES_MAX)
            return wp_error_set(err, ENOSPC, "template '%s': at most %d pools", name,
                                POOL_TEMPLATES_MAX);
        s->n++;
    }
    pool_size_entry_t *e = &s->entries[i];
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->size = *size;
    e->in_config = cfg != NULL;
    if (cfg != NULL)
        e->config = (pool_size_t){
            .sizing = cfg->sizing, .target = cfg->target, .min = cfg->min, .max = cfg->max};
    return 0;
}

void pool_sizes_drop(pool_sizes_t *s, size_t i)
{
    memmove(&s->entries[i], &s->entries[i + 1], (s->n - i - 1) * sizeof(s->entries[0]));
    s->n--;
}

bool pool_sizes_applies(const pool_size_entry_t *e, const pool_template_config_t *cfg)
{
    if (!e->in_config)
        return cfg == NULL; /* a template added to the config since: the config's */
    return cfg != NULL && cfg->sizing == e->config.sizing && cfg->target == e->config.target &&
           cfg->min == e->config.min && cfg->max == e->config.max;
}
