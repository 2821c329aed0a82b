/* agent_server.c - see agent_server.h. */
#include "agent_server.h"

#include <errno.h>     /* errno */
#include <stdlib.h>    /* calloc */
#include <sys/epoll.h> /* epoll_* */
#include <unistd.h>    /* close */

#include "wp_cleanup.h"
#include "wp_frame.h"
#include "wp_log.h"

typedef struct agent_conn {
    agent_watch_t watch; /* first: epoll data points here */
    struct agent_conn *next;
    wp_frame_reader_t reader;
    bool keep_fd;
    agent_hangup_fn on_hangup;
    void *opaque;
} agent_conn_t;

struct agent_server {
    int epfd;
    agent_ctx_t *ctx;
    agent_conn_t *conns;
    int n_conns;
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
    return s;
}

static void conn_drop(agent_server_t *s, agent_conn_t *c)
{
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->watch.fd, NULL);
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

void agent_server_free(agent_server_t *s)
{
    if (s == NULL)
        return;
    while (s->conns) {
        s->conns->on_hangup = NULL;
        conn_drop(s, s->conns);
    }
    close(s->epfd);
    free(s);
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

/* Answer one frame. Returns -1 when the connection can no longer be written. */
static int serve_frame(agent_server_t *s, int fd, const wp_frame_header_t *h,
                       const uint8_t *payload)
{
    if (h->kind != WP_FRAME_REQUEST)
        return send_error(fd, h->id, EPROTO, "the agent accepts only request frames");
    Warmpool__Agent__V1__Request *req =
        warmpool__agent__v1__request__unpack(NULL, h->length, payload);
    if (req == NULL)
        return send_error(fd, h->id, EBADMSG, "request does not decode");
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
    if (events & EPOLLIN) {
        long n = wp_frame_reader_read_fd(&c->reader, c->watch.fd, &err);
        if (n < 0 && err.code == EAGAIN)
            return;
        if (n <= 0) {
            conn_drop(s, c);
            return;
        }
        wp_frame_header_t h;
        const uint8_t *payload;
        int ret;
        while ((ret = wp_frame_reader_next(&c->reader, &h, &payload, &err)) == 1) {
            if (serve_frame(s, c->watch.fd, &h, payload) < 0) {
                conn_drop(s, c);
                return;
            }
        }
        if (ret < 0) {
            wp_log_warn("agent: closing a connection: %s", err.msg);
            conn_drop(s, c);
        }
        return;
    }
    if (events & (EPOLLHUP | EPOLLERR))
        conn_drop(s, c);
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
    if (announce && send_announce(s, fd) < 0)
        conn_drop(s, c);
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
    /* a handler frees at most its own connection, and each fd appears once
     * per wait, so the pointers still to be handled stay valid */
    for (int i = 0; i < n; i++) {
        agent_watch_t *w = events[i].data.ptr;
        w->fn(s, w, events[i].events);
    }
    return n;
}
