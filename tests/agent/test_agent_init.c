/* test_agent_init.c - what the agent reads before it serves: its options
 * from the kernel command line, and its virtio-serial port from sysfs (a
 * fake tree in a temp dir). The serial transport then runs on a pty
 * standing in for the port: the master is the host. What of the boot mounts
 * runs without mounting: the cgroup controllers to enable (from the text of
 * cgroup.controllers, and written to a stand-in cgroup directory) and the
 * /dev links (in a temp dir). crun's binary put on a read-only ramfs, in a
 * private mount namespace. */
#include <criterion/criterion.h>
#include <errno.h>       /* EINVAL */
#include <fcntl.h>       /* open */
#include <poll.h>        /* poll */
#include <signal.h>      /* signal */
#include <stdio.h>       /* snprintf */
#include <stdlib.h>      /* posix_openpt */
#include <sys/epoll.h>   /* EPOLLIN */
#include <sched.h>       /* unshare */
#include <string.h>      /* memcmp */
#include <sys/mount.h>   /* mount */
#include <sys/stat.h>    /* mkdir */
#include <sys/statvfs.h> /* statvfs */
#include <sys/wait.h>    /* waitpid */
#include <termios.h>     /* cfmakeraw */
#include <unistd.h>      /* symlink */

#include "agent_init.h"
#include "agent_transport.h"
#include "fake_sys.h"
#include "wire.h"
#include "wp_fs.h"

/* ---- kernel command line ---- */

static agent_options_t parse_ok(const char *cmdline)
{
    agent_options_t o = {.vsock = true, .vsock_port = 7}; /* overwritten */
    wp_error_t err = {0};
    cr_assert_eq(agent_parse_cmdline(cmdline, &o, &err), 0, "'%s': %s", cmdline, err.msg);
    return o;
}

Test(agent_cmdline, defaults_to_serial_and_port_1024)
{
    const char *lines[] = {"", "\n", "console=ttyS0 quiet panic=-1\n", "  rw  init=/init  "};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        agent_options_t o = parse_ok(lines[i]);
        cr_assert_not(o.vsock, "'%s'", lines[i]);
        cr_assert_eq(o.vsock_port, AGENT_DEFAULT_VSOCK_PORT, "'%s'", lines[i]);
    }
}

Test(agent_cmdline, picks_the_transport_and_port)
{
    agent_options_t o = parse_ok("console=ttyS0 warmpool.transport=vsock warmpool.vsock_port=2048");
    cr_assert(o.vsock);
    cr_assert_eq(o.vsock_port, 2048);
    o = parse_ok("warmpool.transport=vsock\twarmpool.transport=serial\n");
    cr_assert_not(o.vsock, "the last word wins");
    o = parse_ok("warmpool.vsock_port=1\nwarmpool.vsock_port=65536");
    cr_assert_eq(o.vsock_port, 65536, "the last word wins; vsock ports are 32-bit");
    o = parse_ok("warmpool.vsock_port=5000");
    cr_assert_not(o.vsock, "a port alone does not change the transport");
    cr_assert_eq(o.vsock_port, 5000);
}

Test(agent_cmdline, words_for_others_are_ignored)
{
    agent_options_t o =
        parse_ok("warmpool=1 xwarmpool.transport=vsock warmpool_transport=vsock root=/dev/vda");
    cr_assert_not(o.vsock);
    cr_assert_eq(o.vsock_port, AGENT_DEFAULT_VSOCK_PORT);
}

Test(agent_cmdline, bad_values_and_unknown_keys_are_einval_naming_the_word)
{
    static const char *bad[] = {
        "warmpool.transport=pigeon",
        "warmpool.transport=",
        "warmpool.transport=VSOCK",
        "warmpool.transport",
        "warmpool.vsock_port=",
        "warmpool.vsock_port=abc",
        "warmpool.vsock_port=12x",
        "warmpool.vsock_port=0",
        "warmpool.vsock_port=-1",
        "warmpool.vsock_port=4294967296",
        "warmpool.vsock_port=4294967295",
        "warmpool.nosuch=1",
        "warmpool.",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[128];
        snprintf(line, sizeof(line), "console=ttyS0 %s quiet", bad[i]);
        agent_options_t o;
        wp_error_t err = {0};
        cr_assert_eq(agent_parse_cmdline(line, &o, &err), -1, "'%s' accepted", bad[i]);
        cr_assert_eq(err.code, EINVAL, "'%s': %s", bad[i], err.msg);
        char quoted[96];
        snprintf(quoted, sizeof(quoted), "'%s'", bad[i]);
        cr_assert(strstr(err.msg, quoted) != NULL, "names %s: %s", quoted, err.msg);
    }
}

/* ---- a fake sysfs ---- */

typedef struct tree {
    char root[64];
    char ports[128]; /* <root>/sys/class/virtio-ports */
    char dev[128];   /* <root>/dev */
} tree_t;

/* Trees still on disk, removed by the suite's fini even when an assertion
 * cut the test short (each test runs in its own process). */
static char made[4][64];

static void tree_make(tree_t *t)
{
    snprintf(t->root, sizeof(t->root), "/tmp/wp-test-agent-XXXXXX");
    cr_assert_not_null(mkdtemp(t->root));
    for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
        if (made[i][0] == '\0') {
            snprintf(made[i], sizeof(made[i]), "%s", t->root);
            break;
        }
    }
    snprintf(t->ports, sizeof(t->ports), "%s/sys/class/virtio-ports", t->root);
    snprintf(t->dev, sizeof(t->dev), "%s/dev", t->root);
    wp_error_t err = {0};
    cr_assert_eq(wp_mkdir_p(t->ports, 0755, &err), 0, "%s", err.msg);
    cr_assert_eq(wp_mkdir_p(t->dev, 0755, &err), 0, "%s", err.msg);
}

static void trees_remove(void)
{
    for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
        if (made[i][0] != '\0')
            wp_rm_tree(made[i], NULL);
        made[i][0] = '\0';
    }
}

/* A port directory; name NULL for a port without a name (yet). */
static void tree_port(tree_t *t, const char *port, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", t->ports, port);
    cr_assert_eq(mkdir(path, 0755), 0);
    if (name == NULL)
        return;
    snprintf(path, sizeof(path), "%s/%s/name", t->ports, port);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(name, f);
    fclose(f);
}

/* The device node: a plain file, or a symlink to target. */
static void tree_dev(tree_t *t, const char *port, const char *target)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", t->dev, port);
    if (target) {
        cr_assert_eq(symlink(target, path), 0);
    } else {
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fclose(f);
    }
}

static int find(tree_t *t, char *out, size_t len)
{
    return agent_serial_find_port(t->ports, t->dev, AGENT_PORT_NAME, out, len);
}

Test(agent_serial, finds_the_port_by_its_name)
{
    tree_t t;
    tree_make(&t);
    tree_port(&t, "vport0p0", "org.qemu.guest_agent.0\n");
    tree_port(&t, "vport0p1", "org.warmpool.agent\n");
    tree_port(&t, "vport0p2", NULL);
    tree_dev(&t, "vport0p0", NULL);
    tree_dev(&t, "vport0p1", NULL);
    char out[256] = "";
    cr_assert_eq(find(&t, out, sizeof(out)), 1);
    char want[256];
    snprintf(want, sizeof(want), "%s/vport0p1", t.dev);
    cr_assert_str_eq(out, want);
}

Test(agent_serial, a_name_without_newline_matches_and_a_longer_one_does_not)
{
    tree_t t;
    tree_make(&t);
    tree_port(&t, "vport1p1", "org.warmpool.agent.old\n");
    tree_port(&t, "vport1p2", "org.warmpool.agen\n");
    tree_dev(&t, "vport1p1", NULL);
    tree_dev(&t, "vport1p2", NULL);
    char out[256];
    cr_assert_eq(find(&t, out, sizeof(out)), 0);
    tree_port(&t, "vport1p3", "org.warmpool.agent");
    tree_dev(&t, "vport1p3", NULL);
    cr_assert_eq(find(&t, out, sizeof(out)), 1);
    cr_assert(strstr(out, "/vport1p3") != NULL, "%s", out);
}

Test(agent_serial, not_found_until_sysfs_names_it_and_the_node_exists)
{
    tree_t t;
    tree_make(&t);
    char out[256];
    cr_assert_eq(find(&t, out, sizeof(out)), 0, "no ports at all");
    cr_assert_eq(agent_serial_find_port("/nonexistent/virtio-ports", t.dev, AGENT_PORT_NAME, out,
                                        sizeof(out)),
                 0, "no virtio-ports directory (virtio_console not loaded yet)");
    tree_port(&t, "vport0p1", NULL);
    tree_dev(&t, "vport0p1", NULL);
    cr_assert_eq(find(&t, out, sizeof(out)), 0, "the host has not named the port yet");

    tree_make(&t);
    tree_port(&t, "vport0p1", "org.warmpool.agent\n");
    cr_assert_eq(find(&t, out, sizeof(out)), 0, "named, but devtmpfs has no node yet");
    tree_dev(&t, "vport0p1", NULL);
    cr_assert_eq(find(&t, out, sizeof(out)), 1);
}

/* ---- the serial transport on a pty ---- */

typedef struct port {
    tree_t tree;
    wire_t host; /* the pty master */
    fake_sys_t sys;
    agent_ctx_t ctx;
    agent_server_t *srv;
    agent_transport_t t;
} port_t;

static void no_signals(void)
{
    /* the transport asks for SIGIO on the port; the pty may hang up on us */
    signal(SIGIO, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
}

TestSuite(agent_serial, .init = no_signals, .fini = trees_remove);

/* A pty whose slave is <dev>/vport0p1; the master is the host. */
static void port_plug(port_t *p)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        cr_skip_test("no pty here: %s", strerror(errno));
    cr_assert_eq(grantpt(m), 0);
    cr_assert_eq(unlockpt(m), 0);
    struct termios tio;
    cr_assert_eq(tcgetattr(m, &tio), 0);
    cfmakeraw(&tio); /* a port carries bytes, not lines */
    cr_assert_eq(tcsetattr(m, TCSANOW, &tio), 0);
    wire_init(&p->host, m);
    tree_dev(&p->tree, "vport0p1", ptsname(m));
}

static int port_start(port_t *p, wp_error_t *err)
{
    p->ctx = fake_ctx(&p->sys);
    p->srv = agent_server_new(&p->ctx, err);
    cr_assert_not_null(p->srv, "%s", err->msg);
    p->t = (agent_transport_t){
        .ops = &agent_transport_serial, .sysfs_ports = p->tree.ports, .dev_dir = p->tree.dev};
    return p->t.ops->start(&p->t, p->srv, err);
}

/* Run the loop until done(p), for up to WIRE_WAIT_MS: a pty hands bytes
 * over through a kernel worker, so they are not there the moment they are
 * written, as they are on a socketpair. */
static void serve_until(port_t *p, bool (*done)(port_t *))
{
    for (int i = 0; i < WIRE_WAIT_MS / 10 && !done(p); i++) {
        wp_error_t err = {0};
        cr_assert_geq(agent_server_run_once(p->srv, 10, &err), 0, "%s", err.msg);
    }
    cr_assert(done(p), "not within %d ms", WIRE_WAIT_MS);
}

static bool host_readable(port_t *p)
{
    struct pollfd pfd = {.fd = p->host.fd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 1;
}

static bool host_gone(port_t *p)
{
    return !p->t.connected;
}

static void expect_announce(port_t *p)
{
    Warmpool__Agent__V1__Event *ev = wire_event(&p->host);
    cr_assert_eq(ev->event_case, WARMPOOL__AGENT__V1__EVENT__EVENT_ANNOUNCE);
    cr_assert_str_eq(ev->announce->boot_id, FAKE_BOOT_ID);
    warmpool__agent__v1__event__free_unpacked(ev, NULL);
}

static void expect_pong(port_t *p, uint32_t id, uint64_t token)
{
    wire_call_t c;
    wire_send(&p->host, id, WP_FRAME_REQUEST, &call_ping(&c, token)->base);
    serve_until(p, host_readable);
    uint32_t got = 0;
    Warmpool__Agent__V1__Response *r = wire_response(&p->host, &got);
    cr_assert_eq(got, id);
    cr_assert_eq(r->ping->token, token);
    warmpool__agent__v1__response__free_unpacked(r, NULL);
}

static void port_stop(port_t *p)
{
    agent_server_free(p->srv);
    if (p->t.fd >= 0)
        close(p->t.fd);
    if (p->t.watch.fd >= 0 && p->t.watch.fn != NULL)
        close(p->t.watch.fd);
    wire_fini(&p->host);
}

Test(agent_serial, serves_a_host_on_the_port_and_waits_after_it_leaves)
{
    port_t p = {0};
    tree_make(&p.tree);
    tree_port(&p.tree, "vport0p1", "org.warmpool.agent\n");
    port_plug(&p);
    wp_error_t err = {0};
    cr_assert_eq(port_start(&p, &err), 0, "%s", err.msg);
    char want[256];
    snprintf(want, sizeof(want), "%s/vport0p1", p.tree.dev);
    cr_assert_str_eq(p.t.port_path, want);
    cr_assert_geq(p.t.fd, 0);
    cr_assert(p.t.connected);
    cr_assert_eq(agent_server_connections(p.srv), 1);
    expect_announce(&p);
    expect_pong(&p, 1, 0xabc);

    /* the host goes: the port stays open, out of the loop, not served */
    int port_fd = p.t.fd;
    close(p.host.fd);
    p.host.fd = -1;
    serve_until(&p, host_gone);
    cr_assert_not(p.t.connected);
    cr_assert_eq(agent_server_connections(p.srv), 0);
    cr_assert_eq(p.t.fd, port_fd);
    cr_assert_neq(fcntl(port_fd, F_GETFD), -1, "the port is kept for the next host");
    p.t.ops->on_sigio(&p.t); /* a SIGIO with still no host changes nothing */
    cr_assert_not(p.t.connected);
    cr_assert_eq(agent_server_connections(p.srv), 0);
    port_stop(&p);
}

Test(agent_serial, a_port_that_appears_later_is_served_at_the_next_uevent)
{
    port_t p = {0};
    tree_make(&p.tree);
    wp_error_t err = {0};
    if (port_start(&p, &err) < 0)
        cr_skip_test("no uevent socket here: %s", err.msg);
    cr_assert_not_null(p.t.watch.fn, "waiting on uevents");
    cr_assert_eq(p.t.fd, -1, "no port yet");
    cr_assert_eq(agent_server_connections(p.srv), 0);
    /* the host names the port, devtmpfs makes the node, a uevent comes */
    tree_port(&p.tree, "vport0p1", "org.warmpool.agent\n");
    port_plug(&p);
    p.t.watch.fn(p.srv, &p.t.watch, EPOLLIN);
    cr_assert_eq(p.t.watch.fd, -1, "the uevent socket is done with");
    cr_assert_geq(p.t.fd, 0);
    cr_assert(p.t.connected);
    expect_announce(&p);
    expect_pong(&p, 7, 0x1234);
    port_stop(&p);
}

/* ---- cgroup controllers for containers ---- */

static const char *subtree_line(const char *available)
{
    static char line[128];
    wp_error_t err = {0};
    cr_assert_eq(agent_cgroup_subtree_line(available, line, sizeof(line), &err), 0, "'%s': %s",
                 available, err.msg);
    return line;
}

Test(agent_cgroup, enables_the_wanted_controllers_the_kernel_has_in_a_fixed_order)
{
    /* Debian 6.1's root cgroup.controllers */
    cr_assert_str_eq(subtree_line("cpuset cpu io memory hugetlb pids rdma misc\n"),
                     "+cpu +io +memory +pids");
    cr_assert_str_eq(subtree_line("pids memory io cpu"), "+cpu +io +memory +pids",
                     "the order is ours, not the file's");
    cr_assert_str_eq(subtree_line("memory\tpids\n"), "+memory +pids");
    cr_assert_str_eq(subtree_line("  cpu\n"), "+cpu");
}

Test(agent_cgroup, only_whole_words_match)
{
    cr_assert_str_eq(subtree_line("cpuset hugetlb rdma misc\n"), "", "cpuset is not cpu");
    cr_assert_str_eq(subtree_line("cpux xio memoryy pid"), "");
    cr_assert_str_eq(subtree_line(""), "");
    cr_assert_str_eq(subtree_line("\n"), "");
    cr_assert_str_eq(subtree_line("cpuset cpu"), "+cpu", "cpu after cpuset");
}

Test(agent_cgroup, a_short_buffer_is_enospc)
{
    char line[9];
    wp_error_t err = {0};
    cr_assert_eq(agent_cgroup_subtree_line("cpu io memory pids", line, sizeof(line), &err), -1);
    cr_assert_eq(err.code, ENOSPC, "%s", err.msg);
    cr_assert_eq(agent_cgroup_subtree_line("cpu", line, 0, &err), -1);
    cr_assert_eq(err.code, ENOSPC);
    cr_assert_eq(agent_cgroup_subtree_line("cpu io", line, sizeof(line), &err), 0, "%s", err.msg);
    cr_assert_str_eq(line, "+cpu +io", "8 bytes and the NUL fit exactly");
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    wp_error_t err = {0};
    char *text = wp_read_file(path, 4096, NULL, &err);
    cr_assert_not_null(text, "%s", err.msg);
    return text;
}

TestSuite(agent_cgroup, .fini = trees_remove);

Test(agent_cgroup, writes_the_line_to_subtree_control)
{
    tree_t t;
    tree_make(&t);
    write_text(t.root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    write_text(t.root, "cgroup.subtree_control", "");
    wp_error_t err = {0};
    cr_assert_eq(agent_cgroup_enable(t.root, &err), 0, "%s", err.msg);
    char *got = read_text(t.root, "cgroup.subtree_control");
    cr_assert_str_eq(got, "+cpu +io +memory +pids");
    free(got);
}

Test(agent_cgroup, none_available_writes_nothing)
{
    tree_t t;
    tree_make(&t);
    write_text(t.root, "cgroup.controllers", "\n");
    write_text(t.root, "cgroup.subtree_control", "untouched");
    wp_error_t err = {0};
    cr_assert_eq(agent_cgroup_enable(t.root, &err), 0, "%s", err.msg);
    char *got = read_text(t.root, "cgroup.subtree_control");
    cr_assert_str_eq(got, "untouched");
    free(got);
}

Test(agent_cgroup, no_cgroup2_there_is_an_error_naming_the_file)
{
    tree_t t;
    tree_make(&t);
    wp_error_t err = {0};
    cr_assert_eq(agent_cgroup_enable(t.root, &err), -1);
    cr_assert_eq(err.code, ENOENT, "%s", err.msg);
    cr_assert(strstr(err.msg, "cgroup.controllers'") != NULL, "%s", err.msg);

    write_text(t.root, "cgroup.controllers", "memory\n"); /* no subtree_control */
    cr_assert_eq(agent_cgroup_enable(t.root, &err), -1);
    cr_assert_eq(err.code, ENOENT, "%s", err.msg);
    cr_assert(strstr(err.msg, "cgroup.subtree_control'") != NULL, "%s", err.msg);
}

/* ---- /dev links ---- */

static void expect_link(const char *dev, const char *name, const char *target)
{
    char path[256], got[256];
    snprintf(path, sizeof(path), "%s/%s", dev, name);
    ssize_t n = readlink(path, got, sizeof(got) - 1);
    cr_assert_geq(n, 0, "%s: %s", path, strerror(errno));
    got[n] = '\0';
    cr_assert_str_eq(got, target, "%s", path);
}

static void expect_dev_links(const char *dev)
{
    expect_link(dev, "ptmx", "pts/ptmx");
    expect_link(dev, "fd", "/proc/self/fd");
    expect_link(dev, "stdin", "/proc/self/fd/0");
    expect_link(dev, "stdout", "/proc/self/fd/1");
    expect_link(dev, "stderr", "/proc/self/fd/2");
}

TestSuite(agent_dev_links, .fini = trees_remove);

Test(agent_dev_links, replaces_devtmpfs_ptmx_and_makes_the_fd_links)
{
    tree_t t;
    tree_make(&t);
    tree_dev(&t, "ptmx", NULL);          /* stands in for devtmpfs' node */
    tree_dev(&t, "stdout", "/dev/null"); /* a wrong link is replaced */
    wp_error_t err = {0};
    cr_assert_eq(agent_init_dev_links(t.dev, &err), 0, "%s", err.msg);
    expect_dev_links(t.dev);
    cr_assert_eq(agent_init_dev_links(t.dev, &err), 0, "again: %s", err.msg);
    expect_dev_links(t.dev);
}

Test(agent_dev_links, a_missing_dev_is_an_error_naming_the_path)
{
    wp_error_t err = {0};
    cr_assert_eq(agent_init_dev_links("/nonexistent-wp-dev", &err), -1);
    cr_assert_eq(err.code, ENOENT, "%s", err.msg);
    cr_assert(strstr(err.msg, "'/nonexistent-wp-dev/ptmx'") != NULL, "%s", err.msg);
}

/* ---- crun's binary on a read-only mount ---- */

/* In a private mount namespace (a child, so nothing outlives the test): a
 * "crun" on a tmpfs, as the initramfs has it, put on a read-only ramfs by
 * agent_init_readonly_copy. Returns the child's findings as a bit mask. */
enum { RO_SAME = 1, RO_FLAG = 2, RO_EROFS = 4, RO_NO_SEALS = 8, RO_AGAIN = 16 };

static int readonly_copy_in_child(const char *dir)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", dir, "tmpfs", 0, NULL) < 0)
        return -1;
    char bin[128], ro[128];
    snprintf(bin, sizeof(bin), "%s/crun", dir);
    snprintf(ro, sizeof(ro), "%s/readonly", dir);
    wp_error_t err = {0};
    if (wp_write_file_atomic(bin, "#!/bin/sh\n", 10, 0755, &err) < 0)
        return -1;
    if (agent_init_readonly_copy(bin, ro, &err) < 0) {
        fprintf(stderr, "readonly_copy: %s\n", err.msg);
        return -1;
    }
    int found = 0;
    size_t len = 0;
    char *text = wp_read_file(bin, 64, &len, &err);
    if (text != NULL && len == 10 && memcmp(text, "#!/bin/sh\n", 10) == 0)
        found |= RO_SAME;
    free(text);
    struct statvfs fs;
    if (statvfs(bin, &fs) == 0 && (fs.f_flag & ST_RDONLY))
        found |= RO_FLAG;
    if (open(bin, O_WRONLY) < 0 && errno == EROFS)
        found |= RO_EROFS;
    int fd = open(bin, O_RDONLY | O_CLOEXEC);
    /* not shmem: crun's sealed-memfd test must not apply (tmpfs answers it) */
    if (fd >= 0 && fcntl(fd, F_GET_SEALS) < 0 && errno == EINVAL)
        found |= RO_NO_SEALS;
    if (fd >= 0)
        close(fd);
    /* a second call finds it read-only and mounts nothing more: one
     * unmount uncovers the tmpfs file */
    if (agent_init_readonly_copy(bin, ro, &err) == 0 && umount2(bin, 0) == 0 &&
        umount2(bin, 0) < 0 && errno == EINVAL)
        found |= RO_AGAIN;
    return found;
}

Test(agent_readonly, the_binary_lands_on_a_read_only_ramfs_with_its_bytes_and_path)
{
    char dir[] = "/tmp/wp-ro-XXXXXX"; /* its mounts die with the child's namespace */
    cr_assert_not_null(mkdtemp(dir));
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(readonly_copy_in_child(dir) & 0xff);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    rmdir(dir);
    cr_assert(WIFEXITED(status));
    int found = WEXITSTATUS(status);
    cr_assert_neq(found, 0xff, "setup failed (see stderr)");
    cr_expect(found & RO_SAME, "the copy has other bytes");
    cr_expect(found & RO_FLAG, "statvfs does not say read-only");
    cr_expect(found & RO_EROFS, "the binary opens for writing");
    cr_expect(found & RO_NO_SEALS, "the binary is a shmem file (crun would still re-exec)");
    cr_expect(found & RO_AGAIN, "a second call mounted again");
}
