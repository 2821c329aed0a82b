/* daemon_memory.c - warmpoold's own memory as its pools grow: for each
 * count (1, 10, 50 by default) size the pool live, wait until that many
 * VMs are warm, and read the daemon's PSS from /proc/PID/smaps_rollup (the
 * pid from its health call; the VMs are separate QEMU processes and not
 * counted). Prints each PSS, the PSS per warm VM, and, last,
 * `warmpoold PSS MB at <N> VMs: <x>` for the largest count.
 *
 *   daemon_memory_bin [--socket URL] [--template NAME] [COUNT...] */
#include <errno.h>  /* ETIMEDOUT */
#include <getopt.h> /* getopt_long */
#include <stdio.h>  /* printf */
#include <stdlib.h> /* atoi */
#include <string.h> /* strcmp */

#include "api_client.h"
#include "wp_time.h"

#define WARM_TIMEOUT_S 1200 /* 50 clones under TCG on 2 cores take minutes */

static int wait_warm(api_client_t *api, const char *tpl, unsigned want, wp_error_t *err)
{
    int64_t deadline = wp_now_mono_ns() + WARM_TIMEOUT_S * 1000000000LL;
    uint64_t gen = 0;
    while (wp_now_mono_ns() < deadline) {
        pool_template_status_t *list = NULL;
        size_t n = 0;
        bool changed = false;
        if (api_client_watch(api, &gen, 10000, &changed, &list, &n, err) < 0)
            return -1;
        bool done = false;
        for (size_t i = 0; i < n; i++)
            if (strcmp(list[i].name, tpl) == 0)
                done = list[i].warm == want && list[i].cloning == 0;
        free(list);
        if (done)
            return 0;
    }
    return wp_error_set(err, ETIMEDOUT, "'%s' did not reach %u warm VMs in %d s", tpl, want,
                        WARM_TIMEOUT_S);
}

/* Pss of pid in kB, from smaps_rollup; -1 if unreadable. */
static long pss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "Pss: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"socket", required_argument, NULL, 's'},
        {"template", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *url = POOL_DEFAULT_API_SOCKET, *tpl = "bench";
    int ch;
    while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (ch == 's')
            url = optarg;
        else if (ch == 't')
            tpl = optarg;
        else {
            fprintf(stderr,
                    "usage: daemon_memory_bin [--socket URL] [--template NAME] [COUNT...]\n");
            return 2;
        }
    }
    unsigned counts[16] = {1, 10, 50};
    int n_counts = 3;
    if (optind < argc) {
        n_counts = 0;
        for (int i = optind; i < argc && n_counts < 16; i++) {
            int c = atoi(argv[i]);
            if (c < 1) {
                fprintf(stderr, "daemon_memory_bin: '%s' is not a VM count\n", argv[i]);
                return 2;
            }
            counts[n_counts++] = (unsigned)c;
        }
    }
    wp_error_t err = {0};
    api_client_t *api = api_client_open(url, &err);
    api_health_t h;
    if (api == NULL || api_client_health(api, &h, &err) < 0) {
        fprintf(stderr, "daemon_memory_bin: %s\n", err.msg);
        return 1;
    }
    long first_kb = -1, last_kb = -1;
    unsigned first = 0, last = 0;
    for (int i = 0; i < n_counts; i++) {
        pool_size_t size = {.sizing = POOL_SIZING_FIXED,
                            .target = counts[i],
                            .min = 0,
                            .max = counts[i] > 16 ? counts[i] : 16};
        if (api_client_set_size(api, tpl, &size, NULL, &err) < 0 ||
            wait_warm(api, tpl, counts[i], &err) < 0) {
            fprintf(stderr, "daemon_memory_bin: %s\n", err.msg);
            api_client_close(api);
            return 1;
        }
        long kb = pss_kb(h.pid);
        printf("warmpoold (pid %d) PSS with %3u warm VMs: %.2f MB\n", h.pid, counts[i],
               kb / 1024.0);
        if (i == 0)
            first_kb = kb, first = counts[i];
        last_kb = kb, last = counts[i];
    }
    api_client_close(api);
    if (last > first)
        printf("PSS per warm VM: %.1f kB\n", (double)(last_kb - first_kb) / (last - first));
    printf("warmpoold PSS MB at %u VMs: %.2f\n", last, last_kb / 1024.0);
    return 0;
}
