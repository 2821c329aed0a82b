/* agent_client_internal.h - the client's state, shared by agent_client*.c
 * and nothing else (tests reach it only through the public headers). */
#ifndef AGENT_CLIENT_INTERNAL_H
#define AGENT_CLIENT_INTERNAL_H

#include <stdbool.h> /* bool */
#include <stdint.h>  /* uint64_t */

#include "agent_client.h"
#include "agent_client_stream.h"
#include "wp_frame.h"

/* Frames are written with this bound: a peer that stops reading costs a
 * bounded wait (ETIMEDOUT), never a hang. */
#define AGENT_CLIENT_WRITE_MS 10000

/* A call sent and not yet taken by its caller. */
typedef struct agent_pending {
    uint32_t id;
    bool arrived;
    Warmpool__Agent__V1__Response *resp; /* NULL with arrived: did not decode */
    struct agent_pending *next;
} agent_pending_t;

/* One direction of one process stdio stream, as the agent announced it in
 * a create or exec response. Counters are cumulative over the stream. */
typedef struct agent_stream {
    uint32_t id;
    bool input; /* stdin: host -> agent */
    /* output: what arrived, what the agent may send in all (the window plus
     * every credit granted), what was consumed and not yet credited */
    uint64_t received, allowed;
    uint32_t unacked;
    bool manual;        /* the caller says what it consumed (stream_consumed) */
    uint64_t handed;    /* manual: bytes given to the sink not yet consumed */
    agent_stream_fn fn; /* NULL: the client's default sink */
    void *opaque;
    /* input: what was sent, and the window plus every credit received */
    uint64_t sent, credited;
    struct agent_stream *next;
} agent_stream_t;

struct agent_client {
    int fd; /* non-blocking */
    uint32_t next_id;
    wp_frame_reader_t reader;
    Warmpool__Agent__V1__Event *announce; /* last Announce event, owned */
    agent_pending_t *pending;
    agent_stream_t *streams;
    agent_event_fn on_event;
    void *event_opaque;
    agent_stream_fn on_stream;
    void *stream_opaque;
    /* a protocol error or a lost connection is final: kept, and returned
     * by every later call */
    bool broken;
    wp_error_t broken_err;
};

/* Fail with (and remember) a fatal connection error. Returns -1. */
int agent_client_break(agent_client_t *c, wp_error_t *err);
/* -1 with the remembered error when the client is broken, else 0. */
int agent_client_check(agent_client_t *c, wp_error_t *err);

/* Streams (agent_client_stream.c). */
agent_stream_t *agent_stream_find(agent_client_t *c, uint32_t id);
/* Register the streams a create or exec response names. */
int agent_stream_register(agent_client_t *c, const Warmpool__Agent__V1__StdioStreams *s,
                          wp_error_t *err);
/* Check a stream frame's header before its payload arrives (so an oversized
 * or uncredited frame is refused before it is buffered). */
int agent_stream_check(agent_client_t *c, const wp_frame_header_t *h, wp_error_t *err);
/* Deliver a stream frame (checked), then grant credit in batches. */
int agent_stream_deliver(agent_client_t *c, const wp_frame_header_t *h, const uint8_t *payload,
                         wp_error_t *err);
void agent_stream_credit(agent_client_t *c, uint32_t id, const uint8_t payload[4]);
void agent_streams_free(agent_client_t *c);

/* Send req and check that its response has want_case (agent_client.c). *out
 * (may be NULL) receives the response, which the caller frees. */
int agent_client_simple_call(agent_client_t *c, Warmpool__Agent__V1__Request *req, int want_case,
                             Warmpool__Agent__V1__Response **out, int timeout_ms, wp_error_t *err);

#endif
