/* test_template_errors_vm.c - templates that no longer match: a clear
 * sentence, through the library and the CLI, and nothing left running.
 * Each test works on its own copy ("broken") of the fixture's template. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "factory_internal.h"
#include "vm_helpers.h"
#include "wp_fs.h"

static char broken_dir[1024];

static void copy(const char *from_dir, const char *to_dir, const char *name)
{
    char a[1200], b[1200];
    snprintf(a, sizeof(a), "%s/%s", from_dir, name);
    snprintf(b, sizeof(b), "%s/%s", to_dir, name);
    wp_error_t err = {0};
    cr_assert_eq(wp_copy_file(a, b, 0644, &err), 0, "%s", err.msg);
}

/* A second template, "broken", identical to "small" (own memory file). */
static void make_broken_copy(void)
{
    vm_env_setup();
    wp_error_t err = {0};
    char small_dir[1024];
    factory_template_dir(vm_env.factory, "small", small_dir);
    factory_template_dir(vm_env.factory, "broken", broken_dir);
    wp_rm_tree(broken_dir, NULL);
    cr_assert_eq(wp_mkdir_p(broken_dir, 0755, &err), 0, "%s", err.msg);
    copy(small_dir, broken_dir, "kernel");
    copy(small_dir, broken_dir, "initrd");
    copy(small_dir, broken_dir, "state");
    char *text = factory_template_manifest_json(vm_env.factory, "small", &err);
    cr_assert_not_null(text, "%s", err.msg);
    factory_manifest_t m;
    cr_assert_eq(factory_manifest_from_json(text, &m, &err), 0, "%s", err.msg);
    free(text);
    char mem[1024];
    factory_memory_path(vm_env.factory, "broken", mem);
    cr_assert_eq(wp_copy_file(m.memory_file, mem, 0444, &err), 0, "%s", err.msg);
    strcpy(m.name, "broken");
    snprintf(m.memory_file, sizeof(m.memory_file), "%s", mem);
    text = factory_manifest_to_json(&m, &err);
    char path[1200];
    snprintf(path, sizeof(path), "%s/manifest.json", broken_dir);
    cr_assert_eq(wp_write_file_atomic(path, text, strlen(text), 0444, &err), 0, "%s", err.msg);
    free(text);
}

static void remove_broken_copy(void)
{
    if (vm_env.factory)
        factory_template_remove(vm_env.factory, "broken", NULL);
    vm_env_teardown();
}

TestSuite(template_errors_vm, .init = make_broken_copy, .fini = remove_broken_copy, .timeout = 300);

static size_t vm_dirs(void)
{
    char **ids = NULL;
    size_t n = 0;
    wp_error_t err = {0};
    cr_assert_eq(factory_vm_list(vm_env.factory, &ids, &n, &err), 0, "%s", err.msg);
    factory_names_free(ids, n);
    return n;
}

/* Run warmpoolctl clone broken; return its exit status, stderr in out. */
static int cli_clone(char *out, size_t len)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "%s --store %s/store --memory-dir %s/mem --runtime-dir %s/run clone broken 2>&1 "
             ">/dev/null",
             getenv("WP_WARMPOOLCTL"), vm_env.root, vm_env.root, vm_env.root);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(template_errors_vm, truncated_state_file_is_refused_clearly)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/state", broken_dir);
    cr_assert_eq(truncate(path, 1000), 0);
    wp_error_t err = {0};
    cr_assert_null(factory_template_open(vm_env.factory, "broken", &err));
    cr_assert(strstr(err.msg, "template 'broken' cannot be cloned on this host: its state file") ==
                  err.msg,
              "%s", err.msg);
    cr_assert(strstr(err.msg, "rebuild it with 'warmpoolctl template build broken") != NULL, "%s",
              err.msg);

    char out[4096];
    cr_assert_eq(cli_clone(out, sizeof(out)), 1, "warmpoolctl said: %s", out);
    cr_assert(strstr(out, "warmpoolctl: template 'broken' cannot be cloned") == out, "%s", out);
    cr_assert(strchr(out, '\n') == out + strlen(out) - 1, "one line expected: %s", out);
    cr_assert_eq(vm_dirs(), 0, "a failed clone left a VM behind");
}

Test(template_errors_vm, changed_kernel_file_is_refused_clearly)
{
    wp_error_t err = {0};
    factory_template_t *t = factory_template_open(vm_env.factory, "broken", &err);
    cr_assert_not_null(t, "%s", err.msg);
    char path[1200];
    snprintf(path, sizeof(path), "%s/kernel", broken_dir);
    int fd = open(path, O_WRONLY | O_APPEND);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "x", 1), 1);
    close(fd);
    factory_vm_t *vm = NULL;
    cr_assert_eq(factory_clone(vm_env.factory, t, NULL, &vm, &err), -1);
    factory_template_close(t);
    cr_assert(strstr(err.msg, "its kernel file") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "rebuild it with") != NULL, "%s", err.msg);
    cr_assert_eq(vm_dirs(), 0);
}

Test(template_errors_vm, state_the_hypervisor_rejects_leaves_nothing_running)
{
    /* a state file that passes the digest check (manifest updated to match)
     * but that QEMU cannot load: the failure comes from the hypervisor */
    char path[1200];
    snprintf(path, sizeof(path), "%s/state", broken_dir);
    wp_error_t err = {0};
    char junk[4096];
    memset(junk, 0x5a, sizeof(junk));
    cr_assert_eq(wp_write_file_atomic(path, junk, sizeof(junk), 0444, &err), 0, "%s", err.msg);
    char *text = factory_template_manifest_json(vm_env.factory, "broken", &err);
    factory_manifest_t m;
    cr_assert_eq(factory_manifest_from_json(text, &m, &err), 0, "%s", err.msg);
    free(text);
    cr_assert_eq(factory_sha256_file(path, m.state.sha256, &m.state.size, &err), 0);
    text = factory_manifest_to_json(&m, &err);
    snprintf(path, sizeof(path), "%s/manifest.json", broken_dir);
    cr_assert_eq(wp_write_file_atomic(path, text, strlen(text), 0444, &err), 0, "%s", err.msg);
    free(text);

    factory_template_t *t = factory_template_open(vm_env.factory, "broken", &err);
    cr_assert_not_null(t, "%s", err.msg);
    factory_vm_t *vm = NULL;
    int ret = factory_clone(vm_env.factory, t, NULL, &vm, &err);
    factory_template_close(t);
    if (ret == 0)
        factory_vm_destroy(vm, NULL);
    cr_assert_eq(ret, -1, "a clone from a junk state file came up");
    cr_assert(strstr(err.msg, "clone 'broken'") == err.msg, "%s", err.msg);
    cr_assert_eq(vm_dirs(), 0, "a failed clone left a VM behind");
}
