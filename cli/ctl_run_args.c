/* ctl_run_args.c - see ctl_run.h. */
#include "ctl_run.h"

#include <getopt.h> /* getopt_long */
#include <stdio.h>  /* snprintf */
#include <string.h> /* strcmp */
#include <unistd.h> /* getcwd */

#include "agent_share.h"

int ctl_run_parse(int argc, char **argv, ctl_run_args_t *out, char *why, size_t why_len)
{
    static const struct option options[] = {
        {"rootfs", required_argument, NULL, 'r'},
        {"tty", no_argument, NULL, 't'},
        {"id", required_argument, NULL, 'i'},
        {"no-stdin", no_argument, NULL, 'n'},
        {"verbose", no_argument, NULL, 'v'},
        {"endpoint", required_argument, NULL, 'e'},
        {"share", required_argument, NULL, 's'},
        {"detach", no_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    *out = (ctl_run_args_t){0};
    optind = 0; /* GNU getopt: a full reset */
    opterr = 0;
    for (;;) {
        /* '+': stop at the first operand; TEMPLATE is taken and parsing
         * goes on, the next operand is the command */
        int c = getopt_long(argc, argv, "+t", options, NULL);
        if (c == -1) {
            bool dashdash = optind > 0 && optind <= argc && strcmp(argv[optind - 1], "--") == 0;
            if (out->template_name == NULL && out->endpoint == NULL && optind < argc && !dashdash) {
                out->template_name = argv[optind++];
                continue;
            }
            break;
        }
        switch (c) {
        case 'r':
            out->rootfs = optarg;
            break;
        case 't':
            out->tty = true;
            break;
        case 'i':
            out->id = optarg;
            break;
        case 'n':
            out->no_stdin = true;
            break;
        case 'v':
            out->verbose = true;
            break;
        case 'e':
            out->endpoint = optarg;
            break;
        case 'd':
            out->detach = true;
            out->no_stdin = true; /* nobody is left to feed it */
            break;
        case 's':
            out->share = optarg;
            break;
        default:
            snprintf(why, why_len, "unknown option or missing value in '%s'", argv[optind - 1]);
            return -1;
        }
    }
    if (out->endpoint != NULL && (out->template_name != NULL || out->share == NULL)) {
        snprintf(why, why_len, "--endpoint takes the place of TEMPLATE and needs --share DIR");
        return -1;
    }
    if (out->share != NULL && out->endpoint == NULL) {
        snprintf(why, why_len, "--share goes with --endpoint");
        return -1;
    }
    if (out->template_name == NULL && out->endpoint == NULL) {
        snprintf(why, why_len,
                 "expected 'run TEMPLATE --rootfs DIR [--tty] [--id NAME] [--] CMD "
                 "[ARGS...]'");
        return -1;
    }
    if (out->rootfs == NULL) {
        snprintf(why, why_len, "--rootfs DIR is required");
        return -1;
    }
    if (out->rootfs[0] != '/') {
        /* as any command takes a path; not resolved further, so that the
         * share's rules (no symlink, no "..") still see what was named */
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) == NULL ||
            (size_t)snprintf(out->rootfs_abs, sizeof(out->rootfs_abs), "%s/%s", cwd,
                             strncmp(out->rootfs, "./", 2) == 0 ? out->rootfs + 2 : out->rootfs) >=
                sizeof(out->rootfs_abs)) {
            snprintf(why, why_len, "--rootfs '%s': the path is too long", out->rootfs);
            return -1;
        }
        out->rootfs = out->rootfs_abs;
    }
    if (out->id != NULL && !agent_share_valid_id(out->id)) {
        snprintf(why, why_len, "--id '%s' is not 1..%d of [A-Za-z0-9_.-]", out->id, AGENT_ID_MAX);
        return -1;
    }
    if (optind >= argc) {
        snprintf(why, why_len, "expected a command after TEMPLATE and the options");
        return -1;
    }
    if (out->tty && out->no_stdin) {
        snprintf(why, why_len, "--tty goes with neither --no-stdin nor --detach");
        return -1;
    }
    out->argc = argc - optind;
    out->argv = argv + optind;
    return 0;
}

int ctl_exec_parse(int argc, char **argv, ctl_exec_args_t *out, char *why, size_t why_len)
{
    static const struct option options[] = {
        {"tty", no_argument, NULL, 't'},
        {"id", required_argument, NULL, 'i'},
        {"no-stdin", no_argument, NULL, 'n'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    static const char shape[] =
        "expected 'exec ENDPOINT CONTAINER [--tty] [--id EXEC] [--no-stdin] [--] CMD [ARGS...]'";
    *out = (ctl_exec_args_t){0};
    optind = 0;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "+t", options, NULL);
        if (c == -1) {
            bool dashdash = optind > 0 && optind <= argc && strcmp(argv[optind - 1], "--") == 0;
            if (out->container_id == NULL && optind < argc && !dashdash) {
                if (out->endpoint == NULL)
                    out->endpoint = argv[optind++];
                else
                    out->container_id = argv[optind++];
                continue;
            }
            break;
        }
        switch (c) {
        case 't':
            out->tty = true;
            break;
        case 'i':
            out->exec_id = optarg;
            break;
        case 'n':
            out->no_stdin = true;
            break;
        case 'v':
            out->verbose = true;
            break;
        default:
            snprintf(why, why_len, "unknown option or missing value in '%s'", argv[optind - 1]);
            return -1;
        }
    }
    if (out->container_id == NULL || optind >= argc) {
        snprintf(why, why_len, "%s", shape);
        return -1;
    }
    if (!agent_share_valid_id(out->container_id) ||
        (out->exec_id != NULL && !agent_share_valid_id(out->exec_id))) {
        snprintf(why, why_len, "ids are 1..%d of [A-Za-z0-9_.-]", AGENT_ID_MAX);
        return -1;
    }
    if (out->tty && out->no_stdin) {
        snprintf(why, why_len, "--tty and --no-stdin do not go together");
        return -1;
    }
    out->argc = argc - optind;
    out->argv = argv + optind;
    return 0;
}

int ctl_run_exit_code(const agent_exit_t *e)
{
    if (e->signal != 0)
        return 128 + (int)(e->signal & 0x7f);
    return e->exit_status > 255 ? 255 : (int)e->exit_status;
}

bool ctl_run_wants_stdin(const ctl_run_args_t *a, bool stdin_is_tty)
{
    if (a->no_stdin)
        return false;
    return a->tty || !stdin_is_tty;
}
