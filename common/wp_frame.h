/* wp_frame.h - length-prefixed frames carrying one protobuf message each.
 *
 * Wire format (all integers big-endian), WP_FRAME_HEADER_SIZE bytes of header
 * then `length` bytes of payload:
 *
 *   u32 length   payload bytes, header not counted, <= the reader's maximum
 *   u32 id       request id; a response carries its request's id, events 0;
 *                for stream and credit frames the stream id
 *   u8  kind     1 request, 2 response, 3 event, 4 stream data, 5 credit
 *   u8  flags    WP_FRAME_FLAG_EOF on a stream frame; otherwise 0
 *   u16 reserved 0
 *
 * The id lives in the header rather than in the protobuf so that an
 * undecodable payload can still be answered on the right id. A header that
 * fails to decode (oversized, unknown kind, nonzero reserved bits) leaves the
 * stream unsynchronisable: the reader reports it and the caller closes that
 * connection. Readers and writers are not thread-safe; one per connection. */
#ifndef WP_FRAME_H
#define WP_FRAME_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint32_t */

#include "wp_error.h"

#define WP_FRAME_HEADER_SIZE 12
#define WP_FRAME_MAX_PAYLOAD (1u << 20) /* default cap: 1 MiB */

typedef enum wp_frame_kind {
    WP_FRAME_REQUEST = 1,
    WP_FRAME_RESPONSE = 2,
    WP_FRAME_EVENT = 3,
    WP_FRAME_STREAM = 4, /* raw bytes of one stream (proto/agent.proto) */
    WP_FRAME_CREDIT = 5, /* u32 big-endian: bytes the receiver may take more */
} wp_frame_kind_t;

#define WP_FRAME_FLAG_EOF 0x01 /* stream frames only: the stream's last frame */

typedef struct wp_frame_header {
    uint32_t length;
    uint32_t id;
    uint8_t kind;
    uint8_t flags;
} wp_frame_header_t;

void wp_frame_header_encode(const wp_frame_header_t *hdr, uint8_t out[WP_FRAME_HEADER_SIZE]);

/* Decode and check a header. Fails with EMSGSIZE when length > max_payload and
 * EPROTO on an unknown kind, a flag other than EOF on a stream frame, any
 * flag on another kind, nonzero reserved bits, or a credit frame whose
 * payload is not 4 bytes. */
int wp_frame_header_decode(const uint8_t in[WP_FRAME_HEADER_SIZE], uint32_t max_payload,
                           wp_frame_header_t *out, wp_error_t *err);

/* Incremental reader: feed bytes as they arrive, take complete frames out. */
typedef struct wp_frame_reader {
    uint8_t *buf;
    size_t len;      /* bytes held */
    size_t cap;      /* bytes allocated */
    size_t consumed; /* bytes of the frame last returned by next() */
    uint32_t max_payload;
} wp_frame_reader_t;

void wp_frame_reader_init(wp_frame_reader_t *r, uint32_t max_payload);
void wp_frame_reader_fini(wp_frame_reader_t *r);

/* Append bytes. Fails only on allocation failure (ENOMEM). */
int wp_frame_reader_feed(wp_frame_reader_t *r, const void *data, size_t len, wp_error_t *err);

/* read(2) once from fd into the reader. Returns bytes read, 0 at end of
 * stream, -1 with err (EAGAIN included, for non-blocking fds). */
long wp_frame_reader_read_fd(wp_frame_reader_t *r, int fd, wp_error_t *err);

/* Take the next complete frame. Returns 1 with *hdr and *payload (valid until
 * the next call on r), 0 when more bytes are needed, -1 on a bad header (the
 * connection must be closed). Each call first drops the frame it returned
 * last time. */
int wp_frame_reader_next(wp_frame_reader_t *r, wp_frame_header_t *hdr, const uint8_t **payload,
                         wp_error_t *err);

/* Write one whole frame (header and payload in one writev, retried on short
 * writes and EINTR). On a non-blocking fd whose buffer is full it waits for
 * room, at most timeout_ms in all (ETIMEDOUT; -1: no limit): a peer that
 * stops reading costs its writer a bounded wait, never a hang. */
int wp_frame_write_timeout(int fd, uint32_t id, wp_frame_kind_t kind, const void *payload,
                           size_t len, int timeout_ms, wp_error_t *err);
/* The same with the header's flags set (WP_FRAME_FLAG_EOF on stream frames). */
int wp_frame_write_flags(int fd, uint32_t id, wp_frame_kind_t kind, uint8_t flags,
                         const void *payload, size_t len, int timeout_ms, wp_error_t *err);
/* The same with no limit (for blocking fds). */
int wp_frame_write(int fd, uint32_t id, wp_frame_kind_t kind, const void *payload, size_t len,
                   wp_error_t *err);

#endif
