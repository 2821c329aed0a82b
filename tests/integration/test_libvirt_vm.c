/* test_libvirt_vm.c - what only the libvirt backend has: its clones are
 * libvirt domains (listed while alive, gone after destroy), and a libvirtd
 * restart while clones run loses none of them: the backend reconnects, the
 * handles keep working, and lifecycle events flow again. The factory's own
 * suites (test_clone_vm, test_template_errors_vm) and the daemon's
 * (test_daemon_vm) also run against this backend's template. */
#include <criterion/criterion.h>
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm_helpers.h"
#include "wp_fs.h"
#include "wp_log.h"
#include "wp_time.h"

static void quiet(void *opaque, virErrorPtr e)
{
    (void)opaque, (void)e;
}

static void setup(void)
{
    virSetErrorFunc(NULL, quiet);
    if (getenv("WP_TEST_DEBUG"))
        wp_log_set_level(WP_LOG_DEBUG);
    vm_env_setup();
}

TestSuite(libvirt_vm, .init = setup, .fini = vm_env_teardown, .timeout = 300);

/* 1 running, 0 not running, -1 unknown to libvirt. */
static int domain_state(const char *id)
{
    virConnectPtr c = virConnectOpen("qemu:///system");
    cr_assert_not_null(c, "connect to libvirt: %s", virGetLastErrorMessage());
    char name[128];
    snprintf(name, sizeof(name), "warmpool-%s", id);
    virDomainPtr d = virDomainLookupByName(c, name);
    int ret = -1;
    if (d != NULL) {
        ret = virDomainIsActive(d) == 1;
        virDomainFree(d);
    }
    virConnectClose(c);
    return ret;
}

Test(libvirt_vm, clones_are_libvirt_domains_while_alive_and_gone_after_destroy)
{
    factory_vm_t *a = vm_clone(NULL);
    factory_vm_t *b = vm_clone(NULL);
    char ida[64], idb[64];
    snprintf(ida, sizeof(ida), "%s", a->id);
    snprintf(idb, sizeof(idb), "%s", b->id);
    cr_assert_eq(domain_state(ida), 1, "clone '%s' is not a running libvirt domain", ida);
    cr_assert_eq(domain_state(idb), 1, "clone '%s' is not a running libvirt domain", idb);
    cr_assert_gt(hv_vm_pid(a->vm), 0, "the QEMU pid of a libvirt clone is known");
    char log[160];
    snprintf(log, sizeof(log), "/var/log/libvirt/qemu/warmpool-%s.log", ida);
    cr_assert_eq(access(log, F_OK), 0, "libvirt keeps QEMU's log at '%s'", log);
    vm_destroy_checked(a);
    cr_assert_eq(domain_state(ida), -1, "domain of '%s' still known to libvirt", ida);
    cr_assert_neq(access(log, F_OK), 0, "'%s' left behind: a pool would pile up one per clone",
                  log);
    cr_assert_eq(domain_state(idb), 1, "destroying one clone touched the other");
    vm_destroy_checked(b);
    cr_assert_eq(domain_state(idb), -1);
}

/* The libvirtd the fixture started (its pid file), or 0 if it runs one it did not start. */
static pid_t fixture_libvirtd(char *pidfile, size_t len)
{
    const char *dir = getenv("WP_LIBVIRT_DAEMONS");
    cr_assert_not_null(dir, "WP_LIBVIRT_DAEMONS is set by CTest");
    snprintf(pidfile, len, "%s/libvirtd.pid", dir);
    char *text = wp_read_file(pidfile, 32, NULL, NULL);
    pid_t pid = text ? (pid_t)atoi(text) : 0;
    free(text);
    return pid;
}

static bool wait_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

Test(libvirt_vm, a_libvirtd_restart_loses_no_clone_and_events_flow_again)
{
    char pidfile[600];
    pid_t old = fixture_libvirtd(pidfile, sizeof(pidfile));
    if (old <= 0)
        cr_skip_test("libvirtd was not started by this test run: not restarting someone else's");
    factory_vm_t *vm = vm_clone(NULL);
    pid_t qemu = hv_vm_pid(vm->vm);
    int exit_fd = hv_vm_exit_fd(vm->vm);
    cr_assert_geq(exit_fd, 0);

    cr_assert_eq(kill(old, SIGTERM), 0);
    for (int i = 0; i < 200 && kill(old, 0) == 0; i++)
        usleep(50000);
    cr_assert_neq(kill(old, 0), 0, "libvirtd %d did not stop", (int)old);
    cr_assert(vm_pid_alive(qemu), "QEMU must outlive libvirtd");
    cr_assert(!wait_readable(exit_fd, 0), "a libvirtd stop is not the VM's exit");
    wp_error_t err = {0};
    cr_assert_eq(agent_client_ping(vm->agent, 10000, &err), 0, "agent while libvirtd is away: %s",
                 err.msg);

    char cmd[700];
    snprintf(cmd, sizeof(cmd), "libvirtd -d -p '%s'", pidfile);
    cr_assert_eq(system(cmd), 0, "restart libvirtd");
    hv_vm_status_t st = {0};
    int64_t deadline = wp_now_mono_ns() + 30000000000LL;
    int rc;
    do {
        usleep(100000);
        rc = hv_query(vm->vm, &st, &err);
    } while (rc < 0 && wp_now_mono_ns() < deadline);
    cr_assert_eq(rc, 0, "query after the restart: %s", err.msg);
    cr_assert_eq(st.state, HV_VM_RUNNING, "libvirt lost the clone over its restart");
    cr_assert_eq(domain_state(vm->id), 1);

    /* events again: a QEMU killed behind libvirt's back reaches the exit fd */
    kill(qemu, SIGKILL);
    cr_assert(wait_readable(exit_fd, 20000), "no lifecycle event after the reconnect");
    cr_assert_eq(hv_query(vm->vm, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(st.state, HV_VM_GONE);
    vm_destroy_checked(vm);
}
