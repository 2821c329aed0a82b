/* agent_client_stream.c - process stdio streams: output sinks and credit,
 * stdin within the window (agent_client_stream.h). */
#include <errno.h>  /* EPROTO */
#include <stdlib.h> /* calloc */

#include "agent_client_internal.h"
#include "agent_protocol.h"
#include "wp_time.h"

/* Grant credit once this much was consumed: few credit frames per stream,
 * and the agent never runs below 3/4 of its window. */
#define CREDIT_BATCH (AGENT_STREAM_WINDOW / 4)

agent_stream_t *agent_stream_find(agent_client_t *c, uint32_t id)
{
    for (agent_stream_t *s = c->streams; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

static void stream_forget(agent_client_t *c, uint32_t id)
{
    for (agent_stream_t **p = &c->streams; *p; p = &(*p)->next)
        if ((*p)->id == id) {
            agent_stream_t *s = *p;
            *p = s->next;
            free(s);
            return;
        }
}

void agent_streams_free(agent_client_t *c)
{
    while (c->streams) {
        agent_stream_t *s = c->streams;
        c->streams = s->next;
        free(s);
    }
}

static int stream_add(agent_client_t *c, uint32_t id, bool input, wp_error_t *err)
{
    if (id == 0)
        return 0; /* no such stream (stdin off, or a terminal's stderr) */
    if (agent_stream_find(c, id))
        return wp_error_set(err, EPROTO, "agent reused stream id %u", id);
    agent_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return wp_error_errno(err, ENOMEM, "agent stream %u", id);
    s->id = id;
    s->input = input;
    s->allowed = AGENT_STREAM_WINDOW;
    s->credited = AGENT_STREAM_WINDOW;
    s->next = c->streams;
    c->streams = s;
    return 0;
}

int agent_stream_register(agent_client_t *c, const Warmpool__Agent__V1__StdioStreams *s,
                          wp_error_t *err)
{
    if ((s->stdin_stream &&
         (s->stdin_stream == s->stdout_stream || s->stdin_stream == s->stderr_stream)) ||
        (s->stdout_stream && s->stdout_stream == s->stderr_stream))
        return wp_error_set(err, EPROTO, "agent named one stream id twice (%u, %u, %u)",
                            s->stdin_stream, s->stdout_stream, s->stderr_stream);
    if (stream_add(c, s->stdin_stream, true, err) < 0 ||
        stream_add(c, s->stdout_stream, false, err) < 0 ||
        stream_add(c, s->stderr_stream, false, err) < 0)
        return -1;
    return 0;
}

int agent_client_stream_sink(agent_client_t *c, uint32_t stream, agent_stream_fn fn, void *opaque,
                             wp_error_t *err)
{
    agent_stream_t *s = agent_stream_find(c, stream);
    if (s == NULL || s->input)
        return wp_error_set(err, ENOENT, "no open output stream %u", stream);
    s->fn = fn;
    s->opaque = opaque;
    return 0;
}

bool agent_client_stream_open(const agent_client_t *c, uint32_t stream)
{
    return agent_stream_find((agent_client_t *)c, stream) != NULL;
}

int agent_stream_check(agent_client_t *c, const wp_frame_header_t *h, wp_error_t *err)
{
    agent_stream_t *s = agent_stream_find(c, h->id);
    if (s == NULL)
        return wp_error_set(err, EPROTO, "agent sent data on unknown stream %u", h->id);
    if (s->input)
        return wp_error_set(err, EPROTO, "agent sent data on stdin stream %u", h->id);
    if (h->length > AGENT_STREAM_CHUNK)
        return wp_error_set(err, EPROTO, "agent sent a %u-byte frame on stream %u (at most %u)",
                            h->length, h->id, AGENT_STREAM_CHUNK);
    if (s->received + h->length > s->allowed)
        return wp_error_set(err, EPROTO,
                            "agent sent %u bytes on stream %u with only %llu bytes of credit",
                            h->length, h->id, (unsigned long long)(s->allowed - s->received));
    return 0;
}

static int grant(agent_client_t *c, agent_stream_t *s, wp_error_t *err)
{
    uint8_t be[4] = {(uint8_t)(s->unacked >> 24), (uint8_t)(s->unacked >> 16),
                     (uint8_t)(s->unacked >> 8), (uint8_t)s->unacked};
    if (wp_frame_write_timeout(c->fd, s->id, WP_FRAME_CREDIT, be, sizeof(be), AGENT_CLIENT_WRITE_MS,
                               err) < 0)
        return wp_error_wrap(err, "grant credit on stream %u", s->id);
    s->allowed += s->unacked;
    s->unacked = 0;
    return 0;
}

/* -1: the sink failed (err); -2: the connection failed (err). */
int agent_stream_deliver(agent_client_t *c, const wp_frame_header_t *h, const uint8_t *payload,
                         wp_error_t *err)
{
    agent_stream_t *s = agent_stream_find(c, h->id);
    bool eof = (h->flags & WP_FRAME_FLAG_EOF) != 0;
    s->received += h->length;
    agent_stream_fn fn = s->fn ? s->fn : c->on_stream;
    void *opaque = s->fn ? s->opaque : c->stream_opaque;
    int ret = 0;
    if (fn && (h->length > 0 || eof))
        ret = fn(opaque, h->id, payload, h->length, eof, err);
    if (eof) {
        stream_forget(c, h->id); /* nothing more may come: no credit to grant */
        return ret;
    }
    if (s->manual) {
        s->handed += h->length;
        return ret;
    }
    s->unacked += h->length;
    if (s->unacked >= CREDIT_BATCH) {
        wp_error_t e = {0};
        if (grant(c, s, &e) < 0) {
            if (err)
                *err = e;
            return -2;
        }
    }
    return ret;
}

int agent_client_stream_manual(agent_client_t *c, uint32_t stream, wp_error_t *err)
{
    agent_stream_t *s = agent_stream_find(c, stream);
    if (s == NULL || s->input)
        return wp_error_set(err, ENOENT, "no open output stream %u", stream);
    s->manual = true;
    return 0;
}

int agent_client_stream_consumed(agent_client_t *c, uint32_t stream, size_t n, wp_error_t *err)
{
    if (agent_client_check(c, err) < 0)
        return -1;
    agent_stream_t *s = agent_stream_find(c, stream);
    if (s == NULL || s->input)
        return wp_error_set(err, ENOENT, "no open output stream %u", stream);
    if (!s->manual || n > s->handed)
        return wp_error_set(err, EINVAL, "stream %u: %zu bytes consumed, %llu handed out", stream,
                            n, (unsigned long long)s->handed);
    s->handed -= n;
    s->unacked += (uint32_t)n;
    if (s->unacked >= CREDIT_BATCH && grant(c, s, err) < 0)
        return agent_client_break(c, err);
    return 0;
}

void agent_stream_credit(agent_client_t *c, uint32_t id, const uint8_t p[4])
{
    agent_stream_t *s = agent_stream_find(c, id);
    /* credit for a stdin we closed may still be on its way: not an error */
    if (s == NULL || !s->input)
        return;
    s->credited += (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t agent_client_stdin_room(const agent_client_t *c, uint32_t stream)
{
    const agent_stream_t *s = agent_stream_find((agent_client_t *)c, stream);
    if (s == NULL || !s->input || s->sent >= s->credited)
        return 0;
    return (size_t)(s->credited - s->sent);
}

int agent_client_stdin_write(agent_client_t *c, uint32_t stream, const void *data, size_t len,
                             size_t *taken, wp_error_t *err)
{
    *taken = 0;
    if (agent_client_check(c, err) < 0)
        return -1;
    agent_stream_t *s = agent_stream_find(c, stream);
    if (s == NULL || !s->input)
        return wp_error_set(err, ENOENT, "no open stdin stream %u", stream);
    const uint8_t *p = data;
    while (*taken < len) {
        size_t room = agent_client_stdin_room(c, stream);
        size_t n = len - *taken;
        if (n > room)
            n = room;
        if (n > AGENT_STREAM_CHUNK)
            n = AGENT_STREAM_CHUNK;
        if (n == 0)
            break;
        if (wp_frame_write_timeout(c->fd, stream, WP_FRAME_STREAM, p + *taken, n,
                                   AGENT_CLIENT_WRITE_MS, err) < 0) {
            wp_error_wrap(err, "write stdin stream %u", stream);
            return agent_client_break(c, err);
        }
        s->sent += n;
        *taken += n;
    }
    return 0;
}

int agent_client_stdin_write_all(agent_client_t *c, uint32_t stream, const void *data, size_t len,
                                 int timeout_ms, wp_error_t *err)
{
    int64_t deadline = timeout_ms < 0 ? 0 : wp_now_mono_ns() + (int64_t)timeout_ms * 1000000;
    size_t done = 0;
    for (;;) {
        size_t taken;
        if (agent_client_stdin_write(c, stream, (const uint8_t *)data + done, len - done, &taken,
                                     err) < 0)
            return -1;
        done += taken;
        if (done == len)
            return 0;
        int ms = -1;
        if (deadline != 0) {
            int64_t left = (deadline - wp_now_mono_ns()) / 1000000;
            if (left <= 0)
                return wp_error_set(err, ETIMEDOUT,
                                    "stdin stream %u: the agent granted no credit for %d ms",
                                    stream, timeout_ms);
            ms = (int)left;
        }
        if (agent_client_pump(c, ms, err) < 0)
            return -1;
    }
}

int agent_client_stdin_eof(agent_client_t *c, uint32_t stream, wp_error_t *err)
{
    if (agent_client_check(c, err) < 0)
        return -1;
    agent_stream_t *s = agent_stream_find(c, stream);
    if (s == NULL || !s->input)
        return wp_error_set(err, ENOENT, "no open stdin stream %u", stream);
    if (wp_frame_write_flags(c->fd, stream, WP_FRAME_STREAM, WP_FRAME_FLAG_EOF, NULL, 0,
                             AGENT_CLIENT_WRITE_MS, err) < 0) {
        wp_error_wrap(err, "close stdin stream %u", stream);
        return agent_client_break(c, err);
    }
    stream_forget(c, stream);
    return 0;
}
