/* wp_id.h - identifiers: random UUIDs (vmgenid GUIDs, boot ids) and short
 * VM ids. Thread-safe; draw from getrandom(2). */
#ifndef WP_ID_H
#define WP_ID_H

#include <stddef.h> /* size_t */

#include "wp_error.h"

#define WP_UUID_STR_LEN 37 /* 36 characters + NUL */

/* A random (version 4) UUID as lowercase text. */
int wp_uuid_random(char out[WP_UUID_STR_LEN], wp_error_t *err);

/* `len` bytes of kernel randomness (blocks only before the host CRNG is ready). */
int wp_random_bytes(void *buf, size_t len, wp_error_t *err);

/* Lowercase hex of `len` bytes into out (2*len+1 bytes). */
void wp_hex(const void *data, size_t len, char *out);

#endif
