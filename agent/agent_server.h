/* agent_server.h - the guest agent's event loop: one epoll set serving
 * every host connection at once, plus whatever the transports watch.
 *
 * Per connection: a frame reader; each complete REQUEST frame is decoded,
 * handled (agent_handlers.h) and answered on its id; container calls
 * (16-31) go to the container manager (agent_containers.h), which may
 * answer later (a wait), on the same connection. STREAM and CREDIT frames
 * go to the manager too; one it refuses (a stream id that is not an open
 * stdin of this connection, data beyond the credit) closes that connection
 * with one log line. A payload that does
 * not decode, or a frame of the wrong kind, gets an error response and the
 * connection stays; a bad header (oversized, garbage) closes that
 * connection only. Replies are written at once; on a non-blocking fd (vsock
 * connections) whose host stopped reading, the write waits at most
 * AGENT_WRITE_TIMEOUT_MS and the connection is then closed, so one stuck
 * host delays the others by a bounded time. Single-threaded: every function
 * runs on the loop's thread. */
#ifndef AGENT_SERVER_H
#define AGENT_SERVER_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint32_t */

#include "agent_handlers.h"
#include "wp_error.h"

#define AGENT_WRITE_TIMEOUT_MS 2000

typedef struct agent_server agent_server_t;
typedef struct agent_watch agent_watch_t;
typedef struct agent_conn agent_conn_t;

typedef void (*agent_watch_fn)(agent_server_t *s, agent_watch_t *w, uint32_t events);

/* A non-connection fd in the loop (listening socket, signalfd, netlink);
 * owned by whoever registers it. */
struct agent_watch {
    int fd;
    agent_watch_fn fn;
    void *opaque;
};

agent_server_t *agent_server_new(agent_ctx_t *ctx, wp_error_t *err);
/* Close every connection (except keep_fd ones) and free. */
void agent_server_free(agent_server_t *s);

int agent_server_watch(agent_server_t *s, agent_watch_t *w, uint32_t events, wp_error_t *err);
void agent_server_unwatch(agent_server_t *s, agent_watch_t *w);

/* Called when a connection's host goes away. */
typedef void (*agent_hangup_fn)(void *opaque);

/* Serve fd. With keep_fd the fd is not closed at hang-up (a virtio-serial
 * port: the next host arrives on the same fd); on_hangup is called either
 * way. With announce, an Announce event is sent at once. */
int agent_server_add_conn(agent_server_t *s, int fd, bool keep_fd, agent_hangup_fn on_hangup,
                          void *opaque, bool announce, wp_error_t *err);

/* Wait up to timeout_ms (-1: forever) and handle what is ready. */
int agent_server_run_once(agent_server_t *s, int timeout_ms, wp_error_t *err);

/* Number of connections being served (for tests). */
int agent_server_connections(const agent_server_t *s);

/* Collect every exited child (waitpid(-1, WNOHANG)) and hand each exit to
 * the container manager by pid; unknown pids (orphans) are just reaped.
 * Called on SIGCHLD. */
void agent_server_reap(agent_server_t *s);

/* Run fn(p) at the end of the current loop round (or now, outside one):
 * for objects whose fds may still have events pending in this round. */
int agent_server_defer_free(agent_server_t *s, void (*fn)(void *), void *p);

/* Send on one connection. A failed write marks c dead: later sends are
 * no-ops returning -1, and c is torn down (the manager forgets it, the fd is
 * closed, on_hangup runs) at the end of the current loop round, so c stays
 * valid memory until then. */
int agent_conn_respond(agent_conn_t *c, uint32_t id, const Warmpool__Agent__V1__Response *r);
int agent_conn_event(agent_conn_t *c, const Warmpool__Agent__V1__Event *e);
int agent_conn_stream(agent_conn_t *c, uint32_t stream, const void *data, size_t len, bool eof);
int agent_conn_credit(agent_conn_t *c, uint32_t stream, uint32_t bytes);
/* Close c (a protocol error), logging why once. */
void agent_conn_fail(agent_conn_t *c, const char *why);
/* Stream ids of c: 1, 2, ... never reused on c. */
uint32_t agent_conn_new_stream_id(agent_conn_t *c);
/* Send e to every live connection. */
void agent_server_broadcast(agent_server_t *s, const Warmpool__Agent__V1__Event *e);

/* Bytes the agent holds for streams (stdin buffers), now and at most so
 * far: for tests of the memory bound. */
void agent_server_buffered_add(agent_server_t *s, long delta);
size_t agent_server_buffered(const agent_server_t *s, size_t *peak);

/* Send an Announce on a connection being served: a host that went away
 * and came back before the agent saw it go (agent_transport_serial.c)
 * waits for one. */
int agent_server_announce(agent_server_t *s, int fd);

#endif
