/* api_codec.c - pool structs <-> pool.proto messages (contract in api_codec.h). */
#include "api_codec.h"

#include <errno.h>  /* EBADMSG, ENOMEM */
#include <stdlib.h> /* calloc, free */
#include <string.h> /* strlen, memcpy */

/* A header before each allocation; max_align_t keeps the payload aligned. */
typedef struct api_arena_block {
    struct api_arena_block *next;
    max_align_t payload[];
} api_arena_block_t;

void *api_arena_alloc(api_arena_t *a, size_t size)
{
    api_arena_block_t *b = calloc(1, sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->next = a->head;
    a->head = b;
    return b->payload;
}

void api_arena_free(api_arena_t *a)
{
    while (a->head != NULL) {
        api_arena_block_t *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

int api_pack(const ProtobufCMessage *m, nng_msg **out, wp_error_t *err)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    nng_msg *msg;
    int rv = nng_msg_alloc(&msg, len);
    if (rv != 0)
        return wp_error_set(err, ENOMEM, "message of %zu bytes: %s", len, nng_strerror(rv));
    protobuf_c_message_pack(m, nng_msg_body(msg));
    *out = msg;
    return 0;
}

pb_request_t *api_request_unpack(const void *buf, size_t len, wp_error_t *err)
{
    pb_request_t *r = warmpool__pool__v1__request__unpack(NULL, len, buf);
    if (r == NULL)
        wp_error_set(err, EBADMSG, "request of %zu bytes is not a warmpool.pool.v1.Request", len);
    return r;
}

pb_response_t *api_response_unpack(const void *buf, size_t len, wp_error_t *err)
{
    pb_response_t *r = warmpool__pool__v1__response__unpack(NULL, len, buf);
    if (r == NULL)
        wp_error_set(err, EBADMSG, "reply of %zu bytes is not a warmpool.pool.v1.Response", len);
    return r;
}

const char *api_call_name(const pb_request_t *req)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(req->base.descriptor, req->call_case);
    return f != NULL ? f->name : "none";
}

/* Copy a wire string into a fixed buffer; EBADMSG if it does not fit. */
static int copy_field(char *dst, size_t cap, const char *src, const char *field, wp_error_t *err)
{
    size_t len = src ? strlen(src) : 0;
    if (len >= cap)
        return wp_error_set(err, EBADMSG, "field '%s' is %zu bytes, more than %zu", field, len,
                            cap - 1);
    if (len > 0)
        memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

#define COPY(dst, src, field)                                                                      \
    do {                                                                                           \
        if (copy_field((dst), sizeof(dst), (src), (field), err) < 0)                               \
            return -1;                                                                             \
    } while (0)

/* protobuf-c wants char *; the message never writes through it. */
#define STR(s) ((char *)(s))

void api_lease_to_pb(const pool_lease_t *in, pb_lease_t *out)
{
    warmpool__pool__v1__lease__init(out);
    out->vm_id = STR(in->vm.id);
    out->token = STR(in->token);
    out->template_ = STR(in->template_name);
    out->agent_endpoint = STR(in->vm.agent_endpoint);
    out->runtime_dir = STR(in->vm.runtime_dir);
    out->shared_dir = STR(in->vm.shared_dir);
    out->pid = in->vm.pid;
    out->hit = in->hit;
    out->wait_ms = in->wait_ms;
}

int api_lease_from_pb(const pb_lease_t *in, pool_lease_t *out, wp_error_t *err)
{
    memset(out, 0, sizeof(*out));
    COPY(out->vm.id, in->vm_id, "vm_id");
    COPY(out->token, in->token, "token");
    COPY(out->template_name, in->template_, "template");
    COPY(out->vm.agent_endpoint, in->agent_endpoint, "agent_endpoint");
    COPY(out->vm.runtime_dir, in->runtime_dir, "runtime_dir");
    COPY(out->vm.shared_dir, in->shared_dir, "shared_dir");
    out->vm.pid = in->pid;
    out->hit = in->hit;
    out->wait_ms = in->wait_ms;
    return 0;
}

void api_lease_summary_to_pb(const pool_lease_summary_t *in, pb_lease_summary_t *out)
{
    warmpool__pool__v1__lease_summary__init(out);
    out->vm_id = STR(in->vm.id);
    out->template_ = STR(in->template_name);
    out->agent_endpoint = STR(in->vm.agent_endpoint);
    out->runtime_dir = STR(in->vm.runtime_dir);
    out->shared_dir = STR(in->vm.shared_dir);
    out->pid = in->vm.pid;
    out->state = in->state == POOL_LEASE_DEAD ? WARMPOOL__POOL__V1__LEASE_STATE__LEASE_STATE_DEAD
                                              : WARMPOOL__POOL__V1__LEASE_STATE__LEASE_STATE_ACTIVE;
    out->leased_at_ns = in->leased_at_ns;
}

int api_lease_summary_from_pb(const pb_lease_summary_t *in, pool_lease_summary_t *out,
                              wp_error_t *err)
{
    memset(out, 0, sizeof(*out));
    COPY(out->vm.id, in->vm_id, "vm_id");
    COPY(out->template_name, in->template_, "template");
    COPY(out->vm.agent_endpoint, in->agent_endpoint, "agent_endpoint");
    COPY(out->vm.runtime_dir, in->runtime_dir, "runtime_dir");
    COPY(out->vm.shared_dir, in->shared_dir, "shared_dir");
    out->vm.pid = in->pid;
    out->state = in->state == WARMPOOL__POOL__V1__LEASE_STATE__LEASE_STATE_DEAD ? POOL_LEASE_DEAD
                                                                                : POOL_LEASE_ACTIVE;
    out->leased_at_ns = in->leased_at_ns;
    return 0;
}

Warmpool__Pool__V1__Sizing api_sizing_to_pb(pool_sizing_mode_t m)
{
    return m == POOL_SIZING_AUTO ? WARMPOOL__POOL__V1__SIZING__SIZING_AUTO
                                 : WARMPOOL__POOL__V1__SIZING__SIZING_FIXED;
}

int api_sizing_from_pb(Warmpool__Pool__V1__Sizing in, pool_sizing_mode_t *out, wp_error_t *err)
{
    switch (in) {
    case WARMPOOL__POOL__V1__SIZING__SIZING_FIXED:
        *out = POOL_SIZING_FIXED;
        return 0;
    case WARMPOOL__POOL__V1__SIZING__SIZING_AUTO:
        *out = POOL_SIZING_AUTO;
        return 0;
    default:
        return wp_error_set(err, EBADMSG, "unknown sizing mode %d", (int)in);
    }
}

static int histogram_to_pb(api_arena_t *a, const pool_histogram_snapshot_t *in,
                           pb_histogram_t **out, wp_error_t *err)
{
    pb_histogram_t *h = api_arena_alloc(a, sizeof(*h));
    uint64_t *buckets = api_arena_alloc(a, sizeof(in->buckets));
    if (h == NULL || buckets == NULL)
        return wp_error_errno(err, ENOMEM, "histogram");
    warmpool__pool__v1__histogram__init(h);
    memcpy(buckets, in->buckets, sizeof(in->buckets));
    h->buckets = buckets;
    h->n_buckets = POOL_HIST_BOUNDS + 1;
    h->count = in->count;
    h->sum_ns = in->sum_ns;
    *out = h;
    return 0;
}

/* A missing histogram is an empty one; a different bucket layout is not
 * ours to reinterpret. */
static int histogram_from_pb(const pb_histogram_t *in, pool_histogram_snapshot_t *out,
                             wp_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (in == NULL)
        return 0;
    if (in->n_buckets != 0 && in->n_buckets != POOL_HIST_BOUNDS + 1)
        return wp_error_set(err, EBADMSG, "histogram has %zu buckets, expected %d", in->n_buckets,
                            POOL_HIST_BOUNDS + 1);
    for (size_t i = 0; i < in->n_buckets; i++)
        out->buckets[i] = in->buckets[i];
    out->count = in->count;
    out->sum_ns = in->sum_ns;
    return 0;
}

/* The counters and gauges pool_template_status_t and its protobuf message
 * share by name and type: copied the same way in both directions. */
#define TEMPLATE_STATUS_SCALARS(X)                                                                 \
    X(target)                                                                                      \
    X(min)                                                                                         \
    X(max)                                                                                         \
    X(warm)                                                                                        \
    X(cloning)                                                                                     \
    X(leased) X(dead) X(acquire_hits) X(acquire_misses) X(acquire_failures) X(clones)              \
        X(clone_failures) X(releases) X(deaths) X(acquire_p50_ms) X(acquire_p99_ms)                \
            X(clone_p50_ms) X(clone_p99_ms) X(demand_per_s)

int api_template_status_to_pb(api_arena_t *a, const pool_template_status_t *in,
                              pb_template_status_t *out, wp_error_t *err)
{
    warmpool__pool__v1__template_status__init(out);
    out->name = STR(in->name);
    out->sizing = api_sizing_to_pb(in->sizing);
    out->warm_state = in->warm_state == POOL_WARM_RUNNING
                          ? WARMPOOL__POOL__V1__WARM_STATE__WARM_STATE_RUNNING
                          : WARMPOOL__POOL__V1__WARM_STATE__WARM_STATE_PAUSED;
#define COPY_SCALAR(field) out->field = in->field;
    TEMPLATE_STATUS_SCALARS(COPY_SCALAR)
#undef COPY_SCALAR
    if (histogram_to_pb(a, &in->acquire_latency, &out->acquire_latency, err) < 0 ||
        histogram_to_pb(a, &in->clone_latency, &out->clone_latency, err) < 0)
        return -1;
    return 0;
}

int api_template_status_from_pb(const pb_template_status_t *in, pool_template_status_t *out,
                                wp_error_t *err)
{
    memset(out, 0, sizeof(*out));
    COPY(out->name, in->name, "name");
    if (api_sizing_from_pb(in->sizing, &out->sizing, err) < 0)
        return -1;
    out->warm_state = in->warm_state == WARMPOOL__POOL__V1__WARM_STATE__WARM_STATE_RUNNING
                          ? POOL_WARM_RUNNING
                          : POOL_WARM_PAUSED;
#define COPY_SCALAR(field) out->field = in->field;
    TEMPLATE_STATUS_SCALARS(COPY_SCALAR)
#undef COPY_SCALAR
    if (histogram_from_pb(in->acquire_latency, &out->acquire_latency, err) < 0 ||
        histogram_from_pb(in->clone_latency, &out->clone_latency, err) < 0)
        return wp_error_wrap(err, "template '%s'", out->name);
    return 0;
}

int api_status_list_to_pb(api_arena_t *a, const pool_template_status_t *in, size_t n,
                          pb_template_status_t ***out, wp_error_t *err)
{
    pb_template_status_t **list = api_arena_alloc(a, (n ? n : 1) * sizeof(*list));
    pb_template_status_t *rows = api_arena_alloc(a, (n ? n : 1) * sizeof(*rows));
    if (list == NULL || rows == NULL)
        return wp_error_errno(err, ENOMEM, "status of %zu templates", n);
    for (size_t i = 0; i < n; i++) {
        if (api_template_status_to_pb(a, &in[i], &rows[i], err) < 0)
            return -1;
        list[i] = &rows[i];
    }
    *out = list;
    return 0;
}

int api_status_list_from_pb(pb_template_status_t *const *in, size_t n, pool_template_status_t **out,
                            size_t *count, wp_error_t *err)
{
    pool_template_status_t *list = calloc(n ? n : 1, sizeof(*list));
    if (list == NULL)
        return wp_error_errno(err, ENOMEM, "status of %zu templates", n);
    for (size_t i = 0; i < n; i++) {
        if (api_template_status_from_pb(in[i], &list[i], err) < 0) {
            free(list);
            return -1;
        }
    }
    *out = list;
    *count = n;
    return 0;
}
