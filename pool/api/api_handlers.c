/* api_handlers.c - one short function per API call (contract in
 * api_internal.h): unpack the request's fields, call the pool or the
 * factory, build the result in the call's arena. Errors keep the pool's
 * errno and message, so a client sees exactly what pool.h documents.
 * Threads: nng's callback threads (call->nowait) and the server's worker
 * threads, any number at once. */
#include "api_internal.h"

#include <errno.h>  /* ENOTSUP, EOPNOTSUPP, ESHUTDOWN */
#include <stdlib.h> /* free */
#include <string.h> /* memcpy, strlen, strcmp */
#include <unistd.h> /* getpid */

#include "wp_cleanup.h"
#include "wp_time.h"

#define WATCH_SLICE_NS (200 * 1000000LL) /* how soon a long poll notices the server stopping */

/* Allocate a zeroed protobuf-c message in the arena and init it. */
#define NEW_MSG(call, type, init_fn)                                                               \
    ({                                                                                             \
        type *m_ = api_arena_alloc(&(call)->arena, sizeof(type));                                  \
        if (m_ != NULL)                                                                            \
            init_fn(m_);                                                                           \
        m_;                                                                                        \
    })

static int oom(api_call_t *c)
{
    return wp_error_errno(&c->err, ENOMEM, "%s reply", api_call_name(c->req));
}

/* Copy heap memory into the arena so it lives until the reply is packed. */
static void *arena_dup(api_call_t *c, const void *p, size_t len)
{
    void *copy = api_arena_alloc(&c->arena, len ? len : 1);
    if (copy != NULL && len > 0)
        memcpy(copy, p, len);
    return copy;
}

static int64_t clamp_ms(uint32_t ms, uint32_t dflt, uint32_t cap)
{
    if (ms == 0)
        ms = dflt;
    return (int64_t)(ms < cap ? ms : cap) * 1000000;
}

static int do_acquire(api_call_t *c)
{
    const Warmpool__Pool__V1__AcquireRequest *r = c->req->acquire;
    c->deadline_ns = c->received_ns + clamp_ms(r->timeout_ms, API_ACQUIRE_DEFAULT_TIMEOUT_MS,
                                               API_ACQUIRE_MAX_TIMEOUT_MS);
    pool_acquire_options_t opt = {.fail_fast = r->fail_fast, .deadline_ns = c->deadline_ns};
    if (c->nowait) {
        int rc = pool_acquire_nowait(c->pool, r->template_, &c->lease, &c->err);
        if (rc <= 0)
            return rc < 0 ? -1 : API_CALL_BLOCKS;
    } else if (pool_acquire(c->pool, r->template_, &opt, &c->lease, &c->err) < 0) {
        return -1;
    }
    c->holds_lease = true;
    pb_lease_t *l = api_arena_alloc(&c->arena, sizeof(*l));
    if (l == NULL)
        return oom(c);
    api_lease_to_pb(&c->lease, l);
    c->resp->result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_LEASE;
    c->resp->lease = l;
    return 0;
}

static int do_release(api_call_t *c)
{
    const Warmpool__Pool__V1__ReleaseRequest *r = c->req->release;
    pool_release_result_t res = {0};
    if (pool_release(c->pool, r->vm_id, r->token, &res, &c->err) < 0)
        return -1;
    Warmpool__Pool__V1__ReleaseResponse *m =
        NEW_MSG(c, Warmpool__Pool__V1__ReleaseResponse, warmpool__pool__v1__release_response__init);
    if (m == NULL)
        return oom(c);
    m->vm_died = res.vm_died;
    c->resp->result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_RELEASE;
    c->resp->release = m;
    return 0;
}

static int do_lease_check(api_call_t *c)
{
    const Warmpool__Pool__V1__LeaseCheckRequest *r = c->req->lease_check;
    pool_lease_state_t state;
    if (pool_lease_check(c->pool, r->vm_id, r->token, &state, &c->err) < 0)
        return -1;
    Warmpool__Pool__V1__LeaseCheckResponse *m = NEW_MSG(
        c, Warmpool__Pool__V1__LeaseCheckResponse, warmpool__pool__v1__lease_check_response__init);
    if (m == NULL)
        return oom(c);
    m->state = state == POOL_LEASE_DEAD ? WARMPOOL__POOL__V1__LEASE_STATE__LEASE_STATE_DEAD
                                        : WARMPOOL__POOL__V1__LEASE_STATE__LEASE_STATE_ACTIVE;
    c->resp->result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_LEASE_CHECK;
    c->resp->lease_check = m;
    return 0;
}

static int do_leases(api_call_t *c)
{
    _cleanup_free_ pool_lease_summary_t *list = NULL;
    size_t n = 0;
    if (pool_leases(c->pool, &list, &n, &c->err) < 0)
        return -1;
    pool_lease_summary_t *kept = arena_dup(c, list, n * sizeof(*list));
    pb_lease_summary_t *rows = api_arena_alloc(&c->arena, (n ? n : 1) * sizeof(*rows));
    pb_lease_summary_t **ptrs = api_arena_alloc(&c->arena, (n ? n : 1) * sizeof(*ptrs));
    Warmpool__Pool__V1__LeaseList *m =
        NEW_MSG(c, Warmpool__Pool__V1__LeaseList, warmpool__pool__v1__lease_list__init);
    if (kept == NULL || rows == NULL || ptrs == NULL || m == NULL)
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        api_lease_summary_to_pb(&kept[i], &rows[i]);
        ptrs[i] = &rows[i];
    }
    m->leases = ptrs;
    m->n_leases = n;
    c->resp->result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_LEASES;
    c->resp->leases = m;
    return 0;
}

/* The pool's status as arena rows; *n entries. */
static int status_rows(api_call_t *c, pb_template_status_t ***rows, size_t *n)
{
    _cleanup_free_ pool_template_status_t *list = NULL;
    if (pool_status(c->pool, &list, n, &c->err) < 0)
        return -1;
    pool_template_status_t *kept = arena_dup(c, list, *n * sizeof(*list));
    if (kept == NULL)
        return oom(c);
    return api_status_list_to_pb(&c->arena, kept, *n, rows, &c->err);
}

static int do_status(api_call_t *c)
{
    Warmpool__Pool__V1__StatusResponse *m =
        NEW_MSG(c, Warmpool__Pool__V1__StatusResponse, warmpool__pool__v1__status_response__init);
    if (m == NULL)
        return oom(c);
    if (status_rows(c, &m->templates, &m->n_templates) < 0)
        return -1;
    c->resp->result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_STATUS;
    c->resp->status = m;
    return 0;
}

static int do_set_size(api_call_t *c)
{
    const Warmpool__Pool__V1__SetSizeRequest *r = c->req->set_size;
    pool_size_t size = {.target = r->target, .min = r->min, .max = r->max};
    if (api_sizing_from_pb(r->sizing, &size.sizing, &c->err) < 0 ||
        pool_set_size(c->pool, r->template_, &size, &c->err) < 0)
        return -1;
    Warmpool__Pool__V1__SetSizeResponse *m = NEW_MSG(c, Warmpool__Pool__V1__SetSizeResponse,
                                                     warmpool__pool__v1__set_size_response__init);
    pb_template_status_t **rows = NULL;
    size_t n = 0;
    if (m == NULL)
        return oom(c);
    if (status_rows(c, &rows, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i]->name, r->template_) == 0)
            m->status = rows[i];
    c->resp->result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_SET_SIZE;
    c->resp->set_size = m;
    return 0;
}

static int need_factory(api_call_t *c)
{
    if (c->factory != NULL)
        return 0;
    return wp_error_set(&c->err, ENOTSUP, "%s: this warmpoold serves no template store",
                        api_call_name(c->req));
}

/* Take a malloc'd string into the arena (freeing it); NULL stays NULL. */
static char *arena_take_str(api_call_t *c, char *s)
{
    if (s == NULL)
        return NULL;
    char *copy = arena_dup(c, s, strlen(s) + 1);
    free(s);
    return copy;
}

static int do_template_build(api_call_t *c)
{
    const Warmpool__Pool__V1__TemplateBuildRequest *r = c->req->template_build;
    if (need_factory(c) < 0)
        return -1;
    factory_template_spec_t spec = {
        .name = r->name,
        .kernel = r->kernel,
        .initrd = r->initrd,
        .cmdline = r->cmdline[0] ? r->cmdline : NULL,
        .memory_mib = r->memory_mib,
        .vcpus = r->vcpus,
        .replace = r->force,
        .backend = r->backend[0] ? r->backend : NULL,
    };
    if (factory_template_build(c->factory, &spec, NULL, NULL, &c->err) < 0)
        return -1;
    Warmpool__Pool__V1__TemplateBuildResponse *m =
        NEW_MSG(c, Warmpool__Pool__V1__TemplateBuildResponse,
                warmpool__pool__v1__template_build_response__init);
    if (m == NULL)
        return oom(c);
    m->name = (char *)r->name;
    m->build_ms = wp_ms_between(c->received_ns, wp_now_mono_ns());
    m->manifest_json =
        arena_take_str(c, factory_template_manifest_json(c->factory, r->name, &c->err));
    if (m->manifest_json == NULL)
        return -1;
    c->resp->result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_TEMPLATE_BUILD;
    c->resp->template_build = m;
    return 0;
}

static int do_template_list(api_call_t *c)
{
    if (need_factory(c) < 0)
        return -1;
    char **names = NULL;
    size_t n = 0;
    if (factory_template_list(c->factory, &names, &n, &c->err) < 0)
        return -1;
    Warmpool__Pool__V1__TemplateListResponse *m =
        NEW_MSG(c, Warmpool__Pool__V1__TemplateListResponse,
                warmpool__pool__v1__template_list_response__init);
    Warmpool__Pool__V1__TemplateInfo *rows =
        api_arena_alloc(&c->arena, (n ? n : 1) * sizeof(*rows));
    Warmpool__Pool__V1__TemplateInfo **ptrs =
        api_arena_alloc(&c->arena, (n ? n : 1) * sizeof(*ptrs));
    int ret = m && rows && ptrs ? 0 : oom(c);
    for (size_t i = 0; i < n && ret == 0; i++) {
        warmpool__pool__v1__template_info__init(&rows[i]);
        rows[i].name = arena_dup(c, names[i], strlen(names[i]) + 1);
        /* an unreadable manifest must not hide the other templates */
        char *json = arena_take_str(c, factory_template_manifest_json(c->factory, names[i], NULL));
        if (json != NULL)
            rows[i].manifest_json = json;
        if (rows[i].name == NULL)
            ret = oom(c);
        ptrs[i] = &rows[i];
    }
    factory_names_free(names, n);
    if (ret < 0)
        return -1;
    m->templates = ptrs;
    m->n_templates = n;
    c->resp->result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_TEMPLATE_LIST;
    c->resp->template_list = m;
    return 0;
}

static int do_template_remove(api_call_t *c)
{
    if (need_factory(c) < 0 ||
        factory_template_remove(c->factory, c->req->template_remove->name, &c->err) < 0)
        return -1;
    Warmpool__Pool__V1__TemplateRemoveResponse *m =
        NEW_MSG(c, Warmpool__Pool__V1__TemplateRemoveResponse,
                warmpool__pool__v1__template_remove_response__init);
    if (m == NULL)
        return oom(c);
    c->resp->result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_TEMPLATE_REMOVE;
    c->resp->template_remove = m;
    return 0;
}

/* Long poll in slices, so that api_server_stop never waits out a watch. */
static int do_watch(api_call_t *c)
{
    const Warmpool__Pool__V1__WatchRequest *r = c->req->watch;
    int64_t end = c->received_ns + clamp_ms(r->timeout_ms, API_WATCH_DEFAULT_TIMEOUT_MS,
                                            API_WATCH_DEFAULT_TIMEOUT_MS);
    uint64_t gen = r->generation;
    int rc;
    for (;;) {
        int64_t now = wp_now_mono_ns();
        int64_t slice = now + WATCH_SLICE_NS < end ? now + WATCH_SLICE_NS : end;
        rc = pool_wait_change(c->pool, &gen, slice);
        if (rc != 0 || wp_now_mono_ns() >= end || atomic_load(c->stopping))
            break;
    }
    if (rc < 0)
        return wp_error_set(&c->err, ESHUTDOWN, "watch: the pool is closing");
    Warmpool__Pool__V1__WatchResponse *m =
        NEW_MSG(c, Warmpool__Pool__V1__WatchResponse, warmpool__pool__v1__watch_response__init);
    if (m == NULL)
        return oom(c);
    m->generation = gen;
    m->changed = rc == 1;
    if (status_rows(c, &m->templates, &m->n_templates) < 0)
        return -1;
    c->resp->result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_WATCH;
    c->resp->watch = m;
    return 0;
}

static int do_health(api_call_t *c)
{
    _cleanup_free_ pool_template_status_t *tpls = NULL;
    _cleanup_free_ pool_lease_summary_t *leases = NULL;
    size_t n_tpls = 0, n_leases = 0;
    if (pool_status(c->pool, &tpls, &n_tpls, &c->err) < 0 ||
        pool_leases(c->pool, &leases, &n_leases, &c->err) < 0)
        return -1;
    Warmpool__Pool__V1__HealthResponse *m =
        NEW_MSG(c, Warmpool__Pool__V1__HealthResponse, warmpool__pool__v1__health_response__init);
    if (m == NULL)
        return oom(c);
    m->version = (char *)WP_VERSION;
    m->uptime_ms = (uint64_t)((wp_now_mono_ns() - c->server_started_ns) / 1000000);
    m->templates = (uint32_t)n_tpls;
    m->leases = (uint32_t)n_leases;
    m->pid = (int32_t)getpid();
    m->protocol_version = API_PROTOCOL_VERSION;
    c->resp->result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT_HEALTH;
    c->resp->health = m;
    return 0;
}

/* Calls that may sleep: a VM destroy, a long poll, the template store. */
static bool may_block(const pb_request_t *req)
{
    switch (req->call_case) {
    case WARMPOOL__POOL__V1__REQUEST__CALL_ACQUIRE: /* decides for itself */
    case WARMPOOL__POOL__V1__REQUEST__CALL_LEASE_CHECK:
    case WARMPOOL__POOL__V1__REQUEST__CALL_LEASES:
    case WARMPOOL__POOL__V1__REQUEST__CALL_STATUS:
    case WARMPOOL__POOL__V1__REQUEST__CALL_HEALTH:
        return false;
    default:
        return true;
    }
}

int api_dispatch(api_call_t *c)
{
    if (c->nowait && may_block(c->req))
        return API_CALL_BLOCKS;
    switch (c->req->call_case) {
    case WARMPOOL__POOL__V1__REQUEST__CALL_ACQUIRE:
        return do_acquire(c);
    case WARMPOOL__POOL__V1__REQUEST__CALL_RELEASE:
        return do_release(c);
    case WARMPOOL__POOL__V1__REQUEST__CALL_LEASE_CHECK:
        return do_lease_check(c);
    case WARMPOOL__POOL__V1__REQUEST__CALL_LEASES:
        return do_leases(c);
    case WARMPOOL__POOL__V1__REQUEST__CALL_STATUS:
        return do_status(c);
    case WARMPOOL__POOL__V1__REQUEST__CALL_SET_SIZE:
        return do_set_size(c);
    case WARMPOOL__POOL__V1__REQUEST__CALL_TEMPLATE_BUILD:
        return do_template_build(c);
    case WARMPOOL__POOL__V1__REQUEST__CALL_TEMPLATE_LIST:
        return do_template_list(c);
    case WARMPOOL__POOL__V1__REQUEST__CALL_TEMPLATE_REMOVE:
        return do_template_remove(c);
    case WARMPOOL__POOL__V1__REQUEST__CALL_WATCH:
        return do_watch(c);
    case WARMPOOL__POOL__V1__REQUEST__CALL_HEALTH:
        return do_health(c);
    default:
        /* an unset oneof, or a call from a newer client this version lacks */
        return wp_error_set(&c->err, EOPNOTSUPP,
                            "request carries no call this warmpoold knows (protocol %d)",
                            API_PROTOCOL_VERSION);
    }
}
