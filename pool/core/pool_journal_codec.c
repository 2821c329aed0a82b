/* pool_journal_codec.c - one journal record to bytes and back, and CRC-32
 * (see pool_journal_codec.h). */
#include "pool_journal_codec.h"

#include <errno.h>  /* EBADMSG */
#include <string.h> /* memcpy, strlen */

#define PAYLOAD_VERSION 1
#define FLAG_PAUSED     0x01

/* Nibble-at-a-time CRC-32: a 16-entry table is small enough to write out
 * (no run-time init, no global state) and fast enough for records of a
 * few hundred bytes. */
static const uint32_t crc_nibble[16] = {
    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
    0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c, 0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

uint32_t pool_crc32(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0f];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0f];
    }
    return crc ^ 0xffffffffu;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    p = put32(p, (uint32_t)(v >> 32));
    return put32(p, (uint32_t)v);
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t field_size)
{
    size_t len = strnlen(s, field_size);
    if (len >= field_size)
        return NULL; /* not NUL-terminated within its field: refuse */
    p[0] = (uint8_t)(len >> 8);
    p[1] = (uint8_t)len;
    memcpy(p + 2, s, len);
    return p + 2 + len;
}

size_t pool_jrec_encode(const pool_jrec_t *rec, uint8_t *buf)
{
    uint8_t *payload = buf + POOL_JREC_HEADER;
    uint8_t *p = payload;
    *p++ = PAYLOAD_VERSION;
    *p++ = (uint8_t)rec->kind;
    *p++ = rec->paused ? FLAG_PAUSED : 0;
    *p++ = 0;
    p = put64(p, (uint64_t)rec->time_ns);
    p = put32(p, (uint32_t)rec->vm.pid);
    memcpy(p, rec->token, POOL_TOKEN_BYTES);
    p += POOL_TOKEN_BYTES;
    if ((p = put_str(p, rec->vm.id, sizeof(rec->vm.id))) == NULL ||
        (p = put_str(p, rec->template_name, sizeof(rec->template_name))) == NULL ||
        (p = put_str(p, rec->vm.agent_endpoint, sizeof(rec->vm.agent_endpoint))) == NULL ||
        (p = put_str(p, rec->vm.runtime_dir, sizeof(rec->vm.runtime_dir))) == NULL ||
        (p = put_str(p, rec->vm.shared_dir, sizeof(rec->vm.shared_dir))) == NULL)
        return 0;
    size_t len = (size_t)(p - payload);
    put32(buf, (uint32_t)len);
    put32(buf + 4, pool_crc32(payload, len));
    return POOL_JREC_HEADER + len;
}

typedef struct cursor {
    const uint8_t *p;
    size_t left;
} cursor_t;

static bool take(cursor_t *c, void *out, size_t n)
{
    if (c->left < n)
        return false;
    memcpy(out, c->p, n);
    c->p += n;
    c->left -= n;
    return true;
}

static bool take_str(cursor_t *c, char *out, size_t field_size)
{
    uint8_t lb[2];
    if (!take(c, lb, 2))
        return false;
    size_t len = (size_t)lb[0] << 8 | lb[1];
    if (len >= field_size || !take(c, out, len))
        return false;
    out[len] = '\0';
    return memchr(out, '\0', len) == NULL;
}

int pool_jrec_decode(const uint8_t *payload, size_t len, pool_jrec_t *out, wp_error_t *err)
{
    memset(out, 0, sizeof(*out));
    cursor_t c = {payload, len};
    uint8_t fixed[4 + 8 + 4];
    if (!take(&c, fixed, sizeof(fixed)))
        return wp_error_set(err, EBADMSG, "record of %zu bytes is too short", len);
    if (fixed[0] != PAYLOAD_VERSION)
        return wp_error_set(err, EBADMSG, "record version %u, expected %u", fixed[0],
                            PAYLOAD_VERSION);
    if (fixed[1] < POOL_JREC_WARM || fixed[1] > POOL_JREC_GONE)
        return wp_error_set(err, EBADMSG, "unknown record kind %u", fixed[1]);
    out->kind = (pool_jrec_kind_t)fixed[1];
    out->paused = (fixed[2] & FLAG_PAUSED) != 0;
    out->time_ns = (int64_t)((uint64_t)pool_be32(fixed + 4) << 32 | pool_be32(fixed + 8));
    out->vm.pid = (pid_t)pool_be32(fixed + 12);
    if (!take(&c, out->token, POOL_TOKEN_BYTES) || !take_str(&c, out->vm.id, sizeof(out->vm.id)) ||
        !take_str(&c, out->template_name, sizeof(out->template_name)) ||
        !take_str(&c, out->vm.agent_endpoint, sizeof(out->vm.agent_endpoint)) ||
        !take_str(&c, out->vm.runtime_dir, sizeof(out->vm.runtime_dir)) ||
        !take_str(&c, out->vm.shared_dir, sizeof(out->vm.shared_dir)))
        return wp_error_set(err, EBADMSG, "record fields overrun its %zu bytes", len);
    if (c.left != 0)
        return wp_error_set(err, EBADMSG, "%zu stray bytes after the record's fields", c.left);
    if (out->vm.id[0] == '\0')
        return wp_error_set(err, EBADMSG, "record without a VM id");
    return 0;
}
