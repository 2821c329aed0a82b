/* ctl.c - what every warmpoolctl command shares (ctl.h): the factory and
 * the daemon connection, each opened on first use, and the two ways a
 * command fails. Below the commands; warmpoolctl.c dispatches to them. */
#include <stdarg.h> /* va_list */
#include <stdio.h>  /* fprintf */

#include "ctl.h"

factory_t *ctl_factory(ctl_t *ctl)
{
    if (ctl->factory == NULL) {
        wp_error_t err = {0};
        ctl->factory = factory_open(&ctl->factory_cfg, &err);
        if (ctl->factory == NULL)
            ctl_fail(&err);
    }
    return ctl->factory;
}

api_client_t *ctl_api(ctl_t *ctl)
{
    if (ctl->api == NULL) {
        wp_error_t err = {0};
        ctl->api = api_client_open(ctl->socket_url, &err);
        if (ctl->api == NULL)
            ctl_fail(&err);
    }
    return ctl->api;
}

int ctl_fail(const wp_error_t *err)
{
    fprintf(stderr, "warmpoolctl: %s\n", err->msg);
    return 1;
}

int ctl_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "warmpoolctl %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'warmpoolctl --help' for usage.\n");
    return 2;
}
