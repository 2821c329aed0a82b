/* fake_crun.c - a stand-in for crun in the agent's tests (the test hosts
 * have cgroup v1 and no guest, so the real crun cannot run). It speaks the
 * command lines the agent uses and runs the container's process as a plain
 * host process:
 *   [--root R] [--log L] [--log-format F] COMMAND ...
 *   create [--no-pivot] --bundle B --pid-file P [--console-socket S] ID
 *       forks the init: it waits on R/ID/exec.fifo (as crun's does) until
 *       `start` or the agent writes a byte there, then execs
 *       B/config.json's process.args with the stdio crun was given (or a
 *       new pty whose master went over S); writes its pid to P and R/ID/pid
 *   start ID                 writes to the fifo: the init goes on; notes
 *                            it in R/ID/started-by-crun
 *   exec --detach --process F --pid-file P [--console-socket S] ID
 *   kill [--all] ID SIG      kill(pid) or, --all, its process group
 *   pause|resume ID          SIGSTOP|SIGCONT to the group
 *   update --resources F ID  copies F to R/ID/resources.json
 *   delete [--force] ID      --force kills the init; removes R/ID
 * Errors go to the --log file, one line, and exit 1. Test-only. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char *root = "/run/crun", *logfile;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    FILE *f = logfile ? fopen(logfile, "a") : NULL;
    vfprintf(f ? f : stderr, fmt, ap);
    fputc('\n', f ? f : stderr);
    if (f)
        fclose(f);
    va_end(ap);
    exit(1);
}

static void state_path(char *out, const char *id, const char *name)
{
    snprintf(out, 512, "%s/%s/%s", root, id, name);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        die("write '%s': %s", path, strerror(errno));
}

static pid_t read_pid(const char *id)
{
    char path[512];
    state_path(path, id, "pid");
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f == NULL || fscanf(f, "%d", &pid) != 1)
        die("container '%s' does not exist", id);
    fclose(f);
    return pid;
}

static void send_fd(const char *sock, int fd)
{
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock);
    if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        die("connect '%s': %s", sock, strerror(errno));
    char byte = 0;
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr a;
    } ctl;
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    if (sendmsg(s, &msg, 0) < 0)
        die("sendmsg: %s", strerror(errno));
    close(s);
}

/* process.args of a process object, as a NULL-terminated argv. */
static char **process_args(json_t *process)
{
    json_t *args = json_object_get(process, "args");
    if (!json_is_array(args) || json_array_size(args) == 0)
        die("process.args is missing");
    char **argv = calloc(json_array_size(args) + 1, sizeof(char *));
    for (size_t i = 0; i < json_array_size(args); i++)
        argv[i] = strdup(json_string_value(json_array_get(args, i)));
    return argv;
}

/* Fork the process; the child waits on fifo (if any) and execs. Returns its
 * pid. As crun, the read end is open before create returns (non-blocking,
 * so a writer never waits for the child). */
static pid_t spawn(json_t *process, const char *console, const char *fifo)
{
    int fifo_fd = fifo != NULL ? open(fifo, O_RDONLY | O_NONBLOCK) : -1;
    if (fifo != NULL && fifo_fd < 0)
        die("open '%s': %s", fifo, strerror(errno));
    char **argv = process_args(process);
    bool terminal = json_is_true(json_object_get(process, "terminal"));
    int master = -1, slave = -1;
    if (terminal) {
        if (console == NULL)
            die("terminal without --console-socket");
        if (openpty(&master, &slave, NULL, NULL, NULL) < 0)
            die("openpty: %s", strerror(errno));
        send_fd(console, master);
        close(master);
    }
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid > 0) {
        if (slave >= 0)
            close(slave);
        return pid;
    }
    setsid();
    if (slave >= 0) {
        ioctl(slave, TIOCSCTTY, 0);
        for (int i = 0; i < 3; i++)
            dup2(slave, i);
        close(slave);
    }
    if (fifo_fd >= 0) {
        char c;
        ssize_t n;
        do { /* poll blocks until a writer wrote (or left: 0, an error) */
            struct pollfd pfd = {.fd = fifo_fd, .events = POLLIN};
            poll(&pfd, 1, -1);
            n = read(fifo_fd, &c, 1);
        } while (n < 0 && errno == EAGAIN);
        if (n != 1)
            _exit(120);
        close(fifo_fd);
    }
    execvp(argv[0], argv);
    _exit(127);
}

static json_t *load(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (j == NULL)
        die("load '%s': %s", path, e.text);
    return j;
}

static void write_pid(const char *path, pid_t pid)
{
    char text[32];
    snprintf(text, sizeof(text), "%d", (int)pid);
    write_text(path, text);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i += 2) {
        if (i + 1 >= argc)
            die("option '%s' wants a value", argv[i]);
        if (strcmp(argv[i], "--root") == 0)
            root = argv[i + 1];
        else if (strcmp(argv[i], "--log") == 0)
            logfile = argv[i + 1];
    }
    if (i >= argc)
        die("no command");
    const char *cmd = argv[i++];
    const char *bundle = NULL, *pidfile = NULL, *console = NULL, *process = NULL;
    const char *resources = NULL;
    bool all = false, force = false, detach = false;
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--bundle") == 0 && i + 1 < argc)
            bundle = argv[++i];
        else if (strcmp(a, "--pid-file") == 0 && i + 1 < argc)
            pidfile = argv[++i];
        else if (strcmp(a, "--console-socket") == 0 && i + 1 < argc)
            console = argv[++i];
        else if (strcmp(a, "--process") == 0 && i + 1 < argc)
            process = argv[++i];
        else if (strcmp(a, "--resources") == 0 && i + 1 < argc)
            resources = argv[++i];
        else if (strcmp(a, "--all") == 0)
            all = true;
        else if (strcmp(a, "--force") == 0)
            force = true;
        else if (strcmp(a, "--detach") == 0)
            detach = true;
        else if (strcmp(a, "--no-pivot") == 0)
            continue;
        else if (a[0] == '-')
            die("unknown option '%s'", a);
        else if (npos < 2)
            pos[npos++] = a;
    }
    const char *id = pos[0];
    if (id == NULL)
        die("%s: no container id", cmd);
    char dir[512], path[512];
    snprintf(dir, sizeof(dir), "%s/%s", root, id);
    if (strcmp(cmd, "create") == 0) {
        if (bundle == NULL || pidfile == NULL)
            die("create wants --bundle and --pid-file");
        mkdir(root, 0700);
        if (mkdir(dir, 0700) < 0)
            die("container '%s': %s", id, strerror(errno));
        snprintf(path, sizeof(path), "%s/config.json", bundle);
        json_t *spec = load(path);
        state_path(path, id, "exec.fifo");
        if (mkfifo(path, 0600) < 0)
            die("mkfifo: %s", strerror(errno));
        pid_t pid = spawn(json_object_get(spec, "process"), console, path);
        write_pid(pidfile, pid);
        state_path(path, id, "pid");
        write_pid(path, pid);
        return 0;
    }
    pid_t pid = read_pid(id);
    if (strcmp(cmd, "start") == 0) {
        state_path(path, id, "exec.fifo");
        int fd = open(path, O_WRONLY);
        if (fd < 0 || write(fd, "x", 1) != 1)
            die("start '%s': %s", id, strerror(errno));
        close(fd);
        unlink(path);
        state_path(path, id, "started-by-crun");
        write_text(path, "1");
    } else if (strcmp(cmd, "exec") == 0) {
        if (!detach || process == NULL || pidfile == NULL)
            die("exec wants --detach, --process and --pid-file");
        write_pid(pidfile, spawn(load(process), console, NULL));
    } else if (strcmp(cmd, "kill") == 0) {
        int sig = pos[1] ? atoi(pos[1]) : SIGTERM;
        if (kill(all ? -pid : pid, sig) < 0)
            die("kill: %s", strerror(errno));
    } else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
        kill(-pid, cmd[0] == 'p' ? SIGSTOP : SIGCONT);
    } else if (strcmp(cmd, "update") == 0) {
        if (resources == NULL)
            die("update wants --resources");
        json_t *r = load(resources);
        state_path(path, id, "resources.json");
        json_dump_file(r, path, JSON_COMPACT);
    } else if (strcmp(cmd, "delete") == 0) {
        if (force)
            kill(pid, SIGKILL);
        else if (kill(pid, 0) == 0 && strcmp(cmd, "delete") == 0) {
            /* a zombie still answers kill(0); the agent deletes only reaped inits */
        }
        static const char *const state_files[] = {"exec.fifo", "pid", "resources.json",
                                                  "started-by-crun"};
        for (size_t k = 0; k < sizeof(state_files) / sizeof(state_files[0]); k++) {
            state_path(path, id, state_files[k]);
            unlink(path);
        }
        if (rmdir(dir) < 0)
            die("rmdir '%s': %s", dir, strerror(errno));
    } else if (strcmp(cmd, "state") == 0) {
        printf("{\"id\":\"%s\",\"pid\":%d}\n", id, (int)pid);
    } else {
        die("unknown command '%s'", cmd);
    }
    return 0;
}
