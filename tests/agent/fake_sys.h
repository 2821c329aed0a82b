/* fake_sys.h - agent_sys_ops_t that records what the handlers asked for and
 * returns scripted results, so no test touches the host's clock, RNG or
 * power. Test-only. */
#ifndef FAKE_SYS_H
#define FAKE_SYS_H

#include <string.h>

#include "agent_handlers.h"

typedef struct fake_sys {
    uint8_t entropy[AGENT_RESEED_MAX];
    size_t entropy_len;
    int reseeds;
    int64_t clock_ns; /* what get_realtime returns; set_realtime stores here */
    int clock_sets;
    uint8_t random_fill; /* random_bytes writes this byte, incrementing */
    int power_offs;
    int fail; /* negative errno every op returns when nonzero */
} fake_sys_t;

static int fake_reseed(void *o, const uint8_t *buf, size_t len)
{
    fake_sys_t *f = o;
    if (f->fail)
        return f->fail;
    memcpy(f->entropy, buf, len);
    f->entropy_len = len;
    f->reseeds++;
    return 0;
}

static int fake_get_realtime(void *o, int64_t *ns)
{
    fake_sys_t *f = o;
    *ns = f->clock_ns;
    return 0;
}

static int fake_set_realtime(void *o, int64_t ns)
{
    fake_sys_t *f = o;
    if (f->fail)
        return f->fail;
    f->clock_ns = ns;
    f->clock_sets++;
    return 0;
}

static int fake_random(void *o, uint8_t *buf, size_t len)
{
    fake_sys_t *f = o;
    if (f->fail)
        return f->fail;
    for (size_t i = 0; i < len; i++)
        buf[i] = f->random_fill++;
    return 0;
}

static int fake_info(void *o, agent_sys_info_t *out)
{
    fake_sys_t *f = o;
    if (f->fail)
        return f->fail;
    memset(out, 0, sizeof(*out));
    strcpy(out->kernel_release, "6.1.0-test");
    out->uptime_ns = 5000000000ULL;
    out->mem_total_bytes = 256ULL << 20;
    out->realtime_ns = f->clock_ns;
    out->online_cpus = 1;
    return 0;
}

static void fake_power_off(void *o)
{
    ((fake_sys_t *)o)->power_offs++;
}

static const agent_sys_ops_t fake_sys_ops = {
    .add_entropy_and_reseed = fake_reseed,
    .get_realtime = fake_get_realtime,
    .set_realtime = fake_set_realtime,
    .random_bytes = fake_random,
    .info = fake_info,
    .power_off = fake_power_off,
};

static inline agent_ctx_t fake_ctx(fake_sys_t *f)
{
    agent_ctx_t ctx = {.sys = &fake_sys_ops, .sys_opaque = f, .version = "9.9.9-test"};
    strcpy(ctx.boot_id, "00000000-1111-2222-3333-444444444444");
    return ctx;
}

#endif
