/* api_sp.h - the client end of nng's req0 protocol over its ipc transport,
 * spoken directly on a unix socket by the calling thread: no I/O threads,
 * no hand-off, one write and one read per call. The wire (nng 1.5 ipc +
 * req0, what api_server's rep0 socket expects):
 *   handshake, each way: 00 'S' 'P' 00, protocol (BE16: req0 0x30, rep0
 *     0x31), 00 00;
 *   a message: 01, length (BE64) of what follows, then the SP header (the
 *     request id, BE32 with the top bit set; a reply carries it back), then
 *     the protobuf body.
 * Deadlines are CLOCK_MONOTONIC ns. Failures return -1 with err->code an
 * errno (ENOENT / ECONNREFUSED / EACCES on connect, ETIMEDOUT, ECONNRESET,
 * EPROTO, EMSGSIZE) and a short message; api_client.c words them for people.
 * Threads: one call on an fd at a time. */
#ifndef API_SP_H
#define API_SP_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint32_t, int64_t */

#include "wp_error.h"

#define API_SP_FRAME_HEAD 13 /* type, length, request id */

/* Connect to the unix socket at path and complete the handshake: the fd
 * (non-blocking, close-on-exec, owned by the caller). */
int api_sp_connect(const char *path, int64_t deadline_ns, wp_error_t *err);

/* True when an idle connection is no longer usable: the daemon closed it
 * (or, against the protocol, sent something unasked). */
bool api_sp_idle_dead(int fd);

/* Send frame[0..API_SP_FRAME_HEAD + body_len), whose body the caller has
 * written at frame + API_SP_FRAME_HEAD; this fills the head for request id. */
int api_sp_send(int fd, uint8_t *frame, size_t body_len, uint32_t id, int64_t deadline_ns,
                wp_error_t *err);

/* Receive the reply to request id: *body malloc'd (caller frees), *len
 * bytes; a reply longer than max fails with EMSGSIZE. */
int api_sp_recv(int fd, uint32_t id, size_t max, int64_t deadline_ns, uint8_t **body, size_t *len,
                wp_error_t *err);

#endif
