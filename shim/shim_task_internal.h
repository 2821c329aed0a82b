/* shim_task_internal.h - what the Task handlers share (shim_task.c,
 * shim_task_ops.c): decoding a request, answering with a message. */
#ifndef SHIM_TASK_INTERNAL_H
#define SHIM_TASK_INTERNAL_H

#include <protobuf-c/protobuf-c.h> /* ProtobufCMessage */

#include "shim.h"
#include "shim_task.pb-c.h"

#define SHIM_TASK_SERVICE  "containerd.task.v2.Task"
#define SHIM_AGENT_CALL_MS 30000 /* one agent call; a create runs crun in a TCG guest */

static inline void shim_msg_freep(void *p)
{
    ProtobufCMessage **m = p;
    if (*m)
        protobuf_c_message_free_unpacked(*m, NULL);
}

/* Decode payload as a `type` (its protobuf-c function prefix `fn`) into a
 * new variable `var`, freed when the handler's scope ends, or answer
 * INTERNAL and return from the handler (the ttrpc spec: an undecodable
 * payload is 13). */
#define SHIM_DECODE(type, var, fn, call, payload, len)                                             \
    __attribute__((cleanup(shim_msg_freep))) type *var = fn##__unpack(NULL, len, payload);         \
    if (var == NULL) {                                                                             \
        ttrpc_call_reply(call, TTRPC_INTERNAL, "cannot decode the request", NULL, 0);              \
        return;                                                                                    \
    }

/* Answer OK with m packed. */
void shim_reply(ttrpc_call_t *call, const ProtobufCMessage *m);
/* Answer OK with an Empty. */
void shim_reply_empty(ttrpc_call_t *call);

/* The ops half (shim_task_ops.c). */
void shim_task_kill(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len);
void shim_task_pids(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len);
void shim_task_pause(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len);
void shim_task_resume(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len);
void shim_task_close_io(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len);
void shim_task_resize_pty(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len);
void shim_task_update(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len);
void shim_task_stats(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len);

#endif
