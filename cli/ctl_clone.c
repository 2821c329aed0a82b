/* ctl_clone.c - warmpoolctl clone TEMPLATE and warmpoolctl vm ls|destroy:
 * clones made locally, without the daemon. */
#include <getopt.h>  /* getopt_long */
#include <jansson.h> /* json_* */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* strtoul */
#include <string.h>  /* strcmp */

#include "ctl.h"
#include "wp_cleanup.h"
#include "wp_id.h"

#define SAMPLE_BYTES 8

/* Ask the clone's agent for a random sample: proof it answers, and that
 * clones do not share RNG state. */
static int sample(factory_vm_t *vm, char hex[2 * SAMPLE_BYTES + 1], wp_error_t *err)
{
    unsigned char bytes[SAMPLE_BYTES];
    if (agent_client_random_sample(vm->agent, bytes, sizeof(bytes), 5000, err) < 0)
        return -1;
    wp_hex(bytes, sizeof(bytes), hex);
    return 0;
}

static void report(ctl_t *ctl, const factory_vm_t *vm, const char *hex, bool kept, json_t *all)
{
    const factory_clone_timings_t *t = &vm->timings;
    if (ctl->json) {
        json_array_append_new(
            all, json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:b, s:{s:f, s:f, s:f, s:f}}", "id",
                           vm->id, "template", vm->template_name, "pid", (int)hv_vm_pid(vm->vm),
                           "agent", hv_vm_agent_endpoint(vm->vm), "shared", vm->share_dir,
                           "vmgenid", vm->vmgenid, "random_sample", hex, "kept", kept, "timings_ms",
                           "restore", t->restore_ms, "resume", t->resume_ms, "first_agent_reply",
                           t->reseed_ms, "ready", t->clock_ms));
        return;
    }
    printf("%s  pid %d  agent %s\n", vm->id, (int)hv_vm_pid(vm->vm), hv_vm_agent_endpoint(vm->vm));
    printf("  restored %.1f ms, resumed %.1f ms, reseeded (first agent reply) %.1f ms, "
           "clock set (ready) %.1f ms\n",
           t->restore_ms, t->resume_ms, t->reseed_ms, t->clock_ms);
    printf("  random sample %s  vmgenid %s%s\n", hex, vm->vmgenid, kept ? "  (kept running)" : "");
}

int ctl_clone(ctl_t *ctl, int argc, char **argv)
{
    static const struct option options[] = {
        {"count", required_argument, NULL, 'n'},
        {"keep", no_argument, NULL, 'k'},
        {"cold", no_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    unsigned long count = 1;
    bool keep = false, cold = false;
    int c;
    while ((c = getopt_long(argc, argv, "n:kc", options, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'n':
            count = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || count == 0 || count > 1000)
                return ctl_usage("clone", "--count wants 1..1000, not '%s'", optarg);
            break;
        case 'k':
            keep = true;
            break;
        case 'c':
            cold = true;
            break;
        default:
            return ctl_usage("clone", "bad option");
        }
    }
    if (optind != argc - 1)
        return ctl_usage("clone", "expected exactly one TEMPLATE");
    factory_t *f = ctl_factory(ctl);
    if (f == NULL)
        return 1;
    wp_error_t err = {0};
    factory_template_t *t = factory_template_open(f, argv[optind], &err);
    if (t == NULL)
        return ctl_fail(&err);
    json_auto_t *all = json_array();
    int status = 0;
    for (unsigned long i = 0; i < count && status == 0; i++) {
        factory_vm_t *vm = NULL;
        char hex[2 * SAMPLE_BYTES + 1];
        int made =
            cold ? factory_boot_cold(f, t, 0, &vm, &err) : factory_clone(f, t, NULL, &vm, &err);
        if (made < 0 || sample(vm, hex, &err) < 0) {
            status = ctl_fail(&err);
            factory_vm_destroy(vm, NULL);
            break;
        }
        report(ctl, vm, hex, keep, all);
        if (keep) {
            factory_vm_release(vm);
        } else if (factory_vm_destroy(vm, &err) < 0) {
            status = ctl_fail(&err);
        }
    }
    factory_template_close(t);
    if (ctl->json) {
        _cleanup_free_ char *text = json_dumps(all, JSON_INDENT(2));
        printf("%s\n", text ? text : "[]");
    } else if (keep && status == 0) {
        printf("destroy with: warmpoolctl vm destroy ID\n");
    }
    return status;
}

int ctl_vm(ctl_t *ctl, int argc, char **argv)
{
    if (argc < 2)
        return ctl_usage("vm", "expected ls or destroy");
    factory_t *f = ctl_factory(ctl);
    if (f == NULL)
        return 1;
    wp_error_t err = {0};
    if (strcmp(argv[1], "ls") == 0 || strcmp(argv[1], "list") == 0) {
        char **ids = NULL;
        size_t n = 0;
        if (factory_vm_list(f, &ids, &n, &err) < 0)
            return ctl_fail(&err);
        json_auto_t *all = json_array();
        for (size_t i = 0; i < n; i++) {
            if (ctl->json)
                json_array_append_new(all, json_string(ids[i]));
            else
                printf("%s\n", ids[i]);
        }
        if (ctl->json) {
            _cleanup_free_ char *text = json_dumps(all, 0);
            printf("%s\n", text ? text : "[]");
        }
        factory_names_free(ids, n);
        return 0;
    }
    if (strcmp(argv[1], "destroy") == 0) {
        if (argc < 3)
            return ctl_usage("vm destroy", "expected one or more VM ids");
        int status = 0;
        for (int i = 2; i < argc; i++) {
            if (factory_vm_destroy_by_id(f, argv[i], &err) < 0)
                status = ctl_fail(&err);
            else if (!ctl->json)
                printf("destroyed %s\n", argv[i]);
        }
        return status;
    }
    return ctl_usage("vm", "unknown verb '%s' (expected ls or destroy)", argv[1]);
}
