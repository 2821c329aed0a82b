/* test_api.c - api_server and api_client over a pool on the fake source:
 * every call's happy path and the errors a client can cause, the socket's
 * mode, bad bytes, oversized messages, concurrency, and leases the server
 * must take back when their reply cannot be delivered. */
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_harness.h"

#define T4 "{\"t\": {\"target\": 4, \"max\": 64}}"

Test(api, acquire_returns_a_complete_lease)
{
    api_harness_t a;
    api_harness_open(&a, T4, NULL);
    cr_assert(WAIT_UNTIL(a.h.pool, 5000, STATUS(&a.h, "t").warm == 4));
    api_client_t *c = api_harness_client(&a);
    wp_error_t err = {0};
    pool_lease_t l;
    cr_assert_eq(api_client_acquire(c, "t", true, 0, &l, &err), 0, "%s", err.msg);
    cr_assert_str_eq(l.template_name, "t");
    cr_assert(fake_source_exists(a.h.fs, l.vm.id), "the lease names a real VM: '%s'", l.vm.id);
    cr_assert_eq(strlen(l.token), POOL_TOKEN_HEX_LEN);
    cr_assert_neq(l.vm.agent_endpoint[0], '\0');
    cr_assert_neq(l.vm.shared_dir[0], '\0');
    cr_assert_gt(l.vm.pid, 0);
    cr_assert(l.hit, "served from the warm queue");
    cr_assert_geq(l.wait_ms, 0.0);
    pool_lease_state_t st;
    cr_assert_eq(api_client_lease_check(c, l.vm.id, l.token, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(st, POOL_LEASE_ACTIVE);
    pool_lease_summary_t *list;
    size_t n;
    cr_assert_eq(api_client_leases(c, &list, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(list[0].vm.id, l.vm.id);
    cr_assert_str_eq(list[0].vm.agent_endpoint, l.vm.agent_endpoint);
    free(list);
    bool died = true;
    cr_assert_eq(api_client_release(c, l.vm.id, l.token, &died, &err), 0, "%s", err.msg);
    cr_assert_not(died);
    cr_assert_not(fake_source_exists(a.h.fs, l.vm.id), "release destroys the VM");
    api_client_close(c);
    api_harness_close(&a);
}

Test(api, lease_errors_keep_the_pools_errno)
{
    api_harness_t a;
    api_harness_open(&a, T4, NULL);
    api_client_t *c = api_harness_client(&a);
    wp_error_t err = {0};
    pool_lease_t l;
    cr_assert_eq(api_client_acquire(c, "t", false, 0, &l, &err), 0, "%s", err.msg);
    char wrong[POOL_TOKEN_HEX_LEN + 1];
    snprintf(wrong, sizeof(wrong), "%s", l.token);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    cr_assert_eq(api_client_release(c, l.vm.id, wrong, NULL, &err), -1);
    cr_assert_eq(err.code, EPERM, "wrong token: %d %s", err.code, err.msg);
    cr_assert(fake_source_exists(a.h.fs, l.vm.id), "a wrong token destroys nothing");
    cr_assert_eq(api_client_release(c, l.vm.id, l.token, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(api_client_release(c, l.vm.id, l.token, NULL, &err), -1);
    cr_assert_eq(err.code, ENOENT, "double release: %d %s", err.code, err.msg);
    cr_assert_eq(api_client_acquire(c, "nope", false, 0, &l, &err), -1);
    cr_assert_eq(err.code, ENOENT, "unknown template: %d %s", err.code, err.msg);
    cr_assert(strstr(err.msg, "'nope'") != NULL, "the message names it: %s", err.msg);
    api_client_close(c);
    api_harness_close(&a);
}

Test(api, fail_fast_miss_is_eagain_and_late_lease_is_taken_back)
{
    api_harness_t a;
    api_harness_open(&a, "{\"t\": {\"target\": 0}}", NULL);
    fake_source_set_clone_delay_ms(a.h.fs, 400);
    fake_source_honour_deadline(a.h.fs, false);
    api_client_t *c = api_harness_client(&a);
    wp_error_t err = {0};
    pool_lease_t l;
    cr_assert_eq(api_client_acquire(c, "t", true, 0, &l, &err), -1);
    cr_assert_eq(err.code, EAGAIN, "%d %s", err.code, err.msg);
    cr_assert_eq(api_client_acquire(c, "t", false, 100, &l, &err), -1);
    cr_assert_eq(err.code, ETIMEDOUT, "%d %s", err.code, err.msg);
    cr_assert_eq(STATUS(&a.h, "t").leased, 0, "no lease exists that nobody received");
    api_client_close(c);
    api_harness_close(&a);
}

Test(api, status_set_size_watch_and_health)
{
    api_harness_t a;
    api_harness_open(&a, T4, NULL);
    api_client_t *c = api_harness_client(&a);
    wp_error_t err = {0};
    pool_size_t size = {.sizing = POOL_SIZING_FIXED, .target = 2, .min = 0, .max = 8};
    pool_template_status_t after;
    cr_assert_eq(api_client_set_size(c, "u", &size, &after, &err), 0, "%s", err.msg);
    cr_assert_str_eq(after.name, "u");
    cr_assert_eq(after.target, 2);
    cr_assert_eq(after.max, 8);
    size = (pool_size_t){.sizing = POOL_SIZING_AUTO, .target = 1, .min = 3, .max = 8};
    cr_assert_eq(api_client_set_size(c, "u", &size, NULL, &err), -1);
    cr_assert_eq(err.code, EINVAL, "min above target: %d %s", err.code, err.msg);
    /* quiescent: both templates at their targets with no clone in flight, so
     * that the long poll below has nothing left to see (t's refill to 4 may
     * still run on a busy machine when u is full) */
    cr_assert(WAIT_UNTIL(a.h.pool, 5000,
                         STATUS(&a.h, "u").warm == 2 && STATUS(&a.h, "u").cloning == 0 &&
                             STATUS(&a.h, "t").warm == 4 && STATUS(&a.h, "t").cloning == 0));
    pool_template_status_t *list;
    size_t n;
    cr_assert_eq(api_client_status(c, &list, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(list[0].name, "t");
    cr_assert_str_eq(list[1].name, "u");
    cr_assert_eq(list[1].warm, 2);
    free(list);
    uint64_t gen = 0;
    bool changed = false;
    cr_assert_eq(api_client_watch(c, &gen, 1000, &changed, NULL, NULL, &err), 0, "%s", err.msg);
    cr_assert(changed && gen > 0, "generation 0 answers at once with the current one");
    uint64_t before = gen;
    int64_t t0 = wp_now_mono_ns();
    cr_assert_eq(api_client_watch(c, &gen, 200, &changed, &list, &n, &err), 0, "%s", err.msg);
    cr_assert_not(changed, "nothing moved");
    cr_assert_eq(gen, before);
    cr_assert_geq(wp_ms_between(t0, wp_now_mono_ns()), 150.0, "a long poll waits its timeout");
    cr_assert_eq(n, 2, "the status comes with it");
    free(list);
    api_health_t h;
    cr_assert_eq(api_client_health(c, &h, &err), 0, "%s", err.msg);
    cr_assert_str_eq(h.version, WP_VERSION);
    cr_assert_eq(h.templates, 2);
    cr_assert_eq(h.leases, 0);
    cr_assert_eq(h.pid, getpid());
    cr_assert_eq(h.protocol_version, API_PROTOCOL_VERSION);
    api_template_info_t *tpls;
    cr_assert_eq(api_client_template_list(c, &tpls, &n, &err), -1);
    cr_assert_eq(err.code, ENOTSUP, "no factory: %d %s", err.code, err.msg);
    api_client_close(c);
    api_harness_close(&a);
}

static void *watch_thread(void *p)
{
    api_client_t *c = p;
    uint64_t gen = 0;
    bool changed;
    wp_error_t err = {0};
    if (api_client_watch(c, &gen, 0, &changed, NULL, NULL, &err) < 0)
        return (void *)1;
    api_client_watch(c, &gen, 10000, &changed, NULL, NULL, &err);
    return NULL;
}

Test(api, a_slow_call_holds_up_no_one_and_stop_ends_long_polls)
{
    api_harness_t a;
    api_harness_open(&a, "{\"t\": {\"target\": 0}}", NULL);
    api_client_t *c = api_harness_client(&a);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, watch_thread, c); /* three contexts busy */
    usleep(100 * 1000);
    wp_error_t err = {0};
    api_health_t h;
    int64_t t0 = wp_now_mono_ns();
    cr_assert_eq(api_client_health(c, &h, &err), 0, "%s", err.msg);
    /* a call queued behind the 10 s long polls would take that long; loaded
     * machines take a while for any call, hence the margin */
    cr_assert_lt(wp_ms_between(t0, wp_now_mono_ns()), 5000.0, "served beside the long polls");
    t0 = wp_now_mono_ns();
    api_server_stop(a.srv);
    a.srv = NULL;
    cr_assert_lt(wp_ms_between(t0, wp_now_mono_ns()), 2000.0, "stop does not wait out a watch");
    struct stat st;
    cr_assert_eq(stat(a.path, &st), -1, "the socket file is gone after stop");
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    api_client_close(c);
    api_harness_close(&a);
}

Test(api, socket_is_0600_by_default_and_mode_is_configurable)
{
    api_harness_t a;
    api_harness_open(&a, T4, NULL);
    struct stat st;
    cr_assert_eq(stat(a.path, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
    api_server_stop(a.srv);
    api_server_config_t cfg = {.socket_mode = 0660};
    api_harness_serve(&a, &cfg);
    cr_assert_eq(stat(a.path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0660, "mode %o", st.st_mode & 07777);
    api_harness_close(&a);
}

Test(api, peer_check_allows_root_and_the_configured_uid_only)
{
    cr_assert(api_server_peer_allowed(0, 0));
    cr_assert(api_server_peer_allowed(0, 1000), "root is always allowed");
    cr_assert(api_server_peer_allowed(1000, 1000));
    cr_assert_not(api_server_peer_allowed(1001, 1000));
    cr_assert_not(api_server_peer_allowed(1000, 0), "root-only by default");
    cr_assert_not(api_server_peer_allowed(65534, 0));
}

typedef struct churn {
    api_client_t *c;
    char ids[8][POOL_VM_ID_MAX];
    int failures;
    wp_error_t err;
} churn_t;

static void *acquire_release(void *p)
{
    churn_t *ch = p;
    for (int i = 0; i < 8; i++) {
        pool_lease_t l;
        if (api_client_acquire(ch->c, "t", false, 10000, &l, &ch->err) < 0 ||
            api_client_release(ch->c, l.vm.id, l.token, NULL, &ch->err) < 0) {
            ch->failures++;
            continue;
        }
        snprintf(ch->ids[i], sizeof(ch->ids[i]), "%s", l.vm.id);
    }
    return NULL;
}

/* Half the clients share one client (one connection per call in flight),
 * half have their own: both must work at once, with the acquires answered
 * on nng's callback thread (journal in memory) or on the workers (disk). */
static void sixteen_clients(const char *base)
{
    api_harness_t a;
    api_harness_open_at(
        &a, base, "{\"t\": {\"target\": 16, \"max\": 64, \"warm_state\": \"running\"}}", NULL);
    cr_assert(WAIT_UNTIL(a.h.pool, 5000, STATUS(&a.h, "t").warm == 16));
    api_client_t *shared = api_harness_client(&a);
    churn_t ch[16];
    pthread_t th[16];
    for (int i = 0; i < 16; i++) {
        memset(&ch[i], 0, sizeof(ch[i]));
        ch[i].c = i < 8 ? shared : api_harness_client(&a);
        pthread_create(&th[i], NULL, acquire_release, &ch[i]);
    }
    for (int i = 0; i < 16; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(ch[i].failures, 0, "client %d: %s", i, ch[i].err.msg);
        for (int k = 0; k < 8; k++)
            for (int j = i; j < 16; j++)
                for (int m = (j == i ? k + 1 : 0); m < 8; m++)
                    cr_assert_str_neq(ch[i].ids[k], ch[j].ids[m], "VM leased twice");
        if (i >= 8)
            api_client_close(ch[i].c);
    }
    pool_template_status_t s = STATUS(&a.h, "t");
    cr_assert_eq(s.leased, 0);
    cr_assert_eq(s.releases, 128);
    api_client_close(shared);
    api_harness_close(&a);
}

Test(api, sixteen_concurrent_clients_get_distinct_vms)
{
    sixteen_clients(HARNESS_MEM);
}

Test(api, sixteen_concurrent_clients_with_the_journal_on_disk)
{
    sixteen_clients(HARNESS_DISK);
}

/* A client outlives its daemon: its idle connection is dead, and the next
 * call connects to the new daemon on the same socket. */
Test(api, a_client_reconnects_after_the_daemon_restarts)
{
    api_harness_t a;
    api_harness_open(&a, "{\"t\": {\"target\": 1}}", NULL);
    api_client_t *c = api_harness_client(&a);
    wp_error_t err = {0};
    api_health_t h1, h2;
    cr_assert_eq(api_client_health(c, &h1, &err), 0, "%s", err.msg);
    api_server_stop(a.srv);
    cr_assert_eq(api_client_health(c, &h2, &err), -1, "no daemon");
    cr_assert(err.code == ENOENT || err.code == ECONNREFUSED, "%d %s", err.code, err.msg);
    api_harness_serve(&a, NULL);
    cr_assert_eq(api_client_health(c, &h2, &err), 0, "%s", err.msg);
    api_client_close(c);
    api_harness_close(&a);
}
