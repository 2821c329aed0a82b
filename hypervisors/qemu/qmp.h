/* qmp.h - a QEMU Machine Protocol client, layered like libvirt's monitor.
 *
 * Transport (qmp_transport.c): one unix stream socket, newline-delimited JSON
 * (jansson). Every command carries an integer "id"; replies are matched by
 * it, so several commands may be outstanding: send, then wait for each reply
 * in any order. Events that arrive meanwhile go to the handler if one is set,
 * else into a bounded queue (oldest dropped) that qmp_wait_event() reads.
 * Every wait takes an absolute CLOCK_MONOTONIC deadline (wp_now_mono_ns()
 * based) and blocks in poll(2) only; expiry is ETIMEDOUT. An error reply
 * becomes a -1 whose message carries QEMU's own "desc". The peer closing the
 * socket fails the wait at once with ECONNRESET.
 *
 * Commands (qmp_commands.c): one short function per QMP command. Those that
 * return nothing take `int64_t *id`: NULL means "send and wait for the reply",
 * non-NULL means "send only" and stores the id for qmp_wait_reply() - this is
 * how callers pipeline.
 *
 * File descriptors travel with SCM_RIGHTS in the same sendmsg as the command
 * that uses them (getfd). QEMU keeps only the fds of the latest recvmsg that
 * carried any, so at most one fd-carrying command may be outstanding: a second
 * one is refused with EBUSY until the first one's reply has been collected.
 *
 * Threads: a qmp_t is used by one thread at a time; the caller serialises. */
#ifndef QMP_H
#define QMP_H

#include <jansson.h> /* json_t */
#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "wp_error.h"

typedef struct qmp qmp_t;

/* Called for every event when set; `data` may be NULL and is borrowed. */
typedef void (*qmp_event_fn)(void *opaque, const char *event, json_t *data);

/* --- transport --- */

/* Connect to a QMP unix socket. Does not read: call qmp_wait_greeting() (a
 * caller may queue commands first; QEMU reads them after its greeting). */
qmp_t *qmp_connect(const char *path, wp_error_t *err);
/* Close the socket and free everything, outstanding replies included. NULL is a no-op. */
void qmp_close(qmp_t *q);

/* Read until the {"QMP": ...} greeting has arrived (returns at once if it has). */
int qmp_wait_greeting(qmp_t *q, int64_t deadline_ns, wp_error_t *err);
/* "major.minor.micro" from the greeting, or "" before it. Owned by q. */
const char *qmp_version(const qmp_t *q);

/* Send `command` with `args` (an object, stolen; NULL for none) and the n_fds
 * fds (borrowed; QEMU gets duplicates). *id_out gets the command's id. */
int qmp_send(qmp_t *q, const char *command, json_t *args, const int *fds, size_t n_fds,
             int64_t *id_out, int64_t deadline_ns, wp_error_t *err);
/* Wait for the reply to `id`. On success *ret (optional) gets a new reference
 * to its "return" value. A reply that is an error fails with QEMU's desc. The
 * reply is forgotten once returned, except after ETIMEDOUT (wait again). */
int qmp_wait_reply(qmp_t *q, int64_t id, json_t **ret, int64_t deadline_ns, wp_error_t *err);
/* qmp_send + qmp_wait_reply. */
int qmp_call(qmp_t *q, const char *command, json_t *args, const int *fds, size_t n_fds,
             json_t **ret, int64_t deadline_ns, wp_error_t *err);

/* Deliver events to fn instead of the queue (NULL: back to queueing). */
void qmp_set_event_handler(qmp_t *q, qmp_event_fn fn, void *opaque);
/* Take the oldest queued event called `name` (reading more as needed);
 * *data (optional) gets a new reference to its "data" member (or NULL). */
int qmp_wait_event(qmp_t *q, const char *name, json_t **data, int64_t deadline_ns, wp_error_t *err);

/* --- commands --- */

typedef struct qmp_capability {
    const char *name; /* e.g. "x-ignore-shared" */
    bool state;
} qmp_capability_t;

int qmp_capabilities(qmp_t *q, int64_t *id, int64_t deadline_ns, wp_error_t *err);
int qmp_stop(qmp_t *q, int64_t *id, int64_t deadline_ns, wp_error_t *err);
int qmp_cont(qmp_t *q, int64_t *id, int64_t deadline_ns, wp_error_t *err);
int qmp_migrate_set_capabilities(qmp_t *q, const qmp_capability_t *caps, size_t n, int64_t *id,
                                 int64_t deadline_ns, wp_error_t *err);
/* Pass fd to QEMU under `name` (for "fd:<name>" URIs). */
int qmp_getfd(qmp_t *q, const char *name, int fd, int64_t *id, int64_t deadline_ns,
              wp_error_t *err);
int qmp_migrate(qmp_t *q, const char *uri, int64_t *id, int64_t deadline_ns, wp_error_t *err);
int qmp_migrate_incoming(qmp_t *q, const char *uri, int64_t *id, int64_t deadline_ns,
                         wp_error_t *err);
/* Ask QEMU to exit. The connection closing before the reply counts as success. */
int qmp_quit(qmp_t *q, int64_t *id, int64_t deadline_ns, wp_error_t *err);

/* query-status: QEMU's run state name ("running", "paused", "inmigrate", ...). */
int qmp_query_status(qmp_t *q, char *status, size_t len, int64_t deadline_ns, wp_error_t *err);
/* query-migrate: status (may be "") and error-desc (may be ""). */
int qmp_query_migrate(qmp_t *q, char *status, size_t status_len, char *desc, size_t desc_len,
                      int64_t deadline_ns, wp_error_t *err);

/* Wait for MIGRATION events (the "events" capability must be on) until a
 * final status: 0 on "completed"; -1 on "failed" (with query-migrate's
 * error-desc) or "cancelled". */
int qmp_wait_migration(qmp_t *q, int64_t deadline_ns, wp_error_t *err);

#endif
