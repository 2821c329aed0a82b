/* pool_config.c - JSON configuration: defaults, parsing, strict validation
 * (see pool_config.h). Errors name the field as a dotted path so an operator
 * can find it in the file without reading the code. */
#include "pool_config.h"

#include <errno.h>   /* EINVAL */
#include <jansson.h> /* json_loads */
#include <stdbool.h> /* bool */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc */
#include <string.h>  /* strcmp, strdup */

#include "wp_cleanup.h"
#include "wp_fs.h"

#define CONFIG_FILE_MAX (1u << 20)

static void configp_free(pool_config_t **c)
{
    pool_config_free(*c);
}
#define _cleanup_config_ __attribute__((cleanup(configp_free)))

void pool_config_free(pool_config_t *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->runtime_dir);
    free(cfg->state_dir);
    free(cfg->store_dir);
    free(cfg->memory_dir);
    free(cfg->api_socket);
    free(cfg->metrics_address);
    free(cfg->log_level);
    free(cfg->qemu_binary);
    free(cfg->libvirt_uri);
    free(cfg->templates);
    free(cfg);
}

static int set_str(char **slot, const char *value, wp_error_t *err)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return wp_error_errno(err, ENOMEM, "copy '%s'", value);
    free(*slot);
    *slot = copy;
    return 0;
}

pool_config_t *pool_config_defaults(wp_error_t *err)
{
    _cleanup_config_ pool_config_t *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        wp_error_errno(err, ENOMEM, "allocate configuration");
        return NULL;
    }
    cfg->refill_concurrency = POOL_DEFAULT_CONCURRENCY;
    cfg->share_mount_at_clone = true;
    cfg->warm_up = true;
    if (set_str(&cfg->runtime_dir, POOL_DEFAULT_RUNTIME_DIR, err) < 0 ||
        set_str(&cfg->state_dir, POOL_DEFAULT_STATE_DIR, err) < 0 ||
        set_str(&cfg->store_dir, POOL_DEFAULT_STORE_DIR, err) < 0 ||
        set_str(&cfg->memory_dir, POOL_DEFAULT_MEMORY_DIR, err) < 0 ||
        set_str(&cfg->api_socket, POOL_DEFAULT_API_SOCKET, err) < 0 ||
        set_str(&cfg->metrics_address, POOL_DEFAULT_METRICS, err) < 0 ||
        set_str(&cfg->log_level, "warn", err) < 0)
        return NULL;
    return wp_steal_ptr(&cfg);
}

int pool_template_name_check(const char *name, wp_error_t *err)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > POOL_NAME_MAX)
        return wp_error_set(err, EINVAL, "template name '%s' must be 1 to %d characters",
                            name ? name : "", POOL_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '-' || c == '_'));
        if (!ok)
            return wp_error_set(err, EINVAL, "template name '%s' must match [a-z0-9][a-z0-9_-]*",
                                name);
    }
    return 0;
}

int pool_template_bounds_check(const char *name, unsigned target, unsigned min, unsigned max,
                               wp_error_t *err)
{
    if (max > POOL_TARGET_MAX)
        return wp_error_set(err, EINVAL, "template '%s': max %u is above the limit of %d", name,
                            max, POOL_TARGET_MAX);
    if (min > max)
        return wp_error_set(err, EINVAL, "template '%s': min %u is above max %u", name, min, max);
    if (target < min || target > max)
        return wp_error_set(err, EINVAL, "template '%s': target %u is outside [min %u, max %u]",
                            name, target, min, max);
    return 0;
}

const pool_template_config_t *pool_config_template(const pool_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_templates; i++)
        if (strcmp(cfg->templates[i].name, name) == 0)
            return &cfg->templates[i];
    return NULL;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

/* An unsigned integer field in [lo, hi]. */
static int get_uint(const json_t *v, const char *field, unsigned lo, unsigned hi, unsigned *out,
                    wp_error_t *err)
{
    if (!json_is_integer(v))
        return wp_error_set(err, EINVAL, "%s: expected an integer, got %s", field, type_name(v));
    json_int_t n = json_integer_value(v);
    if (n < (json_int_t)lo || n > (json_int_t)hi)
        return wp_error_set(err, EINVAL, "%s: %lld is outside [%u, %u]", field, (long long)n, lo,
                            hi);
    *out = (unsigned)n;
    return 0;
}

/* A string field; `must_prefix` (optional) is a required prefix such as "/". */
static int get_str(const json_t *v, const char *field, const char *must_prefix, char **slot,
                   wp_error_t *err)
{
    if (!json_is_string(v))
        return wp_error_set(err, EINVAL, "%s: expected a string, got %s", field, type_name(v));
    const char *s = json_string_value(v);
    if (s[0] == '\0')
        return wp_error_set(err, EINVAL, "%s: must not be empty", field);
    if (must_prefix && strncmp(s, must_prefix, strlen(must_prefix)) != 0)
        return wp_error_set(err, EINVAL, "%s: '%s' must start with '%s'", field, s, must_prefix);
    return set_str(slot, s, err);
}

static int get_enum(const json_t *v, const char *field, const char *a, const char *b, int *out,
                    wp_error_t *err)
{
    if (!json_is_string(v))
        return wp_error_set(err, EINVAL, "%s: expected \"%s\" or \"%s\", got %s", field, a, b,
                            type_name(v));
    const char *s = json_string_value(v);
    if (strcmp(s, a) == 0)
        *out = 0;
    else if (strcmp(s, b) == 0)
        *out = 1;
    else
        return wp_error_set(err, EINVAL, "%s: '%s' is neither \"%s\" nor \"%s\"", field, s, a, b);
    return 0;
}

static int parse_template(const char *name, const json_t *obj, pool_template_config_t *t,
                          wp_error_t *err)
{
    char field[128];
    if (pool_template_name_check(name, err) < 0)
        return wp_error_wrap(err, "templates");
    if (!json_is_object(obj))
        return wp_error_set(err, EINVAL, "templates.%s: expected an object, got %s", name,
                            type_name(obj));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->target = POOL_DEFAULT_TARGET;
    t->min = POOL_DEFAULT_MIN;
    t->max = POOL_DEFAULT_MAX;
    t->hot = POOL_DEFAULT_HOT;
    bool max_given = false;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        snprintf(field, sizeof(field), "templates.%s.%s", name, key);
        int ret, e;
        if (strcmp(key, "target") == 0) {
            ret = get_uint(v, field, 0, POOL_TARGET_MAX, &t->target, err);
        } else if (strcmp(key, "min") == 0) {
            ret = get_uint(v, field, 0, POOL_TARGET_MAX, &t->min, err);
        } else if (strcmp(key, "max") == 0) {
            ret = get_uint(v, field, 0, POOL_TARGET_MAX, &t->max, err);
            max_given = true;
        } else if (strcmp(key, "sizing") == 0) {
            ret = get_enum(v, field, "fixed", "auto", &e, err);
            t->sizing = (pool_sizing_mode_t)e;
        } else if (strcmp(key, "warm_state") == 0) {
            ret = get_enum(v, field, "paused", "running", &e, err);
            t->warm_state = (pool_warm_state_t)e;
        } else if (strcmp(key, "hot") == 0) {
            ret = get_uint(v, field, 0, POOL_TARGET_MAX, &t->hot, err);
        } else {
            return wp_error_set(
                err, EINVAL, "%s: unknown key (known: target, min, max, sizing, warm_state, hot)",
                field);
        }
        if (ret < 0)
            return ret;
    }
    /* A larger fixed target than the default max is what the operator meant. */
    if (!max_given && t->target > t->max)
        t->max = t->target;
    if (pool_template_bounds_check(name, t->target, t->min, t->max, err) < 0)
        return wp_error_wrap(err, "templates.%s", name);
    return 0;
}

static int parse_templates(const json_t *obj, pool_config_t *cfg, wp_error_t *err)
{
    if (!json_is_object(obj))
        return wp_error_set(err, EINVAL,
                            "templates: expected an object keyed by template name, "
                            "got %s",
                            type_name(obj));
    size_t n = json_object_size(obj);
    if (n > POOL_TEMPLATES_MAX)
        return wp_error_set(err, EINVAL, "templates: %zu templates, at most %d", n,
                            POOL_TEMPLATES_MAX);
    cfg->templates = calloc(n ? n : 1, sizeof(*cfg->templates));
    if (cfg->templates == NULL)
        return wp_error_errno(err, ENOMEM, "templates");
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)obj, name, v)
    {
        if (parse_template(name, v, &cfg->templates[cfg->n_templates], err) < 0)
            return -1;
        cfg->n_templates++;
    }
    return 0;
}

static int parse_top(const json_t *root, pool_config_t *cfg, wp_error_t *err)
{
    if (!json_is_object(root))
        return wp_error_set(err, EINVAL, "expected a JSON object at the top, got %s",
                            type_name(root));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v)
    {
        int ret;
        if (strcmp(key, "runtime_dir") == 0)
            ret = get_str(v, key, "/", &cfg->runtime_dir, err);
        else if (strcmp(key, "state_dir") == 0)
            ret = get_str(v, key, "/", &cfg->state_dir, err);
        else if (strcmp(key, "store_dir") == 0)
            ret = get_str(v, key, "/", &cfg->store_dir, err);
        else if (strcmp(key, "memory_dir") == 0)
            ret = get_str(v, key, "/", &cfg->memory_dir, err);
        else if (strcmp(key, "api_socket") == 0)
            ret = get_str(v, key, "ipc:///", &cfg->api_socket, err);
        else if (strcmp(key, "metrics_address") == 0)
            ret = get_str(v, key, "http://", &cfg->metrics_address, err);
        else if (strcmp(key, "refill_concurrency") == 0)
            ret = get_uint(v, key, 1, POOL_CONCURRENCY_MAX, &cfg->refill_concurrency, err);
        else if (strcmp(key, "log_level") == 0) {
            ret = get_str(v, key, NULL, &cfg->log_level, err);
            if (ret == 0 && strcmp(cfg->log_level, "error") != 0 &&
                strcmp(cfg->log_level, "warn") != 0 && strcmp(cfg->log_level, "info") != 0 &&
                strcmp(cfg->log_level, "debug") != 0)
                ret = wp_error_set(err, EINVAL, "log_level: '%s' is not error, warn, info or debug",
                                   cfg->log_level);
        } else if (strcmp(key, "qemu_binary") == 0) {
            ret = json_is_null(v) ? 0 : get_str(v, key, "/", &cfg->qemu_binary, err);
        } else if (strcmp(key, "libvirt_uri") == 0) {
            ret = json_is_null(v) ? 0 : get_str(v, key, NULL, &cfg->libvirt_uri, err);
        } else if (strcmp(key, "share_mount") == 0) {
            const char *m = json_string_value(v);
            if (m != NULL && strcmp(m, "clone") == 0)
                cfg->share_mount_at_clone = true;
            else if (m != NULL && strcmp(m, "first_call") == 0)
                cfg->share_mount_at_clone = false;
            else
                ret = wp_error_set(err, EINVAL, "share_mount: want \"clone\" or \"first_call\"");
        } else if (strcmp(key, "warm_up") == 0) {
            if (json_is_boolean(v))
                cfg->warm_up = json_is_true(v);
            else
                ret = wp_error_set(err, EINVAL, "warm_up: want true or false");
        } else if (strcmp(key, "templates") == 0)
            ret = parse_templates(v, cfg, err);
        else
            return wp_error_set(
                err, EINVAL,
                "%s: unknown key (known: runtime_dir, state_dir, store_dir, "
                "memory_dir, api_socket, metrics_address, refill_concurrency, "
                "log_level, qemu_binary, libvirt_uri, share_mount, warm_up, templates)",
                key);
        if (ret < 0)
            return ret;
    }
    return 0;
}

pool_config_t *pool_config_parse(const char *text, const char *origin, wp_error_t *err)
{
    json_error_t jerr;
    json_auto_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        wp_error_set(err, EINVAL, "config '%s': line %d column %d: %s", origin, jerr.line,
                     jerr.column, jerr.text);
        return NULL;
    }
    _cleanup_config_ pool_config_t *cfg = pool_config_defaults(err);
    if (cfg == NULL)
        return NULL;
    if (parse_top(root, cfg, err) < 0) {
        wp_error_wrap(err, "config '%s'", origin);
        return NULL;
    }
    return wp_steal_ptr(&cfg);
}

pool_config_t *pool_config_load(const char *path, wp_error_t *err)
{
    if (path == NULL)
        return pool_config_defaults(err);
    _cleanup_free_ char *text = wp_read_file(path, CONFIG_FILE_MAX, NULL, err);
    if (text == NULL) {
        wp_error_wrap(err, "config");
        return NULL;
    }
    return pool_config_parse(text, path, err);
}
