/* test_daemon_vm.c - warmpoold with real QEMU (TCG) VMs, driven through its
 * API: fill to target, concurrent leases of distinct VMs, release ->
 * destroyed and refilled, live resize, kill -9 of the daemon with leases
 * out, kill -9 of a warm QEMU, bad requests, SIGTERM, metrics. */
#include <criterion/criterion.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_helpers.h"
#include "wp_time.h"

#define WARM_TIMEOUT_MS    180000
#define ACQUIRE_TIMEOUT_MS 120000

static void setup3(void)
{
    daemon_env_setup_target(3);
    daemon_start();
}

TestSuite(daemon_vm, .init = setup3, .fini = daemon_env_teardown, .timeout = 900);

static pool_lease_t acquire(void)
{
    pool_lease_t l;
    wp_error_t err = {0};
    cr_assert_eq(
        api_client_acquire(daemon_env.api, DAEMON_TEMPLATE, false, ACQUIRE_TIMEOUT_MS, &l, &err), 0,
        "%s", err.msg);
    return l;
}

static void release(const pool_lease_t *l)
{
    wp_error_t err = {0};
    cr_assert_eq(api_client_release(daemon_env.api, l->vm.id, l->token, NULL, &err), 0, "%s",
                 err.msg);
}

/* ---- 20 acquires from 10 clients ---- */

#define CLIENTS    10
#define PER_CLIENT 2

typedef struct client_run {
    pool_lease_t leases[PER_CLIENT];
    int failed;
    char msg[256];
} client_run_t;

static void *client_main(void *arg)
{
    client_run_t *run = arg;
    wp_error_t err = {0};
    api_client_t *c = api_client_open(daemon_env.socket_url, &err);
    for (int i = 0; c && i < PER_CLIENT && !run->failed; i++)
        if (api_client_acquire(c, DAEMON_TEMPLATE, false, ACQUIRE_TIMEOUT_MS, &run->leases[i],
                               &err) < 0)
            run->failed = 1;
    if (c == NULL)
        run->failed = 1;
    if (run->failed)
        snprintf(run->msg, sizeof(run->msg), "%s", err.msg);
    api_client_close(c);
    return NULL;
}

Test(daemon_vm, fills_to_target_then_leases_20_distinct_vms_to_10_clients_and_refills)
{
    pool_template_status_t st = daemon_wait_warm(3, WARM_TIMEOUT_MS);
    cr_assert_eq(st.target, 3);
    pid_t pids[DAEMON_MAX_QEMU];
    cr_assert_eq(daemon_qemu_pids(pids, DAEMON_MAX_QEMU), 3, "3 warm QEMUs, no more");

    char *metrics = daemon_scrape_metrics();
    cr_assert_not_null(metrics, "metrics endpoint answers");
    cr_assert(strstr(metrics, "200 OK") != NULL, "%.200s", metrics);
    cr_assert(strstr(metrics, "warmpool_vms{template=\"small\",state=\"warm\"} 3") != NULL,
              "metrics show 3 warm VMs:\n%.2000s", metrics);
    free(metrics);

    client_run_t runs[CLIENTS] = {0};
    pthread_t threads[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        pthread_create(&threads[i], NULL, client_main, &runs[i]);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(threads[i], NULL);

    pool_lease_t all[CLIENTS * PER_CLIENT];
    size_t n = 0;
    for (int i = 0; i < CLIENTS; i++) {
        cr_expect_not(runs[i].failed, "client %d: %s", i, runs[i].msg);
        for (int j = 0; j < PER_CLIENT; j++)
            if (runs[i].leases[j].vm.id[0])
                all[n++] = runs[i].leases[j];
    }
    cr_assert_eq(n, CLIENTS * PER_CLIENT);
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        hits += all[i].hit;
        for (size_t j = i + 1; j < n; j++) {
            cr_assert_str_neq(all[i].vm.id, all[j].vm.id, "a VM leased twice");
            cr_assert_neq(all[i].vm.pid, all[j].vm.pid);
            cr_assert_str_neq(all[i].vm.agent_endpoint, all[j].vm.agent_endpoint);
        }
    }
    cr_assert_geq(hits, 3, "the 3 warm VMs were handed out");
    for (size_t i = 0; i < n; i++) {
        cr_assert(daemon_pid_alive(all[i].vm.pid));
        cr_assert(access(all[i].vm.shared_dir, F_OK) == 0, "shared dir '%s'", all[i].vm.shared_dir);
    }
    /* every agent answers its holder directly (a sample: TCG is slow) */
    for (size_t i = 0; i < n; i += 4)
        cr_assert(daemon_agent_answers(all[i].vm.agent_endpoint), "VM %s", all[i].vm.id);

    for (size_t i = 0; i < n; i++)
        release(&all[i]);
    for (size_t i = 0; i < n; i++) {
        cr_assert_not(daemon_pid_alive(all[i].vm.pid), "released VM %s still runs", all[i].vm.id);
        cr_assert(access(all[i].vm.runtime_dir, F_OK) < 0, "released VM %s left '%s'", all[i].vm.id,
                  all[i].vm.runtime_dir);
    }
    st = daemon_wait_warm(3, WARM_TIMEOUT_MS);
    cr_assert_eq(st.leased, 0);
    cr_assert_geq(st.acquire_hits, 3);
    cr_assert_eq(st.acquire_hits + st.acquire_misses, 20);
    cr_assert_eq(daemon_wait_qemu_count(3, 10000), 3, "refilled to 3, no leftovers");
}

Test(daemon_vm, resizes_live_up_and_down)
{
    daemon_wait_warm(3, WARM_TIMEOUT_MS);
    pool_size_t size = {.sizing = POOL_SIZING_FIXED, .target = 5, .min = 0, .max = 8};
    wp_error_t err = {0};
    cr_assert_eq(api_client_set_size(daemon_env.api, DAEMON_TEMPLATE, &size, NULL, &err), 0, "%s",
                 err.msg);
    daemon_wait_warm(5, WARM_TIMEOUT_MS);
    size.target = 1;
    cr_assert_eq(api_client_set_size(daemon_env.api, DAEMON_TEMPLATE, &size, NULL, &err), 0, "%s",
                 err.msg);
    pool_template_status_t st = daemon_wait_warm(1, WARM_TIMEOUT_MS);
    cr_assert_eq(st.target, 1);
    cr_assert_eq(daemon_wait_qemu_count(1, 10000), 1, "surplus warm VMs destroyed");
    size.target = 9; /* beyond max */
    cr_assert_eq(api_client_set_size(daemon_env.api, DAEMON_TEMPLATE, &size, NULL, &err), -1);
    cr_assert_eq(err.code, EINVAL, "%s", err.msg);
}

Test(daemon_vm, a_killed_warm_qemu_is_replaced)
{
    daemon_wait_warm(3, WARM_TIMEOUT_MS);
    pid_t pids[DAEMON_MAX_QEMU];
    cr_assert_eq(daemon_qemu_pids(pids, DAEMON_MAX_QEMU), 3);
    kill(pids[0], SIGKILL);
    /* the exit is an event (pidfd): the next state change shows it */
    pool_template_status_t st = daemon_status();
    uint64_t gen = 0;
    int64_t deadline = wp_now_mono_ns() + 60000000000LL;
    while (st.deaths == 0 && wp_now_mono_ns() < deadline) {
        pool_template_status_t *list = NULL;
        size_t n = 0;
        bool changed = false;
        wp_error_t err = {0};
        cr_assert_eq(api_client_watch(daemon_env.api, &gen, 10000, &changed, &list, &n, &err), 0,
                     "%s", err.msg);
        free(list);
        st = daemon_status();
    }
    cr_assert_eq(st.deaths, 1, "the daemon noticed the exit");
    daemon_wait_warm(3, WARM_TIMEOUT_MS);
    pid_t now[DAEMON_MAX_QEMU];
    size_t n = daemon_qemu_pids(now, DAEMON_MAX_QEMU);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++)
        cr_assert_neq(now[i], pids[0]);
}

static bool lease_listed(const pool_lease_t *l)
{
    pool_lease_summary_t *list = NULL;
    size_t n = 0;
    wp_error_t err = {0};
    cr_assert_eq(api_client_leases(daemon_env.api, &list, &n, &err), 0, "%s", err.msg);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].vm.id, l->vm.id) == 0) {
            cr_assert_str_eq(list[i].vm.agent_endpoint, l->vm.agent_endpoint);
            cr_assert_eq(list[i].vm.pid, l->vm.pid);
            cr_assert_eq(list[i].state, POOL_LEASE_ACTIVE);
            found = true;
        }
    free(list);
    return found;
}

Test(daemon_vm, leases_survive_kill_9_of_the_daemon_and_no_qemu_is_orphaned)
{
    daemon_wait_warm(3, WARM_TIMEOUT_MS);
    pool_lease_t a = acquire(), b = acquire();
    daemon_kill9();
    cr_assert(daemon_pid_alive(a.vm.pid) && daemon_pid_alive(b.vm.pid),
              "leased VMs outlive the daemon");
    daemon_start();
    cr_assert(lease_listed(&a) && lease_listed(&b), "both leases re-adopted");
    cr_assert(daemon_agent_answers(a.vm.agent_endpoint));
    cr_assert(daemon_agent_answers(b.vm.agent_endpoint));
    pool_template_status_t st = daemon_wait_warm(3, WARM_TIMEOUT_MS);
    cr_assert_eq(st.leased, 2);
    cr_assert_eq(daemon_wait_qemu_count(5, 10000), 5, "3 warm + 2 leased, no orphan");
    pool_lease_state_t state;
    wp_error_t err = {0};
    cr_assert_eq(api_client_lease_check(daemon_env.api, a.vm.id, a.token, &state, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(state, POOL_LEASE_ACTIVE);
    release(&a);
    release(&b);
    cr_assert_not(daemon_pid_alive(a.vm.pid));
    cr_assert_not(daemon_pid_alive(b.vm.pid));
}

/* Raw bytes on a req socket: the reply's error code. */
static int raw_error(const void *buf, size_t len)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
    cr_assert_eq(nng_dial(s, daemon_env.socket_url, NULL, 0), 0);
    cr_assert_eq(nng_send(s, (void *)buf, len, 0), 0);
    nng_msg *msg = NULL;
    cr_assert_eq(nng_recvmsg(s, &msg, 0), 0, "the daemon replies");
    pb_response_t *r = api_response_unpack(nng_msg_body(msg), nng_msg_len(msg), NULL);
    cr_assert_not_null(r);
    int code = r->error_code;
    warmpool__pool__v1__response__free_unpacked(r, NULL);
    nng_msg_free(msg);
    nng_close(s);
    return code;
}

Test(daemon_vm, bad_requests_get_error_replies_and_the_daemon_keeps_serving)
{
    daemon_wait_warm(3, WARM_TIMEOUT_MS);
    static const unsigned char garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x42, 0x00, 0x13};
    cr_assert_eq(raw_error(garbage, sizeof(garbage)), EBADMSG);
    unsigned char *big = calloc(1, API_MAX_MESSAGE + 1);
    cr_assert_eq(raw_error(big, API_MAX_MESSAGE + 1), EMSGSIZE);
    free(big);

    pool_lease_t l;
    wp_error_t err = {0};
    cr_assert_eq(api_client_acquire(daemon_env.api, "nosuch", true, 0, &l, &err), -1);
    cr_assert_eq(err.code, ENOENT, "%s", err.msg);

    l = acquire();
    char wrong[sizeof(l.token)];
    snprintf(wrong, sizeof(wrong), "%s", l.token);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    cr_assert_eq(api_client_release(daemon_env.api, l.vm.id, wrong, NULL, &err), -1);
    cr_assert_eq(err.code, EPERM, "%s", err.msg);
    cr_assert(daemon_pid_alive(l.vm.pid), "a wrong token changes nothing");
    release(&l);
    cr_assert_eq(api_client_release(daemon_env.api, l.vm.id, l.token, NULL, &err), -1);
    cr_assert_eq(err.code, ENOENT, "double release: %s", err.msg);

    /* still serving */
    api_health_t h;
    cr_assert_eq(api_client_health(daemon_env.api, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(h.pid, daemon_env.pid);
    pool_lease_t again = acquire();
    cr_assert(daemon_agent_answers(again.vm.agent_endpoint));
    release(&again);
}

Test(daemon_vm, sigterm_destroys_warm_vms_and_keeps_leased_ones)
{
    daemon_wait_warm(3, WARM_TIMEOUT_MS);
    pool_lease_t l = acquire();
    daemon_wait_warm(3, WARM_TIMEOUT_MS);
    daemon_term();
    pid_t pids[DAEMON_MAX_QEMU];
    size_t n = daemon_qemu_pids(pids, DAEMON_MAX_QEMU);
    cr_assert_eq(n, 1, "only the leased VM runs after a clean shutdown");
    cr_assert_eq(pids[0], l.vm.pid);
    cr_assert(daemon_agent_answers(l.vm.agent_endpoint));
    daemon_start();
    cr_assert(lease_listed(&l));
    release(&l);
    cr_assert_not(daemon_pid_alive(l.vm.pid));
}

/* Run warmpoolctl against this daemon; its stdout (malloc'd) and status. */
static char *ctl_run(const char *args, int *status)
{
    const char *ctl = getenv("WP_WARMPOOLCTL");
    cr_assert_not_null(ctl, "WP_WARMPOOLCTL is set by CTest");
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "%s --socket %s %s 2>&1", ctl, daemon_env.socket_url, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    size_t n;
    while (len < cap - 1 && (n = fread(out + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    out[len] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

Test(daemon_vm, template_commands_run_through_the_daemon)
{
    int st;
    char *out = ctl_run("--daemon template ls", &st);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert(strstr(out, "\n" DAEMON_TEMPLATE " ") != NULL, "lists the store's template:\n%s",
              out);
    free(out);
    out = ctl_run("--daemon template inspect " DAEMON_TEMPLATE, &st);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert(strstr(out, "\"vmgenid\"") != NULL, "%s", out);
    free(out);
    out = ctl_run("--daemon template rm nosuch", &st);
    cr_assert_eq(st, 1, "%s", out);
    cr_assert(strstr(out, "nosuch") != NULL, "the error names the template: %s", out);
    free(out);

    /* a build in the daemon, from this host's guest image, then its removal */
    const char *guest = getenv("WP_GUEST_DIR");
    cr_assert_not_null(guest);
    char args[2048];
    snprintf(args, sizeof(args),
             "--daemon template build viad --kernel %s/vmlinuz --initrd %s/initrd.img --force",
             guest, guest);
    out = ctl_run(args, &st);
    cr_assert_eq(st, 0, "%s", out);
    free(out);
    out = ctl_run("--daemon template rm viad", &st);
    cr_assert_eq(st, 0, "%s", out);
    free(out);
}
