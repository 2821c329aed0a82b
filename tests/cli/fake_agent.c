/* fake_agent.c - see fake_agent.h. */
#include "fake_agent.h"

#include <errno.h>      /* EPIPE */
#include <poll.h>       /* poll */
#include <signal.h>     /* SIGPIPE */
#include <stdio.h>      /* snprintf */
#include <string.h>     /* memcpy */
#include <sys/socket.h> /* socket */
#include <sys/stat.h>   /* stat */
#include <sys/un.h>     /* sockaddr_un */
#include <unistd.h>     /* close */

#include "agent.pb-c.h"
#include "wp_frame.h"

#define RESULT(x) WARMPOOL__AGENT__V1__RESPONSE__RESULT_##x
#define CALL(x)   WARMPOOL__AGENT__V1__REQUEST__CALL_##x

typedef Warmpool__Agent__V1__Response resp_t;

static void fail(fake_agent_t *f, const char *what)
{
    if (f->failure[0] == '\0')
        snprintf(f->failure, sizeof(f->failure), "%s", what);
}

static void send_msg(fake_agent_t *f, int fd, uint32_t id, wp_frame_kind_t kind,
                     const ProtobufCMessage *m)
{
    uint8_t buf[1024];
    size_t len = protobuf_c_message_get_packed_size(m);
    if (len > sizeof(buf))
        return fail(f, "message too large");
    protobuf_c_message_pack(m, buf);
    wp_error_t err = {0};
    /* a client that has gone (run --detach exits once the container runs)
     * is not a script error: what it did not wait for is lost to nobody */
    if (wp_frame_write_timeout(fd, id, kind, buf, len, 5000, &err) < 0 && err.code != EPIPE &&
        err.code != ECONNRESET)
        fail(f, "write");
}

static void ok(fake_agent_t *f, int fd, uint32_t id, int result)
{
    /* every result message here is empty or all-default: pack an empty one */
    resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    Warmpool__Agent__V1__MountShareResponse ms = WARMPOOL__AGENT__V1__MOUNT_SHARE_RESPONSE__INIT;
    Warmpool__Agent__V1__StartContainerResponse st =
        WARMPOOL__AGENT__V1__START_CONTAINER_RESPONSE__INIT;
    Warmpool__Agent__V1__SignalProcessResponse sg =
        WARMPOOL__AGENT__V1__SIGNAL_PROCESS_RESPONSE__INIT;
    Warmpool__Agent__V1__DeleteContainerResponse dc =
        WARMPOOL__AGENT__V1__DELETE_CONTAINER_RESPONSE__INIT;
    Warmpool__Agent__V1__ResizePtyResponse rp = WARMPOOL__AGENT__V1__RESIZE_PTY_RESPONSE__INIT;
    r.result_case = result;
    if (result == RESULT(MOUNT_SHARE))
        r.mount_share = &ms;
    else if (result == RESULT(START_CONTAINER))
        r.start_container = &st;
    else if (result == RESULT(SIGNAL_PROCESS))
        r.signal_process = &sg;
    else if (result == RESULT(DELETE_CONTAINER))
        r.delete_container = &dc;
    else if (result == RESULT(RESIZE_PTY))
        r.resize_pty = &rp;
    send_msg(f, fd, id, WP_FRAME_RESPONSE, &r.base);
}

/* The process "runs" once started: output, EOFs, exit event, wait answer. */
static void finish(fake_agent_t *f, int fd, uint32_t wait_id)
{
    f->finished = true;
    char out[4200] = "got: ";
    memcpy(out + 5, f->stdin_data, f->stdin_len); /* binary: NULs too */
    wp_frame_write_flags(fd, 2, WP_FRAME_STREAM, 0, out, 5 + f->stdin_len, 5000, NULL);
    wp_frame_write_flags(fd, 2, WP_FRAME_STREAM, WP_FRAME_FLAG_EOF, NULL, 0, 5000, NULL);
    wp_frame_write_flags(fd, 3, WP_FRAME_STREAM, WP_FRAME_FLAG_EOF, "warn", 4, 5000, NULL);
    Warmpool__Agent__V1__ProcessExited pe = WARMPOOL__AGENT__V1__PROCESS_EXITED__INIT;
    pe.container_id = f->container_id;
    pe.exec_id = f->exec_id;
    pe.exit_status = f->exit_status;
    pe.signal = f->exit_signal;
    Warmpool__Agent__V1__Event ev = WARMPOOL__AGENT__V1__EVENT__INIT;
    ev.event_case = WARMPOOL__AGENT__V1__EVENT__EVENT_PROCESS_EXITED;
    ev.process_exited = &pe;
    send_msg(f, fd, 0, WP_FRAME_EVENT, &ev.base);
    Warmpool__Agent__V1__WaitProcessResponse w = WARMPOOL__AGENT__V1__WAIT_PROCESS_RESPONSE__INIT;
    w.exit_status = f->exit_status;
    w.signal = f->exit_signal;
    resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
    r.result_case = RESULT(WAIT_PROCESS);
    r.wait_process = &w;
    send_msg(f, fd, wait_id, WP_FRAME_RESPONSE, &r.base);
}

/* The process ends once it runs, its wait is in and its stdin is done. */
static void maybe_finish(fake_agent_t *f, int fd)
{
    if (!f->finished && f->started && f->wait_id != 0 && (!f->create_stdin || f->stdin_eof))
        finish(f, fd, f->wait_id);
}

static void on_request(fake_agent_t *f, int fd, uint32_t id, const Warmpool__Agent__V1__Request *q,
                       uint32_t *wait_id)
{
    f->calls++;
    switch (q->call_case) {
    case CALL(MOUNT_SHARE):
        f->mounted_share = true;
        ok(f, fd, id, RESULT(MOUNT_SHARE));
        break;
    case CALL(CREATE_CONTAINER): {
        const Warmpool__Agent__V1__CreateContainerRequest *c = q->create_container;
        snprintf(f->container_id, sizeof(f->container_id), "%s", c->id);
        snprintf(f->spec_json, sizeof(f->spec_json), "%s", c->spec_json);
        f->create_stdin = c->stdin;
        f->create_terminal = c->terminal;
        char marker[512];
        struct stat st;
        snprintf(marker, sizeof(marker), "%s/%s/rootfs/marker", f->share, c->id);
        f->rootfs_visible = stat(marker, &st) == 0;
        Warmpool__Agent__V1__StdioStreams s = WARMPOOL__AGENT__V1__STDIO_STREAMS__INIT;
        s.stdin_stream = c->stdin ? 1 : 0;
        s.stdout_stream = 2;
        s.stderr_stream = 3;
        Warmpool__Agent__V1__CreateContainerResponse cr =
            WARMPOOL__AGENT__V1__CREATE_CONTAINER_RESPONSE__INIT;
        cr.pid = 9;
        cr.streams = &s;
        resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
        r.result_case = RESULT(CREATE_CONTAINER);
        r.create_container = &cr;
        send_msg(f, fd, id, WP_FRAME_RESPONSE, &r.base);
        break;
    }
    case CALL(WAIT_PROCESS):
        *wait_id = id;
        f->wait_id = id;
        f->waited_before_start = !f->started;
        maybe_finish(f, fd);
        break;
    case CALL(START_CONTAINER):
        f->started = true;
        ok(f, fd, id, RESULT(START_CONTAINER));
        maybe_finish(f, fd);
        break;
    case CALL(EXEC_PROCESS): {
        const Warmpool__Agent__V1__ExecProcessRequest *x = q->exec_process;
        snprintf(f->container_id, sizeof(f->container_id), "%s", x->container_id);
        snprintf(f->exec_id, sizeof(f->exec_id), "%s", x->exec_id);
        snprintf(f->process_json, sizeof(f->process_json), "%s", x->process_json);
        f->create_stdin = x->stdin;
        f->started = true;
        Warmpool__Agent__V1__StdioStreams s = WARMPOOL__AGENT__V1__STDIO_STREAMS__INIT;
        s.stdin_stream = x->stdin ? 1 : 0;
        s.stdout_stream = 2;
        s.stderr_stream = 3;
        Warmpool__Agent__V1__ExecProcessResponse xr =
            WARMPOOL__AGENT__V1__EXEC_PROCESS_RESPONSE__INIT;
        xr.pid = 10;
        xr.streams = &s;
        resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
        r.result_case = RESULT(EXEC_PROCESS);
        r.exec_process = &xr;
        send_msg(f, fd, id, WP_FRAME_RESPONSE, &r.base);
        break;
    }
    case CALL(DELETE_PROCESS): {
        f->deleted_process = true;
        Warmpool__Agent__V1__DeleteProcessResponse dp =
            WARMPOOL__AGENT__V1__DELETE_PROCESS_RESPONSE__INIT;
        resp_t r = WARMPOOL__AGENT__V1__RESPONSE__INIT;
        r.result_case = RESULT(DELETE_PROCESS);
        r.delete_process = &dp;
        send_msg(f, fd, id, WP_FRAME_RESPONSE, &r.base);
        break;
    }
    case CALL(SIGNAL_PROCESS):
        ok(f, fd, id, RESULT(SIGNAL_PROCESS));
        if (f->signalled == 0) {
            f->signalled = (int)q->signal_process->signal;
            f->exit_signal = q->signal_process->signal;
            f->exit_status = 128 + f->exit_signal;
            if (!f->finished)
                finish(f, fd, *wait_id);
        }
        break;
    case CALL(RESIZE_PTY):
        ok(f, fd, id, RESULT(RESIZE_PTY));
        break;
    case CALL(DELETE_CONTAINER):
        f->deleted = true;
        f->delete_force = q->delete_container->force;
        ok(f, fd, id, RESULT(DELETE_CONTAINER));
        break;
    default:
        fail(f, "unexpected call");
        break;
    }
}

static void *serve(void *arg)
{
    fake_agent_t *f = arg;
    struct pollfd lp = {.fd = f->listen_fd, .events = POLLIN};
    if (poll(&lp, 1, 20000) != 1) {
        fail(f, "nobody connected");
        return NULL;
    }
    int fd = accept(f->listen_fd, NULL, NULL);
    if (fd < 0) {
        fail(f, "accept");
        return NULL;
    }
    Warmpool__Agent__V1__Announce a = WARMPOOL__AGENT__V1__ANNOUNCE__INIT;
    a.agent_version = "fake";
    a.boot_id = "boot";
    a.protocol_version = 1;
    Warmpool__Agent__V1__Event ev = WARMPOOL__AGENT__V1__EVENT__INIT;
    ev.event_case = WARMPOOL__AGENT__V1__EVENT__EVENT_ANNOUNCE;
    ev.announce = &a;
    send_msg(f, fd, 0, WP_FRAME_EVENT, &ev.base);
    wp_frame_reader_t rd;
    wp_frame_reader_init(&rd, WP_FRAME_MAX_PAYLOAD);
    uint32_t wait_id = 0;
    for (;;) {
        wp_frame_header_t h;
        const uint8_t *p;
        int got;
        while ((got = wp_frame_reader_next(&rd, &h, &p, NULL)) == 1) {
            if (h.kind == WP_FRAME_REQUEST) {
                Warmpool__Agent__V1__Request *q =
                    warmpool__agent__v1__request__unpack(NULL, h.length, p);
                if (q == NULL) {
                    fail(f, "request does not decode");
                    continue;
                }
                on_request(f, fd, h.id, q, &wait_id);
                warmpool__agent__v1__request__free_unpacked(q, NULL);
            } else if (h.kind == WP_FRAME_STREAM) {
                if (h.id != 1 || f->stdin_eof) {
                    fail(f, "stream frame not on an open stdin");
                    continue;
                }
                if (f->stdin_len + h.length <= sizeof(f->stdin_data)) {
                    memcpy(f->stdin_data + f->stdin_len, p, h.length);
                    f->stdin_len += h.length;
                }
                if (h.flags & WP_FRAME_FLAG_EOF) {
                    f->stdin_eof = true;
                    maybe_finish(f, fd);
                }
            }
        }
        if (got < 0) {
            fail(f, "bad frame");
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 20000) != 1) {
            fail(f, "warmpoolctl went quiet");
            break;
        }
        if (wp_frame_reader_read_fd(&rd, fd, NULL) <= 0)
            break; /* warmpoolctl closed: done */
    }
    wp_frame_reader_fini(&rd);
    close(fd);
    return NULL;
}

void fake_agent_start(fake_agent_t *f)
{
    /* warmpoolctl may exit (--detach) while the script still writes to it:
     * an EPIPE the script reports, not a SIGPIPE that kills the test */
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock_path);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(f->listen_fd, 1) < 0 || pthread_create(&f->thread, NULL, serve, f) != 0)
        fail(f, "listen");
}

void fake_agent_stop(fake_agent_t *f)
{
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
}
