/* shim_io.c - FIFOs <-> agent streams (shim_io.h). */
#include <errno.h>     /* errno */
#include <fcntl.h>     /* open */
#include <stdlib.h>    /* calloc */
#include <string.h>    /* memmove */
#include <sys/ioctl.h> /* FIONREAD */
#include <unistd.h>    /* read, write */

#include "agent_protocol.h"
#include "shim_io.h"
#include "wp_log.h"
#include "wp_time.h"

/* A stream's buffer: a window of unconsumed bytes the agent may send, plus
 * as much again for early bytes already credited (claim_early). */
#define OUT_BUF_CAP (2 * AGENT_STREAM_WINDOW)

typedef struct out_stream {
    uint32_t id; /* 0: none */
    int fd;
    uint8_t *buf; /* held bytes, OUT_BUF_CAP at most */
    size_t held;
    size_t to_credit;         /* written to the FIFO, not yet credited */
    bool eof;                 /* the agent's EOF came */
    bool broken;              /* the reader left: drop */
    bool done;                /* EOF and everything read by the client: fd closed */
    int64_t last_progress_ns; /* after the EOF: when the FIFO last emptied a bit */
    int last_unread;
} out_stream_t;

struct shim_io {
    agent_client_t *c;
    uint32_t in_id;
    int in_fd;
    bool in_open;
    bool in_close_asked; /* CloseIO: end stdin once the FIFO has nothing more now */
    out_stream_t out[2];
};

static int end_stdin(shim_io_t *io, wp_error_t *err);
static int read_stdin(shim_io_t *io, short revents, wp_error_t *err);

/* Write what the FIFO takes now; the rest stays held. */
static void out_flush(out_stream_t *o)
{
    while (o->held > 0 && !o->broken) {
        ssize_t n = write(o->fd, o->buf, o->held);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) { /* EPIPE: nobody reads any more */
            o->broken = true;
            break;
        }
        memmove(o->buf, o->buf + n, o->held - (size_t)n);
        o->held -= (size_t)n;
        o->to_credit += (size_t)n;
    }
    if (o->broken) {
        o->to_credit += o->held;
        o->held = 0;
    }
}

static int out_sink(void *opaque, uint32_t stream, const uint8_t *data, size_t len, bool eof,
                    wp_error_t *err)
{
    (void)stream;
    out_stream_t *o = opaque;
    if (o->held + len > OUT_BUF_CAP)
        return wp_error_set(err, EPROTO, "stream %u sent beyond its credit", o->id);
    memcpy(o->buf + o->held, data, len);
    o->held += len;
    o->eof |= eof;
    out_flush(o);
    return 0;
}

typedef struct early_chunk {
    uint32_t stream;
    bool eof;
    size_t len;
    struct early_chunk *next;
    uint8_t data[];
} early_chunk_t;

struct shim_io_early {
    early_chunk_t *head, **tail;
    size_t bytes;
};

shim_io_early_t *shim_io_early_new(void)
{
    shim_io_early_t *e = calloc(1, sizeof(*e));
    if (e)
        e->tail = &e->head;
    return e;
}

void shim_io_early_free(shim_io_early_t *e)
{
    if (e == NULL)
        return;
    while (e->head) {
        early_chunk_t *c = e->head;
        e->head = c->next;
        free(c);
    }
    free(e);
}

int shim_io_early_sink(void *opaque, uint32_t stream, const uint8_t *data, size_t len, bool eof,
                       wp_error_t *err)
{
    (void)err;
    shim_io_early_t *e = opaque;
    if (e->bytes + len > SHIM_IO_EARLY_MAX) {
        wp_log_warn("stream %u: %zu early bytes dropped (nobody took the stream)", stream, len);
        len = 0;
    }
    early_chunk_t *c = malloc(sizeof(*c) + len);
    if (c == NULL)
        return 0;
    *c = (early_chunk_t){.stream = stream, .eof = eof, .len = len};
    memcpy(c->data, data, len);
    *e->tail = c;
    e->tail = &c->next;
    e->bytes += len;
    return 0;
}

/* Move what e holds for o's stream into o's buffer; true when that
 * included the stream's EOF (the client has forgotten the stream then). */
static bool claim_early(shim_io_early_t *e, out_stream_t *o)
{
    bool eof = false;
    for (early_chunk_t **link = e ? &e->head : NULL; link && *link;) {
        early_chunk_t *c = *link;
        if (c->stream != o->id) {
            link = &c->next;
            continue;
        }
        size_t room = AGENT_STREAM_WINDOW - o->held; /* early bytes fill the slack only */
        size_t n = c->len <= room ? c->len : room;
        memcpy(o->buf + o->held, c->data, n);
        o->held += n;
        eof |= c->eof;
        e->bytes -= c->len;
        *link = c->next;
        if (e->tail == &c->next)
            e->tail = link;
        free(c);
    }
    return eof;
}

static int open_out(agent_client_t *c, shim_io_early_t *early, out_stream_t *o, uint32_t id,
                    const char *path, wp_error_t *err)
{
    o->fd = -1;
    if (id == 0 || path == NULL || path[0] == '\0') {
        o->done = true;
        return 0;
    }
    o->id = id;
    o->fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (o->fd < 0 && errno == ENXIO) /* no reader yet: hold the pipe open ourselves */
        o->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (o->fd < 0)
        return wp_error_errno(err, errno, "open '%s'", path);
    o->buf = malloc(OUT_BUF_CAP);
    if (o->buf == NULL)
        return wp_error_errno(err, ENOMEM, "stream buffer");
    /* early bytes were credited back already (the default sink is not manual) */
    if (claim_early(early, o)) {
        o->eof = true;
        out_flush(o);
        return 0;
    }
    if (agent_client_stream_manual(c, id, err) < 0 ||
        agent_client_stream_sink(c, id, out_sink, o, err) < 0)
        return -1;
    return 0;
}

shim_io_t *shim_io_open(agent_client_t *c, shim_io_early_t *early, const agent_process_t *p,
                        const char *stdin_path, const char *stdout_path, const char *stderr_path,
                        wp_error_t *err)
{
    shim_io_t *io = calloc(1, sizeof(*io));
    if (io == NULL) {
        wp_error_errno(err, ENOMEM, "stdio");
        return NULL;
    }
    io->c = c;
    io->in_fd = -1;
    if (p->stdin_stream != 0 && stdin_path != NULL && stdin_path[0] != '\0') {
        io->in_fd = open(stdin_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (io->in_fd < 0) {
            wp_error_errno(err, errno, "open '%s'", stdin_path);
            shim_io_free(io);
            return NULL;
        }
        io->in_id = p->stdin_stream;
        io->in_open = true;
    }
    if (open_out(c, early, &io->out[0], p->stdout_stream, stdout_path, err) < 0 ||
        open_out(c, early, &io->out[1], p->stderr_stream, stderr_path, err) < 0) {
        shim_io_free(io);
        return NULL;
    }
    return io;
}

void shim_io_free(shim_io_t *io)
{
    if (io == NULL)
        return;
    if (io->in_fd >= 0)
        close(io->in_fd);
    for (int i = 0; i < 2; i++) {
        if (io->out[i].fd >= 0)
            close(io->out[i].fd);
        if (io->out[i].id != 0 && !io->out[i].done)
            agent_client_stream_sink(io->c, io->out[i].id, NULL, NULL, NULL);
        free(io->out[i].buf);
    }
    free(io);
}

int shim_io_poll_fds(shim_io_t *io, struct pollfd *fds)
{
    int n = 0;
    if (io->in_open && agent_client_stdin_room(io->c, io->in_id) > 0)
        fds[n++] = (struct pollfd){.fd = io->in_fd, .events = POLLIN};
    for (int i = 0; i < 2; i++)
        if (io->out[i].held > 0 && !io->out[i].broken)
            fds[n++] = (struct pollfd){.fd = io->out[i].fd, .events = POLLOUT};
    return n;
}

static int read_stdin(shim_io_t *io, short revents, wp_error_t *err)
{
    uint8_t buf[AGENT_STREAM_CHUNK];
    size_t room = agent_client_stdin_room(io->c, io->in_id);
    if (room > sizeof(buf))
        room = sizeof(buf);
    if (room == 0)
        return 0;
    ssize_t n = read(io->in_fd, buf, room);
    if (n < 0 && errno == EAGAIN && io->in_close_asked)
        return end_stdin(io, err);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n > 0) {
        size_t taken;
        return agent_client_stdin_write(io->c, io->in_id, buf, (size_t)n, &taken, err);
    }
    /* 0 with POLLHUP: the writer closed; 0 without it cannot be a poll's
     * answer for a FIFO that never had a writer (Linux reports no hangup
     * before the first writer), so it is the end too */
    (void)revents;
    return end_stdin(io, err);
}

int shim_io_handle(shim_io_t *io, const struct pollfd *fds, int n, wp_error_t *err)
{
    for (int i = 0; i < n; i++) {
        if (fds[i].revents == 0)
            continue;
        if (io->in_open && fds[i].fd == io->in_fd) {
            if (read_stdin(io, fds[i].revents, err) < 0)
                return -1;
            continue;
        }
        for (int k = 0; k < 2; k++)
            if (fds[i].fd == io->out[k].fd)
                out_flush(&io->out[k]);
    }
    return shim_io_settle(io, err);
}

/* After the stream's EOF: the client closes its FIFOs as soon as Wait
 * returns, so output still in the pipe would be lost. Done when the pipe
 * is empty, its reader gone, or it stopped draining for
 * SHIM_IO_DRAIN_STALL_MS (a client that does not read). */
static bool fifo_emptied(out_stream_t *o)
{
    int unread = 0;
    struct pollfd p = {.fd = o->fd, .events = POLLOUT};
    if (o->broken || ioctl(o->fd, FIONREAD, &unread) < 0 || unread == 0 ||
        (poll(&p, 1, 0) == 1 && (p.revents & POLLERR)))
        return true;
    int64_t now = wp_now_mono_ns();
    if (o->last_progress_ns == 0 || unread < o->last_unread) {
        o->last_progress_ns = now;
        o->last_unread = unread;
    }
    return now - o->last_progress_ns > SHIM_IO_DRAIN_STALL_MS * 1000000ll;
}

bool shim_io_draining(const shim_io_t *io)
{
    for (int k = 0; k < 2; k++)
        if (!io->out[k].done && io->out[k].eof && io->out[k].held == 0)
            return true;
    return false;
}

int shim_io_settle(shim_io_t *io, wp_error_t *err)
{
    if (io->in_open && io->in_close_asked && agent_client_stdin_room(io->c, io->in_id) > 0 &&
        read_stdin(io, 0, err) < 0)
        return -1;
    for (int k = 0; k < 2; k++) {
        out_stream_t *o = &io->out[k];
        if (o->done)
            continue;
        if (o->to_credit > 0 && !o->eof) {
            if (agent_client_stream_consumed(io->c, o->id, o->to_credit, err) < 0)
                return -1;
        }
        o->to_credit = 0;
        if (o->eof && o->held == 0 && fifo_emptied(o)) {
            close(o->fd);
            o->fd = -1;
            o->done = true;
        }
    }
    return 0;
}

int shim_io_close_stdin(shim_io_t *io, wp_error_t *err)
{
    /* the client sends CloseIO right after closing its end: what it wrote
     * before may still be in the pipe, and goes first */
    if (!io->in_open || io->in_close_asked)
        return 0;
    io->in_close_asked = true;
    return read_stdin(io, 0, err);
}

static int end_stdin(shim_io_t *io, wp_error_t *err)
{
    if (!io->in_open)
        return 0;
    io->in_open = false;
    close(io->in_fd);
    io->in_fd = -1;
    if (!agent_client_stream_open(io->c, io->in_id))
        return 0; /* the process is gone: nothing to tell */
    return agent_client_stdin_eof(io->c, io->in_id, err);
}

bool shim_io_drained(const shim_io_t *io)
{
    return io->out[0].done && io->out[1].done;
}
