/* test_api_client_alone.c - the client library on its own, as the shim and
 * warmpoolctl link it: no pool core, no server (this executable links
 * wp_api_client only). With no daemon listening, open fails at once with a
 * sentence naming the socket. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "api_client.h"

Test(api_client_alone, no_daemon_is_reported_at_open)
{
    wp_error_t err = {0};
    api_client_t *c = api_client_open("ipc:///nonexistent/warmpool-test/warmpoold.sock", &err);
    cr_assert_null(c);
    cr_assert(err.code == ENOENT || err.code == ECONNREFUSED, "code %d: %s", err.code, err.msg);
    cr_assert(strstr(err.msg, "/nonexistent/warmpool-test/warmpoold.sock") != NULL,
              "names the socket: %s", err.msg);
}

Test(api_client_alone, a_lease_survives_the_codec)
{
    pool_lease_t in = {.hit = true, .vm = {.pid = 7}};
    strcpy(in.vm.id, "wp-small-0001");
    pb_lease_t pb;
    api_lease_to_pb(&in, &pb);
    pool_lease_t out = {0};
    wp_error_t err = {0};
    cr_assert_eq(api_lease_from_pb(&pb, &out, &err), 0, "%s", err.msg);
    cr_assert_str_eq(out.vm.id, "wp-small-0001");
    cr_assert_eq(out.vm.pid, 7);
}
