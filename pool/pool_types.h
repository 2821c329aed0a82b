/* pool_types.h - the words warmpoold and its clients share: what a lease, a
 * VM, a pool size and a template's status are, and the limits and defaults
 * both ends of the API assume. Plain data, no code to link: the pool core
 * (core/pool.h) is written in these types, the API (api/api_codec.h)
 * carries them over the wire, and a client (api/api_client.h: warmpoolctl,
 * the shim, the benchmarks) uses them without linking the core.
 *
 * Every string is a fixed-size, NUL-terminated array, so a struct can be
 * copied by value and decoding can refuse what does not fit. */
#ifndef POOL_TYPES_H
#define POOL_TYPES_H

#include <stdbool.h>   /* bool */
#include <stdint.h>    /* uint64_t, int64_t */
#include <sys/types.h> /* pid_t */

#define POOL_NAME_MAX      32   /* template names, as the factory: [a-z0-9][a-z0-9_-]* */
#define POOL_TARGET_MAX    4096 /* a sanity bound on any pool size */
#define POOL_VM_ID_MAX     64   /* including NUL; ids are [a-z0-9-], as hv.h */
#define POOL_PATH_MAX      256  /* including NUL; endpoints and directories */
#define POOL_TOKEN_HEX_LEN 32   /* 128 random bits */
#define POOL_HIST_BOUNDS   18   /* finite histogram buckets; one more counts +Inf */

#define POOL_DEFAULT_API_SOCKET "ipc:///run/warmpool/warmpoold.sock"
#define POOL_DEFAULT_TARGET     1
#define POOL_DEFAULT_MIN        0
#define POOL_DEFAULT_MAX        16

typedef enum pool_sizing_mode {
    POOL_SIZING_FIXED = 0, /* warm == target */
    POOL_SIZING_AUTO = 1,  /* target follows demand within [min, max] (core/pool_sizing.h) */
} pool_sizing_mode_t;

typedef enum pool_warm_state {
    POOL_WARM_PAUSED = 0,  /* vCPUs stopped while waiting: zero CPU, resumed on acquire */
    POOL_WARM_RUNNING = 1, /* left running: no resume on acquire, costs idle CPU */
} pool_warm_state_t;

static inline const char *pool_sizing_mode_name(pool_sizing_mode_t mode)
{
    return mode == POOL_SIZING_AUTO ? "auto" : "fixed";
}

static inline const char *pool_warm_state_name(pool_warm_state_t state)
{
    return state == POOL_WARM_RUNNING ? "running" : "paused";
}

/* What a client needs to use a VM, and what the journal keeps about it. */
typedef struct pool_vm_info {
    char id[POOL_VM_ID_MAX];            /* unique on the host */
    char agent_endpoint[POOL_PATH_MAX]; /* "unix:/path" or "vsock:CID:PORT" */
    char runtime_dir[POOL_PATH_MAX];    /* per-VM sockets and logs */
    char shared_dir[POOL_PATH_MAX];     /* host side of the guest's shared directory */
    pid_t pid;                          /* the hypervisor process */
} pool_vm_info_t;

typedef struct pool_lease {
    char token[POOL_TOKEN_HEX_LEN + 1]; /* secret: only the holder may release */
    char template_name[POOL_NAME_MAX + 1];
    pool_vm_info_t vm; /* id, agent endpoint, runtime and shared dirs, pid */
    bool hit;          /* served from the warm queue (false: cloned on demand) */
    double wait_ms;    /* time spent in pool_acquire */
} pool_lease_t;

typedef enum pool_lease_state {
    POOL_LEASE_ACTIVE = 0,
    POOL_LEASE_DEAD = 1, /* the VM's process exited; release it */
} pool_lease_state_t;

/* A lease without its token, for `status` after a restart. */
typedef struct pool_lease_summary {
    char template_name[POOL_NAME_MAX + 1];
    pool_vm_info_t vm;
    pool_lease_state_t state;
    int64_t leased_at_ns; /* CLOCK_REALTIME */
} pool_lease_summary_t;

typedef struct pool_size {
    pool_sizing_mode_t sizing;
    unsigned target; /* fixed: the warm count; auto: the starting point */
    unsigned min;
    unsigned max;
} pool_size_t;

/* A latency histogram at one moment (core/pool_stats.h records them). */
typedef struct pool_histogram_snapshot {
    uint64_t buckets[POOL_HIST_BOUNDS + 1]; /* not cumulative; last is +Inf */
    uint64_t count;                         /* sum of the buckets */
    uint64_t sum_ns;
} pool_histogram_snapshot_t;

typedef struct pool_template_status {
    char name[POOL_NAME_MAX + 1];
    pool_sizing_mode_t sizing;
    pool_warm_state_t warm_state;
    unsigned target, min, max;
    unsigned warm, cloning, leased, dead;
    uint64_t acquire_hits, acquire_misses, acquire_failures;
    uint64_t clones, clone_failures, releases, deaths;
    double acquire_p50_ms, acquire_p99_ms;
    double clone_p50_ms, clone_p99_ms;
    pool_histogram_snapshot_t acquire_latency; /* for Prometheus */
    pool_histogram_snapshot_t clone_latency;
    double demand_per_s; /* auto sizing's rate estimate (also kept for fixed pools) */
} pool_template_status_t;

#endif
