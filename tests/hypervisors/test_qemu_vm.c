/* test_qemu_vm.c - the QEMU backend with a real QEMU and kernel (label "vm"):
 * boot a template, save it, restore two clones with different vmgenids,
 * resume them, query, free + attach, destroy; nothing may be left behind.
 * No guest agent is needed: the kernel (WP_TEST_KERNEL) boots without an
 * initrd and, with panic=0, stays up after failing to mount a root. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv.h"
#include "qemu_internal.h"
#include "wp_fs.h"

static char base[64], mem[96], state[128];

static void setup(void)
{
    snprintf(base, sizeof(base), "/tmp/wp-test-hvvm-%d", (int)getpid());
    snprintf(mem, sizeof(mem), "/dev/shm/wp-test-hvvm-%d.mem", (int)getpid());
    snprintf(state, sizeof(state), "%s/template.state", base);
    if (getenv("WP_TEST_KERNEL") != NULL) /* a skipped test may not reach .fini */
        cr_assert_eq(wp_mkdir_p(base, 0700, NULL), 0);
}

static void teardown(void)
{
    wp_rm_tree(base, NULL);
    unlink(mem);
}

static hv_vm_spec_t spec(const char *kernel, const char *id, char *runtime, size_t len,
                         const char *vmgenid, bool shared)
{
    snprintf(runtime, len, "%s/vms/%s", base, id);
    return (hv_vm_spec_t){
        .id = id,
        .runtime_dir = runtime,
        .kernel = kernel,
        .cmdline = "console=ttyS0 panic=0",
        .vcpus = 1,
        .memory_mib = 256,
        .machine = "q35",
        .cpu_model = "max",
        .memory_file = mem,
        .memory_shared = shared,
        .vmgenid = vmgenid,
        .agent_transport = HV_AGENT_SERIAL,
    };
}

static hv_vm_state_t state_of(hv_vm_t *vm)
{
    wp_error_t err = {0};
    hv_vm_status_t st;
    cr_assert_eq(hv_query(vm, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(st.pid, hv_vm_pid(vm));
    return st.state;
}

static bool alive(pid_t pid)
{
    return kill(pid, 0) == 0;
}

static void log_timings(const char *what, hv_vm_t *vm)
{
    const qemu_timings_t *t = qemu_vm_timings(vm);
    cr_log_info("%s: fork %.1f ms, QMP greeting %.1f ms, setup replies %.1f ms, migrated %.1f ms, "
                "resumed %.1f ms",
                what, wp_ms_between(t->start, t->spawned), wp_ms_between(t->start, t->greeting),
                wp_ms_between(t->start, t->ready),
                t->migrated ? wp_ms_between(t->start, t->migrated) : 0.0,
                t->resumed ? wp_ms_between(t->start, t->resumed) : 0.0);
}

Test(qemu_vm, template_then_two_clones, .init = setup, .fini = teardown, .timeout = 120)
{
    const char *kernel = getenv("WP_TEST_KERNEL");
    if (kernel == NULL || kernel[0] == '\0')
        cr_skip("WP_TEST_KERNEL is not set (path of a bzImage, e.g. a Debian vmlinuz)");
    wp_error_t err = {0};
    hv_backend_t *be = hv_backend_open("qemu", NULL, &err);
    cr_assert_not_null(be, "%s", err.msg);

    char truntime[128];
    hv_vm_spec_t ts = spec(kernel, "tpl", truntime, sizeof(truntime),
                           "11111111-2222-4333-8444-555555555555", true);
    hv_vm_t *tpl = NULL;
    cr_assert_eq(hv_boot(be, &ts, &tpl, &err), 0, "%s", err.msg);
    log_timings("template boot", tpl);
    pid_t tpid = hv_vm_pid(tpl);
    cr_assert(alive(tpid));
    cr_assert_eq(state_of(tpl), HV_VM_RUNNING);
    struct stat st;
    cr_assert_eq(stat(truntime, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
    int64_t t0 = wp_now_mono_ns();
    cr_assert_eq(hv_save_template(tpl, state, &err), 0, "%s", err.msg);
    cr_log_info("template save (stop, migrate, quit, fsync): %.1f ms",
                wp_ms_between(t0, wp_now_mono_ns()));
    cr_assert_eq(stat(state, &st), 0);
    cr_assert_gt(st.st_size, 0);
    cr_assert_lt(st.st_size, 16 << 20, "RAM is not in the state file (%lld bytes)",
                 (long long)st.st_size);
    cr_assert(!alive(tpid), "the template's QEMU has ended");
    cr_assert_eq(state_of(tpl), HV_VM_GONE);
    cr_assert_eq(hv_destroy(tpl, &err), 0, "%s", err.msg);
    cr_assert_eq(access(truntime, F_OK), -1);

    const char *ids[2] = {"clone-a", "clone-b"};
    const char *gens[2] = {"aaaaaaaa-0000-4000-8000-000000000001",
                           "bbbbbbbb-0000-4000-8000-000000000002"};
    char runtime[2][128];
    hv_vm_t *clone[2];
    pid_t pid[2];
    for (int i = 0; i < 2; i++) {
        hv_vm_spec_t cs = spec(kernel, ids[i], runtime[i], sizeof(runtime[i]), gens[i], false);
        cr_assert_eq(hv_restore(be, &cs, state, &clone[i], &err), 0, "%s", err.msg);
        pid[i] = hv_vm_pid(clone[i]);
        cr_assert_eq(state_of(clone[i]), HV_VM_PAUSED, "left paused after the restore");
        cr_assert_eq(hv_resume(clone[i], &err), 0, "%s", err.msg);
        log_timings(ids[i], clone[i]);
        cr_assert_eq(state_of(clone[i]), HV_VM_RUNNING);
        char want[200];
        snprintf(want, sizeof(want), "unix:%s/agent.sock", runtime[i]);
        cr_assert_str_eq(hv_vm_agent_endpoint(clone[i]), want);
    }
    cr_assert_neq(pid[0], pid[1]);

    /* hand a clone over and take it back, as a CLI would */
    hv_vm_free(clone[1]);
    cr_assert(alive(pid[1]), "free leaves QEMU running");
    cr_assert_eq(hv_attach(be, ids[1], runtime[1], &clone[1], &err), 0, "%s", err.msg);
    cr_assert_eq(hv_vm_pid(clone[1]), pid[1]);
    cr_assert_eq(state_of(clone[1]), HV_VM_RUNNING);

    for (int i = 0; i < 2; i++) {
        cr_assert_eq(hv_destroy(clone[i], &err), 0, "%s", err.msg);
        cr_assert_eq(access(runtime[i], F_OK), -1, "runtime directory '%s' removed", runtime[i]);
        cr_assert(!alive(pid[i]), "QEMU pid %d is gone", (int)pid[i]);
    }
    hv_backend_close(be);
}
