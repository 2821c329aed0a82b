/* api_client.c - the synchronous API client (contract in api_client.h):
 * a set of connections, one call at a time on each, and the error
 * sentences a person reads when the daemon is not there. The wire is
 * api_sp.c: the calling thread writes the request and reads the reply
 * itself, so a call costs the caller two syscalls and one sleep, and the
 * process runs no I/O threads. Typed calls: api_client_calls.c.
 * Threads: any; one connection per call in progress. */
#include "api_client.h"

#include <errno.h>     /* ENOENT, EACCES, ... */
#include <pthread.h>   /* pthread_mutex_t */
#include <stdatomic.h> /* atomic_uint */
#include <stdio.h>     /* snprintf */
#include <stdlib.h>    /* calloc, free */
#include <string.h>    /* strncmp */
#include <sys/stat.h>  /* stat */
#include <unistd.h>    /* close */

#include "api_sp.h"
#include "wp_cleanup.h"
#include "wp_time.h"

#define OPEN_TIMEOUT_MS 5000 /* connect + handshake in api_client_open */
#define STACK_FRAME     1024 /* requests up to this size are built on the stack */

/* A connection no call is using. */
typedef struct api_conn {
    int fd;
    struct api_conn *next;
} api_conn_t;

struct api_client {
    char url[POOL_PATH_MAX];
    const char *path;     /* in url, after "ipc://" */
    pthread_mutex_t lock; /* guards idle */
    api_conn_t *idle;
    atomic_uint next_id; /* request ids: only unique per connection matters */
};

/* Why a connect failed, in words a person can act on. */
static int connect_error(const char *path, const wp_error_t *cause, wp_error_t *err)
{
    struct stat st;
    int code = cause->code;
    if (code == EACCES || code == EPERM || (stat(path, &st) < 0 && errno == EACCES))
        return wp_error_set(err, EACCES, "cannot access warmpoold's socket '%s' (run as root?)",
                            path);
    if (code == ENOENT || (stat(path, &st) < 0 && errno == ENOENT))
        return wp_error_set(err, ENOENT, "warmpoold is not running (no socket at '%s')", path);
    if (code == ECONNREFUSED)
        return wp_error_set(err, ECONNREFUSED,
                            "warmpoold is not running (socket '%s' refuses connections)", path);
    if (code == ETIMEDOUT)
        return wp_error_set(err, ETIMEDOUT, "no connection to warmpoold at '%s' (is it running?)",
                            path);
    return wp_error_set(err, code, "connect to warmpoold at '%s': %s", path, cause->msg);
}

/* A connection for a new fd; NULL (fd closed) without memory. */
static api_conn_t *conn_new(int fd)
{
    api_conn_t *conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        close(fd);
    else
        conn->fd = fd;
    return conn;
}

static void conn_free(api_conn_t *conn)
{
    close(conn->fd);
    free(conn);
}

static void conn_put(api_client_t *c, api_conn_t *conn)
{
    pthread_mutex_lock(&c->lock);
    conn->next = c->idle;
    c->idle = conn;
    pthread_mutex_unlock(&c->lock);
}

/* An idle connection that is still open, or NULL. */
static api_conn_t *conn_take_idle(api_client_t *c)
{
    for (;;) {
        pthread_mutex_lock(&c->lock);
        api_conn_t *conn = c->idle;
        if (conn != NULL)
            c->idle = conn->next;
        pthread_mutex_unlock(&c->lock);
        if (conn == NULL || !api_sp_idle_dead(conn->fd))
            return conn;
        conn_free(conn); /* the daemon restarted or dropped it: connect anew */
    }
}

api_client_t *api_client_open(const char *url, wp_error_t *err)
{
    if (url == NULL)
        url = POOL_DEFAULT_API_SOCKET;
    if (url[0] != '/' && strncmp(url, "ipc://", 6) != 0) {
        wp_error_set(err, EINVAL, "API socket '%s': only ipc:// (a unix socket) is supported", url);
        return NULL;
    }
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
    c->path = c->url + 6;
    pthread_mutex_init(&c->lock, NULL);
    wp_error_t cause = {0};
    /* connect now, so a missing daemon is reported by open */
    int fd = api_sp_connect(c->path, wp_now_mono_ns() + OPEN_TIMEOUT_MS * 1000000LL, &cause);
    if (fd < 0) {
        connect_error(c->path, &cause, err);
        api_client_close(c);
        return NULL;
    }
    api_conn_t *conn = conn_new(fd);
    if (conn == NULL) {
        wp_error_errno(err, ENOMEM, "API client");
        api_client_close(c);
        return NULL;
    }
    conn_put(c, conn);
    return c;
}

void api_client_close(api_client_t *c)
{
    if (c == NULL)
        return;
    while (c->idle != NULL) {
        api_conn_t *next = c->idle->next;
        conn_free(c->idle);
        c->idle = next;
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static int transport_error(api_client_t *c, const pb_request_t *req, const wp_error_t *cause,
                           bool sending, int timeout_ms, wp_error_t *err)
{
    const char *call = api_call_name(req);
    switch (cause->code) {
    case ETIMEDOUT:
        if (sending)
            return wp_error_set(err, ETIMEDOUT,
                                "%s: no connection to warmpoold at '%s' within %d ms (is it "
                                "running?)",
                                call, c->url, timeout_ms);
        return wp_error_set(err, ETIMEDOUT, "%s: warmpoold did not answer within %d ms", call,
                            timeout_ms);
    case ECONNRESET:
        return wp_error_set(err, ECONNRESET,
                            "%s: connection to warmpoold lost (the daemon stopped, or dropped a "
                            "request it would not read)",
                            call);
    default:
        return wp_error_set(err, cause->code ? cause->code : EIO, "%s: %s", call, cause->msg);
    }
}

/* Send req and read its reply on fd by the deadline; *body malloc'd. */
static int exchange(api_client_t *c, int fd, const pb_request_t *req, size_t len, int64_t deadline,
                    uint8_t **body, size_t *body_len, bool *sent, wp_error_t *err)
{
    uint8_t stack[STACK_FRAME];
    _cleanup_free_ uint8_t *heap = NULL;
    uint8_t *frame = stack;
    if (API_SP_FRAME_HEAD + len > sizeof(stack)) {
        frame = heap = malloc(API_SP_FRAME_HEAD + len);
        if (frame == NULL)
            return wp_error_errno(err, ENOMEM, "request of %zu bytes", len);
    }
    protobuf_c_message_pack(&req->base, frame + API_SP_FRAME_HEAD);
    uint32_t id = atomic_fetch_add(&c->next_id, 1);
    if (api_sp_send(fd, frame, len, id, deadline, err) < 0)
        return -1;
    *sent = true;
    return api_sp_recv(fd, id, API_MAX_REPLY, deadline, body, body_len, err);
}

int api_client_call(api_client_t *c, const pb_request_t *req, int timeout_ms, pb_response_t **out,
                    wp_error_t *err)
{
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    if (len > API_MAX_MESSAGE)
        return wp_error_set(err, EMSGSIZE, "%s: request of %zu bytes exceeds the limit of %d",
                            api_call_name(req), len, API_MAX_MESSAGE);
    int64_t deadline = wp_now_mono_ns() + (int64_t)timeout_ms * 1000000;
    wp_error_t cause = {0};
    api_conn_t *conn = conn_take_idle(c);
    if (conn == NULL) {
        int fd = api_sp_connect(c->path, deadline, &cause);
        if (fd < 0 && cause.code == ETIMEDOUT)
            return transport_error(c, req, &cause, true, timeout_ms, err);
        if (fd < 0) {
            connect_error(c->path, &cause, err);
            return wp_error_wrap(err, "%s", api_call_name(req));
        }
        if ((conn = conn_new(fd)) == NULL)
            return wp_error_errno(err, ENOMEM, "%s", api_call_name(req));
    }
    _cleanup_free_ uint8_t *body = NULL;
    size_t body_len = 0;
    bool sent = false;
    if (exchange(c, conn->fd, req, len, deadline, &body, &body_len, &sent, &cause) < 0) {
        /* a reply may still be on its way: this connection is done */
        conn_free(conn);
        return transport_error(c, req, &cause, !sent, timeout_ms, err);
    }
    conn_put(c, conn);
    pb_response_t *resp = api_response_unpack(body, body_len, err);
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
