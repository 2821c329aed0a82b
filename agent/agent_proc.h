/* agent_proc.h - one container process (the init or an exec) and its
 * container: state, stdio streams, exit and the waits on it. Internal to
 * the container manager (agent_containers.c); single-threaded (the loop).
 *
 * States, after containerd's runc shim: created (crun create: the init
 * exists, the user's program has not started), running, paused (the
 * container's freezer), stopped (reaped: exit status known). Deleted is
 * leaving the registry. agent_proc_allows() is the one place that says
 * which operation is legal in which state, and with which errno it is
 * refused. A stopped process publishes its exit (the ProcessExited event
 * and the answers to its waits) once each of its output streams has sent
 * EOF. Known limit: an exec whose background child keeps the output pipe
 * open publishes its exit only when that child closes it (or at delete);
 * an init's children die with its pid namespace. */
#ifndef AGENT_PROC_H
#define AGENT_PROC_H

#include <stdbool.h>   /* bool */
#include <stdint.h>    /* uint64_t */
#include <sys/types.h> /* pid_t */

#include "agent_protocol.h"
#include "agent_server.h"
#include "agent_streams.h"

typedef enum agent_proc_state {
    AGENT_PROC_CREATED,
    AGENT_PROC_RUNNING,
    AGENT_PROC_PAUSED,
    AGENT_PROC_STOPPED,
    AGENT_PROC_STATES
} agent_proc_state_t;

typedef enum agent_proc_op {
    AGENT_OP_START,
    AGENT_OP_EXEC, /* exec a new process into this (init's) container */
    AGENT_OP_SIGNAL,
    AGENT_OP_PAUSE,
    AGENT_OP_RESUME,
    AGENT_OP_UPDATE,
    AGENT_OP_RESIZE,
    AGENT_OP_DELETE,       /* without force */
    AGENT_OP_DELETE_FORCE, /* with force */
    AGENT_OP_COUNT
} agent_proc_op_t;

typedef struct agent_waiter {
    struct agent_waiter *next;
    agent_conn_t *conn;
    uint32_t id; /* the WaitProcess request's id */
} agent_waiter_t;

typedef struct agent_container agent_container_t;

typedef struct agent_proc {
    struct agent_proc *next; /* the container's execs */
    agent_container_t *ctr;
    agent_server_t *srv;
    char exec_id[AGENT_ID_MAX + 1]; /* "" for the init */
    pid_t pid;
    agent_proc_state_t state;
    int pty; /* the pty master for resizes, -1 without a terminal */
    agent_out_stream_t out, err;
    agent_in_stream_t in;
    uint32_t exit_status, signal;
    uint64_t exited_at_ns;
    bool published; /* exit event sent, waits answered */
    agent_waiter_t *waiters;
} agent_proc_t;

struct agent_container {
    agent_container_t *next;
    char id[AGENT_ID_MAX + 1];
    char bundle[512];
    char cgroup[512];
    agent_proc_t *init;
    agent_proc_t *execs;
    int oom_wd; /* inotify watch of memory.events, -1 when none */
    uint64_t oom_kills;
    bool poststart_hooks; /* the spec has some: `crun start` runs them */
};

/* The errno refusing op in p's state, 0 when legal; err says why. */
int agent_proc_allows(const agent_proc_t *p, agent_proc_op_t op, wp_error_t *err);
const char *agent_proc_state_name(agent_proc_state_t st);

/* The fds crun's child gets and the agent's ends, before streams exist. */
typedef struct agent_stdio {
    bool terminal, stdin;
    int child[3];  /* for crun: -1 means /dev/null */
    int parent[3]; /* ours: stdin write end, stdout and stderr read ends */
    int console;   /* terminal: the listening console socket */
    char console_path[512];
} agent_stdio_t;

/* Pipes, or a console socket at console_path for a terminal. */
int agent_stdio_prepare(agent_stdio_t *io, bool terminal, bool stdin, const char *console_path,
                        wp_error_t *err);
/* Close whatever is still open (idempotent). */
void agent_stdio_close(agent_stdio_t *io);

/* A new process in state st after crun succeeded: take io's fds (and the
 * pty master from the console socket) as streams of conn. */
agent_proc_t *agent_proc_new(agent_server_t *srv, agent_container_t *ctr, const char *exec_id,
                             pid_t pid, agent_proc_state_t st, agent_stdio_t *io,
                             agent_conn_t *conn, wp_error_t *err);
/* Fill streams with p's stream ids. */
void agent_proc_streams(const agent_proc_t *p, Warmpool__Agent__V1__StdioStreams *out);

/* The process was reaped with waitpid status `status`. */
void agent_proc_exited(agent_proc_t *p, int status);
/* Answer the wait request id from conn now (exit published) or later. */
int agent_proc_wait(agent_proc_t *p, agent_conn_t *conn, uint32_t id, wp_error_t *err);
/* conn goes away: detach its streams, forget its waits. */
void agent_proc_conn_gone(agent_proc_t *p, agent_conn_t *conn);
/* Close the streams now (EOF to the host), publish the exit if stopped,
 * and free p at the end of the loop round. */
void agent_proc_free(agent_proc_t *p);

#endif
