/* agent_client_pump.c - reading and dispatching frames, and calls in
 * flight (agent_client_stream.h). */
#include <errno.h>  /* EPROTO */
#include <limits.h> /* INT_MAX */
#include <poll.h>   /* poll */
#include <stdlib.h> /* malloc */
#include <string.h> /* memcpy */

#include "agent_client_internal.h"
#include "wp_cleanup.h"
#include "wp_time.h"

#define RESULT(x) WARMPOOL__AGENT__V1__RESPONSE__RESULT_##x

int agent_client_break(agent_client_t *c, wp_error_t *err)
{
    if (!c->broken) {
        c->broken = true;
        if (err)
            c->broken_err = *err;
        else
            wp_error_set(&c->broken_err, EPROTO, "agent connection failed");
    }
    return -1;
}

int agent_client_check(agent_client_t *c, wp_error_t *err)
{
    if (!c->broken)
        return 0;
    if (err)
        *err = c->broken_err;
    return -1;
}

int agent_client_fd(const agent_client_t *c)
{
    return c->fd;
}

void agent_client_on_event(agent_client_t *c, agent_event_fn fn, void *opaque)
{
    c->on_event = fn;
    c->event_opaque = opaque;
}

void agent_client_on_stream(agent_client_t *c, agent_stream_fn fn, void *opaque)
{
    c->on_stream = fn;
    c->stream_opaque = opaque;
}

static agent_pending_t *pending_find(agent_client_t *c, uint32_t id, agent_pending_t ***link)
{
    for (agent_pending_t **p = &c->pending; *p; p = &(*p)->next)
        if ((*p)->id == id) {
            if (link)
                *link = p;
            return *p;
        }
    return NULL;
}

static void take_event(agent_client_t *c, const uint8_t *payload, size_t len)
{
    Warmpool__Agent__V1__Event *ev = warmpool__agent__v1__event__unpack(NULL, len, payload);
    if (ev == NULL)
        return; /* an event we cannot read changes nothing we hold */
    if (ev->event_case == WARMPOOL__AGENT__V1__EVENT__EVENT_ANNOUNCE) {
        if (c->announce)
            warmpool__agent__v1__event__free_unpacked(c->announce, NULL);
        c->announce = ev;
        return;
    }
    if (c->on_event)
        c->on_event(c->event_opaque, ev);
    warmpool__agent__v1__event__free_unpacked(ev, NULL);
}

/* The streams of a create or exec are registered whoever waits for the
 * response, so that their data always finds a known stream. */
static int take_response(agent_client_t *c, const wp_frame_header_t *h, const uint8_t *payload,
                         wp_error_t *err)
{
    Warmpool__Agent__V1__Response *r =
        warmpool__agent__v1__response__unpack(NULL, h->length, payload);
    if (r != NULL && r->error_code == 0) {
        const Warmpool__Agent__V1__StdioStreams *s = NULL;
        if (r->result_case == RESULT(CREATE_CONTAINER) && r->create_container)
            s = r->create_container->streams;
        else if (r->result_case == RESULT(EXEC_PROCESS) && r->exec_process)
            s = r->exec_process->streams;
        if (s && agent_stream_register(c, s, err) < 0) {
            warmpool__agent__v1__response__free_unpacked(r, NULL);
            return -1;
        }
    }
    agent_pending_t *p = pending_find(c, h->id, NULL);
    if (p == NULL || p->arrived) {
        /* a response to a call we gave up on (or a duplicate): drop it */
        if (r)
            warmpool__agent__v1__response__free_unpacked(r, NULL);
        return 0;
    }
    p->arrived = true;
    p->resp = r;
    return 0;
}

/* Dispatch every complete frame the reader holds; then look at the header
 * of a frame still arriving, so that a bad one is refused before its
 * payload is buffered. */
static int dispatch(agent_client_t *c, wp_error_t *err)
{
    wp_frame_header_t h;
    const uint8_t *payload;
    int ret;
    int status = 0; /* a sink's failure is reported after the frames are all dispatched */
    wp_error_t sink_err = {0};
    while ((ret = wp_frame_reader_next(&c->reader, &h, &payload, err)) == 1) {
        switch (h.kind) {
        case WP_FRAME_EVENT:
            take_event(c, payload, h.length);
            break;
        case WP_FRAME_RESPONSE:
            if (take_response(c, &h, payload, err) < 0)
                return agent_client_break(c, err);
            break;
        case WP_FRAME_STREAM: {
            wp_error_t e = {0};
            if (agent_stream_check(c, &h, err) < 0)
                return agent_client_break(c, err);
            int r = agent_stream_deliver(c, &h, payload, &e);
            if (r == -2) {
                if (err)
                    *err = e;
                return agent_client_break(c, err);
            }
            if (r < 0 && status == 0) {
                status = -1;
                sink_err = e;
            }
            break;
        }
        case WP_FRAME_CREDIT:
            agent_stream_credit(c, h.id, payload);
            break;
        default:
            break; /* the agent sends no requests */
        }
    }
    if (ret < 0) {
        wp_error_wrap(err, "agent stream");
        return agent_client_break(c, err);
    }
    /* next() returned 0 with the unread frame first in the buffer */
    if (c->reader.len >= WP_FRAME_HEADER_SIZE) {
        if (wp_frame_header_decode(c->reader.buf, c->reader.max_payload, &h, err) < 0) {
            wp_error_wrap(err, "agent stream");
            return agent_client_break(c, err);
        }
        if (h.kind == WP_FRAME_STREAM && agent_stream_check(c, &h, err) < 0)
            return agent_client_break(c, err);
    }
    if (status < 0 && err)
        *err = sink_err;
    return status;
}

int agent_client_pump(agent_client_t *c, int timeout_ms, wp_error_t *err)
{
    if (agent_client_check(c, err) < 0)
        return -1;
    int ret = dispatch(c, err);
    if (ret < 0)
        return ret;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int n;
    do {
        n = poll(&pfd, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return wp_error_errno(err, errno, "poll agent");
    if (n == 0)
        return 0;
    long got = wp_frame_reader_read_fd(&c->reader, c->fd, err);
    if (got < 0 && (err == NULL || err->code == EAGAIN || err->code == EWOULDBLOCK))
        return 0;
    if (got < 0) {
        wp_error_wrap(err, "agent");
        return agent_client_break(c, err);
    }
    if (got == 0) {
        wp_error_set(err, ECONNRESET, "agent closed the connection");
        return agent_client_break(c, err);
    }
    return dispatch(c, err);
}

/* Milliseconds left until deadline (0: none, -1 returned), at least 0. */
static int left_ms(int64_t deadline)
{
    if (deadline == 0)
        return -1;
    int64_t left = (deadline - wp_now_mono_ns() + 999999) / 1000000;
    if (left <= 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}

int agent_client_wait_announce(agent_client_t *c, int timeout_ms, wp_error_t *err)
{
    int64_t deadline = wp_now_mono_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        if (c->announce)
            return 0;
        if (agent_client_check(c, err) < 0)
            return -1;
        int ms = left_ms(deadline);
        if (ms == 0)
            return wp_error_set(err, ETIMEDOUT, "agent did not answer within %d ms", timeout_ms);
        /* a sink's error does not stop the wait for the agent */
        wp_error_t e = {0};
        if (agent_client_pump(c, ms, &e) < 0 && c->broken)
            return agent_client_check(c, err);
    }
}

int agent_client_call_send(agent_client_t *c, const Warmpool__Agent__V1__Request *req, uint32_t *id,
                           wp_error_t *err)
{
    if (agent_client_check(c, err) < 0)
        return -1;
    agent_pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return wp_error_errno(err, ENOMEM, "agent call");
    p->id = c->next_id++;
    if (c->next_id == 0)
        c->next_id = 1; /* 0 is for events */
    size_t len = warmpool__agent__v1__request__get_packed_size(req);
    _cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        free(p);
        return wp_error_errno(err, ENOMEM, "agent request");
    }
    warmpool__agent__v1__request__pack(req, buf);
    if (wp_frame_write_timeout(c->fd, p->id, WP_FRAME_REQUEST, buf, len, AGENT_CLIENT_WRITE_MS,
                               err) < 0) {
        free(p);
        wp_error_wrap(err, "send to agent");
        return agent_client_break(c, err);
    }
    p->next = c->pending;
    c->pending = p;
    *id = p->id;
    return 0;
}

int agent_client_call_poll(agent_client_t *c, uint32_t id, Warmpool__Agent__V1__Response **resp,
                           wp_error_t *err)
{
    agent_pending_t **link = NULL;
    agent_pending_t *p = pending_find(c, id, &link);
    if (p == NULL)
        return wp_error_set(err, ENOENT, "agent call %u is not pending", id);
    if (!p->arrived) {
        if (agent_client_check(c, err) < 0) {
            *link = p->next;
            free(p);
            return -1;
        }
        return 0;
    }
    *link = p->next;
    Warmpool__Agent__V1__Response *r = p->resp;
    free(p);
    if (r == NULL)
        return wp_error_set(err, EBADMSG, "agent response %u does not decode", id);
    if (r->error_code != 0) {
        wp_error_set(err, r->error_code, "agent: %s", r->error_message);
        warmpool__agent__v1__response__free_unpacked(r, NULL);
        return -1;
    }
    *resp = r;
    return 1;
}

int agent_client_call_wait(agent_client_t *c, uint32_t id, Warmpool__Agent__V1__Response **resp,
                           int timeout_ms, wp_error_t *err)
{
    int64_t deadline = timeout_ms < 0 ? 0 : wp_now_mono_ns() + (int64_t)timeout_ms * 1000000;
    int status = 0;
    wp_error_t sink_err = {0};
    for (;;) {
        int ret = agent_client_call_poll(c, id, resp, err);
        if (ret == 1 && status < 0) {
            /* answered, but a sink failed meanwhile: report the sink */
            warmpool__agent__v1__response__free_unpacked(*resp, NULL);
            *resp = NULL;
            if (err)
                *err = sink_err;
            return -1;
        }
        if (ret != 0)
            return ret < 0 ? -1 : 0;
        int ms = left_ms(deadline);
        if (ms == 0)
            return wp_error_set(err, ETIMEDOUT, "agent did not answer within %d ms", timeout_ms);
        wp_error_t e = {0};
        if (agent_client_pump(c, ms, &e) < 0) {
            if (c->broken)
                continue; /* call_poll reports it and forgets the call */
            if (status == 0) {
                status = -1;
                sink_err = e;
            }
        }
    }
}

void agent_client_call_abandon(agent_client_t *c, uint32_t id)
{
    agent_pending_t **link = NULL;
    agent_pending_t *p = pending_find(c, id, &link);
    if (p == NULL)
        return;
    *link = p->next;
    if (p->resp)
        warmpool__agent__v1__response__free_unpacked(p->resp, NULL);
    free(p);
}

int agent_client_call(agent_client_t *c, const Warmpool__Agent__V1__Request *req,
                      Warmpool__Agent__V1__Response **resp, int timeout_ms, wp_error_t *err)
{
    uint32_t id;
    if (agent_client_call_send(c, req, &id, err) < 0)
        return -1;
    Warmpool__Agent__V1__Response *r = NULL;
    if (agent_client_call_wait(c, id, &r, timeout_ms, err) < 0) {
        agent_client_call_abandon(c, id); /* a late reply must not meet the next call */
        return -1;
    }
    *resp = r;
    return 0;
}
