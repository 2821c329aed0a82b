/* wp_error.c - formatting for wp_error_t (see wp_error.h). */
#include "wp_error.h"

#include <stdarg.h> /* va_list */
#include <stdio.h>  /* vsnprintf */
#include <string.h> /* strerror, memmove */

int wp_error_set(wp_error_t *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->code = code;
    return -1;
}

int wp_error_errno(wp_error_t *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(err->msg))
        snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(code));
    err->code = code;
    return -1;
}

int wp_error_wrap(wp_error_t *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    char prefix[WP_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    /* build "prefix: old message", truncating the tail if it must */
    char joined[2 * WP_ERROR_MSG_MAX + 2];
    snprintf(joined, sizeof(joined), "%s: %s", prefix, err->msg);
    memcpy(err->msg, joined, sizeof(err->msg) - 1);
    err->msg[sizeof(err->msg) - 1] = '\0';
    return -1;
}

void wp_error_clear(wp_error_t *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}
