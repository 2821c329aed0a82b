/* agent_containers_impl.h - the manager's insides, shared by the registry
 * (agent_containers.c), the call handlers (agent_containers_calls.c) and
 * the warm-up (agent_warm_up.c). Private to those files; single-threaded (the loop). */
#ifndef AGENT_CONTAINERS_IMPL_H
#define AGENT_CONTAINERS_IMPL_H

#include "agent_containers.h"
#include "agent_crun.h"
#include "agent_proc.h"

struct agent_containers {
    agent_server_t *srv;
    agent_ctx_t *ctx;
    agent_crun_t crun;
    const char *bundle_dir, *cgroup_root;
    agent_container_t *list;
    agent_watch_t oom; /* inotify on every container's memory.events */
    unsigned console_seq;
};

/* [A-Za-z0-9_.-], 1..AGENT_ID_MAX, not "." or "..". */
bool agent_id_valid(const char *id);
/* ENOENT (err filled) when absent. exec_id "" is the init. */
agent_container_t *agent_find_ctr(agent_containers_t *m, const char *id, wp_error_t *err);
agent_proc_t *agent_find_exec(agent_container_t *c, const char *exec_id);
agent_proc_t *agent_find_proc(agent_containers_t *m, const char *id, const char *exec_id,
                              wp_error_t *err);
/* "<bundle>/<name>" */
void agent_ctr_path(const agent_container_t *c, const char *name, char *out, size_t len);
/* crun with the container's log; stdio NULL: /dev/null. */
int agent_ctr_crun(agent_containers_t *m, const agent_container_t *c, const char *const *args,
                   const int stdio[3], wp_error_t *err);
/* Watch the container's memory.events for OOM kills (best effort). */
void agent_ctr_oom_watch(agent_containers_t *m, agent_container_t *c);
/* The WarmUp call (agent_warm_up.c): a throwaway container created and
 * deleted; *ns its duration. */
int agent_ctr_warm_up(agent_containers_t *m, uint64_t *ns, wp_error_t *err);
/* Unlink c, free its processes (streams closed, exits published). */
void agent_ctr_free(agent_containers_t *m, agent_container_t *c);

#endif
