/* ctl_pool_wait.c - `warmpoolctl pool wait TEMPLATE N [--timeout SEC]`:
 * block until TEMPLATE's pool has N warm VMs and none cloning, by the
 * daemon's watch call (a long poll: no sleeping, no polling). For scripts
 * that must not race the refill. */
#include <errno.h>  /* ETIMEDOUT */
#include <getopt.h> /* getopt_long */
#include <stdio.h>  /* printf */
#include <stdlib.h> /* strtod, free */
#include <string.h> /* strcmp */

#include "ctl.h"
#include "wp_time.h"

static bool reached(const pool_template_status_t *list, size_t n, const char *name, unsigned want,
                    pool_template_status_t *out)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0) {
            *out = list[i];
            return list[i].warm >= want && list[i].cloning == 0;
        }
    return false;
}

int ctl_pool_wait(ctl_t *ctl, int argc, char **argv)
{
    static const char shape[] = "expected 'pool wait TEMPLATE N [--timeout SEC]'";
    static const struct option options[] = {
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    double timeout_s = 60;
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (c == 'j') {
            ctl->json = true;
        } else if (c == 't') {
            char *end = NULL;
            timeout_s = strtod(optarg, &end);
            if (end == optarg || *end || timeout_s <= 0 || timeout_s > 86400)
                return ctl_usage("pool wait", "--timeout wants seconds, not '%s'", optarg);
        } else {
            return ctl_usage("pool wait", "%s", shape);
        }
    }
    if (optind != argc - 2)
        return ctl_usage("pool wait", "%s", shape);
    const char *name = argv[optind];
    char *end = NULL;
    unsigned long want = strtoul(argv[optind + 1], &end, 10);
    if (end == argv[optind + 1] || *end || want > POOL_TARGET_MAX)
        return ctl_usage("pool wait", "N wants 0..%d, not '%s'", POOL_TARGET_MAX, argv[optind + 1]);
    if (ctl_api(ctl) == NULL)
        return 1;
    int64_t deadline = wp_now_mono_ns() + (int64_t)(timeout_s * 1e9);
    uint64_t gen = 0;
    pool_template_status_t st = {0};
    wp_error_t err = {0};
    for (;;) {
        int left = (int)wp_ms_between(wp_now_mono_ns(), deadline);
        if (left <= 0) {
            wp_error_set(&err, ETIMEDOUT,
                         "pool '%s' has %u warm and %u cloning VMs, not %lu warm, after %.0f s",
                         name, st.warm, st.cloning, want, timeout_s);
            return ctl_fail(&err);
        }
        pool_template_status_t *list = NULL;
        size_t n = 0;
        bool changed = false;
        if (api_client_watch(ctl->api, &gen, left, &changed, &list, &n, &err) < 0)
            return ctl_fail(&err);
        bool done = reached(list, n, name, (unsigned)want, &st);
        free(list);
        if (done)
            break;
    }
    if (ctl->json)
        printf("{\"template\": \"%s\", \"warm\": %u}\n", name, st.warm);
    else
        printf("pool '%s': %u warm\n", name, st.warm);
    return 0;
}
