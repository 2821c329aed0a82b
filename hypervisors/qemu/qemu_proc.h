/* qemu_proc.h - the QEMU process: listening sockets it inherits, spawn,
 * pidfile, exit detection and waiting by pidfd (so waiting has a deadline and
 * works for a QEMU another process started), SIGKILL, and its log's tail for
 * error messages.
 *
 * A qemu_proc_t belongs to one VM handle (one thread at a time). Functions
 * here keep no other state. */
#ifndef QEMU_PROC_H
#define QEMU_PROC_H

#include <stdbool.h>   /* bool */
#include <stddef.h>    /* size_t */
#include <stdint.h>    /* int64_t */
#include <sys/types.h> /* pid_t */

#include "wp_error.h"

typedef struct qemu_proc {
    pid_t pid;     /* 0 when none */
    int pidfd;     /* -1 when none; readable once the process has exited */
    bool is_child; /* we spawned it, so waitpid reaps it */
    bool exited;
    int status; /* waitpid status, when is_child && exited */
} qemu_proc_t;

#define QEMU_PROC_INIT                                                                             \
    {                                                                                              \
        .pid = 0, .pidfd = -1                                                                      \
    }

/* A listening unix stream socket at path (CLOEXEC), for QEMU to inherit. */
int qemu_listen_unix(const char *path, wp_error_t *err);

/* posix_spawn argv (argv[0] an absolute path) in a new session. The child gets
 * stdin from /dev/null, stdout and stderr on log_fd, qmp_fd and agent_fd
 * (-1: none) as QEMU_QMP_FD and QEMU_AGENT_FD, and no other fd. */
int qemu_proc_spawn(qemu_proc_t *p, char *const argv[], int qmp_fd, int agent_fd, int log_fd,
                    wp_error_t *err);

/* Take hold of a running QEMU we did not start. ESRCH when it is gone. */
int qemu_proc_adopt(qemu_proc_t *p, pid_t pid, wp_error_t *err);

/* Has it exited? Never blocks; reaps our child. */
bool qemu_proc_exited(qemu_proc_t *p);

/* Wait for exit until the deadline (poll on the pidfd). 0 once gone, -1 on timeout. */
int qemu_proc_wait(qemu_proc_t *p, int64_t deadline_ns);

/* SIGKILL through the pidfd (no pid-reuse race). */
void qemu_proc_kill(qemu_proc_t *p);

/* Close the pidfd; the process (if any) keeps running. */
void qemu_proc_release(qemu_proc_t *p);

/* "exited with status 1", "killed by signal 9", "has exited" (not our child). */
void qemu_proc_exit_reason(const qemu_proc_t *p, char *out, size_t len);

int qemu_pidfile_write(const char *runtime_dir, pid_t pid, wp_error_t *err);
int qemu_pidfile_read(const char *runtime_dir, pid_t *pid, wp_error_t *err);

/* Is pid a QEMU started for runtime_dir (its command line names the console log there)? */
bool qemu_proc_is_vm(pid_t pid, const char *runtime_dir);
/* The QEMU started for runtime_dir, found by its command line (/proc): for
 * a daemon killed between spawning QEMU and writing its pid file. 0 and
 * *pid, or -1 (ESRCH: none runs). */
int qemu_proc_find_vm(const char *runtime_dir, pid_t *pid, wp_error_t *err);

/* The last lines of runtime_dir/qemu.log on one line ("a | b | c"), or "". */
void qemu_log_tail(const char *runtime_dir, char *out, size_t len);

#endif
