/* test_ttrpc.c - the shim's ttrpc server and client over real unix sockets:
 * the spec's wire examples byte for byte, every error answer, deferred and
 * out-of-order replies, calls outliving their connection, a client that
 * never reads, and the blocking client against a server in a thread.
 *
 * Most cases drive the server on the test's own thread: a raw client socket
 * writes bytes, and reading pumps ttrpc_server_process() until the answer
 * is there, so nothing depends on timing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shim_events.pb-c.h"
#include "cgroups_v2_metrics.pb-c.h"
#include "shim_task.pb-c.h"
#include "ttrpc.h"
#include "ttrpc.pb-c.h"
#include "ttrpc_private.h" /* the connection's read buffer */

#define TASK   "containerd.task.v2.Task"
#define NS_KEY "containerd-namespace-ttrpc"

/* The spec's examples ("ttrpc framing"). */
static const char CONNECT_REQ[] = "\x00\x00\x00\x59\x00\x00\x00\x01\x01\x00\x0a\x17" TASK "\x12\x07"
                                  "Connect"
                                  "\x1a\x08\x0a\x06"
                                  "mytask"
                                  "\x20\x80\xe4\x97\xd0\x12\x2a\x25\x0a\x1a" NS_KEY "\x12\x07"
                                  "default";
static const char CONNECT_RESP[] =
    "\x00\x00\x00\x0a\x00\x00\x00\x01\x02\x00\x0a\x00\x12\x06\x08\x92\x21\x10\x93\x21";
static const char NOT_FOUND_RESP[] = "\x00\x00\x00\x1b\x00\x00\x00\x03\x02\x00\x0a\x19\x08\x05"
                                     "\x12\x15"
                                     "task mytask not found";

typedef struct fixture {
    char dir[64];
    char path[128];
    ttrpc_server_t *s;
    ttrpc_call_t *kept; /* a deferred call */
    char ns[64], id[64];
    int64_t timeout;
    int calls;
} fixture_t;

/* ---- handlers (opaque: the fixture) ---- */

static void on_connect(void *opaque, ttrpc_call_t *call, const uint8_t *p, size_t len)
{
    fixture_t *f = opaque;
    Containerd__Task__V2__ConnectRequest *req =
        containerd__task__v2__connect_request__unpack(NULL, len, p);
    cr_assert_not_null(req);
    snprintf(f->id, sizeof(f->id), "%s", req->id);
    containerd__task__v2__connect_request__free_unpacked(req, NULL);
    const char *ns = ttrpc_call_metadata(call, NS_KEY);
    snprintf(f->ns, sizeof(f->ns), "%s", ns ? ns : "(none)");
    f->timeout = ttrpc_call_timeout_ns(call);
    Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
    resp.shim_pid = 4242;
    resp.task_pid = 4243;
    uint8_t buf[64];
    size_t n = containerd__task__v2__connect_response__pack(&resp, buf);
    ttrpc_call_reply(call, TTRPC_OK, NULL, buf, n);
}

static void on_state(void *opaque, ttrpc_call_t *call, const uint8_t *p, size_t len)
{
    (void)opaque, (void)p, (void)len;
    wp_error_t err;
    wp_error_set(&err, ENOENT, "task mytask not found");
    ttrpc_call_reply_error(call, &err);
}

/* Wait: kept, answered by the test. */
static void on_wait(void *opaque, ttrpc_call_t *call, const uint8_t *p, size_t len)
{
    (void)p, (void)len;
    fixture_t *f = opaque;
    cr_assert_null(f->kept);
    cr_assert_str_eq(ttrpc_call_method(call), "Wait");
    f->kept = call;
}

/* Echo: the payload back, at once. */
static void on_echo(void *opaque, ttrpc_call_t *call, const uint8_t *p, size_t len)
{
    fixture_t *f = opaque;
    f->calls++;
    const char *ns = ttrpc_call_metadata(call, NS_KEY);
    if (ns != NULL)
        snprintf(f->ns, sizeof(f->ns), "%s", ns);
    ttrpc_call_reply(call, TTRPC_OK, NULL, p, len);
}

/* Big: 1 MiB of answer to a few bytes of question. */
static void on_big(void *opaque, ttrpc_call_t *call, const uint8_t *p, size_t len)
{
    (void)opaque, (void)p, (void)len;
    uint8_t *buf = calloc(1, 1u << 20);
    cr_assert_not_null(buf);
    ttrpc_call_reply(call, TTRPC_OK, NULL, buf, 1u << 20);
    free(buf);
}

/* Huge: an answer too large for a frame. */
static void on_huge(void *opaque, ttrpc_call_t *call, const uint8_t *p, size_t len)
{
    (void)opaque, (void)p, (void)len;
    uint8_t *buf = calloc(1, TTRPC_MAX_PAYLOAD);
    cr_assert_not_null(buf);
    ttrpc_call_reply(call, TTRPC_OK, NULL, buf, TTRPC_MAX_PAYLOAD);
    free(buf);
}

static void on_fail(void *opaque, ttrpc_call_t *call, const uint8_t *p, size_t len)
{
    (void)opaque, (void)p, (void)len;
    ttrpc_call_reply(call, TTRPC_FAILED_PRECONDITION, "nope", NULL, 0);
}

/* ---- fixture ---- */

static void fx_init(fixture_t *f)
{
    *f = (fixture_t){0};
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_ttrpc.XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/s.sock", f->dir);
    wp_error_t err = {0};
    f->s = ttrpc_server_new(&err);
    cr_assert_not_null(f->s, "%s", err.msg);
    cr_assert_geq(ttrpc_server_listen(f->s, f->path, &err), 0, "%s", err.msg);
    const struct {
        const char *method;
        ttrpc_handler_fn fn;
    } table[] = {{"Connect", on_connect}, {"State", on_state}, {"Wait", on_wait}, {"Echo", on_echo},
                 {"Big", on_big},         {"Huge", on_huge},   {"Fail", on_fail}};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        cr_assert_eq(ttrpc_server_add(f->s, TASK, table[i].method, table[i].fn, f, &err), 0, "%s",
                     err.msg);
}

static void fx_fini(fixture_t *f)
{
    ttrpc_server_free(f->s);
    unlink(f->path);
    rmdir(f->dir);
}

static void pump(fixture_t *f, int timeout_ms)
{
    wp_error_t err = {0};
    cr_assert_eq(ttrpc_server_process(f->s, timeout_ms, &err), 0, "%s", err.msg);
}

/* Pump until the server holds n connections. */
static void pump_until_conns(fixture_t *f, size_t n)
{
    for (int i = 0; i < 500 && ttrpc_server_connections(f->s) != n; i++)
        pump(f, 10);
    cr_assert_eq(ttrpc_server_connections(f->s), n);
}

static int dial(fixture_t *f)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->path);
    cr_assert_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0, "%s", strerror(errno));
    return fd;
}

/* Write all of buf, letting the server read meanwhile. */
static void send_bytes(fixture_t *f, int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pump(f, 10);
            continue;
        }
        cr_assert_gt(n, 0, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

/* Read exactly len bytes, pumping the server; 0 at EOF before any. */
static size_t recv_bytes(fixture_t *f, int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t got = 0;
    for (int idle = 0; got < len;) {
        ssize_t n = recv(fd, p + got, len - got, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            cr_assert_lt(idle++, 500, "no answer from the server");
            pump(f, 10);
            continue;
        }
        cr_assert_geq(n, 0, "recv: %s", strerror(errno));
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* One whole frame, header included, into buf; its length. */
static size_t recv_frame(fixture_t *f, int fd, uint8_t *buf, size_t cap, ttrpc_header_t *h)
{
    cr_assert_eq(recv_bytes(f, fd, buf, TTRPC_HEADER_LEN), TTRPC_HEADER_LEN);
    ttrpc_header_decode(buf, h);
    cr_assert_leq(TTRPC_HEADER_LEN + (size_t)h->length, cap);
    cr_assert_eq(recv_bytes(f, fd, buf + TTRPC_HEADER_LEN, h->length), h->length);
    return TTRPC_HEADER_LEN + h->length;
}

/* A Response; the caller frees it. */
static Ttrpc__Response *recv_response(fixture_t *f, int fd, uint32_t *stream_id)
{
    static uint8_t buf[TTRPC_MAX_PAYLOAD + TTRPC_HEADER_LEN];
    ttrpc_header_t h;
    recv_frame(f, fd, buf, sizeof(buf), &h);
    cr_assert_eq(h.type, TTRPC_TYPE_RESPONSE);
    cr_assert_eq(h.flags, 0);
    *stream_id = h.stream_id;
    Ttrpc__Response *r = ttrpc__response__unpack(NULL, h.length, buf + TTRPC_HEADER_LEN);
    cr_assert_not_null(r);
    cr_assert_not_null(r->status);
    return r;
}

static void send_frame(fixture_t *f, int fd, uint32_t stream_id, uint8_t type, const void *p,
                       size_t len)
{
    uint8_t head[TTRPC_HEADER_LEN];
    ttrpc_header_t h = {.length = (uint32_t)len, .stream_id = stream_id, .type = type};
    ttrpc_header_encode(&h, head);
    send_bytes(f, fd, head, sizeof(head));
    send_bytes(f, fd, p, len);
}

static void send_request(fixture_t *f, int fd, uint32_t stream_id, const char *method,
                         const void *payload, size_t len)
{
    Ttrpc__Request req = TTRPC__REQUEST__INIT;
    req.service = (char *)TASK;
    req.method = (char *)method;
    req.payload.data = (uint8_t *)payload;
    req.payload.len = len;
    uint8_t buf[1024];
    cr_assert_leq(ttrpc__request__get_packed_size(&req), sizeof(buf));
    size_t n = ttrpc__request__pack(&req, buf);
    send_frame(f, fd, stream_id, TTRPC_TYPE_REQUEST, buf, n);
}

/* Expect a response on stream_id with code (and, for OK, payload). */
static void expect(fixture_t *f, int fd, uint32_t stream_id, enum ttrpc_code code,
                   const char *payload)
{
    uint32_t got_id;
    Ttrpc__Response *r = recv_response(f, fd, &got_id);
    cr_assert_eq(got_id, stream_id);
    cr_assert_eq(r->status->code, (int)code, "code %d (%s), want %d", r->status->code,
                 r->status->message, code);
    if (payload != NULL) {
        cr_assert_eq(r->payload.len, strlen(payload));
        cr_assert_arr_eq(r->payload.data, payload, r->payload.len);
    }
    ttrpc__response__free_unpacked(r, NULL);
}

/* ---- the spec's bytes ---- */

Test(ttrpc, header_and_errno_map)
{
    uint8_t buf[TTRPC_HEADER_LEN];
    ttrpc_header_t h = {.length = 0x01020304, .stream_id = 0x0a0b0c0d, .type = 2, .flags = 1};
    ttrpc_header_encode(&h, buf);
    cr_assert_arr_eq(buf, "\x01\x02\x03\x04\x0a\x0b\x0c\x0d\x02\x01", TTRPC_HEADER_LEN);
    ttrpc_header_t back;
    ttrpc_header_decode(buf, &back);
    cr_assert(back.length == h.length && back.stream_id == h.stream_id && back.type == 2 &&
              back.flags == 1);
    cr_assert_eq(ttrpc_code_from_errno(ENOENT), TTRPC_NOT_FOUND);
    cr_assert_eq(ttrpc_code_from_errno(EEXIST), TTRPC_ALREADY_EXISTS);
    cr_assert_eq(ttrpc_code_from_errno(EINVAL), TTRPC_INVALID_ARGUMENT);
    cr_assert_eq(ttrpc_code_from_errno(EBUSY), TTRPC_FAILED_PRECONDITION);
    cr_assert_eq(ttrpc_code_from_errno(0), TTRPC_UNKNOWN, "no errno must not read as OK");
    cr_assert_eq(ttrpc_code_from_errno(EXDEV), TTRPC_UNKNOWN);
}

/* The client's Connect request is the spec's bytes; it decodes the spec's answer. */
struct raw_call {
    const char *path;
    int ret;
    wp_error_t err;
    uint8_t *resp;
    size_t resp_len;
};

static void *client_connect_thread(void *arg)
{
    struct raw_call *rc = arg;
    ttrpc_client_t *c = ttrpc_client_connect(rc->path, &rc->err);
    if (c == NULL) {
        rc->ret = -1;
        return NULL;
    }
    Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
    req.id = (char *)"mytask";
    uint8_t buf[64];
    size_t n = containerd__task__v2__connect_request__pack(&req, buf);
    const char *meta[] = {NS_KEY, "default"};
    rc->ret = ttrpc_client_call(c, TASK, "Connect", meta, 1, buf, n, 5000, &rc->resp, &rc->resp_len,
                                NULL, &rc->err);
    ttrpc_client_close(c);
    return NULL;
}

Test(ttrpc, client_sends_the_spec_connect_request)
{
    char dir[] = "/tmp/test_ttrpc.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "unix://%s/raw.sock", dir);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path + 7);
    cr_assert_eq(bind(l, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(listen(l, 1), 0);
    struct raw_call rc = {.path = path};
    pthread_t t;
    pthread_create(&t, NULL, client_connect_thread, &rc);
    int fd = accept(l, NULL, NULL);
    cr_assert_geq(fd, 0);
    uint8_t got[sizeof(CONNECT_REQ) - 1];
    size_t n = 0;
    while (n < sizeof(got)) {
        ssize_t k = read(fd, got + n, sizeof(got) - n);
        cr_assert_gt(k, 0);
        n += (size_t)k;
    }
    cr_assert_arr_eq(got, CONNECT_REQ, sizeof(got), "the request differs from the spec's bytes");
    cr_assert_eq(write(fd, CONNECT_RESP, sizeof(CONNECT_RESP) - 1),
                 (ssize_t)sizeof(CONNECT_RESP) - 1);
    pthread_join(t, NULL);
    cr_assert_eq(rc.ret, 0, "%s", rc.err.msg);
    Containerd__Task__V2__ConnectResponse *resp =
        containerd__task__v2__connect_response__unpack(NULL, rc.resp_len, rc.resp);
    cr_assert_not_null(resp);
    cr_assert_eq(resp->shim_pid, 0x1092); /* 92 21 */
    cr_assert_eq(resp->task_pid, 4243);   /* 93 21 */
    containerd__task__v2__connect_response__free_unpacked(resp, NULL);
    free(rc.resp);
    close(fd);
    close(l);
    unlink(addr.sun_path);
    rmdir(dir);
}

Test(ttrpc, server_answers_the_spec_connect_bytes)
{
    fixture_t f;
    fx_init(&f);
    int fd = dial(&f);
    send_bytes(&f, fd, CONNECT_REQ, sizeof(CONNECT_REQ) - 1);
    uint8_t buf[256];
    ttrpc_header_t h;
    size_t n = recv_frame(&f, fd, buf, sizeof(buf), &h);
    cr_assert_eq(n, sizeof(CONNECT_RESP) - 1);
    cr_assert_arr_eq(buf, CONNECT_RESP, n, "the response differs from the spec's bytes");
    cr_assert_str_eq(f.id, "mytask");
    cr_assert_str_eq(f.ns, "default");
    cr_assert_eq(f.timeout, 5000000000LL);
    close(fd);
    fx_fini(&f);
}

Test(ttrpc, not_found_on_stream_3_is_the_spec_bytes)
{
    fixture_t f;
    fx_init(&f);
    int fd = dial(&f);
    send_request(&f, fd, 3, "State", "\x0a\x06mytask", 8);
    uint8_t buf[256];
    ttrpc_header_t h;
    size_t n = recv_frame(&f, fd, buf, sizeof(buf), &h);
    cr_assert_eq(n, sizeof(NOT_FOUND_RESP) - 1);
    cr_assert_arr_eq(buf, NOT_FOUND_RESP, n, "the response differs from the spec's bytes");
    close(fd);
    fx_fini(&f);
}

/* ---- error answers ---- */

Test(ttrpc, unknown_method_is_unimplemented)
{
    fixture_t f;
    fx_init(&f);
    int fd = dial(&f);
    send_request(&f, fd, 1, "Checkpoint", NULL, 0);
    expect(&f, fd, 1, TTRPC_UNIMPLEMENTED, NULL);
    close(fd);
    fx_fini(&f);
}

Test(ttrpc, even_stream_id_is_invalid_argument)
{
    fixture_t f;
    fx_init(&f);
    int fd = dial(&f);
    send_request(&f, fd, 2, "Echo", "x", 1);
    expect(&f, fd, 2, TTRPC_INVALID_ARGUMENT, NULL);
    cr_assert_eq(f.calls, 0, "the handler must not run");
    close(fd);
    fx_fini(&f);
}

Test(ttrpc, garbage_envelope_is_invalid_argument)
{
    fixture_t f;
    fx_init(&f);
    int fd = dial(&f);
    send_frame(&f, fd, 1, TTRPC_TYPE_REQUEST, "\x0f\xff\xff", 3); /* wire type 7 */
    expect(&f, fd, 1, TTRPC_INVALID_ARGUMENT, NULL);
    send_request(&f, fd, 3, "Echo", "ok", 2);
    expect(&f, fd, 3, TTRPC_OK, "ok");
    close(fd);
    fx_fini(&f);
}

Test(ttrpc, oversized_payload_is_discarded_and_answered)
{
    fixture_t f;
    fx_init(&f);
    int fd = dial(&f);
    uint32_t big = TTRPC_MAX_PAYLOAD + 1;
    uint8_t head[TTRPC_HEADER_LEN];
    ttrpc_header_encode(&(ttrpc_header_t){.length = big, .stream_id = 5, .type = 1}, head);
    send_bytes(&f, fd, head, sizeof(head));
    uint8_t *junk = malloc(big);
    memset(junk, 0x0a, big);
    send_bytes(&f, fd, junk, big);
    free(junk);
    expect(&f, fd, 5, TTRPC_RESOURCE_EXHAUSTED, NULL);
    send_request(&f, fd, 7, "Echo", "still here", 10);
    expect(&f, fd, 7, TTRPC_OK, "still here");
    cr_assert_eq(ttrpc_server_connections(f.s), 1);
    cr_assert_leq(f.s->conns->rcap, 2 * 65536, "the oversized payload was buffered (%zu)",
                  f.s->conns->rcap);
    close(fd);
    fx_fini(&f);
}

Test(ttrpc, oversized_response_becomes_resource_exhausted)
{
    fixture_t f;
    fx_init(&f);
    int fd = dial(&f);
    send_request(&f, fd, 1, "Huge", NULL, 0);
    expect(&f, fd, 1, TTRPC_RESOURCE_EXHAUSTED, NULL);
    send_request(&f, fd, 3, "Echo", "next", 4);
    expect(&f, fd, 3, TTRPC_OK, "next");
    close(fd);
    fx_fini(&f);
}

Test(ttrpc, unknown_frame_type_is_skipped)
{
    fixture_t f;
    fx_init(&f);
    int fd = dial(&f);
    send_frame(&f, fd, 1, 3, "\x0a\x01x", 3); /* a data frame of ttrpc 1.2 */
    send_frame(&f, fd, 1, 0x7f, "", 0);
    send_request(&f, fd, 3, "Echo", "after", 5);
    expect(&f, fd, 3, TTRPC_OK, "after"); /* the first frame back: nothing for the others */
    close(fd);
    fx_fini(&f);
}

Test(ttrpc, truncated_frame_then_eof_closes_only_that_connection)
{
    fixture_t f;
    fx_init(&f);
    int good = dial(&f);
    int bad = dial(&f);
    pump_until_conns(&f, 2);
    uint8_t head[TTRPC_HEADER_LEN];
    ttrpc_header_encode(&(ttrpc_header_t){.length = 100, .stream_id = 1, .type = 1}, head);
    send_bytes(&f, bad, head, sizeof(head));
    send_bytes(&f, bad, "0123456789", 10);
    shutdown(bad, SHUT_WR);
    pump_until_conns(&f, 1);
    char c;
    cr_assert_eq(recv_bytes(&f, bad, &c, 1), 0, "the server closes the truncated connection");
    send_request(&f, good, 1, "Echo", "fine", 4);
    expect(&f, good, 1, TTRPC_OK, "fine");
    close(bad);
    close(good);
    fx_fini(&f);
}

/* ---- deferred replies ---- */

Test(ttrpc, deferred_reply_out_of_order)
{
    fixture_t f;
    fx_init(&f);
    int fd = dial(&f);
    send_request(&f, fd, 1, "Wait", NULL, 0);
    send_request(&f, fd, 3, "Echo", "B", 1);
    expect(&f, fd, 3, TTRPC_OK, "B");
    cr_assert_not_null(f.kept);
    cr_assert_not(ttrpc_call_closed(f.kept));
    Containerd__Task__V2__WaitResponse w = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
    w.exit_status = 137;
    uint8_t buf[32];
    size_t n = containerd__task__v2__wait_response__pack(&w, buf);
    ttrpc_call_reply(f.kept, TTRPC_OK, NULL, buf, n);
    f.kept = NULL;
    uint32_t id;
    Ttrpc__Response *r = recv_response(&f, fd, &id);
    cr_assert_eq(id, 1);
    cr_assert_eq(r->status->code, 0);
    Containerd__Task__V2__WaitResponse *got =
        containerd__task__v2__wait_response__unpack(NULL, r->payload.len, r->payload.data);
    cr_assert_not_null(got);
    cr_assert_eq(got->exit_status, 137);
    containerd__task__v2__wait_response__free_unpacked(got, NULL);
    ttrpc__response__free_unpacked(r, NULL);
    close(fd);
    fx_fini(&f);
}

Test(ttrpc, call_outlives_its_connection)
{
    fixture_t f;
    fx_init(&f);
    int fd = dial(&f);
    send_request(&f, fd, 1, "Wait", NULL, 0);
    for (int i = 0; i < 500 && f.kept == NULL; i++)
        pump(&f, 10);
    cr_assert_not_null(f.kept);
    close(fd);
    pump_until_conns(&f, 0);
    cr_assert(ttrpc_call_closed(f.kept));
    cr_assert_str_eq(ttrpc_call_method(f.kept), "Wait", "the call stays readable");
    ttrpc_call_reply(f.kept, TTRPC_OK, NULL, (const uint8_t *)"late", 4); /* dropped */
    f.kept = NULL;
    pump(&f, 0);
    fx_fini(&f);
}

Test(ttrpc, server_free_frees_unanswered_calls)
{
    fixture_t f;
    fx_init(&f);
    int fd = dial(&f);
    send_request(&f, fd, 1, "Wait", NULL, 0);
    for (int i = 0; i < 500 && f.kept == NULL; i++)
        pump(&f, 10);
    cr_assert_not_null(f.kept);
    fx_fini(&f); /* LeakSanitizer checks the call and its connection went */
    close(fd);
}

Test(ttrpc, client_that_never_reads_does_not_block_the_server)
{
    fixture_t f;
    fx_init(&f);
    int lazy = dial(&f);
    int other = dial(&f);
    pump_until_conns(&f, 2);
    /* 1 MiB answers to 40 small requests: more than TTRPC_MAX_QUEUED */
    for (uint32_t i = 0; i < 40; i++)
        send_request(&f, lazy, 2 * i + 1, "Big", NULL, 0);
    pump_until_conns(&f, 1);
    send_request(&f, other, 1, "Echo", "served", 6);
    expect(&f, other, 1, TTRPC_OK, "served");
    close(lazy);
    close(other);
    fx_fini(&f);
}

Test(ttrpc, registration_and_listen_errors)
{
    fixture_t f;
    fx_init(&f);
    wp_error_t err = {0};
    cr_assert_eq(ttrpc_server_add(f.s, TASK, "Echo", on_echo, &f, &err), -1);
    cr_assert_eq(err.code, EEXIST);
    cr_assert_eq(ttrpc_server_listen(f.s, f.path, &err), -1);
    cr_assert_eq(err.code, EADDRINUSE, "%s", err.msg);
    fx_fini(&f);
}

/* ---- the blocking client against a server thread ---- */

struct served {
    fixture_t f;
    pthread_t thread;
    atomic_bool stop;
    int forwarded; /* Events/Forward calls seen, their topic in f.id */
};

static void *serve(void *arg)
{
    struct served *sv = arg;
    while (!atomic_load(&sv->stop)) {
        wp_error_t err = {0};
        if (ttrpc_server_process(sv->f.s, 20, &err) < 0)
            break;
    }
    return NULL;
}

static void on_forward(void *opaque, ttrpc_call_t *call, const uint8_t *p, size_t len)
{
    struct served *sv = opaque;
    Containerd__Events__ForwardRequest *req =
        containerd__events__forward_request__unpack(NULL, len, p);
    if (req == NULL || req->envelope == NULL || req->envelope->event == NULL) {
        ttrpc_call_reply(call, TTRPC_INVALID_ARGUMENT, "bad forward", NULL, 0);
    } else {
        snprintf(sv->f.id, sizeof(sv->f.id), "%s %s", req->envelope->topic,
                 req->envelope->event->type_url);
        sv->forwarded++;
        ttrpc_call_reply(call, TTRPC_OK, NULL, NULL, 0); /* google.protobuf.Empty */
    }
    containerd__events__forward_request__free_unpacked(req, NULL);
}

Test(ttrpc, blocking_client)
{
    struct served sv = {0};
    fx_init(&sv.f);
    wp_error_t err = {0};
    cr_assert_eq(ttrpc_server_add(sv.f.s, "containerd.services.events.ttrpc.v1.Events", "Forward",
                                  on_forward, &sv, &err),
                 0);
    pthread_create(&sv.thread, NULL, serve, &sv);

    ttrpc_client_t *c = ttrpc_client_connect(sv.f.path, &err);
    cr_assert_not_null(c, "%s", err.msg);
    const char *meta[] = {NS_KEY, "k8s.io", "other", "x"};
    uint8_t *resp;
    size_t len;
    enum ttrpc_code code = -1;
    cr_assert_eq(ttrpc_client_call(c, TASK, "Echo", meta, 2, (const uint8_t *)"hello", 5, 2000,
                                   &resp, &len, &code, &err),
                 0, "%s", err.msg);
    cr_assert_eq(code, TTRPC_OK);
    cr_assert_eq(len, 5);
    cr_assert_arr_eq(resp, "hello", 5);
    free(resp);

    /* an empty answer */
    cr_assert_eq(ttrpc_client_call(c, TASK, "Echo", NULL, 0, NULL, 0, -1, &resp, &len, NULL, &err),
                 0, "%s", err.msg);
    cr_assert_null(resp);
    cr_assert_eq(len, 0);

    /* error statuses: the connection stays usable */
    cr_assert_eq(
        ttrpc_client_call(c, TASK, "Fail", NULL, 0, NULL, 0, 2000, &resp, &len, &code, &err), -1);
    cr_assert_eq(err.code, EREMOTEIO);
    cr_assert_eq(code, TTRPC_FAILED_PRECONDITION);
    cr_assert(strstr(err.msg, "nope") != NULL, "%s", err.msg);
    cr_assert_eq(
        ttrpc_client_call(c, TASK, "Nope", NULL, 0, NULL, 0, 2000, &resp, &len, &code, &err), -1);
    cr_assert_eq(code, TTRPC_UNIMPLEMENTED);

    /* an event, as the shim publishes it */
    Containerd__Events__TaskExit ex = CONTAINERD__EVENTS__TASK_EXIT__INIT;
    ex.container_id = (char *)"mytask";
    ex.pid = 4243;
    ex.exit_status = 137;
    uint8_t exbuf[64];
    Containerd__Task__V2__Any any = CONTAINERD__TASK__V2__ANY__INIT;
    any.type_url = (char *)"containerd.events.TaskExit";
    any.value.data = exbuf;
    any.value.len = containerd__events__task_exit__pack(&ex, exbuf);
    Containerd__Events__Envelope env = CONTAINERD__EVENTS__ENVELOPE__INIT;
    env.namespace_ = (char *)"default";
    env.topic = (char *)"/tasks/exit";
    env.event = &any;
    Containerd__Events__ForwardRequest fwd = CONTAINERD__EVENTS__FORWARD_REQUEST__INIT;
    fwd.envelope = &env;
    uint8_t fbuf[256];
    size_t flen = containerd__events__forward_request__pack(&fwd, fbuf);
    cr_assert_eq(ttrpc_client_call(c, "containerd.services.events.ttrpc.v1.Events", "Forward", NULL,
                                   0, fbuf, flen, 2000, &resp, &len, NULL, &err),
                 0, "%s", err.msg);

    /* a call nobody answers: the deadline, then the connection is gone */
    cr_assert_eq(ttrpc_client_call(c, TASK, "Wait", NULL, 0, NULL, 0, 200, &resp, &len, NULL, &err),
                 -1);
    cr_assert_eq(err.code, ETIMEDOUT, "%s", err.msg);
    cr_assert_eq(ttrpc_client_call(c, TASK, "Echo", NULL, 0, NULL, 0, 200, &resp, &len, NULL, &err),
                 -1);
    cr_assert_eq(err.code, ENOTCONN);
    ttrpc_client_close(c);

    atomic_store(&sv.stop, true);
    pthread_join(sv.thread, NULL);
    cr_assert_str_eq(sv.f.ns, "k8s.io", "the handler saw the metadata");
    cr_assert_eq(sv.f.calls, 2);
    cr_assert_eq(sv.forwarded, 1);
    cr_assert_str_eq(sv.f.id, "/tasks/exit containerd.events.TaskExit");
    fx_fini(&sv.f); /* frees the unanswered Wait */
}

/* ---- the generated task and metrics types: names and field numbers ---- */

Test(ttrpc, task_and_metrics_messages_on_the_wire)
{
    Containerd__Task__V2__Mount m = CONTAINERD__TASK__V2__MOUNT__INIT;
    m.type = (char *)"bind";
    char *opts[] = {(char *)"rbind"};
    m.options = opts;
    m.n_options = 1;
    Containerd__Task__V2__Mount *mp = &m;
    Containerd__Task__V2__CreateTaskRequest req = CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
    req.rootfs = &mp;
    req.n_rootfs = 1;
    req.terminal = true;
    uint8_t buf[64];
    size_t n = containerd__task__v2__create_task_request__pack(&req, buf);
    /* rootfs 3 { type 1 "bind", options 4 "rbind" }, terminal 4 */
    cr_assert_eq(n, 17);
    cr_assert_arr_eq(buf,
                     "\x1a\x0d\x0a\x04"
                     "bind"
                     "\x22\x05"
                     "rbind"
                     "\x20\x01",
                     n);

    Containerd__Task__V2__StateResponse st = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
    st.status = CONTAINERD__TASK__V2__STATUS__STOPPED;
    st.exit_status = 137;
    n = containerd__task__v2__state_response__pack(&st, buf);
    cr_assert_eq(n, 5);
    cr_assert_arr_eq(buf, "\x20\x03\x48\x89\x01", n); /* status 4, exit_status 9 */

    Io__Containerd__Cgroups__V2__PidsStat pids = IO__CONTAINERD__CGROUPS__V2__PIDS_STAT__INIT;
    pids.current = 3;
    Io__Containerd__Cgroups__V2__MemoryEvents ev = IO__CONTAINERD__CGROUPS__V2__MEMORY_EVENTS__INIT;
    ev.oom_kill = 1;
    Io__Containerd__Cgroups__V2__Metrics mx = IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
    mx.pids = &pids;
    mx.memory_events = &ev;
    n = io__containerd__cgroups__v2__metrics__pack(&mx, buf);
    cr_assert_eq(n, 8);
    cr_assert_arr_eq(buf, "\x0a\x02\x08\x03\x42\x02\x28\x01", n); /* pids 1, memory_events 8 */
}
