/* api_internal.h - what api_server.c and api_handlers.c share: one call in
 * progress and the dispatcher. Not installed; tests do not need it. */
#ifndef API_INTERNAL_H
#define API_INTERNAL_H

#include <stdatomic.h> /* atomic_bool */
#include <stdbool.h>   /* bool */
#include <stdint.h>    /* int64_t */

#include "api_codec.h"
#include "api_server.h"

/* One request being served. The handler fills resp (strings pointing into
 * this struct or the arena) or returns -1 with err; lease holds a lease the
 * reply hands out, so the server can release it if the reply cannot be
 * delivered. */
typedef struct api_call {
    pool_t *pool;
    factory_t *factory;
    const atomic_bool *stopping; /* set by api_server_stop: long polls return */
    int64_t server_started_ns;   /* CLOCK_MONOTONIC, for health */
    const pb_request_t *req;
    pb_response_t *resp;
    api_arena_t arena;
    int64_t received_ns; /* CLOCK_MONOTONIC */
    int64_t deadline_ns; /* acquire: past this the client has given up; 0 none */
    bool nowait;         /* on nng's callback thread: must not sleep (see api_dispatch) */
    bool holds_lease;
    pool_lease_t lease;
    wp_error_t err;
} api_call_t;

/* ---- the listener (api_listener.c) ---- */

typedef struct api_listener api_listener_t;

/* nng's error as the errno a caller can act on (EADDRINUSE, ...; else EIO). */
int api_nng_errno(int rv);

/* Create the socket's directory, listen on url (ipc://) with the file
 * mode, and every interval_ms (<= 0: never) check that the socket still
 * adopts new connections, listening anew if not. Registers the socket's
 * NNG_PIPE_EV_ADD_POST callback. */
api_listener_t *api_listener_start(nng_socket sock, const char *url, unsigned mode, int interval_ms,
                                   wp_error_t *err);
/* How many times the watchdog had to listen anew. */
unsigned api_listener_restarts(api_listener_t *al);
/* Stop the watchdog (the listeners stay: they close with the socket). */
void api_listener_stop(api_listener_t *al);
/* Free, once the socket is closed (its callback points here). */
void api_listener_free(api_listener_t *al);

/* Run the call: fills call->resp's result, or returns -1 with call->err set.
 * On a worker thread it may block as long as the call needs. With
 * call->nowait (nng's callback thread) it runs only what never sleeps (an
 * acquire hit on a running VM, lease checks, status, health) and returns
 * API_CALL_BLOCKS, having changed nothing, for the rest: the server then
 * hands the request to the context's worker thread. */
#define API_CALL_BLOCKS 1
int api_dispatch(api_call_t *call);

#endif
