/* shim_config.c - the shim's configuration file (shim_config.h). */
#include <errno.h>   /* ENOENT */
#include <jansson.h> /* json_load_file */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* getenv */
#include <string.h>  /* strcmp */
#include <unistd.h>  /* access */

#include "shim_config.h"

static int take_string(json_t *v, const char *key, char *out, size_t len, const char *path,
                       wp_error_t *err)
{
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= len)
        return wp_error_set(err, EINVAL, "%s: '%s' must be a non-empty string under %zu bytes",
                            path, key, len);
    snprintf(out, len, "%s", json_string_value(v));
    return 0;
}

static void defaults(shim_config_t *cfg)
{
    *cfg = (shim_config_t){.acquire_timeout_s = 300};
    snprintf(cfg->template_name, sizeof(cfg->template_name), "%s", SHIM_DEFAULT_TEMPLATE);
    snprintf(cfg->socket_dir, sizeof(cfg->socket_dir), "%s", SHIM_DEFAULT_SOCKET_DIR);
    snprintf(cfg->warmpoolctl, sizeof(cfg->warmpoolctl), "%s", "warmpoolctl");
}

static int take_source(json_t *v, shim_config_t *cfg, const char *path, wp_error_t *err)
{
    static const char *const names[] = {"pool", "clone", "cold"};
    const char *name = json_string_value(v);
    for (size_t i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0) {
            cfg->vm_source = (shim_vm_source_t)i;
            return 0;
        }
    return wp_error_set(err, EINVAL, "%s: 'vm_source' must be \"pool\", \"clone\" or \"cold\"",
                        path);
}

static int take_args(json_t *v, shim_config_t *cfg, const char *path, wp_error_t *err)
{
    if (!json_is_array(v) || json_array_size(v) > SHIM_CTL_ARGS_MAX)
        return wp_error_set(err, EINVAL,
                            "%s: 'warmpoolctl_args' must be an array of at most %d "
                            "strings",
                            path, SHIM_CTL_ARGS_MAX);
    size_t i;
    json_t *a;
    json_array_foreach(v, i, a)
    {
        const char *text = json_string_value(a);
        if (text == NULL || strlen(text) >= sizeof(cfg->ctl_args[0]))
            return wp_error_set(err, EINVAL,
                                "%s: 'warmpoolctl_args'[%zu] is not a string that fits", path, i);
        snprintf(cfg->ctl_args[i], sizeof(cfg->ctl_args[i]), "%s", text);
    }
    cfg->n_ctl_args = json_array_size(v);
    return 0;
}

int shim_config_load(shim_config_t *cfg, wp_error_t *err)
{
    const char *path = getenv(SHIM_CONFIG_ENV);
    if (path == NULL || path[0] == '\0') {
        path = SHIM_CONFIG_PATH;
        if (access(path, F_OK) < 0 && errno == ENOENT) {
            defaults(cfg);
            return 0;
        }
    }
    return shim_config_load_file(cfg, path, err);
}

int shim_config_load_file(shim_config_t *cfg, const char *path, wp_error_t *err)
{
    defaults(cfg);
    json_error_t jerr;
    json_auto_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL)
        return wp_error_set(err, EINVAL, "config '%s': line %d: %s", path, jerr.line, jerr.text);
    if (!json_is_object(root))
        return wp_error_set(err, EINVAL, "config '%s' is not a JSON object", path);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        int r = 0;
        if (strcmp(key, "pool_socket") == 0)
            r = take_string(v, key, cfg->pool_socket, sizeof(cfg->pool_socket), path, err);
        else if (strcmp(key, "template") == 0)
            r = take_string(v, key, cfg->template_name, sizeof(cfg->template_name), path, err);
        else if (strcmp(key, "vm_source") == 0)
            r = take_source(v, cfg, path, err);
        else if (strcmp(key, "warmpoolctl") == 0)
            r = take_string(v, key, cfg->warmpoolctl, sizeof(cfg->warmpoolctl), path, err);
        else if (strcmp(key, "warmpoolctl_args") == 0)
            r = take_args(v, cfg, path, err);
        else if (strcmp(key, "socket_dir") == 0)
            r = take_string(v, key, cfg->socket_dir, sizeof(cfg->socket_dir), path, err);
        else if (strcmp(key, "acquire_timeout_s") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 86400)
                return wp_error_set(err, EINVAL, "%s: 'acquire_timeout_s' must be 1..86400", path);
            cfg->acquire_timeout_s = (int)json_integer_value(v);
        } else
            return wp_error_set(err, EINVAL, "%s: unknown key '%s'", path, key);
        if (r < 0)
            return -1;
    }
    return 0;
}
