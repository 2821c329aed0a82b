/* factory_digest.h - SHA-256 of files (OpenSSL EVP), for template manifests. */
#ifndef FACTORY_DIGEST_H
#define FACTORY_DIGEST_H

#include <stdint.h> /* uint64_t */

#include "wp_error.h"

#define FACTORY_SHA256_HEX 65 /* 64 hex digits + NUL */

/* Hash the file at path; *size_out (optional) gets its length. Thread-safe. */
int factory_sha256_file(const char *path, char out[FACTORY_SHA256_HEX], uint64_t *size_out,
                        wp_error_t *err);

#endif
