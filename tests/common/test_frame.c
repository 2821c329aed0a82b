/* test_frame.c - frame codec: round trip, split delivery, truncated,
 * oversized and garbage headers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wp_frame.h"

static size_t encode(uint8_t *buf, uint32_t id, uint8_t kind, const char *payload)
{
    size_t len = strlen(payload);
    wp_frame_header_t h = {.length = (uint32_t)len, .id = id, .kind = kind};
    wp_frame_header_encode(&h, buf);
    memcpy(buf + WP_FRAME_HEADER_SIZE, payload, len);
    return WP_FRAME_HEADER_SIZE + len;
}

Test(frame, header_is_big_endian_on_the_wire)
{
    uint8_t buf[WP_FRAME_HEADER_SIZE];
    wp_frame_header_t h = {.length = 0x01020304, .id = 0x0a0b0c0d, .kind = WP_FRAME_EVENT};
    wp_frame_header_encode(&h, buf);
    const uint8_t want[] = {1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 3, 0, 0, 0};
    cr_assert_arr_eq(buf, want, sizeof(want));
}

Test(frame, two_frames_fed_byte_by_byte)
{
    uint8_t wire[64];
    size_t n = encode(wire, 7, WP_FRAME_REQUEST, "hello");
    n += encode(wire + n, 9, WP_FRAME_RESPONSE, "");
    wp_frame_reader_t r;
    wp_frame_reader_init(&r, 1024);
    wp_error_t err = {0};
    wp_frame_header_t h;
    const uint8_t *p;
    int got = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(wp_frame_reader_feed(&r, wire + i, 1, &err), 0);
        int ret;
        while ((ret = wp_frame_reader_next(&r, &h, &p, &err)) == 1) {
            if (got == 0) {
                cr_assert_eq(h.id, 7);
                cr_assert_eq(h.kind, WP_FRAME_REQUEST);
                cr_assert_eq(h.length, 5);
                cr_assert_arr_eq(p, "hello", 5);
                cr_assert_eq(i, WP_FRAME_HEADER_SIZE + 4,
                             "first frame complete only at its last byte");
            } else {
                cr_assert_eq(h.id, 9);
                cr_assert_eq(h.length, 0);
            }
            got++;
        }
        cr_assert_eq(ret, 0);
    }
    cr_assert_eq(got, 2);
    wp_frame_reader_fini(&r);
}

Test(frame, truncated_frame_is_not_returned)
{
    uint8_t wire[64];
    size_t n = encode(wire, 1, WP_FRAME_REQUEST, "abcdef");
    wp_frame_reader_t r;
    wp_frame_reader_init(&r, 1024);
    wp_error_t err = {0};
    wp_frame_header_t h;
    const uint8_t *p;
    cr_assert_eq(wp_frame_reader_feed(&r, wire, n - 1, &err), 0);
    cr_assert_eq(wp_frame_reader_next(&r, &h, &p, &err), 0);
    cr_assert_eq(wp_frame_reader_feed(&r, wire + n - 1, 1, &err), 0);
    cr_assert_eq(wp_frame_reader_next(&r, &h, &p, &err), 1);
    wp_frame_reader_fini(&r);
}

Test(frame, oversized_length_is_rejected_before_buffering)
{
    uint8_t hdr[WP_FRAME_HEADER_SIZE];
    wp_frame_header_t h = {.length = 1025, .id = 3, .kind = WP_FRAME_REQUEST};
    wp_frame_header_encode(&h, hdr);
    wp_frame_reader_t r;
    wp_frame_reader_init(&r, 1024);
    wp_error_t err = {0};
    const uint8_t *p;
    cr_assert_eq(wp_frame_reader_feed(&r, hdr, sizeof(hdr), &err), 0);
    cr_assert_eq(wp_frame_reader_next(&r, &h, &p, &err), -1);
    cr_assert_eq(err.code, EMSGSIZE);
    cr_assert(strstr(err.msg, "1025") != NULL, "message names the size: %s", err.msg);
    wp_frame_reader_fini(&r);
}

Test(frame, garbage_header_is_rejected)
{
    const uint8_t garbage[WP_FRAME_HEADER_SIZE] = {0, 0, 0, 1, 0, 0, 0, 1, 0x47, 0x45, 0x54, 0x20};
    wp_frame_reader_t r;
    wp_frame_reader_init(&r, 1024);
    wp_error_t err = {0};
    wp_frame_header_t h;
    const uint8_t *p;
    cr_assert_eq(wp_frame_reader_feed(&r, garbage, sizeof(garbage), &err), 0);
    cr_assert_eq(wp_frame_reader_next(&r, &h, &p, &err), -1);
    cr_assert_eq(err.code, EPROTO);

    uint8_t reserved[WP_FRAME_HEADER_SIZE] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1};
    wp_frame_reader_t r2;
    wp_frame_reader_init(&r2, 1024);
    cr_assert_eq(wp_frame_reader_feed(&r2, reserved, sizeof(reserved), &err), 0);
    cr_assert_eq(wp_frame_reader_next(&r2, &h, &p, &err), -1);
    cr_assert_eq(err.code, EPROTO);
    wp_frame_reader_fini(&r);
    wp_frame_reader_fini(&r2);
}

/* Decode one 12-byte header; returns the decoder's result and err. */
static int decode(uint32_t length, uint8_t kind, uint8_t flags, wp_frame_header_t *h,
                  wp_error_t *err)
{
    uint8_t b[WP_FRAME_HEADER_SIZE];
    wp_frame_header_t in = {.length = length, .id = 7, .kind = kind, .flags = flags};
    wp_frame_header_encode(&in, b);
    return wp_frame_header_decode(b, 1024, h, err);
}

Test(frame, stream_and_credit_frames)
{
    wp_frame_header_t h;
    wp_error_t err = {0};
    cr_assert_eq(decode(10, WP_FRAME_STREAM, WP_FRAME_FLAG_EOF, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(h.kind, WP_FRAME_STREAM);
    cr_assert_eq(h.flags, WP_FRAME_FLAG_EOF);
    cr_assert_eq(h.id, 7);
    cr_assert_eq(decode(0, WP_FRAME_STREAM, 0, &h, &err), 0, "an empty stream frame is legal");
    cr_assert_eq(decode(10, WP_FRAME_STREAM, 0x02, &h, &err), -1, "an unknown stream flag");
    cr_assert_eq(err.code, EPROTO);
    cr_assert_eq(decode(10, WP_FRAME_REQUEST, WP_FRAME_FLAG_EOF, &h, &err), -1, "EOF on a request");
    cr_assert_eq(err.code, EPROTO);
    cr_assert_eq(decode(4, WP_FRAME_CREDIT, 0, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(decode(5, WP_FRAME_CREDIT, 0, &h, &err), -1, "a credit is 4 bytes");
    cr_assert_eq(err.code, EPROTO);
    cr_assert_eq(decode(4, 6, 0, &h, &err), -1, "kind 6 is unknown");
    cr_assert_eq(err.code, EPROTO);

    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(
        wp_frame_write_flags(sv[0], 9, WP_FRAME_STREAM, WP_FRAME_FLAG_EOF, "\0z", 2, -1, &err), 0,
        "%s", err.msg);
    wp_frame_reader_t r;
    wp_frame_reader_init(&r, 1024);
    const uint8_t *p;
    cr_assert_gt(wp_frame_reader_read_fd(&r, sv[1], &err), 0);
    cr_assert_eq(wp_frame_reader_next(&r, &h, &p, &err), 1, "%s", err.msg);
    cr_assert_eq(h.kind, WP_FRAME_STREAM);
    cr_assert_eq(h.flags, WP_FRAME_FLAG_EOF);
    cr_assert_eq(h.length, 2);
    cr_assert_eq(memcmp(p, "\0z", 2), 0, "binary-safe");
    wp_frame_reader_fini(&r);
    close(sv[0]);
    close(sv[1]);
}

Test(frame, write_then_read_through_a_socket)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    wp_error_t err = {0};
    static uint8_t big[200000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31);
    cr_assert_eq(wp_frame_write(sv[0], 42, WP_FRAME_RESPONSE, "xy", 2, &err), 0);
    /* a big frame needs a concurrent reader: write it from a child */
    pid_t pid = fork();
    if (pid == 0) {
        _exit(wp_frame_write(sv[0], 43, WP_FRAME_EVENT, big, sizeof(big), NULL) == 0 ? 0 : 1);
    }
    wp_frame_reader_t r;
    wp_frame_reader_init(&r, WP_FRAME_MAX_PAYLOAD);
    wp_frame_header_t h;
    const uint8_t *p;
    int got = 0;
    while (got < 2) {
        int ret = wp_frame_reader_next(&r, &h, &p, &err);
        cr_assert_geq(ret, 0);
        if (ret == 1) {
            if (got == 0) {
                cr_assert_eq(h.id, 42);
                cr_assert_arr_eq(p, "xy", 2);
            } else {
                cr_assert_eq(h.id, 43);
                cr_assert_eq(h.length, sizeof(big));
                cr_assert_arr_eq(p, big, sizeof(big));
            }
            got++;
            continue;
        }
        cr_assert_gt(wp_frame_reader_read_fd(&r, sv[1], &err), 0);
    }
    wp_frame_reader_fini(&r);
    close(sv[0]);
    close(sv[1]);
}

/* found by fuzz/fuzz_frame_reader: an empty feed to a reader that holds
 * nothing yet (its buffer not allocated) is fine and changes nothing */
Test(frame, feeding_nothing_to_a_new_reader_is_fine)
{
    wp_frame_reader_t r;
    wp_frame_reader_init(&r, 64);
    wp_error_t err = {0};
    cr_assert_eq(wp_frame_reader_feed(&r, NULL, 0, &err), 0);
    wp_frame_header_t h;
    const uint8_t *payload;
    cr_assert_eq(wp_frame_reader_next(&r, &h, &payload, &err), 0, "no frame, no error");
    wp_frame_reader_fini(&r);
}
