/* agent_crun.c - see agent_crun.h. */
#include "agent_crun.h"

#include <errno.h>           /* errno */
#include <fcntl.h>           /* open, fcntl */
#include <jansson.h>         /* json_loads: the spec */
#include <limits.h>          /* PATH_MAX */
#include <signal.h>          /* sigprocmask: a clean child */
#include <stdio.h>           /* snprintf */
#include <stdlib.h>          /* free */
#include <string.h>          /* strlen */
#include <sys/personality.h> /* personality */
#include <sys/socket.h>      /* socket, accept4, recvmsg */
#include <sys/un.h>          /* sockaddr_un */
#include <sys/wait.h>        /* waitpid */
#include <unistd.h>          /* fork, execv */

#include "wp_cleanup.h"
#include "wp_fs.h"

#define CRUN_MAX_ARGS 32

static inline void wp_json_decrefp(json_t **j)
{
    if (*j != NULL)
        json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(wp_json_decrefp)))

/* The last nonempty line of crun's log, into out. */
static void last_log_line(const char *log, char *out, size_t len)
{
    snprintf(out, len, "no message");
    _cleanup_free_ char *text = wp_read_file(log, 1 << 20, NULL, NULL);
    if (text == NULL)
        return;
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    char *line = strrchr(text, '\n');
    line = line ? line + 1 : text;
    if (*line != '\0')
        snprintf(out, len, "%s", line);
}

static void child_exec(const char *bin, char *const argv[], const int stdio[3])
{
    /* the agent blocks SIGCHLD, SIGIO and SIGPIPE for its signalfd (and a
     * test may ignore SIGPIPE): crun and the containers start clean */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    /* crun's own address layout fixed: every crun command then runs the
     * same code at the same addresses, which the emulator translated
     * already (TCG keeps translations by address; with a layout random
     * per exec each command translates crun and its libraries afresh,
     * ~0.3 s). Containers do not inherit it: agent_spec_prepare gives each
     * spec a linux.personality, which crun sets (clearing this flag)
     * before it executes the container's process. */
    personality(ADDR_NO_RANDOMIZE);
    int null = open("/dev/null", O_RDWR);
    for (int i = 0; i < 3; i++) {
        int fd = stdio[i] >= 0 ? stdio[i] : null;
        if (fd < 0 || dup2(fd, i) < 0)
            _exit(126);
    }
    execv(bin, argv);
    _exit(127);
}

int agent_crun_run(const agent_crun_t *c, const char *log, const char *const *args,
                   const int stdio[3], wp_error_t *err)
{
    const char *argv[CRUN_MAX_ARGS] = {c->bin, "--root", c->root, "--log", log};
    size_t n = 5;
    for (size_t i = 0; args[i] != NULL; i++) {
        if (n + 1 >= CRUN_MAX_ARGS)
            return wp_error_set(err, E2BIG, "crun '%s': too many arguments", args[0]);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    unlink(log); /* so the message read on failure is this command's */
    pid_t pid = fork();
    if (pid < 0)
        return wp_error_errno(err, errno, "crun %s: fork", args[0]);
    if (pid == 0)
        child_exec(c->bin, (char *const *)argv, stdio);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return wp_error_errno(err, errno, "crun %s: waitpid", args[0]);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char msg[512];
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        snprintf(msg, sizeof(msg), "cannot execute '%s'", c->bin);
    else
        last_log_line(log, msg, sizeof(msg));
    return wp_error_set(err, EIO, "crun %s failed (status %d): %s", args[0], status, msg);
}

static char *dump(json_t *root, wp_error_t *err)
{
    char *text = json_dumps(root, JSON_COMPACT);
    if (text == NULL)
        wp_error_set(err, ENOMEM, "encode the spec");
    return text;
}

char *agent_spec_prepare(const char *json, const char *id, bool terminal, bool *poststart_hooks,
                         wp_error_t *err)
{
    json_error_t jerr;
    _cleanup_json_ json_t *root = json_loads(json, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        wp_error_set(err, EINVAL, "spec of '%s' is not a JSON object: %s", id,
                     root ? "wrong type" : jerr.text);
        return NULL;
    }
    json_t *process = json_object_get(root, "process");
    if (!json_is_object(process)) {
        wp_error_set(err, EINVAL, "spec of '%s' has no 'process' object", id);
        return NULL;
    }
    json_object_set_new(process, "terminal", json_boolean(terminal));
    json_t *poststart = json_object_get(json_object_get(root, "hooks"), "poststart");
    *poststart_hooks = json_is_array(poststart) && json_array_size(poststart) > 0;
    json_t *linux_obj = json_object_get(root, "linux");
    if (linux_obj == NULL) {
        linux_obj = json_object();
        json_object_set_new(root, "linux", linux_obj);
    }
    if (!json_is_object(linux_obj)) {
        wp_error_set(err, EINVAL, "spec of '%s': 'linux' is not an object", id);
        return NULL;
    }
    /* crun runs with ASLR off (child_exec); "LINUX" turns it back on for
     * the container. A spec's own personality stays as it is. */
    if (json_object_get(linux_obj, "personality") == NULL) {
        json_t *persona = json_pack("{s:s}", "domain", "LINUX");
        if (persona == NULL || json_object_set_new(linux_obj, "personality", persona) < 0) {
            wp_error_set(err, ENOMEM, "spec of '%s': personality", id);
            return NULL;
        }
    }
    char cgroup[128];
    snprintf(cgroup, sizeof(cgroup), "/warmpool/%s", id);
    json_object_set_new(linux_obj, "cgroupsPath", json_string(cgroup));
    return dump(root, err);
}

char *agent_process_prepare(const char *json, bool terminal, wp_error_t *err)
{
    json_error_t jerr;
    _cleanup_json_ json_t *root = json_loads(json, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        wp_error_set(err, EINVAL, "process is not a JSON object: %s",
                     root ? "wrong type" : jerr.text);
        return NULL;
    }
    json_object_set_new(root, "terminal", json_boolean(terminal));
    return dump(root, err);
}

int agent_crun_start_direct(const agent_crun_t *c, const char *id, wp_error_t *err)
{
    char fifo[PATH_MAX];
    if (snprintf(fifo, sizeof(fifo), "%s/%s/exec.fifo", c->root, id) >= (int)sizeof(fifo))
        return wp_error_set(err, ENAMETOOLONG, "container '%s': state path too long", id);
    /* non-blocking: with no reader (the init is gone) this fails at once
     * with ENXIO where crun would block */
    _cleanup_close_ int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return wp_error_errno(err, errno, "container '%s': open '%s'", id, fifo);
    if (unlink(fifo) < 0)
        return wp_error_errno(err, errno, "container '%s': unlink '%s'", id, fifo);
    static const char zero = 0;
    if (write(fd, &zero, 1) != 1)
        return wp_error_errno(err, errno, "container '%s': write to '%s'", id, fifo);
    return 0;
}

int agent_read_pid(const char *path, pid_t *out, wp_error_t *err)
{
    _cleanup_free_ char *text = wp_read_file(path, 64, NULL, err);
    if (text == NULL)
        return wp_error_wrap(err, "crun's pid file");
    char *end = NULL;
    long pid = strtol(text, &end, 10);
    if (pid <= 0 || end == text)
        return wp_error_set(err, EINVAL, "pid file '%s' holds '%s'", path, text);
    *out = (pid_t)pid;
    return 0;
}

int agent_console_listen(const char *path, wp_error_t *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return wp_error_set(err, ENAMETOOLONG, "console socket path '%s' is too long", path);
    strcpy(addr.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wp_error_errno(err, errno, "console socket");
    unlink(path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0)
        return wp_error_errno(err, errno, "listen on console socket '%s'", path);
    return wp_steal_fd(&fd);
}

int agent_console_receive(int lfd, wp_error_t *err)
{
    /* crun connected and sent the fd before it exited: both are queued */
    _cleanup_close_ int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0)
        return wp_error_errno(err, errno, "crun did not connect to the console socket");
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl)};
    if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) < 0)
        return wp_error_errno(err, errno, "receive the pty master");
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (cm == NULL || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
        return wp_error_set(err, EPROTO, "the console socket carried no fd");
    int master;
    memcpy(&master, CMSG_DATA(cm), sizeof(master));
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    return master;
}
