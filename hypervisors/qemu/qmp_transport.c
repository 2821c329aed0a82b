/* qmp_transport.c - the QMP connection: connect, send (with SCM_RIGHTS fds),
 * and the waits for the greeting, a reply by id, or an event (see qmp.h).
 * Input parsing lives in qmp_input.c. */
#include "qmp_private.h"

#include <errno.h>      /* EAGAIN, ETIMEDOUT */
#include <fcntl.h>      /* fcntl, O_NONBLOCK */
#include <inttypes.h>   /* PRId64 */
#include <poll.h>       /* poll */
#include <stdio.h>      /* snprintf */
#include <stdlib.h>     /* calloc, realloc */
#include <string.h>     /* memcpy, strcmp */
#include <sys/socket.h> /* sendmsg, SCM_RIGHTS */
#include <sys/un.h>     /* sockaddr_un */
#include <unistd.h>     /* close */

#include "wp_cleanup.h"

qmp_t *qmp_from_fd(int fd, wp_error_t *err)
{
    _cleanup_close_ int owned = fd;
    int flags = fcntl(fd, F_GETFL);
    /* non-blocking so that every wait is a poll with a deadline, never a read that hangs */
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        wp_error_errno(err, errno, "set up QMP socket");
        return NULL;
    }
    qmp_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        wp_error_errno(err, ENOMEM, "set up QMP socket");
        return NULL;
    }
    q->fd = wp_steal_fd(&owned);
    q->next_id = 1;
    return q;
}

qmp_t *qmp_connect(const char *path, wp_error_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        wp_error_set(err, ENAMETOOLONG, "QMP socket path '%s' is too long", path);
        return NULL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        wp_error_errno(err, errno, "connect to QMP socket '%s'", path);
        return NULL;
    }
    /* Non-blocking: the listener is QEMU's (or ours, handed to QEMU); a full
     * backlog fails at once (EAGAIN) instead of blocking without a deadline. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        wp_error_errno(err, errno, "connect to QMP socket '%s'", path);
        return NULL;
    }
    return qmp_from_fd(wp_steal_fd(&fd), err);
}

void qmp_close(qmp_t *q)
{
    if (q == NULL)
        return;
    close(q->fd);
    for (size_t i = 0; i < q->n_pending; i++)
        json_decref(q->pending[i].reply);
    for (size_t i = 0; i < q->n_events; i++)
        json_decref(q->events[i]);
    free(q->pending);
    free(q->in);
    free(q);
}

const char *qmp_version(const qmp_t *q)
{
    return q->version;
}

size_t qmp_outstanding(const qmp_t *q)
{
    return q->n_pending;
}

size_t qmp_queued_events(const qmp_t *q)
{
    return q->n_events;
}

void qmp_set_event_handler(qmp_t *q, qmp_event_fn fn, void *opaque)
{
    q->handler = fn;
    q->opaque = opaque;
}

int qmp_wait_greeting(qmp_t *q, int64_t deadline_ns, wp_error_t *err)
{
    while (!q->greeted) {
        if (q->broken_code != 0)
            return qmp_fail_broken(q, "the QMP greeting", err);
        if (qmp_read_some(q, deadline_ns, "the QMP greeting", err) < 0)
            return -1;
    }
    return 0;
}

/* Write all of buf, the fds riding on the first byte; waits for room until the deadline. */
static int send_all(qmp_t *q, const char *buf, size_t len, const int *fds, size_t n_fds,
                    int64_t deadline_ns, const char *command, wp_error_t *err)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * QMP_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    size_t off = 0;
    while (off < len) {
        struct iovec iov = {.iov_base = (char *)buf + off, .iov_len = len - off};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (off == 0 && n_fds > 0) {
            memset(&ctl, 0, sizeof(ctl));
            mh.msg_control = ctl.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        ssize_t n = sendmsg(q->fd, &mh, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN) {
            int e = errno;
            /* a partly written command leaves the stream unusable */
            qmp_set_broken(q, e == EPIPE ? ECONNRESET : e, "QMP connection lost (%s)", strerror(e));
            return wp_error_set(err, q->broken_code, "send '%s': %s", command, q->broken);
        }
        struct pollfd pfd = {.fd = q->fd, .events = POLLOUT};
        int ret = poll(&pfd, 1, qmp_poll_timeout(deadline_ns));
        if (ret < 0 && errno != EINTR)
            return wp_error_errno(err, errno, "send '%s': poll", command);
        if (ret == 0) {
            if (off > 0)
                qmp_set_broken(q, ETIMEDOUT, "QMP connection stalled mid-command");
            return wp_error_set(err, ETIMEDOUT, "send '%s': timed out", command);
        }
    }
    return 0;
}

int qmp_send(qmp_t *q, const char *command, json_t *args, const int *fds, size_t n_fds,
             int64_t *id_out, int64_t deadline_ns, wp_error_t *err)
{
    _cleanup_json_ json_t *a = args;
    if (q->broken_code != 0)
        return wp_error_set(err, q->broken_code, "send '%s': %s", command, q->broken);
    if (n_fds > QMP_MAX_FDS)
        return wp_error_set(err, EINVAL, "send '%s': %zu fds (at most %d)", command, n_fds,
                            QMP_MAX_FDS);
    for (size_t i = 0; n_fds > 0 && i < q->n_pending; i++)
        if (q->pending[i].carries_fds && q->pending[i].reply == NULL)
            return wp_error_set(err, EBUSY,
                                "send '%s': '%s' still carries unconsumed fds (QEMU keeps only "
                                "the latest); wait for its reply first",
                                command, q->pending[i].command);
    if (q->n_pending == q->cap_pending) {
        size_t cap = q->cap_pending ? q->cap_pending * 2 : 8;
        qmp_pending_t *p = realloc(q->pending, cap * sizeof(*p));
        if (p == NULL)
            return wp_error_errno(err, ENOMEM, "send '%s'", command);
        q->pending = p;
        q->cap_pending = cap;
    }
    int64_t id = q->next_id++;
    _cleanup_json_ json_t *msg = json_pack("{s:s,s:I}", "execute", command, "id", (json_int_t)id);
    if (msg == NULL || (a != NULL && json_object_set(msg, "arguments", a) < 0))
        return wp_error_errno(err, ENOMEM, "send '%s'", command);
    _cleanup_free_ char *text = json_dumps(msg, JSON_COMPACT);
    if (text == NULL)
        return wp_error_errno(err, ENOMEM, "send '%s'", command);
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps' NUL becomes the line end; length tracked explicitly */
    if (send_all(q, text, len + 1, fds, n_fds, deadline_ns, command, err) < 0)
        return -1;
    qmp_pending_t *p = &q->pending[q->n_pending++];
    *p = (qmp_pending_t){.id = id, .carries_fds = n_fds > 0};
    snprintf(p->command, sizeof(p->command), "%s", command);
    if (id_out != NULL)
        *id_out = id;
    return 0;
}

/* Turn an arrived reply into the caller's result and forget it. */
static int take_reply(qmp_t *q, qmp_pending_t *p, json_t **ret, wp_error_t *err)
{
    _cleanup_json_ json_t *reply = p->reply;
    char command[sizeof(p->command)];
    memcpy(command, p->command, sizeof(command));
    *p = q->pending[--q->n_pending];
    json_t *error = json_object_get(reply, "error");
    if (error != NULL) {
        const char *desc = json_string_value(json_object_get(error, "desc"));
        const char *klass = json_string_value(json_object_get(error, "class"));
        int code = klass && strcmp(klass, "CommandNotFound") == 0  ? ENOTSUP
                   : klass && strcmp(klass, "DeviceNotFound") == 0 ? ENODEV
                                                                   : EIO;
        return wp_error_set(err, code, "QMP '%s' failed: %s", command,
                            desc ? desc : "(no description)");
    }
    if (ret != NULL)
        *ret = json_incref(json_object_get(reply, "return"));
    return 0;
}

int qmp_wait_reply(qmp_t *q, int64_t id, json_t **ret, int64_t deadline_ns, wp_error_t *err)
{
    char what[96];
    qmp_pending_t *p = qmp_find_pending(q, id);
    if (p == NULL)
        return wp_error_set(err, EINVAL, "no outstanding QMP command with id %" PRId64, id);
    snprintf(what, sizeof(what), "the reply to '%s'", p->command);
    /* the reply may already be buffered: take it before looking at the socket's state */
    while ((p = qmp_find_pending(q, id))->reply == NULL) {
        if (q->broken_code != 0)
            return qmp_fail_broken(q, what, err);
        if (qmp_read_some(q, deadline_ns, what, err) < 0)
            return -1;
    }
    return take_reply(q, p, ret, err);
}

int qmp_call(qmp_t *q, const char *command, json_t *args, const int *fds, size_t n_fds,
             json_t **ret, int64_t deadline_ns, wp_error_t *err)
{
    int64_t id;
    if (qmp_send(q, command, args, fds, n_fds, &id, deadline_ns, err) < 0)
        return -1;
    return qmp_wait_reply(q, id, ret, deadline_ns, err);
}

int qmp_wait_event(qmp_t *q, const char *name, json_t **data, int64_t deadline_ns, wp_error_t *err)
{
    char what[96];
    snprintf(what, sizeof(what), "QMP event '%s'", name);
    if (q->handler != NULL)
        return wp_error_set(err, EINVAL, "wait for %s: events go to a handler", what);
    for (;;) {
        for (size_t i = 0; i < q->n_events; i++) {
            json_t *ev = q->events[i];
            if (strcmp(json_string_value(json_object_get(ev, "event")), name) != 0)
                continue;
            if (data != NULL)
                *data = json_incref(json_object_get(ev, "data"));
            json_decref(ev);
            memmove(q->events + i, q->events + i + 1, (q->n_events - i - 1) * sizeof(ev));
            q->n_events--;
            return 0;
        }
        if (q->broken_code != 0)
            return qmp_fail_broken(q, what, err);
        if (qmp_read_some(q, deadline_ns, what, err) < 0)
            return -1;
    }
}
