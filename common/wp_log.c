/* wp_log.c - see wp_log.h. */
#include "wp_log.h"

#include <stdarg.h> /* va_list */
#include <stdio.h>  /* vsnprintf */
#include <string.h> /* strcmp */
#include <unistd.h> /* write */

/* Process-wide threshold: written once by main() before any thread starts. */
static wp_log_level_t wp_log_threshold = WP_LOG_WARN;

static const char *const wp_log_names[] = {"error", "warn", "info", "debug"};

void wp_log_set_level(wp_log_level_t level)
{
    wp_log_threshold = level;
}

int wp_log_parse_level(const char *name, wp_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, wp_log_names[i]) == 0) {
            *out = (wp_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void wp_log(wp_log_level_t level, const char *fmt, ...)
{
    if (level > wp_log_threshold)
        return;
    char line[2048];
    int n = snprintf(line, sizeof(line), "<%d>%s: ",
                     level == WP_LOG_ERROR  ? 3
                     : level == WP_LOG_WARN ? 4
                     : level == WP_LOG_INFO ? 6
                                            : 7,
                     wp_log_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nothing useful to do if stderr is gone */
}
