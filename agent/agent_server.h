/* agent_server.h - the guest agent's event loop: one epoll set serving
 * every host connection at once, plus whatever the transports watch.
 *
 * Per connection: a frame reader; each complete REQUEST frame is decoded,
 * handled (agent_handlers.h) and answered on its id. A payload that does
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
#include <stdint.h>  /* uint32_t */

#include "agent_handlers.h"
#include "wp_error.h"

#define AGENT_WRITE_TIMEOUT_MS 2000

typedef struct agent_server agent_server_t;
typedef struct agent_watch agent_watch_t;

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

#endif
