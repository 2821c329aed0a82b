/* test_metrics.c - the Prometheus exposition of a pool over the fake
 * source: exact samples after a known sequence, one HELP/TYPE per family
 * ahead of its samples, cumulative histogram buckets, and a real scrape
 * over HTTP (200 and the content type; 404 on another path; bad URLs). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics_server.h"
#include "pool_harness.h"

/* A port nobody listens on right now. */
static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
              getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* GET path on 127.0.0.1:port; the whole response (malloc'd). */
static char *http_get(unsigned port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ssize_t got;
    while (len < cap - 1 && poll(&pfd, 1, 5000) == 1 &&
           (got = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)got;
    close(fd);
    buf[len] = '\0';
    return buf;
}

static size_t count_lines_starting(const char *text, const char *prefix)
{
    size_t n = 0, plen = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += strncmp(p, prefix, plen) == 0;
    return n;
}

/* The value of the sample line that starts with `series ` (0 if absent). */
static unsigned long long sample(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, len) == 0 && p[len] == ' ')
            return strtoull(p + len + 1, NULL, 10);
    cr_assert_fail("no sample '%s' in:\n%s", series, text);
    return 0;
}

Test(metrics, samples_after_a_known_sequence)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 2}, \"u\": {\"target\": 0}}");
    cr_assert(WAIT_UNTIL(h.pool, 30000,
                         harness_status(h.pool, "t").warm == 2 &&
                             harness_status(h.pool, "t").cloning == 0),
              "the pool did not fill");
    pool_lease_t l;
    wp_error_t err = {0};
    cr_assert_eq(pool_acquire(h.pool, "t", NULL, &l, &err), 0, "%s", err.msg);
    pool_acquire_options_t fast = {.fail_fast = true};
    cr_assert_eq(pool_acquire(h.pool, "u", &fast, &l, &err), -1, "u has no warm VM");
    cr_assert(WAIT_UNTIL(h.pool, 30000,
                         harness_status(h.pool, "t").warm == 2 &&
                             harness_status(h.pool, "t").cloning == 0),
              "the pool did not fill");

    char *text = metrics_render(h.pool, &err);
    cr_assert_not_null(text, "%s", err.msg);
    cr_assert_eq(sample(text, "warmpool_vms{template=\"t\",state=\"warm\"}"), 2);
    cr_assert_eq(sample(text, "warmpool_vms{template=\"t\",state=\"leased\"}"), 1);
    cr_assert_eq(sample(text, "warmpool_vms{template=\"u\",state=\"warm\"}"), 0);
    cr_assert_eq(sample(text, "warmpool_pool_target{template=\"t\"}"), 2);
    cr_assert_eq(sample(text, "warmpool_acquire_total{template=\"t\",result=\"hit\"}"), 1);
    cr_assert_eq(sample(text, "warmpool_acquire_total{template=\"u\",result=\"miss\"}"), 1);
    cr_assert_eq(sample(text, "warmpool_acquire_total{template=\"u\",result=\"failure\"}"), 1);
    cr_assert_eq(sample(text, "warmpool_clones_total{template=\"t\"}"), 3);
    cr_assert_eq(sample(text, "warmpool_acquire_latency_seconds_count{template=\"t\"}"), 1);
    cr_assert_eq(sample(text, "warmpool_clone_latency_seconds_count{template=\"t\"}"), 3);

    /* every family: one HELP and one TYPE, before its first sample */
    static const char *families[] = {"warmpool_vms",
                                     "warmpool_pool_target",
                                     "warmpool_acquire_total",
                                     "warmpool_clones_total",
                                     "warmpool_clone_failures_total",
                                     "warmpool_vm_deaths_total",
                                     "warmpool_acquire_latency_seconds",
                                     "warmpool_clone_latency_seconds"};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char help[128], type[128], first[128];
        snprintf(help, sizeof(help), "# HELP %s ", families[i]);
        snprintf(type, sizeof(type), "# TYPE %s ", families[i]);
        snprintf(first, sizeof(first), "\n%s", families[i]);
        cr_assert_eq(count_lines_starting(text, help), 1, "%s", families[i]);
        cr_assert_eq(count_lines_starting(text, type), 1, "%s", families[i]);
        cr_assert_lt(strstr(text, type), strstr(text, first), "%s: TYPE first", families[i]);
    }

    /* buckets are cumulative, and +Inf is the count */
    unsigned long long last = 0;
    size_t buckets = 0;
    const char *prefix = "warmpool_clone_latency_seconds_bucket{template=\"t\",le=\"";
    for (const char *p = strstr(text, prefix); p; p = strstr(p + 1, prefix)) {
        unsigned long long v = strtoull(strchr(p, '}') + 2, NULL, 10);
        cr_assert_geq(v, last, "bucket counts never decrease");
        last = v;
        buckets++;
    }
    cr_assert_eq(buckets, POOL_HIST_BOUNDS + 1);
    cr_assert_eq(sample(text, "warmpool_clone_latency_seconds_bucket{template=\"t\",le=\"+Inf\"}"),
                 3);
    free(text);
    harness_close(&h);
}

Test(metrics, served_over_http_on_its_path_only)
{
    harness_t h;
    harness_open(&h, "{\"t\": {\"target\": 1}}");
    cr_assert(WAIT_UNTIL(h.pool, 30000,
                         harness_status(h.pool, "t").warm == 1 &&
                             harness_status(h.pool, "t").cloning == 0),
              "the pool did not fill");
    unsigned port = free_port();
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
    wp_error_t err = {0};
    metrics_server_t *m = metrics_server_start(h.pool, url, &err);
    cr_assert_not_null(m, "%s", err.msg);

    char *resp = http_get(port, "/metrics");
    cr_assert(strncmp(resp, "HTTP/1.1 200", 12) == 0, "%.80s", resp);
    cr_assert(strstr(resp, "text/plain; version=0.0.4") != NULL, "content type: %.300s", resp);
    cr_assert(strstr(resp, "\nwarmpool_vms{template=\"t\",state=\"warm\"} 1\n") != NULL, "%s",
              resp);
    free(resp);
    resp = http_get(port, "/other");
    cr_assert(strncmp(resp, "HTTP/1.1 404", 12) == 0, "%.80s", resp);
    free(resp);
    metrics_server_stop(m);

    /* the port is free again once stopped */
    m = metrics_server_start(h.pool, url, &err);
    cr_assert_not_null(m, "%s", err.msg);
    metrics_server_stop(m);
    harness_close(&h);
}

Test(metrics, bad_urls_are_refused_with_einval)
{
    harness_t h;
    harness_open(&h, "{}");
    static const char *bad[] = {"ipc:///tmp/x", "https://127.0.0.1:9464/metrics", "not a url",
                                "tcp://127.0.0.1:9464/metrics"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wp_error_t err = {0};
        cr_assert_null(metrics_server_start(h.pool, bad[i], &err), "%s", bad[i]);
        cr_assert_eq(err.code, EINVAL, "%s: %s", bad[i], err.msg);
        cr_assert(strstr(err.msg, bad[i]) != NULL, "the message names the URL: %s", err.msg);
    }
    harness_close(&h);
}
