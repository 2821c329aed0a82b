/* ctl_daemon.c - warmpoolctl commands served by warmpoold over its API
 * (api_client.h): status, leases, health, pool set, acquire, release.
 * Every one takes --json (as well as the global --json). */
#include <getopt.h>  /* getopt_long */
#include <jansson.h> /* json_* */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* strtoul, strtod, free */
#include <string.h>  /* strcmp */
#include <time.h>    /* gmtime_r, strftime */

#include "ctl.h"
#include "wp_cleanup.h"

/* Parse the options every daemon command shares (--json) and return the
 * index of the first operand, or -1 after a usage error. */
static int common_opts(ctl_t *ctl, const char *cmd, int argc, char **argv)
{
    static const struct option options[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (c != 'j') {
            ctl_usage(cmd, "bad option");
            return -1;
        }
        ctl->json = true;
    }
    return optind;
}

static void print_json(json_t *j)
{
    _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2));
    printf("%s\n", text ? text : "null");
}

static json_t *status_json(const pool_template_status_t *s)
{
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(s->name));
    json_object_set_new(j, "sizing", json_string(pool_sizing_mode_name(s->sizing)));
    json_object_set_new(j, "warm_state", json_string(pool_warm_state_name(s->warm_state)));
    const struct {
        const char *key;
        uint64_t v;
    } ints[] = {
        {"target", s->target},
        {"min", s->min},
        {"max", s->max},
        {"warm", s->warm},
        {"cloning", s->cloning},
        {"leased", s->leased},
        {"dead", s->dead},
        {"acquire_hits", s->acquire_hits},
        {"acquire_misses", s->acquire_misses},
        {"acquire_failures", s->acquire_failures},
        {"clones", s->clones},
        {"clone_failures", s->clone_failures},
        {"releases", s->releases},
        {"deaths", s->deaths},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        json_object_set_new(j, ints[i].key, json_integer((json_int_t)ints[i].v));
    json_object_set_new(j, "acquire_p50_ms", json_real(s->acquire_p50_ms));
    json_object_set_new(j, "acquire_p99_ms", json_real(s->acquire_p99_ms));
    json_object_set_new(j, "clone_p50_ms", json_real(s->clone_p50_ms));
    json_object_set_new(j, "clone_p99_ms", json_real(s->clone_p99_ms));
    json_object_set_new(j, "demand_per_s", json_real(s->demand_per_s));
    return j;
}

static const char *lease_state_name(pool_lease_state_t s)
{
    return s == POOL_LEASE_DEAD ? "dead" : "active";
}

static void format_time(int64_t real_ns, char out[32])
{
    time_t t = (time_t)(real_ns / 1000000000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "?");
}

static json_t *lease_summary_json(const pool_lease_summary_t *l)
{
    char when[32];
    format_time(l->leased_at_ns, when);
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s}", "vm_id", l->vm.id, "template",
                     l->template_name, "state", lease_state_name(l->state), "pid", (int)l->vm.pid,
                     "agent_endpoint", l->vm.agent_endpoint, "runtime_dir", l->vm.runtime_dir,
                     "shared_dir", l->vm.shared_dir, "leased_at", when);
}

static void print_leases(const pool_lease_summary_t *list, size_t n)
{
    if (n == 0) {
        printf("no leases\n");
        return;
    }
    printf("%-40s %-16s %-6s %8s %-20s %s\n", "VM_ID", "TEMPLATE", "STATE", "PID", "LEASED_AT",
           "AGENT");
    for (size_t i = 0; i < n; i++) {
        char when[32];
        format_time(list[i].leased_at_ns, when);
        printf("%-40s %-16s %-6s %8d %-20s %s\n", list[i].vm.id, list[i].template_name,
               lease_state_name(list[i].state), (int)list[i].vm.pid, when,
               list[i].vm.agent_endpoint);
    }
}

static void print_status(const pool_template_status_t *list, size_t n)
{
    if (n == 0) {
        printf("no pools (size one with 'warmpoolctl pool set TEMPLATE N')\n");
        return;
    }
    printf("%-16s %6s %5s %7s %6s %8s %8s %10s %10s  %s\n", "TEMPLATE", "TARGET", "WARM", "CLONING",
           "LEASED", "HITS", "MISSES", "ACQ_P50_MS", "ACQ_P99_MS", "SIZING");
    for (size_t i = 0; i < n; i++) {
        const pool_template_status_t *s = &list[i];
        printf("%-16s %6u %5u %7u %6u %8llu %8llu %10.2f %10.2f  %s", s->name, s->target, s->warm,
               s->cloning, s->leased, (unsigned long long)s->acquire_hits,
               (unsigned long long)s->acquire_misses, s->acquire_p50_ms, s->acquire_p99_ms,
               pool_sizing_mode_name(s->sizing));
        if (s->sizing == POOL_SIZING_AUTO)
            printf(" %u..%u", s->min, s->max);
        printf("\n");
    }
}

int ctl_status(ctl_t *ctl, int argc, char **argv)
{
    int first = common_opts(ctl, "status", argc, argv);
    if (first < 0)
        return 2;
    if (first != argc)
        return ctl_usage("status", "takes no arguments");
    api_client_t *api = ctl_api(ctl);
    if (api == NULL)
        return 1;
    wp_error_t err = {0};
    _cleanup_free_ pool_template_status_t *tpls = NULL;
    _cleanup_free_ pool_lease_summary_t *leases = NULL;
    size_t n_tpls = 0, n_leases = 0;
    if (api_client_status(api, &tpls, &n_tpls, &err) < 0 ||
        api_client_leases(api, &leases, &n_leases, &err) < 0)
        return ctl_fail(&err);
    if (ctl->json) {
        json_auto_t *t = json_array(), *l = json_array();
        for (size_t i = 0; i < n_tpls; i++)
            json_array_append_new(t, status_json(&tpls[i]));
        for (size_t i = 0; i < n_leases; i++)
            json_array_append_new(l, lease_summary_json(&leases[i]));
        json_auto_t *all = json_pack("{s:O, s:O}", "templates", t, "leases", l);
        print_json(all);
        return 0;
    }
    print_status(tpls, n_tpls);
    printf("\n");
    print_leases(leases, n_leases);
    return 0;
}

int ctl_leases(ctl_t *ctl, int argc, char **argv)
{
    int first = common_opts(ctl, "leases", argc, argv);
    if (first < 0)
        return 2;
    if (first != argc)
        return ctl_usage("leases", "takes no arguments");
    api_client_t *api = ctl_api(ctl);
    if (api == NULL)
        return 1;
    wp_error_t err = {0};
    _cleanup_free_ pool_lease_summary_t *leases = NULL;
    size_t n = 0;
    if (api_client_leases(api, &leases, &n, &err) < 0)
        return ctl_fail(&err);
    if (ctl->json) {
        json_auto_t *l = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(l, lease_summary_json(&leases[i]));
        print_json(l);
    } else {
        print_leases(leases, n);
    }
    return 0;
}

int ctl_health(ctl_t *ctl, int argc, char **argv)
{
    int first = common_opts(ctl, "health", argc, argv);
    if (first < 0)
        return 2;
    if (first != argc)
        return ctl_usage("health", "takes no arguments");
    api_client_t *api = ctl_api(ctl);
    if (api == NULL)
        return 1;
    wp_error_t err = {0};
    api_health_t h;
    if (api_client_health(api, &h, &err) < 0)
        return ctl_fail(&err);
    if (ctl->json) {
        json_auto_t *j =
            json_pack("{s:s, s:I, s:i, s:i, s:i, s:i}", "version", h.version, "uptime_ms",
                      (json_int_t)h.uptime_ms, "templates", (int)h.templates, "leases",
                      (int)h.leases, "pid", h.pid, "protocol_version", (int)h.protocol_version);
        print_json(j);
        return 0;
    }
    uint64_t s = h.uptime_ms / 1000;
    printf("warmpoold %s (pid %d, protocol %u): up %lluh%02llum%02llus, %u templates, %u leases\n",
           h.version, h.pid, h.protocol_version, (unsigned long long)(s / 3600),
           (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60), h.templates, h.leases);
    return 0;
}

static int parse_count(const char *text, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v > POOL_TARGET_MAX)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* Fill what the command line left out from the pool as it is (or the
 * defaults for a new one), widening min/max to admit a fixed target. */
static void complete_size(ctl_t *ctl, const char *name, pool_size_t *size, bool has_min,
                          bool has_max)
{
    pool_template_status_t cur = {
        .target = POOL_DEFAULT_TARGET, .min = POOL_DEFAULT_MIN, .max = POOL_DEFAULT_MAX};
    _cleanup_free_ pool_template_status_t *list = NULL;
    size_t n = 0;
    if (api_client_status(ctl->api, &list, &n, NULL) == 0)
        for (size_t i = 0; i < n; i++)
            if (strcmp(list[i].name, name) == 0)
                cur = list[i];
    if (!has_min)
        size->min = cur.min;
    if (!has_max)
        size->max = cur.max;
    if (size->sizing == POOL_SIZING_FIXED) {
        if (!has_min && size->min > size->target)
            size->min = size->target;
        if (!has_max && size->max < size->target)
            size->max = size->target;
        return;
    }
    size->target = cur.target < size->min ? size->min : cur.target;
    if (size->target > size->max)
        size->target = size->max;
}

int ctl_pool(ctl_t *ctl, int argc, char **argv)
{
    static const char shape[] = "expected 'pool set TEMPLATE N|auto [--min N] [--max N]'";
    if (argc >= 2 && strcmp(argv[1], "wait") == 0)
        return ctl_pool_wait(ctl, argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "set") != 0)
        return ctl_usage("pool", "%s or 'pool wait TEMPLATE N'", shape);
    static const struct option options[] = {
        {"min", required_argument, NULL, 'm'},
        {"max", required_argument, NULL, 'M'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    pool_size_t size = {0};
    bool has_min = false, has_max = false;
    int c;
    argc--, argv++;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (c == 'j') {
            ctl->json = true;
        } else if (c == 'm' || c == 'M') {
            if (parse_count(optarg, c == 'm' ? &size.min : &size.max) < 0)
                return ctl_usage("pool set", "--%s wants 0..%d, not '%s'", c == 'm' ? "min" : "max",
                                 POOL_TARGET_MAX, optarg);
            *(c == 'm' ? &has_min : &has_max) = true;
        } else {
            return ctl_usage("pool set", "%s", shape);
        }
    }
    if (optind != argc - 2)
        return ctl_usage("pool set", "%s", shape);
    const char *name = argv[optind], *what = argv[optind + 1];
    if (strcmp(what, "auto") == 0)
        size.sizing = POOL_SIZING_AUTO;
    else if (parse_count(what, &size.target) < 0)
        return ctl_usage("pool set", "size wants 0..%d or 'auto', not '%s'", POOL_TARGET_MAX, what);
    if (ctl_api(ctl) == NULL)
        return 1;
    complete_size(ctl, name, &size, has_min, has_max);
    wp_error_t err = {0};
    pool_template_status_t after;
    if (api_client_set_size(ctl->api, name, &size, &after, &err) < 0)
        return ctl_fail(&err);
    if (ctl->json) {
        json_auto_t *j = status_json(&after);
        print_json(j);
    } else {
        printf("pool '%s': %s, target %u (min %u, max %u); now %u warm, %u cloning, %u leased\n",
               name, pool_sizing_mode_name(after.sizing), after.target, after.min, after.max,
               after.warm, after.cloning, after.leased);
    }
    return 0;
}
