/* test_clone_vm.c - clones of a real template under QEMU TCG: every agent
 * answers, RNG state is never shared, clocks are right, and destroy leaves
 * nothing. The negative controls prove each mechanism (new vmgenid, agent
 * reseed) works on its own, and that without either, clones DO share
 * their RNG output, so the positive tests are not passing by luck. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "vm_helpers.h"
#include "wp_time.h"

#define SAMPLE 16

TestSuite(clone_vm, .init = vm_env_setup, .fini = vm_env_teardown, .timeout = 300);

static void take_sample(factory_vm_t *vm, unsigned char out[SAMPLE])
{
    wp_error_t err = {0};
    cr_assert_eq(agent_client_random_sample(vm->agent, out, SAMPLE, 10000, &err), 0, "%s", err.msg);
}

/* Clone n VMs with opt, all alive at once; return how many sample pairs
 * were identical. Each clone is sampled as soon as it is up: the guest
 * kernel reseeds its CRNG on a timer of its own (every uptime/2 s early on),
 * and the negative control must compare clones before that timer fires. */
static int identical_pairs(int n, const factory_clone_options_t *opt)
{
    factory_vm_t *vms[8];
    unsigned char samples[8][SAMPLE];
    for (int i = 0; i < n; i++) {
        vms[i] = vm_clone(opt);
        take_sample(vms[i], samples[i]);
    }
    int same = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            same += memcmp(samples[i], samples[j], SAMPLE) == 0;
    for (int i = 0; i < n; i++)
        vm_destroy_checked(vms[i]);
    return same;
}

Test(clone_vm, five_clones_answer_with_distinct_samples_and_a_correct_clock)
{
    factory_vm_t *vms[5];
    unsigned char samples[5][SAMPLE];
    for (int i = 0; i < 5; i++)
        vms[i] = vm_clone(NULL);
    for (int i = 0; i < 5; i++) {
        wp_error_t err = {0};
        cr_assert_eq(agent_client_ping(vms[i]->agent, 10000, &err), 0, "%s", err.msg);
        take_sample(vms[i], samples[i]);
        Warmpool__Agent__V1__Response *info = NULL;
        int64_t before = wp_now_real_ns();
        cr_assert_eq(agent_client_info(vms[i]->agent, &info, 10000, &err), 0, "%s", err.msg);
        int64_t after = wp_now_real_ns();
        int64_t guest = info->info->realtime_ns;
        warmpool__agent__v1__response__free_unpacked(info, NULL);
        cr_assert(guest >= before - 1000000000LL && guest <= after + 1000000000LL,
                  "clone %d clock is off by %.3f s", i, (double)(guest - after) / 1e9);
        cr_assert_str_neq(vms[i]->vmgenid, vms[(i + 1) % 5]->vmgenid);
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            cr_assert(memcmp(samples[i], samples[j], SAMPLE) != 0,
                      "clones %d and %d returned the same random bytes", i, j);
    for (int i = 0; i < 5; i++)
        vm_destroy_checked(vms[i]);
}

Test(clone_vm, negative_control_without_new_vmgenid_and_reseed_clones_share_rng)
{
    factory_clone_options_t opt = {.test_keep_vmgenid = true, .test_skip_reseed = true};
    cr_assert_eq(identical_pairs(3, &opt), 3,
                 "clones with the template's identity and no reseed should print the same bytes");
}

Test(clone_vm, new_vmgenid_alone_makes_samples_distinct)
{
    factory_clone_options_t opt = {.test_skip_reseed = true};
    cr_assert_eq(identical_pairs(3, &opt), 0);
}

Test(clone_vm, agent_reseed_alone_makes_samples_distinct)
{
    factory_clone_options_t opt = {.test_keep_vmgenid = true};
    cr_assert_eq(identical_pairs(3, &opt), 0);
}

Test(clone_vm, destroy_leaves_no_process_socket_or_file)
{
    factory_vm_t *vm = vm_clone(NULL);
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", hv_vm_runtime_dir(vm->vm));
    cr_assert(vm_pid_alive(hv_vm_pid(vm->vm)));
    vm_destroy_checked(vm);
    wp_error_t err = {0};
    char **ids = NULL;
    size_t n = 0;
    cr_assert_eq(factory_vm_list(vm_env.factory, &ids, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 0, "VM directories left: %s", n ? ids[0] : "");
    factory_names_free(ids, n);
}

Test(clone_vm, released_clone_is_destroyed_by_id)
{
    factory_vm_t *vm = vm_clone(NULL);
    pid_t pid = hv_vm_pid(vm->vm);
    char id[64];
    snprintf(id, sizeof(id), "%s", vm->id);
    for (int i = 0; i < VM_MAX_TRACKED; i++)
        if (vm_env.vms[i] == vm)
            vm_env.vms[i] = NULL;
    factory_vm_release(vm); /* as `warmpoolctl clone --keep` does */
    cr_assert(vm_pid_alive(pid), "release must leave the VM running");
    wp_error_t err = {0};
    int ret = factory_vm_destroy_by_id(vm_env.factory, id, &err);
    if (ret < 0)
        kill(pid, SIGKILL); /* never leak the VM this test started */
    cr_assert_eq(ret, 0, "%s", err.msg);
    cr_assert(!vm_pid_alive(pid));
}

Test(clone_vm, agent_serves_each_new_host_after_a_disconnect)
{
    factory_vm_t *vm = vm_clone(NULL);
    for (int round = 0; round < 3; round++) {
        agent_client_close(vm->agent);
        wp_error_t err = {0};
        vm->agent = agent_client_connect(hv_vm_agent_endpoint(vm->vm), &err);
        cr_assert_not_null(vm->agent, "round %d: %s", round, err.msg);
        /* the guest may or may not have seen the hang-up before the new
         * host came (QEMU sends both port events); either way it serves */
        cr_assert_eq(agent_client_ping(vm->agent, 10000, &err), 0, "round %d: %s", round, err.msg);
        unsigned char sample[SAMPLE];
        take_sample(vm, sample);
    }
    vm_destroy_checked(vm);
}
