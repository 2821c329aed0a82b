/* wire.c - see wire.h. */
#include "wire.h"

#include <criterion/criterion.h>
#include <errno.h>  /* ECONNRESET */
#include <poll.h>   /* poll */
#include <string.h> /* memset */
#include <unistd.h> /* write, close */

#include "wp_time.h"

void wire_init(wire_t *w, int fd)
{
    w->fd = fd;
    wp_frame_reader_init(&w->reader, WP_FRAME_MAX_PAYLOAD);
}

void wire_fini(wire_t *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    wp_frame_reader_fini(&w->reader);
}

void wire_pack(uint8_t *buf, size_t cap, size_t *off, uint32_t id, wp_frame_kind_t kind,
               const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    cr_assert_leq(*off + WP_FRAME_HEADER_SIZE + len, cap, "test buffer too small");
    wp_frame_header_t h = {.length = (uint32_t)len, .id = id, .kind = (uint8_t)kind};
    wp_frame_header_encode(&h, buf + *off);
    protobuf_c_message_pack(msg, buf + *off + WP_FRAME_HEADER_SIZE);
    *off += WP_FRAME_HEADER_SIZE + len;
}

void wire_write(wire_t *w, const void *buf, size_t len)
{
    cr_assert_eq(write(w->fd, buf, len), (ssize_t)len);
}

void wire_stream(wire_t *w, uint32_t stream, const void *data, size_t len, uint8_t flags)
{
    wp_error_t err = {0};
    cr_assert_eq(wp_frame_write_flags(w->fd, stream, WP_FRAME_STREAM, flags, data, len, 5000, &err),
                 0, "%s", err.msg);
}

void wire_credit(wire_t *w, uint32_t stream, uint32_t bytes)
{
    uint8_t be[4] = {(uint8_t)(bytes >> 24), (uint8_t)(bytes >> 16), (uint8_t)(bytes >> 8),
                     (uint8_t)bytes};
    wp_error_t err = {0};
    cr_assert_eq(wp_frame_write(w->fd, stream, WP_FRAME_CREDIT, be, 4, &err), 0, "%s", err.msg);
}

void wire_header(wire_t *w, uint32_t id, wp_frame_kind_t kind, uint32_t length)
{
    uint8_t head[WP_FRAME_HEADER_SIZE];
    wp_frame_header_t h = {.length = length, .id = id, .kind = (uint8_t)kind};
    wp_frame_header_encode(&h, head);
    wire_write(w, head, sizeof(head));
}

uint32_t wire_credit_value(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void wire_send(wire_t *w, uint32_t id, wp_frame_kind_t kind, const ProtobufCMessage *msg)
{
    uint8_t buf[4096];
    size_t len = 0;
    wire_pack(buf, sizeof(buf), &len, id, kind, msg);
    wire_write(w, buf, len);
}

int wire_next(wire_t *w, int timeout_ms, wp_frame_header_t *h, const uint8_t **payload)
{
    int64_t deadline = wp_now_mono_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        wp_error_t err = {0};
        int got = wp_frame_reader_next(&w->reader, h, payload, &err);
        cr_assert_geq(got, 0, "bad frame header on the wire: %s", err.msg);
        if (got == 1)
            return 1;
        int64_t left = (deadline - wp_now_mono_ns()) / 1000000;
        struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
        int n = poll(&pfd, 1, left > 0 ? (int)left : 0);
        cr_assert_geq(n, 0, "poll: %s", strerror(errno));
        if (n == 0)
            return -1;
        long r = wp_frame_reader_read_fd(&w->reader, w->fd, &err);
        /* a pty master reads EIO once the port side is gone */
        if (r == 0 || (r < 0 && (err.code == ECONNRESET || err.code == EIO)))
            return 0;
        cr_assert_gt(r, 0, "read: %s", err.msg);
    }
}

static const uint8_t *next_of_kind(wire_t *w, wp_frame_kind_t kind, wp_frame_header_t *h)
{
    const uint8_t *payload = NULL;
    int got = wire_next(w, WIRE_WAIT_MS, h, &payload);
    cr_assert_neq(got, 0, "the peer closed instead of sending a frame");
    cr_assert_eq(got, 1, "no frame within %d ms", WIRE_WAIT_MS);
    cr_assert_eq(h->kind, kind, "frame %u: kind %u, wanted %u", h->id, h->kind, kind);
    return payload;
}

Warmpool__Agent__V1__Response *wire_response(wire_t *w, uint32_t *id)
{
    wp_frame_header_t h;
    const uint8_t *payload = next_of_kind(w, WP_FRAME_RESPONSE, &h);
    Warmpool__Agent__V1__Response *r =
        warmpool__agent__v1__response__unpack(NULL, h.length, payload);
    cr_assert_not_null(r, "response %u does not decode", h.id);
    *id = h.id;
    return r;
}

Warmpool__Agent__V1__Request *wire_request(wire_t *w, uint32_t *id)
{
    wp_frame_header_t h;
    const uint8_t *payload = next_of_kind(w, WP_FRAME_REQUEST, &h);
    Warmpool__Agent__V1__Request *r = warmpool__agent__v1__request__unpack(NULL, h.length, payload);
    cr_assert_not_null(r, "request %u does not decode", h.id);
    *id = h.id;
    return r;
}

Warmpool__Agent__V1__Event *wire_event(wire_t *w)
{
    wp_frame_header_t h;
    const uint8_t *payload = next_of_kind(w, WP_FRAME_EVENT, &h);
    cr_assert_eq(h.id, 0, "events travel on id 0");
    Warmpool__Agent__V1__Event *e = warmpool__agent__v1__event__unpack(NULL, h.length, payload);
    cr_assert_not_null(e, "event does not decode");
    return e;
}

bool wire_closed(wire_t *w, int timeout_ms)
{
    wp_frame_header_t h;
    const uint8_t *payload;
    int got;
    while ((got = wire_next(w, timeout_ms, &h, &payload)) == 1) {
    }
    return got == 0;
}

static Warmpool__Agent__V1__Request *call_init(wire_call_t *c)
{
    memset(c, 0, sizeof(*c));
    warmpool__agent__v1__request__init(&c->req);
    return &c->req;
}

Warmpool__Agent__V1__Request *call_ping(wire_call_t *c, uint64_t token)
{
    call_init(c);
    warmpool__agent__v1__ping_request__init(&c->ping);
    c->ping.token = token;
    c->req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_PING;
    c->req.ping = &c->ping;
    return &c->req;
}

Warmpool__Agent__V1__Request *call_reseed(wire_call_t *c, const uint8_t *entropy, size_t len)
{
    call_init(c);
    warmpool__agent__v1__reseed_request__init(&c->reseed);
    c->reseed.entropy.data = (uint8_t *)entropy;
    c->reseed.entropy.len = len;
    c->req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_RESEED;
    c->req.reseed = &c->reseed;
    return &c->req;
}

Warmpool__Agent__V1__Request *call_set_clock(wire_call_t *c, int64_t realtime_ns)
{
    call_init(c);
    warmpool__agent__v1__set_clock_request__init(&c->set_clock);
    c->set_clock.realtime_ns = realtime_ns;
    c->req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_SET_CLOCK;
    c->req.set_clock = &c->set_clock;
    return &c->req;
}

Warmpool__Agent__V1__Request *call_random(wire_call_t *c, uint32_t length)
{
    call_init(c);
    warmpool__agent__v1__random_sample_request__init(&c->random_sample);
    c->random_sample.length = length;
    c->req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_RANDOM_SAMPLE;
    c->req.random_sample = &c->random_sample;
    return &c->req;
}

Warmpool__Agent__V1__Request *call_info(wire_call_t *c)
{
    call_init(c);
    warmpool__agent__v1__info_request__init(&c->info);
    c->req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_INFO;
    c->req.info = &c->info;
    return &c->req;
}

Warmpool__Agent__V1__Request *call_shutdown(wire_call_t *c)
{
    call_init(c);
    warmpool__agent__v1__shutdown_request__init(&c->shutdown);
    c->req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_SHUTDOWN;
    c->req.shutdown = &c->shutdown;
    return &c->req;
}
