/* agent_crun.h - driving crun: its command lines, the bundle files the
 * agent writes for it (config.json, process.json), the pid files it writes
 * back and the console socket that hands over a pty master.
 *
 * crun create/start/exec/kill/pause/resume/update/delete are short, so
 * agent_crun_run runs crun and waits for that one pid (waitpid on it, never
 * waitpid(-1)) on the loop's thread: the loop pauses for the duration of one
 * crun command, and the agent's reaper (agent_server_reap) cannot steal
 * crun's exit status because crun is reaped here before the loop runs
 * again. Single-threaded (the agent's loop). */
#ifndef AGENT_CRUN_H
#define AGENT_CRUN_H

#include <stdbool.h>   /* bool */
#include <sys/types.h> /* pid_t */

#include "wp_error.h"

/* where the guest image installs crun */
#define AGENT_CRUN_BIN "/usr/bin/crun"

typedef struct agent_crun {
    const char *bin;  /* the crun binary */
    const char *root; /* crun --root: its state directory */
} agent_crun_t;

/* Run `bin --root R --log LOG args...` (args NULL-terminated, args[0] the
 * command) with stdio[0..2] as its fds 0, 1, 2 (-1: /dev/null), its
 * address layout not randomized (ADDR_NO_RANDOMIZE), and wait for it. A nonzero exit fails with EIO
 * and the last line crun logged. */
int agent_crun_run(const agent_crun_t *c, const char *log, const char *const *args,
                   const int stdio[3], wp_error_t *err);

/* The OCI spec text with process.terminal set to `terminal`,
 * linux.cgroupsPath "/warmpool/<id>" and, when it has none,
 * linux.personality {"domain": "LINUX"} (the container's address layout
 * random again, see agent_crun_run), as a malloc'd string the caller
 * frees; *poststart_hooks says whether hooks.poststart lists any. EINVAL:
 * not JSON, not an object, or no "process" object. */
char *agent_spec_prepare(const char *json, const char *id, bool terminal, bool *poststart_hooks,
                         wp_error_t *err);

/* Start a created container the way `crun start` does, without running
 * crun: its init waits, blocked, to read one byte from the FIFO
 * <root>/<id>/exec.fifo (crun's state directory; runc has the same
 * handshake); open it for writing, unlink it, write the byte. Only for a
 * spec without poststart hooks (crun start runs those) and no notify
 * socket (the agent never sets one). Why: each crun command is one exec of
 * a dynamically linked binary, ~0.1 s under TCG, and this is the one on
 * the path between "created" and the process running. ENXIO: no reader,
 * the init died; ENOENT: no FIFO (not created, or started already). */
int agent_crun_start_direct(const agent_crun_t *c, const char *id, wp_error_t *err);
/* The same for an exec's process object (terminal set). */
char *agent_process_prepare(const char *json, bool terminal, wp_error_t *err);

/* The pid crun wrote to path. */
int agent_read_pid(const char *path, pid_t *out, wp_error_t *err);

/* A unix socket listening at path (replacing a stale one) for crun's
 * --console-socket; returns the fd (close-on-exec). */
int agent_console_listen(const char *path, wp_error_t *err);
/* After crun returned: accept its connection on lfd and take the pty master
 * it sent (SCM_RIGHTS), non-blocking and close-on-exec. */
int agent_console_receive(int lfd, wp_error_t *err);

#endif
