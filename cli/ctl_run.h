/* ctl_run.h - `warmpoolctl run`: its arguments and exit status, kept apart
 * from the flow (ctl_run.c) so that tests can reach them without a VM. */
#ifndef CTL_RUN_H
#define CTL_RUN_H

#include <limits.h>  /* PATH_MAX */
#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */

#include "agent_client_containers.h"

/* warmpoolctl's own failures in `run` (no VM, create failed, lost agent):
 * 125, as docker run, so that they differ from the container's statuses. */
#define CTL_RUN_FAILED 125

typedef struct ctl_run_args {
    const char *template_name; /* NULL with endpoint */
    /* --endpoint ENDPOINT --share DIR instead of TEMPLATE: a VM that is
     * already running (`clone --keep`, a lease held elsewhere), left so */
    const char *endpoint, *share;
    const char *rootfs; /* absolute: a relative --rootfs is made so against the cwd */
    char rootfs_abs[PATH_MAX];
    const char *id; /* NULL: "run-" and 8 random hex digits */
    bool tty;
    bool no_stdin; /* --no-stdin: the process's stdin is /dev/null */
    bool verbose;  /* timings on stderr */
    bool detach;   /* --detach: print where it runs after the start, leave it */
    int argc;      /* the command, >= 1 */
    char **argv;
} ctl_run_args_t;

/* Parse `run TEMPLATE|--endpoint ENDPOINT --share DIR --rootfs DIR [--tty]
 * [--id NAME] [--no-stdin] [--detach] [--verbose] [--] CMD [ARGS...]`
 * (argv[0] is "run"; --detach implies --no-stdin). Options go before
 * CMD; everything from CMD on is the command's. -1 with why (a usage
 * sentence) on error. out points into argv. Uses getopt: not reentrant. */
int ctl_run_parse(int argc, char **argv, ctl_run_args_t *out, char *why, size_t why_len);

/* `exec ENDPOINT CONTAINER [--tty] [--id EXEC] [--no-stdin] [--verbose]
 * [--] CMD [ARGS...]`: a process in a running container (run --detach). */
typedef struct ctl_exec_args {
    const char *endpoint, *container_id;
    const char *exec_id; /* NULL: "exec-" and 8 random hex digits */
    bool tty, no_stdin, verbose;
    int argc;
    char **argv;
} ctl_exec_args_t;

int ctl_exec_parse(int argc, char **argv, ctl_exec_args_t *out, char *why, size_t why_len);

/* The status warmpoolctl exits with for a container's exit: its code, or
 * 128 + signal when killed (0..255). */
int ctl_run_exit_code(const agent_exit_t *e);

/* Whether to stream the caller's stdin: with --tty, or when stdin is not a
 * terminal (a pipe, a file, /dev/null), unless --no-stdin: like docker run
 * -i, without having to ask. */
bool ctl_run_wants_stdin(const ctl_run_args_t *a, bool stdin_is_tty);

#endif
