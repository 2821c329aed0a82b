/* ttrpc.h - ttrpc (containerd's RPC over unix sockets) for the shim: a
 * single-threaded, event-driven server and a small blocking client.
 * Wire facts: ../shared/specs/containerd-shim-v2.md ("ttrpc framing");
 * envelopes in proto/ttrpc.proto.
 *
 * Server. One thread drives it: ttrpc_server_fd() is an epoll fd that is
 * readable whenever a listener or connection needs attention, so the
 * caller can poll(2) it beside its own fds and then call
 * ttrpc_server_process(). Each complete request frame is decoded and given
 * to the handler of its service/method (ttrpc_server_add); a method nobody
 * registered is answered UNIMPLEMENTED (12), an even stream id
 * INVALID_ARGUMENT (3), an envelope that does not decode INVALID_ARGUMENT, a
 * payload over TTRPC_MAX_PAYLOAD RESOURCE_EXHAUSTED (8, the payload is
 * discarded without being buffered whole); a frame that cannot be a frame
 * (a read error, EOF mid-frame) closes that connection only. Frames of an
 * unknown type are skipped.
 *
 * Replies may be deferred: a handler answers at once (ttrpc_call_reply) or
 * keeps the call and answers later, from the same thread, in any order
 * (containerd's Wait blocks while Start and State arrive on the same
 * connection). A call is owned by the server until it is answered; when its
 * connection closes first, the call stays valid, ttrpc_call_closed() says
 * so, and the reply is dropped (and the call freed) when it comes. Replies
 * are queued per connection and written as the socket takes them, so a
 * client that stops reading never blocks the thread (the queue of one
 * connection is bounded; past TTRPC_MAX_QUEUED bytes that connection is
 * closed).
 *
 * Client. Blocking unary calls on one connection, one call at a time (the
 * shim's events publisher). */
#ifndef SHIM_TTRPC_H
#define SHIM_TTRPC_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint8_t, uint32_t */

#include "wp_error.h"

#define TTRPC_HEADER_LEN    10
#define TTRPC_MAX_PAYLOAD   (4u << 20)
#define TTRPC_MAX_QUEUED    (16u << 20)
#define TTRPC_TYPE_REQUEST  1
#define TTRPC_TYPE_RESPONSE 2

/* gRPC status codes (google.rpc.Code) that the shim uses. */
enum ttrpc_code {
    TTRPC_OK = 0,
    TTRPC_CANCELLED = 1,
    TTRPC_UNKNOWN = 2,
    TTRPC_INVALID_ARGUMENT = 3,
    TTRPC_DEADLINE_EXCEEDED = 4,
    TTRPC_NOT_FOUND = 5,
    TTRPC_ALREADY_EXISTS = 6,
    TTRPC_PERMISSION_DENIED = 7,
    TTRPC_RESOURCE_EXHAUSTED = 8,
    TTRPC_FAILED_PRECONDITION = 9,
    TTRPC_ABORTED = 10,
    TTRPC_UNIMPLEMENTED = 12,
    TTRPC_INTERNAL = 13,
    TTRPC_UNAVAILABLE = 14,
};

/* The gRPC code for an errno (ENOENT -> NOT_FOUND, EEXIST -> ALREADY_EXISTS,
 * EINVAL -> INVALID_ARGUMENT, EBUSY/EALREADY -> FAILED_PRECONDITION, ...;
 * anything else UNKNOWN). */
enum ttrpc_code ttrpc_code_from_errno(int code);

/* ---- frames (exposed for tests and the client) ---- */

typedef struct ttrpc_header {
    uint32_t length; /* payload bytes, header not counted */
    uint32_t stream_id;
    uint8_t type, flags;
} ttrpc_header_t;

void ttrpc_header_encode(const ttrpc_header_t *h, uint8_t out[TTRPC_HEADER_LEN]);
void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], ttrpc_header_t *h);

/* ---- server ---- */

typedef struct ttrpc_server ttrpc_server_t;
typedef struct ttrpc_call ttrpc_call_t;

/* A request for a registered method, called from ttrpc_server_process.
 * payload (len bytes, the Request's payload field, maybe empty and then
 * maybe NULL) is borrowed for the call: valid until it is answered. The
 * handler must eventually call ttrpc_call_reply exactly once on call (now
 * or later, from the server's thread); it must not free the server. */
typedef void (*ttrpc_handler_fn)(void *opaque, ttrpc_call_t *call, const uint8_t *payload,
                                 size_t len);

/* A server with no listener yet. Owned by the caller (ttrpc_server_free). */
ttrpc_server_t *ttrpc_server_new(wp_error_t *err);
/* Frees the server, closing listeners and connections; calls not yet
 * answered are freed too (their handles become invalid). */
void ttrpc_server_free(ttrpc_server_t *s);

/* Serve on an already listening unix socket fd (ownership passes, on
 * failure too: the fd is closed). */
int ttrpc_server_listen_fd(ttrpc_server_t *s, int fd, wp_error_t *err);
/* Create, bind and listen on a unix socket at path (an existing socket file
 * there is an error: EADDRINUSE); returns the fd (owned by the server). */
int ttrpc_server_listen(ttrpc_server_t *s, const char *path, wp_error_t *err);

/* Register fn for "service/method" (e.g. "containerd.task.v2.Task", "Create").
 * Strings are copied. EEXIST when registered already. */
int ttrpc_server_add(ttrpc_server_t *s, const char *service, const char *method,
                     ttrpc_handler_fn fn, void *opaque, wp_error_t *err);

/* The fd to poll for POLLIN. */
int ttrpc_server_fd(const ttrpc_server_t *s);
/* Accept, read, dispatch and write whatever is ready, waiting up to
 * timeout_ms (0: not at all, -1: no limit) for something to be. */
int ttrpc_server_process(ttrpc_server_t *s, int timeout_ms, wp_error_t *err);
/* Connections currently open (the shim exits when containerd is gone). */
size_t ttrpc_server_connections(const ttrpc_server_t *s);

/* ---- a call ---- */

/* The method's name ("Create"), borrowed while the call lives. */
const char *ttrpc_call_method(const ttrpc_call_t *call);
/* The value of request metadata key (e.g. "containerd-namespace-ttrpc"), or NULL. */
const char *ttrpc_call_metadata(const ttrpc_call_t *call, const char *key);
/* The request's timeout_nano (0: none). */
int64_t ttrpc_call_timeout_ns(const ttrpc_call_t *call);
/* True once the call's connection has closed (a reply would be dropped). */
bool ttrpc_call_closed(const ttrpc_call_t *call);

/* Answer call and free it. code TTRPC_OK: payload (len bytes, may be empty)
 * is the response message; otherwise message (may be NULL) is the status
 * message and payload is ignored. A response that would exceed
 * TTRPC_MAX_PAYLOAD is sent as RESOURCE_EXHAUSTED instead (the peer would
 * refuse it). */
void ttrpc_call_reply(ttrpc_call_t *call, enum ttrpc_code code, const char *message,
                      const uint8_t *payload, size_t len);
/* Answer with err: code ttrpc_code_from_errno(err->code), err->msg. */
void ttrpc_call_reply_error(ttrpc_call_t *call, const wp_error_t *err);

/* ---- client ---- */

typedef struct ttrpc_client ttrpc_client_t;

/* Connect to the unix socket at path ("unix://" prefix allowed). */
ttrpc_client_t *ttrpc_client_connect(const char *path, wp_error_t *err);
void ttrpc_client_close(ttrpc_client_t *c);

/* One unary call with metadata pairs (meta: 2*n strings key, value; may be
 * NULL when n is 0) and timeout_ms (also sent as timeout_nano; -1: none).
 * On OK, *resp (malloc'd, caller frees; may be NULL with *resp_len 0 for an
 * empty message) is the response payload. A non-OK status is -1 with err
 * code EREMOTEIO and the status' code and message in the sentence; *status
 * (may be NULL) gets the code. A broken or timed-out exchange closes the
 * connection: later calls fail with ENOTCONN. */
int ttrpc_client_call(ttrpc_client_t *c, const char *service, const char *method,
                      const char *const *meta, size_t n_meta, const uint8_t *payload, size_t len,
                      int timeout_ms, uint8_t **resp, size_t *resp_len, enum ttrpc_code *status,
                      wp_error_t *err);

#endif
