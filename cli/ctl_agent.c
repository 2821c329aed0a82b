/* ctl_agent.c - `warmpoolctl agent ENDPOINT ping|info|sample [N]`: talk to
 * a VM's guest agent directly, as a lease holder does (the endpoint is in
 * the lease: "unix:/path" or "vsock:CID:PORT"). For scripts and debugging;
 * the daemon is not involved. */
#include <stdio.h>  /* printf */
#include <stdlib.h> /* strtoul */
#include <string.h> /* strcmp */

#include "ctl.h"
#include "wp_cleanup.h"
#include "wp_time.h"

#define AGENT_CALL_MS 10000
#define SAMPLE_MAX    256

int ctl_agent(ctl_t *ctl, int argc, char **argv)
{
    static const char shape[] = "expected 'agent ENDPOINT ping|info|sample [N]'";
    if (argc < 3 || (strcmp(argv[2], "sample") != 0 && argc != 3) || argc > 4)
        return ctl_usage("agent", "%s", shape);
    const char *endpoint = argv[1], *what = argv[2];
    wp_error_t err = {0};
    _cleanup_agent_client_ agent_client_t *a = agent_client_connect(endpoint, &err);
    if (a == NULL)
        return ctl_fail(&err);
    int64_t t0 = wp_now_mono_ns();
    if (strcmp(what, "ping") == 0) {
        if (agent_client_ping(a, AGENT_CALL_MS, &err) < 0)
            return ctl_fail(&err);
        double ms = wp_ms_between(t0, wp_now_mono_ns());
        if (ctl->json)
            printf("{\"endpoint\": \"%s\", \"ping_ms\": %.3f}\n", endpoint, ms);
        else
            printf("agent at %s answered in %.3f ms\n", endpoint, ms);
    } else if (strcmp(what, "info") == 0) {
        Warmpool__Agent__V1__Response *r = NULL;
        if (agent_client_info(a, &r, AGENT_CALL_MS, &err) < 0)
            return ctl_fail(&err);
        const Warmpool__Agent__V1__InfoResponse *i = r->info;
        double uptime_s = (double)i->uptime_ns / 1e9;
        double skew_s = (double)(i->realtime_ns - wp_now_real_ns()) / 1e9;
        if (ctl->json)
            printf("{\"agent_version\": \"%s\", \"kernel\": \"%s\", \"uptime_s\": %.3f, "
                   "\"mem_total_bytes\": %llu, \"clock_skew_s\": %.3f}\n",
                   i->agent_version, i->kernel_release, uptime_s,
                   (unsigned long long)i->mem_total_bytes, skew_s);
        else
            printf(
                "agent %s, kernel %s, up %.3f s, %llu MiB, guest clock %+.3f s from the host's\n",
                i->agent_version, i->kernel_release, uptime_s,
                (unsigned long long)(i->mem_total_bytes >> 20), skew_s);
        warmpool__agent__v1__response__free_unpacked(r, NULL);
    } else if (strcmp(what, "sample") == 0) {
        unsigned long n = argc == 4 ? strtoul(argv[3], NULL, 10) : 16;
        if (n < 1 || n > SAMPLE_MAX)
            return ctl_usage("agent", "sample wants 1..%d bytes", SAMPLE_MAX);
        unsigned char buf[SAMPLE_MAX];
        if (agent_client_random_sample(a, buf, n, AGENT_CALL_MS, &err) < 0)
            return ctl_fail(&err);
        for (unsigned long k = 0; k < n; k++)
            printf("%02x", buf[k]);
        printf("\n");
    } else {
        return ctl_usage("agent", "%s", shape);
    }
    return 0;
}
