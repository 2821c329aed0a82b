/* api_sp.c - nng's req0-over-ipc wire, client end (contract in api_sp.h).
 * Reads are sized from the frame header; a reply normally arrives in the
 * first read, which asks for a few KiB. */
#include "api_sp.h"

#include <errno.h>      /* EAGAIN, ETIMEDOUT, ... */
#include <poll.h>       /* poll */
#include <stdlib.h>     /* malloc */
#include <string.h>     /* memcpy */
#include <sys/socket.h> /* socket, connect, send, recv */
#include <sys/un.h>     /* sockaddr_un */
#include <unistd.h>     /* close */

#include "wp_time.h"

#define SP_REQ0      0x30
#define SP_REP0      0x31
#define SP_MSG       1
#define SP_HEAD      9 /* type + BE64 length */
#define FIRST_READ   4096
#define SP_ID_TOPBIT 0x80000000u

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* 0 when fd is ready for ev; ETIMEDOUT past the deadline. */
static int wait_fd(int fd, short ev, int64_t deadline_ns)
{
    for (;;) {
        int64_t left = deadline_ns - wp_now_mono_ns();
        if (left <= 0)
            return ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = ev};
        int n = poll(&p, 1, (int)((left + 999999) / 1000000));
        if (n > 0)
            return 0; /* also POLLHUP / POLLERR: the next read or write says which */
        if (n < 0 && errno != EINTR)
            return errno;
    }
}

static int io_error(wp_error_t *err, int code, const char *what)
{
    if (code == EPIPE || code == 0)
        code = ECONNRESET; /* 0: the daemon hung up */
    return wp_error_errno(err, code, "%s", what);
}

static int send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline_ns, wp_error_t *err)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n, len -= (size_t)n;
            continue;
        }
        int e = errno;
        if (e == EINTR)
            continue;
        if (e != EAGAIN)
            return io_error(err, e, "send");
        if ((e = wait_fd(fd, POLLOUT, deadline_ns)) != 0)
            return wp_error_errno(err, e, "send");
    }
    return 0;
}

/* Read up to cap bytes, at least want; returns how many (>= want) or -1. */
static ssize_t recv_min(int fd, uint8_t *buf, size_t want, size_t cap, int64_t deadline_ns,
                        wp_error_t *err)
{
    size_t got = 0;
    while (got < want) {
        int e = wait_fd(fd, POLLIN, deadline_ns);
        if (e != 0)
            return wp_error_errno(err, e, "receive");
        ssize_t n = recv(fd, buf + got, cap - got, 0);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return io_error(err, n == 0 ? 0 : errno, "receive");
    }
    return (ssize_t)got;
}

int api_sp_connect(const char *path, int64_t deadline_ns, wp_error_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen = strlen(path);
    if (plen >= sizeof(sa.sun_path))
        return wp_error_set(err, ENAMETOOLONG, "socket path '%s' is too long", path);
    memcpy(sa.sun_path, path, plen + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return wp_error_errno(err, errno, "socket");
    /* a unix connect completes or fails at once (EAGAIN: the backlog is full) */
    int rc;
    while ((rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 && errno == EAGAIN &&
           wp_now_mono_ns() < deadline_ns)
        poll(NULL, 0, 1);
    if (rc < 0) {
        wp_error_errno(err, errno == EAGAIN ? ETIMEDOUT : errno, "connect");
        close(fd);
        return -1;
    }
    static const uint8_t hello[8] = {0, 'S', 'P', 0, 0, SP_REQ0, 0, 0};
    uint8_t peer[8];
    if (send_all(fd, hello, sizeof(hello), deadline_ns, err) < 0 ||
        recv_min(fd, peer, sizeof(peer), sizeof(peer), deadline_ns, err) < 0) {
        close(fd);
        return -1;
    }
    if (memcmp(peer, "\0SP\0", 4) != 0 || peer[4] != 0 || peer[5] != SP_REP0 || peer[6] != 0 ||
        peer[7] != 0) {
        close(fd);
        return wp_error_set(err, EPROTO, "the socket's server does not speak nng rep0");
    }
    return fd;
}

bool api_sp_idle_dead(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

int api_sp_send(int fd, uint8_t *frame, size_t body_len, uint32_t id, int64_t deadline_ns,
                wp_error_t *err)
{
    uint64_t len = 4 + (uint64_t)body_len;
    frame[0] = SP_MSG;
    put_be32(frame + 1, (uint32_t)(len >> 32));
    put_be32(frame + 5, (uint32_t)len);
    put_be32(frame + 9, id | SP_ID_TOPBIT);
    return send_all(fd, frame, API_SP_FRAME_HEAD + body_len, deadline_ns, err);
}

int api_sp_recv(int fd, uint32_t id, size_t max, int64_t deadline_ns, uint8_t **body, size_t *len,
                wp_error_t *err)
{
    for (;;) {
        uint8_t first[FIRST_READ];
        ssize_t got = recv_min(fd, first, API_SP_FRAME_HEAD, sizeof(first), deadline_ns, err);
        if (got < 0)
            return -1;
        uint64_t flen = (uint64_t)get_be32(first + 1) << 32 | get_be32(first + 5);
        if (first[0] != SP_MSG || flen < 4)
            return wp_error_set(err, EPROTO, "a reply frame that is not an nng message");
        if (flen - 4 > max)
            return wp_error_set(err, EMSGSIZE, "a reply of %llu bytes, more than %zu",
                                (unsigned long long)(flen - 4), max);
        size_t n = (size_t)flen - 4, have = (size_t)got - API_SP_FRAME_HEAD;
        if (have > n) /* the daemon answers one request at a time per connection */
            return wp_error_set(err, EPROTO, "bytes after the reply");
        uint8_t *buf = malloc(n ? n : 1);
        if (buf == NULL)
            return wp_error_errno(err, ENOMEM, "a reply of %zu bytes", n);
        memcpy(buf, first + API_SP_FRAME_HEAD, have);
        if (have < n && recv_min(fd, buf + have, n - have, n - have, deadline_ns, err) < 0) {
            free(buf);
            return -1;
        }
        if ((get_be32(first + 9) & ~SP_ID_TOPBIT) == (id & ~SP_ID_TOPBIT)) {
            *body = buf;
            *len = n;
            return 0;
        }
        free(buf); /* the reply to an earlier request: not ours */
    }
}
