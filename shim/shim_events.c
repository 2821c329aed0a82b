/* shim_events.c - events to containerd (shim_events.h). */
#include <errno.h>  /* ENOMEM */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc */
#include <string.h> /* strdup */

#include "shim_events.h"
#include "shim_events.pb-c.h"
#include "ttrpc.h"
#include "wp_cleanup.h"
#include "wp_log.h"
#include "wp_time.h"

struct shim_events {
    char *address, *ns;
    ttrpc_client_t *client;
};

shim_events_t *shim_events_new(const char *address, const char *ns, wp_error_t *err)
{
    shim_events_t *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->ns = strdup(ns ? ns : "")) == NULL ||
        (address && address[0] && (e->address = strdup(address)) == NULL)) {
        shim_events_free(e);
        wp_error_errno(err, ENOMEM, "events");
        return NULL;
    }
    return e;
}

void shim_events_free(shim_events_t *e)
{
    if (e == NULL)
        return;
    if (e->client)
        ttrpc_client_close(e->client);
    free(e->address);
    free(e->ns);
    free(e);
}

void shim_timestamp(Containerd__Task__V2__Timestamp *ts, uint64_t ns)
{
    containerd__task__v2__timestamp__init(ts);
    ts->seconds = (int64_t)(ns / 1000000000u);
    ts->nanos = (int32_t)(ns % 1000000000u);
}

static int forward(shim_events_t *e, const uint8_t *req, size_t len, wp_error_t *err)
{
    if (e->client == NULL && (e->client = ttrpc_client_connect(e->address, err)) == NULL)
        return -1;
    const char *meta[] = {"containerd-namespace-ttrpc", e->ns};
    _cleanup_free_ uint8_t *resp = NULL;
    size_t resp_len = 0;
    if (ttrpc_client_call(e->client, SHIM_EVENTS_SERVICE, "Forward", meta, 1, req, len,
                          SHIM_EVENTS_CALL_MS, &resp, &resp_len, NULL, err) < 0) {
        ttrpc_client_close(e->client);
        e->client = NULL;
        return -1;
    }
    return 0;
}

int shim_events_publish(shim_events_t *e, const char *topic, const ProtobufCMessage *msg)
{
    if (e->address == NULL)
        return 0;
    char type_url[256];
    snprintf(type_url, sizeof(type_url), "%s", msg->descriptor->name);
    size_t ev_len = protobuf_c_message_get_packed_size(msg);
    _cleanup_free_ uint8_t *ev = malloc(ev_len ? ev_len : 1);
    if (ev == NULL)
        return -1;
    protobuf_c_message_pack(msg, ev);

    Containerd__Task__V2__Any any = CONTAINERD__TASK__V2__ANY__INIT;
    any.type_url = type_url;
    any.value = (ProtobufCBinaryData){.len = ev_len, .data = ev};
    Containerd__Task__V2__Timestamp ts;
    shim_timestamp(&ts, (uint64_t)wp_now_real_ns());
    Containerd__Events__Envelope env = CONTAINERD__EVENTS__ENVELOPE__INIT;
    env.timestamp = &ts;
    env.namespace_ = e->ns;
    env.topic = (char *)topic;
    env.event = &any;
    Containerd__Events__ForwardRequest fr = CONTAINERD__EVENTS__FORWARD_REQUEST__INIT;
    fr.envelope = &env;
    size_t len = containerd__events__forward_request__get_packed_size(&fr);
    _cleanup_free_ uint8_t *req = malloc(len);
    if (req == NULL)
        return -1;
    containerd__events__forward_request__pack(&fr, req);

    wp_error_t err = {0};
    if (forward(e, req, len, &err) == 0 || forward(e, req, len, &err) == 0)
        return 0;
    wp_log_warn("publish %s (%s): %s", topic, type_url, err.msg);
    return -1;
}
