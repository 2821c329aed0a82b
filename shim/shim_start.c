/* shim_start.c - the `start` command (shim_cmd.h): find or start the
 * sandbox's serving shim and print its address.
 *
 * Grouping (containerd's rule): a container whose spec says it belongs to
 * a pod (io.kubernetes.cri.container-type "container" with a sandbox id)
 * is served by its sandbox's shim, in the sandbox's VM; anything else is
 * its own sandbox. The server is forked after the socket listens, so the
 * address printed is always dialable; it leaves containerd's pipes (fds
 * 0-2 go to /dev/null and the bundle's log FIFO) and its session, and
 * becomes a subreaper. */
#include <errno.h>          /* errno */
#include <fcntl.h>          /* open */
#include <jansson.h>        /* json_load_file */
#include <mbedtls/sha256.h> /* mbedtls_sha256 */
#include <stdio.h>          /* printf */
#include <stdlib.h>         /* getenv */
#include <string.h>         /* strcmp */
#include <sys/prctl.h>      /* PR_SET_CHILD_SUBREAPER */
#include <sys/socket.h>     /* socket */
#include <sys/stat.h>       /* umask */
#include <sys/un.h>         /* sockaddr_un */
#include <unistd.h>         /* fork */

#include "shim.h"
#include "shim_cmd.h"
#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_log.h"

#define SOCKET_PATH_MAX 107 /* sun_path, with its NUL */

int shim_socket_path(const shim_config_t *cfg, const char *address, const char *ns,
                     const char *sandbox_id, char *out, wp_error_t *err)
{
    char text[8192];
    int n = snprintf(text, sizeof(text), "%s%s%s", address, ns, sandbox_id);
    if (n < 0 || (size_t)n >= sizeof(text))
        return wp_error_set(err, ENAMETOOLONG, "address, namespace and id are too long");
    unsigned char sum[32];
    if (mbedtls_sha256_ret((const unsigned char *)text, (size_t)n, sum, 0) != 0)
        return wp_error_set(err, EIO, "sha256 failed");
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sum[i]);
    n = snprintf(out, PATH_MAX, "%s/%s", cfg->socket_dir, hex);
    if (n < 0 || n >= SOCKET_PATH_MAX)
        return wp_error_set(err, ENAMETOOLONG, "socket path '%s/%s' is over %d bytes",
                            cfg->socket_dir, hex, SOCKET_PATH_MAX - 1);
    return 0;
}

/* The sandbox this container belongs to (its own id when none). */
static const char *sandbox_of(json_t *spec, const char *id)
{
    json_t *ann = json_object_get(spec, "annotations");
    const char *type = json_string_value(json_object_get(ann, "io.kubernetes.cri.container-type"));
    const char *sandbox = json_string_value(json_object_get(ann, "io.kubernetes.cri.sandbox-id"));
    if (type && strcmp(type, "container") == 0 && sandbox && sandbox[0])
        return sandbox;
    return id;
}

static int unix_address(const char *path, struct sockaddr_un *sa)
{
    *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
    snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", path);
    return 0;
}

bool shim_listens(const char *path)
{
    struct sockaddr_un sa;
    unix_address(path, &sa);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

static int listen_at(const char *path, wp_error_t *err)
{
    _cleanup_free_ char *dir = strdup(path);
    if (dir == NULL)
        return wp_error_set(err, ENOMEM, "out of memory");
    *strrchr(dir, '/') = '\0';
    if (wp_mkdir_p(dir, 0711, err) < 0)
        return -1;
    if (unlink(path) < 0 && errno != ENOENT) /* a dead shim's socket */
        return wp_error_errno(err, errno, "remove stale socket '%s'", path);
    struct sockaddr_un sa;
    unix_address(path, &sa);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wp_error_errno(err, errno, "socket");
    mode_t old = umask(0077); /* containerd runs as root: nobody else may dial */
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        return wp_error_errno(err, e, "listen on '%s'", path);
    }
    return fd;
}

static int write_address(const char *bundle, const char *address, wp_error_t *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/address", bundle);
    return wp_write_file_atomic(path, address, strlen(address), 0644, err);
}

/* In the forked server: leave containerd's pipes and session. */
static void detach(const char *bundle)
{
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    char log_path[PATH_MAX + 8];
    snprintf(log_path, sizeof(log_path), "%s/log", bundle);
    /* containerd reads the log FIFO; without a reader, logs go nowhere */
    int log = open(log_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(log >= 0 ? log : null, STDERR_FILENO);
    if (log >= 0)
        close(log);
    close(null);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
}

static int serve(const shim_args_t *a, const shim_config_t *cfg, const char *sandbox, int fd,
                 const char *socket_path)
{
    shim_t s = {.cfg = *cfg};
    snprintf(s.ns, sizeof(s.ns), "%s", a->ns);
    snprintf(s.id, sizeof(s.id), "%s", sandbox);
    wp_error_t err = {0};
    const char *events = getenv("TTRPC_ADDRESS");
    s.events = shim_events_new(events, a->ns, &err);
    s.early = shim_io_early_new();
    int ret = s.events && s.early ? shim_serve(&s, fd, &err) : -1;
    if (ret < 0)
        wp_log_error("shim %s: %s", sandbox, err.msg);
    shim_events_free(s.events);
    shim_io_early_free(s.early);
    unlink(socket_path);
    return ret < 0 ? 1 : 0;
}

int shim_cmd_start(const shim_args_t *a, const shim_config_t *cfg)
{
    char bundle[PATH_MAX];
    if (a->bundle[0])
        snprintf(bundle, sizeof(bundle), "%s", a->bundle);
    else if (getcwd(bundle, sizeof(bundle)) == NULL)
        return shim_fail("start: cwd: %s", strerror(errno));
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    json_error_t jerr;
    json_auto_t *spec = json_load_file(path, 0, &jerr);
    if (spec == NULL)
        return shim_fail("start: bundle spec '%s': %s", path, jerr.text);
    const char *sandbox = sandbox_of(spec, a->id);
    wp_error_t err = {0};
    char sock[PATH_MAX], address[PATH_MAX + 16];
    if (shim_socket_path(cfg, a->address, a->ns, sandbox, sock, &err) < 0)
        return shim_fail("start: %s", err.msg);
    snprintf(address, sizeof(address), "unix://%s", sock);
    if (strcmp(sandbox, a->id) != 0 || shim_listens(sock)) {
        if (!shim_listens(sock))
            return shim_fail("start: the shim of sandbox %s does not answer on '%s'", sandbox,
                             sock);
    } else {
        int fd = listen_at(sock, &err);
        if (fd < 0)
            return shim_fail("start: %s", err.msg);
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
            return shim_fail("start: fork: %s", strerror(errno));
        if (pid == 0) {
            detach(bundle);
            _exit(serve(a, cfg, sandbox, fd, sock));
        }
        close(fd);
    }
    if (write_address(bundle, address, &err) < 0)
        return shim_fail("start: %s", err.msg);
    printf("%s", address);
    return 0;
}
