/* agent_cgroup.h - a container's cgroup v2 files, read for stats, pids and
 * OOM kills. The cgroup is <root>/warmpool/<id> (the agent sets the spec's
 * linux.cgroupsPath to /warmpool/<id>); root is /sys/fs/cgroup in the guest
 * and a fake tree in tests. Thread-safe (no state). */
#ifndef AGENT_CGROUP_H
#define AGENT_CGROUP_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* uint64_t */

#include "wp_error.h"

typedef struct agent_cgroup_stats {
    uint64_t cpu_usage_usec, cpu_user_usec, cpu_system_usec;
    uint64_t memory_current, memory_max; /* max 0: "max" (no limit) */
    uint64_t pids_current, pids_max;     /* max 0: no limit */
    uint64_t oom_kills;
} agent_cgroup_stats_t;

/* "<root>/warmpool/<id>" into out. */
void agent_cgroup_path(const char *root, const char *id, char *out, size_t len);

/* The stats; ENOENT when the cgroup does not exist, a file of a controller
 * that is not enabled reads as 0. */
int agent_cgroup_stats(const char *dir, agent_cgroup_stats_t *out, wp_error_t *err);

/* cgroup.procs as a malloc'd array the caller frees. */
int agent_cgroup_pids(const char *dir, uint32_t **pids, size_t *n, wp_error_t *err);

/* memory.events oom_kill (0 when unreadable). */
uint64_t agent_cgroup_oom_kills(const char *dir);

#endif
