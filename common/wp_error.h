/* wp_error.h - the error type every fallible function fills.
 *
 * Contract: a function that can fail takes `wp_error_t *err` last, returns 0
 * (or a non-NULL pointer) on success and -1 (or NULL) on failure, with `err`
 * holding an errno-style code and one human sentence. Callers add context on
 * the way up with wp_error_wrap(), so the final message reads outside-in:
 * "clone 'small': restore state: open '/x': No such file or directory".
 * `err` may be NULL when the caller does not care. Not thread-shared: each
 * thread uses its own wp_error_t. */
#ifndef WP_ERROR_H
#define WP_ERROR_H

#include <stddef.h>

#define WP_ERROR_MSG_MAX 1024

typedef struct wp_error {
    int code;                   /* errno value, or 0 when none applies */
    char msg[WP_ERROR_MSG_MAX]; /* one line, no trailing newline */
} wp_error_t;

/* Set err to code and the formatted message; returns -1 for `return wp_error_set(...)`. */
int wp_error_set(wp_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like wp_error_set, appending ": strerror(code)". */
int wp_error_errno(wp_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with "context: "; keeps the code. Returns -1. */
int wp_error_wrap(wp_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset to "no error". */
void wp_error_clear(wp_error_t *err);

#endif
