/* agent_sys.h - the real system operations behind agent_sys_ops_t (Linux,
 * in the guest). Not used by host unit tests. */
#ifndef AGENT_SYS_H
#define AGENT_SYS_H

#include "agent_handlers.h"

extern const agent_sys_ops_t agent_sys_linux;

/* /proc/sys/kernel/random/boot_id into out (empty string if unreadable). */
void agent_sys_boot_id(char out[40]);

#endif
