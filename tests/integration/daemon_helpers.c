/* daemon_helpers.c - see daemon_helpers.h. */
#include "daemon_helpers.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_client.h"
#include "wp_fs.h"
#include "wp_time.h"

daemon_env_t daemon_env;

static unsigned free_tcp_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
              getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

void daemon_env_setup_target(unsigned target)
{
    daemon_env_t *d = &daemon_env;
    memset(d, 0, sizeof(*d));
    /* QEMUs outlive a daemon killed with -9: make them ours, not the test
     * runner's (which would see unknown children exit), and reap them */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    const char *root = getenv("WP_VM_ROOT");
    cr_assert_not_null(root, "WP_VM_ROOT is set by CTest (the vm_template fixture)");
    snprintf(d->root, sizeof(d->root), "%s", root);
    snprintf(d->dir, sizeof(d->dir), "%s/daemon-%d", root, (int)getpid());
    snprintf(d->config, sizeof(d->config), "%s/warmpoold.json", d->dir);
    snprintf(d->runtime, sizeof(d->runtime), "%s/run", d->dir);
    snprintf(d->socket_url, sizeof(d->socket_url), "ipc://%s/warmpoold.sock", d->dir);
    snprintf(d->metrics_url, sizeof(d->metrics_url), "http://127.0.0.1:%u/metrics",
             free_tcp_port());
    wp_error_t err = {0};
    cr_assert_eq(wp_mkdir_p(d->dir, 0700, &err), 0, "%s", err.msg);
    FILE *f = fopen(d->config, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "{\"runtime_dir\": \"%s\", \"state_dir\": \"%s/state\", \"store_dir\": \"%s/store\",\n"
            " \"memory_dir\": \"%s/mem\", \"api_socket\": \"%s\", \"metrics_address\": \"%s\",\n"
            " \"refill_concurrency\": 2, \"log_level\": \"info\",\n"
            " \"templates\": {\"" DAEMON_TEMPLATE
            "\": {\"target\": %u, \"min\": 0, \"max\": 8}}}\n",
            d->runtime, d->dir, d->root, d->root, d->socket_url, d->metrics_url, target);
    fclose(f);
}

static void log_tail(char *out, size_t len)
{
    char path[720];
    snprintf(path, sizeof(path), "%s/warmpoold.log", daemon_env.dir);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)len - 1 ? size - (long)len + 1 : 0, SEEK_SET);
    size_t n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    fclose(f);
}

void daemon_start(void)
{
    daemon_env_t *d = &daemon_env;
    int ready[2];
    cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
    char logpath[720];
    snprintf(logpath, sizeof(logpath), "%s/warmpoold.log", d->dir);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (log < 0 || dup2(log, STDERR_FILENO) < 0 || dup2(ready[1], 3) < 0)
            _exit(127);
        execl(WARMPOOLD, WARMPOOLD, "--config", d->config, "--ready-fd", "3", (char *)NULL);
        _exit(127);
    }
    d->pid = pid;
    close(ready[1]);
    char buf[16] = {0};
    struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
    ssize_t n = poll(&pfd, 1, 120000) == 1 ? read(ready[0], buf, sizeof(buf) - 1) : -1;
    close(ready[0]);
    if (n <= 0 || strncmp(buf, "READY=1", 7) != 0) {
        char tail[2048];
        log_tail(tail, sizeof(tail));
        cr_assert_fail("warmpoold did not become ready; its log ends:\n%s", tail);
    }
    wp_error_t err = {0};
    d->api = api_client_open(d->socket_url, &err);
    cr_assert_not_null(d->api, "%s", err.msg);
}

static void forget_daemon(void)
{
    api_client_close(daemon_env.api);
    daemon_env.api = NULL;
    daemon_env.pid = 0;
}

void daemon_kill9(void)
{
    cr_assert(daemon_env.pid > 0);
    kill(daemon_env.pid, SIGKILL);
    waitpid(daemon_env.pid, NULL, 0);
    forget_daemon();
}

void daemon_term(void)
{
    cr_assert(daemon_env.pid > 0);
    pid_t pid = daemon_env.pid;
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    forget_daemon();
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "warmpoold exits 0 after SIGTERM (status 0x%x)", status);
}

static bool find_template(pool_template_status_t *list, size_t n, pool_template_status_t *out)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, DAEMON_TEMPLATE) == 0) {
            *out = list[i];
            return true;
        }
    return false;
}

pool_template_status_t daemon_status(void)
{
    pool_template_status_t *list = NULL, st = {0};
    size_t n = 0;
    wp_error_t err = {0};
    cr_assert_eq(api_client_status(daemon_env.api, &list, &n, &err), 0, "%s", err.msg);
    cr_assert(find_template(list, n, &st), "status lists template '%s'", DAEMON_TEMPLATE);
    free(list);
    return st;
}

pool_template_status_t daemon_wait_warm(unsigned warm, int timeout_ms)
{
    int64_t deadline = wp_now_mono_ns() + (int64_t)timeout_ms * 1000000;
    uint64_t gen = 0;
    pool_template_status_t st = daemon_status();
    while (!(st.warm == warm && st.cloning == 0)) {
        int left = (int)wp_ms_between(wp_now_mono_ns(), deadline);
        cr_assert_gt(left, 0,
                     "warm %u (want %u), cloning %u, clone failures %llu after %d ms (clones "
                     "this slow through libvirt: its QEMU user cannot open /dev/kvm, see "
                     "docs/operations.md)",
                     st.warm, warm, st.cloning, (unsigned long long)st.clone_failures, timeout_ms);
        bool changed = false;
        pool_template_status_t *list = NULL;
        size_t n = 0;
        wp_error_t err = {0};
        cr_assert_eq(api_client_watch(daemon_env.api, &gen, left, &changed, &list, &n, &err), 0,
                     "%s", err.msg);
        if (list)
            find_template(list, n, &st);
        free(list);
    }
    return st;
}

bool daemon_pid_alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren != NULL && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

size_t daemon_wait_qemu_count(size_t want, int timeout_ms)
{
    pid_t pids[DAEMON_MAX_QEMU];
    size_t n = daemon_qemu_pids(pids, DAEMON_MAX_QEMU);
    int64_t deadline = wp_now_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (n > want && wp_now_mono_ns() < deadline) {
        /* wait for one of them to exit (a pidfd is readable then) */
        int fd = (int)syscall(SYS_pidfd_open, pids[n - 1], 0);
        if (fd >= 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            poll(&pfd, 1, 200);
            close(fd);
        }
        n = daemon_qemu_pids(pids, DAEMON_MAX_QEMU);
    }
    return n;
}

/* A QEMU of ours: its pidfile under our runtime dir, its command line
 * naming that directory. */
size_t daemon_qemu_pids(pid_t *pids, size_t max)
{
    char vms[800];
    snprintf(vms, sizeof(vms), "%s/vms", daemon_env.runtime);
    DIR *dir = opendir(vms);
    size_t n = 0;
    if (dir == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && n < max) {
        if (e->d_name[0] == '.')
            continue;
        char path[1200], cmd[8192];
        snprintf(path, sizeof(path), "%s/%s/qemu.pid", vms, e->d_name);
        FILE *f = fopen(path, "r");
        int pid = 0;
        if (f == NULL)
            continue;
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
        snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
        f = pid > 0 ? fopen(path, "r") : NULL;
        if (f == NULL)
            continue;
        size_t len = fread(cmd, 1, sizeof(cmd) - 1, f);
        fclose(f);
        for (size_t i = 0; i < len; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        cmd[len] = '\0';
        char mine[1200];
        snprintf(mine, sizeof(mine), "%s/%s", vms, e->d_name);
        if (strstr(cmd, mine) != NULL && daemon_pid_alive(pid))
            pids[n++] = pid;
    }
    closedir(dir);
    return n;
}

bool daemon_agent_answers(const char *endpoint)
{
    wp_error_t err = {0};
    agent_client_t *a = agent_client_connect(endpoint, &err);
    bool ok = a != NULL && agent_client_ping(a, 10000, &err) == 0;
    if (!ok)
        cr_log_warn("agent at %s: %s", endpoint, err.msg);
    agent_client_close(a);
    return ok;
}

char *daemon_scrape_metrics(void)
{
    unsigned port = 0;
    if (sscanf(daemon_env.metrics_url, "http://127.0.0.1:%u/", &port) != 1)
        return NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    static const char req[] =
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (len < cap - 1 && poll(&pfd, 1, 10000) == 1 &&
           (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    return buf;
}

/* SIGKILL every child left: as the subreaper, the orphans of a killed
 * daemon are ours, including a QEMU it spawned just before it died and
 * had not yet written the pid file of (daemon_qemu_pids misses that one). */
static void kill_children(void)
{
    DIR *proc = opendir("/proc");
    struct dirent *e;
    while (proc != NULL && (e = readdir(proc)) != NULL) {
        int pid = atoi(e->d_name);
        if (pid <= 0)
            continue;
        char path[64], stat[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t len = fread(stat, 1, sizeof(stat) - 1, f);
        fclose(f);
        stat[len] = '\0';
        int ppid = 0;
        const char *after_comm = strrchr(stat, ')'); /* comm may hold spaces */
        if (after_comm != NULL && sscanf(after_comm, ") %*c %d", &ppid) == 1 && ppid == getpid())
            kill(pid, SIGKILL);
    }
    if (proc != NULL)
        closedir(proc);
}

void daemon_env_teardown(void)
{
    daemon_env_t *d = &daemon_env;
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
    }
    api_client_close(d->api);
    d->api = NULL;
    d->pid = 0;
    pid_t pids[DAEMON_MAX_QEMU];
    size_t n = daemon_qemu_pids(pids, DAEMON_MAX_QEMU);
    for (size_t i = 0; i < n; i++)
        kill(pids[i], SIGKILL); /* warm VMs of a killed daemon, leases kept */
    /* reap every child this test had (daemon, adopted QEMUs) */
    int64_t deadline = wp_now_mono_ns() + 10000000000LL;
    while (wp_now_mono_ns() < deadline) {
        pid_t r = waitpid(-1, NULL, WNOHANG);
        if (r < 0 && errno == ECHILD)
            break;
        if (r == 0) {
            kill_children();
            usleep(10000);
        }
    }
    if (d->dir[0])
        wp_rm_tree(d->dir, NULL);
}
