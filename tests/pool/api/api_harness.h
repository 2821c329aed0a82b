/* api_harness.h - a pool over the fake source (pool_harness.h) served by
 * api_server on an ipc socket in the harness's temporary directory, and a
 * raw nng req call for sending bytes no api_client would. Test-only. */
#ifndef API_HARNESS_H
#define API_HARNESS_H

#include <errno.h>
#include <nng/nng.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <nng/protocol/reqrep0/req.h>

#include "api_client.h"
#include "api_server.h"
#include "pool_harness.h"

typedef struct api_harness {
    harness_t h;
    api_server_t *srv;
    char url[128];
    char path[128];
} api_harness_t;

static inline void api_harness_serve(api_harness_t *a, const api_server_config_t *base)
{
    api_server_config_t cfg = base ? *base : (api_server_config_t){0};
    cfg.url = a->url;
    wp_error_t err = {0};
    a->srv = api_server_start(a->h.pool, &cfg, &err);
    cr_assert_not_null(a->srv, "%s", err.msg);
}

/* Open the pool with its state under base (HARNESS_MEM: acquire hits are
 * answered on nng's callback thread; HARNESS_DISK: on the worker threads)
 * with `templates`, and serve it; cfg NULL: defaults. */
static inline void api_harness_open_at(api_harness_t *a, const char *base, const char *templates,
                                       const api_server_config_t *cfg)
{
    harness_open_at(&a->h, base, templates, 2, 0);
    snprintf(a->path, sizeof(a->path), "%s/api/warmpoold.sock", a->h.dir);
    snprintf(a->url, sizeof(a->url), "ipc://%s", a->path);
    api_harness_serve(a, cfg);
}

/* In memory, as warmpoold's default state directory (/run) is. */
static inline void api_harness_open(api_harness_t *a, const char *templates,
                                    const api_server_config_t *cfg)
{
    api_harness_open_at(a, HARNESS_MEM, templates, cfg);
}

static inline void api_harness_close(api_harness_t *a)
{
    api_server_stop(a->srv);
    harness_close(&a->h);
}

static inline api_client_t *api_harness_client(api_harness_t *a)
{
    wp_error_t err = {0};
    api_client_t *c = api_client_open(a->url, &err);
    cr_assert_not_null(c, "%s", err.msg);
    return c;
}

/* Send raw bytes on a fresh req socket; 0 and *reply (free with
 * warmpool__pool__v1__response__free_unpacked) or the nng error. resend
 * false: the client behaves as api_client (no re-sends). */
static inline int raw_call(const char *url, const void *buf, size_t len, bool resend,
                           int timeout_ms, pb_response_t **reply)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    if (!resend)
        cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms), 0);
    cr_assert_eq(nng_dial(s, url, NULL, 0), 0);
    int rv = nng_send(s, (void *)buf, len, 0);
    nng_msg *msg = NULL;
    if (rv == 0)
        rv = nng_recvmsg(s, &msg, 0);
    if (rv == 0) {
        *reply = api_response_unpack(nng_msg_body(msg), nng_msg_len(msg), NULL);
        cr_assert_not_null(*reply, "the server's reply decodes");
        nng_msg_free(msg);
    }
    nng_close(s);
    return rv;
}

/* Over a plain AF_UNIX socket: complete the SP handshake as a REQ peer,
 * then announce a message of msg_len bytes (nng's ipc framing: type 1,
 * 64-bit big-endian length) without sending it. Returns true when the
 * server hangs up within timeout_ms, as it must past its receive cap. */
static inline bool raw_oversized_is_dropped(const char *path, uint64_t msg_len, int timeout_ms)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
    uint8_t hello[8] = {0, 'S', 'P', 0, 0, NNG_REQ0_SELF, 0, 0}, peer[8];
    cr_assert_eq(send(fd, hello, 8, MSG_NOSIGNAL), 8);
    cr_assert_eq(recv(fd, peer, 8, MSG_WAITALL), 8, "the server answers the handshake");
    uint8_t head[9] = {1};
    for (int i = 0; i < 8; i++)
        head[1 + i] = (uint8_t)(msg_len >> (56 - 8 * i));
    cr_assert_eq(send(fd, head, sizeof(head), MSG_NOSIGNAL), (ssize_t)sizeof(head));
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    bool dropped = false;
    if (poll(&pfd, 1, timeout_ms) == 1) {
        char c;
        dropped = recv(fd, &c, 1, 0) <= 0;
    }
    close(fd);
    return dropped;
}

#endif
