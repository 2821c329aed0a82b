/* fake_sys.h - agent_sys_ops_t that records what the handlers asked for and
 * returns scripted results, so no test touches the host's clock, RNG or
 * power. Each op can be made to fail on its own. Test-only; single thread
 * (the one running the agent's handlers). */
#ifndef FAKE_SYS_H
#define FAKE_SYS_H

#include <poll.h>   /* poll */
#include <stdio.h>  /* snprintf */
#include <string.h> /* memcpy */

#include "agent_handlers.h"

typedef struct fake_sys {
    /* add_entropy_and_reseed: the bytes of the last call */
    uint8_t entropy[AGENT_RESEED_MAX];
    size_t entropy_len;
    int reseeds;
    /* get_realtime returns clock_ns; set_realtime stores there */
    int64_t clock_ns;
    int clock_gets, clock_sets;
    /* random_bytes writes random_fill, random_fill + 1, ... */
    uint8_t random_fill;
    int random_calls;
    int infos;
    int power_offs;
    /* when reply_fd > 0, power_off notes whether a reply was already
     * readable there (the agent powers off only after answering) */
    int reply_fd;
    bool reply_readable_at_power_off;
    /* mount_share: calls, what is mounted (the first call mounts) */
    int mounts;
    bool share_mounted;
    char mount_tag[32], mount_target[128];
    /* negative errno returned by one op, 0 to succeed */
    int fail_reseed, fail_get_clock, fail_set_clock, fail_random, fail_info;
} fake_sys_t;

static int fake_reseed(void *o, const uint8_t *buf, size_t len)
{
    fake_sys_t *f = o;
    f->reseeds++;
    if (f->fail_reseed)
        return f->fail_reseed;
    memcpy(f->entropy, buf, len);
    f->entropy_len = len;
    return 0;
}

static int fake_get_realtime(void *o, int64_t *ns)
{
    fake_sys_t *f = o;
    f->clock_gets++;
    if (f->fail_get_clock)
        return f->fail_get_clock;
    *ns = f->clock_ns;
    return 0;
}

static int fake_set_realtime(void *o, int64_t ns)
{
    fake_sys_t *f = o;
    f->clock_sets++;
    if (f->fail_set_clock)
        return f->fail_set_clock;
    f->clock_ns = ns;
    return 0;
}

static int fake_random(void *o, uint8_t *buf, size_t len)
{
    fake_sys_t *f = o;
    f->random_calls++;
    if (f->fail_random)
        return f->fail_random;
    for (size_t i = 0; i < len; i++)
        buf[i] = f->random_fill++;
    return 0;
}

#define FAKE_KERNEL_RELEASE "6.1.0-test"
#define FAKE_UPTIME_NS      5000000007ULL
#define FAKE_MEM_TOTAL      (256ULL << 20)
#define FAKE_MEM_AVAILABLE  (200ULL << 20)
#define FAKE_CPUS           3
#define FAKE_VERSION        "9.9.9-test"
#define FAKE_BOOT_ID        "00000000-1111-2222-3333-444444444444"

static int fake_info(void *o, agent_sys_info_t *out)
{
    fake_sys_t *f = o;
    f->infos++;
    if (f->fail_info)
        return f->fail_info;
    memset(out, 0, sizeof(*out));
    strcpy(out->kernel_release, FAKE_KERNEL_RELEASE);
    out->uptime_ns = FAKE_UPTIME_NS;
    out->mem_total_bytes = FAKE_MEM_TOTAL;
    out->mem_available_bytes = FAKE_MEM_AVAILABLE;
    out->realtime_ns = f->clock_ns;
    out->online_cpus = FAKE_CPUS;
    return 0;
}

static void fake_power_off(void *o)
{
    fake_sys_t *f = o;
    f->power_offs++;
    if (f->reply_fd > 0) {
        struct pollfd pfd = {.fd = f->reply_fd, .events = POLLIN};
        f->reply_readable_at_power_off = poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
    }
}

static int fake_mount_share(void *o, const char *tag, const char *target, bool *already)
{
    fake_sys_t *f = o;
    f->mounts++;
    *already = f->share_mounted;
    f->share_mounted = true;
    snprintf(f->mount_tag, sizeof(f->mount_tag), "%s", tag);
    snprintf(f->mount_target, sizeof(f->mount_target), "%s", target);
    return 0;
}

static const agent_sys_ops_t fake_sys_ops = {
    .mount_share = fake_mount_share,
    .add_entropy_and_reseed = fake_reseed,
    .get_realtime = fake_get_realtime,
    .set_realtime = fake_set_realtime,
    .random_bytes = fake_random,
    .info = fake_info,
    .power_off = fake_power_off,
};

static inline agent_ctx_t fake_ctx(fake_sys_t *f)
{
    agent_ctx_t ctx = {.sys = &fake_sys_ops, .sys_opaque = f, .version = FAKE_VERSION};
    strcpy(ctx.boot_id, FAKE_BOOT_ID);
    return ctx;
}

/* Total calls into the system, power-off excluded. */
static inline int fake_sys_calls(const fake_sys_t *f)
{
    return f->reseeds + f->clock_gets + f->clock_sets + f->random_calls + f->infos;
}

#endif
