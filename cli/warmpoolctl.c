/* warmpoolctl.c - the warmpool command-line tool: global options and
 * dispatch. Commands live in ctl_*.c: template, clone and vm work locally
 * on the store; status, pool, acquire, release, leases and health go
 * through warmpoold's API socket (--socket); run uses either. */
#include <getopt.h> /* getopt_long */
#include <stdio.h>  /* fprintf */
#include <string.h> /* strcmp */

#include "ctl.h"
#include "wp_log.h"

static const char usage_text[] =
    "Usage: warmpoolctl [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Size and use warmpoold's pools of warm VMs; build VM templates and clone them.\n"
    "\n"
    "Commands served by warmpoold (through --socket):\n"
    "  status                 per template: target, warm, cloning, leased, hits, misses,\n"
    "                         acquire p50/p99; then every lease\n"
    "  pool set TEMPLATE N|auto [--min N] [--max N]\n"
    "                         size TEMPLATE's pool live: N warm VMs, or follow demand\n"
    "                         within [min, max]; kept across restarts of warmpoold\n"
    "  pool wait TEMPLATE N [--timeout SEC]\n"
    "                         wait until TEMPLATE has N warm VMs and none cloning (default 60 s)\n"
    "  acquire TEMPLATE [--fail-fast] [--timeout SEC]\n"
    "                         lease a VM; prints its id, token, agent endpoint and pid\n"
    "  release VM_ID TOKEN    end a lease (the VM is destroyed)\n"
    "  leases                 list leases (without tokens)\n"
    "  health                 daemon version, uptime, templates and leases\n"
    "\n"
    "Containers (a VM leased from warmpoold when it answers, else cloned here):\n"
    "  run TEMPLATE --rootfs DIR [--tty] [--id NAME] [--no-stdin] [--verbose] [--] CMD [ARGS...]\n"
    "                         run CMD in a container of DIR in a warm VM, stdio on this\n"
    "                         terminal (stdin streamed with --tty or when it is not a\n"
    "                         terminal); exits with its status (128+N when killed by signal\n"
    "                         N, 125 when warmpoolctl failed); the VM is destroyed after;\n"
    "                         --verbose: timings on stderr; needs root (bind mounts)\n"
    "  run --endpoint ENDPOINT --share DIR --rootfs DIR [...] [--] CMD [ARGS...]\n"
    "                         the same in a VM already running (agent endpoint and shared\n"
    "                         directory as acquire prints them), which is left running\n"
    "  run ... --detach       start it and print where it runs (endpoint, container, VM),\n"
    "                         leaving container, VM and lease in place\n"
    "  exec ENDPOINT CONTAINER [--tty] [--id EXEC] [--no-stdin] [--verbose] [--] CMD [ARGS...]\n"
    "                         run CMD in a running container (after run --detach), its exit\n"
    "                         status as run's\n"
    "\n"
    "Local commands (no daemon needed):\n"
    "  template build NAME --kernel FILE --initrd FILE [--cmdline TEXT] [--memory MIB]\n"
    "                 [--vcpus N] [--machine TYPE] [--cpu MODEL] [--agent-timeout SEC] [--force]\n"
    "                 [--backend qemu|libvirt]\n"
    "                         boot a guest, wait for its agent, save it as template NAME;\n"
    "                         its clones run on the same backend (default qemu: QEMU directly;\n"
    "                         libvirt: transient libvirt domains, visible to virsh)\n"
    "  template ls            list templates\n"
    "  template inspect NAME  print a template's manifest\n"
    "  template rm NAME       remove a template (running clones are not affected)\n"
    "  clone TEMPLATE [--count N] [--keep] [--cold]\n"
    "                         clone TEMPLATE N times (default 1), show each clone's timings and\n"
    "                         a random sample from its agent, then destroy it (unless --keep);\n"
    "                         --cold: boot the template's kernel and initrd instead (the\n"
    "                         baseline a clone saves: seconds under TCG)\n"
    "  vm ls                  list VMs left running with --keep\n"
    "  vm destroy ID...       destroy VMs by id\n"
    "  agent ENDPOINT ping|info|sample [N]\n"
    "                         talk to a VM's agent directly (ENDPOINT as in a lease)\n"
    "\n"
    "Options:\n"
    "  --socket URL       warmpoold's API (default " POOL_DEFAULT_API_SOCKET ")\n"
    "  --daemon           template build|ls|inspect|rm through warmpoold, on its store and\n"
    "                     its host's paths (build: --machine, --cpu, --agent-timeout n/a)\n"
    "  --store DIR        template store (default " FACTORY_DEFAULT_STORE ")\n"
    "  --memory-dir DIR   where template memory files live, on a memory filesystem\n"
    "                     (default " FACTORY_DEFAULT_MEM ")\n"
    "  --runtime-dir DIR  per-VM sockets and logs (default " FACTORY_DEFAULT_RUN ")\n"
    "  --qemu PATH        QEMU binary (default: qemu-system-x86_64 from PATH; libvirt\n"
    "                     templates: /usr/bin/qemu-system-x86_64)\n"
    "  --libvirt-uri URI  libvirt connection for libvirt templates (default qemu:///system)\n"
    "  --json             machine-readable output (also accepted after any daemon command)\n"
    "  --log-level LEVEL  error, warn (default), info or debug\n"
    "  -h, --help         this text\n"
    "  --version          print the version\n";

int main(int argc, char **argv)
{
    enum {
        OPT_STORE = 256,
        OPT_MEM,
        OPT_RUN,
        OPT_QEMU,
        OPT_JSON,
        OPT_LOG,
        OPT_VERSION,
        OPT_SOCK,
        OPT_DAEMON,
        OPT_LIBVIRT_URI
    };
    static const struct option options[] = {
        {"store", required_argument, NULL, OPT_STORE},
        {"memory-dir", required_argument, NULL, OPT_MEM},
        {"runtime-dir", required_argument, NULL, OPT_RUN},
        {"qemu", required_argument, NULL, OPT_QEMU},
        {"libvirt-uri", required_argument, NULL, OPT_LIBVIRT_URI},
        {"json", no_argument, NULL, OPT_JSON},
        {"socket", required_argument, NULL, OPT_SOCK},
        {"daemon", no_argument, NULL, OPT_DAEMON},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    ctl_t ctl = {0};
    int c;
    /* '+': stop at the command; its own options are parsed by the command */
    while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        switch (c) {
        case OPT_STORE:
            ctl.factory_cfg.store_dir = optarg;
            break;
        case OPT_MEM:
            ctl.factory_cfg.memory_dir = optarg;
            break;
        case OPT_RUN:
            ctl.factory_cfg.runtime_dir = optarg;
            break;
        case OPT_QEMU:
            ctl.factory_cfg.qemu_binary = optarg;
            break;
        case OPT_LIBVIRT_URI:
            ctl.factory_cfg.libvirt_uri = optarg;
            break;
        case OPT_JSON:
            ctl.json = true;
            break;
        case OPT_SOCK:
            ctl.socket_url = optarg;
            break;
        case OPT_DAEMON:
            ctl.via_daemon = true;
            break;
        case OPT_LOG: {
            wp_log_level_t level;
            if (wp_log_parse_level(optarg, &level) < 0)
                return ctl_usage("", "unknown log level '%s'", optarg);
            wp_log_set_level(level);
            break;
        }
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case OPT_VERSION:
            printf("warmpoolctl %s\n", WP_VERSION);
            return 0;
        default:
            fprintf(stderr, "Run 'warmpoolctl --help' for usage.\n");
            return 2;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    /* `warmpoolctl COMMAND --help`: the usage, which covers every command
     * (only right after the command: later words may be a container's) */
    if (optind + 1 < argc &&
        (strcmp(argv[optind + 1], "--help") == 0 || strcmp(argv[optind + 1], "-h") == 0)) {
        fputs(usage_text, stdout);
        return 0;
    }
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* commands run their own getopt over sub_argv; 0 resets GNU getopt */
    static const struct {
        const char *name;
        int (*run)(ctl_t *, int, char **);
    } commands[] = {
        {"template", ctl_template}, {"clone", ctl_clone},   {"vm", ctl_vm},
        {"status", ctl_status},     {"pool", ctl_pool},     {"acquire", ctl_acquire},
        {"release", ctl_release},   {"leases", ctl_leases}, {"health", ctl_health},
        {"agent", ctl_agent},       {"run", ctl_run},       {"exec", ctl_exec},
    };
    int status = -1;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(cmd, commands[i].name) == 0)
            status = commands[i].run(&ctl, sub_argc, sub_argv);
    if (status < 0)
        status = ctl_usage(cmd, "unknown command");
    factory_close(ctl.factory);
    api_client_close(ctl.api);
    return status;
}
