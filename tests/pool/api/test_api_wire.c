/* test_api_wire.c - what the API server does with bytes no well-behaved
 * client sends, with clients that vanish, and with peers it must refuse;
 * after each, it must go on serving. */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_harness.h"

#define T2 "{\"t\": {\"target\": 2, \"max\": 64}}"

/* The server still answers a real call. */
static void assert_serving(api_harness_t *a)
{
    api_client_t *c = api_harness_client(a);
    wp_error_t err = {0};
    api_health_t h;
    cr_assert_eq(api_client_health(c, &h, &err), 0, "still serving: %s", err.msg);
    api_client_close(c);
}

Test(api_wire, garbage_bytes_get_ebadmsg_and_the_server_goes_on)
{
    api_harness_t a;
    api_harness_open(&a, T2, NULL);
    /* 0xff... is a varint that never ends: not a protobuf message at all */
    uint8_t junk[64];
    memset(junk, 0xff, sizeof(junk));
    pb_response_t *r = NULL;
    cr_assert_eq(raw_call(a.url, junk, sizeof(junk), false, 5000, &r), 0);
    cr_assert_eq(r->error_code, EBADMSG, "%d %s", r->error_code, r->error_message);
    cr_assert_eq(r->result_case, WARMPOOL__POOL__V1__RESPONSE__RESULT__NOT_SET);
    warmpool__pool__v1__response__free_unpacked(r, NULL);
    /* random bytes may happen to decode; whatever they are, each gets a reply */
    srand(42);
    for (int i = 0; i < 50; i++) {
        for (size_t k = 0; k < sizeof(junk); k++)
            junk[k] = (uint8_t)rand();
        cr_assert_eq(raw_call(a.url, junk, 1 + (size_t)i, false, 5000, &r), 0, "round %d", i);
        warmpool__pool__v1__response__free_unpacked(r, NULL);
    }
    assert_serving(&a);
    api_harness_close(&a);
}

Test(api_wire, a_request_with_no_call_is_eopnotsupp)
{
    api_harness_t a;
    api_harness_open(&a, T2, NULL);
    pb_response_t *r = NULL;
    cr_assert_eq(raw_call(a.url, "", 0, false, 5000, &r), 0, "an empty Request is valid protobuf");
    cr_assert_eq(r->error_code, EOPNOTSUPP, "%d %s", r->error_code, r->error_message);
    warmpool__pool__v1__response__free_unpacked(r, NULL);
    /* field 31, a call from some later protocol version */
    const uint8_t future[] = {0xfa, 0x01, 0x00};
    cr_assert_eq(raw_call(a.url, future, sizeof(future), false, 5000, &r), 0);
    cr_assert_eq(r->error_code, EOPNOTSUPP, "%d %s", r->error_code, r->error_message);
    warmpool__pool__v1__response__free_unpacked(r, NULL);
    assert_serving(&a);
    api_harness_close(&a);
}

Test(api_wire, oversized_requests_are_refused_and_the_server_goes_on)
{
    api_harness_t a;
    api_harness_open(&a, T2, NULL);
    /* past API_MAX_MESSAGE, within what nng buffers: an error reply */
    size_t len = API_MAX_MESSAGE + 1;
    uint8_t *big = calloc(1, API_RECV_HARD_MAX + 4096);
    pb_response_t *r = NULL;
    cr_assert_eq(raw_call(a.url, big, len, false, 5000, &r), 0);
    cr_assert_eq(r->error_code, EMSGSIZE, "%d %s", r->error_code, r->error_message);
    warmpool__pool__v1__response__free_unpacked(r, NULL);
    /* past API_RECV_HARD_MAX nng drops the connection as soon as the frame
     * header announces the size, before any of it is buffered. (Checked
     * with a plain socket: closing an nng dialer whose connection the
     * server dropped can hang inside nng 1.5.2.) */
    cr_assert(raw_oversized_is_dropped(a.path, API_RECV_HARD_MAX + 4096, 5000),
              "the server hangs up on a frame past its receive cap");
    cr_assert_not(raw_oversized_is_dropped(a.path, 64, 300), "a normal frame is awaited");
    free(big);
    /* api_client refuses before sending */
    api_client_t *c = api_harness_client(&a);
    char name[API_MAX_MESSAGE + 16];
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    pool_lease_t l;
    wp_error_t err = {0};
    cr_assert_eq(api_client_acquire(c, name, true, 0, &l, &err), -1);
    cr_assert_eq(err.code, EMSGSIZE, "%d %s", err.code, err.msg);
    api_client_close(c);
    assert_serving(&a);
    api_harness_close(&a);
}

/* An acquire whose client is gone before the (slow, cloned) VM is ready
 * must not leave a lease nobody holds. */
Test(api_wire, a_lease_for_a_client_that_left_is_released)
{
    api_harness_t a;
    api_harness_open(&a, "{\"t\": {\"target\": 0}}", NULL);
    fake_source_set_clone_delay_ms(a.h.fs, 300);
    Warmpool__Pool__V1__AcquireRequest acq = WARMPOOL__POOL__V1__ACQUIRE_REQUEST__INIT;
    acq.template_ = "t";
    pb_request_t req = WARMPOOL__POOL__V1__REQUEST__INIT;
    req.call_case = WARMPOOL__POOL__V1__REQUEST__CALL_ACQUIRE;
    req.acquire = &acq;
    uint8_t buf[64];
    size_t len = warmpool__pool__v1__request__pack(&req, buf);
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    cr_assert_eq(nng_dial(s, a.url, NULL, 0), 0);
    cr_assert_eq(nng_send(s, buf, len, 0), 0);
    /* a clone starting is no pool state change (WAIT_UNTIL would not wake): poll */
    for (int i = 0; i < 1000 && STATUS(&a.h, "t").cloning == 0; i++)
        usleep(5000);
    cr_assert_eq(STATUS(&a.h, "t").cloning, 1, "the clone started");
    nng_close(s); /* the client leaves while its VM is being cloned */
    cr_assert(WAIT_UNTIL(a.h.pool, 5000, STATUS(&a.h, "t").releases == 1),
              "the server released the undeliverable lease");
    cr_assert_eq(STATUS(&a.h, "t").leased, 0);
    cr_assert_eq(fake_source_count(a.h.fs), 0, "and its VM is gone");
    assert_serving(&a);
    api_harness_close(&a);
}

/* As root, run warmpoolctl as nobody against the socket: the file mode
 * keeps it out, and with the mode opened up, the uid check does. */
static int run_as_nobody(const char *url, char *out, size_t cap)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        dup2(fds[1], 1);
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(99);
        execl(WARMPOOLCTL, "warmpoolctl", "--socket", url, "health", (char *)NULL);
        _exit(98);
    }
    close(fds[1]);
    ssize_t n, got = 0;
    while ((n = read(fds[0], out + got, cap - 1 - (size_t)got)) > 0)
        got += n;
    out[got] = '\0';
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(api_wire, other_users_are_kept_out_by_mode_then_by_uid)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to run a client as another user");
    api_harness_t a;
    api_harness_open(&a, T2, NULL);
    cr_assert_eq(chmod(a.h.dir, 0755), 0);
    char out[2048];
    int rc = run_as_nobody(a.url, out, sizeof(out));
    if (rc == 98) {
        api_harness_close(&a);
        cr_skip_test("nobody cannot execute %s", WARMPOOLCTL);
    }
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "cannot access") && strstr(out, "run as root?"), "%s", out);
    api_server_stop(a.srv);
    api_server_config_t cfg = {.socket_mode = 0666};
    api_harness_serve(&a, &cfg);
    cr_assert_eq(run_as_nobody(a.url, out, sizeof(out)), 1, "%s", out);
    cr_assert(strstr(out, "uid 65534 may not use warmpoold"), "refused by uid: %s", out);
    api_server_stop(a.srv);
    cfg.allowed_uid = 65534;
    api_harness_serve(&a, &cfg);
    cr_assert_eq(run_as_nobody(a.url, out, sizeof(out)), 0, "the allowed uid is served: %s", out);
    cr_assert(strstr(out, "warmpoold " WP_VERSION), "%s", out);
    api_harness_close(&a);
}

/* A client that connects and hangs up at once, as a second daemon's stale
 * check does: nng 1.5.2 then stops accepting, and the server's watchdog
 * must notice and listen anew. */
static void hang_up_at_once(const char *path, int times)
{
    for (int i = 0; i < times; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
    }
}

Test(api_wire, a_live_socket_is_not_stolen_and_a_stale_one_is_reused)
{
    api_harness_t a;
    api_server_config_t fast = {.watchdog_ms = 100};
    api_harness_open(&a, T2, &fast);
    api_client_t *before = api_harness_client(&a); /* connected before any trouble */
    api_server_config_t cfg = {.url = a.url};
    wp_error_t err = {0};
    cr_assert_null(api_server_start(a.h.pool, &cfg, &err), "a second daemon on the same socket");
    cr_assert_eq(err.code, EADDRINUSE, "%d %s", err.code, err.msg);
    hang_up_at_once(a.path, 20);
    /* whether nng lost its accept loop is a race (the hang-up must beat the
     * server's handshake); if it did, the watchdog listens anew within
     * ~1.1 s. A client that connects before that waits out its timeout. */
    for (int i = 0; i < 300 && api_server_listener_restarts(a.srv) == 0; i++)
        usleep(10 * 1000);
    assert_serving(&a);
    api_health_t h;
    cr_assert_eq(api_client_health(before, &h, &err), 0, "old connections survive: %s", err.msg);
    api_client_close(before);
    api_server_stop(a.srv);
    /* what a kill -9 leaves: a socket file nobody listens on */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", a.path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
    close(fd);
    api_harness_serve(&a, NULL);
    assert_serving(&a);
    api_harness_close(&a);
}

Test(api_wire, the_watchdog_listens_anew_when_the_socket_stops_accepting)
{
    api_harness_t a;
    api_server_config_t fast = {.watchdog_ms = 100};
    api_harness_open(&a, T2, &fast);
    api_client_t *before = api_harness_client(&a);
    /* deterministic stand-in for a dead accept loop: nobody can reach the
     * listener any more */
    cr_assert_eq(unlink(a.path), 0);
    for (int i = 0; i < 500 && api_server_listener_restarts(a.srv) == 0; i++)
        usleep(10 * 1000);
    cr_assert_eq(api_server_listener_restarts(a.srv), 1);
    struct stat st;
    cr_assert_eq(stat(a.path, &st), 0, "the socket is back");
    cr_assert_eq(st.st_mode & 07777, 0600, "with its mode");
    assert_serving(&a);
    wp_error_t err = {0};
    api_health_t h;
    cr_assert_eq(api_client_health(before, &h, &err), 0, "old connections survive: %s", err.msg);
    api_client_close(before);
    usleep(300 * 1000);
    cr_assert_eq(api_server_listener_restarts(a.srv), 1, "a healthy listener is left alone");
    api_harness_close(&a);
}
