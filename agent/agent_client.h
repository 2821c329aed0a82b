/* agent_client.h - host-side client of the guest agent protocol
 * (proto/agent.proto over common/wp_frame.h).
 *
 * One client per connection; a client is used by one thread at a time. The
 * calls here are synchronous: each sends a request with a fresh id and pumps
 * frames until the response with that id arrives; whatever else arrives
 * meanwhile is dispatched (the last Announce is kept; other events, stream
 * data and other calls' responses as agent_client_stream.h says: calls in
 * flight, stdio streams with credit, event callbacks). Container calls are
 * in agent_client_containers.h. A protocol error or a lost connection is
 * final: every later call fails with it. Readiness is an event: connect
 * does not poll or back off; wait_announce blocks on the socket until the
 * agent's Announce arrives or the deadline passes.
 *
 * Endpoints: "unix:/path" (virtio-serial port behind a unix socket) or
 * "vsock:CID:PORT". */
#ifndef AGENT_CLIENT_H
#define AGENT_CLIENT_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "agent.pb-c.h"
#include "wp_error.h"

typedef struct agent_client agent_client_t;

/* Connect to an endpoint. Fails at once when nothing listens. Owned by caller. */
agent_client_t *agent_client_connect(const char *endpoint, wp_error_t *err);
/* Wrap an already connected fd (ownership passes to the client). */
agent_client_t *agent_client_from_fd(int fd, wp_error_t *err);
void agent_client_close(agent_client_t *c);

/* Block until the agent's Announce arrives (or one already did). */
int agent_client_wait_announce(agent_client_t *c, int timeout_ms, wp_error_t *err);
/* Connect to a VM that is running and may have had another host (a lease
 * handed over, a VM kept by `warmpoolctl clone --keep`), and wait for the
 * agent's Announce. Over virtio-serial, what the agent wrote as the last
 * host left can reach the next one cut in the middle of a frame, which no
 * reader can resynchronise: such a connection (EMSGSIZE or EPROTO before
 * the Announce) is closed and opened again, up to 3 times; by then the
 * stale bytes are gone and the agent announces to the new connection. */
agent_client_t *agent_client_connect_announced(const char *endpoint, int timeout_ms,
                                               wp_error_t *err);
/* The last Announce seen, or NULL. Owned by the client. */
const Warmpool__Agent__V1__Announce *agent_client_announce(const agent_client_t *c);

/* Send req and wait for its response (caller frees it with
 * warmpool__agent__v1__response__free_unpacked). A response carrying a
 * nonzero error_code is turned into a -1 with the agent's message. */
int agent_client_call(agent_client_t *c, const Warmpool__Agent__V1__Request *req,
                      Warmpool__Agent__V1__Response **resp, int timeout_ms, wp_error_t *err);

/* Convenience calls. */
int agent_client_ping(agent_client_t *c, int timeout_ms, wp_error_t *err);
int agent_client_reseed(agent_client_t *c, const void *entropy, size_t len, int timeout_ms,
                        wp_error_t *err);
int agent_client_set_clock(agent_client_t *c, int64_t realtime_ns, int timeout_ms, wp_error_t *err);
int agent_client_random_sample(agent_client_t *c, void *out, size_t len, int timeout_ms,
                               wp_error_t *err);
/* *out is the decoded response; free it with warmpool__agent__v1__response__free_unpacked. */
int agent_client_info(agent_client_t *c, Warmpool__Agent__V1__Response **out, int timeout_ms,
                      wp_error_t *err);
int agent_client_shutdown(agent_client_t *c, int timeout_ms, wp_error_t *err);

#define _cleanup_agent_client_ __attribute__((cleanup(agent_client_closep)))
static inline void agent_client_closep(agent_client_t **c)
{
    if (*c)
        agent_client_close(*c);
}

#endif
