/* test_ctl_run_vm.c - `warmpoolctl run --tty` end to end on a real clone
 * (no daemon: the VM is cloned by warmpoolctl from the fixture's template
 * and destroyed after). The command runs on a pseudo-terminal as a user's
 * would: the container's terminal starts with the user's size, a resize of
 * the user's terminal (the kernel's SIGWINCH to warmpoolctl) reaches the
 * container's terminal, keys typed reach the container, and warmpoolctl
 * exits with the container's status, leaving no VM behind. */
#include <criterion/criterion.h>
#include <dirent.h>    /* opendir */
#include <errno.h>     /* EINTR */
#include <poll.h>      /* poll */
#include <pty.h>       /* forkpty */
#include <signal.h>    /* kill */
#include <stdio.h>     /* snprintf */
#include <stdlib.h>    /* getenv */
#include <string.h>    /* strstr */
#include <sys/ioctl.h> /* TIOCSWINSZ */
#include <sys/wait.h>  /* waitpid */
#include <unistd.h>    /* read */

#include "vm_helpers.h"
#include "wp_time.h"

#define RUN_BUDGET_S 300

TestSuite(ctl_run_vm, .init = vm_env_setup, .fini = vm_env_teardown, .timeout = 600);

/* Entries in the factory's runtime directory: one per live VM. */
static int runtime_entries(void)
{
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/run/vms", vm_env.root);
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

typedef struct session {
    pid_t pid;
    int master;
    char out[65536];
    size_t len;
} session_t;

static session_t s = {.pid = -1, .master = -1};

/* After a failed assertion: hang up the terminal as a closed window
 * would (warmpoolctl then ends the container and destroys its VM), and
 * only if it does not go, kill it. */
static void session_fini(void)
{
    if (s.master >= 0)
        close(s.master);
    for (int i = 0; s.pid > 0 && i < 300 && waitpid(s.pid, NULL, WNOHANG) == 0; i++)
        usleep(100000);
    if (s.pid > 0 && waitpid(s.pid, NULL, WNOHANG) == 0) {
        kill(s.pid, SIGKILL);
        waitpid(s.pid, NULL, 0);
    }
}

/* Read the terminal until `want` appears after offset `from`, or the
 * deadline. Returns where it ends, or -1. */
static long read_until(size_t from, const char *want, int64_t deadline_ns)
{
    for (;;) {
        s.out[s.len] = '\0';
        char *hit = strstr(s.out + from, want);
        if (hit != NULL)
            return (long)(hit - s.out) + (long)strlen(want);
        int64_t left_ms = (deadline_ns - wp_now_mono_ns()) / 1000000;
        if (left_ms <= 0 || s.len >= sizeof(s.out) - 1)
            return -1;
        struct pollfd p = {.fd = s.master, .events = POLLIN};
        if (poll(&p, 1, (int)(left_ms > 1000 ? 1000 : left_ms)) <= 0)
            continue;
        ssize_t n = read(s.master, s.out + s.len, sizeof(s.out) - 1 - s.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1; /* EIO: the child closed the terminal */
        s.len += (size_t)n;
    }
}

Test(ctl_run_vm, a_tty_run_follows_the_users_terminal_and_exits_with_its_status,
     .fini = session_fini)
{
    const char *ctl = getenv("WP_WARMPOOLCTL");
    cr_assert_not_null(ctl, "WP_WARMPOOLCTL is not set: run the VM suites through ctest");
    char rootfs[700], store[600], mem[600], run[600], sock[600];
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", getenv("WP_GUEST_DIR"));
    snprintf(store, sizeof(store), "--store=%s/store", vm_env.root);
    snprintf(mem, sizeof(mem), "--memory-dir=%s/mem", vm_env.root);
    snprintf(run, sizeof(run), "--runtime-dir=%s/run", vm_env.root);
    /* no daemon there: the run clones the template itself */
    snprintf(sock, sizeof(sock), "--socket=%s/no-daemon.sock", vm_env.root);
    int before = runtime_entries();

    /* `read` returns on each line typed; `q` ends it with status 7 */
    char script[] = "stty size; while read x; do stty size; [ \"$x\" = q ] && exit 7; done";
    struct winsize ws = {.ws_row = 31, .ws_col = 93};
    s.pid = forkpty(&s.master, NULL, NULL, &ws);
    cr_assert_geq(s.pid, 0, "forkpty: %s", strerror(errno));
    if (s.pid == 0) {
        execl(ctl, ctl, store, mem, run, sock, "run", "small", "--rootfs", rootfs, "--tty", "--",
              "/bin/sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    int64_t deadline = wp_now_mono_ns() + RUN_BUDGET_S * 1000000000ll;
    long at = read_until(0, "31 93", deadline);
    cr_assert_geq(at, 0, "the container's terminal did not start at the user's size: %s", s.out);

    /* the kernel sends SIGWINCH to the terminal's foreground group: warmpoolctl */
    ws = (struct winsize){.ws_row = 47, .ws_col = 121};
    cr_assert_eq(ioctl(s.master, TIOCSWINSZ, &ws), 0);
    /* the resize and the next key travel separately: type until the new
     * size is what the container sees */
    long seen = -1;
    for (int i = 0; i < 60 && seen < 0; i++) {
        cr_assert_eq(write(s.master, "\r", 1), 1);
        seen = read_until((size_t)at, "47 121", wp_now_mono_ns() + 1000000000ll);
    }
    cr_assert_geq(seen, 0, "the resize never reached the container: %s", s.out + at);

    cr_assert_eq(write(s.master, "q\r", 2), 2);
    int status;
    pid_t w;
    while ((w = waitpid(s.pid, &status, WNOHANG)) == 0 && wp_now_mono_ns() < deadline) {
        char sink[4096];
        struct pollfd p = {.fd = s.master, .events = POLLIN};
        if (poll(&p, 1, 200) > 0 && read(s.master, sink, sizeof(sink)) < 0 && errno == EIO)
            usleep(100000); /* the terminal closed: the child is exiting */
    }
    cr_assert_eq(w, s.pid, "warmpoolctl did not exit after the container did");
    s.pid = -1;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 7,
              "warmpoolctl's status is the container's (7), got 0x%x", status);
    cr_assert_eq(runtime_entries(), before, "the VM was left behind");
}
