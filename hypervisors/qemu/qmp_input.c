/* qmp_input.c - the QMP input side: buffering, newline framing, JSON
 * parsing (jansson), and routing each message to the greeting, the reply
 * slot of its id, or the event queue/handler (see qmp.h). */
#include "qmp_private.h"

#include <errno.h>  /* EAGAIN, ETIMEDOUT */
#include <limits.h> /* INT_MAX */
#include <poll.h>   /* poll */
#include <stdarg.h> /* va_list */
#include <stdio.h>  /* vsnprintf */
#include <stdlib.h> /* realloc */
#include <string.h> /* memchr, memmove */
#include <unistd.h> /* read */

#include "wp_cleanup.h"
#include "wp_log.h"
#include "wp_time.h"

/* Mark the connection unusable; every later call fails with this reason. */
void qmp_set_broken(qmp_t *q, int code, const char *fmt, ...)
{
    if (q->broken_code != 0)
        return;
    q->broken_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->broken, sizeof(q->broken), fmt, ap);
    va_end(ap);
}

int qmp_fail_broken(qmp_t *q, const char *what, wp_error_t *err)
{
    return wp_error_set(err, q->broken_code, "%s while waiting for %s", q->broken, what);
}

qmp_pending_t *qmp_find_pending(qmp_t *q, int64_t id)
{
    for (size_t i = 0; i < q->n_pending; i++)
        if (q->pending[i].id == id)
            return &q->pending[i];
    return NULL;
}

static void push_event(qmp_t *q, json_t *msg)
{
    if (q->n_events == QMP_MAX_QUEUED_EVENTS) {
        /* nobody is waiting for old events: losing one beats growing without bound */
        wp_log_debug("qmp: event queue full, dropping '%s'",
                     json_string_value(json_object_get(q->events[0], "event")));
        json_decref(q->events[0]);
        memmove(q->events, q->events + 1, (q->n_events - 1) * sizeof(q->events[0]));
        q->n_events--;
    }
    q->events[q->n_events++] = msg;
}

static void take_greeting(qmp_t *q, json_t *greeting)
{
    json_int_t major = 0, minor = 0, micro = 0;
    if (json_unpack(greeting, "{s:{s:{s:I,s:I,s:I}}}", "version", "qemu", "major", &major, "minor",
                    &minor, "micro", &micro) == 0)
        snprintf(q->version, sizeof(q->version), "%lld.%lld.%lld", (long long)major,
                 (long long)minor, (long long)micro);
    q->greeted = true;
}

/* Route one parsed message (a new reference, consumed). */
static void dispatch(qmp_t *q, json_t *msg)
{
    _cleanup_json_ json_t *m = msg;
    if (!json_is_object(m)) {
        qmp_set_broken(q, EPROTO, "QMP protocol error: message is not a JSON object");
        return;
    }
    json_t *greeting = json_object_get(m, "QMP");
    if (greeting != NULL) {
        take_greeting(q, greeting);
        return;
    }
    const char *event = json_string_value(json_object_get(m, "event"));
    if (event != NULL) {
        if (q->handler != NULL)
            q->handler(q->opaque, event, json_object_get(m, "data"));
        else
            push_event(q, json_incref(m));
        return;
    }
    if (json_object_get(m, "return") == NULL && json_object_get(m, "error") == NULL) {
        _cleanup_free_ char *text = json_dumps(m, JSON_COMPACT);
        qmp_set_broken(q, EPROTO, "QMP protocol error: unexpected message '%.120s'", text);
        return;
    }
    json_t *id = json_object_get(m, "id");
    if (!json_is_integer(id)) {
        /* QEMU answers without an id only when it could not parse our request */
        _cleanup_free_ char *text = json_dumps(m, JSON_COMPACT);
        qmp_set_broken(q, EPROTO, "QMP protocol error: reply without an id '%.120s'", text);
        return;
    }
    qmp_pending_t *p = qmp_find_pending(q, json_integer_value(id));
    if (p == NULL || p->reply != NULL) {
        wp_log_debug("qmp: dropping reply to unknown id %lld", (long long)json_integer_value(id));
        return;
    }
    p->reply = json_incref(m);
}

static int parse_lines(qmp_t *q)
{
    size_t start = 0;
    char *nl;
    while ((nl = memchr(q->in + start, '\n', q->in_len - start)) != NULL) {
        size_t len = (size_t)(nl - (q->in + start));
        json_error_t jerr;
        json_t *msg = json_loadb(q->in + start, len, 0, &jerr);
        start += len + 1;
        if (msg == NULL) {
            if (len == 0 || (len == 1 && q->in[start - 2] == '\r'))
                continue; /* blank line */
            qmp_set_broken(q, EPROTO, "QMP protocol error: bad JSON from QEMU (%s)", jerr.text);
            return -1;
        }
        dispatch(q, msg);
        if (q->broken_code != 0)
            return -1;
    }
    memmove(q->in, q->in + start, q->in_len - start);
    q->in_len -= start;
    if (q->in_len > QMP_MAX_MESSAGE) {
        qmp_set_broken(q, EPROTO, "QMP protocol error: message longer than %d bytes",
                       QMP_MAX_MESSAGE);
        return -1;
    }
    return 0;
}

/* poll(2) timeout for an absolute deadline: rounded up, 0 once it has passed. */
int qmp_poll_timeout(int64_t deadline_ns)
{
    int64_t left = deadline_ns - wp_now_mono_ns();
    if (left <= 0)
        return 0;
    int64_t ms = (left + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Wait for input until the deadline, read what is there, dispatch whole lines. */
int qmp_read_some(qmp_t *q, int64_t deadline_ns, const char *what, wp_error_t *err)
{
    for (;;) {
        if (q->in_cap - q->in_len < 4096) {
            size_t cap = q->in_cap ? q->in_cap * 2 : 8192;
            char *in = realloc(q->in, cap);
            if (in == NULL)
                return wp_error_errno(err, ENOMEM, "read QMP while waiting for %s", what);
            q->in = in;
            q->in_cap = cap;
        }
        ssize_t n = read(q->fd, q->in + q->in_len, q->in_cap - q->in_len);
        if (n > 0) {
            q->in_len += (size_t)n;
            if (parse_lines(q) < 0)
                return qmp_fail_broken(q, what, err);
            return 0;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            qmp_set_broken(q, ECONNRESET, "QMP connection closed by QEMU%s",
                           n == 0 ? "" : " (read error)");
            return qmp_fail_broken(q, what, err);
        }
        if (errno == EINTR)
            continue;
        struct pollfd pfd = {.fd = q->fd, .events = POLLIN};
        int ret = poll(&pfd, 1, qmp_poll_timeout(deadline_ns));
        if (ret < 0 && errno != EINTR)
            return wp_error_errno(err, errno, "poll QMP socket while waiting for %s", what);
        if (ret == 0)
            return wp_error_set(err, ETIMEDOUT, "timed out waiting for %s", what);
    }
}
