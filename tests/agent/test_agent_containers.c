/* test_agent_containers.c - the container manager end to end, on the
 * agent's own loop (a thread) with a fake crun running plain host
 * processes (fake_crun.c) and hosts on socketpairs (host.h) that check the
 * stream rules on every frame: output within the credit window and in
 * chunks, nothing after EOF, every output EOF before the exit event. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_protocol.h"
#include "host.h"
#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_id.h"
#include "wp_time.h"

typedef Warmpool__Agent__V1__Response resp_t;
#define FREE(r) warmpool__agent__v1__response__free_unpacked((r), NULL)

static env_t env;
static host_t host;

static void up(void)
{
    env_up(&env);
    host_connect(&env, &host);
    env_resume(&env);
}

static void down(void)
{
    env_pause(&env);
    host_fini(&host);
    env_down(&env);
}

TestSuite(agent_containers, .init = up, .fini = down, .timeout = 60);

/* create + start; returns the create response's streams */
static Warmpool__Agent__V1__StdioStreams run(host_t *h, const char *id, const char *sh,
                                             bool terminal, bool stdin)
{
    call_t c;
    resp_t *r = host_call(h, c_create(&c, id, sh, terminal, stdin), 0);
    cr_assert_gt(r->create_container->pid, 0);
    Warmpool__Agent__V1__StdioStreams s = *r->create_container->streams;
    FREE(r);
    r = host_call(h, c_start(&c, id), 0);
    FREE(r);
    return s;
}

static uint32_t wait_status(host_t *h, const char *id, const char *eid, uint32_t *sig)
{
    call_t c;
    resp_t *r = host_call(h, c_wait(&c, id, eid), 0);
    uint32_t st = r->wait_process->exit_status;
    if (sig)
        *sig = r->wait_process->signal;
    cr_assert_gt(r->wait_process->exited_at_ns, 0);
    FREE(r);
    return st;
}

static void expect_error(host_t *h, Warmpool__Agent__V1__Request *req, int code)
{
    FREE(host_call(h, req, code));
}

static const char *state_of(host_t *h, const char *id)
{
    static char st[16];
    call_t c;
    resp_t *r = host_call(h, c_state(&c, id), 0);
    snprintf(st, sizeof(st), "%s", r->container_state->status);
    FREE(r);
    return st;
}

Test(agent_containers, output_and_exit_codes_with_every_eof_before_the_exit)
{
    Warmpool__Agent__V1__StdioStreams s0 =
        run(&host, "ok", "echo hello; echo oops >&2", false, false);
    Warmpool__Agent__V1__StdioStreams s1 = run(&host, "fail", "echo bye; exit 1", false, false);
    cr_assert_eq(s0.stdin_stream, 0, "no stdin asked");
    cr_assert(s0.stdout_stream && s0.stderr_stream && s0.stdout_stream != s0.stderr_stream);
    cr_assert_gt(s1.stdout_stream, s0.stderr_stream, "ids grow on a connection");
    Warmpool__Agent__V1__ProcessExited *ex = host_await_exit(&host, "ok", "");
    cr_assert_eq(ex->exit_status, 0);
    cr_assert(host.s[s0.stdout_stream].eof_at_exit && host.s[s0.stderr_stream].eof_at_exit,
              "each output stream's EOF comes before the exit event");
    cr_assert_str_eq(host_text(&host, s0.stdout_stream), "hello\n");
    cr_assert_str_eq(host_text(&host, s0.stderr_stream), "oops\n");
    ex = host_await_exit(&host, "fail", "");
    cr_assert_eq(ex->exit_status, 1);
    cr_assert_eq(ex->signal, 0);
    cr_assert(host.s[s1.stdout_stream].eof_at_exit);
    cr_assert_str_eq(host_text(&host, s1.stdout_stream), "bye\n");
    cr_assert_eq(wait_status(&host, "ok", "", NULL), 0);
    cr_assert_eq(wait_status(&host, "fail", "", NULL), 1);
    cr_assert_str_eq(state_of(&host, "fail"), "stopped");
    call_t c;
    resp_t *r = host_call(&host, c_delete(&c, "fail", false), 0);
    cr_assert_eq(r->delete_container->exit_status, 1);
    FREE(r);
    expect_error(&host, c_state(&c, "fail"), ENOENT);
    char bundle[256];
    snprintf(bundle, sizeof(bundle), "%s/fail", env.bundles);
    cr_assert_neq(access(bundle, F_OK), 0, "the bundle is gone");
    FREE(host_call(&host, c_delete(&c, "ok", false), 0));
}

Test(agent_containers, sigkill_is_137_and_a_second_signal_is_esrch)
{
    run(&host, "k", "exec sleep 100", false, false);
    call_t c;
    FREE(host_call(&host, c_signal(&c, "k", "", 9, false), 0));
    uint32_t sig = 0;
    cr_assert_eq(wait_status(&host, "k", "", &sig), 137);
    cr_assert_eq(sig, 9);
    expect_error(&host, c_signal(&c, "k", "", 9, false), ESRCH);
    expect_error(&host, c_start(&c, "k"), EINVAL);
    cr_assert_str_eq(state_of(&host, "k"), "stopped");
    FREE(host_call(&host, c_delete(&c, "k", false), 0));
}

Test(agent_containers, waits_before_and_after_the_exit_get_the_same_answer)
{
    call_t c;
    FREE(host_call(&host, c_create(&c, "w", "read x; exit 7", false, true), 0));
    uint32_t w1 = host_send(&host, c_wait(&c, "w", ""));
    uint32_t w2 = host_send(&host, c_wait(&c, "w", ""));
    FREE(host_call(&host, c_start(&c, "w"), 0));
    FREE(host_call(&host, c_ping(&c, 5), 0)); /* the waits are pending, calls still answered */
    cr_assert_null(host.resp[w1 % 256], "a wait is answered only at the exit");
    FREE(host_call(&host, c_close_stdin(&c, "w", ""), 0));
    resp_t *a = host_await(&host, w1), *b = host_await(&host, w2);
    cr_assert_eq(a->error_code, 0);
    cr_assert_eq(a->wait_process->exit_status, 7);
    cr_assert_eq(b->wait_process->exit_status, 7);
    cr_assert_eq(a->wait_process->exited_at_ns, b->wait_process->exited_at_ns);
    cr_assert_eq(wait_status(&host, "w", "", NULL), 7, "a wait after the exit answers at once");
    FREE(a);
    FREE(b);
    FREE(host_call(&host, c_delete(&c, "w", false), 0));
}

Test(agent_containers, every_error_is_one_errno_and_changes_nothing)
{
    call_t c;
    expect_error(&host, c_start(&c, "nope"), ENOENT);
    expect_error(&host, c_wait(&c, "nope", ""), ENOENT);
    expect_error(&host, c_signal(&c, "nope", "", 9, false), ENOENT);
    expect_error(&host, c_delete(&c, "nope", true), ENOENT);
    expect_error(&host, c_stats(&c, "nope"), ENOENT);
    expect_error(&host, c_create(&c, "bad/id", "true", false, false), EINVAL);
    expect_error(&host, c_create(&c, "..", "true", false, false), EINVAL);
    expect_error(&host, c_create(&c, "", "true", false, false), EINVAL);
    expect_error(&host, c_create_spec(&c, "j", "{not json"), EINVAL);
    expect_error(&host, c_create_spec(&c, "j", "{\"root\":{}}"), EINVAL);
    expect_error(&host, c_state(&c, "j"), ENOENT); /* a failed create leaves nothing */
    /* crun itself refusing: EIO with crun's own last log line */
    resp_t *f = host_call(&host, c_create_spec(&c, "j", "{\"process\":{\"cwd\":\"/\"}}"), EIO);
    cr_assert_not_null(strstr(f->error_message, "process.args is missing"), "%s", f->error_message);
    FREE(f);
    expect_error(&host, c_state(&c, "j"), ENOENT);
    char bundle[256];
    snprintf(bundle, sizeof(bundle), "%s/j", env.bundles);
    cr_assert_neq(access(bundle, F_OK), 0, "a failed create removes its bundle");
    run(&host, "e", "exec sleep 100", false, false);
    expect_error(&host, c_create(&c, "e", "true", false, false), EEXIST);
    expect_error(&host, c_start(&c, "e"), EINVAL);
    expect_error(&host, c_delete(&c, "e", false), EBUSY);
    expect_error(&host, c_pause(&c, "e", false), EINVAL);
    expect_error(&host, c_wait(&c, "e", "nope"), ENOENT);
    expect_error(&host, c_exec(&c, "e", "x/y", "true", false, false), EINVAL);
    expect_error(&host, c_resize(&c, "e", 10, 10), EINVAL); /* no terminal */
    expect_error(&host, c_update(&c, "e", "[1]"), EINVAL);
    cr_assert_str_eq(state_of(&host, "e"), "running");
    resp_t *r = host_call(&host, c_delete(&c, "e", true), 0);
    cr_assert_eq(r->delete_container->exit_status, 137);
    FREE(r);
    expect_error(&host, c_state(&c, "e"), ENOENT);
}

Test(agent_containers, stdin_through_cat_is_byte_exact_within_the_credit_both_ways)
{
    size_t len = 4u << 20;
    uint8_t *data = malloc(len);
    cr_assert_eq(wp_random_bytes(data, len, NULL), 0);
    Warmpool__Agent__V1__StdioStreams s = run(&host, "cat", "exec cat", false, true);
    cr_assert_gt(s.stdin_stream, 0);
    host_send_stdin(&host, s.stdin_stream, data, len, true);
    host_await_exit(&host, "cat", "");
    cr_assert_eq(host.s[s.stdout_stream].len, len);
    cr_assert_eq(memcmp(host.s[s.stdout_stream].data, data, len), 0, "cat's output is its input");
    cr_assert_leq(host.max_outstanding, AGENT_STREAM_WINDOW);
    cr_assert_eq(wait_status(&host, "cat", "", NULL), 0);
    env_pause(&env);
    size_t peak = 0;
    cr_assert_eq(agent_server_buffered(env.srv, &peak), 0);
    cr_assert_leq(peak, AGENT_STREAM_WINDOW, "the agent buffers at most the window of stdin");
    cr_assert_gt(peak, 0);
    env_resume(&env);
    call_t c;
    FREE(host_call(&host, c_delete(&c, "cat", false), 0));
    free(data);
}

Test(agent_containers, a_flood_of_output_leaves_pings_prompt_and_memory_bounded, .timeout = 120)
{
    host.keep_data = false;
    size_t total = 64u << 20;
    Warmpool__Agent__V1__StdioStreams s =
        run(&host, "flood", "head -c 67108864 /dev/zero", false, false);
    call_t c;
    double worst_ms = 0;
    int pings = 0;
    while (!host.s[s.stdout_stream].eof) {
        uint32_t id = host_send(&host, c_ping(&c, 77));
        int64_t t0 = wp_now_mono_ns();
        resp_t *r = host_await(&host, id); /* pumps the stream frames before it, too */
        double ms = wp_ms_between(t0, wp_now_mono_ns());
        worst_ms = ms > worst_ms ? ms : worst_ms;
        cr_assert_eq(r->ping->token, 77);
        FREE(r);
        pings++;
        for (int i = 0; i < 16 && !host.s[s.stdout_stream].eof; i++)
            host_pump(&host, 5000);
    }
    cr_assert_eq(host.s[s.stdout_stream].received, total);
    cr_assert_gt(pings, 10);
    cr_assert_lt(worst_ms, 2000, "a ping waited %.0f ms behind the flood", worst_ms);
    cr_assert_leq(host.max_outstanding, AGENT_STREAM_WINDOW);
    cr_assert_eq(wait_status(&host, "flood", "", NULL), 0);
    env_pause(&env);
    size_t peak = 1;
    agent_server_buffered(env.srv, &peak);
    cr_assert_eq(peak, 0, "output is never buffered by the agent");
    env_resume(&env);
    FREE(host_call(&host, c_delete(&c, "flood", false), 0));
}

Test(agent_containers, output_stops_at_the_window_until_the_host_grants_credit)
{
    /* socket buffers larger than the window: only the credit can stop the agent */
    int big = 4 << 20;
    setsockopt(host.guest_fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(host.w.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    host.keep_data = false;
    host.hold_credit = true;
    Warmpool__Agent__V1__StdioStreams s =
        run(&host, "win", "head -c 1048576 /dev/zero", false, false);
    host_stream_t *out = &host.s[s.stdout_stream];
    while (out->received < AGENT_STREAM_WINDOW)
        cr_assert_eq(host_pump(&host, 10000), 1, "the first window comes uncredited");
    /* nothing more may come (a pump failing on over-credit data would
     * assert too); give the agent time to misbehave */
    cr_assert_eq(host_pump(&host, 300), -1, "the agent sent beyond its window");
    cr_assert_eq(out->received, AGENT_STREAM_WINDOW);
    host.hold_credit = false;
    uint8_t be[4] = {0, 4, 0, 0}; /* 256 KiB */
    cr_assert_eq(wp_frame_write(host.w.fd, s.stdout_stream, WP_FRAME_CREDIT, be, 4, NULL), 0);
    out->granted += AGENT_STREAM_WINDOW;
    host_await_eof(&host, s.stdout_stream);
    cr_assert_eq(out->received, 1u << 20);
    cr_assert_eq(wait_status(&host, "win", "", NULL), 0);
    call_t c;
    FREE(host_call(&host, c_delete(&c, "win", false), 0));
}

Test(agent_containers, a_pty_over_the_console_socket_sees_the_resize)
{
    call_t c;
    resp_t *r =
        host_call(&host, c_create(&c, "tty", "stty size; test -t 0 && echo tty", true, false), 0);
    Warmpool__Agent__V1__StdioStreams s = *r->create_container->streams;
    FREE(r);
    cr_assert_gt(s.stdout_stream, 0);
    cr_assert_eq(s.stderr_stream, 0, "a terminal has one output stream");
    FREE(host_call(&host, c_resize(&c, "tty", 33, 77), 0));
    FREE(host_call(&host, c_start(&c, "tty"), 0));
    host_await_exit(&host, "tty", "");
    cr_assert(host.s[s.stdout_stream].eof_at_exit);
    cr_assert_str_eq(host_text(&host, s.stdout_stream), "33 77\r\ntty\r\n");
    FREE(host_call(&host, c_delete(&c, "tty", false), 0));
}

Test(agent_containers, exec_pause_resume_update_and_process_delete)
{
    call_t c;
    run(&host, "x", "exec sleep 100", false, false);
    resp_t *r = host_call(&host, c_exec(&c, "x", "e1", "echo from-exec; exit 3", false, false), 0);
    uint32_t out = r->exec_process->streams->stdout_stream;
    FREE(r);
    expect_error(&host, c_exec(&c, "x", "e1", "true", false, false), EEXIST);
    Warmpool__Agent__V1__ProcessExited *ex = host_await_exit(&host, "x", "e1");
    cr_assert_eq(ex->exit_status, 3);
    cr_assert_str_eq(host_text(&host, out), "from-exec\n");
    cr_assert_eq(wait_status(&host, "x", "e1", NULL), 3);
    r = host_call(&host, c_delete_process(&c, "x", "e1"), 0);
    cr_assert_eq(r->delete_process->exit_status, 3);
    FREE(r);
    expect_error(&host, c_wait(&c, "x", "e1"), ENOENT);
    FREE(host_call(&host, c_pause(&c, "x", true), 0));
    cr_assert_str_eq(state_of(&host, "x"), "paused");
    expect_error(&host, c_pause(&c, "x", true), EINVAL);
    expect_error(&host, c_exec(&c, "x", "e2", "true", false, false), EINVAL);
    FREE(host_call(&host, c_pause(&c, "x", false), 0));
    cr_assert_str_eq(state_of(&host, "x"), "running");
    FREE(host_call(&host, c_update(&c, "x", "{\"pids\":{\"limit\":5}}"), 0));
    char path[256];
    snprintf(path, sizeof(path), "%s/x/resources.json", env.crun_root);
    char *text = wp_read_file(path, 4096, NULL, NULL);
    cr_assert_not_null(text, "crun update got the resources");
    cr_assert_str_eq(text, "{\"pids\":{\"limit\":5}}");
    free(text);
    FREE(host_call(&host, c_signal(&c, "x", "", 15, true), 0));
    cr_assert_eq(wait_status(&host, "x", "", NULL), 128 + 15);
    FREE(host_call(&host, c_delete(&c, "x", false), 0));
}

static void write_at(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert_eq(wp_write_file_atomic(path, text, strlen(text), 0644, NULL), 0);
}

Test(agent_containers, stats_pids_and_oom_come_from_the_cgroup)
{
    char cg[256];
    snprintf(cg, sizeof(cg), "%s/warmpool/s", env.cgroups);
    cr_assert_eq(wp_mkdir_p(cg, 0755, NULL), 0);
    write_at(cg, "cpu.stat", "usage_usec 900\nuser_usec 600\nsystem_usec 300\n");
    write_at(cg, "memory.current", "4096\n");
    write_at(cg, "memory.max", "max\n");
    write_at(cg, "pids.current", "2\n");
    write_at(cg, "pids.max", "50\n");
    write_at(cg, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
    write_at(cg, "cgroup.procs", "11\n12\n");
    call_t c;
    FREE(host_call(&host, c_create(&c, "s", "true", false, false), 0));
    cr_assert_eq(env.sys.mounts, 1, "create mounts the share first");
    cr_assert_str_eq(env.sys.mount_tag, AGENT_SHARE_TAG);
    cr_assert_str_eq(env.sys.mount_target, AGENT_SHARE_GUEST_PATH);
    resp_t *r = host_call(&host, c_mount(&c), 0);
    cr_assert(r->mount_share->already_mounted);
    FREE(r);
    char config[256];
    snprintf(config, sizeof(config), "%s/s/config.json", env.bundles);
    char *spec = wp_read_file(config, 65536, NULL, NULL);
    cr_assert_not_null(strstr(spec, "\"cgroupsPath\":\"/warmpool/s\""), "%s", spec);
    cr_assert_not_null(strstr(spec, "\"terminal\":false"), "%s", spec);
    free(spec);
    r = host_call(&host, c_stats(&c, "s"), 0);
    cr_assert_eq(r->container_stats->cpu_usage_usec, 900);
    cr_assert_eq(r->container_stats->cpu_user_usec, 600);
    cr_assert_eq(r->container_stats->cpu_system_usec, 300);
    cr_assert_eq(r->container_stats->memory_usage_bytes, 4096);
    cr_assert_eq(r->container_stats->memory_limit_bytes, 0);
    cr_assert_eq(r->container_stats->pids_current, 2);
    cr_assert_eq(r->container_stats->pids_limit, 50);
    FREE(r);
    r = host_call(&host, c_pids(&c, "s"), 0);
    cr_assert_eq(r->list_pids->n_pids, 2);
    cr_assert_eq(r->list_pids->pids[0], 11);
    cr_assert_eq(r->list_pids->pids[1], 12);
    FREE(r);
    /* the kernel rewrites memory.events in place: so does the test */
    char path[300];
    snprintf(path, sizeof(path), "%s/memory.events", cg);
    FILE *f = fopen(path, "w");
    fputs("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n", f);
    fclose(f);
    for (;;) {
        cr_assert_eq(host_pump(&host, 10000), 1, "no OOM event");
        Warmpool__Agent__V1__Event *ev = host.events[host.n_events - 1];
        if (host.n_events > 0 &&
            ev->event_case == WARMPOOL__AGENT__V1__EVENT__EVENT_CONTAINER_OOM) {
            cr_assert_str_eq(ev->container_oom->container_id, "s");
            cr_assert_eq(ev->container_oom->oom_kills, 1);
            break;
        }
    }
    FREE(host_call(&host, c_delete(&c, "s", true), 0));
}

Test(agent_containers, malformed_stream_frames_close_only_their_connection)
{
    host_t other;
    env_pause(&env);
    host_connect(&env, &other);
    env_resume(&env);
    call_t c;
    /* a stdin that nobody reads: the pipe fills, then the agent's buffer */
    Warmpool__Agent__V1__StdioStreams s = run(&host, "m", "exec sleep 100", false, true);
    /* credit for an id nobody has: ignored */
    uint8_t be[4] = {0, 0, 1, 0};
    cr_assert_eq(wp_frame_write(host.w.fd, 999, WP_FRAME_CREDIT, be, 4, NULL), 0);
    FREE(host_call(&host, c_ping(&c, 1), 0));
    /* beyond the window: 2 windows sent without waiting for credit */
    uint8_t chunk[AGENT_STREAM_CHUNK] = {0};
    for (size_t sent = 0; sent < 2 * AGENT_STREAM_WINDOW; sent += sizeof(chunk))
        if (wp_frame_write(host.w.fd, s.stdin_stream, WP_FRAME_STREAM, chunk, sizeof(chunk), NULL) <
            0)
            break;
    cr_assert(wire_closed(&host.w, 10000), "stdin beyond the credit closes the connection");
    /* a stream id that is no stdin of this connection: the other's output id */
    host_t third;
    env_pause(&env);
    host_connect(&env, &third);
    env_resume(&env);
    cr_assert_eq(wp_frame_write(third.w.fd, s.stdout_stream, WP_FRAME_STREAM, "x", 1, NULL), 0);
    cr_assert(wire_closed(&third.w, 10000), "a stream frame for a foreign id closes it");
    /* the other connection is served; the process lives on and is deleted there */
    FREE(host_call(&other, c_ping(&c, 2), 0));
    cr_assert_str_eq(state_of(&other, "m"), "running");
    resp_t *r = host_call(&other, c_delete(&c, "m", true), 0);
    cr_assert_eq(r->delete_container->exit_status, 137);
    FREE(r);
    env_pause(&env);
    cr_assert_eq(agent_server_connections(env.srv), 1);
    host_fini(&third);
    host_fini(&other);
    env_resume(&env);
}

Test(agent_containers, a_host_leaving_mid_output_leaves_the_process_to_finish)
{
    Warmpool__Agent__V1__StdioStreams s =
        run(&host, "d", "head -c 16777216 /dev/zero; exit 4", false, true);
    while (host.s[s.stdout_stream].received < 4 * AGENT_STREAM_CHUNK)
        cr_assert_eq(host_pump(&host, 10000), 1);
    call_t w;
    host_send(&host, c_wait(&w, "d", "")); /* a waiter that leaves is forgotten */
    FREE(host_call(&host, c_ping(&w, 3), 0));
    host_fini(&host); /* gone without a word, mid-flood, stdin open, a wait pending */
    env_pause(&env);
    host_connect(&env, &host);
    env_resume(&env);
    call_t c;
    cr_assert_eq(wait_status(&host, "d", "", NULL), 4, "the output was drained and discarded");
    FREE(host_call(&host, c_delete(&c, "d", false), 0));
}

/* Start writes the exec FIFO itself unless the spec has poststart hooks,
 * which only `crun start` runs (the fake notes its start in the state dir). */
static bool started_by_crun(const char *id)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s/started-by-crun", env.crun_root, id);
    return access(path, F_OK) == 0;
}

Test(agent_containers, start_needs_crun_only_for_poststart_hooks)
{
    run(&host, "direct", "echo direct", false, false);
    cr_assert_eq(host_await_exit(&host, "direct", "")->exit_status, 0);
    cr_assert_not(started_by_crun("direct"), "no hooks: the agent wrote the FIFO");

    const char *spec = "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"cwd\":\"/\","
                       "\"args\":[\"/bin/sh\",\"-c\",\"exit 4\"]},\"root\":{\"path\":\"rootfs\"},"
                       "\"hooks\":{\"poststart\":[{\"path\":\"/bin/true\"}]}}";
    call_t c;
    FREE(host_call(&host, c_create_spec(&c, "hooked", spec), 0));
    FREE(host_call(&host, c_start(&c, "hooked"), 0));
    cr_assert_eq(host_await_exit(&host, "hooked", "")->exit_status, 4);
    cr_assert(started_by_crun("hooked"), "poststart hooks: crun start ran");

    /* started once: the FIFO is gone, a second start is refused, nothing changes */
    expect_error(&host, c_start(&c, "direct"), EINVAL);
    cr_assert_str_eq(state_of(&host, "direct"), "stopped");
    FREE(host_call(&host, c_delete(&c, "direct", false), 0));
    FREE(host_call(&host, c_delete(&c, "hooked", false), 0));
}

/* ---- WarmUp ---- */

static size_t entries(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

Test(agent_containers, warm_up_creates_and_deletes_a_container_and_leaves_nothing)
{
    size_t bundles = entries(env.bundles), states = entries(env.crun_root);
    call_t c;
    resp_t *r = host_call(&host, c_warm_up(&c), 0);
    cr_assert_not_null(r->warm_up);
    cr_assert_gt(r->warm_up->duration_ns, 0);
    FREE(r);
    cr_assert_eq(entries(env.bundles), bundles, "a bundle is left");
    cr_assert_eq(entries(env.crun_root), states, "crun state is left");
    /* and the agent serves containers as before, its spec with the persona */
    run(&host, "after", "echo fine", false, false);
    char path[256];
    snprintf(path, sizeof(path), "%s/after/config.json", env.bundles);
    wp_error_t err = {0};
    _cleanup_free_ char *spec = wp_read_file(path, 1 << 20, NULL, &err);
    cr_assert_not_null(spec, "%s", err.msg);
    cr_assert_not_null(strstr(spec, "\"personality\":{\"domain\":\"LINUX\"}"),
                       "crun gets linux.personality (ASLR back on in the container): %s", spec);
    cr_assert_eq(host_await_exit(&host, "after", "")->exit_status, 0);
    FREE(host_call(&host, c_delete(&c, "after", false), 0));
    /* twice in a row is fine: nothing of the first is in the way */
    FREE(host_call(&host, c_warm_up(&c), 0));
}
