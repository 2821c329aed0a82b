/* test_manifest.c - manifest JSON: round trip and strict parsing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "factory_manifest.h"

static factory_manifest_t sample_manifest(void)
{
    factory_manifest_t m = {.format = FACTORY_MANIFEST_FORMAT,
                            .transport = HV_AGENT_SERIAL,
                            .memory_size = 256u << 20,
                            .agent_protocol = 1,
                            .boot_to_agent_ms = 4567.5,
                            .save_ms = 81.25};
    strcpy(m.name, "small");
    strcpy(m.created, "2026-11-22T10:00:00Z");
    strcpy(m.hv.backend, "qemu");
    strcpy(m.hv.binary, "/usr/bin/qemu-system-x86_64");
    strcpy(m.hv.version, "7.2.22");
    strcpy(m.hv.machine, "q35");
    strcpy(m.hv.cpu_model, "max");
    m.hv.memory_mib = 256;
    m.hv.vcpus = 1;
    m.hv.n_devices = 2;
    strcpy(m.hv.devices[0], "virtio-serial-pci");
    strcpy(m.hv.devices[1], "vmgenid");
    strcpy(m.cmdline, "console=ttyS0 quiet \"quoted\"");
    const char *sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    strcpy(m.kernel.file, "kernel");
    strcpy(m.kernel.sha256, sha);
    m.kernel.size = 8000000;
    strcpy(m.initrd.file, "initrd");
    strcpy(m.initrd.sha256, sha);
    m.initrd.size = 2000000;
    strcpy(m.state.file, "state");
    strcpy(m.state.sha256, sha);
    m.state.size = 381000;
    strcpy(m.memory_file, "/dev/shm/warmpool/small.mem");
    strcpy(m.vmgenid, "8f0e6c5a-7b1d-4e2f-9a3b-1c2d3e4f5a6b");
    strcpy(m.agent_version, "0.1.0");
    strcpy(m.agent_boot_id, "a1b2c3d4-0000-4000-8000-000000000000");
    strcpy(m.source_kernel, "/srv/guest/vmlinuz");
    strcpy(m.source_initrd, "/srv/guest/initrd.img");
    return m;
}

Test(manifest, round_trip_keeps_every_field)
{
    factory_manifest_t m = sample_manifest(), back;
    wp_error_t err = {0};
    char *text = factory_manifest_to_json(&m, &err);
    cr_assert_not_null(text, "%s", err.msg);
    cr_assert_eq(factory_manifest_from_json(text, &back, &err), 0, "%s", err.msg);
    cr_assert_str_eq(back.name, "small");
    cr_assert_str_eq(back.cmdline, m.cmdline);
    cr_assert_str_eq(back.hv.version, "7.2.22");
    cr_assert_eq(back.hv.n_devices, 2);
    cr_assert_str_eq(back.hv.devices[1], "vmgenid");
    cr_assert_eq(back.kernel.size, 8000000);
    cr_assert_eq(back.memory_size, 256u << 20);
    cr_assert_str_eq(back.vmgenid, m.vmgenid);
    cr_assert_float_eq(back.boot_to_agent_ms, 4567.5, 1e-9);
    cr_assert_eq(back.transport, HV_AGENT_SERIAL);
    free(text);
}

/* Replace the first occurrence of `from` in text by `to`. */
static char *edit(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    cr_assert_not_null(at, "'%s' not in manifest", from);
    size_t len = strlen(text) - strlen(from) + strlen(to) + 1;
    char *out = malloc(len);
    snprintf(out, len, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

static void expect_rejected(const char *from, const char *to, const char *needle)
{
    factory_manifest_t m = sample_manifest(), back;
    wp_error_t err = {0};
    char *text = factory_manifest_to_json(&m, &err);
    char *bad = edit(text, from, to);
    cr_assert_eq(factory_manifest_from_json(bad, &back, &err), -1, "accepted: %s", bad);
    cr_assert_eq(err.code, EINVAL);
    cr_assert(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    free(bad);
    free(text);
}

Test(manifest, missing_field_is_named)
{
    expect_rejected("\"vmgenid\":", "\"vmgenid_x\":", "vmgenid");
}

Test(manifest, wrong_type_is_rejected)
{
    expect_rejected("\"memory_mib\": 256", "\"memory_mib\": \"256\"", "memory_mib");
}

Test(manifest, other_format_version_is_rejected)
{
    expect_rejected("\"format\": 1", "\"format\": 2", "format 2");
}

Test(manifest, file_outside_template_dir_is_rejected)
{
    expect_rejected("\"file\": \"state\"", "\"file\": \"../../etc/shadow\"", "state");
}

Test(manifest, unknown_transport_is_rejected)
{
    expect_rejected("\"serial\"", "\"carrier-pigeon\"", "carrier-pigeon");
}

Test(manifest, garbage_is_rejected)
{
    factory_manifest_t back;
    wp_error_t err = {0};
    cr_assert_eq(factory_manifest_from_json("{\"format\": 1,", &back, &err), -1);
    cr_assert(strstr(err.msg, "not valid JSON") != NULL, "%s", err.msg);
    cr_assert_eq(factory_manifest_from_json("", &back, &err), -1);
}

Test(manifest, rebuild_hint_names_the_sources)
{
    factory_manifest_t m = sample_manifest();
    char hint[8192];
    factory_manifest_rebuild_hint(&m, hint, sizeof(hint));
    cr_assert(strstr(hint, "warmpoolctl template build small") == hint, "%s", hint);
    cr_assert(strstr(hint, "--kernel /srv/guest/vmlinuz") != NULL, "%s", hint);
    cr_assert(strstr(hint, "--force") != NULL, "%s", hint);
}
