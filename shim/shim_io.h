/* shim_io.h - one process's stdio between containerd's FIFOs and the
 * agent's streams (agent_client_stream.h), without a thread.
 *
 * stdin: the FIFO is opened read-only and non-blocking (the shim never
 * holds its write end, so the client's close is an EOF); it is read only
 * when poll says so and the stream has credit: POLLIN is data, POLLHUP
 * after a writer came and went is the EOF, which becomes the stream's EOF.
 * CloseIO ends it once the FIFO holds nothing more (the client closes its
 * end before it sends CloseIO: what it wrote first still goes in).
 *
 * stdout/stderr: the agent's data goes into the FIFO as far as the pipe
 * takes it; the rest is held (at most AGENT_STREAM_WINDOW per stream: the
 * streams are in manual credit, so the agent cannot send more than the
 * shim holds plus what it wrote) and written when the FIFO has room, and
 * only what reached the FIFO is credited back. The FIFO is closed after
 * the stream's EOF once the client has read everything out of the pipe
 * (containerd's clients close their FIFOs as soon as Wait returns): the
 * reader's EOF.
 * A FIFO whose reader went away (EPIPE) drops its data from then on
 * (the container must not block on a client that left).
 *
 * Single-threaded: the shim's loop calls everything here. */
#ifndef SHIM_IO_H
#define SHIM_IO_H

#include <poll.h>    /* struct pollfd */
#include <stdbool.h> /* bool */

#include "agent_client_containers.h"
#include "wp_error.h"

#define SHIM_IO_DRAIN_POLL_MS  5
#define SHIM_IO_DRAIN_STALL_MS 5000

typedef struct shim_io shim_io_t;

/* Output that arrived before its process's io took the stream over: the
 * agent client dispatches a frame it already read when a call returns,
 * so a fast exec's first output (or its EOF) can come before shim_io_open
 * registers the sink. The store is the client's default sink
 * (agent_client_on_stream with shim_io_early_sink) and shim_io_open
 * claims what it holds for its streams. Bounded by SHIM_IO_EARLY_MAX
 * bytes; beyond that, early bytes are dropped (and logged). */
#define SHIM_IO_EARLY_MAX (1u << 20)
typedef struct shim_io_early shim_io_early_t;
shim_io_early_t *shim_io_early_new(void);
void shim_io_early_free(shim_io_early_t *e);
int shim_io_early_sink(void *opaque, uint32_t stream, const uint8_t *data, size_t len, bool eof,
                       wp_error_t *err);

/* Open the FIFOs (empty path: none) for process p on client c and take
 * over its output streams, with what early holds for them (may be NULL).
 * Owned by the caller (shim_io_free). */
shim_io_t *shim_io_open(agent_client_t *c, shim_io_early_t *early, const agent_process_t *p,
                        const char *stdin_path, const char *stdout_path, const char *stderr_path,
                        wp_error_t *err);
/* Close every fd; the streams are left to the agent client (a process
 * still running writes into nothing). NULL is a no-op. */
void shim_io_free(shim_io_t *io);

/* Up to 3 pollfds this io wants watched now into fds; returns how many. */
int shim_io_poll_fds(shim_io_t *io, struct pollfd *fds);
/* Act on the revents of the fds shim_io_poll_fds gave (same order). */
int shim_io_handle(shim_io_t *io, const struct pollfd *fds, int n, wp_error_t *err);

/* After the agent client pumped (its sinks ran): credit what reached the
 * FIFOs and close those whose stream is done. */
int shim_io_settle(shim_io_t *io, wp_error_t *err);
/* CloseIO: stdin's EOF, after what the FIFO still holds (idempotent). */
int shim_io_close_stdin(shim_io_t *io, wp_error_t *err);
/* True while an ended stream waits for its client to empty the FIFO (no
 * poll event says when: the loop polls again within SHIM_IO_DRAIN_POLL_MS). */
bool shim_io_draining(const shim_io_t *io);
/* True when both output streams have ended and all their bytes reached
 * the FIFOs (or were dropped for a reader that left). */
bool shim_io_drained(const shim_io_t *io);

#endif
