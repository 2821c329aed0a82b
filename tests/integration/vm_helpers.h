/* vm_helpers.h - shared plumbing for the VM suites: the factory on the
 * fixture's test root, and a register of the clones a test started so that
 * the suite's fini destroys exactly those, even when an assertion failed. */
#ifndef VM_HELPERS_H
#define VM_HELPERS_H

#include <stdbool.h>
#include <sys/types.h>

#include "factory.h"

#define VM_MAX_TRACKED 16

typedef struct vm_env {
    char root[512];
    factory_t *factory;
    factory_template_t *small; /* the fixture's template */
    factory_vm_t *vms[VM_MAX_TRACKED];
} vm_env_t;

extern vm_env_t vm_env;

/* Criterion .init / .fini for every VM suite. */
void vm_env_setup(void);
void vm_env_teardown(void);

/* A clone takes 0.2-1 s under TCG on either backend. One that takes this
 * long is not slow but broken, and the suite says why at once instead of
 * running into its ctest timeout with a clone per test. */
#define VM_CLONE_BUDGET_S 30.0
#define VM_SLOW_CLONE_HINT                                                                         \
    "a clone took %.1f s, over the suites' budget of %.0f s: through libvirt this is libvirtd "    \
    "re-probing QEMU before every domain because its QEMU user cannot open /dev/kvm (run "         \
    "deploy/host/kvm-device.sh; docs/operations.md, 'Every libvirt VM takes a minute to start')"

/* Clone the shared template and register the clone; asserts success and
 * that it took less than VM_CLONE_BUDGET_S. */
factory_vm_t *vm_clone(const factory_clone_options_t *opt);
/* Destroy a registered clone and check nothing of it is left. */
void vm_destroy_checked(factory_vm_t *vm);

/* True while a process with that pid exists. */
bool vm_pid_alive(pid_t pid);

#endif
