/* agent_server.c - see agent_server.h. */
#include "agent_server.h"

#include <errno.h>     /* errno */
#include <stdlib.h>    /* calloc */
#include <sys/epoll.h> /* epoll_* */
#include <sys/wait.h>  /* waitpid */
#include <unistd.h>    /* close */

#include "agent_containers.h"

#include "wp_cleanup.h"
#include "wp_frame.h"
#include "wp_log.h"

struct agent_conn {
    agent_watch_t watch; /* first: epoll data points here */
    struct agent_conn *next;
    agent_server_t *srv;
    wp_frame_reader_t reader;
    bool keep_fd;
    bool dead; /* a write failed or the host left: torn down at the round's end */
    uint32_t next_stream;
    agent_hangup_fn on_hangup;
    void *opaque;
};

typedef struct deferred {
    struct deferred *next;
    void (*fn)(void *);
    void *p;
} deferred_t;

struct agent_server {
    int epfd;
    agent_ctx_t *ctx;
    agent_containers_t *mgr;
    agent_conn_t *conns;
    int n_conns;
    bool in_round;
    deferred_t *deferred;
    size_t buffered, peak_buffered;
};

agent_server_t *agent_server_new(agent_ctx_t *ctx, wp_error_t *err)
{
    agent_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        wp_error_errno(err, ENOMEM, "agent server");
        return NULL;
    }
    s->ctx = ctx;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        wp_error_errno(err, errno, "epoll_create1");
        free(s);
        return NULL;
    }
    s->mgr = agent_containers_new(s, ctx, err);
    if (s->mgr == NULL) {
        close(s->epfd);
        free(s);
        return NULL;
    }
    return s;
}

static void conn_drop(agent_server_t *s, agent_conn_t *c)
{
    if (!c->dead)
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->watch.fd, NULL);
    if (s->mgr != NULL)
        agent_containers_conn_gone(s->mgr, c);
    for (agent_conn_t **p = &s->conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    s->n_conns--;
    if (!c->keep_fd)
        close(c->watch.fd);
    wp_frame_reader_fini(&c->reader);
    agent_hangup_fn fn = c->on_hangup;
    void *opaque = c->opaque;
    free(c);
    if (fn)
        fn(opaque);
}

/* Mark c for teardown at the end of the round: its pointer stays valid for
 * events and callers still holding it. */
static void conn_kill(agent_conn_t *c)
{
    if (c->dead)
        return;
    c->dead = true;
    epoll_ctl(c->srv->epfd, EPOLL_CTL_DEL, c->watch.fd, NULL);
}

static void run_deferred(agent_server_t *s)
{
    for (agent_conn_t *c = s->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (c->dead)
            conn_drop(s, c);
    }
    while (s->deferred != NULL) {
        deferred_t *d = s->deferred;
        s->deferred = d->next;
        d->fn(d->p);
        free(d);
    }
}

int agent_server_defer_free(agent_server_t *s, void (*fn)(void *), void *p)
{
    if (!s->in_round) {
        fn(p);
        return 0;
    }
    deferred_t *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        wp_log_error("agent: out of memory; leaking an object freed in a loop round");
        return -1;
    }
    *d = (deferred_t){.next = s->deferred, .fn = fn, .p = p};
    s->deferred = d;
    return 0;
}

void agent_server_free(agent_server_t *s)
{
    if (s == NULL)
        return;
    while (s->conns) {
        s->conns->on_hangup = NULL;
        conn_drop(s, s->conns);
    }
    agent_containers_free(s->mgr);
    s->mgr = NULL;
    run_deferred(s);
    close(s->epfd);
    free(s);
}

void agent_server_reap(agent_server_t *s)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        agent_containers_exited(s->mgr, pid, status);
}

void agent_server_buffered_add(agent_server_t *s, long delta)
{
    s->buffered = (size_t)((long)s->buffered + delta);
    if (s->buffered > s->peak_buffered)
        s->peak_buffered = s->buffered;
}

size_t agent_server_buffered(const agent_server_t *s, size_t *peak)
{
    if (peak != NULL)
        *peak = s->peak_buffered;
    return s->buffered;
}

int agent_server_watch(agent_server_t *s, agent_watch_t *w, uint32_t events, wp_error_t *err)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
        return wp_error_errno(err, errno, "watch fd %d", w->fd);
    return 0;
}

void agent_server_unwatch(agent_server_t *s, agent_watch_t *w)
{
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

int agent_server_connections(const agent_server_t *s)
{
    return s->n_conns;
}

static int send_message(int fd, uint32_t id, wp_frame_kind_t kind, const ProtobufCMessage *msg)
{
    uint8_t stack[512];
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = len <= sizeof(stack) ? stack : malloc(len);
    if (buf == NULL)
        return -1;
    protobuf_c_message_pack(msg, buf);
    /* bounded: a host that stops reading loses its connection, and the
     * others are served again, after AGENT_WRITE_TIMEOUT_MS at most */
    int ret = wp_frame_write_timeout(fd, id, kind, buf, len, AGENT_WRITE_TIMEOUT_MS, NULL);
    if (buf != stack)
        free(buf);
    return ret;
}

static int send_error(int fd, uint32_t id, int code, const char *message)
{
    Warmpool__Agent__V1__Response resp = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    resp.error_code = code;
    resp.error_message = (char *)message;
    return send_message(fd, id, WP_FRAME_RESPONSE, &resp.base);
}

static int send_announce(agent_server_t *s, int fd)
{
    Warmpool__Agent__V1__Announce a;
    agent_announce_fill(s->ctx, &a);
    Warmpool__Agent__V1__Event ev = WARMPOOL__AGENT__V1__EVENT__INIT;
    ev.event_case = WARMPOOL__AGENT__V1__EVENT__EVENT_ANNOUNCE;
    ev.announce = &a;
    return send_message(fd, 0, WP_FRAME_EVENT, &ev.base);
}

int agent_server_announce(agent_server_t *s, int fd)
{
    return send_announce(s, fd);
}

static int conn_result(agent_conn_t *c, int ret)
{
    if (ret < 0)
        conn_kill(c);
    return ret;
}

int agent_conn_respond(agent_conn_t *c, uint32_t id, const Warmpool__Agent__V1__Response *r)
{
    if (c->dead)
        return -1;
    return conn_result(c, send_message(c->watch.fd, id, WP_FRAME_RESPONSE, &r->base));
}

int agent_conn_event(agent_conn_t *c, const Warmpool__Agent__V1__Event *e)
{
    if (c->dead)
        return -1;
    return conn_result(c, send_message(c->watch.fd, 0, WP_FRAME_EVENT, &e->base));
}

int agent_conn_stream(agent_conn_t *c, uint32_t stream, const void *data, size_t len, bool eof)
{
    if (c->dead)
        return -1;
    return conn_result(c, wp_frame_write_flags(c->watch.fd, stream, WP_FRAME_STREAM,
                                               eof ? WP_FRAME_FLAG_EOF : 0, data, len,
                                               AGENT_WRITE_TIMEOUT_MS, NULL));
}

int agent_conn_credit(agent_conn_t *c, uint32_t stream, uint32_t bytes)
{
    if (c->dead)
        return -1;
    uint8_t be[4] = {(uint8_t)(bytes >> 24), (uint8_t)(bytes >> 16), (uint8_t)(bytes >> 8),
                     (uint8_t)bytes};
    return conn_result(c, wp_frame_write_timeout(c->watch.fd, stream, WP_FRAME_CREDIT, be, 4,
                                                 AGENT_WRITE_TIMEOUT_MS, NULL));
}

void agent_conn_fail(agent_conn_t *c, const char *why)
{
    if (c->dead)
        return;
    wp_log_warn("agent: closing a connection: %s", why);
    conn_kill(c);
}

uint32_t agent_conn_new_stream_id(agent_conn_t *c)
{
    return ++c->next_stream;
}

void agent_server_broadcast(agent_server_t *s, const Warmpool__Agent__V1__Event *e)
{
    for (agent_conn_t *c = s->conns; c != NULL; c = c->next)
        agent_conn_event(c, e);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Answer one frame. Returns -1 when the connection can no longer be used. */
static int serve_frame(agent_server_t *s, agent_conn_t *c, const wp_frame_header_t *h,
                       const uint8_t *payload)
{
    int fd = c->watch.fd;
    wp_error_t err = {0};
    if (h->kind == WP_FRAME_STREAM) {
        if (agent_containers_stream(s->mgr, c, h, payload, &err) < 0) {
            agent_conn_fail(c, err.msg);
            return -1;
        }
        return c->dead ? -1 : 0;
    }
    if (h->kind == WP_FRAME_CREDIT) {
        agent_containers_credit(s->mgr, c, h->id, get_be32(payload));
        return c->dead ? -1 : 0;
    }
    if (h->kind != WP_FRAME_REQUEST)
        return send_error(fd, h->id, EPROTO, "the agent accepts only request frames");
    Warmpool__Agent__V1__Request *req =
        warmpool__agent__v1__request__unpack(NULL, h->length, payload);
    if (req == NULL)
        return send_error(fd, h->id, EBADMSG, "request does not decode");
    if (agent_containers_handles(req)) {
        agent_containers_call(s->mgr, c, h->id, req);
        warmpool__agent__v1__request__free_unpacked(req, NULL);
        return c->dead ? -1 : 0;
    }
    Warmpool__Agent__V1__Response resp = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    bool power_off = agent_handle(s->ctx, req, &resp);
    int ret = send_message(fd, h->id, WP_FRAME_RESPONSE, &resp.base);
    agent_response_fini(&resp);
    warmpool__agent__v1__request__free_unpacked(req, NULL);
    /* the reply is a courtesy: a host that asked and left still gets its
     * power-off (a VM it gave up on must not keep running) */
    if (power_off)
        s->ctx->sys->power_off(s->ctx->sys_opaque);
    return ret;
}

static void conn_event(agent_server_t *s, agent_watch_t *w, uint32_t events)
{
    agent_conn_t *c = (agent_conn_t *)w;
    wp_error_t err = {0};
    if (c->dead)
        return;
    if (events & EPOLLIN) {
        long n = wp_frame_reader_read_fd(&c->reader, c->watch.fd, &err);
        if (n < 0 && err.code == EAGAIN)
            return;
        if (n <= 0) {
            conn_kill(c);
            return;
        }
        wp_frame_header_t h;
        const uint8_t *payload;
        int ret;
        while ((ret = wp_frame_reader_next(&c->reader, &h, &payload, &err)) == 1) {
            if (serve_frame(s, c, &h, payload) < 0) {
                conn_kill(c);
                return;
            }
        }
        if (ret < 0)
            agent_conn_fail(c, err.msg);
        return;
    }
    if (events & (EPOLLHUP | EPOLLERR))
        conn_kill(c);
}

int agent_server_add_conn(agent_server_t *s, int fd, bool keep_fd, agent_hangup_fn on_hangup,
                          void *opaque, bool announce, wp_error_t *err)
{
    agent_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        if (!keep_fd)
            close(fd);
        return wp_error_errno(err, ENOMEM, "agent connection");
    }
    c->watch = (agent_watch_t){.fd = fd, .fn = conn_event, .opaque = c};
    c->srv = s;
    c->keep_fd = keep_fd;
    c->on_hangup = on_hangup;
    c->opaque = opaque;
    wp_frame_reader_init(&c->reader, WP_FRAME_MAX_PAYLOAD);
    if (agent_server_watch(s, &c->watch, EPOLLIN, err) < 0) {
        if (!keep_fd)
            close(fd);
        wp_frame_reader_fini(&c->reader);
        free(c);
        return -1;
    }
    c->next = s->conns;
    s->conns = c;
    s->n_conns++;
    if (announce && send_announce(s, fd) < 0) {
        conn_kill(c);
        if (!s->in_round)
            run_deferred(s);
    }
    return 0;
}

int agent_server_run_once(agent_server_t *s, int timeout_ms, wp_error_t *err)
{
    struct epoll_event events[16];
    int n = epoll_wait(s->epfd, events, 16, timeout_ms);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n < 0)
        return wp_error_errno(err, errno, "epoll_wait");
    /* connections and processes closed while handling are freed only at
     * the end of the round, so the pointers still to be handled stay valid */
    s->in_round = true;
    for (int i = 0; i < n; i++) {
        agent_watch_t *w = events[i].data.ptr;
        w->fn(s, w, events[i].events);
    }
    s->in_round = false;
    run_deferred(s);
    return n;
}
