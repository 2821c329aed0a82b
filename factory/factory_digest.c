/* factory_digest.c - see factory_digest.h. */
#include "factory_digest.h"

#include <errno.h>         /* errno */
#include <fcntl.h>         /* open */
#include <openssl/evp.h>   /* EVP_Digest* */
#include <unistd.h>        /* read */

#include "wp_cleanup.h"
#include "wp_id.h"

static void md_ctx_freep(EVP_MD_CTX **ctx)
{
    EVP_MD_CTX_free(*ctx);
}

int factory_sha256_file(const char *path, char out[FACTORY_SHA256_HEX], uint64_t *size_out,
                        wp_error_t *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wp_error_errno(err, errno, "open '%s'", path);
    __attribute__((cleanup(md_ctx_freep))) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        return wp_error_set(err, ENOMEM, "sha256 of '%s': cannot set up digest", path);
    static __thread unsigned char buf[1 << 16];
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return wp_error_errno(err, errno, "read '%s'", path);
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        total += (uint64_t)n;
    }
    unsigned char md[32];
    unsigned int md_len = 0;
    EVP_DigestFinal_ex(ctx, md, &md_len);
    wp_hex(md, md_len, out);
    if (size_out)
        *size_out = total;
    return 0;
}
