/* fuzz_frame_reader.c - the frame reader both ends of the agent channel use
 * (common/wp_frame.c): arbitrary bytes, fed in two pieces, must give whole
 * frames within the cap or one clean error, never a read out of bounds. */
#include <stddef.h>
#include <stdint.h>

#include "wp_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wp_frame_reader_t r;
    wp_frame_reader_init(&r, 4096);
    wp_error_t err = {0};
    size_t half = size / 2;
    for (int piece = 0; piece < 2; piece++) {
        const uint8_t *p = piece == 0 ? data : data + half;
        size_t n = piece == 0 ? half : size - half;
        if (wp_frame_reader_feed(&r, p, n, &err) < 0)
            break;
        wp_frame_header_t h;
        const uint8_t *payload;
        int got;
        while ((got = wp_frame_reader_next(&r, &h, &payload, &err)) == 1) {
            volatile uint8_t sink = 0;
            for (uint32_t i = 0; i < h.length; i++) /* every payload byte is readable */
                sink ^= payload[i];
            (void)sink;
            if (h.length > 4096)
                __builtin_trap(); /* the cap held */
        }
        if (got < 0)
            break;
    }
    wp_frame_reader_fini(&r);
    return 0;
}
