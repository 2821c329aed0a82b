/* shim_main.c - containerd-shim-warmpool-v2: the containerd runtime v2
 * shim (runtime type io.containerd.warmpool.v2) that runs every task in a
 * VM leased from warmpoold. containerd runs it; see shim_cmd.h. */
#include <stdio.h>  /* fprintf */
#include <string.h> /* strcmp */

#include "shim_cmd.h"
#include "wp_log.h"

static const char USAGE[] =
    "Usage: containerd-shim-warmpool-v2 -namespace NS -address ADDR -publish-binary BIN\n"
    "           -id ID [-bundle DIR] [-debug] start|delete\n"
    "\n"
    "The containerd shim v2 of warmpool (runtime type io.containerd.warmpool.v2): every task\n"
    "runs in a VM leased from warmpoold; the containers of one pod share their sandbox's VM.\n"
    "containerd runs it; it is not meant to be run by hand.\n"
    "\n"
    "  start   start (or find) the sandbox's shim; print its address\n"
    "  delete  clean up after a shim that died (the container's mounts and share, the\n"
    "          VM's lease); print a DeleteResponse\n"
    "\n"
    "Configuration: " SHIM_CONFIG_PATH " (or $" SHIM_CONFIG_ENV "), JSON, keys pool_socket,\n"
    "template, acquire_timeout_s, socket_dir (docs/configuration.md). The template of a\n"
    "sandbox is its annotation " SHIM_TEMPLATE_ANNOTATION ", else the configured one.\n";

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 ||
            strcmp(argv[i], "-help") == 0)
            return fputs(USAGE, stdout), 0;
        else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--version") == 0)
            return printf("containerd-shim-warmpool-v2 %s\n", WP_VERSION), 0;
    shim_args_t a;
    char why[256];
    if (shim_args_parse(argc, argv, &a, why, sizeof(why)) < 0) {
        fprintf(stderr, "containerd-shim-warmpool-v2: %s\n%s", why, USAGE);
        return 2;
    }
    wp_log_set_level(a.debug ? WP_LOG_DEBUG : WP_LOG_INFO);
    shim_config_t cfg;
    wp_error_t err = {0};
    if (shim_config_load(&cfg, &err) < 0) {
        fprintf(stderr, "containerd-shim-warmpool-v2: %s\n", err.msg);
        return 1;
    }
    return strcmp(a.command, "start") == 0 ? shim_cmd_start(&a, &cfg) : shim_cmd_delete(&a, &cfg);
}
