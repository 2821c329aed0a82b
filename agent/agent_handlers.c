/* agent_handlers.c - see agent_handlers.h. */
#include "agent_handlers.h"

#include <errno.h>  /* EINVAL */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc, free */
#include <string.h> /* strerror */

/* Every result message a handler may allocate, freed in one place. */
typedef union result_storage {
    Warmpool__Agent__V1__PingResponse ping;
    Warmpool__Agent__V1__ReseedResponse reseed;
    Warmpool__Agent__V1__SetClockResponse set_clock;
    Warmpool__Agent__V1__RandomSampleResponse random_sample;
    Warmpool__Agent__V1__InfoResponse info;
    Warmpool__Agent__V1__ShutdownResponse shutdown;
} result_storage_t;

typedef struct info_storage {
    Warmpool__Agent__V1__InfoResponse info;
    agent_sys_info_t sys;
} info_storage_t;

static void fail(Warmpool__Agent__V1__Response *resp, int code, const char *what)
{
    static __thread char msg[256];
    snprintf(msg, sizeof(msg), "%s: %s", what, strerror(code));
    resp->error_code = code;
    resp->error_message = msg;
}

static bool handle_ping(const Warmpool__Agent__V1__PingRequest *in,
                        Warmpool__Agent__V1__Response *resp)
{
    Warmpool__Agent__V1__PingResponse *out = calloc(1, sizeof(result_storage_t));
    if (out == NULL)
        return fail(resp, ENOMEM, "ping"), false;
    warmpool__agent__v1__ping_response__init(out);
    out->token = in->token;
    resp->result_case = WARMPOOL__AGENT__V1__RESPONSE__RESULT_PING;
    resp->ping = out;
    return false;
}

static bool handle_reseed(agent_ctx_t *ctx, const Warmpool__Agent__V1__ReseedRequest *in,
                          Warmpool__Agent__V1__Response *resp)
{
    if (in->entropy.len < AGENT_RESEED_MIN || in->entropy.len > AGENT_RESEED_MAX)
        return fail(resp, EINVAL, "reseed wants 32 to 4096 bytes of entropy"), false;
    int ret = ctx->sys->add_entropy_and_reseed(ctx->sys_opaque, in->entropy.data, in->entropy.len);
    if (ret < 0)
        return fail(resp, -ret, "reseed"), false;
    Warmpool__Agent__V1__ReseedResponse *out = calloc(1, sizeof(result_storage_t));
    if (out == NULL)
        return fail(resp, ENOMEM, "reseed"), false;
    warmpool__agent__v1__reseed_response__init(out);
    out->entropy_bits_credited = (uint32_t)(in->entropy.len * 8);
    resp->result_case = WARMPOOL__AGENT__V1__RESPONSE__RESULT_RESEED;
    resp->reseed = out;
    return false;
}

static bool handle_set_clock(agent_ctx_t *ctx, const Warmpool__Agent__V1__SetClockRequest *in,
                             Warmpool__Agent__V1__Response *resp)
{
    if (in->realtime_ns <= 0)
        return fail(resp, EINVAL, "set clock wants a positive time"), false;
    int64_t before = 0, after = 0;
    int ret = ctx->sys->get_realtime(ctx->sys_opaque, &before);
    if (ret == 0)
        ret = ctx->sys->set_realtime(ctx->sys_opaque, in->realtime_ns);
    if (ret == 0)
        ret = ctx->sys->get_realtime(ctx->sys_opaque, &after);
    if (ret < 0)
        return fail(resp, -ret, "set clock"), false;
    Warmpool__Agent__V1__SetClockResponse *out = calloc(1, sizeof(result_storage_t));
    if (out == NULL)
        return fail(resp, ENOMEM, "set clock"), false;
    warmpool__agent__v1__set_clock_response__init(out);
    out->previous_realtime_ns = before;
    out->realtime_ns = after;
    resp->result_case = WARMPOOL__AGENT__V1__RESPONSE__RESULT_SET_CLOCK;
    resp->set_clock = out;
    return false;
}

static bool handle_random(agent_ctx_t *ctx, const Warmpool__Agent__V1__RandomSampleRequest *in,
                          Warmpool__Agent__V1__Response *resp)
{
    if (in->length < 1 || in->length > AGENT_SAMPLE_MAX)
        return fail(resp, EINVAL, "random sample wants 1 to 256 bytes"), false;
    Warmpool__Agent__V1__RandomSampleResponse *out =
        calloc(1, sizeof(result_storage_t) + in->length);
    if (out == NULL)
        return fail(resp, ENOMEM, "random sample"), false;
    warmpool__agent__v1__random_sample_response__init(out);
    out->data.data = (uint8_t *)out + sizeof(result_storage_t);
    out->data.len = in->length;
    int ret = ctx->sys->random_bytes(ctx->sys_opaque, out->data.data, in->length);
    if (ret < 0) {
        free(out);
        return fail(resp, -ret, "random sample"), false;
    }
    resp->result_case = WARMPOOL__AGENT__V1__RESPONSE__RESULT_RANDOM_SAMPLE;
    resp->random_sample = out;
    return false;
}

static bool handle_info(agent_ctx_t *ctx, Warmpool__Agent__V1__Response *resp)
{
    info_storage_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return fail(resp, ENOMEM, "info"), false;
    int ret = ctx->sys->info(ctx->sys_opaque, &s->sys);
    if (ret < 0) {
        free(s);
        return fail(resp, -ret, "info"), false;
    }
    Warmpool__Agent__V1__InfoResponse *out = &s->info; /* first member: free(out) frees s */
    warmpool__agent__v1__info_response__init(out);
    out->agent_version = (char *)ctx->version;
    out->boot_id = ctx->boot_id;
    out->kernel_release = s->sys.kernel_release;
    out->uptime_ns = s->sys.uptime_ns;
    out->mem_total_bytes = s->sys.mem_total_bytes;
    out->mem_available_bytes = s->sys.mem_available_bytes;
    out->realtime_ns = s->sys.realtime_ns;
    out->online_cpus = s->sys.online_cpus;
    resp->result_case = WARMPOOL__AGENT__V1__RESPONSE__RESULT_INFO;
    resp->info = out;
    return false;
}

static bool handle_shutdown(Warmpool__Agent__V1__Response *resp)
{
    Warmpool__Agent__V1__ShutdownResponse *out = calloc(1, sizeof(result_storage_t));
    if (out == NULL)
        return fail(resp, ENOMEM, "shutdown"), false;
    warmpool__agent__v1__shutdown_response__init(out);
    resp->result_case = WARMPOOL__AGENT__V1__RESPONSE__RESULT_SHUTDOWN;
    resp->shutdown = out;
    return true;
}

bool agent_handle(agent_ctx_t *ctx, const Warmpool__Agent__V1__Request *req,
                  Warmpool__Agent__V1__Response *resp)
{
    switch (req->call_case) {
    case WARMPOOL__AGENT__V1__REQUEST__CALL_PING:
        return handle_ping(req->ping, resp);
    case WARMPOOL__AGENT__V1__REQUEST__CALL_RESEED:
        return handle_reseed(ctx, req->reseed, resp);
    case WARMPOOL__AGENT__V1__REQUEST__CALL_SET_CLOCK:
        return handle_set_clock(ctx, req->set_clock, resp);
    case WARMPOOL__AGENT__V1__REQUEST__CALL_RANDOM_SAMPLE:
        return handle_random(ctx, req->random_sample, resp);
    case WARMPOOL__AGENT__V1__REQUEST__CALL_INFO:
        return handle_info(ctx, resp);
    case WARMPOOL__AGENT__V1__REQUEST__CALL_SHUTDOWN:
        return handle_shutdown(resp);
    default:
        fail(resp, EOPNOTSUPP, "request");
        return false;
    }
}

void agent_response_fini(Warmpool__Agent__V1__Response *resp)
{
    /* the result is a oneof (a union of pointers) and every result, the
     * container calls' included (agent_containers_calls.c), is one calloc'd
     * block whose address is the member: one free covers every case */
    if (resp->result_case != WARMPOOL__AGENT__V1__RESPONSE__RESULT__NOT_SET)
        free(resp->ping);
    resp->result_case = WARMPOOL__AGENT__V1__RESPONSE__RESULT__NOT_SET;
}

void agent_announce_fill(agent_ctx_t *ctx, Warmpool__Agent__V1__Announce *a)
{
    warmpool__agent__v1__announce__init(a);
    a->agent_version = (char *)ctx->version;
    a->boot_id = ctx->boot_id;
    a->protocol_version = AGENT_PROTOCOL_VERSION;
    agent_sys_info_t info = {0};
    if (ctx->sys->info(ctx->sys_opaque, &info) == 0)
        a->uptime_ns = info.uptime_ns;
}
