/* test_validate.c - a template that no longer matches this host fails with
 * one clear sentence, both at open (full check) and at clone time (the
 * cheap stat re-check). Templates are assembled by hand here; the QEMU
 * backend is only asked to describe itself (no VM is started). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "factory_internal.h"
#include "wp_fs.h"

static char root[64];
static char store[128], mem[128], run[128];
static factory_t *factory;

static void write_file(const char *path, const char *content, size_t len)
{
    wp_error_t err = {0};
    cr_assert_eq(wp_write_file_atomic(path, content, len, 0644, &err), 0, "%s", err.msg);
}

static void record(const char *dir, const char *name, factory_file_record_t *rec)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    wp_error_t err = {0};
    strcpy(rec->file, name);
    cr_assert_eq(factory_sha256_file(path, rec->sha256, &rec->size, &err), 0, "%s", err.msg);
}

/* Write a complete template 'small' whose manifest matches this host, with
 * `mutate` applied to the manifest before it is written. */
static void make_template(void (*mutate)(factory_manifest_t *m))
{
    char dir[256], path[512];
    snprintf(dir, sizeof(dir), "%s/small", store);
    wp_error_t err = {0};
    cr_assert_eq(wp_mkdir_p(dir, 0755, &err), 0, "%s", err.msg);
    snprintf(path, sizeof(path), "%s/kernel", dir);
    write_file(path, "kernel bytes", 12);
    snprintf(path, sizeof(path), "%s/initrd", dir);
    write_file(path, "initrd bytes", 12);
    snprintf(path, sizeof(path), "%s/state", dir);
    write_file(path, "device state bytes", 18);
    snprintf(path, sizeof(path), "%s/small.mem", mem);
    write_file(path, "ram", 3);

    factory_manifest_t m = {.format = FACTORY_MANIFEST_FORMAT, .agent_protocol = 1};
    strcpy(m.name, "small");
    strcpy(m.created, "2026-11-22T10:00:00Z");
    strcpy(m.cmdline, FACTORY_DEFAULT_CMDLINE);
    strcpy(m.vmgenid, "8f0e6c5a-7b1d-4e2f-9a3b-1c2d3e4f5a6b");
    strcpy(m.agent_version, "0.1.0");
    strcpy(m.agent_boot_id, "b");
    strcpy(m.source_kernel, "/srv/vmlinuz");
    strcpy(m.source_initrd, "/srv/initrd.img");
    snprintf(m.memory_file, sizeof(m.memory_file), "%s", path);
    m.memory_size = 3;
    record(dir, "kernel", &m.kernel);
    record(dir, "initrd", &m.initrd);
    record(dir, "state", &m.state);
    hv_backend_t *be = hv_backend_open("qemu", NULL, &err);
    cr_assert_not_null(be, "%s", err.msg);
    hv_vm_spec_t spec = {.memory_mib = 256,
                         .vcpus = 1,
                         .machine = "q35",
                         .cpu_model = "max",
                         .agent_transport = HV_AGENT_SERIAL,
                         .share_dir = "/shared"}; /* the factory gives every VM one */
    cr_assert_eq(hv_describe(be, &spec, &m.hv, &err), 0, "%s", err.msg);
    hv_backend_close(be);
    if (mutate)
        mutate(&m);
    char *json = factory_manifest_to_json(&m, &err);
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    write_file(path, json, strlen(json));
    free(json);
}

static void setup(void)
{
    strcpy(root, "/tmp/wp-validate-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    snprintf(store, sizeof(store), "%s/store", root);
    snprintf(mem, sizeof(mem), "%s/mem", root);
    snprintf(run, sizeof(run), "%s/run", root);
    factory_config_t cfg = {.store_dir = store, .memory_dir = mem, .runtime_dir = run};
    wp_error_t err = {0};
    factory = factory_open(&cfg, &err);
    cr_assert_not_null(factory, "%s", err.msg);
}

static void teardown(void)
{
    factory_close(factory);
    wp_rm_tree(root, NULL);
}

static void expect_open_fails(const char *needle)
{
    wp_error_t err = {0};
    factory_template_t *t = factory_template_open(factory, "small", &err);
    cr_assert_null(t, "template opened although '%s' was expected", needle);
    cr_assert(strstr(err.msg, "template 'small' cannot be cloned on this host") != NULL, "%s",
              err.msg);
    cr_assert(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    cr_assert(strstr(err.msg, "rebuild it with 'warmpoolctl template build small") != NULL, "%s",
              err.msg);
}

TestSuite(validate, .init = setup, .fini = teardown);

Test(validate, matching_template_opens)
{
    make_template(NULL);
    wp_error_t err = {0};
    factory_template_t *t = factory_template_open(factory, "small", &err);
    cr_assert_not_null(t, "%s", err.msg);
    cr_assert_eq(factory_template_recheck(t, &err), 0, "%s", err.msg);
    factory_template_close(t);
}

Test(validate, truncated_state_fails_at_open)
{
    make_template(NULL);
    char path[256];
    snprintf(path, sizeof(path), "%s/small/state", store);
    cr_assert_eq(truncate(path, 5), 0);
    expect_open_fails("state file");
}

Test(validate, truncated_state_fails_at_clone_recheck)
{
    make_template(NULL);
    wp_error_t err = {0};
    factory_template_t *t = factory_template_open(factory, "small", &err);
    cr_assert_not_null(t, "%s", err.msg);
    char path[256];
    snprintf(path, sizeof(path), "%s/small/state", store);
    cr_assert_eq(truncate(path, 5), 0);
    cr_assert_eq(factory_template_recheck(t, &err), -1);
    cr_assert(strstr(err.msg, "state file") != NULL && strstr(err.msg, "5 bytes") != NULL, "%s",
              err.msg);
    factory_template_close(t);
}

Test(validate, same_size_kernel_change_is_caught_by_digest)
{
    make_template(NULL);
    wp_error_t err = {0};
    factory_template_t *t = factory_template_open(factory, "small", &err);
    cr_assert_not_null(t, "%s", err.msg);
    char path[256];
    snprintf(path, sizeof(path), "%s/small/kernel", store);
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, "K", 1, 0), 1); /* same size, new content */
    close(fd);
    cr_assert_eq(factory_template_recheck(t, &err), -1);
    cr_assert(strstr(err.msg, "kernel file") != NULL && strstr(err.msg, "has changed") != NULL,
              "%s", err.msg);
    factory_template_close(t);
    expect_open_fails("has changed");
}

static void old_qemu(factory_manifest_t *m)
{
    strcpy(m->hv.version, "6.2.0");
}

Test(validate, other_qemu_version_fails)
{
    make_template(old_qemu);
    expect_open_fails("built with QEMU 6.2.0");
}

static void other_devices(factory_manifest_t *m)
{
    strcpy(m->hv.devices[0], "e1000");
}

Test(validate, other_device_list_fails)
{
    make_template(other_devices);
    expect_open_fails("device list");
}

Test(validate, missing_memory_file_fails)
{
    make_template(NULL);
    char path[256];
    snprintf(path, sizeof(path), "%s/small.mem", mem);
    cr_assert_eq(unlink(path), 0);
    expect_open_fails("memory file");
}

Test(validate, unknown_template_is_named)
{
    wp_error_t err = {0};
    cr_assert_null(factory_template_open(factory, "nosuch", &err));
    cr_assert_eq(err.code, ENOENT);
    cr_assert(strstr(err.msg, "template 'nosuch' does not exist") != NULL, "%s", err.msg);
}

Test(validate, bad_names_are_rejected)
{
    wp_error_t err = {0};
    cr_assert_null(factory_template_open(factory, "../etc", &err));
    cr_assert_eq(err.code, EINVAL);
    cr_assert_null(factory_template_open(factory, "", &err));
    cr_assert_null(factory_template_open(factory, "UPPER", &err));
}
