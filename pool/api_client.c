/* api_client.c - the synchronous API client (contract in api_client.h):
 * connection, one call over its own nng context, and the error sentences a
 * person reads when the daemon is not there. Typed calls: api_client_calls.c.
 * Threads: any; one context per call. */
#include "api_client.h"

#include <errno.h>                    /* ENOENT, EACCES, ... */
#include <nng/nng.h>                  /* nng_* */
#include <nng/protocol/reqrep0/req.h> /* nng_req0_open, NNG_OPT_REQ_RESENDTIME */
#include <pthread.h>                  /* pthread_mutex_t */
#include <stdio.h>                    /* snprintf */
#include <stdlib.h>                   /* calloc, free */
#include <string.h>                   /* strncmp */
#include <sys/stat.h>                 /* stat */

#include "wp_time.h"

/* A context and its aio, kept for the next call: opening and closing a
 * context per call costs a wakeup of nng's reaper thread. */
typedef struct api_slot {
    nng_ctx ctx;
    nng_aio *aio;
    struct api_slot *next;
} api_slot_t;

struct api_client {
    nng_socket sock;
    char url[POOL_PATH_MAX];
    pthread_mutex_t lock; /* guards idle */
    api_slot_t *idle;     /* slots no call is using */
};

/* Why a dial failed, in words a person can act on. */
static int dial_error(const char *url, int rv, wp_error_t *err)
{
    const char *path = strncmp(url, "ipc://", 6) == 0 ? url + 6 : url;
    struct stat st;
    if (rv == NNG_EPERM || (stat(path, &st) < 0 && errno == EACCES))
        return wp_error_set(err, EACCES, "cannot access warmpoold's socket '%s' (run as root?)",
                            path);
    if (stat(path, &st) < 0 && errno == ENOENT)
        return wp_error_set(err, ENOENT, "warmpoold is not running (no socket at '%s')", path);
    if (rv == NNG_ECONNREFUSED)
        return wp_error_set(err, ECONNREFUSED,
                            "warmpoold is not running (socket '%s' refuses connections)", path);
    return wp_error_set(err, EIO, "connect to warmpoold at '%s': %s", url, nng_strerror(rv));
}

api_client_t *api_client_open(const char *url, wp_error_t *err)
{
    if (url == NULL)
        url = POOL_DEFAULT_API_SOCKET;
    api_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        wp_error_errno(err, ENOMEM, "API client");
        return NULL;
    }
    /* a bare path is the unix socket it names */
    if (snprintf(c->url, sizeof(c->url), "%s%s", url[0] == '/' ? "ipc://" : "", url) >=
        (int)sizeof(c->url)) {
        wp_error_set(err, ENAMETOOLONG, "API socket URL '%s' is too long", url);
        free(c);
        return NULL;
    }
    int rv = nng_req0_open(&c->sock);
    if (rv != 0) {
        wp_error_set(err, ENOMEM, "API client socket: %s", nng_strerror(rv));
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    /* no resends: a resent acquire would lease a second VM; contexts copy
     * this when opened, so set it first. Flags 0: a synchronous dial, which
     * fails at once instead of retrying in the background. */
    rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    if (rv == 0)
        rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, API_MAX_REPLY);
    if (rv == 0)
        rv = nng_dial(c->sock, c->url, NULL, 0);
    if (rv != 0) {
        dial_error(c->url, rv, err);
        api_client_close(c);
        return NULL;
    }
    return c;
}

static void slot_free(api_slot_t *slot)
{
    nng_ctx_close(slot->ctx);
    nng_aio_free(slot->aio);
    free(slot);
}

void api_client_close(api_client_t *c)
{
    if (c == NULL)
        return;
    while (c->idle != NULL) {
        api_slot_t *next = c->idle->next;
        slot_free(c->idle);
        c->idle = next;
    }
    nng_close(c->sock);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* An idle slot, or a new one; NULL on failure (nng error in *rv). */
static api_slot_t *slot_get(api_client_t *c, int *rv)
{
    pthread_mutex_lock(&c->lock);
    api_slot_t *slot = c->idle;
    if (slot != NULL)
        c->idle = slot->next;
    pthread_mutex_unlock(&c->lock);
    if (slot != NULL)
        return slot;
    slot = calloc(1, sizeof(*slot));
    if (slot == NULL) {
        *rv = NNG_ENOMEM;
        return NULL;
    }
    if ((*rv = nng_ctx_open(&slot->ctx, c->sock)) != 0) {
        free(slot);
        return NULL;
    }
    if ((*rv = nng_aio_alloc(&slot->aio, NULL, NULL)) != 0) {
        nng_ctx_close(slot->ctx);
        free(slot);
        return NULL;
    }
    return slot;
}

/* Keep a slot whose last exchange completed; a failed one may still have
 * a request outstanding, so it goes. */
static void slot_put(api_client_t *c, api_slot_t *slot, bool reusable)
{
    if (!reusable) {
        slot_free(slot);
        return;
    }
    pthread_mutex_lock(&c->lock);
    slot->next = c->idle;
    c->idle = slot;
    pthread_mutex_unlock(&c->lock);
}

static int transport_error(api_client_t *c, const pb_request_t *req, int rv, bool sending,
                           int timeout_ms, wp_error_t *err)
{
    const char *call = api_call_name(req);
    switch (rv) {
    case NNG_ETIMEDOUT:
        if (sending)
            return wp_error_set(err, ETIMEDOUT,
                                "%s: no connection to warmpoold at '%s' within %d ms (is it "
                                "running?)",
                                call, c->url, timeout_ms);
        return wp_error_set(err, ETIMEDOUT, "%s: warmpoold did not answer within %d ms", call,
                            timeout_ms);
    case NNG_ECONNRESET:
        return wp_error_set(err, ECONNRESET,
                            "%s: connection to warmpoold lost (the daemon stopped, or dropped a "
                            "request it would not read)",
                            call);
    case NNG_ECLOSED:
        return wp_error_set(err, ESHUTDOWN, "%s: the client is closed", call);
    default:
        return wp_error_set(err, EIO, "%s: %s", call, nng_strerror(rv));
    }
}

/* Send and receive on ctx within timeout_ms; *reply owned by the caller. */
static int exchange(api_client_t *c, nng_ctx ctx, nng_aio *aio, const pb_request_t *req,
                    int timeout_ms, nng_msg **reply, wp_error_t *err)
{
    nng_msg *msg = NULL;
    if (api_pack(&req->base, &msg, err) < 0)
        return -1;
    int64_t end = wp_now_mono_ns() + (int64_t)timeout_ms * 1000000;
    nng_aio_set_timeout(aio, timeout_ms);
    nng_aio_set_msg(aio, msg);
    nng_ctx_send(ctx, aio);
    nng_aio_wait(aio);
    int rv = nng_aio_result(aio);
    if (rv != 0) {
        nng_msg_free(msg);
        return transport_error(c, req, rv, true, timeout_ms, err);
    }
    int64_t left_ms = (end - wp_now_mono_ns()) / 1000000;
    nng_aio_set_timeout(aio, left_ms > 0 ? (nng_duration)left_ms : 1);
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    rv = nng_aio_result(aio);
    if (rv != 0)
        return transport_error(c, req, rv, false, timeout_ms, err);
    *reply = nng_aio_get_msg(aio);
    return 0;
}

int api_client_call(api_client_t *c, const pb_request_t *req, int timeout_ms, pb_response_t **out,
                    wp_error_t *err)
{
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    if (len > API_MAX_MESSAGE)
        return wp_error_set(err, EMSGSIZE, "%s: request of %zu bytes exceeds the limit of %d",
                            api_call_name(req), len, API_MAX_MESSAGE);
    int rv = 0;
    api_slot_t *slot = slot_get(c, &rv);
    if (slot == NULL)
        return transport_error(c, req, rv, true, timeout_ms, err);
    _cleanup_nng_msg_ nng_msg *reply = NULL;
    int ret = exchange(c, slot->ctx, slot->aio, req, timeout_ms, &reply, err);
    slot_put(c, slot, ret == 0);
    if (ret < 0)
        return -1;
    pb_response_t *resp = api_response_unpack(nng_msg_body(reply), nng_msg_len(reply), err);
    if (resp == NULL)
        return wp_error_wrap(err, "%s", api_call_name(req));
    if (resp->error_code != 0) {
        wp_error_set(err, resp->error_code, "%s", resp->error_message);
        warmpool__pool__v1__response__free_unpacked(resp, NULL);
        return -1;
    }
    *out = resp;
    return 0;
}
