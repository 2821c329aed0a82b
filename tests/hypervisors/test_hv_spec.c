/* test_hv_spec.c - what every backend shares (hv_spec.c): the runtime
 * directory (created 0700, a used one refused), the backend mark written
 * before a VM starts and read back to find a half-started VM's backend, and
 * the agent endpoint record. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv_backend.h"
#include "wp_fs.h"

static char base[64];

static void setup(void)
{
    snprintf(base, sizeof(base), "/tmp/test_hv_spec.XXXXXX");
    cr_assert_not_null(mkdtemp(base));
}

static void teardown(void)
{
    wp_rm_tree(base, NULL);
}

TestSuite(hv_spec, .init = setup, .fini = teardown);

Test(hv_spec, runtime_dir_is_private_and_a_used_one_is_refused)
{
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/vms/a", base);
    wp_error_t err = {0};
    cr_assert_eq(hv_runtime_dir_create(dir, &err), 0, "%s", err.msg);
    struct stat st;
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
    cr_assert_eq(hv_runtime_dir_mark(dir, "libvirt", &err), 0, "%s", err.msg);
    cr_assert_eq(hv_runtime_dir_create(dir, &err), -1, "a used runtime directory was accepted");
    cr_assert_eq(err.code, EEXIST);
}

Test(hv_spec, backend_mark_reads_back_and_its_absence_is_enoent)
{
    char dir[128], name[16] = "unchanged";
    snprintf(dir, sizeof(dir), "%s/b", base);
    wp_error_t err = {0};
    cr_assert_eq(hv_runtime_dir_create(dir, &err), 0, "%s", err.msg);
    cr_assert_eq(hv_runtime_dir_backend(dir, name, sizeof(name), &err), -1);
    cr_assert_eq(err.code, ENOENT);
    cr_assert_str_eq(name, "unchanged");
    cr_assert_eq(hv_runtime_dir_mark(dir, "libvirt", &err), 0, "%s", err.msg);
    cr_assert_eq(hv_runtime_dir_backend(dir, name, sizeof(name), &err), 0, "%s", err.msg);
    cr_assert_str_eq(name, "libvirt");
    cr_assert_eq(hv_runtime_dir_mark(dir, "qemu", &err), 0, "%s", err.msg);
    cr_assert_eq(hv_runtime_dir_backend(dir, name, sizeof(name), &err), 0, "%s", err.msg);
    cr_assert_str_eq(name, "qemu", "a second mark must replace the first, not append");
}

Test(hv_spec, endpoint_record_round_trips_and_defaults_to_the_agent_socket)
{
    char dir[128], ep[256];
    snprintf(dir, sizeof(dir), "%s/c", base);
    wp_error_t err = {0};
    cr_assert_eq(hv_runtime_dir_create(dir, &err), 0, "%s", err.msg);
    hv_endpoint_read(dir, ep, sizeof(ep));
    char want[256];
    snprintf(want, sizeof(want), "unix:%s/%s", dir, HV_AGENT_SOCK);
    cr_assert_str_eq(ep, want);
    cr_assert_eq(hv_endpoint_write(dir, "vsock:7:1024", &err), 0, "%s", err.msg);
    hv_endpoint_read(dir, ep, sizeof(ep));
    cr_assert_str_eq(ep, "vsock:7:1024");
}
