/* wp_id.c - see wp_id.h. */
#include "wp_id.h"

#include <errno.h>      /* EINTR */
#include <stdint.h>     /* uint8_t */
#include <stdio.h>      /* snprintf */
#include <sys/random.h> /* getrandom */

int wp_random_bytes(void *buf, size_t len, wp_error_t *err)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return wp_error_errno(err, errno, "getrandom");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void wp_hex(const void *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

int wp_uuid_random(char out[WP_UUID_STR_LEN], wp_error_t *err)
{
    uint8_t b[16];
    if (wp_random_bytes(b, sizeof(b), err) < 0)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, WP_UUID_STR_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}
