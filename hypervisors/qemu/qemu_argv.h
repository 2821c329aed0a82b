/* qemu_argv.h - the QEMU command line for a VM spec, as a pure function of
 * (binary, spec, mode) so that tests can check it without running QEMU.
 *
 * Template and clone get the identical device set (migration requires it);
 * only the memory mapping (share=on for a template, off for a clone) and the
 * incoming-migration flags (-S -incoming defer, clones only) differ. The
 * sockets QEMU serves (QMP, agent channel) are listening sockets we create
 * and pass as inherited fds QEMU_QMP_FD and QEMU_AGENT_FD.
 *
 * Thread-safe: no shared state. */
#ifndef QEMU_ARGV_H
#define QEMU_ARGV_H

#include "hv_backend.h" /* hv_spec_check, HV_AGENT_SOCK */
#include "wp_error.h"

#define QEMU_QMP_FD   3 /* the child's fd numbers for the listening sockets */
#define QEMU_AGENT_FD 4

#define QEMU_QMP_SOCK "qmp.sock" /* names inside spec->runtime_dir */
#define QEMU_LOG      "qemu.log"

typedef enum qemu_mode {
    QEMU_MODE_BOOT = 0,     /* cold boot, running */
    QEMU_MODE_INCOMING = 1, /* paused (-S), waiting for migrate-incoming (-incoming defer) */
} qemu_mode_t;

/* NULL-terminated argv (argv[0] = binary); free with qemu_argv_free. */
char **qemu_argv_build(const char *binary, const hv_vm_spec_t *spec, qemu_mode_t mode,
                       wp_error_t *err);
void qemu_argv_free(char **argv);

static inline void qemu_argv_freep(char ***argv)
{
    qemu_argv_free(*argv);
}
#define _cleanup_argv_ __attribute__((cleanup(qemu_argv_freep)))

/* The device list a VM from spec has, as recorded in hv_description_t. */
void qemu_argv_devices(const hv_vm_spec_t *spec, hv_description_t *out);

#endif
