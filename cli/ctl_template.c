/* ctl_template.c - warmpoolctl template build|ls|inspect|rm: on the local
 * store, or with the global --daemon through warmpoold (its store, its
 * host's paths). */
#include <errno.h>   /* ENOENT */
#include <getopt.h>  /* getopt_long */
#include <limits.h>  /* PATH_MAX */
#include <jansson.h> /* json_* */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* strtoul */
#include <string.h>  /* strcmp */

#include "ctl.h"
#include "wp_cleanup.h"

static void print_stage(factory_build_stage_t stage, double elapsed_ms, void *opaque)
{
    const char *name = opaque;
    if (stage == FACTORY_STAGE_DONE)
        fprintf(stderr, "[%7.1f s] template '%s' is ready\n", elapsed_ms / 1000, name);
    else
        fprintf(stderr, "[%7.1f s] %s\n", elapsed_ms / 1000, factory_stage_name(stage));
}

static int parse_uint(const char *text, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v == 0 || v > 1u << 20)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* The build runs in warmpoold, on its host's paths: send absolute ones. */
static int template_build_remote(ctl_t *ctl, const factory_template_spec_t *spec)
{
    if (spec->machine || spec->cpu_model || spec->agent_timeout_ms)
        return ctl_usage("template build", "--machine, --cpu and --agent-timeout are not "
                                           "available with --daemon");
    char kernel[PATH_MAX], initrd[PATH_MAX];
    if (realpath(spec->kernel, kernel) == NULL)
        snprintf(kernel, sizeof(kernel), "%s", spec->kernel);
    if (realpath(spec->initrd, initrd) == NULL)
        snprintf(initrd, sizeof(initrd), "%s", spec->initrd);
    api_template_build_t b = {.name = spec->name,
                              .kernel = kernel,
                              .initrd = initrd,
                              .cmdline = spec->cmdline,
                              .memory_mib = spec->memory_mib,
                              .vcpus = spec->vcpus,
                              .force = spec->replace,
                              .backend = spec->backend};
    if (ctl_api(ctl) == NULL)
        return 1;
    if (!ctl->json)
        printf("building template '%s' in warmpoold (a cold boot: seconds)...\n", spec->name);
    fflush(stdout);
    wp_error_t err = {0};
    _cleanup_free_ char *manifest = NULL;
    if (api_client_template_build(ctl->api, &b, &manifest, &err) < 0)
        return ctl_fail(&err);
    if (ctl->json)
        printf("%s\n", manifest ? manifest : "null");
    else
        printf("template '%s' is ready\n", spec->name);
    return 0;
}

static int template_build(ctl_t *ctl, int argc, char **argv)
{
    enum {
        O_KERNEL = 256,
        O_INITRD,
        O_CMDLINE,
        O_MEMORY,
        O_VCPUS,
        O_MACHINE,
        O_CPU,
        O_TIMEOUT,
        O_FORCE,
        O_BACKEND
    };
    static const struct option options[] = {
        {"kernel", required_argument, NULL, O_KERNEL},
        {"initrd", required_argument, NULL, O_INITRD},
        {"cmdline", required_argument, NULL, O_CMDLINE},
        {"memory", required_argument, NULL, O_MEMORY},
        {"vcpus", required_argument, NULL, O_VCPUS},
        {"machine", required_argument, NULL, O_MACHINE},
        {"cpu", required_argument, NULL, O_CPU},
        {"agent-timeout", required_argument, NULL, O_TIMEOUT},
        {"force", no_argument, NULL, O_FORCE},
        {"backend", required_argument, NULL, O_BACKEND},
        {NULL, 0, NULL, 0},
    };
    factory_template_spec_t spec = {0};
    unsigned timeout_s = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case O_KERNEL:
            spec.kernel = optarg;
            break;
        case O_INITRD:
            spec.initrd = optarg;
            break;
        case O_CMDLINE:
            spec.cmdline = optarg;
            break;
        case O_MEMORY:
            if (parse_uint(optarg, &spec.memory_mib) < 0)
                return ctl_usage("template build", "--memory wants MiB, not '%s'", optarg);
            break;
        case O_VCPUS:
            if (parse_uint(optarg, &spec.vcpus) < 0)
                return ctl_usage("template build", "--vcpus wants a count, not '%s'", optarg);
            break;
        case O_MACHINE:
            spec.machine = optarg;
            break;
        case O_CPU:
            spec.cpu_model = optarg;
            break;
        case O_TIMEOUT:
            if (parse_uint(optarg, &timeout_s) < 0)
                return ctl_usage("template build", "--agent-timeout wants seconds, not '%s'",
                                 optarg);
            spec.agent_timeout_ms = (int)timeout_s * 1000;
            break;
        case O_FORCE:
            spec.replace = true;
            break;
        case O_BACKEND:
            if (strcmp(optarg, "qemu") != 0 && strcmp(optarg, "libvirt") != 0)
                return ctl_usage("template build", "--backend is qemu or libvirt, not '%s'",
                                 optarg);
            spec.backend = optarg;
            break;
        default:
            return ctl_usage("template build", "bad option");
        }
    }
    if (optind != argc - 1)
        return ctl_usage("template build", "expected exactly one template NAME");
    spec.name = argv[optind];
    if (spec.kernel == NULL || spec.initrd == NULL)
        return ctl_usage("template build", "--kernel and --initrd are required");
    if (ctl->via_daemon)
        return template_build_remote(ctl, &spec);
    factory_t *f = ctl_factory(ctl);
    if (f == NULL)
        return 1;
    wp_error_t err = {0};
    if (factory_template_build(f, &spec, ctl->json ? NULL : print_stage, (void *)spec.name, &err) <
        0)
        return ctl_fail(&err);
    if (ctl->json) {
        _cleanup_free_ char *text = factory_template_manifest_json(f, spec.name, &err);
        if (text == NULL)
            return ctl_fail(&err);
        printf("%s\n", text);
    }
    return 0;
}

/* Templates as (name, manifest JSON or NULL), from the store or warmpoold. */
static int list_templates(ctl_t *ctl, api_template_info_t **out, size_t *count)
{
    wp_error_t err = {0};
    if (ctl->via_daemon) {
        if (ctl_api(ctl) == NULL)
            return -1;
        return api_client_template_list(ctl->api, out, count, &err) < 0 ? ctl_fail(&err), -1 : 0;
    }
    factory_t *f = ctl_factory(ctl);
    if (f == NULL)
        return -1;
    char **names = NULL;
    size_t n = 0;
    if (factory_template_list(f, &names, &n, &err) < 0)
        return ctl_fail(&err), -1;
    api_template_info_t *list = calloc(n ? n : 1, sizeof(*list));
    for (size_t i = 0; list && i < n; i++) {
        list[i].name = names[i];
        list[i].manifest_json = factory_template_manifest_json(f, names[i], NULL);
    }
    free(names); /* the strings moved into list */
    if (list == NULL)
        return wp_error_errno(&err, ENOMEM, "template list"), ctl_fail(&err), -1;
    *out = list;
    *count = n;
    return 0;
}

static int template_ls(ctl_t *ctl)
{
    api_template_info_t *list = NULL;
    size_t n = 0;
    if (list_templates(ctl, &list, &n) < 0)
        return 1;
    json_auto_t *all = json_array();
    if (!ctl->json)
        printf("%-20s %8s %6s %-10s %-20s %10s\n", "NAME", "MEMORY", "VCPUS", "QEMU", "CREATED",
               "BOOT (s)");
    for (size_t i = 0; i < n; i++) {
        json_t *m = list[i].manifest_json ? json_loads(list[i].manifest_json, 0, NULL) : NULL;
        if (m == NULL) {
            if (!ctl->json)
                printf("%-20s (unreadable manifest)\n", list[i].name);
            continue;
        }
        if (ctl->json) {
            json_array_append_new(all, m);
            continue;
        }
        int mib = 0, vcpus = 0;
        const char *version = "?", *created = "?";
        double boot = 0;
        json_unpack(m, "{s:{s:i, s:i, s:s}, s:s, s:{s:F}}", "hypervisor", "memory_mib", &mib,
                    "vcpus", &vcpus, "version", &version, "created", &created, "build_ms",
                    "boot_to_agent", &boot);
        printf("%-20s %6d M %6d %-10s %-20s %10.2f\n", list[i].name, mib, vcpus, version, created,
               boot / 1000);
        json_decref(m);
    }
    if (ctl->json) {
        _cleanup_free_ char *text = json_dumps(all, JSON_INDENT(2));
        printf("%s\n", text ? text : "[]");
    }
    api_template_infos_free(list, n);
    return 0;
}

static int template_inspect(ctl_t *ctl, const char *name)
{
    api_template_info_t *list = NULL;
    size_t n = 0;
    if (list_templates(ctl, &list, &n) < 0)
        return 1;
    int status = 1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0 && list[i].manifest_json) {
            printf("%s\n", list[i].manifest_json);
            status = 0;
        }
    api_template_infos_free(list, n);
    if (status != 0) {
        wp_error_t err = {0};
        wp_error_set(&err, ENOENT, "no template '%s'%s", name,
                     ctl->via_daemon ? " in warmpoold's store" : "");
        return ctl_fail(&err);
    }
    return 0;
}

static int template_rm(ctl_t *ctl, const char *name)
{
    wp_error_t err = {0};
    if (ctl->via_daemon) {
        if (ctl_api(ctl) == NULL)
            return 1;
        if (api_client_template_remove(ctl->api, name, &err) < 0)
            return ctl_fail(&err);
    } else {
        factory_t *f = ctl_factory(ctl);
        if (f == NULL)
            return 1;
        if (factory_template_remove(f, name, &err) < 0)
            return ctl_fail(&err);
    }
    if (ctl->json)
        printf("{\"removed\": \"%s\"}\n", name);
    else
        printf("removed template '%s'\n", name);
    return 0;
}

int ctl_template(ctl_t *ctl, int argc, char **argv)
{
    if (argc < 2)
        return ctl_usage("template", "expected build, ls, inspect or rm");
    const char *verb = argv[1];
    if (strcmp(verb, "build") == 0)
        return template_build(ctl, argc - 1, argv + 1);
    if (strcmp(verb, "ls") == 0 || strcmp(verb, "list") == 0) {
        if (argc != 2)
            return ctl_usage("template ls", "takes no arguments");
        return template_ls(ctl);
    }
    if (strcmp(verb, "inspect") == 0 || strcmp(verb, "rm") == 0) {
        if (argc != 3)
            return ctl_usage("template", "%s expects exactly one template NAME", verb);
        return strcmp(verb, "rm") == 0 ? template_rm(ctl, argv[2]) : template_inspect(ctl, argv[2]);
    }
    return ctl_usage("template", "unknown verb '%s' (expected build, ls, inspect or rm)", verb);
}
