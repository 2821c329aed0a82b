/* agent_client_containers.h - one call per container request of
 * proto/agent.proto (16-31). Each is synchronous like agent_client_call:
 * it pumps (streams and events are dispatched meanwhile) until its
 * response, within timeout_ms (-1: no limit); an error response becomes -1
 * with the agent's errno and message. A process's wait can also be sent
 * ahead and collected later (agent_client_wait_send / _collect), which is
 * how a caller streams stdio while the process runs. Strings are borrowed
 * for the call. Same thread rules as agent_client.h. */
#ifndef AGENT_CLIENT_CONTAINERS_H
#define AGENT_CLIENT_CONTAINERS_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint32_t */

#include "agent_client.h"
#include "agent_client_stream.h"

/* A process started by create or exec: its guest pid and stream ids (0:
 * none). The streams are already registered with the client. */
typedef struct agent_process {
    uint32_t pid;
    uint32_t stdin_stream, stdout_stream, stderr_stream;
} agent_process_t;

typedef struct agent_exit {
    uint32_t exit_status; /* exit code, or 128 + signal */
    uint32_t signal;      /* the killing signal, 0 if it exited */
    uint64_t exited_at_ns;
} agent_exit_t;

typedef struct agent_stats {
    uint64_t cpu_usage_usec, cpu_user_usec, cpu_system_usec;
    uint64_t memory_usage_bytes, memory_limit_bytes; /* limit 0: none */
    uint64_t pids_current, pids_limit;               /* limit 0: none */
    uint64_t oom_kills;
} agent_stats_t;

typedef struct agent_state {
    char status[16]; /* "created", "running", "paused", "stopped" */
    uint32_t pid;
    uint32_t exit_status; /* when stopped */
} agent_state_t;

/* already_mounted may be NULL. */
int agent_client_mount_share(agent_client_t *c, bool *already_mounted, int timeout_ms,
                             wp_error_t *err);

/* WarmUp: the agent creates and deletes a throwaway container, so that the
 * next create in this VM is fast (agent.proto); *duration_ns (optional) its
 * time in the guest. */
int agent_client_warm_up(agent_client_t *c, uint64_t *duration_ns, int timeout_ms, wp_error_t *err);
int agent_client_create(agent_client_t *c, const char *id, const char *spec_json, bool terminal,
                        bool want_stdin, agent_process_t *out, int timeout_ms, wp_error_t *err);
/* pid may be NULL. */
int agent_client_start(agent_client_t *c, const char *id, uint32_t *pid, int timeout_ms,
                       wp_error_t *err);
int agent_client_exec(agent_client_t *c, const char *container_id, const char *exec_id,
                      const char *process_json, bool terminal, bool want_stdin,
                      agent_process_t *out, int timeout_ms, wp_error_t *err);
/* exec_id NULL or "": the init process. */
int agent_client_signal(agent_client_t *c, const char *container_id, const char *exec_id,
                        int signal, bool all, int timeout_ms, wp_error_t *err);
/* Blocks until the process exits (stdio keeps flowing meanwhile). */
int agent_client_wait_process(agent_client_t *c, const char *container_id, const char *exec_id,
                              agent_exit_t *out, int timeout_ms, wp_error_t *err);
/* The same, split: send the wait (*call), then collect: 1 with *out once
 * answered, 0 not yet (pump and try again), -1 error. */
int agent_client_wait_send(agent_client_t *c, const char *container_id, const char *exec_id,
                           uint32_t *call, wp_error_t *err);
int agent_client_wait_collect(agent_client_t *c, uint32_t call, agent_exit_t *out, wp_error_t *err);
int agent_client_resize(agent_client_t *c, const char *container_id, const char *exec_id,
                        unsigned rows, unsigned cols, int timeout_ms, wp_error_t *err);
/* The call (for a caller without the stream); agent_client_stdin_eof is
 * the same on the stream. */
int agent_client_close_stdin(agent_client_t *c, const char *container_id, const char *exec_id,
                             int timeout_ms, wp_error_t *err);
/* *pids malloc'd (caller frees), *count entries. */
int agent_client_pids(agent_client_t *c, const char *container_id, uint32_t **pids, size_t *count,
                      int timeout_ms, wp_error_t *err);
int agent_client_stats(agent_client_t *c, const char *container_id, agent_stats_t *out,
                       int timeout_ms, wp_error_t *err);
int agent_client_pause(agent_client_t *c, const char *container_id, int timeout_ms,
                       wp_error_t *err);
int agent_client_resume(agent_client_t *c, const char *container_id, int timeout_ms,
                        wp_error_t *err);
int agent_client_update(agent_client_t *c, const char *container_id, const char *resources_json,
                        int timeout_ms, wp_error_t *err);
/* out may be NULL. */
int agent_client_delete_process(agent_client_t *c, const char *container_id, const char *exec_id,
                                agent_exit_t *out, int timeout_ms, wp_error_t *err);
int agent_client_delete_container(agent_client_t *c, const char *container_id, bool force,
                                  agent_exit_t *out, int timeout_ms, wp_error_t *err);
int agent_client_state(agent_client_t *c, const char *container_id, agent_state_t *out,
                       int timeout_ms, wp_error_t *err);

#endif
