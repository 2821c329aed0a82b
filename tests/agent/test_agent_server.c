/* test_agent_server.c - the agent's event loop over socketpairs with fake
 * system calls, driven from the test thread (run_once until nothing is
 * ready, then look at what the host end received): announce on connect,
 * pipelined requests answered on their ids, an undecodable payload answered
 * on its id with the connection kept, a bad header closing only its own
 * connection, hang-up with and without keep_fd, shutdown powering off once
 * and only after the reply. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <errno.h>      /* EBADMSG */
#include <fcntl.h>      /* fcntl */
#include <signal.h>     /* signal */
#include <stdlib.h>     /* calloc */
#include <sys/socket.h> /* socketpair */
#include <unistd.h>     /* close */

#include "agent_server.h"
#include "fake_sys.h"
#include "wire.h"

#define RESULT(x) WARMPOOL__AGENT__V1__RESPONSE__RESULT_##x

typedef Warmpool__Agent__V1__Response resp_t;

typedef struct agent {
    fake_sys_t sys;
    agent_ctx_t ctx;
    agent_server_t *srv;
} agent_t;

/* One host connection: the test holds `w`, the agent serves guest_fd. */
typedef struct host {
    wire_t w;
    int guest_fd;
    int hangups;
    bool guest_fd_open_at_hangup;
} host_t;

static void agent_up(agent_t *a)
{
    memset(a, 0, sizeof(*a));
    a->ctx = fake_ctx(&a->sys);
    wp_error_t err = {0};
    a->srv = agent_server_new(&a->ctx, &err);
    cr_assert_not_null(a->srv, "%s", err.msg);
}

static void on_hangup(void *opaque)
{
    host_t *h = opaque;
    h->hangups++;
    h->guest_fd_open_at_hangup = fcntl(h->guest_fd, F_GETFD) != -1;
}

static void host_connect(agent_t *a, host_t *h, bool keep_fd, bool announce)
{
    memset(h, 0, sizeof(*h));
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    wire_init(&h->w, sv[0]);
    h->guest_fd = sv[1];
    wp_error_t err = {0};
    cr_assert_eq(agent_server_add_conn(a->srv, sv[1], keep_fd, on_hangup, h, announce, &err), 0,
                 "%s", err.msg);
}

/* Run the loop until nothing is ready. Unix sockets deliver at write, so
 * whatever the test wrote has been handled on return. */
static void drain(agent_t *a)
{
    for (int i = 0;; i++) {
        cr_assert_lt(i, 1000, "the loop keeps finding work (a hung-up fd left in epoll?)");
        wp_error_t err = {0};
        int n = agent_server_run_once(a->srv, 0, &err);
        cr_assert_geq(n, 0, "%s", err.msg);
        if (n == 0)
            return;
    }
}

/* Nothing (more) has been sent to the host. */
static void assert_quiet(host_t *h)
{
    wp_frame_header_t hdr;
    const uint8_t *payload;
    cr_assert_eq(wire_next(&h->w, 0, &hdr, &payload), -1, "unexpected frame or close");
}

static resp_t *response_on(host_t *h, uint32_t want_id)
{
    uint32_t id = 0;
    resp_t *r = wire_response(&h->w, &id);
    cr_assert_eq(id, want_id, "reply on id %u, wanted %u", id, want_id);
    return r;
}

static void ping_pong(agent_t *a, host_t *h, uint32_t id, uint64_t token)
{
    wire_call_t c;
    wire_send(&h->w, id, WP_FRAME_REQUEST, &call_ping(&c, token)->base);
    drain(a);
    resp_t *r = response_on(h, id);
    cr_assert_eq(r->error_code, 0, "%s", r->error_message);
    cr_assert_eq(r->result_case, RESULT(PING));
    cr_assert_eq(r->ping->token, token);
    warmpool__agent__v1__response__free_unpacked(r, NULL);
}

static void ignore_sigpipe(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the agent does: a gone host is an error, not a death */
}

TestSuite(agent_server, .init = ignore_sigpipe);

Test(agent_server, announces_itself_only_when_asked)
{
    agent_t a;
    agent_up(&a);
    host_t h1, h2;
    host_connect(&a, &h1, false, true);
    Warmpool__Agent__V1__Event *ev = wire_event(&h1.w);
    cr_assert_eq(ev->event_case, WARMPOOL__AGENT__V1__EVENT__EVENT_ANNOUNCE);
    cr_assert_str_eq(ev->announce->agent_version, FAKE_VERSION);
    cr_assert_str_eq(ev->announce->boot_id, FAKE_BOOT_ID);
    cr_assert_eq(ev->announce->protocol_version, AGENT_PROTOCOL_VERSION);
    cr_assert_eq(ev->announce->uptime_ns, FAKE_UPTIME_NS);
    warmpool__agent__v1__event__free_unpacked(ev, NULL);
    assert_quiet(&h1);

    host_connect(&a, &h2, false, false);
    assert_quiet(&h2);
    cr_assert_eq(agent_server_connections(a.srv), 2);
    agent_server_free(a.srv);
    wire_fini(&h1.w);
    wire_fini(&h2.w);
}

Test(agent_server, pipelined_requests_are_each_answered_on_their_id)
{
    agent_t a;
    agent_up(&a);
    a.sys.random_fill = 0xa0;
    host_t h;
    host_connect(&a, &h, false, false);
    /* five requests in one write, before reading anything */
    uint8_t buf[1024];
    size_t len = 0;
    wire_call_t c;
    wire_pack(buf, sizeof(buf), &len, 7, WP_FRAME_REQUEST, &call_ping(&c, 0x77)->base);
    wire_pack(buf, sizeof(buf), &len, 8, WP_FRAME_REQUEST, &call_random(&c, 4)->base);
    wire_pack(buf, sizeof(buf), &len, 9, WP_FRAME_REQUEST, &call_set_clock(&c, 123456789)->base);
    wire_pack(buf, sizeof(buf), &len, 10, WP_FRAME_REQUEST, &call_info(&c)->base);
    wire_pack(buf, sizeof(buf), &len, 11, WP_FRAME_REQUEST, &call_ping(&c, 0x1111)->base);
    wire_write(&h.w, buf, len);
    drain(&a);

    bool seen[12] = {false};
    for (int k = 0; k < 5; k++) {
        uint32_t id = 0;
        resp_t *r = wire_response(&h.w, &id);
        cr_assert(id >= 7 && id <= 11, "reply on id %u, which was never asked", id);
        cr_assert_not(seen[id], "two replies on id %u", id);
        seen[id] = true;
        cr_assert_eq(r->error_code, 0, "id %u: %s", id, r->error_message);
        switch (id) {
        case 7:
        case 11:
            cr_assert_eq(r->result_case, RESULT(PING));
            cr_assert_eq(r->ping->token, id == 7 ? 0x77 : 0x1111);
            break;
        case 8:
            cr_assert_eq(r->result_case, RESULT(RANDOM_SAMPLE));
            cr_assert_eq(r->random_sample->data.len, 4);
            for (int i = 0; i < 4; i++)
                cr_assert_eq(r->random_sample->data.data[i], 0xa0 + i);
            break;
        case 9:
            cr_assert_eq(r->result_case, RESULT(SET_CLOCK));
            cr_assert_eq(r->set_clock->realtime_ns, 123456789);
            break;
        case 10:
            cr_assert_eq(r->result_case, RESULT(INFO));
            cr_assert_str_eq(r->info->kernel_release, FAKE_KERNEL_RELEASE);
            break;
        }
        warmpool__agent__v1__response__free_unpacked(r, NULL);
    }
    assert_quiet(&h);
    cr_assert_eq(a.sys.clock_ns, 123456789);
    agent_server_free(a.srv);
    wire_fini(&h.w);
}

Test(agent_server, each_connection_assembles_its_own_frames)
{
    agent_t a;
    agent_up(&a);
    host_t h1, h2;
    host_connect(&a, &h1, false, false);
    host_connect(&a, &h2, false, false);
    uint8_t buf[64];
    size_t len = 0;
    wire_call_t c;
    wire_pack(buf, sizeof(buf), &len, 5, WP_FRAME_REQUEST, &call_ping(&c, 55)->base);
    /* h1's request dribbles in a byte at a time while h2 is served whole */
    for (size_t i = 0; i + 1 < len; i++) {
        wire_write(&h1.w, buf + i, 1);
        drain(&a);
        assert_quiet(&h1);
        if (i == len / 2)
            ping_pong(&a, &h2, 5, 66);
    }
    wire_write(&h1.w, buf + len - 1, 1);
    drain(&a);
    resp_t *r = response_on(&h1, 5);
    cr_assert_eq(r->ping->token, 55);
    warmpool__agent__v1__response__free_unpacked(r, NULL);
    assert_quiet(&h2);
    agent_server_free(a.srv);
    wire_fini(&h1.w);
    wire_fini(&h2.w);
}

Test(agent_server, an_undecodable_payload_gets_ebadmsg_on_its_id_and_the_connection_stays)
{
    static const uint8_t bad_tag[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x07};
    static const uint8_t truncated[] = {0x0a, 0x05, 0x08}; /* ping: 5 bytes announced, 1 sent */
    struct {
        const uint8_t *data;
        size_t len;
    } junk[] = {{bad_tag, sizeof(bad_tag)}, {truncated, sizeof(truncated)}};
    agent_t a;
    agent_up(&a);
    host_t h;
    host_connect(&a, &h, false, false);
    for (uint32_t i = 0; i < 2; i++) {
        wp_error_t err = {0};
        cr_assert_eq(
            wp_frame_write(h.w.fd, 77 + i, WP_FRAME_REQUEST, junk[i].data, junk[i].len, &err), 0);
        drain(&a);
        resp_t *r = response_on(&h, 77 + i);
        cr_assert_eq(r->error_code, EBADMSG);
        cr_assert_str_eq(r->error_message, "request does not decode");
        cr_assert_eq(r->result_case, RESULT(_NOT_SET));
        warmpool__agent__v1__response__free_unpacked(r, NULL);
        cr_assert_eq(agent_server_connections(a.srv), 1);
        ping_pong(&a, &h, 90 + i, 1000 + i);
    }
    cr_assert_eq(fake_sys_calls(&a.sys), 0);
    cr_assert_eq(h.hangups, 0);
    agent_server_free(a.srv);
    wire_fini(&h.w);
}

Test(agent_server, frames_that_are_not_requests_get_eproto_on_their_id)
{
    agent_t a;
    agent_up(&a);
    host_t h;
    host_connect(&a, &h, false, false);
    wire_call_t c;
    wire_send(&h.w, 5, WP_FRAME_RESPONSE, &call_ping(&c, 1)->base);
    wire_send(&h.w, 6, WP_FRAME_EVENT, &call_ping(&c, 2)->base);
    drain(&a);
    for (uint32_t id = 5; id <= 6; id++) {
        resp_t *r = response_on(&h, id);
        cr_assert_eq(r->error_code, EPROTO);
        cr_assert_eq(r->result_case, RESULT(_NOT_SET));
        warmpool__agent__v1__response__free_unpacked(r, NULL);
    }
    ping_pong(&a, &h, 7, 3);
    agent_server_free(a.srv);
    wire_fini(&h.w);
}

Test(agent_server, an_empty_request_gets_eopnotsupp)
{
    agent_t a;
    agent_up(&a);
    host_t h;
    host_connect(&a, &h, false, false);
    wp_error_t err = {0};
    cr_assert_eq(wp_frame_write(h.w.fd, 12, WP_FRAME_REQUEST, NULL, 0, &err), 0);
    drain(&a);
    resp_t *r = response_on(&h, 12);
    cr_assert_eq(r->error_code, EOPNOTSUPP);
    cr_assert_eq(r->result_case, RESULT(_NOT_SET));
    warmpool__agent__v1__response__free_unpacked(r, NULL);
    ping_pong(&a, &h, 13, 4);
    agent_server_free(a.srv);
    wire_fini(&h.w);
}

Test(agent_server, a_bad_header_closes_only_its_connection)
{
    wp_frame_header_t bad[] = {
        {.length = WP_FRAME_MAX_PAYLOAD + 1, .id = 2, .kind = WP_FRAME_REQUEST},
        {.length = 0, .id = 2, .kind = 9},
        {.length = 0, .id = 2, .kind = WP_FRAME_REQUEST, .flags = 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        agent_t a;
        agent_up(&a);
        host_t h1, h2;
        host_connect(&a, &h1, false, false);
        host_connect(&a, &h2, false, false);
        /* a good request, then the bad header, in one write */
        uint8_t buf[128];
        size_t len = 0;
        wire_call_t c;
        wire_pack(buf, sizeof(buf), &len, 1, WP_FRAME_REQUEST, &call_ping(&c, 11)->base);
        wp_frame_header_encode(&bad[i], buf + len);
        len += WP_FRAME_HEADER_SIZE;
        wire_write(&h1.w, buf, len);
        drain(&a);
        resp_t *r = response_on(&h1, 1);
        cr_assert_eq(r->ping->token, 11, "what came before the bad header is answered");
        warmpool__agent__v1__response__free_unpacked(r, NULL);
        cr_assert(wire_closed(&h1.w, 0), "bad header %zu: the connection is closed", i);
        cr_assert_eq(h1.hangups, 1);
        cr_assert_not(h1.guest_fd_open_at_hangup);
        cr_assert_eq(agent_server_connections(a.srv), 1);
        ping_pong(&a, &h2, 3, 33);
        cr_assert_eq(h2.hangups, 0);
        agent_server_free(a.srv);
        wire_fini(&h1.w);
        wire_fini(&h2.w);
    }
}

Test(agent_server, a_payload_of_the_maximum_size_is_read_not_refused)
{
    agent_t a;
    agent_up(&a);
    host_t h;
    host_connect(&a, &h, false, false);
    /* a frame exactly at the cap is legal; its payload is junk, so the
     * answer is EBADMSG on its id rather than a closed connection */
    size_t len = WP_FRAME_MAX_PAYLOAD;
    uint8_t *frame = calloc(1, WP_FRAME_HEADER_SIZE + len);
    wp_frame_header_t hdr = {.length = (uint32_t)len, .id = 21, .kind = WP_FRAME_REQUEST};
    wp_frame_header_encode(&hdr, frame);
    frame[WP_FRAME_HEADER_SIZE] = 0xff; /* unknown field with wire type 7: undecodable */
    cr_assert_eq(fcntl(h.w.fd, F_SETFL, O_NONBLOCK), 0);
    for (size_t off = 0; off < WP_FRAME_HEADER_SIZE + len;) {
        ssize_t n = write(h.w.fd, frame + off, WP_FRAME_HEADER_SIZE + len - off);
        cr_assert(n > 0 || errno == EAGAIN, "write: %s", strerror(errno));
        if (n > 0)
            off += (size_t)n;
        drain(&a);
    }
    free(frame);
    resp_t *r = response_on(&h, 21);
    cr_assert_eq(r->error_code, EBADMSG);
    warmpool__agent__v1__response__free_unpacked(r, NULL);
    cr_assert_eq(agent_server_connections(a.srv), 1);
    cr_assert_eq(fcntl(h.w.fd, F_SETFL, 0), 0);
    ping_pong(&a, &h, 22, 5);
    agent_server_free(a.srv);
    wire_fini(&h.w);
}

Test(agent_server, a_host_hanging_up_closes_its_fd_and_calls_back_once)
{
    agent_t a;
    agent_up(&a);
    host_t h1, h2;
    host_connect(&a, &h1, false, true); /* closed with the Announce unread */
    host_connect(&a, &h2, false, false);
    wire_fini(&h1.w);
    drain(&a);
    cr_assert_eq(h1.hangups, 1);
    cr_assert_not(h1.guest_fd_open_at_hangup, "the fd is closed before on_hangup runs");
    cr_assert_eq(agent_server_connections(a.srv), 1);
    cr_assert_eq(h2.hangups, 0);
    ping_pong(&a, &h2, 1, 2);
    agent_server_free(a.srv);
    cr_assert_eq(h1.hangups, 1);
    wire_fini(&h2.w);
}

Test(agent_server, a_kept_fd_stays_open_and_leaves_the_loop_at_hang_up)
{
    agent_t a;
    agent_up(&a);
    host_t h;
    host_connect(&a, &h, true, true);
    wire_fini(&h.w);
    drain(&a); /* fails if the hung-up port stayed in the epoll set */
    cr_assert_eq(h.hangups, 1);
    cr_assert(h.guest_fd_open_at_hangup, "a virtio-serial port is kept for the next host");
    cr_assert_neq(fcntl(h.guest_fd, F_GETFD), -1);
    cr_assert_eq(agent_server_connections(a.srv), 0);
    wp_error_t err = {0};
    cr_assert_eq(agent_server_run_once(a.srv, 0, &err), 0);
    agent_server_free(a.srv);
    cr_assert_neq(fcntl(h.guest_fd, F_GETFD), -1);
    close(h.guest_fd);
}

Test(agent_server, free_closes_connections_except_kept_ones_without_hangup_calls)
{
    agent_t a;
    agent_up(&a);
    host_t plain, kept;
    host_connect(&a, &plain, false, false);
    host_connect(&a, &kept, true, false);
    agent_server_free(a.srv);
    cr_assert(wire_closed(&plain.w, 0), "a plain connection is closed");
    assert_quiet(&kept);
    cr_assert_neq(fcntl(kept.guest_fd, F_GETFD), -1, "a kept fd is left open");
    cr_assert_eq(plain.hangups + kept.hangups, 0, "no callback into a server being freed");
    close(kept.guest_fd);
    wire_fini(&plain.w);
    wire_fini(&kept.w);
}

Test(agent_server, shutdown_replies_then_powers_off_exactly_once)
{
    agent_t a;
    agent_up(&a);
    host_t h;
    host_connect(&a, &h, false, false);
    a.sys.reply_fd = h.w.fd;
    ping_pong(&a, &h, 1, 1);
    cr_assert_eq(a.sys.power_offs, 0);
    wire_call_t c;
    wire_send(&h.w, 2, WP_FRAME_REQUEST, &call_shutdown(&c)->base);
    drain(&a);
    cr_assert_eq(a.sys.power_offs, 1);
    cr_assert(a.sys.reply_readable_at_power_off, "the reply is out before the power goes");
    resp_t *r = response_on(&h, 2);
    cr_assert_eq(r->error_code, 0);
    cr_assert_eq(r->result_case, RESULT(SHUTDOWN));
    warmpool__agent__v1__response__free_unpacked(r, NULL);
    drain(&a);
    cr_assert_eq(a.sys.power_offs, 1);
    agent_server_free(a.srv);
    wire_fini(&h.w);
}

Test(agent_server, shutdown_powers_off_even_when_the_host_left_before_the_reply)
{
    signal(SIGPIPE, SIG_IGN); /* the agent's own main blocks it; the test process must too */
    agent_t a;
    agent_up(&a);
    host_t h;
    host_connect(&a, &h, false, false);
    wire_call_t c;
    wire_send(&h.w, 2, WP_FRAME_REQUEST, &call_shutdown(&c)->base);
    wire_fini(&h.w); /* gone before the agent even read the request */
    drain(&a);
    cr_assert_eq(a.sys.power_offs, 1, "a shutdown whose reply cannot be written still powers off");
    cr_assert_eq(agent_server_connections(a.srv), 0);
    agent_server_free(a.srv);
}

/* Make h's connection non-blocking on the agent's side (as vsock's are)
 * with small socket buffers, and send 200 requests whose replies (~270
 * bytes each) overflow them unless h reads. */
static void flood_small_nonblocking(host_t *h)
{
    int small = 4096;
    cr_assert_eq(setsockopt(h->guest_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    cr_assert_eq(setsockopt(h->w.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    cr_assert_eq(fcntl(h->guest_fd, F_SETFL, O_NONBLOCK), 0);
    wire_call_t c;
    for (uint32_t id = 1; id <= 200; id++)
        wire_send(&h->w, id, WP_FRAME_REQUEST, &call_random(&c, AGENT_SAMPLE_MAX)->base);
}

/* A host that sends requests and never reads the replies: on a
 * non-blocking connection (as vsock's are) the agent gives up on it after
 * AGENT_WRITE_TIMEOUT_MS and serves the other host, instead of blocking. */
Test(agent_server, a_host_that_stops_reading_is_dropped_and_others_are_served, .timeout = 30)
{
    signal(SIGPIPE, SIG_IGN);
    agent_t a;
    agent_up(&a);
    host_t stuck, other;
    host_connect(&a, &stuck, false, false);
    host_connect(&a, &other, false, false);
    wire_call_t c;
    flood_small_nonblocking(&stuck);
    wire_send(&other.w, 1, WP_FRAME_REQUEST, &call_ping(&c, 9)->base);
    drain(&a);
    cr_assert_eq(agent_server_connections(a.srv), 1, "the host that reads nothing was dropped");
    resp_t *r = response_on(&other, 1);
    cr_assert_eq(r->error_code, 0);
    warmpool__agent__v1__response__free_unpacked(r, NULL);
    agent_server_free(a.srv);
    wire_fini(&stuck.w);
    wire_fini(&other.w);
}

typedef struct loop_thread {
    agent_server_t *srv;
    int rounds, failed;
} loop_thread_t;

/* The agent's loop on a thread of its own (no Criterion asserts here). */
static void *run_loop(void *arg)
{
    loop_thread_t *t = arg;
    for (t->rounds = 0; t->rounds < 100000; t->rounds++) {
        wp_error_t err = {0};
        int n = agent_server_run_once(t->srv, 500, &err);
        if (n < 0)
            t->failed = 1;
        if (n <= 0)
            return NULL;
    }
    return NULL;
}

/* The bounded wait is a wait, not a drop: a host that reads late (within
 * AGENT_WRITE_TIMEOUT_MS) gets every reply, in order, on a connection kept. */
Test(agent_server, a_host_that_reads_late_gets_every_reply, .timeout = 30)
{
    signal(SIGPIPE, SIG_IGN);
    agent_t a;
    agent_up(&a);
    host_t slow;
    host_connect(&a, &slow, false, false);
    flood_small_nonblocking(&slow);
    loop_thread_t t = {.srv = a.srv};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_loop, &t), 0);
    usleep(300 * 1000); /* the agent fills the buffer and waits for room */
    for (uint32_t id = 1; id <= 200; id++) {
        resp_t *r = response_on(&slow, id);
        cr_assert_eq(r->error_code, 0);
        warmpool__agent__v1__response__free_unpacked(r, NULL);
    }
    pthread_join(th, NULL);
    cr_assert_eq(t.failed, 0);
    cr_assert_eq(agent_server_connections(a.srv), 1, "a late reader keeps its connection");
    agent_server_free(a.srv);
    wire_fini(&slow.w);
}
