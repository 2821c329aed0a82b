/* api_codec.h - pool_types.h structs <-> proto/pool.proto messages, the cleanup
 * macros for nng messages and unpacked protobuf-c messages, and a small
 * arena for the sub-messages a reply is built from. Shared by api_server
 * and api_client; tests include it for the round trips.
 *
 * Ownership: *_to_pb fills a message whose strings point into the pool
 * struct (borrowed: pack before the struct goes) and whose arrays come from
 * the arena (freed with it). *_from_pb copies into the fixed-size pool
 * struct and fails with EBADMSG when a field does not fit, so a hostile
 * peer cannot overflow or silently truncate an id or token.
 * Threads: no shared state; an arena belongs to one thread. */
#ifndef API_CODEC_H
#define API_CODEC_H

#include <nng/nng.h> /* nng_msg */

#include "pool_types.h"
#include "pool.pb-c.h"
#include "wp_error.h"

typedef Warmpool__Pool__V1__Request pb_request_t;
typedef Warmpool__Pool__V1__Response pb_response_t;
typedef Warmpool__Pool__V1__Lease pb_lease_t;
typedef Warmpool__Pool__V1__LeaseSummary pb_lease_summary_t;
typedef Warmpool__Pool__V1__TemplateStatus pb_template_status_t;
typedef Warmpool__Pool__V1__Histogram pb_histogram_t;

#define API_PROTOCOL_VERSION 1

/* Wire limits and defaults, shared by both ends. */
#define API_MAX_MESSAGE                (64 * 1024) /* larger requests get an EMSGSIZE reply */
#define API_RECV_HARD_MAX              (1024 * 1024) /* larger ones are never buffered: connection dropped */
#define API_MAX_REPLY                  (16 * 1024 * 1024) /* what a client accepts (a status of many leases) */
#define API_ACQUIRE_DEFAULT_TIMEOUT_MS 30000              /* acquire with timeout_ms 0 */
#define API_ACQUIRE_MAX_TIMEOUT_MS     600000
#define API_WATCH_DEFAULT_TIMEOUT_MS   30000 /* watch with timeout_ms 0; also its cap */

static inline void api_nng_msg_freep(nng_msg **m)
{
    if (*m != NULL)
        nng_msg_free(*m);
}

static inline void api_pb_request_freep(pb_request_t **r)
{
    if (*r != NULL)
        warmpool__pool__v1__request__free_unpacked(*r, NULL);
}

static inline void api_pb_response_freep(pb_response_t **r)
{
    if (*r != NULL)
        warmpool__pool__v1__response__free_unpacked(*r, NULL);
}

#define _cleanup_nng_msg_     __attribute__((cleanup(api_nng_msg_freep)))
#define _cleanup_pb_request_  __attribute__((cleanup(api_pb_request_freep)))
#define _cleanup_pb_response_ __attribute__((cleanup(api_pb_response_freep)))

/* ---- arena: every allocation freed at once ---- */

typedef struct api_arena {
    struct api_arena_block *head;
} api_arena_t;

/* Zeroed memory, or NULL (ENOMEM). */
void *api_arena_alloc(api_arena_t *a, size_t size);
void api_arena_free(api_arena_t *a);
#define _cleanup_api_arena_ __attribute__((cleanup(api_arena_free)))

/* ---- wire ---- */

/* Pack a message into a new nng message (*out owned by the caller). */
int api_pack(const ProtobufCMessage *m, nng_msg **out, wp_error_t *err);
/* NULL with EBADMSG when the bytes are not a Request / Response. */
pb_request_t *api_request_unpack(const void *buf, size_t len, wp_error_t *err);
pb_response_t *api_response_unpack(const void *buf, size_t len, wp_error_t *err);

/* The call's name ("acquire", ...) for logs; "none" when unset. */
const char *api_call_name(const pb_request_t *req);

/* ---- pool structs ---- */

void api_lease_to_pb(const pool_lease_t *in, pb_lease_t *out);
int api_lease_from_pb(const pb_lease_t *in, pool_lease_t *out, wp_error_t *err);

void api_lease_summary_to_pb(const pool_lease_summary_t *in, pb_lease_summary_t *out);
int api_lease_summary_from_pb(const pb_lease_summary_t *in, pool_lease_summary_t *out,
                              wp_error_t *err);

int api_template_status_to_pb(api_arena_t *a, const pool_template_status_t *in,
                              pb_template_status_t *out, wp_error_t *err);
int api_template_status_from_pb(const pb_template_status_t *in, pool_template_status_t *out,
                                wp_error_t *err);

/* Arrays of pointers to messages, allocated in the arena (n may be 0). */
int api_status_list_to_pb(api_arena_t *a, const pool_template_status_t *in, size_t n,
                          pb_template_status_t ***out, wp_error_t *err);
/* *out malloc'd (caller frees), *n entries. */
int api_status_list_from_pb(pb_template_status_t *const *in, size_t n, pool_template_status_t **out,
                            size_t *count, wp_error_t *err);

Warmpool__Pool__V1__Sizing api_sizing_to_pb(pool_sizing_mode_t m);
/* EBADMSG for a value this version does not know. */
int api_sizing_from_pb(Warmpool__Pool__V1__Sizing in, pool_sizing_mode_t *out, wp_error_t *err);

#endif
