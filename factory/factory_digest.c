/* factory_digest.c - see factory_digest.h.
 *
 * SHA-256 from mbedcrypto: nng already maps it into every process that
 * links nng, so the daemon pays nothing extra for it (libcrypto's
 * relocated data alone cost warmpoold ~2.9 MB of PSS). The read buffer is
 * per call on the heap: a static thread-local one would be zeroed, and so
 * paid for, in every thread the process ever starts. */
#include "factory_digest.h"

#include <errno.h>          /* errno */
#include <fcntl.h>          /* open */
#include <mbedtls/sha256.h> /* mbedtls_sha256_* */
#include <stdlib.h>         /* malloc */
#include <unistd.h>         /* read */

#include "wp_cleanup.h"
#include "wp_id.h"

#define DIGEST_CHUNK (1 << 16)

static void sha256_freep(mbedtls_sha256_context *ctx)
{
    mbedtls_sha256_free(ctx);
}

int factory_sha256_file(const char *path, char out[FACTORY_SHA256_HEX], uint64_t *size_out,
                        wp_error_t *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wp_error_errno(err, errno, "open '%s'", path);
    _cleanup_free_ unsigned char *buf = malloc(DIGEST_CHUNK);
    if (buf == NULL)
        return wp_error_errno(err, ENOMEM, "sha256 of '%s'", path);
    __attribute__((cleanup(sha256_freep))) mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    if (mbedtls_sha256_starts_ret(&ctx, 0) != 0)
        return wp_error_set(err, EIO, "sha256 of '%s': cannot set up the digest", path);
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, DIGEST_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return wp_error_errno(err, errno, "read '%s'", path);
        if (n == 0)
            break;
        if (mbedtls_sha256_update_ret(&ctx, buf, (size_t)n) != 0)
            return wp_error_set(err, EIO, "sha256 of '%s' failed", path);
        total += (uint64_t)n;
    }
    unsigned char md[32];
    if (mbedtls_sha256_finish_ret(&ctx, md) != 0)
        return wp_error_set(err, EIO, "sha256 of '%s' failed", path);
    wp_hex(md, sizeof(md), out);
    if (size_out)
        *size_out = total;
    return 0;
}
