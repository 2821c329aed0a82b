/* qmp_private.h - QMP transport internals, shared by qmp_transport.c and
 * qmp_input.c and included by tests (the backend uses qmp.h only). Same
 * threading rule as qmp.h. */
#ifndef QMP_PRIVATE_H
#define QMP_PRIVATE_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */

#include "qmp.h"

#define QMP_MAX_QUEUED_EVENTS 64         /* older events are dropped past this */
#define QMP_MAX_MESSAGE       (16 << 20) /* one JSON line; longer is a protocol error */

#define QMP_MAX_FDS 8 /* per command; QEMU's socket chardev accepts up to 16 */

typedef struct qmp_pending {
    int64_t id;
    char command[64];
    bool carries_fds;
    json_t *reply; /* the whole reply object, NULL until it arrives */
} qmp_pending_t;

struct qmp {
    int fd;
    int broken_code;  /* 0 while usable; else why not (ECONNRESET, EPROTO) */
    char broken[256]; /* e.g. "QMP connection closed by QEMU" */
    int64_t next_id;
    char *in; /* bytes read but not yet parsed (a partial line) */
    size_t in_len, in_cap;
    bool greeted;
    char version[32];
    qmp_pending_t *pending;
    size_t n_pending, cap_pending;
    json_t *events[QMP_MAX_QUEUED_EVENTS]; /* oldest first */
    size_t n_events;
    qmp_event_fn handler;
    void *opaque;
};

/* jansson's own cleanup helper (json_auto_t), under the house naming */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))

/* qmp_input.c: the shared internals of the transport */
/* Mark the connection unusable (first reason wins); later calls fail with it. */
void qmp_set_broken(qmp_t *q, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Fail with the broken reason "... while waiting for <what>". Returns -1. */
int qmp_fail_broken(qmp_t *q, const char *what, wp_error_t *err);
qmp_pending_t *qmp_find_pending(qmp_t *q, int64_t id);
/* poll(2) timeout for an absolute deadline: rounded up, 0 once it has passed. */
int qmp_poll_timeout(int64_t deadline_ns);
/* Wait for input until the deadline, read it, dispatch whole lines. */
int qmp_read_some(qmp_t *q, int64_t deadline_ns, const char *what, wp_error_t *err);

/* Wrap a connected stream socket (e.g. one end of a socketpair). Takes
 * ownership of fd, also on failure. */
qmp_t *qmp_from_fd(int fd, wp_error_t *err);

/* Commands sent whose replies have not been collected yet. */
size_t qmp_outstanding(const qmp_t *q);
/* Events waiting in the queue. */
size_t qmp_queued_events(const qmp_t *q);

#endif
