/* wire.h - the far end of an agent connection in tests: raw frames on an
 * fd, decoded with the protocol's own messages. The helpers assert with
 * Criterion, so they belong to the test thread only. */
#ifndef WIRE_H
#define WIRE_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint32_t */

#include "agent.pb-c.h"
#include "wp_frame.h"

#define WIRE_WAIT_MS 5000 /* how long a reply that must come may take */

typedef struct wire {
    int fd; /* owned: closed by wire_fini */
    wp_frame_reader_t reader;
} wire_t;

void wire_init(wire_t *w, int fd);
void wire_fini(wire_t *w);

/* Write msg as one frame. */
void wire_send(wire_t *w, uint32_t id, wp_frame_kind_t kind, const ProtobufCMessage *msg);
/* Append msg as one frame to buf at *off (for several frames in one write). */
void wire_pack(uint8_t *buf, size_t cap, size_t *off, uint32_t id, wp_frame_kind_t kind,
               const ProtobufCMessage *msg);
void wire_write(wire_t *w, const void *buf, size_t len);
/* One STREAM frame (flags: WP_FRAME_FLAG_EOF or 0) and one CREDIT frame. */
void wire_stream(wire_t *w, uint32_t stream, const void *data, size_t len, uint8_t flags);
void wire_credit(wire_t *w, uint32_t stream, uint32_t bytes);
/* A bare frame header (a payload that may never follow). */
void wire_header(wire_t *w, uint32_t id, wp_frame_kind_t kind, uint32_t length);
/* The u32 a CREDIT frame carries. */
uint32_t wire_credit_value(const uint8_t *payload);

/* The next frame within timeout_ms: 1 with *h and *payload (valid until the
 * next call), 0 when the peer closed, -1 when nothing whole came in time. A
 * bad header fails the test. */
int wire_next(wire_t *w, int timeout_ms, wp_frame_header_t *h, const uint8_t **payload);

/* The next frame, which must be of that kind and decode, within
 * WIRE_WAIT_MS. The caller frees the result (..._free_unpacked). */
Warmpool__Agent__V1__Response *wire_response(wire_t *w, uint32_t *id);
Warmpool__Agent__V1__Request *wire_request(wire_t *w, uint32_t *id);
Warmpool__Agent__V1__Event *wire_event(wire_t *w);

/* True when the peer closes within timeout_ms; frames before that are dropped. */
bool wire_closed(wire_t *w, int timeout_ms);

/* One request and the storage it points into (so it must not move). */
typedef struct wire_call {
    Warmpool__Agent__V1__Request req;
    Warmpool__Agent__V1__PingRequest ping;
    Warmpool__Agent__V1__ReseedRequest reseed;
    Warmpool__Agent__V1__SetClockRequest set_clock;
    Warmpool__Agent__V1__RandomSampleRequest random_sample;
    Warmpool__Agent__V1__InfoRequest info;
    Warmpool__Agent__V1__ShutdownRequest shutdown;
} wire_call_t;

Warmpool__Agent__V1__Request *call_ping(wire_call_t *c, uint64_t token);
Warmpool__Agent__V1__Request *call_reseed(wire_call_t *c, const uint8_t *entropy, size_t len);
Warmpool__Agent__V1__Request *call_set_clock(wire_call_t *c, int64_t realtime_ns);
Warmpool__Agent__V1__Request *call_random(wire_call_t *c, uint32_t length);
Warmpool__Agent__V1__Request *call_info(wire_call_t *c);
Warmpool__Agent__V1__Request *call_shutdown(wire_call_t *c);

#endif
