/* ttrpc_conn.c - one server connection: reading and dispatching frames,
 * the bounded write queue, and the calls it carries (see ttrpc.h and the
 * lifetimes in ttrpc_private.h). Runs on the server's thread only. */
#include "ttrpc_private.h"

#include <errno.h>      /* errno, E* */
#include <stdio.h>      /* snprintf */
#include <stdlib.h>     /* calloc, free, realloc */
#include <string.h>     /* memmove, strcmp */
#include <sys/epoll.h>  /* epoll_ctl */
#include <sys/socket.h> /* send, MSG_NOSIGNAL */
#include <unistd.h>     /* read, close */

#include "wp_log.h"  /* wp_log_warn, wp_log_debug */
#include "wp_time.h" /* wp_now_mono_ns */

#define READ_CHUNK  (64u << 10)
#define RBUF_RETAIN (1u << 20) /* a read buffer grown past this is freed when empty */

struct ttrpc_conn *ttrpc_conn_new(ttrpc_server_t *s, int fd, wp_error_t *err)
{
    struct ttrpc_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        wp_error_errno(err, ENOMEM, "ttrpc connection");
        return NULL;
    }
    *c = (struct ttrpc_conn){.kind = TTRPC_EP_CONN, .fd = fd, .refs = 1, .server = s};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        wp_error_errno(err, errno, "ttrpc connection: epoll_ctl");
        close(fd);
        free(c);
        return NULL;
    }
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    return c;
}

void ttrpc_conn_ref(struct ttrpc_conn *c)
{
    c->refs++;
}

void ttrpc_conn_unref(struct ttrpc_conn *c)
{
    if (--c->refs > 0)
        return;
    free(c->rbuf);
    free(c);
}

static void drop_queue(struct ttrpc_conn *c)
{
    for (struct ttrpc_out *o = c->head, *next; o != NULL; o = next) {
        next = o->next;
        free(o->buf);
        free(o);
    }
    c->head = c->tail = NULL;
    c->queued = 0;
}

void ttrpc_conn_close(struct ttrpc_conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    ttrpc_server_t *s = c->server;
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    drop_queue(c);
    /* its calls may live on for long (a Wait); its bytes need not */
    free(c->rbuf);
    c->rbuf = NULL;
    c->rlen = c->rcap = 0;
    c->discard = 0;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->n_conns--;
    ttrpc_conn_unref(c);
}

static void set_pollout(struct ttrpc_conn *c, bool on)
{
    if (c->pollout == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(c->server->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->pollout = on;
}

/* Write queued frames until the socket is full; -1 when it failed. */
static int flush(struct ttrpc_conn *c)
{
    while (c->head != NULL) {
        struct ttrpc_out *o = c->head;
        ssize_t n = send(c->fd, o->buf + o->off, o->len - o->off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_pollout(c, true);
            return 0;
        }
        if (n < 0) {
            wp_log_debug("ttrpc: write: %s", strerror(errno));
            return -1;
        }
        o->off += (size_t)n;
        c->queued -= (size_t)n;
        if (o->off < o->len)
            continue;
        c->head = o->next;
        if (c->head == NULL)
            c->tail = NULL;
        free(o->buf);
        free(o);
    }
    set_pollout(c, false);
    return 0;
}

void ttrpc_conn_respond(struct ttrpc_conn *c, uint32_t stream_id, enum ttrpc_code code,
                        const char *message, const uint8_t *payload, size_t len)
{
    if (c->closed)
        return;
    wp_error_t err = {0};
    struct ttrpc_out *o = calloc(1, sizeof(*o));
    if (o != NULL)
        o->buf = ttrpc_response_pack(stream_id, code, message, payload, len, &o->len, &err);
    if (o == NULL || o->buf == NULL) {
        /* a lost reply would leave the client waiting forever: hang up */
        wp_log_warn("ttrpc: reply on stream %u: %s", stream_id, o ? err.msg : "out of memory");
        free(o);
        ttrpc_conn_close(c);
        return;
    }
    if (c->queued + o->len > TTRPC_MAX_QUEUED) {
        wp_log_warn("ttrpc: peer reads nothing (%zu bytes queued): closing its connection",
                    c->queued);
        free(o->buf);
        free(o);
        ttrpc_conn_close(c);
        return;
    }
    bool idle = c->head == NULL;
    if (c->tail != NULL)
        c->tail->next = o;
    else
        c->head = o;
    c->tail = o;
    c->queued += o->len;
    if (idle && flush(c) < 0)
        ttrpc_conn_close(c);
}

/* ---- calls ---- */

static void dispatch(struct ttrpc_conn *c, uint32_t stream_id, const uint8_t *p, size_t len)
{
    if (stream_id % 2 == 0) {
        ttrpc_conn_respond(c, stream_id, TTRPC_INVALID_ARGUMENT,
                           "StreamID must be odd for client initiated streams", NULL, 0);
        return;
    }
    Ttrpc__Request *req = ttrpc__request__unpack(NULL, len, p);
    if (req == NULL) {
        ttrpc_conn_respond(c, stream_id, TTRPC_INVALID_ARGUMENT, "unmarshal request error", NULL,
                           0);
        return;
    }
    const struct ttrpc_method *m = ttrpc_server_lookup(c->server, req->service, req->method);
    if (m == NULL) {
        char msg[512];
        snprintf(msg, sizeof(msg), "method %s/%s not implemented", req->service, req->method);
        ttrpc__request__free_unpacked(req, NULL);
        ttrpc_conn_respond(c, stream_id, TTRPC_UNIMPLEMENTED, msg, NULL, 0);
        return;
    }
    ttrpc_call_t *call = calloc(1, sizeof(*call));
    if (call == NULL) {
        ttrpc__request__free_unpacked(req, NULL);
        ttrpc_conn_respond(c, stream_id, TTRPC_RESOURCE_EXHAUSTED, "out of memory", NULL, 0);
        return;
    }
    *call = (ttrpc_call_t){
        .conn = c, .stream_id = stream_id, .req = req, .received_ns = wp_now_mono_ns()};
    ttrpc_conn_ref(c);
    ttrpc_server_t *s = c->server;
    call->next = s->calls;
    if (s->calls != NULL)
        s->calls->prev = call;
    s->calls = call;
    m->fn(m->opaque, call, req->payload.data, req->payload.len);
}

void ttrpc_call_free(ttrpc_call_t *call)
{
    ttrpc_server_t *s = call->conn->server;
    if (call->prev != NULL)
        call->prev->next = call->next;
    else
        s->calls = call->next;
    if (call->next != NULL)
        call->next->prev = call->prev;
    ttrpc__request__free_unpacked(call->req, NULL);
    ttrpc_conn_unref(call->conn);
    free(call);
}

const char *ttrpc_call_method(const ttrpc_call_t *call)
{
    return call->req->method;
}

const char *ttrpc_call_metadata(const ttrpc_call_t *call, const char *key)
{
    for (size_t i = 0; i < call->req->n_metadata; i++)
        if (strcmp(call->req->metadata[i]->key, key) == 0)
            return call->req->metadata[i]->value;
    return NULL;
}

int64_t ttrpc_call_timeout_ns(const ttrpc_call_t *call)
{
    return call->req->timeout_nano;
}

bool ttrpc_call_closed(const ttrpc_call_t *call)
{
    return call->conn->closed;
}

void ttrpc_call_reply(ttrpc_call_t *call, enum ttrpc_code code, const char *message,
                      const uint8_t *payload, size_t len)
{
    ttrpc_conn_respond(call->conn, call->stream_id, code, message, payload, len);
    wp_log_debug("ttrpc: %s/%s answered %d after %.1f ms", call->req->service, call->req->method,
                 (int)code, (double)(wp_now_mono_ns() - call->received_ns) / 1e6);
    ttrpc_call_free(call);
}

void ttrpc_call_reply_error(ttrpc_call_t *call, const wp_error_t *err)
{
    ttrpc_call_reply(call, ttrpc_code_from_errno(err->code), err->msg, NULL, 0);
}

/* ---- reading ---- */

/* Take every whole frame out of the read buffer. */
static void parse(struct ttrpc_conn *c)
{
    size_t off = 0;
    while (!c->closed) {
        size_t avail = c->rlen - off;
        if (c->discard > 0) {
            size_t skip = avail < c->discard ? avail : c->discard;
            off += skip;
            c->discard -= (uint32_t)skip;
            if (c->discard > 0)
                break;
            continue;
        }
        if (avail < TTRPC_HEADER_LEN)
            break;
        ttrpc_header_t h;
        ttrpc_header_decode(c->rbuf + off, &h);
        if (h.length > TTRPC_MAX_PAYLOAD) {
            /* as ttrpc does: skip it unread and answer on its stream */
            off += TTRPC_HEADER_LEN;
            c->discard = h.length;
            char msg[128];
            snprintf(msg, sizeof(msg), "message length %u exceed maximum message size of %u",
                     h.length, TTRPC_MAX_PAYLOAD);
            ttrpc_conn_respond(c, h.stream_id, TTRPC_RESOURCE_EXHAUSTED, msg, NULL, 0);
            continue;
        }
        if (avail < TTRPC_HEADER_LEN + (size_t)h.length)
            break;
        const uint8_t *p = c->rbuf + off + TTRPC_HEADER_LEN;
        off += TTRPC_HEADER_LEN + h.length;
        if (h.type == TTRPC_TYPE_REQUEST)
            dispatch(c, h.stream_id, p, h.length); /* may close c, freeing rbuf */
        else
            wp_log_debug("ttrpc: skipped a frame of type %u on stream %u", h.type, h.stream_id);
    }
    if (c->closed)
        return;
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
    if (c->rlen == 0 && c->rcap > RBUF_RETAIN) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
}

/* Room for READ_CHUNK more bytes; -1 on ENOMEM. */
static int reserve(struct ttrpc_conn *c)
{
    if (c->rcap - c->rlen >= READ_CHUNK)
        return 0;
    size_t cap = c->rcap ? c->rcap : READ_CHUNK;
    while (cap - c->rlen < READ_CHUNK)
        cap *= 2;
    uint8_t *buf = realloc(c->rbuf, cap);
    if (buf == NULL)
        return -1;
    c->rbuf = buf;
    c->rcap = cap;
    return 0;
}

static void readable(struct ttrpc_conn *c)
{
    if (reserve(c) < 0) {
        wp_log_warn("ttrpc: read buffer: out of memory");
        ttrpc_conn_close(c);
        return;
    }
    ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        /* EOF (mid-frame or not) or a read error: this connection is done */
        if (n < 0 || c->rlen > 0 || c->discard > 0)
            wp_log_debug("ttrpc: connection lost: %s",
                         n < 0 ? strerror(errno) : "end of stream inside a frame");
        ttrpc_conn_close(c);
        return;
    }
    c->rlen += (size_t)n;
    parse(c);
}

void ttrpc_conn_event(struct ttrpc_conn *c, uint32_t events)
{
    if (!c->closed && (events & EPOLLOUT) && flush(c) < 0)
        ttrpc_conn_close(c);
    if (!c->closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        readable(c);
}
