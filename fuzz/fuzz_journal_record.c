/* fuzz_journal_record.c - one record of warmpoold's state journal
 * (pool/core/pool_journal_codec.c), as replay decodes it after its CRC
 * matched: any payload decodes or is EBADMSG; what decodes re-encodes. */
#include <stddef.h>
#include <stdint.h>

#include "pool_journal_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > POOL_JREC_MAX)
        return 0;
    pool_jrec_t rec;
    wp_error_t err = {0};
    if (pool_jrec_decode(data, size, &rec, &err) == 0) {
        uint8_t buf[POOL_JREC_HEADER + POOL_JREC_MAX];
        if (pool_jrec_encode(&rec, buf) == 0)
            __builtin_trap(); /* a decoded record always fits again */
    }
    return 0;
}
