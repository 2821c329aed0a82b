/* backends.c - clones of two templates of the same guest, one on each
 * hypervisor backend (QEMU directly, and libvirt), started one at a time and
 * interleaved (qemu, libvirt, qemu, ...) so the machine's load falls on both
 * alike. Each clone is timed to its first agent reply and to ready, then
 * destroyed before the next starts. One untimed clone of each goes first
 * (page cache, libvirt's first-use work). Prints min/median/max side by side
 * and, last, the ratio of the first-reply medians:
 *   libvirt/qemu clone ratio: <x>
 * A measurement, not a test: it never passes or fails on time.
 *
 *   backends_bin --store DIR --memory-dir DIR --runtime-dir DIR
 *                --qemu NAME --libvirt NAME [-n N] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "factory.h"
#include "lib/bench_opts.h"
#include "lib/bench_stats.h"

#define MAX_N 64

enum { QEMU = 0, LIBVIRT = 1, N_BACKENDS };
static const char *const backend_names[N_BACKENDS] = {"qemu", "libvirt"};

typedef struct samples {
    double restore[MAX_N]; /* hypervisor started, state loaded */
    double resume[MAX_N];  /* vCPUs running */
    double reply[MAX_N];   /* first agent reply */
    double ready[MAX_N];   /* reseeded, clock set */
} samples_t;

/* One clone of t, timed, destroyed. s == NULL: a warm-up, not recorded. */
static int clone_once(factory_t *f, factory_template_t *t, samples_t *s, int i, wp_error_t *err)
{
    factory_vm_t *vm = NULL;
    if (factory_clone(f, t, NULL, &vm, err) < 0)
        return -1;
    if (s != NULL) {
        s->restore[i] = vm->timings.restore_ms;
        s->resume[i] = vm->timings.resume_ms;
        s->reply[i] = vm->timings.reseed_ms;
        s->ready[i] = vm->timings.clock_ms;
    }
    return factory_vm_destroy(vm, err);
}

static int run(factory_t *f, factory_template_t *t[N_BACKENDS], int n, samples_t s[N_BACKENDS])
{
    wp_error_t err = {0};
    for (int b = 0; b < N_BACKENDS; b++)
        if (clone_once(f, t[b], NULL, 0, &err) < 0)
            goto fail;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < N_BACKENDS; b++)
            if (clone_once(f, t[b], &s[b], i, &err) < 0)
                goto fail;
    return 0;
fail:
    fprintf(stderr, "backends: %s\n", err.msg);
    return -1;
}

static void print_row(const char *label, double *q, double *l, int n)
{
    double mq = bench_median(q, n), ml = bench_median(l, n);
    printf("%-38s %7.1f %7.1f %7.1f   %7.1f %7.1f %7.1f\n", label, q[0], mq, q[n - 1], l[0], ml,
           l[n - 1]);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        BENCH_FACTORY_OPTIONS,
        {"qemu", required_argument, NULL, 'q'},
        {"libvirt", required_argument, NULL, 'l'},
        {"count", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    factory_config_t cfg = {0};
    const char *names[N_BACKENDS] = {NULL, NULL};
    int n = 5, c;
    while ((c = getopt_long(argc, argv, "n:", options, NULL)) != -1) {
        if (bench_factory_option(c, optarg, &cfg))
            continue;
        switch (c) {
        case 'q':
            names[QEMU] = optarg;
            break;
        case 'l':
            names[LIBVIRT] = optarg;
            break;
        case 'n':
            n = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    if (names[QEMU] == NULL || names[LIBVIRT] == NULL || n < 1 || n > MAX_N) {
        fprintf(stderr,
                "usage: backends --qemu NAME --libvirt NAME [-n 1..%d] [--store DIR] "
                "[--memory-dir DIR] [--runtime-dir DIR]\n",
                MAX_N);
        return 2;
    }
    wp_error_t err = {0};
    factory_t *f = factory_open(&cfg, &err);
    factory_template_t *t[N_BACKENDS] = {NULL, NULL};
    for (int b = 0; b < N_BACKENDS && f != NULL; b++) {
        t[b] = factory_template_open(f, names[b], &err);
        if (t[b] == NULL)
            break;
    }
    if (t[QEMU] == NULL || t[LIBVIRT] == NULL) {
        fprintf(stderr, "backends: %s\n", err.msg);
        return 1;
    }
    static samples_t s[N_BACKENDS];
    printf("templates '%s' (%s) and '%s' (%s): %d clones each after one warm-up, interleaved, "
           "one at a time\n",
           names[QEMU], backend_names[QEMU], names[LIBVIRT], backend_names[LIBVIRT], n);
    fflush(stdout);
    if (run(f, t, n, s) < 0)
        return 1;
    printf("%-38s %23s   %23s\n", "", "---------- qemu -------", "-------- libvirt ------");
    printf("%-38s %7s %7s %7s   %7s %7s %7s\n", "(ms)", "min", "median", "max", "min", "median",
           "max");
    print_row("restore: started, state loaded", s[QEMU].restore, s[LIBVIRT].restore, n);
    print_row("resumed: vCPUs running", s[QEMU].resume, s[LIBVIRT].resume, n);
    print_row("clone to first agent reply", s[QEMU].reply, s[LIBVIRT].reply, n);
    print_row("clone ready: reseeded, clock set", s[QEMU].ready, s[LIBVIRT].ready, n);
    printf("libvirt/qemu clone ratio: %.2f\n",
           bench_median(s[LIBVIRT].reply, n) / bench_median(s[QEMU].reply, n));
    for (int b = 0; b < N_BACKENDS; b++)
        factory_template_close(t[b]);
    factory_close(f);
    return 0;
}
