/* ttrpc_client.c - blocking unary ttrpc calls (see ttrpc.h). The socket is
 * non-blocking so that every wait is a poll(2) bounded by the call's
 * deadline. */
#include "ttrpc_private.h"

#include <errno.h>      /* errno, E* */
#include <limits.h>     /* INT_MAX */
#include <poll.h>       /* poll */
#include <stdlib.h>     /* calloc, free, malloc */
#include <string.h>     /* strncmp, strlen, memcpy */
#include <sys/socket.h> /* socket, connect, send, recv */
#include <sys/un.h>     /* sockaddr_un */
#include <unistd.h>     /* close */

#include "wp_cleanup.h" /* _cleanup_free_, _cleanup_close_ */
#include "wp_time.h"    /* wp_now_mono_ns */

struct ttrpc_client {
    int fd; /* -1 once the exchange broke */
    uint32_t next_id;
};

static inline void response_freep(Ttrpc__Response **r)
{
    if (*r != NULL)
        ttrpc__response__free_unpacked(*r, NULL);
}
#define _cleanup_ttrpc_response_ __attribute__((cleanup(response_freep)))

ttrpc_client_t *ttrpc_client_connect(const char *path, wp_error_t *err)
{
    if (strncmp(path, "unix://", 7) == 0)
        path += 7;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path)) {
        wp_error_set(err, ENAMETOOLONG, "ttrpc connect '%s': path longer than %zu bytes", path,
                     sizeof(addr.sun_path) - 1);
        return NULL;
    }
    strcpy(addr.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        wp_error_errno(err, errno, "ttrpc connect '%s': socket", path);
        return NULL;
    }
    /* a blocking connect: a unix socket answers at once or refuses */
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        wp_error_errno(err, errno, "ttrpc connect '%s'", path);
        return NULL;
    }
    ttrpc_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        wp_error_errno(err, ENOMEM, "ttrpc client");
        return NULL;
    }
    c->fd = wp_steal_fd(&fd);
    c->next_id = 1;
    return c;
}

void ttrpc_client_close(ttrpc_client_t *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

/* Until fd is ready for events or the deadline (0: none) passes: ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline, wp_error_t *err)
{
    for (;;) {
        int ms = -1;
        if (deadline != 0) {
            int64_t left = (deadline - wp_now_mono_ns() + 999999) / 1000000;
            if (left <= 0)
                return wp_error_set(err, ETIMEDOUT, "no answer before the deadline");
            ms = left > INT_MAX ? INT_MAX : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 0; /* ready, or an error the next call reports */
        if (n < 0 && errno != EINTR)
            return wp_error_errno(err, errno, "poll");
    }
}

static int send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline, wp_error_t *err)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLOUT, deadline, err) < 0)
                return -1;
            continue;
        }
        if (n < 0)
            return wp_error_errno(err, errno, "write");
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int recv_all(int fd, uint8_t *buf, size_t len, int64_t deadline, wp_error_t *err)
{
    while (len > 0) {
        ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLIN, deadline, err) < 0)
                return -1;
            continue;
        }
        if (n < 0)
            return wp_error_errno(err, errno, "read");
        if (n == 0)
            return wp_error_set(err, ECONNRESET, "the server closed the connection");
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The Response frame of stream id, skipping frames of other streams and
 * types (a server of ttrpc >= 1.2 may send data frames). */
static Ttrpc__Response *recv_response(int fd, uint32_t id, int64_t deadline, wp_error_t *err)
{
    for (;;) {
        uint8_t head[TTRPC_HEADER_LEN];
        if (recv_all(fd, head, sizeof(head), deadline, err) < 0)
            return NULL;
        ttrpc_header_t h;
        ttrpc_header_decode(head, &h);
        if (h.length > TTRPC_MAX_PAYLOAD) {
            wp_error_set(err, EMSGSIZE, "response of %u bytes exceeds the %u-byte maximum",
                         h.length, TTRPC_MAX_PAYLOAD);
            return NULL;
        }
        _cleanup_free_ uint8_t *p = malloc(h.length ? h.length : 1);
        if (p == NULL) {
            wp_error_errno(err, ENOMEM, "response of %u bytes", h.length);
            return NULL;
        }
        if (recv_all(fd, p, h.length, deadline, err) < 0)
            return NULL;
        if (h.type != TTRPC_TYPE_RESPONSE || h.stream_id != id)
            continue;
        Ttrpc__Response *r = ttrpc__response__unpack(NULL, h.length, p);
        if (r == NULL)
            wp_error_set(err, EBADMSG, "undecodable response envelope");
        return r;
    }
}

/* The exchange itself; a failure here breaks the connection. */
static Ttrpc__Response *exchange(ttrpc_client_t *c, const Ttrpc__Request *req, int timeout_ms,
                                 wp_error_t *err)
{
    uint32_t id = c->next_id;
    c->next_id += 2;
    size_t len;
    _cleanup_free_ uint8_t *frame = ttrpc_frame_pack(id, TTRPC_TYPE_REQUEST, &req->base, &len, err);
    if (frame == NULL)
        return NULL;
    int64_t deadline = timeout_ms < 0 ? 0 : wp_now_mono_ns() + (int64_t)timeout_ms * 1000000;
    if (send_all(c->fd, frame, len, deadline, err) < 0)
        return NULL;
    return recv_response(c->fd, id, deadline, err);
}

int ttrpc_client_call(ttrpc_client_t *c, const char *service, const char *method,
                      const char *const *meta, size_t n_meta, const uint8_t *payload, size_t len,
                      int timeout_ms, uint8_t **resp, size_t *resp_len, enum ttrpc_code *status,
                      wp_error_t *err)
{
    *resp = NULL;
    *resp_len = 0;
    if (c->fd < 0)
        return wp_error_set(err, ENOTCONN, "ttrpc %s/%s: the connection is closed", service,
                            method);
    _cleanup_free_ Ttrpc__KeyValue *kv = calloc(n_meta ? n_meta : 1, sizeof(*kv));
    _cleanup_free_ Ttrpc__KeyValue **kvp = calloc(n_meta ? n_meta : 1, sizeof(*kvp));
    if (kv == NULL || kvp == NULL)
        return wp_error_errno(err, ENOMEM, "ttrpc %s/%s", service, method);
    for (size_t i = 0; i < n_meta; i++) {
        ttrpc__key_value__init(&kv[i]);
        kv[i].key = (char *)meta[2 * i];
        kv[i].value = (char *)meta[2 * i + 1];
        kvp[i] = &kv[i];
    }
    Ttrpc__Request req = TTRPC__REQUEST__INIT;
    req.service = (char *)service;
    req.method = (char *)method;
    req.payload.data = (uint8_t *)payload;
    req.payload.len = len;
    req.timeout_nano = timeout_ms < 0 ? 0 : (int64_t)timeout_ms * 1000000;
    req.n_metadata = n_meta;
    req.metadata = kvp;

    _cleanup_ttrpc_response_ Ttrpc__Response *r = exchange(c, &req, timeout_ms, err);
    if (r == NULL) {
        close(c->fd);
        c->fd = -1;
        return wp_error_wrap(err, "ttrpc %s/%s", service, method);
    }
    int code = r->status != NULL ? r->status->code : TTRPC_OK;
    if (status != NULL)
        *status = (enum ttrpc_code)code;
    if (code != TTRPC_OK)
        return wp_error_set(err, EREMOTEIO, "ttrpc %s/%s: status %d: %s", service, method, code,
                            r->status->message);
    if (r->payload.len > 0) {
        *resp = malloc(r->payload.len);
        if (*resp == NULL)
            return wp_error_errno(err, ENOMEM, "ttrpc %s/%s: response", service, method);
        memcpy(*resp, r->payload.data, r->payload.len);
        *resp_len = r->payload.len;
    }
    return 0;
}
