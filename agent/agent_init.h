/* agent_init.h - what the agent does as PID 1 before it serves: mount the
 * kernel filesystems, load the modules the image lists, read its options
 * from the kernel command line. Runs once, on the main thread. */
#ifndef AGENT_INIT_H
#define AGENT_INIT_H

#include <stdbool.h> /* bool */

#include "wp_error.h"

#define AGENT_MODULES_LIST "/etc/warmpool/modules"

typedef struct agent_options {
    bool vsock;         /* warmpool.transport=vsock (default serial) */
    unsigned vsock_port; /* warmpool.vsock_port=N (default 1024) */
} agent_options_t;

/* Mount proc, sys, devtmpfs, /run and /tmp; give PID 1 a console. */
int agent_init_mounts(wp_error_t *err);

/* finit_module() every path listed in `list`, in order. A module already
 * loaded is fine; any other failure is reported and the rest still load. */
int agent_init_modules(const char *list, wp_error_t *err);

/* Parse the kernel command line text. Unknown warmpool.* keys are errors. */
int agent_parse_cmdline(const char *cmdline, agent_options_t *out, wp_error_t *err);

#endif
