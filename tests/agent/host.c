/* host.c - see host.h. */
#include "host.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_protocol.h"
#include "wp_fs.h"

#define HOST_WAIT_MS 20000

static void on_sigchld(agent_server_t *s, agent_watch_t *w, uint32_t events)
{
    (void)events;
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
    }
    agent_server_reap(s);
}

static void *loop(void *arg)
{
    env_t *e = arg;
    while (!atomic_load(&e->stop)) {
        wp_error_t err = {0};
        if (agent_server_run_once(e->srv, 20, &err) < 0)
            break;
    }
    return NULL;
}

void env_up(env_t *e)
{
    memset(e, 0, sizeof(*e));
    signal(SIGPIPE, SIG_IGN);
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    cr_assert_eq(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
    strcpy(e->dir, "/tmp/wp-agent-ctr.XXXXXX");
    cr_assert_not_null(mkdtemp(e->dir));
    snprintf(e->bundles, sizeof(e->bundles), "%s/b", e->dir);
    snprintf(e->crun_root, sizeof(e->crun_root), "%s/crun", e->dir);
    snprintf(e->cgroups, sizeof(e->cgroups), "%s/cg", e->dir);
    cr_assert_eq(wp_mkdir_p(e->bundles, 0700, NULL), 0);
    cr_assert_eq(wp_mkdir_p(e->crun_root, 0700, NULL), 0);
    e->ctx = fake_ctx(&e->sys);
    e->ctx.paths = (agent_paths_t){.crun = FAKE_CRUN,
                                   .crun_root = e->crun_root,
                                   .bundle_dir = e->bundles,
                                   .cgroup_root = e->cgroups};
    wp_error_t err = {0};
    e->srv = agent_server_new(&e->ctx, &err);
    cr_assert_not_null(e->srv, "%s", err.msg);
    e->sigchld =
        (agent_watch_t){.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC), .fn = on_sigchld};
    cr_assert_geq(e->sigchld.fd, 0);
    cr_assert_eq(agent_server_watch(e->srv, &e->sigchld, EPOLLIN, &err), 0);
}

void env_resume(env_t *e)
{
    atomic_store(&e->stop, false);
    cr_assert_eq(pthread_create(&e->loop, NULL, loop, e), 0);
    atomic_store(&e->running, true);
}

void env_pause(env_t *e)
{
    if (!atomic_load(&e->running))
        return;
    atomic_store(&e->stop, true);
    pthread_join(e->loop, NULL);
    atomic_store(&e->running, false);
}

void env_down(env_t *e)
{
    env_pause(e);
    agent_server_free(e->srv);
    close(e->sigchld.fd);
    wp_rm_tree(e->dir, NULL);
}

void host_connect(env_t *e, host_t *h)
{
    memset(h, 0, sizeof(*h));
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    wire_init(&h->w, sv[0]);
    h->guest_fd = sv[1];
    h->keep_data = true;
    h->next_id = 1;
    for (int i = 0; i < HOST_STREAMS; i++) {
        h->s[i].granted = AGENT_STREAM_WINDOW;
        h->s[i].send_credit = AGENT_STREAM_WINDOW;
    }
    wp_error_t err = {0};
    cr_assert_eq(agent_server_add_conn(e->srv, sv[1], false, NULL, NULL, false, &err), 0, "%s",
                 err.msg);
}

void host_fini(host_t *h)
{
    wire_fini(&h->w);
    for (int i = 0; i < HOST_STREAMS; i++)
        free(h->s[i].data);
    for (int i = 0; i < 256; i++)
        if (h->resp[i])
            warmpool__agent__v1__response__free_unpacked(h->resp[i], NULL);
    for (int i = 0; i < h->n_events; i++)
        warmpool__agent__v1__event__free_unpacked(h->events[i], NULL);
    memset(h, 0, sizeof(*h));
    h->w.fd = -1;
}

static void send_credit(host_t *h, uint32_t sid, uint32_t n)
{
    uint8_t be[4] = {n >> 24, n >> 16, n >> 8, n};
    wp_error_t err = {0};
    cr_assert_eq(wp_frame_write(h->w.fd, sid, WP_FRAME_CREDIT, be, 4, &err), 0, "%s", err.msg);
}

static void on_stream(host_t *h, const wp_frame_header_t *f, const uint8_t *p)
{
    cr_assert_lt(f->id, HOST_STREAMS, "stream id %u", f->id);
    cr_assert_gt(f->id, 0, "stream id 0");
    host_stream_t *s = &h->s[f->id];
    cr_assert_not(s->eof, "stream %u: data after EOF", f->id);
    cr_assert_leq(f->length, AGENT_STREAM_CHUNK, "stream frame over the chunk size");
    s->received += f->length;
    cr_assert_leq(s->received, s->granted, "stream %u: the agent sent beyond its credit", f->id);
    uint64_t outstanding = s->received - (s->granted - AGENT_STREAM_WINDOW);
    if (outstanding > h->max_outstanding)
        h->max_outstanding = outstanding;
    if (h->keep_data && f->length > 0) {
        if (s->len + f->length + 1 > s->cap) {
            s->cap = (s->len + f->length + 1) * 2;
            s->data = realloc(s->data, s->cap);
        }
        memcpy(s->data + s->len, p, f->length);
        s->len += f->length;
    }
    if (f->flags & WP_FRAME_FLAG_EOF)
        s->eof = true;
    else if (!h->hold_credit &&
             outstanding >= AGENT_STREAM_WINDOW / 4) { /* consumed: grant it back */
        send_credit(h, f->id, (uint32_t)outstanding);
        s->granted += outstanding;
    }
}

int host_pump(host_t *h, int ms)
{
    wp_frame_header_t f;
    const uint8_t *p;
    int got = wire_next(&h->w, ms, &f, &p);
    if (got != 1)
        return got;
    switch (f.kind) {
    case WP_FRAME_STREAM:
        on_stream(h, &f, p);
        break;
    case WP_FRAME_CREDIT: {
        cr_assert_lt(f.id, HOST_STREAMS);
        uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        h->s[f.id].send_credit += n;
        cr_assert_leq(h->s[f.id].send_credit, AGENT_STREAM_WINDOW,
                      "the agent granted more than was sent");
        break;
    }
    case WP_FRAME_RESPONSE: {
        Warmpool__Agent__V1__Response *r = warmpool__agent__v1__response__unpack(NULL, f.length, p);
        cr_assert_not_null(r);
        cr_assert_null(h->resp[f.id % 256], "two responses on id %u", f.id);
        h->resp[f.id % 256] = r;
        break;
    }
    case WP_FRAME_EVENT: {
        Warmpool__Agent__V1__Event *ev = warmpool__agent__v1__event__unpack(NULL, f.length, p);
        cr_assert_not_null(ev);
        cr_assert_lt(h->n_events, 64);
        h->events[h->n_events++] = ev;
        if (ev->event_case == WARMPOOL__AGENT__V1__EVENT__EVENT_PROCESS_EXITED)
            for (int i = 0; i < HOST_STREAMS; i++)
                h->s[i].eof_at_exit |= h->s[i].eof;
        break;
    }
    default:
        cr_assert_fail("unexpected frame kind %u", f.kind);
    }
    return 1;
}

uint32_t host_send(host_t *h, const Warmpool__Agent__V1__Request *req)
{
    uint32_t id = h->next_id++;
    uint8_t buf[8192];
    size_t len = 0;
    wire_pack(buf, sizeof(buf), &len, id, WP_FRAME_REQUEST, &req->base);
    wire_write(&h->w, buf, len);
    return id;
}

Warmpool__Agent__V1__Response *host_await(host_t *h, uint32_t id)
{
    while (h->resp[id % 256] == NULL) {
        int got = host_pump(h, HOST_WAIT_MS);
        cr_assert_eq(got, 1, "no response to %u (%s)", id, got == 0 ? "closed" : "timeout");
    }
    Warmpool__Agent__V1__Response *r = h->resp[id % 256];
    h->resp[id % 256] = NULL;
    return r;
}

Warmpool__Agent__V1__Response *host_call(host_t *h, const Warmpool__Agent__V1__Request *req,
                                         int code)
{
    Warmpool__Agent__V1__Response *r = host_await(h, host_send(h, req));
    cr_assert_eq(r->error_code, code, "call %d: error %d (%s), wanted %d", req->call_case,
                 r->error_code, r->error_message, code);
    return r;
}

Warmpool__Agent__V1__ProcessExited *host_await_exit(host_t *h, const char *cid, const char *eid)
{
    for (int seen = 0;;) {
        for (; seen < h->n_events; seen++) {
            Warmpool__Agent__V1__Event *ev = h->events[seen];
            if (ev->event_case == WARMPOOL__AGENT__V1__EVENT__EVENT_PROCESS_EXITED &&
                strcmp(ev->process_exited->container_id, cid) == 0 &&
                strcmp(ev->process_exited->exec_id, eid) == 0)
                return ev->process_exited;
        }
        cr_assert_eq(host_pump(h, HOST_WAIT_MS), 1, "no exit of '%s' '%s'", cid, eid);
    }
}

void host_await_eof(host_t *h, uint32_t sid)
{
    while (!h->s[sid].eof)
        cr_assert_eq(host_pump(h, HOST_WAIT_MS), 1, "no EOF on stream %u", sid);
}

void host_send_stdin(host_t *h, uint32_t sid, const uint8_t *data, size_t len, bool eof)
{
    host_stream_t *s = &h->s[sid];
    size_t off = 0;
    while (off < len) {
        while (s->send_credit == 0)
            cr_assert_eq(host_pump(h, HOST_WAIT_MS), 1, "no credit on stdin %u", sid);
        size_t n = len - off;
        if (n > AGENT_STREAM_CHUNK)
            n = AGENT_STREAM_CHUNK;
        if (n > s->send_credit)
            n = s->send_credit;
        wp_error_t err = {0};
        cr_assert_eq(wp_frame_write(h->w.fd, sid, WP_FRAME_STREAM, data + off, n, &err), 0);
        s->send_credit -= (uint32_t)n;
        off += n;
        while (host_pump(h, 0) == 1) { /* take what came meanwhile: output, credit */
        }
    }
    if (eof) {
        wp_error_t err = {0};
        cr_assert_eq(wp_frame_write_flags(h->w.fd, sid, WP_FRAME_STREAM, WP_FRAME_FLAG_EOF, NULL, 0,
                                          -1, &err),
                     0);
    }
}

const char *host_text(host_t *h, uint32_t sid)
{
    host_stream_t *s = &h->s[sid];
    if (s->data == NULL)
        return "";
    s->data[s->len] = '\0';
    return (const char *)s->data;
}

/* ---- requests ---- */

#define CALL(c, CASE, member, init)                                                                \
    do {                                                                                           \
        memset((c), 0, sizeof(*(c)));                                                              \
        warmpool__agent__v1__request__init(&(c)->req);                                             \
        init(&(c)->u.member);                                                                      \
        (c)->req.call_case = WARMPOOL__AGENT__V1__REQUEST__CALL_##CASE;                            \
        (c)->req.member = &(c)->u.member;                                                          \
    } while (0)

static void sh_process(char *out, size_t len, const char *sh, bool terminal)
{
    char esc[1024];
    size_t j = 0;
    for (size_t i = 0; sh[i] && j + 2 < sizeof(esc); i++) {
        if (sh[i] == '"' || sh[i] == '\\')
            esc[j++] = '\\';
        esc[j++] = sh[i];
    }
    esc[j] = '\0';
    snprintf(out, len, "{\"terminal\":%s,\"cwd\":\"/\",\"args\":[\"/bin/sh\",\"-c\",\"%s\"]}",
             terminal ? "true" : "false", esc);
}

Warmpool__Agent__V1__Request *c_create_spec(call_t *c, const char *id, const char *spec)
{
    CALL(c, CREATE_CONTAINER, create_container,
         warmpool__agent__v1__create_container_request__init);
    snprintf(c->json, sizeof(c->json), "%s", spec);
    c->u.create_container.id = (char *)id;
    c->u.create_container.spec_json = c->json;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_create(call_t *c, const char *id, const char *sh, bool terminal,
                                       bool stdin)
{
    char process[1200];
    sh_process(process, sizeof(process), sh, false); /* the agent sets terminal */
    char spec[1400];
    snprintf(spec, sizeof(spec),
             "{\"ociVersion\":\"1.0.2\",\"process\":%s,\"root\":{\"path\":\"rootfs\"}}", process);
    c_create_spec(c, id, spec);
    c->u.create_container.terminal = terminal;
    c->u.create_container.stdin = stdin;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_start(call_t *c, const char *id)
{
    CALL(c, START_CONTAINER, start_container, warmpool__agent__v1__start_container_request__init);
    c->u.start_container.id = (char *)id;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_exec(call_t *c, const char *id, const char *eid, const char *sh,
                                     bool terminal, bool stdin)
{
    CALL(c, EXEC_PROCESS, exec_process, warmpool__agent__v1__exec_process_request__init);
    sh_process(c->json, sizeof(c->json), sh, false);
    c->u.exec_process.container_id = (char *)id;
    c->u.exec_process.exec_id = (char *)eid;
    c->u.exec_process.process_json = c->json;
    c->u.exec_process.terminal = terminal;
    c->u.exec_process.stdin = stdin;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_signal(call_t *c, const char *id, const char *eid, uint32_t sig,
                                       bool all)
{
    CALL(c, SIGNAL_PROCESS, signal_process, warmpool__agent__v1__signal_process_request__init);
    c->u.signal_process.container_id = (char *)id;
    c->u.signal_process.exec_id = (char *)eid;
    c->u.signal_process.signal = sig;
    c->u.signal_process.all = all;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_wait(call_t *c, const char *id, const char *eid)
{
    CALL(c, WAIT_PROCESS, wait_process, warmpool__agent__v1__wait_process_request__init);
    c->u.wait_process.container_id = (char *)id;
    c->u.wait_process.exec_id = (char *)eid;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_resize(call_t *c, const char *id, uint32_t rows, uint32_t cols)
{
    CALL(c, RESIZE_PTY, resize_pty, warmpool__agent__v1__resize_pty_request__init);
    c->u.resize_pty.container_id = (char *)id;
    c->u.resize_pty.exec_id = "";
    c->u.resize_pty.rows = rows;
    c->u.resize_pty.cols = cols;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_close_stdin(call_t *c, const char *id, const char *eid)
{
    CALL(c, CLOSE_STDIN, close_stdin, warmpool__agent__v1__close_stdin_request__init);
    c->u.close_stdin.container_id = (char *)id;
    c->u.close_stdin.exec_id = (char *)eid;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_pids(call_t *c, const char *id)
{
    CALL(c, LIST_PIDS, list_pids, warmpool__agent__v1__list_pids_request__init);
    c->u.list_pids.container_id = (char *)id;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_stats(call_t *c, const char *id)
{
    CALL(c, CONTAINER_STATS, container_stats, warmpool__agent__v1__container_stats_request__init);
    c->u.container_stats.container_id = (char *)id;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_pause(call_t *c, const char *id, bool pause)
{
    if (pause) {
        CALL(c, PAUSE_CONTAINER, pause_container,
             warmpool__agent__v1__pause_container_request__init);
        c->u.pause_container.container_id = (char *)id;
    } else {
        CALL(c, RESUME_CONTAINER, resume_container,
             warmpool__agent__v1__resume_container_request__init);
        c->u.resume_container.container_id = (char *)id;
    }
    return &c->req;
}

Warmpool__Agent__V1__Request *c_update(call_t *c, const char *id, const char *json)
{
    CALL(c, UPDATE_RESOURCES, update_resources,
         warmpool__agent__v1__update_resources_request__init);
    snprintf(c->json, sizeof(c->json), "%s", json);
    c->u.update_resources.container_id = (char *)id;
    c->u.update_resources.resources_json = c->json;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_delete_process(call_t *c, const char *id, const char *eid)
{
    CALL(c, DELETE_PROCESS, delete_process, warmpool__agent__v1__delete_process_request__init);
    c->u.delete_process.container_id = (char *)id;
    c->u.delete_process.exec_id = (char *)eid;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_delete(call_t *c, const char *id, bool force)
{
    CALL(c, DELETE_CONTAINER, delete_container,
         warmpool__agent__v1__delete_container_request__init);
    c->u.delete_container.container_id = (char *)id;
    c->u.delete_container.force = force;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_warm_up(call_t *c)
{
    CALL(c, WARM_UP, warm_up, warmpool__agent__v1__warm_up_request__init);
    return &c->req;
}

Warmpool__Agent__V1__Request *c_state(call_t *c, const char *id)
{
    CALL(c, CONTAINER_STATE, container_state, warmpool__agent__v1__container_state_request__init);
    c->u.container_state.container_id = (char *)id;
    return &c->req;
}

Warmpool__Agent__V1__Request *c_mount(call_t *c)
{
    CALL(c, MOUNT_SHARE, mount_share, warmpool__agent__v1__mount_share_request__init);
    return &c->req;
}

Warmpool__Agent__V1__Request *c_ping(call_t *c, uint64_t token)
{
    CALL(c, PING, ping, warmpool__agent__v1__ping_request__init);
    c->u.ping.token = token;
    return &c->req;
}
