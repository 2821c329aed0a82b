/* shim_events.h - task events published to containerd: a ttrpc client on
 * TTRPC_ADDRESS calling containerd.services.events.ttrpc.v1.Events/Forward
 * with an Envelope (timestamp, namespace, topic, the event as an Any whose
 * type_url is the bare message name, e.g. "containerd.events.TaskExit").
 *
 * Publishing is synchronous (one short call to containerd on its own
 * socket) so events leave in the order they happen: create, start, exit,
 * delete. A failed call is retried once on a new connection, then logged
 * and dropped: containerd's Wait and State still tell the truth. */
#ifndef SHIM_EVENTS_H
#define SHIM_EVENTS_H

#include <protobuf-c/protobuf-c.h> /* ProtobufCMessage */
#include <stdint.h>                /* uint64_t */

#include "shim_task.pb-c.h"
#include "wp_error.h"

#define SHIM_EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"
#define SHIM_EVENTS_CALL_MS 5000

typedef struct shim_events shim_events_t;

/* address: containerd's ttrpc socket (NULL or "": events are dropped, for
 * a shim run without containerd); ns: the containerd namespace. */
shim_events_t *shim_events_new(const char *address, const char *ns, wp_error_t *err);
void shim_events_free(shim_events_t *e);

/* Publish msg (a containerd.events.* message) on topic ("/tasks/exit").
 * Returns 0, or -1 after the retry failed (already logged). */
int shim_events_publish(shim_events_t *e, const char *topic, const ProtobufCMessage *msg);

/* A Timestamp for ns since the epoch (the struct is filled in place). */
void shim_timestamp(Containerd__Task__V2__Timestamp *ts, uint64_t ns);

#endif
