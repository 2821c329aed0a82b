/* agent_init.h - what the agent does as PID 1 before it serves: mount the
 * kernel filesystems crun needs, load the modules the image lists, read its
 * options from the kernel command line. Runs once, on the main thread. */
#ifndef AGENT_INIT_H
#define AGENT_INIT_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */

#include "wp_error.h"

#define AGENT_MODULES_LIST "/etc/warmpool/modules"
#define AGENT_CGROUP_ROOT  "/sys/fs/cgroup"
#define AGENT_RUN_DIR      "/run/warmpool"

/* The controllers a container's cgroup gets, in the order they are written
 * (those the kernel has; crun fails on a spec limit whose controller is off). */
#define AGENT_CGROUP_CONTROLLERS "cpu", "io", "memory", "pids"

typedef struct agent_options {
    bool vsock;          /* warmpool.transport=vsock (default serial) */
    unsigned vsock_port; /* warmpool.vsock_port=N (default 1024) */
} agent_options_t;

/* Mount proc, sys, devtmpfs, /run, /tmp, cgroup2 on /sys/fs/cgroup, a
 * private devpts on /dev/pts, /dev/shm and /dev/mqueue; make the /dev links
 * (agent_init_dev_links), /run/warmpool, and enable the container cgroup
 * controllers (agent_cgroup_enable); give PID 1 a console. A filesystem
 * already mounted is fine. Does not mount the 9p share: a template is saved
 * after boot and QEMU refuses to migrate once the guest has attached it. */
int agent_init_mounts(wp_error_t *err);

/* In directory `dev`: ptmx -> pts/ptmx (replacing devtmpfs' node, so every
 * pty comes from the private devpts), fd -> /proc/self/fd, stdin, stdout and
 * stderr -> /proc/self/fd/0, 1, 2. Idempotent: a link already right is kept,
 * anything else at those names is replaced. */
int agent_init_dev_links(const char *dev, wp_error_t *err);

/* The text for cgroup.subtree_control: "+name" for each of
 * AGENT_CGROUP_CONTROLLERS that `available` (cgroup.controllers: names
 * separated by blanks) lists as a whole word, space-separated, in that
 * order; "" when none is there. Pure. Fails with ENOSPC when `len` is short. */
int agent_cgroup_subtree_line(const char *available, char *out, size_t len, wp_error_t *err);

/* In the cgroup2 directory `dir`: read cgroup.controllers and write the line
 * above to cgroup.subtree_control (nothing when it is empty). For `dir` =
 * the root only: below the root, cgroup v2 forbids controllers in the
 * subtree of a cgroup that holds processes, and the agent stays in the root. */
int agent_cgroup_enable(const char *dir, wp_error_t *err);

/* Put the file `bin` on a read-only mount, the path unchanged: copy it
 * into a ramfs mounted at `dir`, remount that read-only and bind the copy
 * over `bin`. Nothing to do when `bin` already is on a read-only mount.
 * Why: crun copies itself into a sealed memfd and re-executes on every
 * command (its guard against CVE-2019-5736, a container overwriting the
 * runtime through /proc/PID/exe) unless its binary is on a read-only
 * mount, where that guard holds without the copy; each crun command then
 * costs one exec instead of two. A ramfs, not a tmpfs: crun takes any
 * shmem file for an unsealed memfd whatever the mount says. */
int agent_init_readonly_copy(const char *bin, const char *dir, wp_error_t *err);

/* finit_module() every path listed in `list`, in order. A module already
 * loaded is fine; any other failure is reported and the rest still load. */
int agent_init_modules(const char *list, wp_error_t *err);

/* Parse the kernel command line text. Unknown warmpool.* keys are errors. */
int agent_parse_cmdline(const char *cmdline, agent_options_t *out, wp_error_t *err);

#endif
