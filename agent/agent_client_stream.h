/* agent_client_stream.h - calls in flight, process stdio streams and events
 * on one agent connection, driven by one thread (agent_client.h).
 *
 * The pump. Every function that waits on the agent (agent_client_pump, the
 * synchronous calls, agent_client_call_wait, agent_client_stdin_write_all)
 * reads frames and dispatches each as it comes: a response goes to the call
 * that waits for its id (responses may come in any order), an event to the
 * event callback, stream data to its stream's sink. So a long call (a wait
 * for a process) never holds up stdio, and stdio never holds up a call.
 * After any of them returns, no complete frame is left unread in the
 * client: poll(2) on agent_client_fd() for POLLIN is a correct wait.
 *
 * Output streams (stdout, stderr: agent -> host). The client learns a
 * process's stream ids from the create or exec response and registers them
 * itself (even for a call its caller gave up on), so data can never arrive
 * for a stream the client does not know. Each STREAM frame goes to the
 * stream's sink (agent_client_stream_sink), else the client's default sink
 * (agent_client_on_stream), else it is dropped. When the sink returns, the
 * bytes count as consumed and the client grants them back as credit, in
 * CREDIT frames of at least AGENT_STREAM_WINDOW / 4 bytes (or, for a
 * stream in manual credit, when the caller says it consumed them: see
 * agent_client_stream_manual). The sink gets
 * the EOF once (eof true, len possibly 0); the stream is then forgotten.
 * Memory: the client holds at most one frame (<= AGENT_STREAM_CHUNK for
 * stream data) beyond what the kernel holds; a sink that wants to keep
 * bytes copies them. An agent that sends stream data beyond its credit, on
 * an unknown or stdin stream, a stream frame over AGENT_STREAM_CHUNK, or a
 * frame over the reader's maximum breaks the connection with EPROTO (or
 * EMSGSIZE) before the frame's payload is buffered.
 *
 * stdin (host -> agent). agent_client_stdin_write never waits for credit:
 * it sends what the window allows (in frames of <= AGENT_STREAM_CHUNK) and
 * says how much it took; agent_client_stdin_room says how much that is.
 * agent_client_stdin_write_all pumps until everything is sent. Frames are
 * written whole (a full socket buffer is waited for, up to
 * AGENT_CLIENT_WRITE_MS: the agent must keep reading its channel while its
 * own writes wait, as agent_server does).
 *
 * Callbacks run on the thread that pumps, inside the pumping function.
 * They must not call the client (except agent_client_stream_open and
 * agent_client_stdin_room), and must not keep pointers they are given. */
#ifndef AGENT_CLIENT_STREAM_H
#define AGENT_CLIENT_STREAM_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint32_t */

#include "agent.pb-c.h"
#include "wp_error.h"

typedef struct agent_client agent_client_t;

/* A stream sink: len bytes of stream `stream` (len 0 only with eof). Return
 * 0, or -1 with err: the pumping function then fails with that error (the
 * bytes still count as consumed; the connection stays usable). */
typedef int (*agent_stream_fn)(void *opaque, uint32_t stream, const uint8_t *data, size_t len,
                               bool eof, wp_error_t *err);
/* An event other than Announce (ProcessExited, ContainerOom), borrowed for
 * the call. Announce is kept by the client (agent_client_announce). */
typedef void (*agent_event_fn)(void *opaque, const Warmpool__Agent__V1__Event *ev);

void agent_client_on_event(agent_client_t *c, agent_event_fn fn, void *opaque);
/* The sink for output streams that have none of their own. */
void agent_client_on_stream(agent_client_t *c, agent_stream_fn fn, void *opaque);
/* A sink for one output stream. ENOENT: not an open output stream. */
int agent_client_stream_sink(agent_client_t *c, uint32_t stream, agent_stream_fn fn, void *opaque,
                             wp_error_t *err);
/* Manual credit, for a sink that cannot always pass bytes on at once (a
 * full FIFO) and keeps them itself: from now on, bytes handed to the sink
 * count as consumed only when the caller says so with
 * agent_client_stream_consumed, so the agent can send at most
 * AGENT_STREAM_WINDOW bytes the caller has not consumed (that is what such
 * a sink must be ready to hold), and data beyond it is EPROTO. */
int agent_client_stream_manual(agent_client_t *c, uint32_t stream, wp_error_t *err);
/* n more bytes of a manual stream consumed (at most what the sink was
 * handed): credit follows in batches. ENOENT: not an open output stream
 * (after its EOF there is nothing to grant); EINVAL: more than handed. */
int agent_client_stream_consumed(agent_client_t *c, uint32_t stream, size_t n, wp_error_t *err);
/* True while the stream is known: output until its EOF was delivered,
 * stdin until agent_client_stdin_eof. */
bool agent_client_stream_open(const agent_client_t *c, uint32_t stream);

/* The fd to poll for POLLIN (owned by the client). */
int agent_client_fd(const agent_client_t *c);
/* Wait up to timeout_ms (0: not at all; -1: no limit) for the agent, and
 * dispatch whatever arrived. Returns 0 whether or not anything did. */
int agent_client_pump(agent_client_t *c, int timeout_ms, wp_error_t *err);

/* ---- calls in flight ---- */

/* Send req under a fresh id (*id), without waiting. The call stays pending
 * until taken (call_poll, call_wait) or abandoned. */
int agent_client_call_send(agent_client_t *c, const Warmpool__Agent__V1__Request *req, uint32_t *id,
                           wp_error_t *err);
/* Without reading: 1 with *resp when call id has been answered (the call is
 * then forgotten; free *resp with warmpool__agent__v1__response__free_unpacked),
 * 0 when not yet, -1 (forgotten too) for an error response (its code and
 * message), an undecodable one (EBADMSG), a broken connection or an id that
 * is not pending (ENOENT). */
int agent_client_call_poll(agent_client_t *c, uint32_t id, Warmpool__Agent__V1__Response **resp,
                           wp_error_t *err);
/* Pump until call id is answered (as call_poll's 1 or -1) or timeout_ms
 * passes (ETIMEDOUT; the call stays pending). */
int agent_client_call_wait(agent_client_t *c, uint32_t id, Warmpool__Agent__V1__Response **resp,
                           int timeout_ms, wp_error_t *err);
/* Forget a call: its response, if any comes, is dropped. */
void agent_client_call_abandon(agent_client_t *c, uint32_t id);

/* ---- stdin ---- */

/* Bytes stdin stream `stream` may take now (0 when the window is used up,
 * or the stream is not an open stdin stream). */
size_t agent_client_stdin_room(const agent_client_t *c, uint32_t stream);
/* Send up to len bytes, never beyond the window; *taken how many (0 is not
 * an error: pump for credit). ENOENT: not an open stdin stream. */
int agent_client_stdin_write(agent_client_t *c, uint32_t stream, const void *data, size_t len,
                             size_t *taken, wp_error_t *err);
/* Send all len bytes, pumping for credit, within timeout_ms (-1: no limit). */
int agent_client_stdin_write_all(agent_client_t *c, uint32_t stream, const void *data, size_t len,
                                 int timeout_ms, wp_error_t *err);
/* Close stdin: an (empty) EOF frame; the stream is then forgotten. */
int agent_client_stdin_eof(agent_client_t *c, uint32_t stream, wp_error_t *err);

#endif
