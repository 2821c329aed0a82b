/* api_client_calls.c - the typed calls of api_client.h: build the request
 * on the stack, make the call, check the result kind, copy it out.
 * Threads: any (api_client_call takes a connection per call). */
#include "api_client.h"

#include <errno.h>  /* EBADMSG, ENOMEM */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc, free */
#include <string.h> /* strdup */

#define STR(s) ((char *)(s)) /* protobuf-c wants char *; packing never writes */

/* Call and check the reply carries the expected result. */
static int call(api_client_t *c, pb_request_t *req, int timeout_ms,
                Warmpool__Pool__V1__Response__ResultCase want, pb_response_t **out, wp_error_t *err)
{
    if (api_client_call(c, req, timeout_ms, out, err) < 0)
        return -1;
    if ((*out)->result_case != want) {
        wp_error_set(err, EBADMSG, "%s: the reply carries no result of that call",
                     api_call_name(req));
        warmpool__pool__v1__response__free_unpacked(*out, NULL);
        *out = NULL;
        return -1;
    }
    return 0;
}

int api_client_acquire(api_client_t *c, const char *template_name, bool fail_fast, int timeout_ms,
                       pool_lease_t *out, wp_error_t *err)
{
    Warmpool__Pool__V1__AcquireRequest a = WARMPOOL__POOL__V1__ACQUIRE_REQUEST__INIT;
    a.template_ = STR(template_name);
    a.fail_fast = fail_fast;
    a.timeout_ms = timeout_ms > 0 ? (uint32_t)timeout_ms : 0;
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_ACQUIRE;
    req.acquire = &a;
    /* wait past the server's deadline: its answer (a lease, or ETIMEDOUT
     * after it released a late one) must reach us before we give up */
    int wait = (timeout_ms > 0 ? timeout_ms : API_ACQUIRE_DEFAULT_TIMEOUT_MS) + API_CLIENT_GRACE_MS;
    _cleanup_pb_response_ pb_response_t *resp = NULL;
    if (call(c, &req, wait, WARMPOOL__POOL__V1__RESPONSE__RESULT_LEASE, &resp, err) < 0)
        return -1;
    return api_lease_from_pb(resp->lease, out, err);
}

int api_client_release(api_client_t *c, const char *vm_id, const char *token, bool *vm_died,
                       wp_error_t *err)
{
    Warmpool__Pool__V1__ReleaseRequest r = WARMPOOL__POOL__V1__RELEASE_REQUEST__INIT;
    r.vm_id = STR(vm_id);
    r.token = STR(token);
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_RELEASE;
    req.release = &r;
    _cleanup_pb_response_ pb_response_t *resp = NULL;
    if (call(c, &req, API_CLIENT_TIMEOUT_MS, WARMPOOL__POOL__V1__RESPONSE__RESULT_RELEASE, &resp,
             err) < 0)
        return -1;
    if (vm_died != NULL)
        *vm_died = resp->release->vm_died;
    return 0;
}

int api_client_lease_check(api_client_t *c, const char *vm_id, const char *token,
                           pool_lease_state_t *out, wp_error_t *err)
{
    Warmpool__Pool__V1__LeaseCheckRequest r = WARMPOOL__POOL__V1__LEASE_CHECK_REQUEST__INIT;
    r.vm_id = STR(vm_id);
    r.token = STR(token);
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_LEASE_CHECK;
    req.lease_check = &r;
    _cleanup_pb_response_ pb_response_t *resp = NULL;
    if (call(c, &req, API_CLIENT_TIMEOUT_MS, WARMPOOL__POOL__V1__RESPONSE__RESULT_LEASE_CHECK,
             &resp, err) < 0)
        return -1;
    *out = resp->lease_check->state == WARMPOOL__POOL__V1__LEASE_STATE__LEASE_STATE_DEAD
               ? POOL_LEASE_DEAD
               : POOL_LEASE_ACTIVE;
    return 0;
}

int api_client_leases(api_client_t *c, pool_lease_summary_t **out, size_t *count, wp_error_t *err)
{
    Warmpool__Pool__V1__LeasesRequest r = WARMPOOL__POOL__V1__LEASES_REQUEST__INIT;
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_LEASES;
    req.leases = &r;
    _cleanup_pb_response_ pb_response_t *resp = NULL;
    if (call(c, &req, API_CLIENT_TIMEOUT_MS, WARMPOOL__POOL__V1__RESPONSE__RESULT_LEASES, &resp,
             err) < 0)
        return -1;
    size_t n = resp->leases->n_leases;
    pool_lease_summary_t *list = calloc(n ? n : 1, sizeof(*list));
    if (list == NULL)
        return wp_error_errno(err, ENOMEM, "leases");
    for (size_t i = 0; i < n; i++) {
        if (api_lease_summary_from_pb(resp->leases->leases[i], &list[i], err) < 0) {
            free(list);
            return wp_error_wrap(err, "leases");
        }
    }
    *out = list;
    *count = n;
    return 0;
}

int api_client_status(api_client_t *c, pool_template_status_t **out, size_t *count, wp_error_t *err)
{
    Warmpool__Pool__V1__StatusRequest r = WARMPOOL__POOL__V1__STATUS_REQUEST__INIT;
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_STATUS;
    req.status = &r;
    _cleanup_pb_response_ pb_response_t *resp = NULL;
    if (call(c, &req, API_CLIENT_TIMEOUT_MS, WARMPOOL__POOL__V1__RESPONSE__RESULT_STATUS, &resp,
             err) < 0)
        return -1;
    return api_status_list_from_pb(resp->status->templates, resp->status->n_templates, out, count,
                                   err);
}

int api_client_set_size(api_client_t *c, const char *template_name, const pool_size_t *size,
                        pool_template_status_t *out, wp_error_t *err)
{
    Warmpool__Pool__V1__SetSizeRequest r = WARMPOOL__POOL__V1__SET_SIZE_REQUEST__INIT;
    r.template_ = STR(template_name);
    r.sizing = api_sizing_to_pb(size->sizing);
    r.target = size->target;
    r.min = size->min;
    r.max = size->max;
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_SET_SIZE;
    req.set_size = &r;
    _cleanup_pb_response_ pb_response_t *resp = NULL;
    if (call(c, &req, API_CLIENT_TIMEOUT_MS, WARMPOOL__POOL__V1__RESPONSE__RESULT_SET_SIZE, &resp,
             err) < 0)
        return -1;
    if (out == NULL)
        return 0;
    if (resp->set_size->status == NULL)
        return wp_error_set(err, EBADMSG, "set size: the reply carries no status of '%s'",
                            template_name);
    return api_template_status_from_pb(resp->set_size->status, out, err);
}

int api_client_watch(api_client_t *c, uint64_t *gen, int timeout_ms, bool *changed,
                     pool_template_status_t **out, size_t *count, wp_error_t *err)
{
    Warmpool__Pool__V1__WatchRequest r = WARMPOOL__POOL__V1__WATCH_REQUEST__INIT;
    r.generation = *gen;
    r.timeout_ms = timeout_ms > 0 ? (uint32_t)timeout_ms : 0;
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_WATCH;
    req.watch = &r;
    int wait = (timeout_ms > 0 ? timeout_ms : API_WATCH_DEFAULT_TIMEOUT_MS) + API_CLIENT_GRACE_MS;
    _cleanup_pb_response_ pb_response_t *resp = NULL;
    if (call(c, &req, wait, WARMPOOL__POOL__V1__RESPONSE__RESULT_WATCH, &resp, err) < 0)
        return -1;
    *gen = resp->watch->generation;
    if (changed != NULL)
        *changed = resp->watch->changed;
    if (out == NULL)
        return 0;
    return api_status_list_from_pb(resp->watch->templates, resp->watch->n_templates, out, count,
                                   err);
}

int api_client_health(api_client_t *c, api_health_t *out, wp_error_t *err)
{
    Warmpool__Pool__V1__HealthRequest r = WARMPOOL__POOL__V1__HEALTH_REQUEST__INIT;
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_HEALTH;
    req.health = &r;
    _cleanup_pb_response_ pb_response_t *resp = NULL;
    if (call(c, &req, API_CLIENT_TIMEOUT_MS, WARMPOOL__POOL__V1__RESPONSE__RESULT_HEALTH, &resp,
             err) < 0)
        return -1;
    const Warmpool__Pool__V1__HealthResponse *h = resp->health;
    snprintf(out->version, sizeof(out->version), "%s", h->version);
    out->uptime_ms = h->uptime_ms;
    out->templates = h->templates;
    out->leases = h->leases;
    out->pid = h->pid;
    out->protocol_version = h->protocol_version;
    return 0;
}

/* ---- templates, built and stored by the daemon ---- */

int api_client_template_build(api_client_t *c, const api_template_build_t *spec,
                              char **manifest_json, wp_error_t *err)
{
    Warmpool__Pool__V1__TemplateBuildRequest r = WARMPOOL__POOL__V1__TEMPLATE_BUILD_REQUEST__INIT;
    r.name = STR(spec->name);
    r.kernel = STR(spec->kernel);
    r.initrd = STR(spec->initrd);
    if (spec->cmdline != NULL)
        r.cmdline = STR(spec->cmdline);
    r.memory_mib = spec->memory_mib;
    r.vcpus = spec->vcpus;
    r.force = spec->force;
    r.backend = (char *)(spec->backend ? spec->backend : "");
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_TEMPLATE_BUILD;
    req.template_build = &r;
    _cleanup_pb_response_ pb_response_t *resp = NULL;
    if (call(c, &req, API_CLIENT_BUILD_TIMEOUT_MS,
             WARMPOOL__POOL__V1__RESPONSE__RESULT_TEMPLATE_BUILD, &resp, err) < 0)
        return -1;
    if (manifest_json == NULL)
        return 0;
    *manifest_json = strdup(resp->template_build->manifest_json);
    if (*manifest_json == NULL)
        return wp_error_errno(err, ENOMEM, "template manifest");
    return 0;
}

void api_template_infos_free(api_template_info_t *list, size_t count)
{
    for (size_t i = 0; list != NULL && i < count; i++) {
        free(list[i].name);
        free(list[i].manifest_json);
    }
    free(list);
}

int api_client_template_list(api_client_t *c, api_template_info_t **out, size_t *count,
                             wp_error_t *err)
{
    Warmpool__Pool__V1__TemplateListRequest r = WARMPOOL__POOL__V1__TEMPLATE_LIST_REQUEST__INIT;
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_TEMPLATE_LIST;
    req.template_list = &r;
    _cleanup_pb_response_ pb_response_t *resp = NULL;
    if (call(c, &req, API_CLIENT_TIMEOUT_MS, WARMPOOL__POOL__V1__RESPONSE__RESULT_TEMPLATE_LIST,
             &resp, err) < 0)
        return -1;
    size_t n = resp->template_list->n_templates;
    api_template_info_t *list = calloc(n ? n : 1, sizeof(*list));
    if (list == NULL)
        return wp_error_errno(err, ENOMEM, "template list");
    for (size_t i = 0; i < n; i++) {
        const Warmpool__Pool__V1__TemplateInfo *t = resp->template_list->templates[i];
        list[i].name = strdup(t->name);
        list[i].manifest_json = t->manifest_json[0] ? strdup(t->manifest_json) : NULL;
        if (list[i].name == NULL || (t->manifest_json[0] && list[i].manifest_json == NULL)) {
            api_template_infos_free(list, n);
            return wp_error_errno(err, ENOMEM, "template list");
        }
    }
    *out = list;
    *count = n;
    return 0;
}

int api_client_template_remove(api_client_t *c, const char *name, wp_error_t *err)
{
    Warmpool__Pool__V1__TemplateRemoveRequest r = WARMPOOL__POOL__V1__TEMPLATE_REMOVE_REQUEST__INIT;
    r.name = STR(name);
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_TEMPLATE_REMOVE;
    req.template_remove = &r;
    _cleanup_pb_response_ pb_response_t *resp = NULL;
    return call(c, &req, API_CLIENT_TIMEOUT_MS,
                WARMPOOL__POOL__V1__RESPONSE__RESULT_TEMPLATE_REMOVE, &resp, err);
}
