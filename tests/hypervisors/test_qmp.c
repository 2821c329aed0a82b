/* test_qmp.c - the QMP client against a scripted fake server: greeting and
 * negotiation, replies matched by id out of order, events interleaved with
 * replies, QEMU's error text, a peer that hangs up or never answers, and fd
 * passing with SCM_RIGHTS. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_qmp.h"
#include "qmp_private.h"
#include "wp_time.h"

#define SOON (wp_now_mono_ns() + 5000000000LL) /* a deadline no passing test reaches */

static fake_qmp_t fake;

/* A client on one end of a socketpair, the fake playing script on the other. */
static qmp_t *start(const fake_step_t *script)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(&fake, 0, sizeof(fake));
    fake_qmp_start(&fake, sv[1], script);
    wp_error_t err = {0};
    qmp_t *q = qmp_from_fd(sv[0], &err);
    cr_assert_not_null(q, "%s", err.msg);
    return q;
}

static void finish(qmp_t *q)
{
    qmp_close(q);
    const char *e = fake_qmp_join(&fake);
    cr_assert_str_empty(e, "fake QMP server: %s", e);
}

Test(qmp, greeting_then_capabilities)
{
    static const fake_step_t script[] = {
        {FAKE_SEND, GREETING},
        {FAKE_EXPECT, "qmp_capabilities"},
        {FAKE_SEND, "{\"return\": {}, \"id\": $0}"},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    cr_assert_str_empty(qmp_version(q));
    cr_assert_eq(qmp_wait_greeting(q, SOON, &err), 0, "%s", err.msg);
    cr_assert_str_eq(qmp_version(q), "7.2.22");
    cr_assert_eq(qmp_capabilities(q, NULL, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(qmp_outstanding(q), 0);
    finish(q);
}

Test(qmp, commands_written_before_the_greeting_are_answered_after_it)
{
    static const fake_step_t script[] = {
        {FAKE_SEND, GREETING},
        {FAKE_EXPECT, "qmp_capabilities"},
        {FAKE_EXPECT, "cont"},
        {FAKE_SEND, "{\"return\": {}, \"id\": $0}"},
        {FAKE_SEND, "{\"return\": {}, \"id\": $1}"},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    int64_t a, b;
    cr_assert_eq(qmp_capabilities(q, &a, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(qmp_cont(q, &b, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(qmp_outstanding(q), 2);
    cr_assert_eq(qmp_wait_greeting(q, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(qmp_wait_reply(q, a, NULL, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(qmp_wait_reply(q, b, NULL, SOON, &err), 0, "%s", err.msg);
    finish(q);
}

Test(qmp, replies_out_of_order_are_matched_by_id)
{
    static const fake_step_t script[] = {
        {FAKE_EXPECT, "query-a"},
        {FAKE_EXPECT, "query-b", "{\"x\": 1}"},
        {FAKE_SEND, "{\"return\": {\"which\": \"b\"}, \"id\": $1}"},
        {FAKE_SEND, "{\"return\": {\"which\": \"a\"}, \"id\": $0}"},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    int64_t a, b;
    cr_assert_eq(qmp_send(q, "query-a", NULL, NULL, 0, &a, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(qmp_send(q, "query-b", json_pack("{s:i}", "x", 1), NULL, 0, &b, SOON, &err), 0);
    cr_assert_neq(a, b);
    json_t *ra = NULL, *rb = NULL;
    /* a's reply arrives second: b's must be kept while waiting for it */
    cr_assert_eq(qmp_wait_reply(q, a, &ra, SOON, &err), 0, "%s", err.msg);
    cr_assert_str_eq(json_string_value(json_object_get(ra, "which")), "a");
    cr_assert_eq(qmp_outstanding(q), 1);
    cr_assert_eq(qmp_wait_reply(q, b, &rb, SOON, &err), 0, "%s", err.msg);
    cr_assert_str_eq(json_string_value(json_object_get(rb, "which")), "b");
    cr_assert_eq(qmp_outstanding(q), 0);
    json_decref(ra);
    json_decref(rb);
    err = (wp_error_t){0};
    cr_assert_eq(qmp_wait_reply(q, a, NULL, SOON, &err), -1, "a reply is taken once");
    cr_assert_eq(err.code, EINVAL);
    finish(q);
}

Test(qmp, event_before_the_reply_is_queued)
{
    static const fake_step_t script[] = {
        {FAKE_EXPECT, "query-status"},
        {FAKE_SEND, "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}"},
        {FAKE_SEND, "{\"return\": {\"status\": \"paused\", \"running\": false}, \"id\": $0}"},
        {FAKE_SEND, "{\"event\": \"RESUME\"}"},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    char status[32];
    cr_assert_eq(qmp_query_status(q, status, sizeof(status), SOON, &err), 0, "%s", err.msg);
    cr_assert_str_eq(status, "paused");
    /* RESUME may have come in the same read as the reply */
    cr_assert_geq(qmp_queued_events(q), 1, "the STOP event that came first is kept");
    cr_assert_eq(qmp_wait_event(q, "RESUME", NULL, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(qmp_wait_event(q, "STOP", NULL, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(qmp_queued_events(q), 0);
    finish(q);
}

static void count_event(void *opaque, const char *event, json_t *data)
{
    (void)data;
    if (strcmp(event, "STOP") == 0)
        (*(int *)opaque)++;
}

Test(qmp, events_go_to_the_handler_when_set)
{
    static const fake_step_t script[] = {
        {FAKE_EXPECT, "stop"},
        {FAKE_SEND, "{\"event\": \"STOP\"}"},
        {FAKE_SEND, "{\"return\": {}, \"id\": $0}"},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    int stops = 0;
    qmp_set_event_handler(q, count_event, &stops);
    wp_error_t err = {0};
    cr_assert_eq(qmp_stop(q, NULL, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(stops, 1);
    cr_assert_eq(qmp_queued_events(q), 0);
    finish(q);
}

Test(qmp, error_reply_carries_qemus_desc)
{
    static const fake_step_t script[] = {
        {FAKE_EXPECT, "migrate", "{\"uri\": \"fd:state\"}"},
        {FAKE_SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"File descriptor named "
                    "'state' has not been found\"}, \"id\": $0}"},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    cr_assert_eq(qmp_migrate(q, "fd:state", NULL, SOON, &err), -1);
    cr_assert_eq(err.code, EIO);
    cr_assert(strstr(err.msg, "File descriptor named 'state' has not been found") != NULL, "%s",
              err.msg);
    cr_assert(strstr(err.msg, "'migrate'") != NULL, "names the command: %s", err.msg);
    finish(q);
}

Test(qmp, peer_closing_mid_command_fails_at_once)
{
    static const fake_step_t script[] = {
        {FAKE_EXPECT, "stop"},
        {FAKE_CLOSE},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    int64_t t0 = wp_now_mono_ns();
    cr_assert_eq(qmp_stop(q, NULL, SOON, &err), -1);
    cr_assert_lt(wp_ms_between(t0, wp_now_mono_ns()), 1000.0, "no wait for the deadline");
    cr_assert_eq(err.code, ECONNRESET);
    cr_assert(strstr(err.msg, "closed") && strstr(err.msg, "'stop'"), "%s", err.msg);
    /* and the connection stays failed, fast */
    cr_assert_eq(qmp_cont(q, NULL, SOON, &err), -1);
    cr_assert_eq(err.code, ECONNRESET);
    finish(q);
}

Test(qmp, quit_answered_by_hanging_up_is_success)
{
    static const fake_step_t script[] = {
        {FAKE_EXPECT, "quit"},
        {FAKE_CLOSE},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    cr_assert_eq(qmp_quit(q, NULL, SOON, &err), 0, "%s", err.msg);
    finish(q);
}

Test(qmp, deadline_gives_etimedout)
{
    static const fake_step_t script[] = {
        {FAKE_EXPECT, "stop"},
        {FAKE_WAIT_EOF},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    int64_t t0 = wp_now_mono_ns();
    cr_assert_eq(qmp_stop(q, NULL, t0 + 100000000, &err), -1);
    double ms = wp_ms_between(t0, wp_now_mono_ns());
    cr_assert_eq(err.code, ETIMEDOUT, "%s", err.msg);
    cr_assert(strstr(err.msg, "'stop'") != NULL, "%s", err.msg);
    cr_assert_geq(ms, 100.0);
    cr_assert_lt(ms, 2000.0);
    cr_assert_eq(qmp_wait_event(q, "STOP", NULL, wp_now_mono_ns(), &err), -1);
    cr_assert_eq(err.code, ETIMEDOUT, "a deadline already passed still fails cleanly");
    finish(q);
}

Test(qmp, getfd_passes_the_fd_with_scm_rights)
{
    static const fake_step_t script[] = {
        {FAKE_EXPECT, "getfd", "{\"fdname\": \"state\"}"},
        {FAKE_EXPECT_FD},
        {FAKE_SEND, "{\"return\": {}, \"id\": $0}"},
        {FAKE_END},
    };
    char path[] = "/tmp/wp-test-qmp-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    memset(&fake, 0, sizeof(fake));
    cr_assert_eq(fstat(fd, &fake.fd_file), 0);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fake_qmp_start(&fake, sv[1], script);
    wp_error_t err = {0};
    qmp_t *q = qmp_from_fd(sv[0], &err);
    cr_assert_eq(qmp_getfd(q, "state", fd, NULL, SOON, &err), 0, "%s", err.msg);
    finish(q);
    close(fd);
}

Test(qmp, second_fd_command_waits_for_the_first)
{
    static const fake_step_t script[] = {
        {FAKE_EXPECT, "getfd", "{\"fdname\": \"a\"}"},
        {FAKE_SEND, "{\"return\": {}, \"id\": $0}"},
        {FAKE_EXPECT, "getfd", "{\"fdname\": \"b\"}"},
        {FAKE_SEND, "{\"return\": {}, \"id\": $1}"},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    int64_t a;
    cr_assert_eq(qmp_getfd(q, "a", STDIN_FILENO, &a, SOON, &err), 0, "%s", err.msg);
    /* QEMU keeps only the latest fds it received: a second set would replace the first */
    cr_assert_eq(qmp_getfd(q, "b", STDIN_FILENO, NULL, SOON, &err), -1);
    cr_assert_eq(err.code, EBUSY, "%s", err.msg);
    cr_assert_eq(qmp_wait_reply(q, a, NULL, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(qmp_getfd(q, "b", STDIN_FILENO, NULL, SOON, &err), 0, "%s", err.msg);
    finish(q);
}

Test(qmp, migration_events_until_completed)
{
    static const fake_step_t script[] = {
        {FAKE_EXPECT, "migrate", "{\"uri\": \"fd:state\"}"},
        {FAKE_SEND, "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"setup\"}}"},
        {FAKE_SEND, "{\"return\": {}, \"id\": $0}"},
        {FAKE_SEND, "{\"event\": \"MIGRATION_PASS\", \"data\": {\"pass\": 1}}"},
        {FAKE_SEND, "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"active\"}}"},
        {FAKE_SEND, "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"completed\"}}"},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    cr_assert_eq(qmp_migrate(q, "fd:state", NULL, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(qmp_wait_migration(q, SOON, &err), 0, "%s", err.msg);
    finish(q);
}

Test(qmp, failed_migration_reports_error_desc)
{
    static const fake_step_t script[] = {
        {FAKE_SEND, "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"failed\"}}"},
        {FAKE_EXPECT, "query-migrate"},
        {FAKE_SEND, "{\"return\": {\"status\": \"failed\", \"error-desc\": \"Unable to write to "
                    "file: No space left on device\"}, \"id\": $0}"},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    cr_assert_eq(qmp_wait_migration(q, SOON, &err), -1);
    cr_assert(strstr(err.msg, "No space left on device") != NULL, "%s", err.msg);
    finish(q);
}

Test(qmp, migrate_set_capabilities_arguments)
{
    static const fake_step_t script[] = {
        {FAKE_EXPECT, "migrate-set-capabilities",
         "{\"capabilities\": [{\"capability\": \"x-ignore-shared\", \"state\": true}, "
         "{\"capability\": \"events\", \"state\": false}]}"},
        {FAKE_SEND, "{\"return\": {}, \"id\": $0}"},
        {FAKE_EXPECT, "migrate-incoming", "{\"uri\": \"fd:state\"}"},
        {FAKE_SEND, "{\"return\": {}, \"id\": $1}"},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    qmp_capability_t caps[] = {{"x-ignore-shared", true}, {"events", false}};
    cr_assert_eq(qmp_migrate_set_capabilities(q, caps, 2, NULL, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(qmp_migrate_incoming(q, "fd:state", NULL, SOON, &err), 0, "%s", err.msg);
    finish(q);
}

Test(qmp, garbage_from_the_peer_is_a_protocol_error)
{
    static const fake_step_t script[] = {
        {FAKE_EXPECT, "stop"},
        {FAKE_SEND, "this is not json"},
        {FAKE_WAIT_EOF},
        {FAKE_END},
    };
    qmp_t *q = start(script);
    wp_error_t err = {0};
    cr_assert_eq(qmp_stop(q, NULL, SOON, &err), -1);
    cr_assert_eq(err.code, EPROTO, "%s", err.msg);
    finish(q);
}

Test(qmp, connect_lands_in_the_backlog_before_accept)
{
    static const fake_step_t script[] = {
        {FAKE_SEND, GREETING},
        {FAKE_EXPECT, "qmp_capabilities"},
        {FAKE_SEND, "{\"return\": {}, \"id\": $0}"},
        {FAKE_END},
    };
    char dir[] = "/tmp/wp-test-qmp-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/qmp.sock", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(path), sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(l, 4), 0);
    wp_error_t err = {0};
    /* nobody accepts yet: connect still succeeds, and a command can be queued */
    qmp_t *q = qmp_connect(path, &err);
    cr_assert_not_null(q, "%s", err.msg);
    int64_t id;
    cr_assert_eq(qmp_capabilities(q, &id, SOON, &err), 0, "%s", err.msg);
    memset(&fake, 0, sizeof(fake));
    fake.accept = true;
    fake_qmp_start(&fake, l, script);
    cr_assert_eq(qmp_wait_greeting(q, SOON, &err), 0, "%s", err.msg);
    cr_assert_eq(qmp_wait_reply(q, id, NULL, SOON, &err), 0, "%s", err.msg);
    finish(q);
    unlink(path);
    rmdir(dir);
}

Test(qmp, connect_to_nothing_fails_at_once)
{
    wp_error_t err = {0};
    cr_assert_null(qmp_connect("/nonexistent/qmp.sock", &err));
    cr_assert_eq(err.code, ENOENT);
    cr_assert(strstr(err.msg, "'/nonexistent/qmp.sock'") != NULL, "%s", err.msg);
}
