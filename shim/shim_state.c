/* shim_state.c - tasks, processes and what each state allows (shim.h). */
#include <errno.h>  /* ENOENT */
#include <stdlib.h> /* calloc */
#include <string.h> /* strcmp */

#include "shim.h"
#include "shim_events.pb-c.h"
#include "wp_cleanup.h"
#include "wp_log.h"

/* What each state takes: the legal transitions of containerd's process
 * states (pkg/process in the runc shim). A refusal's errno becomes the
 * ttrpc code: ENOENT NOT_FOUND (a finished process cannot be signalled),
 * EBUSY FAILED_PRECONDITION. */
static const bool ALLOWED[4][SHIM_OP_COUNT] = {
    /*                 start  kill   pause  resume exec   resize delete */
    [SHIM_CREATED] = {true, true, false, false, false, true, true},
    [SHIM_RUNNING] = {false, true, true, false, true, true, false},
    [SHIM_PAUSED] = {false, true, false, true, false, true, false},
    [SHIM_STOPPED] = {false, false, false, false, false, false, true},
};

static const char *const OP_NAMES[SHIM_OP_COUNT] = {"start", "kill",   "pause", "resume",
                                                    "exec",  "resize", "delete"};

const char *shim_status_name(shim_status_t s)
{
    static const char *const names[] = {"created", "running", "paused", "stopped"};
    return names[s];
}

int shim_proc_check(const shim_proc_t *p, shim_op_t op, wp_error_t *err)
{
    if (ALLOWED[p->status][op])
        return 0;
    const char *what = p->exec_id[0] ? "exec" : "task";
    const char *id = p->exec_id[0] ? p->exec_id : p->task->id;
    if (p->status == SHIM_STOPPED && op == SHIM_OP_KILL)
        return wp_error_set(err, ENOENT, "%s %s: process already finished", what, id);
    return wp_error_set(err, EBUSY, "%s %s is %s: cannot %s it", what, id,
                        shim_status_name(p->status), OP_NAMES[op]);
}

shim_task_t *shim_task_find(shim_t *s, const char *id)
{
    for (shim_task_t *t = s->tasks; t; t = t->next)
        if (strcmp(t->id, id) == 0)
            return t;
    return NULL;
}

shim_proc_t *shim_proc_find(shim_t *s, const char *id, const char *exec_id, wp_error_t *err)
{
    shim_task_t *t = shim_task_find(s, id);
    if (t == NULL) {
        wp_error_set(err, ENOENT, "task %s not found", id);
        return NULL;
    }
    const char *want = exec_id ? exec_id : "";
    for (shim_proc_t *p = t->procs; p; p = p->next)
        if (strcmp(p->exec_id, want) == 0)
            return p;
    wp_error_set(err, ENOENT, "exec %s of task %s not found", want, id);
    return NULL;
}

static char *dup_or_empty(const char *v)
{
    return strdup(v ? v : "");
}

shim_proc_t *shim_proc_add(shim_task_t *t, const char *exec_id, bool terminal, const char *in,
                           const char *out, const char *errp, wp_error_t *err)
{
    shim_proc_t *p = calloc(1, sizeof(*p));
    if (p == NULL || strlen(exec_id) > AGENT_ID_MAX) {
        free(p);
        wp_error_set(err, p ? EINVAL : ENOMEM, "exec id '%s' (at most %d characters)", exec_id,
                     AGENT_ID_MAX);
        return NULL;
    }
    p->task = t;
    snprintf(p->exec_id, sizeof(p->exec_id), "%s", exec_id);
    p->terminal = terminal;
    p->stdin_path = dup_or_empty(in);
    p->stdout_path = dup_or_empty(out);
    p->stderr_path = dup_or_empty(errp);
    shim_proc_t **tail = &t->procs;
    while (*tail)
        tail = &(*tail)->next;
    *tail = p;
    return p;
}

void shim_proc_answer_waiters(shim_proc_t *p)
{
    Containerd__Task__V2__WaitResponse r = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
    Containerd__Task__V2__Timestamp ts;
    shim_timestamp(&ts, p->exited_at_ns);
    r.exit_status = p->exit_status;
    r.exited_at = &ts;
    uint8_t buf[64];
    size_t len = containerd__task__v2__wait_response__pack(&r, buf);
    for (size_t i = 0; i < p->n_waiters; i++)
        ttrpc_call_reply(p->waiters[i], TTRPC_OK, NULL, buf, len);
    free(p->waiters);
    p->waiters = NULL;
    p->n_waiters = 0;
}

void shim_proc_remove(shim_proc_t *p)
{
    for (size_t i = 0; i < p->n_waiters; i++)
        ttrpc_call_reply(p->waiters[i], TTRPC_NOT_FOUND, "the process was deleted", NULL, 0);
    free(p->waiters);
    shim_proc_t **link = &p->task->procs;
    while (*link && *link != p)
        link = &(*link)->next;
    if (*link)
        *link = p->next;
    shim_io_free(p->io);
    free(p->stdin_path);
    free(p->stdout_path);
    free(p->stderr_path);
    free(p->exec_spec);
    free(p);
}

void shim_task_free(shim_t *s, shim_task_t *t)
{
    while (t->procs)
        shim_proc_remove(t->procs);
    shim_task_t **link = &s->tasks;
    while (*link && *link != t)
        link = &(*link)->next;
    if (*link)
        *link = t->next;
    free(t);
}

static void publish_exit(shim_t *s, shim_proc_t *p)
{
    Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
    Containerd__Task__V2__Timestamp ts;
    shim_timestamp(&ts, p->exited_at_ns);
    ev.container_id = p->task->id;
    ev.id = p->exec_id[0] ? p->exec_id : p->task->id;
    ev.pid = p->pid;
    ev.exit_status = p->exit_status;
    ev.exited_at = &ts;
    shim_events_publish(s->events, "/tasks/exit", &ev.base);
}

void shim_settle_exits(shim_t *s)
{
    for (shim_task_t *t = s->tasks; t; t = t->next)
        for (shim_proc_t *p = t->procs; p; p = p->next) {
            if (!p->exit_seen || p->status == SHIM_STOPPED)
                continue;
            if (p->io && !shim_io_drained(p->io))
                continue;
            p->status = SHIM_STOPPED;
            wp_log_debug("%s%s%s exited with status %u", t->id, p->exec_id[0] ? "/" : "",
                         p->exec_id, p->exit_status);
            publish_exit(s, p);
            shim_proc_answer_waiters(p);
        }
}
