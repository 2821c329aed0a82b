/* pool_journal_codec.h - encoding of one journal record and its checksum
 * (the format is in pool_journal.h). Pure functions, any thread. Internal to
 * the pool room; the tests use it to build damaged journals. */
#ifndef POOL_JOURNAL_CODEC_H
#define POOL_JOURNAL_CODEC_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint32_t */

#include "pool_journal.h"

#define POOL_JOURNAL_MAGIC     "WPJRNL01"
#define POOL_JOURNAL_MAGIC_LEN 8
#define POOL_JREC_HEADER       8    /* u32 length, u32 crc */
#define POOL_JREC_MAX          2048 /* payload bound: 32 fixed bytes + 5 strings < 256 */

/* CRC-32 (IEEE 802.3, as zlib's crc32) of data. */
uint32_t pool_crc32(const void *data, size_t len);

/* Encode header + payload into buf (at least POOL_JREC_HEADER + POOL_JREC_MAX
 * bytes). Returns the total length, or 0 if a string is too long. */
size_t pool_jrec_encode(const pool_jrec_t *rec, uint8_t *buf);

/* Decode a payload whose CRC has been checked. EBADMSG on a malformed one. */
int pool_jrec_decode(const uint8_t *payload, size_t len, pool_jrec_t *out, wp_error_t *err);

static inline uint32_t pool_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
