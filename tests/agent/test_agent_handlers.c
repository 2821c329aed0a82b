/* test_agent_handlers.c - the agent's request handlers over fake system
 * calls: each call hands the system exactly what the host sent, bounds are
 * enforced before the system is touched, and a system failure becomes the
 * response's error code and message. */
#include <criterion/criterion.h>
#include <errno.h>  /* EINVAL */
#include <stdio.h>  /* snprintf */
#include <string.h> /* strerror */

#include "fake_sys.h"
#include "wire.h"

typedef Warmpool__Agent__V1__Response resp_t;

#define RESULT(x) WARMPOOL__AGENT__V1__RESPONSE__RESULT_##x

/* Run req through the handlers; *power_off gets their verdict. The
 * response may point into ctx. */
static resp_t handle(agent_ctx_t *ctx, const Warmpool__Agent__V1__Request *req, bool *power_off)
{
    resp_t resp;
    warmpool__agent__v1__response__init(&resp);
    bool off = agent_handle(ctx, req, &resp);
    if (power_off)
        *power_off = off;
    return resp;
}

static void assert_error(const resp_t *resp, int code, const char *prefix)
{
    cr_assert_eq(resp->error_code, code, "error %d (%s), wanted %d", resp->error_code,
                 resp->error_message ? resp->error_message : "", code);
    cr_assert_eq(resp->result_case, RESULT(_NOT_SET), "no result beside an error");
    char want[256];
    snprintf(want, sizeof(want), "%s: %s", prefix, strerror(code));
    cr_assert_str_eq(resp->error_message, want);
}

static const uint8_t *entropy(void)
{
    static uint8_t bytes[AGENT_RESEED_MAX + 1];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (uint8_t)(i * 7 + 3);
    return bytes;
}

Test(agent_handlers, ping_echoes_its_token_and_touches_nothing)
{
    fake_sys_t f = {0};
    agent_ctx_t ctx = fake_ctx(&f);
    wire_call_t c;
    bool off = true;
    resp_t resp = handle(&ctx, call_ping(&c, 0xfeedbeefcafeULL), &off);
    cr_assert_not(off);
    cr_assert_eq(resp.error_code, 0);
    cr_assert_eq(resp.result_case, RESULT(PING));
    cr_assert_eq(resp.ping->token, 0xfeedbeefcafeULL);
    cr_assert_eq(fake_sys_calls(&f), 0);
    agent_response_fini(&resp);
}

Test(agent_handlers, reseed_passes_the_exact_host_bytes)
{
    size_t sizes[] = {AGENT_RESEED_MIN, 64, AGENT_RESEED_MAX};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        fake_sys_t f = {0};
        agent_ctx_t ctx = fake_ctx(&f);
        wire_call_t c;
        resp_t resp = handle(&ctx, call_reseed(&c, entropy(), sizes[i]), NULL);
        cr_assert_eq(resp.error_code, 0, "%zu bytes: %s", sizes[i], resp.error_message);
        cr_assert_eq(f.reseeds, 1);
        cr_assert_eq(f.entropy_len, sizes[i]);
        cr_assert_arr_eq(f.entropy, entropy(), sizes[i]);
        cr_assert_eq(resp.result_case, RESULT(RESEED));
        cr_assert_eq(resp.reseed->entropy_bits_credited, sizes[i] * 8);
        agent_response_fini(&resp);
    }
}

Test(agent_handlers, reseed_out_of_bounds_is_einval_before_the_kernel)
{
    size_t bad[] = {0, 1, AGENT_RESEED_MIN - 1, AGENT_RESEED_MAX + 1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_sys_t f = {0};
        agent_ctx_t ctx = fake_ctx(&f);
        wire_call_t c;
        resp_t resp = handle(&ctx, call_reseed(&c, entropy(), bad[i]), NULL);
        assert_error(&resp, EINVAL, "reseed wants 32 to 4096 bytes of entropy");
        cr_assert_eq(fake_sys_calls(&f), 0, "%zu bytes reached the kernel", bad[i]);
        agent_response_fini(&resp);
    }
}

Test(agent_handlers, set_clock_sets_the_exact_time_and_reports_before_and_after)
{
    fake_sys_t f = {.clock_ns = 1000};
    agent_ctx_t ctx = fake_ctx(&f);
    wire_call_t c;
    resp_t resp = handle(&ctx, call_set_clock(&c, 1763800000123456789LL), NULL);
    cr_assert_eq(resp.error_code, 0, "%s", resp.error_message);
    cr_assert_eq(f.clock_sets, 1);
    cr_assert_eq(f.clock_ns, 1763800000123456789LL);
    cr_assert_eq(resp.result_case, RESULT(SET_CLOCK));
    cr_assert_eq(resp.set_clock->previous_realtime_ns, 1000);
    cr_assert_eq(resp.set_clock->realtime_ns, 1763800000123456789LL);
    agent_response_fini(&resp);
}

Test(agent_handlers, set_clock_refuses_a_non_positive_time_before_the_clock)
{
    int64_t bad[] = {0, -5, INT64_MIN};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_sys_t f = {.clock_ns = 1000};
        agent_ctx_t ctx = fake_ctx(&f);
        wire_call_t c;
        resp_t resp = handle(&ctx, call_set_clock(&c, bad[i]), NULL);
        assert_error(&resp, EINVAL, "set clock wants a positive time");
        cr_assert_eq(fake_sys_calls(&f), 0);
        cr_assert_eq(f.clock_ns, 1000);
        agent_response_fini(&resp);
    }
}

Test(agent_handlers, random_sample_returns_the_systems_bytes)
{
    uint32_t sizes[] = {1, 8, AGENT_SAMPLE_MAX};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        fake_sys_t f = {.random_fill = 0x40};
        agent_ctx_t ctx = fake_ctx(&f);
        wire_call_t c;
        resp_t resp = handle(&ctx, call_random(&c, sizes[i]), NULL);
        cr_assert_eq(resp.error_code, 0, "%u bytes: %s", sizes[i], resp.error_message);
        cr_assert_eq(resp.result_case, RESULT(RANDOM_SAMPLE));
        cr_assert_eq(resp.random_sample->data.len, sizes[i]);
        for (uint32_t k = 0; k < sizes[i]; k++)
            cr_assert_eq(resp.random_sample->data.data[k], (uint8_t)(0x40 + k));
        cr_assert_eq(f.random_calls, 1);
        agent_response_fini(&resp);
    }
}

Test(agent_handlers, random_sample_out_of_bounds_is_einval_before_the_system)
{
    uint32_t bad[] = {0, AGENT_SAMPLE_MAX + 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_sys_t f = {0};
        agent_ctx_t ctx = fake_ctx(&f);
        wire_call_t c;
        resp_t resp = handle(&ctx, call_random(&c, bad[i]), NULL);
        assert_error(&resp, EINVAL, "random sample wants 1 to 256 bytes");
        cr_assert_eq(fake_sys_calls(&f), 0, "%u bytes", bad[i]);
        agent_response_fini(&resp);
    }
}

Test(agent_handlers, info_reports_the_system_and_the_agent)
{
    fake_sys_t f = {.clock_ns = 42};
    agent_ctx_t ctx = fake_ctx(&f);
    wire_call_t c;
    resp_t resp = handle(&ctx, call_info(&c), NULL);
    cr_assert_eq(resp.error_code, 0);
    cr_assert_eq(resp.result_case, RESULT(INFO));
    cr_assert_str_eq(resp.info->agent_version, FAKE_VERSION);
    cr_assert_str_eq(resp.info->boot_id, FAKE_BOOT_ID);
    cr_assert_str_eq(resp.info->kernel_release, FAKE_KERNEL_RELEASE);
    cr_assert_eq(resp.info->uptime_ns, FAKE_UPTIME_NS);
    cr_assert_eq(resp.info->mem_total_bytes, FAKE_MEM_TOTAL);
    cr_assert_eq(resp.info->mem_available_bytes, FAKE_MEM_AVAILABLE);
    cr_assert_eq(resp.info->realtime_ns, 42);
    cr_assert_eq(resp.info->online_cpus, FAKE_CPUS);
    agent_response_fini(&resp);
}

Test(agent_handlers, only_shutdown_asks_for_power_off_and_never_itself)
{
    fake_sys_t f = {0};
    agent_ctx_t ctx = fake_ctx(&f);
    wire_call_t c;
    bool off = false;
    resp_t resp = handle(&ctx, call_shutdown(&c), &off);
    cr_assert(off, "the caller powers off once the reply is sent");
    cr_assert_eq(f.power_offs, 0, "not the handler, before the reply");
    cr_assert_eq(resp.error_code, 0);
    cr_assert_eq(resp.result_case, RESULT(SHUTDOWN));
    agent_response_fini(&resp);

    wire_call_t o[5];
    Warmpool__Agent__V1__Request *others[] = {call_ping(&o[0], 1), call_info(&o[1]),
                                              call_random(&o[2], 4), call_set_clock(&o[3], 5),
                                              call_reseed(&o[4], entropy(), 32)};
    for (size_t i = 0; i < 5; i++) {
        resp = handle(&ctx, others[i], &off);
        cr_assert_eq(resp.error_code, 0, "%s", resp.error_message);
        cr_assert_not(off, "call %d", others[i]->call_case);
        agent_response_fini(&resp);
    }
    cr_assert_eq(f.power_offs, 0);
}

Test(agent_handlers, system_failures_become_the_error_code_and_message)
{
    wire_call_t c;
    fake_sys_t f = {.fail_reseed = -EPERM};
    agent_ctx_t ctx = fake_ctx(&f);
    resp_t resp = handle(&ctx, call_reseed(&c, entropy(), 64), NULL);
    assert_error(&resp, EPERM, "reseed");
    agent_response_fini(&resp);

    f = (fake_sys_t){.fail_set_clock = -EPERM, .clock_ns = 7};
    resp = handle(&ctx, call_set_clock(&c, 123), NULL);
    assert_error(&resp, EPERM, "set clock");
    agent_response_fini(&resp);

    f = (fake_sys_t){.fail_get_clock = -EIO};
    resp = handle(&ctx, call_set_clock(&c, 123), NULL);
    assert_error(&resp, EIO, "set clock");
    cr_assert_eq(f.clock_sets, 0, "the clock is not set when it cannot be read first");
    agent_response_fini(&resp);

    f = (fake_sys_t){.fail_random = -EAGAIN};
    resp = handle(&ctx, call_random(&c, 16), NULL);
    assert_error(&resp, EAGAIN, "random sample");
    agent_response_fini(&resp);

    f = (fake_sys_t){.fail_info = -ENOENT};
    resp = handle(&ctx, call_info(&c), NULL);
    assert_error(&resp, ENOENT, "info");
    agent_response_fini(&resp);
}

Test(agent_handlers, a_request_with_no_call_is_eopnotsupp)
{
    fake_sys_t f = {0};
    agent_ctx_t ctx = fake_ctx(&f);
    Warmpool__Agent__V1__Request empty = WARMPOOL__AGENT__V1__REQUEST__INIT;
    bool off = true;
    resp_t resp = handle(&ctx, &empty, &off);
    cr_assert_not(off);
    assert_error(&resp, EOPNOTSUPP, "request");
    cr_assert_eq(fake_sys_calls(&f), 0);
    agent_response_fini(&resp);
}

Test(agent_handlers, response_fini_releases_once_and_resets)
{
    fake_sys_t f = {0};
    agent_ctx_t ctx = fake_ctx(&f);
    wire_call_t c;
    resp_t resp = handle(&ctx, call_random(&c, 32), NULL);
    agent_response_fini(&resp);
    cr_assert_eq(resp.result_case, RESULT(_NOT_SET));
    agent_response_fini(&resp); /* a second fini frees nothing (ASan would tell) */
}

Test(agent_handlers, announce_carries_version_boot_id_protocol_and_uptime)
{
    fake_sys_t f = {0};
    agent_ctx_t ctx = fake_ctx(&f);
    Warmpool__Agent__V1__Announce a;
    agent_announce_fill(&ctx, &a);
    cr_assert_str_eq(a.agent_version, FAKE_VERSION);
    cr_assert_str_eq(a.boot_id, FAKE_BOOT_ID);
    cr_assert_eq(a.protocol_version, AGENT_PROTOCOL_VERSION);
    cr_assert_eq(a.uptime_ns, FAKE_UPTIME_NS);

    f.fail_info = -EIO; /* the announce still goes out, without an uptime */
    agent_announce_fill(&ctx, &a);
    cr_assert_str_eq(a.boot_id, FAKE_BOOT_ID);
    cr_assert_eq(a.uptime_ns, 0);
}
