/* agent_streams.c - see agent_streams.h. */
#include "agent_streams.h"

#include <errno.h>     /* EAGAIN, EPROTO */
#include <fcntl.h>     /* fcntl */
#include <stdlib.h>    /* malloc */
#include <string.h>    /* memcpy */
#include <sys/epoll.h> /* EPOLLIN */
#include <unistd.h>    /* read, write, close */

#include "agent_protocol.h"
#include "wp_log.h"

#define GRANT_BATCH (AGENT_STREAM_WINDOW / 4)

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ---- output ---- */

static void out_watch(agent_out_stream_t *s)
{
    bool want = s->watch.fd >= 0 && (s->credit > 0 || s->conn == NULL);
    if (want == s->watching)
        return;
    if (want && agent_server_watch(s->srv, &s->watch, EPOLLIN, NULL) < 0)
        return;
    if (!want)
        agent_server_unwatch(s->srv, &s->watch);
    s->watching = want;
}

static void out_finish(agent_out_stream_t *s, bool notify)
{
    if (s->watch.fd < 0)
        return;
    if (s->watching)
        agent_server_unwatch(s->srv, &s->watch);
    s->watching = false;
    close(s->watch.fd);
    s->watch.fd = -1;
    if (s->conn != NULL && !s->eof)
        agent_conn_stream(s->conn, s->id, NULL, 0, true);
    s->eof = true;
    if (notify && s->on_eof)
        s->on_eof(s->opaque);
}

static void out_ready(agent_server_t *srv, agent_watch_t *w, uint32_t events)
{
    (void)srv;
    (void)events;
    agent_out_stream_t *s = w->opaque;
    if (s->watch.fd < 0)
        return;
    uint8_t buf[AGENT_STREAM_CHUNK];
    size_t want = s->conn == NULL || s->credit > sizeof(buf) ? sizeof(buf) : s->credit;
    ssize_t n = read(s->watch.fd, buf, want);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) { /* end of file, or EIO: a pty whose last slave closed */
        out_finish(s, true);
        return;
    }
    if (s->conn != NULL) {
        s->credit -= (uint32_t)n;
        agent_conn_stream(s->conn, s->id, buf, (size_t)n, false);
    }
    out_watch(s);
}

int agent_out_open(agent_out_stream_t *s, agent_server_t *srv, agent_conn_t *conn, int fd,
                   agent_stream_eof_fn on_eof, void *opaque, wp_error_t *err)
{
    set_nonblock(fd);
    *s = (agent_out_stream_t){
        .watch = {.fd = fd, .fn = out_ready, .opaque = s},
        .srv = srv,
        .conn = conn,
        .id = agent_conn_new_stream_id(conn),
        .credit = AGENT_STREAM_WINDOW,
        .on_eof = on_eof,
        .opaque = opaque,
    };
    if (agent_server_watch(srv, &s->watch, EPOLLIN, err) < 0) {
        close(fd);
        s->watch.fd = -1;
        return -1;
    }
    s->watching = true;
    return 0;
}

void agent_out_credit(agent_out_stream_t *s, uint32_t n)
{
    /* a host granting more than it was sent only hurts its own buffer */
    s->credit = n > UINT32_MAX - s->credit ? UINT32_MAX : s->credit + n;
    out_watch(s);
}

void agent_out_detach(agent_out_stream_t *s)
{
    s->conn = NULL;
    out_watch(s);
}

void agent_out_close(agent_out_stream_t *s)
{
    out_finish(s, false);
}

/* ---- input ---- */

static void in_grant(agent_in_stream_t *s, bool force)
{
    if (s->ungranted == 0 || (!force && s->ungranted < GRANT_BATCH))
        return;
    if (s->conn != NULL && !s->host_eof)
        agent_conn_credit(s->conn, s->id, s->ungranted);
    s->allowance += s->ungranted;
    s->ungranted = 0;
}

static void in_account(agent_in_stream_t *s, size_t consumed)
{
    s->ungranted += (uint32_t)consumed;
    agent_server_buffered_add(s->srv, -(long)consumed);
}

static void in_shut(agent_in_stream_t *s)
{
    if (s->watch.fd < 0)
        return;
    if (s->watching)
        agent_server_unwatch(s->srv, &s->watch);
    s->watching = false;
    close(s->watch.fd);
    s->watch.fd = -1;
}

/* Write what the fd takes; drop everything once the reader is gone. */
static void in_flush(agent_in_stream_t *s)
{
    while (s->len > 0 && s->watch.fd >= 0) {
        ssize_t n = write(s->watch.fd, s->buf + s->off, s->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) { /* EPIPE: the process closed its stdin or exited */
            in_shut(s);
            break;
        }
        s->off += (size_t)n;
        s->len -= (size_t)n;
        in_account(s, (size_t)n);
    }
    if (s->watch.fd < 0 && s->len > 0) {
        in_account(s, s->len);
        s->len = 0;
    }
    if (s->len == 0)
        s->off = 0;
    in_grant(s, s->len == 0);
    if (s->len == 0 && s->host_eof)
        in_shut(s);
    bool want = s->watch.fd >= 0 && s->len > 0;
    if (want != s->watching) {
        if (want)
            agent_server_watch(s->srv, &s->watch, EPOLLOUT, NULL);
        else
            agent_server_unwatch(s->srv, &s->watch);
        s->watching = want;
    }
}

static void in_ready(agent_server_t *srv, agent_watch_t *w, uint32_t events)
{
    (void)srv;
    (void)events;
    in_flush(w->opaque);
}

int agent_in_open(agent_in_stream_t *s, agent_server_t *srv, agent_conn_t *conn, int fd,
                  wp_error_t *err)
{
    *s = (agent_in_stream_t){.watch = {.fd = -1, .fn = in_ready, .opaque = s}, .srv = srv};
    s->buf = malloc(AGENT_STREAM_WINDOW);
    if (s->buf == NULL) {
        close(fd);
        return wp_error_errno(err, ENOMEM, "stdin buffer");
    }
    set_nonblock(fd);
    s->watch.fd = fd;
    s->conn = conn;
    s->id = agent_conn_new_stream_id(conn);
    s->allowance = AGENT_STREAM_WINDOW;
    return 0;
}

bool agent_in_open_to(const agent_in_stream_t *s, const agent_conn_t *conn, uint32_t id)
{
    return s->id != 0 && s->id == id && s->conn == conn && !s->host_eof;
}

int agent_in_data(agent_in_stream_t *s, const uint8_t *data, size_t len, bool eof, wp_error_t *err)
{
    if (len > s->allowance)
        return wp_error_set(err, EPROTO, "stdin stream %u: %zu bytes sent with %u of credit", s->id,
                            len, s->allowance);
    s->allowance -= (uint32_t)len;
    if (s->watch.fd < 0) { /* nobody reads any more: drop and credit at once */
        s->ungranted += (uint32_t)len;
        in_grant(s, true);
        s->host_eof |= eof;
        return 0;
    }
    /* off + len + allowance + ungranted == WINDOW, so the data fits after
     * moving the buffered bytes to the front */
    if (s->off + s->len + len > AGENT_STREAM_WINDOW) {
        memmove(s->buf, s->buf + s->off, s->len);
        s->off = 0;
    }
    memcpy(s->buf + s->off + s->len, data, len);
    s->len += len;
    agent_server_buffered_add(s->srv, (long)len);
    if (eof)
        s->host_eof = true;
    in_flush(s);
    return 0;
}

void agent_in_eof(agent_in_stream_t *s)
{
    s->host_eof = true;
    in_flush(s);
}

void agent_in_reader_gone(agent_in_stream_t *s)
{
    in_shut(s);
    in_flush(s); /* drops and credits what was buffered */
    free(s->buf);
    s->buf = NULL;
}

void agent_in_close(agent_in_stream_t *s)
{
    in_shut(s);
    if (s->len > 0)
        agent_server_buffered_add(s->srv, -(long)s->len);
    s->len = 0;
    s->conn = NULL;
    free(s->buf);
    s->buf = NULL;
}
