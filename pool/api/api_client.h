/* api_client.h - a small synchronous client of warmpoold's API (api_server.h,
 * proto/pool.proto), for warmpoolctl, the shim and benchmarks.
 *
 * The client speaks nng's req0 protocol on the daemon's unix socket itself
 * (api_sp.h): the calling thread writes the request and reads the reply,
 * with no I/O thread in between, which keeps a call's round trip (and the
 * CPU it takes from a busy host) small. Only ipc:// URLs (or a bare path).
 * One api_client_t holds a set of connections, one per call in flight: any
 * number of threads may call through one client at once, each on an idle
 * connection or a new one. api_client_open connects the first, so a
 * missing daemon is reported there. api_client_close must not race with
 * calls in progress.
 *
 * Requests are never re-sent: a re-sent acquire would take a second VM. If
 * the connection drops mid-call (the daemon stopped or refused an oversized
 * request), the call fails at once with ECONNRESET; the daemon releases a
 * lease it could not deliver (api_server.h). A call whose exchange fails
 * (timeout, drop) closes its connection: a late reply must not meet the next call;
 * an idle connection the daemon closed is noticed before use, so after a
 * daemon restart the next call simply connects anew.
 *
 * Errors: a reply with an error carries the daemon's errno and message
 * (core/pool.h lists them); transport failures are ENOENT / ECONNREFUSED (no
 * daemon), EACCES (socket not accessible), ETIMEDOUT, ECONNRESET,
 * EMSGSIZE (request too large, caught before sending; or a reply past
 * API_MAX_REPLY), EPROTO (the socket's server does not speak rep0). */
#ifndef API_CLIENT_H
#define API_CLIENT_H

#include <stdbool.h> /* bool */
#include <stdint.h>  /* uint64_t */

#include "api_codec.h"
#include "pool_types.h"
#include "wp_error.h"

#define API_CLIENT_TIMEOUT_MS       10000   /* calls that do not wait on a VM */
#define API_CLIENT_GRACE_MS         2000    /* beyond the server's own deadline */
#define API_CLIENT_BUILD_TIMEOUT_MS 1200000 /* a template build boots a guest */

typedef struct api_client api_client_t;

/* Connect to url (NULL: POOL_DEFAULT_API_SOCKET; a bare absolute path
 * means ipc://path). Fails at once, with a sentence naming the socket, when
 * no daemon listens there. */
api_client_t *api_client_open(const char *url, wp_error_t *err);
void api_client_close(api_client_t *c);

/* One call: send req, wait up to timeout_ms for the reply. On success *out
 * is the reply (free with warmpool__pool__v1__response__free_unpacked; the
 * cleanup macro is _cleanup_pb_response_). A reply with an error becomes -1
 * with err = (its code, its message). */
int api_client_call(api_client_t *c, const pb_request_t *req, int timeout_ms, pb_response_t **out,
                    wp_error_t *err);

/* ---- typed calls ---- */

/* timeout_ms 0: the server's default (API_ACQUIRE_DEFAULT_TIMEOUT_MS). */
int api_client_acquire(api_client_t *c, const char *template_name, bool fail_fast, int timeout_ms,
                       pool_lease_t *out, wp_error_t *err);
/* vm_died may be NULL. */
int api_client_release(api_client_t *c, const char *vm_id, const char *token, bool *vm_died,
                       wp_error_t *err);
int api_client_lease_check(api_client_t *c, const char *vm_id, const char *token,
                           pool_lease_state_t *out, wp_error_t *err);
/* *out malloc'd (caller frees). */
int api_client_leases(api_client_t *c, pool_lease_summary_t **out, size_t *count, wp_error_t *err);
int api_client_status(api_client_t *c, pool_template_status_t **out, size_t *count,
                      wp_error_t *err);
/* out (may be NULL): the template's status after the change. */
int api_client_set_size(api_client_t *c, const char *template_name, const pool_size_t *size,
                        pool_template_status_t *out, wp_error_t *err);
/* Long poll: *gen in, the new generation out; *changed false on timeout.
 * out/count (may be NULL) receive the status as for api_client_status. */
int api_client_watch(api_client_t *c, uint64_t *gen, int timeout_ms, bool *changed,
                     pool_template_status_t **out, size_t *count, wp_error_t *err);

typedef struct api_health {
    char version[32];
    uint64_t uptime_ms;
    unsigned templates;
    unsigned leases;
    int pid;
    unsigned protocol_version;
} api_health_t;

int api_client_health(api_client_t *c, api_health_t *out, wp_error_t *err);

/* Template calls run in the daemon, on its host's paths. */
typedef struct api_template_build {
    const char *name, *kernel, *initrd;
    const char *cmdline; /* NULL: the factory's default */
    unsigned memory_mib, vcpus;
    bool force;
    const char *backend; /* NULL: "qemu" */
} api_template_build_t;

/* *manifest_json malloc'd (caller frees); may be NULL. */
int api_client_template_build(api_client_t *c, const api_template_build_t *spec,
                              char **manifest_json, wp_error_t *err);

typedef struct api_template_info {
    char *name;
    char *manifest_json; /* NULL when the daemon could not read it */
} api_template_info_t;

int api_client_template_list(api_client_t *c, api_template_info_t **out, size_t *count,
                             wp_error_t *err);
void api_template_infos_free(api_template_info_t *list, size_t count);
int api_client_template_remove(api_client_t *c, const char *name, wp_error_t *err);

#endif
