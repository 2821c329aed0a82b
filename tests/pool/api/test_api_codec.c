/* test_api_codec.c - pool structs survive a trip through the wire format
 * (to protobuf, packed, unpacked, back), and hostile field sizes are
 * refused instead of truncated. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_codec.h"

/* Pack a Response carrying `set` up, unpack it; caller frees. */
static pb_response_t *round_trip(pb_response_t *resp)
{
    nng_msg *msg = NULL;
    wp_error_t err = {0};
    cr_assert_eq(api_pack(&resp->base, &msg, &err), 0, "%s", err.msg);
    pb_response_t *back = api_response_unpack(nng_msg_body(msg), nng_msg_len(msg), &err);
    cr_assert_not_null(back, "%s", err.msg);
    nng_msg_free(msg);
    return back;
}

Test(api_codec, lease_round_trip)
{
    pool_lease_t in;
    memset(&in, 0, sizeof(in)); /* padding too: compared with memcmp */
    in.hit = true;
    in.wait_ms = 0.25;
    snprintf(in.token, sizeof(in.token), "%032x", 0xabcdef);
    snprintf(in.template_name, sizeof(in.template_name), "small");
    snprintf(in.vm.id, sizeof(in.vm.id), "wp-small-0001");
    snprintf(in.vm.agent_endpoint, sizeof(in.vm.agent_endpoint), "unix:/run/wp/vms/x/agent.sock");
    snprintf(in.vm.runtime_dir, sizeof(in.vm.runtime_dir), "/run/wp/vms/x");
    snprintf(in.vm.shared_dir, sizeof(in.vm.shared_dir), "/run/wp/vms/x/shared");
    in.vm.pid = 4242;
    pb_lease_t pb;
    api_lease_to_pb(&in, &pb);
    pb_response_t resp = WARMPOOL__POOL__V1__RESPONSE__INIT;
    resp.result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_LEASE;
    resp.lease = &pb;
    _cleanup_pb_response_ pb_response_t *back = round_trip(&resp);
    cr_assert_eq(back->result_case, WARMPOOL__POOL__V1__RESPONSE__RESULT_LEASE);
    pool_lease_t out;
    wp_error_t err = {0};
    cr_assert_eq(api_lease_from_pb(back->lease, &out, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(&in, &out, sizeof(in)), 0, "every field, byte for byte");
}

Test(api_codec, lease_summary_round_trip)
{
    pool_lease_summary_t in;
    memset(&in, 0, sizeof(in));
    in.state = POOL_LEASE_DEAD;
    in.leased_at_ns = 1700000000123456789LL;
    snprintf(in.template_name, sizeof(in.template_name), "t");
    snprintf(in.vm.id, sizeof(in.vm.id), "wp-t-7");
    snprintf(in.vm.agent_endpoint, sizeof(in.vm.agent_endpoint), "vsock:3:1024");
    in.vm.pid = 7;
    pb_lease_summary_t row, *rows[] = {&row};
    api_lease_summary_to_pb(&in, &row);
    Warmpool__Pool__V1__LeaseList list = WARMPOOL__POOL__V1__LEASE_LIST__INIT;
    list.leases = rows;
    list.n_leases = 1;
    pb_response_t resp = WARMPOOL__POOL__V1__RESPONSE__INIT;
    resp.result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_LEASES;
    resp.leases = &list;
    _cleanup_pb_response_ pb_response_t *back = round_trip(&resp);
    cr_assert_eq(back->leases->n_leases, 1);
    pool_lease_summary_t out;
    cr_assert_eq(api_lease_summary_from_pb(back->leases->leases[0], &out, NULL), 0);
    cr_assert_eq(memcmp(&in, &out, sizeof(in)), 0);
}

Test(api_codec, template_status_round_trip_with_histograms)
{
    pool_template_status_t in[2];
    memset(in, 0, sizeof(in));
    for (int i = 0; i < 2; i++) {
        pool_template_status_t *s = &in[i];
        snprintf(s->name, sizeof(s->name), "tpl%d", i);
        s->sizing = i ? POOL_SIZING_AUTO : POOL_SIZING_FIXED;
        s->warm_state = i ? POOL_WARM_RUNNING : POOL_WARM_PAUSED;
        s->target = 3, s->min = 1, s->max = 9, s->warm = 2, s->cloning = 1, s->leased = 4;
        s->dead = 1, s->acquire_hits = 1000000007ULL, s->acquire_misses = 5;
        s->acquire_failures = 6, s->clones = 7, s->clone_failures = 8, s->releases = 9;
        s->deaths = 10, s->acquire_p50_ms = 0.5, s->acquire_p99_ms = 2.5;
        s->clone_p50_ms = 40, s->clone_p99_ms = 90, s->demand_per_s = 1.75;
        for (int b = 0; b <= POOL_HIST_BOUNDS; b++) {
            s->acquire_latency.buckets[b] = (uint64_t)(b * 3 + i);
            s->clone_latency.buckets[b] = (uint64_t)(b + 100);
        }
        s->acquire_latency.count = 77, s->acquire_latency.sum_ns = 123456789;
        s->clone_latency.count = 88, s->clone_latency.sum_ns = 987654321;
    }
    _cleanup_api_arena_ api_arena_t arena = {0};
    Warmpool__Pool__V1__StatusResponse st = WARMPOOL__POOL__V1__STATUS_RESPONSE__INIT;
    wp_error_t err = {0};
    cr_assert_eq(api_status_list_to_pb(&arena, in, 2, &st.templates, &err), 0, "%s", err.msg);
    st.n_templates = 2;
    pb_response_t resp = WARMPOOL__POOL__V1__RESPONSE__INIT;
    resp.result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_STATUS;
    resp.status = &st;
    _cleanup_pb_response_ pb_response_t *back = round_trip(&resp);
    pool_template_status_t *out = NULL;
    size_t n = 0;
    cr_assert_eq(
        api_status_list_from_pb(back->status->templates, back->status->n_templates, &out, &n, &err),
        0, "%s", err.msg);
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(in, out, sizeof(in)), 0, "every field of both rows");
    free(out);
}

Test(api_codec, fields_that_do_not_fit_are_ebadmsg_not_truncated)
{
    char long_id[POOL_VM_ID_MAX + 10];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    pb_lease_t pb = WARMPOOL__POOL__V1__LEASE__INIT;
    pb.vm_id = long_id;
    pool_lease_t out;
    wp_error_t err = {0};
    cr_assert_eq(api_lease_from_pb(&pb, &out, &err), -1);
    cr_assert_eq(err.code, EBADMSG);
    cr_assert(strstr(err.msg, "vm_id"), "names the field: %s", err.msg);
    pb_template_status_t st = WARMPOOL__POOL__V1__TEMPLATE_STATUS__INIT;
    pb_histogram_t h = WARMPOOL__POOL__V1__HISTOGRAM__INIT;
    uint64_t three[3] = {1, 2, 3};
    h.buckets = three;
    h.n_buckets = 3;
    st.acquire_latency = &h;
    pool_template_status_t s;
    cr_assert_eq(api_template_status_from_pb(&st, &s, &err), -1, "a foreign bucket layout");
    cr_assert_eq(err.code, EBADMSG);
    pool_sizing_mode_t m;
    cr_assert_eq(api_sizing_from_pb((Warmpool__Pool__V1__Sizing)7, &m, &err), -1);
    cr_assert_eq(err.code, EBADMSG);
}

Test(api_codec, call_names_and_garbage)
{
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    cr_assert_str_eq(api_call_name(&req), "none");
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_SET_SIZE;
    cr_assert_str_eq(api_call_name(&req), "set_size");
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    wp_error_t err = {0};
    cr_assert_null(api_request_unpack(junk, sizeof(junk), &err));
    cr_assert_eq(err.code, EBADMSG);
}
