/* test_agent_server.c - the agent's event loop over socketpairs, with fake
 * system calls, and the host-side client against it: announce on connect,
 * pipelined requests answered on their ids, an undecodable payload answered
 * with EBADMSG on its id, a bad header closing only its own connection,
 * hang-up handling, shutdown powering off once; client timeouts, error
 * mapping and endpoint parsing; the kernel command line. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_client.h"
#include "agent_init.h"
#include "agent_server.h"
#include "fake_sys.h"
#include "wp_frame.h"

/* ---- the server on a thread of its own ---- */

typedef struct loop {
    fake_sys_t sys;
    agent_ctx_t ctx;
    agent_server_t *srv;
    pthread_t thread;
    atomic_bool stop;
    atomic_int hangups;
} loop_t;

static void *loop_main(void *arg)
{
    loop_t *l = arg;
    while (!atomic_load(&l->stop))
        agent_server_run_once(l->srv, 20, NULL);
    return NULL;
}

static void on_hangup(void *opaque)
{
    atomic_fetch_add(&((loop_t *)opaque)->hangups, 1);
}

/* Start a loop; returns the host end of a connection it serves. */
static int loop_start(loop_t *l, bool keep_fd, int *guest_fd)
{
    memset(l, 0, sizeof(*l));
    l->ctx = fake_ctx(&l->sys);
    wp_error_t err = {0};
    l->srv = agent_server_new(&l->ctx, &err);
    cr_assert_not_null(l->srv, "%s", err.msg);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    cr_assert_eq(agent_server_add_conn(l->srv, sv[1], keep_fd, on_hangup, l, true, &err), 0, "%s",
                 err.msg);
    if (guest_fd)
        *guest_fd = sv[1];
    pthread_create(&l->thread, NULL, loop_main, l);
    return sv[0];
}

/* One more connection, added while the loop is stopped. */
static int loop_add(loop_t *l)
{
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    atomic_store(&l->stop, false);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    wp_error_t err = {0};
    cr_assert_eq(agent_server_add_conn(l->srv, sv[1], false, NULL, NULL, true, &err), 0);
    pthread_create(&l->thread, NULL, loop_main, l);
    return sv[0];
}

static void loop_stop(loop_t *l)
{
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    agent_server_free(l->srv);
}

/* ---- raw frames ---- */

static void send_ping(int fd, uint32_t id, uint64_t token)
{
    Warmpool__Agent__V1__PingRequest p = WARMPOOL__AGENT__V1__PING_REQUEST__INIT;
    p.token = token;
    Warmpool__Agent__V1__Request req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_PING;
    req.ping = &p;
    uint8_t buf[64];
    size_t len = warmpool__agent__v1__request__pack(&req, buf);
    wp_error_t err = {0};
    cr_assert_eq(wp_frame_write(fd, id, WP_FRAME_REQUEST, buf, len, &err), 0, "%s", err.msg);
}

/* Read frames until a RESPONSE arrives (skipping the Announce event). */
static Warmpool__Agent__V1__Response *read_response(wp_frame_reader_t *r, int fd, uint32_t *id)
{
    for (;;) {
        wp_frame_header_t h;
        const uint8_t *payload;
        wp_error_t err = {0};
        int got = wp_frame_reader_next(r, &h, &payload, &err);
        cr_assert_geq(got, 0, "%s", err.msg);
        if (got == 1 && h.kind == WP_FRAME_RESPONSE) {
            *id = h.id;
            return warmpool__agent__v1__response__unpack(NULL, h.length, payload);
        }
        if (got == 1)
            continue;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        cr_assert_eq(poll(&pfd, 1, 5000), 1, "a reply within 5 s");
        cr_assert_gt(wp_frame_reader_read_fd(r, fd, &err), 0, "connection open: %s", err.msg);
    }
}

/* True when the peer closed fd within timeout_ms. */
static bool closed_by_peer(int fd, int timeout_ms)
{
    char buf[4096];
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, timeout_ms) != 1)
            return false;
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return true;
    }
}

Test(agent_server, announces_then_answers_pipelined_requests_on_their_ids)
{
    loop_t l;
    int fd = loop_start(&l, false, NULL);
    wp_error_t err = {0};
    agent_client_t *c = agent_client_from_fd(dup(fd), &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(agent_client_wait_announce(c, 5000, &err), 0, "%s", err.msg);
    const Warmpool__Agent__V1__Announce *a = agent_client_announce(c);
    cr_assert_str_eq(a->agent_version, "9.9.9-test");
    cr_assert_eq(a->protocol_version, AGENT_PROTOCOL_VERSION);
    agent_client_close(c);

    /* three requests in one burst, before reading anything */
    for (uint32_t i = 1; i <= 3; i++)
        send_ping(fd, 100 + i, 1000 + i);
    wp_frame_reader_t r;
    wp_frame_reader_init(&r, WP_FRAME_MAX_PAYLOAD);
    bool seen[4] = {false};
    for (int k = 0; k < 3; k++) {
        uint32_t id = 0;
        Warmpool__Agent__V1__Response *resp = read_response(&r, fd, &id);
        cr_assert_not_null(resp);
        cr_assert(id >= 101 && id <= 103, "id %u", id);
        cr_assert_eq(resp->ping->token, 1000 + (id - 100), "reply on the id of its request");
        seen[id - 100] = true;
        warmpool__agent__v1__response__free_unpacked(resp, NULL);
    }
    cr_assert(seen[1] && seen[2] && seen[3]);
    wp_frame_reader_fini(&r);
    close(fd);
    loop_stop(&l);
}

Test(agent_server, an_undecodable_payload_gets_ebadmsg_on_its_id_and_the_connection_stays)
{
    loop_t l;
    int fd = loop_start(&l, false, NULL);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x07};
    wp_error_t err = {0};
    cr_assert_eq(wp_frame_write(fd, 77, WP_FRAME_REQUEST, junk, sizeof(junk), &err), 0);
    wp_frame_reader_t r;
    wp_frame_reader_init(&r, WP_FRAME_MAX_PAYLOAD);
    uint32_t id = 0;
    Warmpool__Agent__V1__Response *resp = read_response(&r, fd, &id);
    cr_assert_eq(id, 77);
    cr_assert_eq(resp->error_code, EBADMSG);
    warmpool__agent__v1__response__free_unpacked(resp, NULL);
    /* a response frame sent to the agent: EPROTO, same connection */
    cr_assert_eq(wp_frame_write(fd, 78, WP_FRAME_RESPONSE, "", 0, &err), 0);
    resp = read_response(&r, fd, &id);
    cr_assert_eq(id, 78);
    cr_assert_eq(resp->error_code, EPROTO);
    warmpool__agent__v1__response__free_unpacked(resp, NULL);
    send_ping(fd, 79, 5);
    resp = read_response(&r, fd, &id);
    cr_assert_eq(id, 79);
    cr_assert_eq(resp->ping->token, 5);
    warmpool__agent__v1__response__free_unpacked(resp, NULL);
    wp_frame_reader_fini(&r);
    close(fd);
    loop_stop(&l);
}

Test(agent_server, a_bad_header_closes_only_its_connection)
{
    loop_t l;
    int a = loop_start(&l, false, NULL);
    int b = loop_add(&l);
    uint8_t hdr[WP_FRAME_HEADER_SIZE];
    wp_frame_header_t h = {.length = WP_FRAME_MAX_PAYLOAD + 1, .id = 1, .kind = WP_FRAME_REQUEST};
    wp_frame_header_encode(&h, hdr);
    cr_assert_eq(write(a, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
    cr_assert(closed_by_peer(a, 5000), "the oversized connection is closed");
    send_ping(b, 9, 99);
    wp_frame_reader_t r;
    wp_frame_reader_init(&r, WP_FRAME_MAX_PAYLOAD);
    uint32_t id = 0;
    Warmpool__Agent__V1__Response *resp = read_response(&r, b, &id);
    cr_assert_eq(resp->ping->token, 99, "the other connection is served as before");
    warmpool__agent__v1__response__free_unpacked(resp, NULL);
    wp_frame_reader_fini(&r);
    close(a);
    close(b);
    loop_stop(&l);
}

Test(agent_server, hangup_calls_back_and_keep_fd_leaves_the_port_open)
{
    loop_t l;
    int guest = -1;
    int fd = loop_start(&l, true, &guest);
    close(fd);
    for (int i = 0; i < 250 && atomic_load(&l.hangups) == 0; i++)
        usleep(20000);
    cr_assert_eq(atomic_load(&l.hangups), 1, "on_hangup once");
    cr_assert_neq(fcntl(guest, F_GETFD), -1, "a kept fd (virtio-serial port) stays open");
    loop_stop(&l);
    close(guest);
}

Test(agent_server, shutdown_replies_then_powers_off_once)
{
    loop_t l;
    int fd = loop_start(&l, false, NULL);
    wp_error_t err = {0};
    agent_client_t *c = agent_client_from_fd(fd, &err);
    cr_assert_eq(agent_client_shutdown(c, 5000, &err), 0, "%s", err.msg);
    agent_client_close(c);
    loop_stop(&l);
    cr_assert_eq(l.sys.power_offs, 1);
}

Test(agent_client, maps_error_replies_and_times_out)
{
    loop_t l;
    int fd = loop_start(&l, false, NULL);
    wp_error_t err = {0};
    agent_client_t *c = agent_client_from_fd(fd, &err);
    uint8_t few[8] = {0};
    cr_assert_eq(agent_client_reseed(c, few, sizeof(few), 5000, &err), -1);
    cr_assert_eq(err.code, EINVAL, "%s", err.msg);
    cr_assert(strstr(err.msg, "32 to 4096") != NULL, "the agent's message: %s", err.msg);
    uint8_t sample[4];
    cr_assert_eq(agent_client_random_sample(c, sample, sizeof(sample), 5000, &err), 0, "%s",
                 err.msg);
    agent_client_close(c);
    loop_stop(&l);

    /* nobody answers */
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    c = agent_client_from_fd(sv[0], &err);
    err = (wp_error_t){0};
    cr_assert_eq(agent_client_ping(c, 200, &err), -1);
    cr_assert_eq(err.code, ETIMEDOUT, "%s", err.msg);
    agent_client_close(c);
    close(sv[1]);
}

Test(agent_client, endpoints_are_parsed)
{
    static const char *bad[] = {"bogus", "tcp:1.2.3.4:5", "vsock:x:1", "vsock:3", "vsock:3:"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wp_error_t err = {0};
        cr_assert_null(agent_client_connect(bad[i], &err), "%s", bad[i]);
        cr_assert_eq(err.code, EINVAL, "%s: %s", bad[i], err.msg);
    }
    wp_error_t err = {0};
    cr_assert_null(agent_client_connect("unix:/nonexistent/agent.sock", &err));
    cr_assert_eq(err.code, ENOENT, "%s", err.msg);
}

Test(agent_init, kernel_command_line)
{
    agent_options_t o;
    wp_error_t err = {0};
    cr_assert_eq(agent_parse_cmdline("console=ttyS0 quiet panic=-1\n", &o, &err), 0, "%s", err.msg);
    cr_assert_not(o.vsock);
    cr_assert_eq(o.vsock_port, 1024);
    cr_assert_eq(agent_parse_cmdline("warmpool.transport=vsock warmpool.vsock_port=2048", &o, &err),
                 0, "%s", err.msg);
    cr_assert(o.vsock);
    cr_assert_eq(o.vsock_port, 2048);
    static const char *bad[] = {"warmpool.transport=pigeon", "warmpool.vsock_port=abc",
                                "warmpool.vsock_port=0", "warmpool.nosuch=1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = (wp_error_t){0};
        cr_assert_eq(agent_parse_cmdline(bad[i], &o, &err), -1, "%s", bad[i]);
        cr_assert_eq(err.code, EINVAL, "%s", bad[i]);
        cr_assert(strstr(err.msg, bad[i]) != NULL, "names the option: %s", err.msg);
    }
}
