/* wp_frame.c - see wp_frame.h. */
#include "wp_frame.h"

#include <errno.h>   /* EMSGSIZE, EPROTO */
#include <limits.h>  /* INT_MAX */
#include <poll.h>    /* poll: room to write */
#include <stdlib.h>  /* realloc, free */
#include <string.h>  /* memmove, memcpy */
#include <sys/uio.h> /* writev */
#include <unistd.h>  /* read */

#include "wp_time.h" /* wp_now_mono_ns */

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

void wp_frame_header_encode(const wp_frame_header_t *hdr, uint8_t out[WP_FRAME_HEADER_SIZE])
{
    put_be32(out, hdr->length);
    put_be32(out + 4, hdr->id);
    out[8] = hdr->kind;
    out[9] = hdr->flags;
    out[10] = 0;
    out[11] = 0;
}

int wp_frame_header_decode(const uint8_t in[WP_FRAME_HEADER_SIZE], uint32_t max_payload,
                           wp_frame_header_t *out, wp_error_t *err)
{
    out->length = get_be32(in);
    out->id = get_be32(in + 4);
    out->kind = in[8];
    out->flags = in[9];
    if (out->length > max_payload)
        return wp_error_set(err, EMSGSIZE, "frame of %u bytes exceeds the %u-byte maximum",
                            out->length, max_payload);
    if (out->kind < WP_FRAME_REQUEST || out->kind > WP_FRAME_CREDIT)
        return wp_error_set(err, EPROTO, "frame has unknown kind %u", out->kind);
    uint8_t allowed = out->kind == WP_FRAME_STREAM ? WP_FRAME_FLAG_EOF : 0;
    if ((out->flags & ~allowed) != 0 || in[10] != 0 || in[11] != 0)
        return wp_error_set(err, EPROTO, "frame has reserved bits set");
    if (out->kind == WP_FRAME_CREDIT && out->length != 4)
        return wp_error_set(err, EPROTO, "credit frame of %u bytes (want 4)", out->length);
    return 0;
}

void wp_frame_reader_init(wp_frame_reader_t *r, uint32_t max_payload)
{
    *r = (wp_frame_reader_t){.max_payload = max_payload};
}

void wp_frame_reader_fini(wp_frame_reader_t *r)
{
    free(r->buf);
    *r = (wp_frame_reader_t){0};
}

static void drop_consumed(wp_frame_reader_t *r)
{
    if (r->consumed == 0)
        return;
    memmove(r->buf, r->buf + r->consumed, r->len - r->consumed);
    r->len -= r->consumed;
    r->consumed = 0;
}

static int reserve(wp_frame_reader_t *r, size_t extra, wp_error_t *err)
{
    drop_consumed(r);
    if (r->len + extra <= r->cap)
        return 0;
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < r->len + extra)
        cap *= 2;
    uint8_t *buf = realloc(r->buf, cap);
    if (buf == NULL)
        return wp_error_errno(err, ENOMEM, "frame buffer of %zu bytes", cap);
    r->buf = buf;
    r->cap = cap;
    return 0;
}

int wp_frame_reader_feed(wp_frame_reader_t *r, const void *data, size_t len, wp_error_t *err)
{
    if (len == 0)
        return 0; /* nothing to add; buf may still be NULL (found by fuzz/) */
    int ret = reserve(r, len, err);
    if (ret < 0)
        return ret;
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    return 0;
}

long wp_frame_reader_read_fd(wp_frame_reader_t *r, int fd, wp_error_t *err)
{
    int ret = reserve(r, 16384, err);
    if (ret < 0)
        return ret;
    ssize_t n;
    do {
        n = read(fd, r->buf + r->len, r->cap - r->len);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return wp_error_errno(err, errno, "read frame");
    r->len += (size_t)n;
    return (long)n;
}

int wp_frame_reader_next(wp_frame_reader_t *r, wp_frame_header_t *hdr, const uint8_t **payload,
                         wp_error_t *err)
{
    drop_consumed(r);
    if (r->len < WP_FRAME_HEADER_SIZE)
        return 0;
    int ret = wp_frame_header_decode(r->buf, r->max_payload, hdr, err);
    if (ret < 0)
        return ret;
    if (r->len < WP_FRAME_HEADER_SIZE + (size_t)hdr->length)
        return 0;
    *payload = r->buf + WP_FRAME_HEADER_SIZE;
    r->consumed = WP_FRAME_HEADER_SIZE + hdr->length;
    return 1;
}

/* Until fd has room or the deadline (0: none) passes; -1 on timeout. */
static int wait_writable(int fd, int64_t deadline)
{
    for (;;) {
        int ms = -1;
        if (deadline != 0) {
            int64_t left = (deadline - wp_now_mono_ns() + 999999) / 1000000;
            if (left <= 0)
                return -1;
            ms = left > INT_MAX ? INT_MAX : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 0; /* room, or an error the next write reports */
        if (n == 0 || errno != EINTR)
            return n == 0 ? -1 : 0;
    }
}

int wp_frame_write_timeout(int fd, uint32_t id, wp_frame_kind_t kind, const void *payload,
                           size_t len, int timeout_ms, wp_error_t *err)
{
    return wp_frame_write_flags(fd, id, kind, 0, payload, len, timeout_ms, err);
}

int wp_frame_write_flags(int fd, uint32_t id, wp_frame_kind_t kind, uint8_t flags,
                         const void *payload, size_t len, int timeout_ms, wp_error_t *err)
{
    if (len > UINT32_MAX)
        return wp_error_set(err, EMSGSIZE, "frame payload of %zu bytes is too large", len);
    uint8_t head[WP_FRAME_HEADER_SIZE];
    wp_frame_header_t hdr = {
        .length = (uint32_t)len, .id = id, .kind = (uint8_t)kind, .flags = flags};
    wp_frame_header_encode(&hdr, head);
    struct iovec iov[2] = {{head, sizeof(head)}, {(void *)payload, len}};
    int iovcnt = len ? 2 : 1;
    size_t left = sizeof(head) + len;
    int64_t deadline = timeout_ms < 0 ? 0 : wp_now_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (left > 0) {
        ssize_t n = writev(fd, iov, iovcnt);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_writable(fd, deadline) < 0)
                return wp_error_set(err, ETIMEDOUT, "write frame: the peer read nothing for %d ms",
                                    timeout_ms);
            continue;
        }
        if (n < 0)
            return wp_error_errno(err, errno, "write frame");
        left -= (size_t)n;
        /* advance the iovecs past what was written */
        for (int i = 0; i < iovcnt && n > 0; i++) {
            size_t take = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            n -= (ssize_t)take;
        }
    }
    return 0;
}

int wp_frame_write(int fd, uint32_t id, wp_frame_kind_t kind, const void *payload, size_t len,
                   wp_error_t *err)
{
    return wp_frame_write_timeout(fd, id, kind, payload, len, -1, err);
}
