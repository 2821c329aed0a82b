/* test_agent_handlers.c - the agent's request handlers over fake system
 * calls: each call does exactly what it says to the system, bounds are
 * enforced before the system is touched, and failures become responses. */
#include <criterion/criterion.h>
#include <errno.h>

#include "fake_sys.h"

typedef Warmpool__Agent__V1__Request req_t;
typedef Warmpool__Agent__V1__Response resp_t;

static bool handle(agent_ctx_t *ctx, const req_t *req, resp_t *resp)
{
    warmpool__agent__v1__response__init(resp);
    return agent_handle(ctx, req, resp);
}

Test(agent_handlers, ping_echoes_its_token)
{
    fake_sys_t f = {0};
    agent_ctx_t ctx = fake_ctx(&f);
    Warmpool__Agent__V1__PingRequest ping = WARMPOOL__AGENT__V1__PING_REQUEST__INIT;
    ping.token = 0xfeedbeefcafeULL;
    req_t req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_PING;
    req.ping = &ping;
    resp_t resp;
    cr_assert_not(handle(&ctx, &req, &resp));
    cr_assert_eq(resp.error_code, 0);
    cr_assert_eq(resp.result_case, WARMPOOL__AGENT__V1__RESPONSE__RESULT_PING);
    cr_assert_eq(resp.ping->token, 0xfeedbeefcafeULL);
    agent_response_fini(&resp);
}

static resp_t reseed_with(fake_sys_t *f, size_t len)
{
    agent_ctx_t ctx = fake_ctx(f);
    static uint8_t bytes[AGENT_RESEED_MAX + 1];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (uint8_t)(i * 7 + 3);
    Warmpool__Agent__V1__ReseedRequest r = WARMPOOL__AGENT__V1__RESEED_REQUEST__INIT;
    r.entropy.data = bytes;
    r.entropy.len = len;
    req_t req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_RESEED;
    req.reseed = &r;
    resp_t resp;
    handle(&ctx, &req, &resp);
    return resp;
}

Test(agent_handlers, reseed_passes_the_exact_host_bytes)
{
    fake_sys_t f = {0};
    resp_t resp = reseed_with(&f, 64);
    cr_assert_eq(resp.error_code, 0, "%s", resp.error_message);
    cr_assert_eq(f.reseeds, 1);
    cr_assert_eq(f.entropy_len, 64);
    for (size_t i = 0; i < 64; i++)
        cr_assert_eq(f.entropy[i], (uint8_t)(i * 7 + 3));
    cr_assert_eq(resp.result_case, WARMPOOL__AGENT__V1__RESPONSE__RESULT_RESEED);
    agent_response_fini(&resp);
}

Test(agent_handlers, reseed_out_of_bounds_is_einval_and_touches_nothing)
{
    size_t bad[] = {0, AGENT_RESEED_MIN - 1, AGENT_RESEED_MAX + 1};
    for (size_t i = 0; i < 3; i++) {
        fake_sys_t f = {0};
        resp_t resp = reseed_with(&f, bad[i]);
        cr_assert_eq(resp.error_code, EINVAL, "%zu bytes", bad[i]);
        cr_assert_eq(f.reseeds, 0, "%zu bytes reached the kernel", bad[i]);
        agent_response_fini(&resp);
    }
    fake_sys_t f = {0};
    resp_t resp = reseed_with(&f, AGENT_RESEED_MAX);
    cr_assert_eq(resp.error_code, 0, "the maximum itself is fine");
    agent_response_fini(&resp);
}

Test(agent_handlers, set_clock_sets_the_exact_time_and_reports_before_and_after)
{
    fake_sys_t f = {.clock_ns = 1000};
    agent_ctx_t ctx = fake_ctx(&f);
    Warmpool__Agent__V1__SetClockRequest c = WARMPOOL__AGENT__V1__SET_CLOCK_REQUEST__INIT;
    c.realtime_ns = 1763800000123456789LL;
    req_t req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_SET_CLOCK;
    req.set_clock = &c;
    resp_t resp;
    handle(&ctx, &req, &resp);
    cr_assert_eq(resp.error_code, 0, "%s", resp.error_message);
    cr_assert_eq(f.clock_sets, 1);
    cr_assert_eq(f.clock_ns, 1763800000123456789LL);
    cr_assert_eq(resp.set_clock->previous_realtime_ns, 1000);
    cr_assert_eq(resp.set_clock->realtime_ns, 1763800000123456789LL);
    agent_response_fini(&resp);

    c.realtime_ns = -5;
    handle(&ctx, &req, &resp);
    cr_assert_eq(resp.error_code, EINVAL);
    cr_assert_eq(f.clock_sets, 1, "a negative time is refused before the clock is touched");
    agent_response_fini(&resp);
}

Test(agent_handlers, random_sample_returns_the_systems_bytes_within_bounds)
{
    fake_sys_t f = {.random_fill = 0x40};
    agent_ctx_t ctx = fake_ctx(&f);
    Warmpool__Agent__V1__RandomSampleRequest r = WARMPOOL__AGENT__V1__RANDOM_SAMPLE_REQUEST__INIT;
    req_t req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_RANDOM_SAMPLE;
    req.random_sample = &r;
    resp_t resp;
    r.length = 8;
    handle(&ctx, &req, &resp);
    cr_assert_eq(resp.error_code, 0);
    cr_assert_eq(resp.random_sample->data.len, 8);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(resp.random_sample->data.data[i], 0x40 + i);
    agent_response_fini(&resp);
    unsigned bad[] = {0, AGENT_SAMPLE_MAX + 1};
    for (int i = 0; i < 2; i++) {
        r.length = bad[i];
        handle(&ctx, &req, &resp);
        cr_assert_eq(resp.error_code, EINVAL, "%u bytes", bad[i]);
        agent_response_fini(&resp);
    }
}

Test(agent_handlers, info_reports_the_system_and_the_agent)
{
    fake_sys_t f = {.clock_ns = 42};
    agent_ctx_t ctx = fake_ctx(&f);
    Warmpool__Agent__V1__InfoRequest i = WARMPOOL__AGENT__V1__INFO_REQUEST__INIT;
    req_t req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_INFO;
    req.info = &i;
    resp_t resp;
    handle(&ctx, &req, &resp);
    cr_assert_eq(resp.error_code, 0);
    cr_assert_str_eq(resp.info->kernel_release, "6.1.0-test");
    cr_assert_str_eq(resp.info->agent_version, "9.9.9-test");
    cr_assert_str_eq(resp.info->boot_id, "00000000-1111-2222-3333-444444444444");
    cr_assert_eq(resp.info->mem_total_bytes, 256ULL << 20);
    cr_assert_eq(resp.info->realtime_ns, 42);
    agent_response_fini(&resp);
}

Test(agent_handlers, shutdown_asks_for_power_off_after_the_reply)
{
    fake_sys_t f = {0};
    agent_ctx_t ctx = fake_ctx(&f);
    Warmpool__Agent__V1__ShutdownRequest s = WARMPOOL__AGENT__V1__SHUTDOWN_REQUEST__INIT;
    req_t req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_SHUTDOWN;
    req.shutdown = &s;
    resp_t resp;
    cr_assert(handle(&ctx, &req, &resp), "the caller powers off once the reply is sent");
    cr_assert_eq(f.power_offs, 0, "not before the reply");
    cr_assert_eq(resp.result_case, WARMPOOL__AGENT__V1__RESPONSE__RESULT_SHUTDOWN);
    agent_response_fini(&resp);
}

Test(agent_handlers, system_failures_and_unknown_calls_become_error_responses)
{
    fake_sys_t f = {.fail = -EPERM};
    resp_t resp = reseed_with(&f, 64);
    cr_assert_eq(resp.error_code, EPERM);
    cr_assert(strstr(resp.error_message, "reseed") != NULL, "%s", resp.error_message);
    agent_response_fini(&resp);

    agent_ctx_t ctx = fake_ctx(&f);
    req_t empty = WARMPOOL__AGENT__V1__REQUEST__INIT;
    cr_assert_not(handle(&ctx, &empty, &resp));
    cr_assert_eq(resp.error_code, EOPNOTSUPP);
    agent_response_fini(&resp);
}

Test(agent_handlers, announce_carries_version_boot_id_and_protocol)
{
    fake_sys_t f = {0};
    agent_ctx_t ctx = fake_ctx(&f);
    Warmpool__Agent__V1__Announce a;
    agent_announce_fill(&ctx, &a);
    cr_assert_str_eq(a.agent_version, "9.9.9-test");
    cr_assert_str_eq(a.boot_id, ctx.boot_id);
    cr_assert_eq(a.protocol_version, AGENT_PROTOCOL_VERSION);
}
