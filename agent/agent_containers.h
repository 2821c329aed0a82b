/* agent_containers.h - the container and process manager: the registry of
 * containers and their processes (init and execs), each with a state
 * (created, running, paused, stopped) that admits only the operations legal
 * in it; crun drives the containers (agent_crun.h), stdio travels as
 * streams (agent_streams.h), cgroup files give stats, pids and OOM kills
 * (agent_cgroup.h).
 *
 * Waits are answered when the process has exited and every output stream
 * has sent its EOF (at once after that); the ProcessExited event goes to
 * every connection at the same moment. A connection that goes away loses
 * its waits and its streams (output discarded, stdin closed); the processes
 * live on. Single-threaded: every function runs on the agent's loop. */
#ifndef AGENT_CONTAINERS_H
#define AGENT_CONTAINERS_H

#include <stdbool.h>   /* bool */
#include <stdint.h>    /* uint32_t */
#include <sys/types.h> /* pid_t */

#include "agent.pb-c.h"
#include "agent_handlers.h"
#include "agent_server.h"
#include "wp_frame.h"

typedef struct agent_containers agent_containers_t;

agent_containers_t *agent_containers_new(agent_server_t *s, agent_ctx_t *ctx, wp_error_t *err);
/* Close every stream and free; processes are left running. */
void agent_containers_free(agent_containers_t *m);

/* Whether req is a container call (16-31). */
bool agent_containers_handles(const Warmpool__Agent__V1__Request *req);
/* Handle a container call from c and answer it on id, now or later. */
void agent_containers_call(agent_containers_t *m, agent_conn_t *c, uint32_t id,
                           const Warmpool__Agent__V1__Request *req);
/* A STREAM frame from c. -1 with err: a protocol error (close c). */
int agent_containers_stream(agent_containers_t *m, agent_conn_t *c, const wp_frame_header_t *h,
                            const uint8_t *payload, wp_error_t *err);
/* A CREDIT frame from c (unknown ids are ignored). */
void agent_containers_credit(agent_containers_t *m, agent_conn_t *c, uint32_t stream,
                             uint32_t bytes);
/* c is going away: forget its waits, detach its streams. */
void agent_containers_conn_gone(agent_containers_t *m, agent_conn_t *c);
/* A child exited (waitpid status). Unknown pids are ignored. */
void agent_containers_exited(agent_containers_t *m, pid_t pid, int status);

#endif
