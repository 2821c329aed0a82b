/* host.h - the container tests' two halves: an agent (server, fake crun,
 * temporary bundle/crun/cgroup trees, SIGCHLD reaping) whose loop runs on
 * a thread of its own, and hosts on socketpairs that keep the protocol's
 * rules as a real host would: stream bytes collected per stream id, credit
 * granted as bytes are consumed (and the agent's window checked on every
 * frame), stdin sent only within the credit the agent granted. Helpers
 * assert with Criterion: test thread only. */
#ifndef HOST_H
#define HOST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_server.h"
#include "fake_sys.h"
#include "wire.h"

#define HOST_STREAMS 64

typedef struct host_stream {
    uint8_t *data; /* kept bytes (keep_data) */
    size_t len, cap;
    uint64_t received, granted; /* agent -> host output */
    bool eof;
    bool eof_at_exit;     /* EOF seen before the first ProcessExited */
    uint32_t send_credit; /* host -> agent stdin: bytes we may send */
} host_stream_t;

typedef struct host_event {
    Warmpool__Agent__V1__Event *ev;
} host_event_t;

typedef struct host {
    wire_t w;
    int guest_fd;
    host_stream_t s[HOST_STREAMS];
    bool keep_data;
    bool hold_credit;                         /* consume nothing: grant no output credit */
    Warmpool__Agent__V1__Response *resp[256]; /* by request id % 256 */
    Warmpool__Agent__V1__Event *events[64];
    int n_events;
    uint64_t max_outstanding; /* the most output bytes ever unacknowledged */
    uint32_t next_id;
} host_t;

typedef struct env {
    char dir[64], bundles[96], crun_root[96], cgroups[96];
    fake_sys_t sys;
    agent_ctx_t ctx;
    agent_server_t *srv;
    agent_watch_t sigchld;
    pthread_t loop;
    atomic_bool stop, running;
} env_t;

void env_up(env_t *e);
void env_down(env_t *e);
/* Pause / resume the agent's loop thread (to touch the server safely). */
void env_pause(env_t *e);
void env_resume(env_t *e);
/* A new host connection (the loop must be paused or not started). */
void host_connect(env_t *e, host_t *h);
void host_fini(host_t *h);

/* Read and handle one frame within ms; 1 handled, 0 closed, -1 nothing. */
int host_pump(host_t *h, int ms);
/* Send a request, return its id. */
uint32_t host_send(host_t *h, const Warmpool__Agent__V1__Request *req);
/* The response to id (pumping), owned by the caller. */
Warmpool__Agent__V1__Response *host_await(host_t *h, uint32_t id);
/* Send and await; error_code must be `code` (0: success). */
Warmpool__Agent__V1__Response *host_call(host_t *h, const Warmpool__Agent__V1__Request *req,
                                         int code);
/* Pump until the ProcessExited of (cid, eid); returns it (owned by h). */
Warmpool__Agent__V1__ProcessExited *host_await_exit(host_t *h, const char *cid, const char *eid);
/* Pump until stream sid saw EOF. */
void host_await_eof(host_t *h, uint32_t sid);
/* Send len bytes on stdin stream sid within its credit (pumping for more),
 * then EOF when eof. */
void host_send_stdin(host_t *h, uint32_t sid, const uint8_t *data, size_t len, bool eof);
/* The bytes of stream sid as a NUL-terminated string (keep_data). */
const char *host_text(host_t *h, uint32_t sid);

/* Request builders: the returned request points into a static-free
 * per-call storage `c` that must outlive the send. */
typedef struct call {
    Warmpool__Agent__V1__Request req;
    union {
        Warmpool__Agent__V1__CreateContainerRequest create_container;
        Warmpool__Agent__V1__StartContainerRequest start_container;
        Warmpool__Agent__V1__ExecProcessRequest exec_process;
        Warmpool__Agent__V1__SignalProcessRequest signal_process;
        Warmpool__Agent__V1__WaitProcessRequest wait_process;
        Warmpool__Agent__V1__ResizePtyRequest resize_pty;
        Warmpool__Agent__V1__CloseStdinRequest close_stdin;
        Warmpool__Agent__V1__ListPidsRequest list_pids;
        Warmpool__Agent__V1__ContainerStatsRequest container_stats;
        Warmpool__Agent__V1__PauseContainerRequest pause_container;
        Warmpool__Agent__V1__ResumeContainerRequest resume_container;
        Warmpool__Agent__V1__UpdateResourcesRequest update_resources;
        Warmpool__Agent__V1__DeleteProcessRequest delete_process;
        Warmpool__Agent__V1__DeleteContainerRequest delete_container;
        Warmpool__Agent__V1__ContainerStateRequest container_state;
        Warmpool__Agent__V1__MountShareRequest mount_share;
        Warmpool__Agent__V1__WarmUpRequest warm_up;
        Warmpool__Agent__V1__PingRequest ping;
    } u;
    char json[2048];
} call_t;

/* spec_json from a shell command line run by /bin/sh -c */
Warmpool__Agent__V1__Request *c_create(call_t *c, const char *id, const char *sh, bool terminal,
                                       bool stdin);
Warmpool__Agent__V1__Request *c_create_spec(call_t *c, const char *id, const char *spec);
Warmpool__Agent__V1__Request *c_start(call_t *c, const char *id);
Warmpool__Agent__V1__Request *c_exec(call_t *c, const char *id, const char *eid, const char *sh,
                                     bool terminal, bool stdin);
Warmpool__Agent__V1__Request *c_signal(call_t *c, const char *id, const char *eid, uint32_t sig,
                                       bool all);
Warmpool__Agent__V1__Request *c_wait(call_t *c, const char *id, const char *eid);
Warmpool__Agent__V1__Request *c_resize(call_t *c, const char *id, uint32_t rows, uint32_t cols);
Warmpool__Agent__V1__Request *c_close_stdin(call_t *c, const char *id, const char *eid);
Warmpool__Agent__V1__Request *c_pids(call_t *c, const char *id);
Warmpool__Agent__V1__Request *c_stats(call_t *c, const char *id);
Warmpool__Agent__V1__Request *c_pause(call_t *c, const char *id, bool pause);
Warmpool__Agent__V1__Request *c_update(call_t *c, const char *id, const char *json);
Warmpool__Agent__V1__Request *c_delete_process(call_t *c, const char *id, const char *eid);
Warmpool__Agent__V1__Request *c_delete(call_t *c, const char *id, bool force);
Warmpool__Agent__V1__Request *c_state(call_t *c, const char *id);
Warmpool__Agent__V1__Request *c_warm_up(call_t *c);
Warmpool__Agent__V1__Request *c_mount(call_t *c);
Warmpool__Agent__V1__Request *c_ping(call_t *c, uint64_t token);

#endif
