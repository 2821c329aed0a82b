/* agent_client.c - see agent_client.h. */
#include "agent_client_internal.h"

#include <errno.h>            /* errno */
#include <fcntl.h>            /* fcntl: O_NONBLOCK */
#include <linux/vm_sockets.h> /* sockaddr_vm */
#include <stdio.h>            /* snprintf */
#include <stdlib.h>           /* calloc, strtoul */
#include <string.h>           /* strncmp */
#include <sys/socket.h>       /* socket, connect */
#include <sys/un.h>           /* sockaddr_un */
#include <unistd.h>           /* close */

#include "wp_cleanup.h"
#include "wp_frame.h"
#include "wp_time.h"

static int connect_unix(const char *path, wp_error_t *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (path[0] == '\0')
        return wp_error_set(err, EINVAL, "agent endpoint 'unix:' names no socket path");
    if (strlen(path) >= sizeof(addr.sun_path))
        return wp_error_set(err, ENAMETOOLONG, "agent socket path '%s' is too long", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wp_error_errno(err, errno, "agent socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return wp_error_errno(err, errno, "connect to agent at '%s'", path);
    return wp_steal_fd(&fd);
}

static int connect_vsock(const char *spec, wp_error_t *err)
{
    char *end;
    unsigned long cid = strtoul(spec, &end, 10);
    if (end == spec || *end != ':')
        return wp_error_set(err, EINVAL, "agent endpoint 'vsock:%s' is not vsock:CID:PORT", spec);
    const char *p = end + 1;
    unsigned long port = strtoul(p, &end, 10);
    if (end == p || *end != '\0' || cid > UINT32_MAX || port > UINT32_MAX)
        return wp_error_set(err, EINVAL, "agent endpoint 'vsock:%s' is not vsock:CID:PORT", spec);
    struct sockaddr_vm addr = {
        .svm_family = AF_VSOCK, .svm_cid = (unsigned)cid, .svm_port = (unsigned)port};
    _cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wp_error_errno(err, errno, "agent vsock socket (is the vsock module loaded?)");
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return wp_error_errno(err, errno, "connect to agent at vsock %lu:%lu", cid, port);
    return wp_steal_fd(&fd);
}

agent_client_t *agent_client_connect_announced(const char *endpoint, int timeout_ms,
                                               wp_error_t *err)
{
    for (int attempt = 1;; attempt++) {
        wp_error_t e = {0};
        agent_client_t *c = agent_client_connect(endpoint, &e);
        if (c != NULL && agent_client_wait_announce(c, timeout_ms, &e) == 0)
            return c;
        agent_client_close(c);
        if (c == NULL || attempt == 3 || (e.code != EMSGSIZE && e.code != EPROTO)) {
            if (err)
                *err = e;
            return NULL;
        }
        usleep(50 * 1000); /* let the agent see the hangup before we come back */
    }
}

agent_client_t *agent_client_connect(const char *endpoint, wp_error_t *err)
{
    int fd;
    if (strncmp(endpoint, "unix:", 5) == 0)
        fd = connect_unix(endpoint + 5, err);
    else if (strncmp(endpoint, "vsock:", 6) == 0)
        fd = connect_vsock(endpoint + 6, err);
    else
        fd = wp_error_set(err, EINVAL,
                          "agent endpoint '%s' is neither unix:PATH nor vsock:CID:PORT", endpoint);
    if (fd < 0)
        return NULL;
    return agent_client_from_fd(fd, err);
}

agent_client_t *agent_client_from_fd(int fd, wp_error_t *err)
{
    agent_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        wp_error_errno(err, ENOMEM, "agent client");
        return NULL;
    }
    /* non-blocking: every wait is a poll with a deadline, and a write to an
     * agent that stops reading fails after AGENT_CLIENT_WRITE_MS */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        free(c);
        wp_error_errno(err, e, "agent connection: set O_NONBLOCK");
        return NULL;
    }
    c->fd = fd;
    c->next_id = 1;
    wp_frame_reader_init(&c->reader, WP_FRAME_MAX_PAYLOAD);
    return c;
}

void agent_client_close(agent_client_t *c)
{
    if (c == NULL)
        return;
    close(c->fd);
    wp_frame_reader_fini(&c->reader);
    if (c->announce)
        warmpool__agent__v1__event__free_unpacked(c->announce, NULL);
    while (c->pending)
        agent_client_call_abandon(c, c->pending->id);
    agent_streams_free(c);
    free(c);
}

const Warmpool__Agent__V1__Announce *agent_client_announce(const agent_client_t *c)
{
    return c->announce ? c->announce->announce : NULL;
}

/* Run one call and check the response carries the expected result. */
int agent_client_simple_call(agent_client_t *c, Warmpool__Agent__V1__Request *req, int want_case,
                             Warmpool__Agent__V1__Response **out, int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__Response *r = NULL;
    if (agent_client_call(c, req, &r, timeout_ms, err) < 0)
        return -1;
    if ((int)r->result_case != want_case) {
        warmpool__agent__v1__response__free_unpacked(r, NULL);
        return wp_error_set(err, EPROTO, "agent answered with the wrong result kind");
    }
    if (out)
        *out = r;
    else
        warmpool__agent__v1__response__free_unpacked(r, NULL);
    return 0;
}

int agent_client_ping(agent_client_t *c, int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__PingRequest ping = WARMPOOL__AGENT__V1__PING_REQUEST__INIT;
    ping.token = (uint64_t)wp_now_mono_ns();
    Warmpool__Agent__V1__Request req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_PING;
    req.ping = &ping;
    Warmpool__Agent__V1__Response *r = NULL;
    if (agent_client_simple_call(c, &req, WARMPOOL__AGENT__V1__RESPONSE__RESULT_PING, &r,
                                 timeout_ms, err) < 0)
        return -1;
    bool echoed = r->ping->token == ping.token;
    warmpool__agent__v1__response__free_unpacked(r, NULL);
    return echoed ? 0 : wp_error_set(err, EPROTO, "agent echoed the wrong ping token");
}

int agent_client_reseed(agent_client_t *c, const void *entropy, size_t len, int timeout_ms,
                        wp_error_t *err)
{
    Warmpool__Agent__V1__ReseedRequest reseed = WARMPOOL__AGENT__V1__RESEED_REQUEST__INIT;
    reseed.entropy.data = (uint8_t *)entropy;
    reseed.entropy.len = len;
    Warmpool__Agent__V1__Request req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_RESEED;
    req.reseed = &reseed;
    return agent_client_simple_call(c, &req, WARMPOOL__AGENT__V1__RESPONSE__RESULT_RESEED, NULL,
                                    timeout_ms, err);
}

int agent_client_set_clock(agent_client_t *c, int64_t realtime_ns, int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__SetClockRequest clock = WARMPOOL__AGENT__V1__SET_CLOCK_REQUEST__INIT;
    clock.realtime_ns = realtime_ns;
    Warmpool__Agent__V1__Request req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_SET_CLOCK;
    req.set_clock = &clock;
    return agent_client_simple_call(c, &req, WARMPOOL__AGENT__V1__RESPONSE__RESULT_SET_CLOCK, NULL,
                                    timeout_ms, err);
}

int agent_client_random_sample(agent_client_t *c, void *out, size_t len, int timeout_ms,
                               wp_error_t *err)
{
    Warmpool__Agent__V1__RandomSampleRequest rs = WARMPOOL__AGENT__V1__RANDOM_SAMPLE_REQUEST__INIT;
    rs.length = (uint32_t)len;
    Warmpool__Agent__V1__Request req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_RANDOM_SAMPLE;
    req.random_sample = &rs;
    Warmpool__Agent__V1__Response *r = NULL;
    if (agent_client_simple_call(c, &req, WARMPOOL__AGENT__V1__RESPONSE__RESULT_RANDOM_SAMPLE, &r,
                                 timeout_ms, err) < 0)
        return -1;
    int ret = 0;
    if (r->random_sample->data.len != len)
        ret = wp_error_set(err, EPROTO, "agent sent %zu random bytes, not %zu",
                           r->random_sample->data.len, len);
    else
        memcpy(out, r->random_sample->data.data, len);
    warmpool__agent__v1__response__free_unpacked(r, NULL);
    return ret;
}

int agent_client_info(agent_client_t *c, Warmpool__Agent__V1__Response **out, int timeout_ms,
                      wp_error_t *err)
{
    Warmpool__Agent__V1__InfoRequest info = WARMPOOL__AGENT__V1__INFO_REQUEST__INIT;
    Warmpool__Agent__V1__Request req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_INFO;
    req.info = &info;
    return agent_client_simple_call(c, &req, WARMPOOL__AGENT__V1__RESPONSE__RESULT_INFO, out,
                                    timeout_ms, err);
}

int agent_client_shutdown(agent_client_t *c, int timeout_ms, wp_error_t *err)
{
    Warmpool__Agent__V1__ShutdownRequest sd = WARMPOOL__AGENT__V1__SHUTDOWN_REQUEST__INIT;
    Warmpool__Agent__V1__Request req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_SHUTDOWN;
    req.shutdown = &sd;
    return agent_client_simple_call(c, &req, WARMPOOL__AGENT__V1__RESPONSE__RESULT_SHUTDOWN, NULL,
                                    timeout_ms, err);
}
