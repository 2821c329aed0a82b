/* test_agent_client.c - the host-side agent client against a scripted fake
 * agent on the other end of a socketpair (or a unix socket in a temp dir):
 * the test writes the agent's frames ahead of the call, then reads what the
 * client sent. Announce handling, timeouts, stale replies, error mapping,
 * malformed replies, endpoint parsing; last, the client against the real
 * agent loop (with fake system calls) on a thread. */
#include <criterion/criterion.h>
#include <errno.h>      /* ETIMEDOUT */
#include <pthread.h>    /* pthread_create */
#include <signal.h>     /* signal */
#include <stdatomic.h>  /* atomic_bool */
#include <stdio.h>      /* snprintf */
#include <sys/socket.h> /* socketpair */
#include <sys/un.h>     /* sockaddr_un */
#include <unistd.h>     /* close */

#include "agent_client.h"
#include "agent_server.h"
#include "fake_sys.h"
#include "wire.h"
#include "wp_fs.h"
#include "wp_time.h"

#define RESULT(x) WARMPOOL__AGENT__V1__RESPONSE__RESULT_##x

typedef Warmpool__Agent__V1__Response resp_t;

/* A client and the fake agent's end of its connection. */
typedef struct pair {
    agent_client_t *c;
    wire_t agent;
} pair_t;

static void pair_open(pair_t *p)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    wp_error_t err = {0};
    p->c = agent_client_from_fd(sv[0], &err);
    cr_assert_not_null(p->c, "%s", err.msg);
    wire_init(&p->agent, sv[1]);
}

static void pair_close(pair_t *p)
{
    agent_client_close(p->c);
    wire_fini(&p->agent);
}

static void send_announce(wire_t *w, const char *version, const char *boot_id, uint64_t uptime)
{
    Warmpool__Agent__V1__Announce a = WARMPOOL__AGENT__V1__ANNOUNCE__INIT;
    a.agent_version = (char *)version;
    a.boot_id = (char *)boot_id;
    a.protocol_version = 1;
    a.uptime_ns = uptime;
    Warmpool__Agent__V1__Event ev = WARMPOOL__AGENT__V1__EVENT__INIT;
    ev.event_case = WARMPOOL__AGENT__V1__EVENT__EVENT_ANNOUNCE;
    ev.announce = &a;
    wire_send(w, 0, WP_FRAME_EVENT, &ev.base);
}

static void send_error(wire_t *w, uint32_t id, int code, const char *message)
{
    resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    r.error_code = code;
    r.error_message = (char *)message;
    wire_send(w, id, WP_FRAME_RESPONSE, &r.base);
}

static void send_reseed_ok(wire_t *w, uint32_t id)
{
    Warmpool__Agent__V1__ReseedResponse ok = WARMPOOL__AGENT__V1__RESEED_RESPONSE__INIT;
    resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    r.result_case = RESULT(RESEED);
    r.reseed = &ok;
    wire_send(w, id, WP_FRAME_RESPONSE, &r.base);
}

static void send_set_clock_ok(wire_t *w, uint32_t id)
{
    Warmpool__Agent__V1__SetClockResponse ok = WARMPOOL__AGENT__V1__SET_CLOCK_RESPONSE__INIT;
    resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    r.result_case = RESULT(SET_CLOCK);
    r.set_clock = &ok;
    wire_send(w, id, WP_FRAME_RESPONSE, &r.base);
}

static void send_random(wire_t *w, uint32_t id, const uint8_t *data, size_t len)
{
    Warmpool__Agent__V1__RandomSampleResponse rs =
        WARMPOOL__AGENT__V1__RANDOM_SAMPLE_RESPONSE__INIT;
    rs.data.data = (uint8_t *)data;
    rs.data.len = len;
    resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    r.result_case = RESULT(RANDOM_SAMPLE);
    r.random_sample = &rs;
    wire_send(w, id, WP_FRAME_RESPONSE, &r.base);
}

/* The request the client sent, which must carry `id` and `call`. */
static Warmpool__Agent__V1__Request *take_request(pair_t *p, uint32_t want_id, int call)
{
    uint32_t id = 0;
    Warmpool__Agent__V1__Request *req = wire_request(&p->agent, &id);
    cr_assert_eq(id, want_id, "request on id %u, wanted %u", id, want_id);
    cr_assert_eq((int)req->call_case, call);
    return req;
}

static double ms_since(int64_t start)
{
    return wp_ms_between(start, wp_now_mono_ns());
}

static void ignore_sigpipe(void)
{
    signal(SIGPIPE, SIG_IGN);
}

TestSuite(agent_client, .init = ignore_sigpipe);

Test(agent_client, wait_announce_returns_the_announce_fields)
{
    pair_t p;
    pair_open(&p);
    cr_assert_null(agent_client_announce(p.c));
    send_announce(&p.agent, "1.2.3", "boot-a", 777);
    wp_error_t err = {0};
    cr_assert_eq(agent_client_wait_announce(p.c, 1000, &err), 0, "%s", err.msg);
    const Warmpool__Agent__V1__Announce *a = agent_client_announce(p.c);
    cr_assert_not_null(a);
    cr_assert_str_eq(a->agent_version, "1.2.3");
    cr_assert_str_eq(a->boot_id, "boot-a");
    cr_assert_eq(a->protocol_version, 1);
    cr_assert_eq(a->uptime_ns, 777);
    /* held: a second wait returns at once, with nothing more on the wire */
    int64_t start = wp_now_mono_ns();
    cr_assert_eq(agent_client_wait_announce(p.c, 5000, &err), 0, "%s", err.msg);
    cr_assert_lt(ms_since(start), 1000);
    pair_close(&p);
}

Test(agent_client, an_announce_during_a_call_replaces_the_last_one)
{
    pair_t p;
    pair_open(&p);
    send_announce(&p.agent, "1.2.3", "boot-a", 1);
    wp_error_t err = {0};
    cr_assert_eq(agent_client_wait_announce(p.c, 1000, &err), 0, "%s", err.msg);
    /* the guest was restored from a snapshot: a new Announce, then the reply */
    send_announce(&p.agent, "1.2.3", "boot-b", 2);
    send_set_clock_ok(&p.agent, 1);
    cr_assert_eq(agent_client_set_clock(p.c, 5, 1000, &err), 0, "%s", err.msg);
    cr_assert_str_eq(agent_client_announce(p.c)->boot_id, "boot-b");
    cr_assert_eq(agent_client_announce(p.c)->uptime_ns, 2);
    pair_close(&p);
}

/* A listening socket at <dir>/agent.sock (dir: a mkdtemp template, filled
 * in) and its endpoint "unix:...". */
static int unix_listener(char *dir, char *endpoint, size_t len)
{
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/agent.sock", dir);
    snprintf(endpoint, len, "unix:%s", path);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(l, 4), 0);
    return l;
}

Test(agent_client, wait_announce_over_a_unix_socket_endpoint)
{
    char dir[] = "/tmp/wp-test-agent-XXXXXX", endpoint[160];
    int l = unix_listener(dir, endpoint, sizeof(endpoint));
    wp_error_t err = {0};
    agent_client_t *c = agent_client_connect(endpoint, &err);
    cr_assert_not_null(c, "%s", err.msg);
    wire_t agent;
    wire_init(&agent, accept(l, NULL, NULL));
    cr_assert_geq(agent.fd, 0);
    send_announce(&agent, "4.5.6", "boot-u", 9);
    cr_assert_eq(agent_client_wait_announce(c, 1000, &err), 0, "%s", err.msg);
    cr_assert_str_eq(agent_client_announce(c)->agent_version, "4.5.6");
    cr_assert_str_eq(agent_client_announce(c)->boot_id, "boot-u");
    agent_client_close(c);
    wire_fini(&agent);
    close(l);
    wp_rm_tree(dir, NULL);
}

Test(agent_client, wait_announce_skips_other_events_and_times_out)
{
    pair_t p;
    pair_open(&p);
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    wp_error_t err = {0};
    cr_assert_eq(wp_frame_write(p.agent.fd, 0, WP_FRAME_EVENT, NULL, 0, &err), 0);
    cr_assert_eq(wp_frame_write(p.agent.fd, 0, WP_FRAME_EVENT, junk, sizeof(junk), &err), 0);
    send_error(&p.agent, 42, EIO, "a reply nobody asked for");
    int64_t start = wp_now_mono_ns();
    cr_assert_eq(agent_client_wait_announce(p.c, 100, &err), -1);
    double ms = ms_since(start);
    cr_assert_eq(err.code, ETIMEDOUT, "%s", err.msg);
    cr_assert_geq(ms, 99.0, "gave up after %.1f ms of 100", ms);
    cr_assert_lt(ms, 2000.0, "took %.1f ms for a 100 ms timeout", ms);
    cr_assert_null(agent_client_announce(p.c));
    pair_close(&p);
}

Test(agent_client, wait_announce_reports_the_agent_going_away)
{
    pair_t p;
    pair_open(&p);
    wire_fini(&p.agent);
    wp_error_t err = {0};
    cr_assert_eq(agent_client_wait_announce(p.c, 1000, &err), -1);
    cr_assert_eq(err.code, ECONNRESET, "%s", err.msg);
    agent_client_close(p.c);
}

Test(agent_client, a_call_without_a_reply_times_out_within_its_timeout)
{
    pair_t p;
    pair_open(&p);
    wp_error_t err = {0};
    int64_t start = wp_now_mono_ns();
    cr_assert_eq(agent_client_ping(p.c, 150, &err), -1);
    double ms = ms_since(start);
    cr_assert_eq(err.code, ETIMEDOUT, "%s", err.msg);
    cr_assert_geq(ms, 149.0, "gave up after %.1f ms of 150", ms);
    cr_assert_lt(ms, 2000.0, "took %.1f ms for a 150 ms timeout", ms);
    /* the request did go out */
    Warmpool__Agent__V1__Request *req =
        take_request(&p, 1, WARMPOOL__AGENT__V1__REQUEST__CALL_PING);
    warmpool__agent__v1__request__free_unpacked(req, NULL);
    pair_close(&p);
}

Test(agent_client, a_late_reply_is_dropped_and_the_next_call_gets_its_own)
{
    pair_t p;
    pair_open(&p);
    wp_error_t err = {0};
    uint8_t entropy[32] = {1};
    cr_assert_eq(agent_client_reseed(p.c, entropy, sizeof(entropy), 50, &err), -1);
    cr_assert_eq(err.code, ETIMEDOUT, "%s", err.msg);
    /* the agent answers the abandoned call 1, then call 2 */
    send_reseed_ok(&p.agent, 1);
    send_set_clock_ok(&p.agent, 2);
    err = (wp_error_t){0};
    cr_assert_eq(agent_client_set_clock(p.c, 99, 1000, &err), 0, "%s", err.msg);
    Warmpool__Agent__V1__Request *req =
        take_request(&p, 1, WARMPOOL__AGENT__V1__REQUEST__CALL_RESEED);
    warmpool__agent__v1__request__free_unpacked(req, NULL);
    req = take_request(&p, 2, WARMPOOL__AGENT__V1__REQUEST__CALL_SET_CLOCK);
    cr_assert_eq(req->set_clock->realtime_ns, 99);
    warmpool__agent__v1__request__free_unpacked(req, NULL);
    pair_close(&p);
}

Test(agent_client, an_error_response_maps_to_its_code_and_message)
{
    pair_t p;
    pair_open(&p);
    uint8_t entropy[40];
    for (size_t i = 0; i < sizeof(entropy); i++)
        entropy[i] = (uint8_t)(0x80 + i);
    send_error(&p.agent, 1, ENOSPC, "the pool is full");
    wp_error_t err = {0};
    cr_assert_eq(agent_client_reseed(p.c, entropy, sizeof(entropy), 1000, &err), -1);
    cr_assert_eq(err.code, ENOSPC, "%s", err.msg);
    cr_assert_str_eq(err.msg, "agent: the pool is full");
    Warmpool__Agent__V1__Request *req =
        take_request(&p, 1, WARMPOOL__AGENT__V1__REQUEST__CALL_RESEED);
    cr_assert_eq(req->reseed->entropy.len, sizeof(entropy));
    cr_assert_arr_eq(req->reseed->entropy.data, entropy, sizeof(entropy));
    warmpool__agent__v1__request__free_unpacked(req, NULL);

    /* the raw call hands out no response on error */
    send_error(&p.agent, 2, EPERM, "not allowed");
    wire_call_t c;
    resp_t *resp = NULL;
    err = (wp_error_t){0};
    cr_assert_eq(agent_client_call(p.c, call_info(&c), &resp, 1000, &err), -1);
    cr_assert_eq(err.code, EPERM, "%s", err.msg);
    cr_assert_null(resp);
    pair_close(&p);
}

Test(agent_client, replies_of_the_wrong_shape_are_eproto)
{
    pair_t p;
    pair_open(&p);
    wp_error_t err = {0};
    /* call 1 (info) answered with a reseed result */
    send_reseed_ok(&p.agent, 1);
    resp_t *info = NULL;
    cr_assert_eq(agent_client_info(p.c, &info, 1000, &err), -1);
    cr_assert_eq(err.code, EPROTO, "%s", err.msg);
    cr_assert_null(info);
    /* call 2 (4 random bytes) answered with 3 */
    static const uint8_t bytes[] = {9, 8, 7, 6};
    uint8_t out[4] = {0};
    send_random(&p.agent, 2, bytes, 3);
    err = (wp_error_t){0};
    cr_assert_eq(agent_client_random_sample(p.c, out, 4, 1000, &err), -1);
    cr_assert_eq(err.code, EPROTO, "%s", err.msg);
    /* call 3 (4 random bytes) answered with 5 */
    static const uint8_t five[] = {1, 2, 3, 4, 5};
    send_random(&p.agent, 3, five, 5);
    err = (wp_error_t){0};
    cr_assert_eq(agent_client_random_sample(p.c, out, 4, 1000, &err), -1);
    cr_assert_eq(err.code, EPROTO, "%s", err.msg);
    /* call 4 (ping) echoed with another token */
    Warmpool__Agent__V1__PingResponse pong = WARMPOOL__AGENT__V1__PING_RESPONSE__INIT;
    pong.token = 0; /* the client's token is its monotonic clock, never 0 */
    resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    r.result_case = RESULT(PING);
    r.ping = &pong;
    wire_send(&p.agent, 4, WP_FRAME_RESPONSE, &r.base);
    err = (wp_error_t){0};
    cr_assert_eq(agent_client_ping(p.c, 1000, &err), -1);
    cr_assert_eq(err.code, EPROTO, "%s", err.msg);
    /* call 5: the right shape, the agent's bytes */
    send_random(&p.agent, 5, bytes, 4);
    err = (wp_error_t){0};
    cr_assert_eq(agent_client_random_sample(p.c, out, 4, 1000, &err), 0, "%s", err.msg);
    cr_assert_arr_eq(out, bytes, 4);
    pair_close(&p);
}

Test(agent_client, an_undecodable_reply_is_ebadmsg)
{
    pair_t p;
    pair_open(&p);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x07};
    wp_error_t err = {0};
    cr_assert_eq(wp_frame_write(p.agent.fd, 1, WP_FRAME_RESPONSE, junk, sizeof(junk), &err), 0);
    cr_assert_eq(agent_client_ping(p.c, 1000, &err), -1);
    cr_assert_eq(err.code, EBADMSG, "%s", err.msg);
    pair_close(&p);
}

Test(agent_client, a_bad_header_from_the_agent_fails_the_call)
{
    pair_t p;
    pair_open(&p);
    uint8_t hdr[WP_FRAME_HEADER_SIZE];
    wp_frame_header_t h = {.length = WP_FRAME_MAX_PAYLOAD + 1, .id = 1, .kind = WP_FRAME_RESPONSE};
    wp_frame_header_encode(&h, hdr);
    wire_write(&p.agent, hdr, sizeof(hdr));
    wp_error_t err = {0};
    int64_t start = wp_now_mono_ns();
    cr_assert_eq(agent_client_ping(p.c, 5000, &err), -1);
    cr_assert_eq(err.code, EMSGSIZE, "%s", err.msg);
    cr_assert_lt(ms_since(start), 1000, "at once, not at the timeout");
    pair_close(&p);
}

Test(agent_client, the_agent_going_away_mid_call_is_econnreset)
{
    pair_t p;
    pair_open(&p);
    cr_assert_eq(shutdown(p.agent.fd, SHUT_WR), 0); /* it reads the request, never answers */
    wp_error_t err = {0};
    int64_t start = wp_now_mono_ns();
    cr_assert_eq(agent_client_ping(p.c, 5000, &err), -1);
    cr_assert_eq(err.code, ECONNRESET, "%s", err.msg);
    cr_assert_lt(ms_since(start), 1000, "at once, not at the timeout");
    pair_close(&p);
}

Test(agent_client, endpoints_are_parsed)
{
    static const char *bad[] = {
        "",
        "bogus",
        "unix",
        "unix:",
        "tcp:1.2.3.4:5",
        "vsock:",
        "vsock:3",
        "vsock:3:",
        "vsock::1024",
        "vsock:x:1",
        "vsock:3:1x",
        "vsock:3 :1",
        "vsock:3:1:2",
        "VSOCK:3:1",
        "vsock:4294967296:1024",
        "vsock:3:4294967296",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wp_error_t err = {0};
        cr_assert_null(agent_client_connect(bad[i], &err), "'%s' accepted", bad[i]);
        cr_assert_eq(err.code, EINVAL, "'%s': %s", bad[i], err.msg);
    }
    wp_error_t err = {0};
    cr_assert_null(agent_client_connect("unix:/nonexistent/agent.sock", &err));
    cr_assert_eq(err.code, ENOENT, "%s", err.msg);
    cr_assert(strstr(err.msg, "'/nonexistent/agent.sock'") != NULL, "%s", err.msg);
    char longpath[200] = "unix:/";
    memset(longpath + 6, 'a', sizeof(longpath) - 7);
    err = (wp_error_t){0};
    cr_assert_null(agent_client_connect(longpath, &err));
    cr_assert_eq(err.code, ENAMETOOLONG, "%s", err.msg);
}

/* ---- against the real agent loop ---- */

typedef struct live {
    fake_sys_t sys;
    agent_ctx_t ctx;
    agent_server_t *srv;
    pthread_t thread;
    atomic_bool stop;
} live_t;

static void *live_main(void *arg)
{
    live_t *l = arg;
    while (!atomic_load(&l->stop))
        agent_server_run_once(l->srv, 10, NULL);
    return NULL;
}

Test(agent_client, the_client_and_the_agent_loop_agree)
{
    live_t l = {.sys = {.random_fill = 0x10, .clock_ns = 77}};
    l.ctx = fake_ctx(&l.sys);
    wp_error_t err = {0};
    l.srv = agent_server_new(&l.ctx, &err);
    cr_assert_not_null(l.srv, "%s", err.msg);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    cr_assert_eq(agent_server_add_conn(l.srv, sv[1], false, NULL, NULL, true, &err), 0);
    cr_assert_eq(pthread_create(&l.thread, NULL, live_main, &l), 0);
    agent_client_t *c = agent_client_from_fd(sv[0], &err);

    cr_assert_eq(agent_client_wait_announce(c, 5000, &err), 0, "%s", err.msg);
    cr_assert_str_eq(agent_client_announce(c)->boot_id, FAKE_BOOT_ID);
    cr_assert_eq(agent_client_ping(c, 5000, &err), 0, "%s", err.msg);
    uint8_t entropy[64];
    for (size_t i = 0; i < sizeof(entropy); i++)
        entropy[i] = (uint8_t)(255 - i);
    cr_assert_eq(agent_client_reseed(c, entropy, sizeof(entropy), 5000, &err), 0, "%s", err.msg);
    cr_assert_eq(agent_client_set_clock(c, 1763800000000000001LL, 5000, &err), 0, "%s", err.msg);
    uint8_t sample[16];
    cr_assert_eq(agent_client_random_sample(c, sample, sizeof(sample), 5000, &err), 0, "%s",
                 err.msg);
    for (size_t i = 0; i < sizeof(sample); i++)
        cr_assert_eq(sample[i], 0x10 + i);
    resp_t *info = NULL;
    cr_assert_eq(agent_client_info(c, &info, 5000, &err), 0, "%s", err.msg);
    cr_assert_str_eq(info->info->kernel_release, FAKE_KERNEL_RELEASE);
    cr_assert_eq(info->info->realtime_ns, 1763800000000000001LL);
    warmpool__agent__v1__response__free_unpacked(info, NULL);
    cr_assert_eq(agent_client_reseed(c, entropy, 8, 5000, &err), -1);
    cr_assert_eq(err.code, EINVAL, "%s", err.msg);
    cr_assert(strstr(err.msg, "32 to 4096") != NULL, "the agent's own words: %s", err.msg);
    err = (wp_error_t){0};
    cr_assert_eq(agent_client_shutdown(c, 5000, &err), 0, "%s", err.msg);
    agent_client_close(c);

    atomic_store(&l.stop, true);
    pthread_join(l.thread, NULL);
    agent_server_free(l.srv);
    cr_assert_eq(l.sys.reseeds, 1);
    cr_assert_arr_eq(l.sys.entropy, entropy, sizeof(entropy));
    cr_assert_eq(l.sys.clock_ns, 1763800000000000001LL);
    cr_assert_eq(l.sys.power_offs, 1);
}

/* ---- connect_announced: a connection that starts mid-frame is retried ---- */

typedef struct torn_agent {
    int listener;
    int torn; /* connections that get the tail of an old frame first */
    int accepted;
} torn_agent_t;

static void *torn_main(void *arg)
{
    torn_agent_t *t = arg;
    for (;;) {
        int fd = accept(t->listener, NULL, NULL);
        if (fd < 0)
            return NULL;
        t->accepted++;
        if (t->accepted <= t->torn) {
            /* bytes of some earlier frame: as a header, 4 GiB long */
            static const uint8_t tail[WP_FRAME_HEADER_SIZE] = {0xff, 0xff, 0xff, 0xf0, 0, 0,
                                                               0,    1,    3,    0,    0, 0};
            (void)!write(fd, tail, sizeof(tail));
            char b;
            while (read(fd, &b, 1) > 0) /* until the client drops it */
                ;
            close(fd);
            continue;
        }
        wire_t w;
        wire_init(&w, fd);
        send_announce(&w, "7.7.7", "boot-t", 1);
        char b;
        while (read(fd, &b, 1) > 0)
            ;
        wire_fini(&w);
        return NULL;
    }
}

static void torn_run(int torn, agent_client_t **out, wp_error_t *err, int *accepted)
{
    char dir[] = "/tmp/wp-test-agent-XXXXXX", endpoint[160];
    torn_agent_t t = {.listener = unix_listener(dir, endpoint, sizeof(endpoint)), .torn = torn};
    pthread_t th;
    pthread_create(&th, NULL, torn_main, &t);
    *out = agent_client_connect_announced(endpoint, 2000, err);
    if (*out != NULL)
        cr_assert_str_eq(agent_client_announce(*out)->agent_version, "7.7.7");
    agent_client_close(*out);
    shutdown(t.listener, SHUT_RDWR);
    pthread_join(th, NULL);
    close(t.listener);
    *accepted = t.accepted;
    wp_rm_tree(dir, NULL);
}

Test(agent_client, a_connection_that_starts_mid_frame_is_opened_again)
{
    agent_client_t *c = NULL;
    wp_error_t err = {0};
    int accepted = 0;
    torn_run(2, &c, &err, &accepted);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(accepted, 3, "two torn connections, then the announce");
}

Test(agent_client, three_torn_connections_are_an_error)
{
    agent_client_t *c = NULL;
    wp_error_t err = {0};
    int accepted = 0;
    torn_run(5, &c, &err, &accepted);
    cr_assert_null(c);
    cr_assert_eq(err.code, EMSGSIZE, "%d %s", err.code, err.msg);
    cr_assert_eq(accepted, 3, "three attempts");
}
