/* shim_options.c - see shim_options.h. */
#include "shim_options.h"

#include <errno.h>  /* EINVAL */
#include <stdio.h>  /* snprintf */
#include <string.h> /* strrchr */

#include "runtime_options.pb-c.h"

int shim_options_config_path(const Containerd__Task__V2__Any *opts, char *out, size_t len,
                             wp_error_t *err)
{
    if (opts == NULL || opts->type_url == NULL)
        return 0;
    /* "runtimeoptions.v1.Options", with or without a "host/" prefix */
    const char *slash = strrchr(opts->type_url, '/');
    const char *name = slash ? slash + 1 : opts->type_url;
    if (strcmp(name, SHIM_OPTIONS_TYPE) != 0)
        return 0;
    Runtimeoptions__V1__Options *o =
        runtimeoptions__v1__options__unpack(NULL, opts->value.len, opts->value.data);
    if (o == NULL)
        return wp_error_set(err, EINVAL, "runtime options (%s) do not decode", opts->type_url);
    int ret = 0;
    if (o->config_path[0] == '\0')
        ret = 0;
    else if (o->config_path[0] != '/')
        ret = wp_error_set(err, EINVAL, "runtime option ConfigPath '%s' is not absolute",
                           o->config_path);
    else if (snprintf(out, len, "%s", o->config_path) >= (int)len)
        ret = wp_error_set(err, ENAMETOOLONG, "runtime option ConfigPath is too long");
    else
        ret = 1;
    runtimeoptions__v1__options__free_unpacked(o, NULL);
    return ret;
}
