/* test_qemu_argv.c - the QEMU command line: template vs clone, the inherited
 * socket fds, vmgenid, serial vs vsock agent channel, the 9p share, option
 * escaping, and the checks on a spec. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "qemu_argv.h"

static hv_vm_spec_t spec(void)
{
    return (hv_vm_spec_t){
        .id = "small-0a1b2c",
        .runtime_dir = "/run/warmpool/vms/small-0a1b2c",
        .kernel = "/t/kernel",
        .initrd = "/t/initrd",
        .cmdline = "console=ttyS0 quiet",
        .vcpus = 2,
        .memory_mib = 256,
        .machine = "q35",
        .cpu_model = "max",
        .memory_file = "/dev/shm/small.mem",
        .memory_shared = true,
        .vmgenid = "6f1c2a9e-1111-4222-8333-444455556666",
        .agent_transport = HV_AGENT_SERIAL,
    };
}

static size_t count(char **argv)
{
    size_t n = 0;
    while (argv[n])
        n++;
    return n;
}

/* Index of the argument equal to s, or -1. */
static int find(char **argv, const char *s)
{
    for (int i = 0; argv[i]; i++)
        if (strcmp(argv[i], s) == 0)
            return i;
    return -1;
}

/* The value following option opt whose value starts with prefix, or NULL. */
static const char *value(char **argv, const char *opt, const char *prefix)
{
    for (int i = 0; argv[i] && argv[i + 1]; i++)
        if (strcmp(argv[i], opt) == 0 && strncmp(argv[i + 1], prefix, strlen(prefix)) == 0)
            return argv[i + 1];
    return NULL;
}

static char **build(const hv_vm_spec_t *s, qemu_mode_t mode)
{
    wp_error_t err = {0};
    char **argv = qemu_argv_build("/usr/bin/qemu-system-x86_64", s, mode, &err);
    cr_assert_not_null(argv, "%s", err.msg);
    return argv;
}

Test(qemu_argv, template_boot)
{
    hv_vm_spec_t s = spec();
    char **a = build(&s, QEMU_MODE_BOOT);
    cr_assert_str_eq(a[0], "/usr/bin/qemu-system-x86_64");
    cr_assert_geq(find(a, "-nodefaults"), 0);
    cr_assert_geq(find(a, "-no-user-config"), 0);
    cr_assert_str_eq(value(a, "-display", ""), "none");
    cr_assert_str_eq(value(a, "-machine", ""), "q35,accel=tcg,memory-backend=mem");
    cr_assert_str_eq(value(a, "-cpu", ""), "max");
    cr_assert_str_eq(value(a, "-smp", ""), "2");
    cr_assert_str_eq(value(a, "-m", ""), "256M");
    cr_assert_str_eq(value(a, "-object", "memory-backend-file"),
                     "memory-backend-file,id=mem,size=256M,mem-path=/dev/shm/small.mem,share=on");
    cr_assert_str_eq(value(a, "-kernel", ""), "/t/kernel");
    cr_assert_str_eq(value(a, "-initrd", ""), "/t/initrd");
    cr_assert_str_eq(value(a, "-append", ""), "console=ttyS0 quiet");
    cr_assert_str_eq(value(a, "-serial", ""), "file:/run/warmpool/vms/small-0a1b2c/console.log");
    cr_assert_str_eq(value(a, "-device", "vmgenid"),
                     "vmgenid,guid=6f1c2a9e-1111-4222-8333-444455556666");
    cr_assert_eq(find(a, "-S"), -1, "a template boots running");
    cr_assert_eq(find(a, "-incoming"), -1);
    qemu_argv_free(a);
}

Test(qemu_argv, sockets_are_inherited_listening_fds)
{
    hv_vm_spec_t s = spec();
    char **a = build(&s, QEMU_MODE_BOOT);
    cr_assert_str_eq(value(a, "-chardev", "socket,id=qmp"),
                     "socket,id=qmp,fd=3,server=on,wait=off");
    cr_assert_str_eq(value(a, "-mon", ""), "chardev=qmp,mode=control");
    cr_assert_str_eq(value(a, "-chardev", "socket,id=agent"),
                     "socket,id=agent,fd=4,server=on,wait=off");
    cr_assert_str_eq(value(a, "-device", "virtio-serial-pci"), "virtio-serial-pci,id=vser0");
    cr_assert_str_eq(value(a, "-device", "virtserialport"),
                     "virtserialport,bus=vser0.0,chardev=agent,name=org.warmpool.agent");
    cr_assert_eq(QEMU_QMP_FD, 3);
    cr_assert_eq(QEMU_AGENT_FD, 4);
    char ep[256];
    hv_spec_agent_endpoint(&s, ep, sizeof(ep));
    cr_assert_str_eq(ep, "unix:/run/warmpool/vms/small-0a1b2c/agent.sock");
    qemu_argv_free(a);
}

Test(qemu_argv, clone_is_private_paused_and_incoming)
{
    hv_vm_spec_t s = spec();
    s.memory_shared = false;
    s.vmgenid = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    char **a = build(&s, QEMU_MODE_INCOMING);
    cr_assert_str_eq(value(a, "-object", "memory-backend-file"),
                     "memory-backend-file,id=mem,size=256M,mem-path=/dev/shm/small.mem,share=off");
    cr_assert_geq(find(a, "-S"), 0);
    cr_assert_str_eq(value(a, "-incoming", ""), "defer");
    cr_assert_str_eq(value(a, "-device", "vmgenid"),
                     "vmgenid,guid=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
    qemu_argv_free(a);
}

Test(qemu_argv, template_and_clone_differ_only_where_they_must)
{
    hv_vm_spec_t t = spec();
    hv_vm_spec_t c = spec();
    c.memory_shared = false;
    c.id = "small-ffffff";
    c.runtime_dir = "/run/warmpool/vms/small-ffffff";
    c.vmgenid = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    char **a = build(&t, QEMU_MODE_BOOT);
    char **b = build(&c, QEMU_MODE_INCOMING);
    cr_assert_eq(count(b), count(a) + 3, "only -S -incoming defer are added");
    for (size_t i = 0; a[i]; i++) {
        if (strncmp(a[i], "memory-backend-file", 19) == 0 || strncmp(a[i], "vmgenid", 7) == 0 ||
            strncmp(a[i], "file:", 5) == 0)
            continue;
        cr_assert_str_eq(a[i], b[i], "argument %zu", i);
    }
    qemu_argv_free(a);
    qemu_argv_free(b);
}

Test(qemu_argv, vsock_replaces_the_serial_port)
{
    hv_vm_spec_t s = spec();
    s.agent_transport = HV_AGENT_VSOCK;
    s.vsock_cid = 42;
    char **a = build(&s, QEMU_MODE_BOOT);
    cr_assert_str_eq(value(a, "-device", "vhost-vsock-pci"), "vhost-vsock-pci,guest-cid=42");
    cr_assert_null(value(a, "-device", "virtio-serial-pci"));
    cr_assert_null(value(a, "-chardev", "socket,id=agent"));
    cr_assert_not_null(value(a, "-chardev", "socket,id=qmp"), "QMP stays a unix socket");
    char ep[64];
    hv_spec_agent_endpoint(&s, ep, sizeof(ep));
    cr_assert_str_eq(ep, "vsock:42:1024");
    s.vsock_port = 7000;
    hv_spec_agent_endpoint(&s, ep, sizeof(ep));
    cr_assert_str_eq(ep, "vsock:42:7000");
    qemu_argv_free(a);
}

Test(qemu_argv, share_dir_adds_9p)
{
    hv_vm_spec_t s = spec();
    char **a = build(&s, QEMU_MODE_BOOT);
    cr_assert_eq(find(a, "-fsdev"), -1);
    cr_assert_null(value(a, "-device", "virtio-9p-pci"));
    qemu_argv_free(a);
    s.share_dir = "/srv/share";
    a = build(&s, QEMU_MODE_BOOT);
    cr_assert_str_eq(value(a, "-fsdev", ""),
                     "local,id=share,path=/srv/share,security_model=none,multidevs=remap");
    cr_assert_str_eq(value(a, "-device", "virtio-9p-pci"),
                     "virtio-9p-pci,fsdev=share,mount_tag=warmpool");
    qemu_argv_free(a);
}

Test(qemu_argv, commas_in_paths_are_escaped)
{
    hv_vm_spec_t s = spec();
    s.memory_file = "/dev/shm/a,b.mem";
    s.share_dir = "/srv/x,y";
    char **a = build(&s, QEMU_MODE_BOOT);
    cr_assert_str_eq(value(a, "-object", "memory-backend-file"),
                     "memory-backend-file,id=mem,size=256M,mem-path=/dev/shm/a,,b.mem,share=on");
    cr_assert_str_eq(value(a, "-fsdev", ""),
                     "local,id=share,path=/srv/x,,y,security_model=none,multidevs=remap");
    qemu_argv_free(a);
}

Test(qemu_argv, optional_parts_are_left_out)
{
    hv_vm_spec_t s = spec();
    s.initrd = NULL;
    s.cmdline = NULL;
    s.vmgenid = NULL;
    char **a = build(&s, QEMU_MODE_BOOT);
    cr_assert_eq(find(a, "-initrd"), -1);
    cr_assert_eq(find(a, "-append"), -1);
    cr_assert_str_eq(value(a, "-device", "vmgenid"), "vmgenid,guid=auto");
    qemu_argv_free(a);
}

Test(qemu_argv, devices_follow_the_spec)
{
    hv_vm_spec_t s = spec();
    hv_description_t d = {0};
    qemu_argv_devices(&s, &d);
    cr_assert_eq(d.n_devices, 4);
    cr_assert_str_eq(d.devices[0], "memory-backend-file");
    cr_assert_str_eq(d.devices[1], "vmgenid");
    cr_assert_str_eq(d.devices[2], "virtio-serial-pci");
    cr_assert_str_eq(d.devices[3], "virtserialport:org.warmpool.agent");
    s.agent_transport = HV_AGENT_VSOCK;
    s.vsock_cid = 3;
    s.share_dir = "/srv";
    qemu_argv_devices(&s, &d);
    cr_assert_eq(d.n_devices, 4);
    cr_assert_str_eq(d.devices[2], "vhost-vsock-pci");
    cr_assert_str_eq(d.devices[3], "virtio-9p-pci");
}

Test(qemu_argv, bad_specs_are_refused)
{
    wp_error_t err = {0};
    hv_vm_spec_t s = spec();
    s.kernel = NULL;
    cr_assert_null(qemu_argv_build("/q", &s, QEMU_MODE_BOOT, &err));
    cr_assert_eq(err.code, EINVAL);
    cr_assert(strstr(err.msg, "kernel") != NULL, "%s", err.msg);

    s = spec();
    s.id = "../etc";
    cr_assert_eq(hv_spec_check(&s, &err), -1);
    cr_assert_eq(err.code, EINVAL);

    s = spec();
    char longdir[200];
    memset(longdir, 'x', sizeof(longdir) - 1);
    longdir[0] = '/';
    longdir[sizeof(longdir) - 1] = '\0';
    s.runtime_dir = longdir;
    cr_assert_eq(hv_spec_check(&s, &err), -1);
    cr_assert_eq(err.code, ENAMETOOLONG, "socket paths must fit sun_path");

    s = spec();
    s.agent_transport = HV_AGENT_VSOCK;
    s.vsock_cid = 2;
    cr_assert_eq(hv_spec_check(&s, &err), -1);
    cr_assert_eq(err.code, EINVAL);

    s = spec();
    s.memory_mib = 0;
    cr_assert_eq(hv_spec_check(&s, &err), -1);
}
