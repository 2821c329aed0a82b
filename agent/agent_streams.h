/* agent_streams.h - one process's stdio as protocol streams with credit
 * (proto/agent.proto, agent_protocol.h).
 *
 * Output (stdout, stderr: a pipe's read end or the pty master): read in the
 * loop, at most AGENT_STREAM_CHUNK per readiness and never more than the
 * host's credit (AGENT_STREAM_WINDOW at the start, plus every CREDIT), each
 * read sent at once as one STREAM frame, so the agent buffers no output: a
 * control reply waits behind at most one chunk per ready stream. While the
 * credit is 0 the fd leaves the epoll set. At end of file (a pty master's
 * EIO included) an empty EOF frame goes and on_eof is called. A stream whose
 * connection went away reads and discards, so the writer never blocks.
 *
 * Input (stdin: a pipe's write end or the pty master): the host may send
 * AGENT_STREAM_WINDOW bytes uncredited; they are buffered (never more than
 * the window), written as the fd takes them, and credited back in CREDIT
 * frames of at least AGENT_STREAM_WINDOW / 4 bytes, or whatever is left
 * when the buffer drains. An EOF frame closes the fd once the buffer is
 * written. A reader that went away (EPIPE) makes further data be dropped
 * and credited at once.
 *
 * Single-threaded (the agent's loop). A stream is embedded in its process;
 * its memory must stay valid until the end of the loop round in which it is
 * closed (agent_server_defer_free). */
#ifndef AGENT_STREAMS_H
#define AGENT_STREAMS_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint32_t */

#include "agent_server.h"

typedef void (*agent_stream_eof_fn)(void *opaque);

typedef struct agent_out_stream {
    agent_watch_t watch; /* fd -1 once closed */
    agent_server_t *srv;
    agent_conn_t *conn; /* NULL: the owner is gone, output is discarded */
    uint32_t id;        /* 0: no stream */
    uint32_t credit;    /* bytes the host still accepts */
    bool watching;
    bool eof; /* end of file seen (and, with an owner, sent) */
    agent_stream_eof_fn on_eof;
    void *opaque;
} agent_out_stream_t;

typedef struct agent_in_stream {
    agent_watch_t watch; /* fd -1 once closed */
    agent_server_t *srv;
    agent_conn_t *conn; /* NULL: detached, nothing more arrives */
    uint32_t id;        /* 0: no stream */
    uint8_t *buf;       /* AGENT_STREAM_WINDOW bytes, allocated on open */
    size_t off, len;    /* buffered bytes are buf[off, off + len) */
    uint32_t allowance; /* bytes the host may still send */
    uint32_t ungranted; /* consumed, not yet credited back */
    bool host_eof;      /* EOF frame received: the stream is closed to the host */
    bool watching;
} agent_in_stream_t;

/* Take fd (made non-blocking) as a new output stream of conn, with a fresh
 * stream id. On failure fd is closed. */
int agent_out_open(agent_out_stream_t *s, agent_server_t *srv, agent_conn_t *conn, int fd,
                   agent_stream_eof_fn on_eof, void *opaque, wp_error_t *err);
/* The host granted n more bytes. */
void agent_out_credit(agent_out_stream_t *s, uint32_t n);
/* The owner went away: discard from now on. */
void agent_out_detach(agent_out_stream_t *s);
/* Close now (the process is being deleted): an EOF goes to the owner if it
 * was not sent; on_eof is not called. Idempotent. */
void agent_out_close(agent_out_stream_t *s);

/* Take fd (made non-blocking) as the stdin stream of conn. */
int agent_in_open(agent_in_stream_t *s, agent_server_t *srv, agent_conn_t *conn, int fd,
                  wp_error_t *err);
/* A STREAM frame from the host. EPROTO when it exceeds the credit or the
 * stream saw EOF before (the caller closes the connection). */
int agent_in_data(agent_in_stream_t *s, const uint8_t *data, size_t len, bool eof, wp_error_t *err);
/* Close the fd after what is buffered (CloseStdin): as an EOF frame. */
void agent_in_eof(agent_in_stream_t *s);
/* The process exited: close the fd; data still arriving is dropped and
 * credited at once, so the stream stays legal to the host until its EOF. */
void agent_in_reader_gone(agent_in_stream_t *s);
/* Close now, dropping what is buffered (owner gone, process deleted).
 * Idempotent; frees the buffer. */
void agent_in_close(agent_in_stream_t *s);
/* True while frames on this id are legal. */
bool agent_in_open_to(const agent_in_stream_t *s, const agent_conn_t *conn, uint32_t id);

#endif
