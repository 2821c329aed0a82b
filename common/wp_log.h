/* wp_log.h - leveled one-line logging to stderr (journald-friendly).
 *
 * One line per event; the caller names the VM/template in the message.
 * The level threshold is process-wide and set once from main(); logging is
 * safe from any thread (one write(2) per line). */
#ifndef WP_LOG_H
#define WP_LOG_H

typedef enum wp_log_level {
    WP_LOG_ERROR = 0,
    WP_LOG_WARN = 1,
    WP_LOG_INFO = 2,
    WP_LOG_DEBUG = 3,
} wp_log_level_t;

/* Set the threshold (default WP_LOG_WARN); called from main() before threads start. */
void wp_log_set_level(wp_log_level_t level);
/* Parse "error|warn|info|debug"; returns -1 on an unknown name. */
int wp_log_parse_level(const char *name, wp_log_level_t *out);

void wp_log(wp_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define wp_log_error(...) wp_log(WP_LOG_ERROR, __VA_ARGS__)
#define wp_log_warn(...)  wp_log(WP_LOG_WARN, __VA_ARGS__)
#define wp_log_info(...)  wp_log(WP_LOG_INFO, __VA_ARGS__)
#define wp_log_debug(...) wp_log(WP_LOG_DEBUG, __VA_ARGS__)

#endif
