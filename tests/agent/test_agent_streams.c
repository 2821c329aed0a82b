/* test_agent_streams.c - the client's calls in flight, stdio streams and
 * events against a scripted fake agent on a socketpair: responses out of
 * order, a wait answered after stream data and an exit event, credit in
 * batches that keeps the agent within its window, stdin that never exceeds
 * the window, EOF, binary data, and the protocol errors (data beyond
 * credit, unknown streams, oversized frames) with bounded memory. */
#include <criterion/criterion.h>
#include <errno.h>      /* EPROTO */
#include <signal.h>     /* signal */
#include <stdlib.h>     /* malloc */
#include <string.h>     /* memcmp */
#include <sys/socket.h> /* socketpair */

#include "agent_client_containers.h"
#include "agent_client_internal.h" /* reader size: the memory bound */
#include "agent_protocol.h"
#include "wire.h"

#define RESULT(x) WARMPOOL__AGENT__V1__RESPONSE__RESULT_##x
#define CALL(x)   WARMPOOL__AGENT__V1__REQUEST__CALL_##x
#define STDIN_ID  7
#define STDOUT_ID 8
#define STDERR_ID 9

typedef Warmpool__Agent__V1__Response resp_t;
typedef Warmpool__Agent__V1__Request req_t;

typedef struct pair {
    agent_client_t *c;
    wire_t agent;
} pair_t;

static void pair_open(pair_t *p)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    /* a whole window must fit in the kernel for the single-threaded script */
    int big = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
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

/* What the sinks and the event callback saw, in order. */
typedef struct seen {
    uint8_t *out;
    size_t out_len, out_cap;
    char err_text[256];
    size_t err_len;
    int out_eofs, err_eofs;
    int exits;
    uint32_t exit_status;
    size_t out_at_exit; /* stdout bytes seen when the exit event came */
    int eofs_at_exit;
    int ooms;
} seen_t;

static int sink(void *opaque, uint32_t stream, const uint8_t *data, size_t len, bool eof,
                wp_error_t *err)
{
    (void)err;
    seen_t *s = opaque;
    if (stream == STDOUT_ID) {
        cr_assert_eq(s->out_eofs, 0, "stdout data after its EOF");
        if (s->out_len + len > s->out_cap) {
            s->out_cap = (s->out_len + len) * 2;
            s->out = realloc(s->out, s->out_cap);
        }
        memcpy(s->out + s->out_len, data, len);
        s->out_len += len;
        s->out_eofs += eof;
    } else {
        cr_assert_eq(stream, STDERR_ID);
        cr_assert_lt(s->err_len + len, sizeof(s->err_text));
        memcpy(s->err_text + s->err_len, data, len);
        s->err_len += len;
        s->err_eofs += eof;
    }
    return 0;
}

static void on_event(void *opaque, const Warmpool__Agent__V1__Event *ev)
{
    seen_t *s = opaque;
    if (ev->event_case == WARMPOOL__AGENT__V1__EVENT__EVENT_PROCESS_EXITED) {
        s->exits++;
        s->exit_status = ev->process_exited->exit_status;
        s->out_at_exit = s->out_len;
        s->eofs_at_exit = s->out_eofs + s->err_eofs;
    } else if (ev->event_case == WARMPOOL__AGENT__V1__EVENT__EVENT_CONTAINER_OOM) {
        s->ooms++;
    }
}

static req_t *take_request(pair_t *p, uint32_t *id, int call)
{
    req_t *req = wire_request(&p->agent, id);
    cr_assert_eq((int)req->call_case, call, "call %d, wanted %d", (int)req->call_case, call);
    return req;
}

static void send_ping(wire_t *w, uint32_t id, uint64_t token)
{
    Warmpool__Agent__V1__PingResponse ok = WARMPOOL__AGENT__V1__PING_RESPONSE__INIT;
    ok.token = token;
    resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    r.result_case = RESULT(PING);
    r.ping = &ok;
    wire_send(w, id, WP_FRAME_RESPONSE, &r.base);
}

static void send_created(wire_t *w, uint32_t id, uint32_t in, uint32_t out, uint32_t err)
{
    Warmpool__Agent__V1__StdioStreams s = WARMPOOL__AGENT__V1__STDIO_STREAMS__INIT;
    s.stdin_stream = in;
    s.stdout_stream = out;
    s.stderr_stream = err;
    Warmpool__Agent__V1__CreateContainerResponse ok =
        WARMPOOL__AGENT__V1__CREATE_CONTAINER_RESPONSE__INIT;
    ok.pid = 42;
    ok.streams = &s;
    resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    r.result_case = RESULT(CREATE_CONTAINER);
    r.create_container = &ok;
    wire_send(w, id, WP_FRAME_RESPONSE, &r.base);
}

static void send_waited(wire_t *w, uint32_t id, uint32_t status, uint32_t sig)
{
    Warmpool__Agent__V1__WaitProcessResponse ok = WARMPOOL__AGENT__V1__WAIT_PROCESS_RESPONSE__INIT;
    ok.exit_status = status;
    ok.signal = sig;
    ok.exited_at_ns = 5;
    resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    r.result_case = RESULT(WAIT_PROCESS);
    r.wait_process = &ok;
    wire_send(w, id, WP_FRAME_RESPONSE, &r.base);
}

static void send_exited(wire_t *w, const char *cid, uint32_t status)
{
    Warmpool__Agent__V1__ProcessExited pe = WARMPOOL__AGENT__V1__PROCESS_EXITED__INIT;
    pe.container_id = (char *)cid;
    pe.exec_id = "";
    pe.pid = 42;
    pe.exit_status = status;
    Warmpool__Agent__V1__Event ev = WARMPOOL__AGENT__V1__EVENT__INIT;
    ev.event_case = WARMPOOL__AGENT__V1__EVENT__EVENT_PROCESS_EXITED;
    ev.process_exited = &pe;
    wire_send(w, 0, WP_FRAME_EVENT, &ev.base);
}

/* The client creates container "c1"; the fake answers with the streams. */
static void create(pair_t *p, bool with_stdin, agent_process_t *proc)
{
    /* the response is written ahead: the client reads it after sending */
    send_created(&p->agent, 1, with_stdin ? STDIN_ID : 0, STDOUT_ID, STDERR_ID);
    wp_error_t err = {0};
    cr_assert_eq(agent_client_create(p->c, "c1", "{}", false, with_stdin, proc, 2000, &err), 0,
                 "%s", err.msg);
    uint32_t id;
    req_t *req = take_request(p, &id, CALL(CREATE_CONTAINER));
    cr_assert_eq(id, 1);
    cr_assert_str_eq(req->create_container->id, "c1");
    cr_assert_eq(req->create_container->stdin, with_stdin);
    warmpool__agent__v1__request__free_unpacked(req, NULL);
    cr_assert_eq(proc->pid, 42);
    cr_assert_eq(proc->stdout_stream, STDOUT_ID);
    cr_assert(agent_client_stream_open(p->c, STDOUT_ID));
}

static void ignore_sigpipe(void)
{
    signal(SIGPIPE, SIG_IGN);
}

TestSuite(agent_streams, .init = ignore_sigpipe);

Test(agent_streams, responses_out_of_order_reach_their_calls)
{
    pair_t p;
    pair_open(&p);
    wp_error_t err = {0};
    Warmpool__Agent__V1__PingRequest ping = WARMPOOL__AGENT__V1__PING_REQUEST__INIT;
    req_t req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    req.call_case = CALL(PING);
    req.ping = &ping;
    uint32_t a, b;
    ping.token = 100;
    cr_assert_eq(agent_client_call_send(p.c, &req, &a, &err), 0, "%s", err.msg);
    ping.token = 200;
    cr_assert_eq(agent_client_call_send(p.c, &req, &b, &err), 0, "%s", err.msg);
    cr_assert_neq(a, b);
    resp_t *r = NULL;
    cr_assert_eq(agent_client_call_poll(p.c, a, &r, &err), 0, "nothing answered yet");
    send_ping(&p.agent, b, 200);
    send_ping(&p.agent, a, 100);
    /* waiting for a reads b's answer too, and keeps it for b */
    cr_assert_eq(agent_client_call_wait(p.c, a, &r, 2000, &err), 0, "%s", err.msg);
    cr_assert_eq(r->ping->token, 100);
    warmpool__agent__v1__response__free_unpacked(r, NULL);
    cr_assert_eq(agent_client_call_poll(p.c, b, &r, &err), 1, "%s", err.msg);
    cr_assert_eq(r->ping->token, 200);
    warmpool__agent__v1__response__free_unpacked(r, NULL);
    cr_assert_eq(agent_client_call_poll(p.c, b, &r, &err), -1, "taken once");
    cr_assert_eq(err.code, ENOENT);
    pair_close(&p);
}

Test(agent_streams, a_wait_is_answered_after_the_output_and_the_exit_event)
{
    pair_t p;
    pair_open(&p);
    seen_t s = {0};
    agent_client_on_stream(p.c, sink, &s);
    agent_client_on_event(p.c, on_event, &s);
    agent_process_t proc;
    create(&p, false, &proc);
    cr_assert_eq(proc.stdin_stream, 0);
    /* the process writes, ends its streams, exits; the wait is answered last,
     * and a ping sent meanwhile is answered in between */
    wire_stream(&p.agent, STDOUT_ID, "hello ", 6, 0);
    wire_stream(&p.agent, STDERR_ID, "oops", 4, WP_FRAME_FLAG_EOF);
    wire_stream(&p.agent, STDOUT_ID, "world", 5, 0);
    wire_stream(&p.agent, STDOUT_ID, NULL, 0, WP_FRAME_FLAG_EOF);
    send_exited(&p.agent, "c1", 3);
    send_waited(&p.agent, 2, 3, 0);
    wp_error_t err = {0};
    agent_exit_t ex;
    cr_assert_eq(agent_client_wait_process(p.c, "c1", NULL, &ex, 2000, &err), 0, "%s", err.msg);
    cr_assert_eq(ex.exit_status, 3);
    cr_assert_eq(ex.exited_at_ns, 5);
    cr_assert_eq(s.out_len, 11);
    cr_assert_arr_eq(s.out, "hello world", 11);
    cr_assert_eq(s.err_len, 4);
    cr_assert_arr_eq(s.err_text, "oops", 4);
    cr_assert_eq(s.out_eofs, 1, "one EOF per stream");
    cr_assert_eq(s.err_eofs, 1);
    cr_assert_eq(s.exits, 1);
    cr_assert_eq(s.exit_status, 3);
    cr_assert_eq(s.out_at_exit, 11, "all output before the exit event");
    cr_assert_eq(s.eofs_at_exit, 2, "both EOFs before the exit event");
    cr_assert_not(agent_client_stream_open(p.c, STDOUT_ID), "forgotten after EOF");
    uint32_t id;
    req_t *req = take_request(&p, &id, CALL(WAIT_PROCESS));
    cr_assert_eq(id, 2);
    cr_assert_str_eq(req->wait_process->container_id, "c1");
    cr_assert_str_eq(req->wait_process->exec_id, "");
    warmpool__agent__v1__request__free_unpacked(req, NULL);
    /* data after EOF is on an unknown stream now */
    wire_stream(&p.agent, STDOUT_ID, "late", 4, 0);
    cr_assert_eq(agent_client_pump(p.c, 1000, &err), -1);
    cr_assert_eq(err.code, EPROTO, "%s", err.msg);
    free(s.out);
    pair_close(&p);
}

Test(agent_streams, the_split_wait_collects_while_streams_flow)
{
    pair_t p;
    pair_open(&p);
    seen_t s = {0};
    agent_client_on_stream(p.c, sink, &s);
    agent_process_t proc;
    create(&p, false, &proc);
    wp_error_t err = {0};
    uint32_t call;
    cr_assert_eq(agent_client_wait_send(p.c, "c1", NULL, &call, &err), 0, "%s", err.msg);
    agent_exit_t ex;
    cr_assert_eq(agent_client_wait_collect(p.c, call, &ex, &err), 0);
    wire_stream(&p.agent, STDOUT_ID, "x", 1, 0);
    cr_assert_eq(agent_client_pump(p.c, 1000, &err), 0, "%s", err.msg);
    cr_assert_eq(s.out_len, 1);
    cr_assert_eq(agent_client_wait_collect(p.c, call, &ex, &err), 0, "still running");
    send_waited(&p.agent, call, 137, 9);
    cr_assert_eq(agent_client_pump(p.c, 1000, &err), 0, "%s", err.msg);
    cr_assert_eq(agent_client_wait_collect(p.c, call, &ex, &err), 1, "%s", err.msg);
    cr_assert_eq(ex.exit_status, 137);
    cr_assert_eq(ex.signal, 9);
    free(s.out);
    pair_close(&p);
}

/* Read what the client wrote; add up credit per stream. */
static uint64_t read_credits(pair_t *p, uint32_t stream, int timeout_ms, int *frames)
{
    uint64_t total = 0;
    wp_frame_header_t h;
    const uint8_t *payload;
    while (wire_next(&p->agent, timeout_ms, &h, &payload) == 1) {
        if (h.kind != WP_FRAME_CREDIT)
            continue;
        cr_assert_eq(h.id, stream, "credit for stream %u", h.id);
        uint32_t v = wire_credit_value(payload);
        cr_assert_geq(v, AGENT_STREAM_WINDOW / 4, "credit of %u bytes: not batched", v);
        total += v;
        (*frames)++;
    }
    return total;
}

Test(agent_streams, credit_comes_in_batches_and_keeps_the_agent_within_its_window)
{
    pair_t p;
    pair_open(&p);
    seen_t s = {0};
    agent_client_on_stream(p.c, sink, &s);
    agent_process_t proc;
    create(&p, false, &proc);
    /* 1 MiB + 5 of every byte value, the agent sending only what its credit allows */
    const size_t total = (1u << 20) + 5;
    uint8_t *data = malloc(total);
    for (size_t i = 0; i < total; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 8));
    uint64_t sent = 0, credit = AGENT_STREAM_WINDOW;
    int credit_frames = 0;
    wp_error_t err = {0};
    while (sent < total) {
        size_t before = (size_t)sent;
        while (sent < total && sent < credit) {
            size_t n = total - sent;
            if (n > AGENT_STREAM_CHUNK)
                n = AGENT_STREAM_CHUNK;
            if (n > credit - sent)
                n = (size_t)(credit - sent);
            wire_stream(&p.agent, STDOUT_ID, data + sent, n, 0);
            sent += n;
            cr_assert_leq(sent - (credit - AGENT_STREAM_WINDOW), AGENT_STREAM_WINDOW);
        }
        cr_assert_gt(sent, before, "the agent ran out of credit: the client granted none");
        while (s.out_len < sent)
            cr_assert_eq(agent_client_pump(p.c, 1000, &err), 0, "%s", err.msg);
        credit += read_credits(&p, STDOUT_ID, 50, &credit_frames);
    }
    wire_stream(&p.agent, STDOUT_ID, NULL, 0, WP_FRAME_FLAG_EOF);
    while (s.out_eofs == 0)
        cr_assert_eq(agent_client_pump(p.c, 1000, &err), 0, "%s", err.msg);
    cr_assert_eq(s.out_len, total);
    cr_assert(memcmp(s.out, data, total) == 0, "the bytes arrived as sent");
    /* 1 MiB through a 256 KiB window: credit came, in few frames */
    cr_assert_geq(credit_frames, 3);
    cr_assert_leq(credit_frames, (int)(total / (AGENT_STREAM_WINDOW / 4)) + 1);
    free(data);
    free(s.out);
    pair_close(&p);
}

Test(agent_streams, stdin_never_exceeds_the_window)
{
    pair_t p;
    pair_open(&p);
    agent_process_t proc;
    create(&p, true, &proc);
    cr_assert_eq(proc.stdin_stream, STDIN_ID);
    const size_t total = 3 * AGENT_STREAM_WINDOW;
    uint8_t *data = malloc(total);
    for (size_t i = 0; i < total; i++)
        data[i] = (uint8_t)(i ^ (i >> 9));
    wp_error_t err = {0};
    cr_assert_eq(agent_client_stdin_room(p.c, STDIN_ID), AGENT_STREAM_WINDOW);
    size_t taken = 0;
    cr_assert_eq(agent_client_stdin_write(p.c, STDIN_ID, data, total, &taken, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(taken, AGENT_STREAM_WINDOW, "took %zu with a window of %u", taken,
                 AGENT_STREAM_WINDOW);
    cr_assert_eq(agent_client_stdin_room(p.c, STDIN_ID), 0);
    size_t more = 1;
    cr_assert_eq(agent_client_stdin_write(p.c, STDIN_ID, data, total, &more, &err), 0);
    cr_assert_eq(more, 0, "nothing beyond the window");
    /* with no credit, write_all gives up in time */
    cr_assert_eq(agent_client_stdin_write_all(p.c, STDIN_ID, data + taken, 10, 100, &err), -1);
    cr_assert_eq(err.code, ETIMEDOUT, "%s", err.msg);
    /* what the agent got: the window exactly, in chunks, byte-exact */
    uint8_t *got = malloc(total);
    size_t got_len = 0;
    wp_frame_header_t h;
    const uint8_t *payload;
    while (wire_next(&p.agent, 100, &h, &payload) == 1) {
        cr_assert_eq(h.kind, WP_FRAME_STREAM);
        cr_assert_eq(h.id, STDIN_ID);
        cr_assert_leq(h.length, AGENT_STREAM_CHUNK);
        cr_assert_eq(h.flags, 0);
        memcpy(got + got_len, payload, h.length);
        got_len += h.length;
    }
    cr_assert_eq(got_len, AGENT_STREAM_WINDOW);
    /* credit for 100000 more: exactly that much goes */
    wire_credit(&p.agent, STDIN_ID, 100000);
    cr_assert_eq(agent_client_pump(p.c, 1000, &err), 0, "%s", err.msg);
    cr_assert_eq(agent_client_stdin_room(p.c, STDIN_ID), 100000);
    cr_assert_eq(agent_client_stdin_write(p.c, STDIN_ID, data + taken, total, &more, &err), 0);
    cr_assert_eq(more, 100000);
    while (wire_next(&p.agent, 100, &h, &payload) == 1) {
        cr_assert_eq(h.kind, WP_FRAME_STREAM);
        cr_assert_leq(h.length, AGENT_STREAM_CHUNK);
        memcpy(got + got_len, payload, h.length);
        got_len += h.length;
    }
    cr_assert_eq(got_len, AGENT_STREAM_WINDOW + 100000);
    cr_assert(memcmp(got, data, got_len) == 0, "stdin arrived byte-exact");
    /* EOF: one empty frame with the flag; the stream is closed */
    cr_assert_eq(agent_client_stdin_eof(p.c, STDIN_ID, &err), 0, "%s", err.msg);
    cr_assert_eq(wire_next(&p.agent, 1000, &h, &payload), 1);
    cr_assert_eq(h.kind, WP_FRAME_STREAM);
    cr_assert_eq(h.flags, WP_FRAME_FLAG_EOF);
    cr_assert_eq(h.length, 0);
    cr_assert_not(agent_client_stream_open(p.c, STDIN_ID));
    cr_assert_eq(agent_client_stdin_write(p.c, STDIN_ID, "x", 1, &more, &err), -1);
    cr_assert_eq(err.code, ENOENT);
    /* late credit for the closed stdin is harmless */
    wire_credit(&p.agent, STDIN_ID, 5);
    cr_assert_eq(agent_client_pump(p.c, 1000, &err), 0, "%s", err.msg);
    free(got);
    free(data);
    pair_close(&p);
}

Test(agent_streams, stdin_write_all_pumps_for_credit)
{
    pair_t p;
    pair_open(&p);
    agent_process_t proc;
    create(&p, true, &proc);
    wp_error_t err = {0};
    size_t taken;
    static uint8_t fill[AGENT_STREAM_WINDOW];
    cr_assert_eq(agent_client_stdin_write(p.c, STDIN_ID, fill, sizeof(fill), &taken, &err), 0);
    /* the credit is already on the wire: write_all reads it and finishes */
    wire_credit(&p.agent, STDIN_ID, 64 * 1024);
    cr_assert_eq(agent_client_stdin_write_all(p.c, STDIN_ID, fill, 1000, 2000, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(agent_client_stdin_room(p.c, STDIN_ID), 64 * 1024 - 1000);
    pair_close(&p);
}

Test(agent_streams, data_beyond_the_credit_is_eproto)
{
    pair_t p;
    pair_open(&p);
    seen_t s = {0};
    agent_client_on_stream(p.c, sink, &s);
    agent_process_t proc;
    create(&p, false, &proc);
    wp_error_t err = {0};
    /* a sink that keeps what it gets: credit only for what it says it consumed */
    cr_assert_eq(agent_client_stream_manual(p.c, STDOUT_ID, &err), 0, "%s", err.msg);
    static uint8_t chunk[AGENT_STREAM_CHUNK];
    for (unsigned i = 0; i < AGENT_STREAM_WINDOW / AGENT_STREAM_CHUNK; i++)
        wire_stream(&p.agent, STDOUT_ID, chunk, sizeof(chunk), 0);
    while (s.out_len < AGENT_STREAM_WINDOW)
        cr_assert_eq(agent_client_pump(p.c, 1000, &err), 0, "the window is legal: %s", err.msg);
    int frames = 0;
    cr_assert_eq(read_credits(&p, STDOUT_ID, 50, &frames), 0, "nothing consumed, no credit");
    cr_assert_eq(agent_client_stream_consumed(p.c, STDOUT_ID, AGENT_STREAM_WINDOW + 1, &err), -1);
    cr_assert_eq(err.code, EINVAL);
    cr_assert_eq(agent_client_stream_consumed(p.c, STDOUT_ID, 70000, &err), 0, "%s", err.msg);
    cr_assert_eq(read_credits(&p, STDOUT_ID, 100, &frames), 70000);
    /* 70000 more are allowed, not a byte beyond */
    wire_stream(&p.agent, STDOUT_ID, chunk, sizeof(chunk), 0);
    wire_stream(&p.agent, STDOUT_ID, chunk, sizeof(chunk), 0);
    wire_stream(&p.agent, STDOUT_ID, chunk, 70000 - 2 * sizeof(chunk) + 1, 0);
    int ret = 0;
    while (ret == 0 && s.out_len < AGENT_STREAM_WINDOW + 2 * sizeof(chunk) + 1)
        ret = agent_client_pump(p.c, 1000, &err);
    cr_assert_eq(ret, -1);
    cr_assert_eq(err.code, EPROTO, "%s", err.msg);
    cr_assert(strstr(err.msg, "credit") != NULL, "%s", err.msg);
    cr_assert_eq(s.out_len, AGENT_STREAM_WINDOW + 2 * sizeof(chunk), "the bad frame not delivered");
    /* final: later calls fail the same way */
    cr_assert_eq(agent_client_ping(p.c, 100, &err), -1);
    cr_assert_eq(err.code, EPROTO, "%s", err.msg);
    free(s.out);
    pair_close(&p);
}

Test(agent_streams, data_on_an_unknown_or_stdin_stream_is_eproto)
{
    pair_t p;
    pair_open(&p);
    wire_stream(&p.agent, 99, "x", 1, 0);
    wp_error_t err = {0};
    cr_assert_eq(agent_client_pump(p.c, 1000, &err), -1);
    cr_assert_eq(err.code, EPROTO, "%s", err.msg);
    cr_assert(strstr(err.msg, "unknown stream 99") != NULL, "%s", err.msg);
    pair_close(&p);

    pair_open(&p);
    agent_process_t proc;
    create(&p, true, &proc);
    wire_stream(&p.agent, STDIN_ID, "x", 1, 0);
    err = (wp_error_t){0};
    cr_assert_eq(agent_client_pump(p.c, 1000, &err), -1);
    cr_assert_eq(err.code, EPROTO, "%s", err.msg);
    pair_close(&p);
}

Test(agent_streams, an_oversized_frame_fails_before_its_payload_is_buffered)
{
    pair_t p;
    pair_open(&p);
    agent_process_t proc;
    create(&p, false, &proc);
    /* a stream frame over the chunk size: refused on its header alone */
    wire_header(&p.agent, STDOUT_ID, WP_FRAME_STREAM, 900 * 1024);
    wp_error_t err = {0};
    cr_assert_eq(agent_client_pump(p.c, 1000, &err), -1, "no waiting for 900 KiB");
    cr_assert_eq(err.code, EPROTO, "%s", err.msg);
    cr_assert_lt(p.c->reader.cap, 64 * 1024, "reader grew to %zu", p.c->reader.cap);
    pair_close(&p);

    /* any frame over the reader's maximum */
    pair_open(&p);
    wire_header(&p.agent, 1, WP_FRAME_RESPONSE, 0x7fffffff);
    err = (wp_error_t){0};
    cr_assert_eq(agent_client_ping(p.c, 1000, &err), -1);
    cr_assert_eq(err.code, EMSGSIZE, "%s", err.msg);
    cr_assert_lt(p.c->reader.cap, 64 * 1024, "reader grew to %zu", p.c->reader.cap);
    pair_close(&p);
}

Test(agent_streams, a_stream_id_named_twice_is_eproto)
{
    pair_t p;
    pair_open(&p);
    send_created(&p.agent, 1, 0, 5, 5);
    agent_process_t proc;
    wp_error_t err = {0};
    cr_assert_eq(agent_client_create(p.c, "c1", "{}", false, false, &proc, 1000, &err), -1);
    cr_assert_eq(err.code, EPROTO, "%s", err.msg);
    pair_close(&p);
}

static int failing_sink(void *opaque, uint32_t stream, const uint8_t *data, size_t len, bool eof,
                        wp_error_t *err)
{
    (void)stream, (void)data, (void)len, (void)eof;
    (*(int *)opaque)++;
    return wp_error_set(err, EIO, "disk full");
}

Test(agent_streams, a_sink_error_fails_the_pump_but_not_the_connection)
{
    pair_t p;
    pair_open(&p);
    agent_process_t proc;
    create(&p, false, &proc);
    wp_error_t err = {0};
    int calls = 0;
    cr_assert_eq(agent_client_stream_sink(p.c, STDOUT_ID, failing_sink, &calls, &err), 0);
    wire_stream(&p.agent, STDOUT_ID, "x", 1, 0);
    cr_assert_eq(agent_client_pump(p.c, 1000, &err), -1);
    cr_assert_eq(err.code, EIO, "%s", err.msg);
    cr_assert_eq(calls, 1);
    send_ping(&p.agent, 2, 0);
    err = (wp_error_t){0};
    Warmpool__Agent__V1__Response *r = NULL;
    req_t req = WARMPOOL__AGENT__V1__REQUEST__INIT;
    Warmpool__Agent__V1__PingRequest ping = WARMPOOL__AGENT__V1__PING_REQUEST__INIT;
    req.call_case = CALL(PING);
    req.ping = &ping;
    cr_assert_eq(agent_client_call(p.c, &req, &r, 1000, &err), 0, "%s", err.msg);
    warmpool__agent__v1__response__free_unpacked(r, NULL);
    pair_close(&p);
}
