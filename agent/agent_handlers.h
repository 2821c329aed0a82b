/* agent_handlers.h - the guest agent's request handlers, free of I/O.
 *
 * Every effect on the system goes through agent_sys_ops_t, so tests inject
 * fakes and never change the host's clock or power it off. Handlers run on
 * the agent's single event-loop thread. */
#ifndef AGENT_HANDLERS_H
#define AGENT_HANDLERS_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "agent.pb-c.h"

#define AGENT_PROTOCOL_VERSION 1
#define AGENT_RESEED_MIN       32
#define AGENT_RESEED_MAX       4096
#define AGENT_SAMPLE_MAX       256

typedef struct agent_sys_info {
    char kernel_release[65];
    uint64_t uptime_ns;
    uint64_t mem_total_bytes;
    uint64_t mem_available_bytes;
    int64_t realtime_ns;
    uint32_t online_cpus;
} agent_sys_info_t;

/* Each returns 0 or a negative errno. */
typedef struct agent_sys_ops {
    int (*add_entropy_and_reseed)(void *opaque, const uint8_t *buf, size_t len);
    int (*get_realtime)(void *opaque, int64_t *ns);
    int (*set_realtime)(void *opaque, int64_t ns);
    int (*random_bytes)(void *opaque, uint8_t *buf, size_t len);
    int (*info)(void *opaque, agent_sys_info_t *out);
    void (*power_off)(void *opaque); /* after the response has been sent */
    /* Mount the 9p share `tag` at target unless something is mounted there
     * (*already set then); NULL: not supported (EOPNOTSUPP). */
    int (*mount_share)(void *opaque, const char *tag, const char *target, bool *already);
} agent_sys_ops_t;

/* Where the container manager finds crun and keeps its files; NULL fields
 * take the guest's defaults (/usr/bin/crun, /run/crun, AGENT_BUNDLE_DIR,
 * /sys/fs/cgroup). Tests point them at a fake crun and temporary trees. */
typedef struct agent_paths {
    const char *crun;
    const char *crun_root;
    const char *bundle_dir;
    const char *cgroup_root;
} agent_paths_t;

typedef struct agent_ctx {
    const agent_sys_ops_t *sys;
    void *sys_opaque;
    agent_paths_t paths;
    char boot_id[40];
    const char *version;
} agent_ctx_t;

/* Fill resp (initialised by the caller with RESPONSE__INIT) for req. Data
 * hung off resp is allocated; release it with agent_response_fini. Returns
 * true when the agent must power off once resp has been sent. */
bool agent_handle(agent_ctx_t *ctx, const Warmpool__Agent__V1__Request *req,
                  Warmpool__Agent__V1__Response *resp);
void agent_response_fini(Warmpool__Agent__V1__Response *resp);

/* Fill an Announce (strings point into ctx). */
void agent_announce_fill(agent_ctx_t *ctx, Warmpool__Agent__V1__Announce *a);

#endif
