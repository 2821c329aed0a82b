/* shim.h - the serving shim: one per sandbox (a pod, or a lone `ctr run`
 * container), one VM, any number of tasks (containers) in it, each with an
 * init process and execs. Everything runs on one thread: the ttrpc server,
 * the agent connection and the stdio FIFOs are polled by shim_serve's loop,
 * and handlers answer from it (Wait later, when the process has exited and
 * its output has drained).
 *
 * A process's state decides which requests it takes (shim_proc_check): the
 * table in shim_state.c, so "start twice" or "kill an exited process" is
 * one clear error, not a special case in each handler. */
#ifndef SHIM_H
#define SHIM_H

#include <limits.h>  /* PATH_MAX */
#include <stdbool.h> /* bool */
#include <stdint.h>  /* uint32_t */

#include "agent_client_containers.h"
#include "agent_protocol.h"
#include "shim_config.h"
#include "shim_events.h"
#include "shim_io.h"
#include "shim_vm.h"
#include "ttrpc.h"

typedef enum shim_status {
    SHIM_CREATED, /* init: created, not started; exec: added, not started */
    SHIM_RUNNING,
    SHIM_PAUSED,
    SHIM_STOPPED,
} shim_status_t;

typedef enum shim_op {
    SHIM_OP_START,
    SHIM_OP_KILL,
    SHIM_OP_PAUSE,
    SHIM_OP_RESUME,
    SHIM_OP_EXEC,
    SHIM_OP_RESIZE,
    SHIM_OP_DELETE,
    SHIM_OP_COUNT,
} shim_op_t;

typedef struct shim_task shim_task_t;

typedef struct shim_proc {
    shim_task_t *task;
    char exec_id[AGENT_ID_MAX + 1]; /* "" for the init process */
    shim_status_t status;
    uint32_t pid;
    bool terminal;
    char *stdin_path, *stdout_path, *stderr_path;
    char *exec_spec; /* an exec's process JSON, until it starts */
    shim_io_t *io;
    bool exit_seen; /* the agent's ProcessExited came; published once drained */
    uint32_t exit_status;
    uint64_t exited_at_ns;
    ttrpc_call_t **waiters;
    size_t n_waiters;
    struct shim_proc *next;
} shim_proc_t;

struct shim_task {
    char id[AGENT_ID_MAX + 1];
    char bundle[PATH_MAX];
    shim_proc_t *procs; /* the init process first */
    bool rootfs_mounted, share_bound;
    bool poststop_hooks; /* its spec has some: only the guest's `crun delete` runs them */
    struct shim_task *next;
};

typedef struct shim {
    shim_config_t cfg;
    char cfg_path[PATH_MAX]; /* the file cfg came from when a ConfigPath named it, else "" */
    char ns[256];
    char id[AGENT_ID_MAX + 1]; /* the sandbox's id: the shim's own */
    char template_name[128];
    shim_vm_t vm;
    bool have_vm;
    shim_task_t *tasks;
    ttrpc_server_t *srv;
    shim_events_t *events;
    shim_io_early_t *early; /* output that came before its io (shim_io.h) */
    bool shutdown;          /* Shutdown with no task left: the loop ends */
} shim_t;

/* ---- state (shim_state.c) ---- */

/* 0 when op is legal for p now, else -1 with the error to answer. */
int shim_proc_check(const shim_proc_t *p, shim_op_t op, wp_error_t *err);
const char *shim_status_name(shim_status_t s);

shim_task_t *shim_task_find(shim_t *s, const char *id);
/* The process of task id (exec_id NULL or "": its init). ENOENT names what is missing. */
shim_proc_t *shim_proc_find(shim_t *s, const char *id, const char *exec_id, wp_error_t *err);
/* Append a process to t (strings copied). */
shim_proc_t *shim_proc_add(shim_task_t *t, const char *exec_id, bool terminal, const char *in,
                           const char *out, const char *errp, wp_error_t *err);
/* Answer every queued Wait of a stopped process with its exit. */
void shim_proc_answer_waiters(shim_proc_t *p);
/* Unlink and free p; Waits still queued get NOT_FOUND. */
void shim_proc_remove(shim_proc_t *p);
void shim_task_free(shim_t *s, shim_task_t *t);

/* Every process whose exit was seen and whose output has drained: STOPPED,
 * TaskExit published, waiters answered. Called by the loop after each turn. */
void shim_settle_exits(shim_t *s);

/* ---- the task service (shim_task.c, shim_task_ops.c) ---- */

/* Register every Task method on s->srv. */
int shim_task_register(shim_t *s, wp_error_t *err);
/* Release whatever is still held (tasks, mounts, the VM): the shim is
 * going away. */
void shim_task_teardown(shim_t *s);

/* ---- the loop (shim_serve.c) ---- */

/* The agent's events (agent_client_on_event, opaque the shim): a process
 * exit is noted (published by shim_settle_exits), an OOM published. */
void shim_on_agent_event(void *opaque, const Warmpool__Agent__V1__Event *ev);

/* Serve on listen_fd until Shutdown (or containerd is gone and no task is
 * left). */
int shim_serve(shim_t *s, int listen_fd, wp_error_t *err);

#endif
