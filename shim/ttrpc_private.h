/* ttrpc_private.h - the server's records, shared by ttrpc_server.c,
 * ttrpc_conn.c and ttrpc_frame.c; only the shim's ttrpc files and tests
 * include it. Everything here runs on the server's one thread.
 *
 * Lifetimes: a connection holds one reference while open and one per call
 * not yet answered, plus one while an event of it is being handled, so a
 * call (or an epoll event already returned) never points at freed memory.
 * Closing a connection removes its fd at once; the record goes with its last
 * reference. */
#ifndef SHIM_TTRPC_PRIVATE_H
#define SHIM_TTRPC_PRIVATE_H

#include <protobuf-c/protobuf-c.h> /* ProtobufCMessage */

#include "ttrpc.h"
#include "ttrpc.pb-c.h" /* Ttrpc__Request */

/* What an epoll event's data.ptr points at: the record's first member. */
enum ttrpc_ep_kind { TTRPC_EP_LISTENER = 1, TTRPC_EP_CONN = 2 };

struct ttrpc_method {
    struct ttrpc_method *next;
    char *service, *method;
    ttrpc_handler_fn fn;
    void *opaque;
};

struct ttrpc_listener {
    enum ttrpc_ep_kind kind;
    int fd;
    struct ttrpc_listener *next;
};

/* One encoded frame waiting for room in the socket. */
struct ttrpc_out {
    struct ttrpc_out *next;
    uint8_t *buf;
    size_t len, off; /* off: bytes already written */
};

struct ttrpc_conn {
    enum ttrpc_ep_kind kind;
    int fd; /* -1 once closed */
    bool closed;
    unsigned refs;
    ttrpc_server_t *server;
    struct ttrpc_conn *prev, *next; /* the server's open connections */
    uint8_t *rbuf;                  /* bytes read, not yet a whole frame */
    size_t rlen, rcap;
    uint32_t discard; /* payload bytes of an oversized frame still to skip */
    struct ttrpc_out *head, *tail;
    size_t queued; /* bytes in the queue not yet written */
    bool pollout;  /* EPOLLOUT armed */
};

struct ttrpc_call {
    struct ttrpc_conn *conn;
    uint32_t stream_id;
    Ttrpc__Request *req;            /* owns method, metadata and payload */
    int64_t received_ns;            /* monotonic: the call's time, logged at debug */
    struct ttrpc_call *prev, *next; /* the server's unanswered calls */
};

struct ttrpc_server {
    int epfd;
    struct ttrpc_listener *listeners;
    struct ttrpc_method *methods;
    struct ttrpc_conn *conns;
    size_t n_conns;
    struct ttrpc_call *calls;
};

/* ---- ttrpc_frame.c ---- */

/* A whole frame (header and m packed) in a malloc'd buffer of *len bytes;
 * NULL with ENOMEM, or EMSGSIZE when m packs to more than TTRPC_MAX_PAYLOAD. */
uint8_t *ttrpc_frame_pack(uint32_t stream_id, uint8_t type, const ProtobufCMessage *m, size_t *len,
                          wp_error_t *err);
/* A Response frame: status code and message (NULL: empty), payload only
 * when code is OK. A payload too large to send becomes RESOURCE_EXHAUSTED. */
uint8_t *ttrpc_response_pack(uint32_t stream_id, enum ttrpc_code code, const char *message,
                             const uint8_t *payload, size_t len, size_t *frame_len,
                             wp_error_t *err);

/* ---- ttrpc_server.c ---- */

const struct ttrpc_method *ttrpc_server_lookup(const ttrpc_server_t *s, const char *service,
                                               const char *method);

/* ---- ttrpc_conn.c ---- */

/* Take over an accepted, non-blocking fd (closed on failure too). */
struct ttrpc_conn *ttrpc_conn_new(ttrpc_server_t *s, int fd, wp_error_t *err);
void ttrpc_conn_ref(struct ttrpc_conn *c);
void ttrpc_conn_unref(struct ttrpc_conn *c);
/* Close the socket, drop the queue, mark the calls' connection closed. Idempotent. */
void ttrpc_conn_close(struct ttrpc_conn *c);
/* Handle epoll events (EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR) of c. */
void ttrpc_conn_event(struct ttrpc_conn *c, uint32_t events);
/* Queue a response on c and write what the socket takes; closes c when
 * writing fails or the queue passes TTRPC_MAX_QUEUED. */
void ttrpc_conn_respond(struct ttrpc_conn *c, uint32_t stream_id, enum ttrpc_code code,
                        const char *message, const uint8_t *payload, size_t len);
/* Free every unanswered call (ttrpc_server_free). */
void ttrpc_call_free(ttrpc_call_t *call);

#endif
