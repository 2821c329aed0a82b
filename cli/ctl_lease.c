/* ctl_lease.c - warmpoolctl acquire TEMPLATE / release VM_ID TOKEN, through
 * warmpoold: for scripts and debugging. The token is printed once, on
 * acquire; nothing else ever shows it, so a script must keep it. */
#include <getopt.h>  /* getopt_long */
#include <jansson.h> /* json_* */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* strtod */

#include "ctl.h"
#include "wp_cleanup.h"

int ctl_acquire(ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        {"fail-fast", no_argument, NULL, 'f'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    bool fail_fast = false;
    int timeout_ms = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        char *end;
        double sec;
        switch (c) {
        case 'f':
            fail_fast = true;
            break;
        case 't':
            sec = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !(sec > 0) ||
                sec * 1000 > API_ACQUIRE_MAX_TIMEOUT_MS)
                return ctl_usage("acquire", "--timeout wants seconds, 0 < SEC <= %d, not '%s'",
                                 API_ACQUIRE_MAX_TIMEOUT_MS / 1000, optarg);
            timeout_ms = (int)(sec * 1000);
            if (timeout_ms == 0)
                timeout_ms = 1;
            break;
        case 'j':
            ctl->json = true;
            break;
        default:
            return ctl_usage("acquire",
                             "expected 'acquire TEMPLATE [--fail-fast] [--timeout SEC]'");
        }
    }
    if (optind != argc - 1)
        return ctl_usage("acquire", "expected exactly one TEMPLATE");
    api_client_t *api = ctl_api(ctl);
    if (api == NULL)
        return 1;
    wp_error_t err = {0};
    pool_lease_t l;
    if (api_client_acquire(api, argv[optind], fail_fast, timeout_ms, &l, &err) < 0)
        return ctl_fail(&err);
    if (ctl->json) {
        json_auto_t *j =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:f}", "vm_id", l.vm.id, "token",
                      l.token, "template", l.template_name, "agent_endpoint", l.vm.agent_endpoint,
                      "runtime_dir", l.vm.runtime_dir, "shared_dir", l.vm.shared_dir, "pid",
                      (int)l.vm.pid, "hit", l.hit, "wait_ms", l.wait_ms);
        _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", text ? text : "null");
        return 0;
    }
    printf("vm        %s\n", l.vm.id);
    printf("token     %s\n", l.token);
    printf("template  %s (%s, %.2f ms)\n", l.template_name, l.hit ? "warm" : "cloned on demand",
           l.wait_ms);
    printf("endpoint  %s\n", l.vm.agent_endpoint);
    printf("pid       %d\n", (int)l.vm.pid);
    printf("shared    %s\n", l.vm.shared_dir);
    printf("release with: warmpoolctl release %s %s\n", l.vm.id, l.token);
    return 0;
}

int ctl_release(ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (c != 'j')
            return ctl_usage("release", "expected 'release VM_ID TOKEN'");
        ctl->json = true;
    }
    if (optind != argc - 2)
        return ctl_usage("release", "expected 'release VM_ID TOKEN'");
    const char *id = argv[optind], *token = argv[optind + 1];
    api_client_t *api = ctl_api(ctl);
    if (api == NULL)
        return 1;
    wp_error_t err = {0};
    bool died = false;
    if (api_client_release(api, id, token, &died, &err) < 0)
        return ctl_fail(&err);
    if (ctl->json)
        printf("{\"released\": \"%s\", \"vm_died\": %s}\n", id, died ? "true" : "false");
    else
        printf("released %s%s\n", id, died ? " (its VM had already died)" : "");
    return 0;
}
