/* ttrpc_frame.c - ttrpc frame headers, envelope packing and the errno to
 * gRPC code map (see ttrpc.h, ttrpc_private.h). */
#include "ttrpc_private.h"

#include <errno.h>  /* E* */
#include <stdlib.h> /* malloc */

enum ttrpc_code ttrpc_code_from_errno(int code)
{
    switch (code) {
    case ENOENT:
    case ESRCH:
        return TTRPC_NOT_FOUND;
    case EEXIST:
        return TTRPC_ALREADY_EXISTS;
    case EINVAL:
        return TTRPC_INVALID_ARGUMENT;
    case EBUSY:
    case EALREADY:
        return TTRPC_FAILED_PRECONDITION;
    case EPERM:
    case EACCES:
        return TTRPC_PERMISSION_DENIED;
    case ENOSYS:
    case EOPNOTSUPP:
        return TTRPC_UNIMPLEMENTED;
    case ETIMEDOUT:
        return TTRPC_DEADLINE_EXCEEDED;
    case ECANCELED:
        return TTRPC_CANCELLED;
    case ENOMEM:
    case ENOSPC:
    case EMSGSIZE:
        return TTRPC_RESOURCE_EXHAUSTED;
    case EAGAIN:
    case ENOTCONN:
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
        return TTRPC_UNAVAILABLE;
    case EBADMSG:
    case EPROTO:
        return TTRPC_INTERNAL;
    default: /* 0 too: an error without an errno must not read as OK */
        return TTRPC_UNKNOWN;
    }
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void ttrpc_header_encode(const ttrpc_header_t *h, uint8_t out[TTRPC_HEADER_LEN])
{
    put_be32(out, h->length);
    put_be32(out + 4, h->stream_id);
    out[8] = h->type;
    out[9] = h->flags;
}

void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], ttrpc_header_t *h)
{
    h->length = get_be32(in);
    h->stream_id = get_be32(in + 4);
    h->type = in[8];
    h->flags = in[9];
}

uint8_t *ttrpc_frame_pack(uint32_t stream_id, uint8_t type, const ProtobufCMessage *m, size_t *len,
                          wp_error_t *err)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (n > TTRPC_MAX_PAYLOAD) {
        wp_error_set(err, EMSGSIZE, "ttrpc message of %zu bytes exceeds the %u-byte maximum", n,
                     TTRPC_MAX_PAYLOAD);
        return NULL;
    }
    uint8_t *buf = malloc(TTRPC_HEADER_LEN + n);
    if (buf == NULL) {
        wp_error_errno(err, ENOMEM, "ttrpc frame of %zu bytes", n);
        return NULL;
    }
    ttrpc_header_t h = {.length = (uint32_t)n, .stream_id = stream_id, .type = type};
    ttrpc_header_encode(&h, buf);
    protobuf_c_message_pack(m, buf + TTRPC_HEADER_LEN);
    *len = TTRPC_HEADER_LEN + n;
    return buf;
}

uint8_t *ttrpc_response_pack(uint32_t stream_id, enum ttrpc_code code, const char *message,
                             const uint8_t *payload, size_t len, size_t *frame_len, wp_error_t *err)
{
    /* containerd's side always sends a status, OK included (0a 00) */
    Ttrpc__Status status = TTRPC__STATUS__INIT;
    status.code = (int32_t)code;
    status.message = message != NULL ? (char *)message : (char *)"";
    Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
    resp.status = &status;
    if (code == TTRPC_OK) {
        resp.payload.data = (uint8_t *)payload;
        resp.payload.len = len;
    }
    if (protobuf_c_message_get_packed_size(&resp.base) > TTRPC_MAX_PAYLOAD) {
        /* the peer would drop an oversized frame: say why instead */
        status.code = TTRPC_RESOURCE_EXHAUSTED;
        status.message = "response exceeds the maximum message size";
        resp.payload.data = NULL;
        resp.payload.len = 0;
    }
    return ttrpc_frame_pack(stream_id, TTRPC_TYPE_RESPONSE, &resp.base, frame_len, err);
}
