/* clone_vs_cold.c - N cold boots and N clones of one template, each timed
 * to the first agent reply, and the PSS of each kind of VM while all N of
 * that kind are alive, on the template's backend. Prints min/median/max and,
 * last, the ratio of the medians. A measurement, not a test: it never passes
 * or fails on time.
 *
 *   clone_vs_cold --store DIR --memory-dir DIR --runtime-dir DIR
 *                 --template NAME [-n N] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "factory.h"
#include "lib/bench_opts.h"
#include "lib/bench_stats.h"

#define MAX_N 32

static void print_stats(const char *label, double *v, int n)
{
    double med = bench_median(v, n);
    printf("%-44s min %8.1f  median %8.1f  max %8.1f  (n=%d)\n", label, v[0], med, v[n - 1], n);
}

/* Proportional set size of a process in MB, from smaps_rollup. */
static double pss_mb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    double kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "Pss: %lf kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb / 1024;
}

typedef int (*start_fn)(factory_t *f, factory_template_t *t, factory_vm_t **out, wp_error_t *err);

static int start_clone(factory_t *f, factory_template_t *t, factory_vm_t **out, wp_error_t *err)
{
    return factory_clone(f, t, NULL, out, err);
}

static int start_cold(factory_t *f, factory_template_t *t, factory_vm_t **out, wp_error_t *err)
{
    return factory_boot_cold(f, t, 0, out, err);
}

/* Start n VMs one after the other (no overlap, so no contention), keep
 * them all alive, then read each one's PSS and destroy them. */
static int run(factory_t *f, factory_template_t *t, start_fn start, int n, double *reply_ms,
               double *ready_ms, double *pss)
{
    factory_vm_t *vms[MAX_N] = {0};
    wp_error_t err = {0};
    int ret = 0;
    for (int i = 0; i < n && ret == 0; i++) {
        ret = start(f, t, &vms[i], &err);
        if (ret == 0) {
            reply_ms[i] = vms[i]->timings.reseed_ms;
            ready_ms[i] = vms[i]->timings.clock_ms;
        }
    }
    for (int i = 0; i < n && ret == 0; i++)
        pss[i] = pss_mb(hv_vm_pid(vms[i]->vm));
    for (int i = 0; i < n; i++)
        factory_vm_destroy(vms[i], NULL);
    if (ret < 0)
        fprintf(stderr, "clone_vs_cold: %s\n", err.msg);
    return ret;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        BENCH_FACTORY_OPTIONS,
        {"template", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    factory_config_t cfg = {0};
    const char *name = NULL;
    int n = 5, c;
    while ((c = getopt_long(argc, argv, "n:", options, NULL)) != -1) {
        if (bench_factory_option(c, optarg, &cfg))
            continue;
        switch (c) {
        case 't':
            name = optarg;
            break;
        case 'n':
            n = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    if (name == NULL || n < 1 || n > MAX_N) {
        fprintf(stderr,
                "usage: clone_vs_cold --template NAME [-n 1..%d] [--store DIR] "
                "[--memory-dir DIR] [--runtime-dir DIR]\n",
                MAX_N);
        return 2;
    }
    wp_error_t err = {0};
    factory_t *f = factory_open(&cfg, &err);
    factory_template_t *t = f ? factory_template_open(f, name, &err) : NULL;
    if (t == NULL) {
        fprintf(stderr, "clone_vs_cold: %s\n", err.msg);
        return 1;
    }
    double cold_reply[MAX_N], cold_ready[MAX_N], cold_pss[MAX_N];
    double clone_reply[MAX_N], clone_ready[MAX_N], clone_pss[MAX_N];
    printf("template '%s', %d cold boots then %d clones, one at a time\n", name, n, n);
    fflush(stdout);
    if (run(f, t, start_cold, n, cold_reply, cold_ready, cold_pss) < 0 ||
        run(f, t, start_clone, n, clone_reply, clone_ready, clone_pss) < 0)
        return 1;
    print_stats("cold boot to first agent reply (ms):", cold_reply, n);
    print_stats("clone to first agent reply (ms):", clone_reply, n);
    print_stats("clone ready: reseeded, clock set (ms):", clone_ready, n);
    print_stats("PSS of a cold VM, N alive (MB):", cold_pss, n);
    print_stats("PSS of a clone, N alive (MB):", clone_pss, n);
    printf("clone/cold median ratio: %.3f\n",
           bench_median(clone_reply, n) / bench_median(cold_reply, n));
    factory_template_close(t);
    factory_close(f);
    return 0;
}
