/* api_server.h - warmpoold's API: protobuf-c messages (proto/pool.proto)
 * over nng req/rep on a unix socket (ipc://), served by a set of nng
 * contexts so many requests are in flight at once; a slow call (a clone on
 * a miss, a template build, a watch) never holds up the others.
 *
 * Calls that never sleep (an acquire hit on a running warm VM when the
 * journal is on a memory filesystem, lease checks, status, health) are
 * answered on nng's own callback thread as their request arrives, with no
 * thread hand-off. Each context also has a worker thread for the calls
 * that may block (a clone on a miss, a resume, a release's VM destroy, a
 * watch's long poll, the template store): blocking nng's callback threads
 * would stall every other context.
 *
 * Security: the socket file is created with mode cfg->socket_mode (0600 by
 * default; NNG_OPT_IPC_PERMISSIONS, applied between bind and listen so
 * there is no window with a wider mode) and every request's peer uid
 * (NNG_OPT_IPC_PEER_UID, from SO_PEERCRED) is checked against
 * cfg->allowed_uid; a refused peer gets an EPERM reply. A lease can only be
 * released with its token (pool.h).
 *
 * Bad input gets an error reply and the server keeps serving: bytes that do
 * not decode (EBADMSG), no call set (EOPNOTSUPP), a request larger than
 * API_MAX_MESSAGE (EMSGSIZE). Past API_RECV_HARD_MAX nng itself refuses to
 * buffer the message and drops that client's connection: the client sees
 * its connection reset (api_client: ECONNRESET at once, since it disables
 * req resends; a plain nng req socket with resends on re-sends and sees
 * its timeout), and every other client is served as before.
 *
 * Leases are never lost in transit where the server can tell: an acquire
 * whose client disconnected before the reply was sent (NNG_PIPE_EV_REM_POST
 * on its connection), or whose own timeout_ms had passed, or whose reply
 * failed to send, is released by the server. Once the reply is handed to
 * nng, a client that vanishes before reading it keeps the lease (rep0
 * reports no delivery); `warmpoolctl leases` shows it.
 *
 * Threads: start/stop from the daemon's main thread; the handlers run on
 * nng's callback threads and the server's worker threads and call pool_*
 * (thread-safe) and the factory. */
#ifndef API_SERVER_H
#define API_SERVER_H

#include <stdbool.h>   /* bool */
#include <sys/types.h> /* uid_t */

#include "api_codec.h"
#include "factory.h"
#include "pool.h"
#include "wp_error.h"

#define API_DEFAULT_CONTEXTS    32 /* limits (API_MAX_MESSAGE, ...) are in api_codec.h */
#define API_DEFAULT_WATCHDOG_MS 2000

typedef struct api_server_config {
    const char *url;      /* "ipc:///run/warmpool/warmpoold.sock"; its directory is created */
    unsigned socket_mode; /* 0: 0600 */
    uid_t allowed_uid;    /* peers with another uid are refused (EPERM); root always allowed */
    int contexts;         /* requests served at once; 0: API_DEFAULT_CONTEXTS */
    factory_t *factory;   /* for template build / list / remove; NULL: those fail ENOTSUP */
    int watchdog_ms;      /* listener check period (see below); 0: the default, < 0: none */
} api_server_config_t;

typedef struct api_server api_server_t;

/* Listen and serve. Owned by the caller; stop with api_server_stop. Fails
 * with the nng error as errno-like code (EADDRINUSE when another live
 * daemon holds the socket). */
api_server_t *api_server_start(pool_t *pool, const api_server_config_t *cfg, wp_error_t *err);

/* Stop serving: the calls in progress run to their end and reply (an
 * acquire to its deadline, a template build to its end; a watch returns at
 * once), then every connection is closed, the socket file removed and the
 * server freed. Requests not yet picked up are dropped (their clients see
 * a connection reset). NULL is a no-op. */
void api_server_stop(api_server_t *s);

/* How many times the listener watchdog had to listen anew (for tests and
 * logs): nng 1.5.2 stops accepting connections for good after a client
 * hangs up during its handshake; every watchdog_ms the server checks that
 * a new connection is still adopted and, if not, listens anew on the path
 * (connections already open keep working). */
unsigned api_server_listener_restarts(api_server_t *s);

/* The peer check: root, or the allowed uid. */
bool api_server_peer_allowed(uid_t peer_uid, uid_t allowed_uid);

#endif
