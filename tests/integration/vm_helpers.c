/* vm_helpers.c - see vm_helpers.h. */
#include "vm_helpers.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wp_time.h"

vm_env_t vm_env;

void vm_env_setup(void)
{
    const char *root = getenv("WP_VM_ROOT");
    cr_assert_not_null(root, "WP_VM_ROOT is not set: run the VM suites through ctest");
    snprintf(vm_env.root, sizeof(vm_env.root), "%s", root);
    char store[600], mem[600], run[600];
    snprintf(store, sizeof(store), "%s/store", root);
    snprintf(mem, sizeof(mem), "%s/mem", root);
    snprintf(run, sizeof(run), "%s/run", root);
    factory_config_t cfg = {.store_dir = store, .memory_dir = mem, .runtime_dir = run};
    wp_error_t err = {0};
    vm_env.factory = factory_open(&cfg, &err);
    cr_assert_not_null(vm_env.factory, "%s", err.msg);
    vm_env.small = factory_template_open(vm_env.factory, "small", &err);
    cr_assert_not_null(vm_env.small, "%s", err.msg);
}

void vm_env_teardown(void)
{
    for (int i = 0; i < VM_MAX_TRACKED; i++) {
        if (vm_env.vms[i] != NULL) {
            factory_vm_destroy(vm_env.vms[i], NULL);
            vm_env.vms[i] = NULL;
        }
    }
    factory_template_close(vm_env.small);
    factory_close(vm_env.factory);
    vm_env.small = NULL;
    vm_env.factory = NULL;
}

factory_vm_t *vm_clone(const factory_clone_options_t *opt)
{
    int slot = -1;
    for (int i = 0; i < VM_MAX_TRACKED && slot < 0; i++)
        if (vm_env.vms[i] == NULL)
            slot = i;
    cr_assert_geq(slot, 0, "too many clones in one test");
    wp_error_t err = {0};
    factory_vm_t *vm = NULL;
    int64_t t0 = wp_now_mono_ns();
    cr_assert_eq(factory_clone(vm_env.factory, vm_env.small, opt, &vm, &err), 0, "%s", err.msg);
    vm_env.vms[slot] = vm;
    double s = wp_ms_between(t0, wp_now_mono_ns()) / 1000.0;
    cr_assert_lt(s, VM_CLONE_BUDGET_S, VM_SLOW_CLONE_HINT, s, VM_CLONE_BUDGET_S);
    return vm;
}

bool vm_pid_alive(pid_t pid)
{
    return kill(pid, 0) == 0 || errno != ESRCH;
}

void vm_destroy_checked(factory_vm_t *vm)
{
    for (int i = 0; i < VM_MAX_TRACKED; i++)
        if (vm_env.vms[i] == vm)
            vm_env.vms[i] = NULL;
    pid_t pid = hv_vm_pid(vm->vm);
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", hv_vm_runtime_dir(vm->vm));
    wp_error_t err = {0};
    cr_assert_eq(factory_vm_destroy(vm, &err), 0, "%s", err.msg);
    struct stat st;
    cr_assert_eq(stat(dir, &st), -1, "runtime dir '%s' is still there", dir);
    cr_assert(!vm_pid_alive(pid), "QEMU %d is still running", (int)pid);
}
