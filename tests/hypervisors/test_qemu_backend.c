/* test_qemu_backend.c - the QEMU backend without a guest: binary lookup,
 * describe and its version cache, and a QEMU that dies at start (a fake
 * binary: a shell script) reported with its exit status and log, leaving
 * nothing behind. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hv.h"
#include "qemu_proc.h"
#include "wp_fs.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/wp-test-hvbe-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    wp_rm_tree(dir, NULL);
}

/* A fake QEMU: answers --version, otherwise prints a QEMU-like error and exits 1. */
static void write_fake(const char *path, const char *version)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "#!/bin/sh\n"
            "if [ \"$1\" = --version ]; then\n"
            "  echo 'QEMU emulator version %s (fake)'; exit 0\n"
            "fi\n"
            "echo \"fd3=$(readlink /proc/$$/fd/3 | cut -c1-7)\"\n"
            "echo 'qemu-system-x86_64: -machine q35: unsupported machine type' >&2\n"
            "exit 1\n",
            version);
    fclose(f);
    chmod(path, 0755);
}

static hv_vm_spec_t spec(const char *runtime)
{
    return (hv_vm_spec_t){
        .id = "fake-vm",
        .runtime_dir = runtime,
        .kernel = "/nonexistent/kernel",
        .vcpus = 1,
        .memory_mib = 64,
        .machine = "q35",
        .cpu_model = "max",
        .memory_file = "/dev/shm/wp-test-never-created.mem",
        .memory_shared = true,
        .vmgenid = "6f1c2a9e-1111-4222-8333-444455556666",
    };
}

Test(qemu_backend, unknown_binary_fails_open, .init = make_dir, .fini = remove_dir)
{
    wp_error_t err = {0};
    hv_backend_config_t cfg = {.qemu_binary = "no-such-qemu-binary"};
    cr_assert_null(hv_backend_open("qemu", &cfg, &err));
    cr_assert_eq(err.code, ENOENT);
    cr_assert(strstr(err.msg, "'no-such-qemu-binary'") != NULL, "%s", err.msg);
    cr_assert_null(hv_backend_open("xen", NULL, &err));
}

Test(qemu_backend, describe_caches_the_version_by_binary_identity, .init = make_dir,
     .fini = remove_dir)
{
    char bin[128];
    snprintf(bin, sizeof(bin), "%s/qemu", dir);
    write_fake(bin, "9.9.1");
    wp_error_t err = {0};
    hv_backend_config_t cfg = {.qemu_binary = bin};
    hv_backend_t *be = hv_backend_open("qemu", &cfg, &err);
    cr_assert_not_null(be, "%s", err.msg);
    cr_assert_str_eq(hv_backend_name(be), "qemu");
    hv_vm_spec_t s = spec("/tmp/x");
    hv_description_t d;
    cr_assert_eq(hv_describe(be, &s, &d, &err), 0, "%s", err.msg);
    cr_assert_str_eq(d.backend, "qemu");
    cr_assert_str_eq(d.binary, bin);
    cr_assert_str_eq(d.version, "9.9.1");
    cr_assert_str_eq(d.machine, "q35");
    cr_assert_str_eq(d.cpu_model, "max");
    cr_assert_eq(d.memory_mib, 64);
    cr_assert_eq(d.vcpus, 1);
    cr_assert_eq(d.n_devices, 4);
    /* a new binary in place (other size) is noticed */
    write_fake(bin, "9.9.10");
    cr_assert_eq(hv_describe(be, &s, &d, &err), 0, "%s", err.msg);
    cr_assert_str_eq(d.version, "9.9.10");
    hv_backend_close(be);
}

Test(qemu_backend, describe_the_installed_qemu)
{
    wp_error_t err = {0};
    hv_backend_t *be = hv_backend_open("qemu", NULL, &err);
    if (be == NULL)
        cr_skip("no qemu-system-x86_64 in PATH: %s", err.msg);
    hv_vm_spec_t s = spec("/tmp/x");
    hv_description_t d;
    cr_assert_eq(hv_describe(be, &s, &d, &err), 0, "%s", err.msg);
    cr_assert_eq(d.binary[0], '/', "absolute: %s", d.binary);
    unsigned a, b, c;
    cr_assert_eq(sscanf(d.version, "%u.%u.%u", &a, &b, &c), 3, "'%s'", d.version);
    hv_backend_close(be);
}

Test(qemu_backend, early_exit_is_reported_with_the_log_and_cleaned_up, .init = make_dir,
     .fini = remove_dir)
{
    char bin[128], runtime[128];
    snprintf(bin, sizeof(bin), "%s/qemu", dir);
    snprintf(runtime, sizeof(runtime), "%s/vms/fake-vm", dir);
    write_fake(bin, "9.9.1");
    wp_error_t err = {0};
    hv_backend_config_t cfg = {.qemu_binary = bin};
    hv_backend_t *be = hv_backend_open("qemu", &cfg, &err);
    cr_assert_not_null(be, "%s", err.msg);
    hv_vm_spec_t s = spec(runtime);
    hv_vm_t *vm = NULL;
    cr_assert_eq(hv_boot(be, &s, &vm, &err), -1);
    cr_assert_null(vm);
    cr_assert(strstr(err.msg, "boot VM 'fake-vm'") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "exited with status 1") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "unsupported machine type") != NULL, "log tail: %s", err.msg);
    cr_assert(strstr(err.msg, "fd3=socket:") != NULL, "QMP listener inherited as fd 3: %s",
              err.msg);
    cr_assert_eq(access(runtime, F_OK), -1, "runtime directory removed");
    hv_backend_close(be);
}

Test(qemu_backend, a_used_runtime_directory_is_refused, .init = make_dir, .fini = remove_dir)
{
    char bin[128], runtime[128], other[160];
    snprintf(bin, sizeof(bin), "%s/qemu", dir);
    snprintf(runtime, sizeof(runtime), "%s/vm", dir);
    snprintf(other, sizeof(other), "%s/something", runtime);
    write_fake(bin, "9.9.1");
    cr_assert_eq(mkdir(runtime, 0755), 0);
    cr_assert_eq(close(open(other, O_CREAT | O_WRONLY, 0600)), 0);
    wp_error_t err = {0};
    hv_backend_config_t cfg = {.qemu_binary = bin};
    hv_backend_t *be = hv_backend_open("qemu", &cfg, &err);
    hv_vm_spec_t s = spec(runtime);
    hv_vm_t *vm = NULL;
    cr_assert_eq(hv_boot(be, &s, &vm, &err), -1);
    cr_assert_eq(err.code, EEXIST, "%s", err.msg);
    cr_assert_eq(access(other, F_OK), 0, "someone else's files are left alone");
    hv_backend_close(be);
}

Test(qemu_backend, restore_refuses_shared_memory_and_missing_state, .init = make_dir,
     .fini = remove_dir)
{
    char bin[128], runtime[128];
    snprintf(bin, sizeof(bin), "%s/qemu", dir);
    snprintf(runtime, sizeof(runtime), "%s/vm", dir);
    write_fake(bin, "9.9.1");
    wp_error_t err = {0};
    hv_backend_config_t cfg = {.qemu_binary = bin};
    hv_backend_t *be = hv_backend_open("qemu", &cfg, &err);
    hv_vm_spec_t s = spec(runtime);
    hv_vm_t *vm = NULL;
    cr_assert_eq(hv_restore(be, &s, "/nonexistent/state", &vm, &err), -1);
    cr_assert_eq(err.code, EINVAL, "a clone writing into the template: %s", err.msg);
    s.memory_shared = false;
    cr_assert_eq(hv_restore(be, &s, "/nonexistent/state", &vm, &err), -1);
    cr_assert_eq(err.code, ENOENT, "%s", err.msg);
    cr_assert(strstr(err.msg, "'/nonexistent/state'") != NULL, "%s", err.msg);
    cr_assert_eq(access(runtime, F_OK), -1);
    hv_backend_close(be);
}

Test(qemu_backend, attach_to_nothing_is_esrch, .init = make_dir, .fini = remove_dir)
{
    wp_error_t err = {0};
    hv_backend_t *be = hv_backend_open("qemu", NULL, &err);
    if (be == NULL)
        cr_skip("no qemu-system-x86_64 in PATH: %s", err.msg);
    hv_vm_t *vm = NULL;
    cr_assert_eq(hv_attach(be, "gone", dir, &vm, &err), -1);
    cr_assert_eq(err.code, ESRCH, "no pidfile: %s", err.msg);
    /* a pidfile naming a live process that is not this VM's QEMU (ourselves) */
    char path[128], text[32];
    snprintf(path, sizeof(path), "%s/qemu.pid", dir);
    snprintf(text, sizeof(text), "%d\n", (int)getpid());
    cr_assert_eq(wp_write_file_atomic(path, text, strlen(text), 0600, &err), 0);
    cr_assert_eq(hv_attach(be, "gone", dir, &vm, &err), -1);
    cr_assert_eq(err.code, ESRCH, "pid reused: %s", err.msg);
    hv_backend_close(be);
}

/* A daemon killed between spawning QEMU and writing its pid file leaves a
 * QEMU only its command line ties to the runtime directory: it is found by
 * that, and nothing else is. */
Test(qemu_backend, a_qemu_without_a_pidfile_is_found_by_its_command_line, .init = make_dir,
     .fini = remove_dir)
{
    char console[128];
    snprintf(console, sizeof(console), "file:%s/console.log", dir);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        /* "; :" keeps sh from exec'ing sleep, so the argument stays */
        execl("/bin/sh", "sh", "-c", "sleep 30; :", console, (char *)NULL);
        _exit(127);
    }
    wp_error_t err = {0};
    pid_t found = 0;
    for (int i = 0; i < 500 && found != child; i++) {
        if (qemu_proc_find_vm(dir, &found, &err) < 0)
            usleep(10000); /* until the child has exec'd */
    }
    cr_assert_eq(found, child, "found %d, want %d: %s", (int)found, (int)child, err.msg);
    char other[128];
    snprintf(other, sizeof(other), "%s/other", dir);
    cr_assert_eq(qemu_proc_find_vm(other, &found, &err), -1);
    cr_assert_eq(err.code, ESRCH);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}
