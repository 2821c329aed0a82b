/* api_listener.c - the API's ipc listener, and a watchdog that keeps it
 * accepting (contract in api_internal.h).
 *
 * Why a watchdog: in nng 1.5.2 (fixed in 1.6.0) a client that hangs up
 * before the server has sent its handshake (EPIPE, reported as NNG_ECLOSED)
 * makes the socket's accept loop stop for good: every later client
 * connects, handshakes with the transport and then waits forever. A second
 * warmpoold starting on the same socket does exactly that when it checks
 * whether the socket is stale. So every interval the watchdog opens a
 * connection of its own and waits for the socket to adopt it
 * (NNG_PIPE_EV_ADD_POST); if it is not adopted, a new listener takes the
 * path. The old one stays open, because closing an nng listener closes the
 * connections it accepted, which still work.
 * Threads: start/stop from one thread; the watchdog has its own. */
#include "api_internal.h"

#include <errno.h>                          /* ENAMETOOLONG */
#include <nng/protocol/reqrep0/req.h>       /* NNG_REQ0_SELF: the probe's protocol */
#include <nng/supplemental/util/platform.h> /* nng_msleep */
#include <poll.h>                           /* poll */
#include <pthread.h>                        /* pthread_* */
#include <stdio.h>                          /* snprintf */
#include <stdlib.h>                         /* calloc */
#include <string.h>                         /* strrchr */
#include <sys/socket.h>                     /* socket, connect */
#include <sys/un.h>                         /* sockaddr_un */
#include <time.h>                           /* clock_gettime */
#include <unistd.h>                         /* unlink */

#include "wp_fs.h"
#include "wp_log.h"

#define PROBE_WAIT_MS 1000 /* for the socket to adopt the probe's connection */
#define OLD_MAX       8    /* replaced listeners kept open for their connections */

struct api_listener {
    nng_socket sock;
    char url[POOL_PATH_MAX + 8];
    const char *path; /* in url, after "ipc://" */
    int mode;
    int interval_ms;
    nng_listener current;
    nng_listener old[OLD_MAX];
    int n_old;
    atomic_uint adopted; /* connections the socket took: NNG_PIPE_EV_ADD_POST */
    atomic_uint restarts;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock; /* guards stopping */
    pthread_cond_t cond;
    bool stopping;
};

int api_nng_errno(int rv)
{
    switch (rv) {
    case NNG_EADDRINUSE:
        return EADDRINUSE;
    case NNG_EADDRINVAL:
        return EINVAL;
    case NNG_EPERM:
        return EACCES;
    case NNG_ENOMEM:
        return ENOMEM;
    case NNG_ENOENT:
        return ENOENT;
    default:
        return EIO;
    }
}

static void pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p, (void)ev;
    api_listener_t *al = arg;
    atomic_fetch_add(&al->adopted, 1);
}

/* The socket's directory must exist before bind; a daemon's runtime dir
 * (/run is a tmpfs) usually does not after boot. */
static int make_socket_dir(const char *path, wp_error_t *err)
{
    char dir[POOL_PATH_MAX];
    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return wp_error_set(err, ENAMETOOLONG, "API socket path '%s' is too long", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    return wp_mkdir_p(dir, 0755, err);
}

/* The mode is applied by nng between bind and listen: no window in which
 * the socket is wider open. The hard receive cap only bounds what nng
 * buffers; API_MAX_MESSAGE is enforced with a reply by the server. */
static int listen_once(api_listener_t *al, nng_listener *out, wp_error_t *err)
{
    nng_listener l = NNG_LISTENER_INITIALIZER;
    int rv = nng_listener_create(&l, al->sock, al->url);
    if (rv == 0)
        rv = nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, API_RECV_HARD_MAX);
    if (rv == 0)
        rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, al->mode);
    if (rv == 0)
        rv = nng_listener_start(l, 0);
    if (rv != 0) {
        if (nng_listener_id(l) > 0)
            nng_listener_close(l);
        return wp_error_set(err, api_nng_errno(rv), "listen on '%s': %s", al->url,
                            nng_strerror(rv));
    }
    *out = l;
    return 0;
}

/* Connect to path and complete the SP handshake as a REQ peer: send our
 * 8-byte header, read the server's. Returns the connected fd or -1. The
 * probe is a plain socket, not an nng one: in nng 1.5.2 closing a dialer
 * whose pipe the server never adopted can hang in nng_close. */
static int probe_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    static const uint8_t hello[8] = {0, 'S', 'P', 0, 0, NNG_REQ0_SELF, 0, 0};
    uint8_t reply[8];
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        send(fd, hello, sizeof(hello), MSG_NOSIGNAL) != (ssize_t)sizeof(hello))
        goto fail;
    while (got < sizeof(reply)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, PROBE_WAIT_MS) <= 0)
            goto fail;
        ssize_t n = recv(fd, reply + got, sizeof(reply) - got, 0);
        if (n <= 0)
            goto fail;
        got += (size_t)n;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* Does the socket still adopt new connections? The probe hangs up only
 * after the server's handshake arrived, so it never triggers the bug it
 * looks for. */
static bool accepting(api_listener_t *al)
{
    unsigned before = atomic_load(&al->adopted);
    int fd = probe_connect(al->path);
    if (fd < 0)
        return false;
    bool ok = false;
    for (int waited = 0; !ok && waited < PROBE_WAIT_MS; waited += 10) {
        ok = atomic_load(&al->adopted) != before;
        if (!ok)
            nng_msleep(10);
    }
    close(fd);
    return ok;
}

static void replace(api_listener_t *al)
{
    wp_log_warn("API: '%s' no longer accepts connections (nng 1.5 stops accepting after a "
                "client hangs up mid-handshake); listening anew",
                al->path);
    unlink(al->path); /* the old listener keeps its inode and its connections */
    nng_listener fresh;
    wp_error_t err = {0};
    if (listen_once(al, &fresh, &err) < 0) {
        wp_log_error("API: %s", err.msg);
        return;
    }
    if (al->n_old == OLD_MAX) {
        nng_listener_close(al->old[0]);
        memmove(al->old, al->old + 1, sizeof(al->old[0]) * (OLD_MAX - 1));
        al->n_old--;
    }
    al->old[al->n_old++] = al->current;
    al->current = fresh;
    atomic_fetch_add(&al->restarts, 1);
}

static void *watchdog_main(void *arg)
{
    api_listener_t *al = arg;
    pthread_mutex_lock(&al->lock);
    while (!al->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (int64_t)al->interval_ms * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&al->cond, &al->lock, &ts);
        if (al->stopping)
            break;
        pthread_mutex_unlock(&al->lock);
        if (!accepting(al))
            replace(al);
        pthread_mutex_lock(&al->lock);
    }
    pthread_mutex_unlock(&al->lock);
    return NULL;
}

api_listener_t *api_listener_start(nng_socket sock, const char *url, unsigned mode, int interval_ms,
                                   wp_error_t *err)
{
    api_listener_t *al = calloc(1, sizeof(*al));
    if (al == NULL) {
        wp_error_errno(err, ENOMEM, "API listener");
        return NULL;
    }
    al->sock = sock;
    snprintf(al->url, sizeof(al->url), "%s", url);
    al->path = al->url + 6;
    al->mode = mode ? (int)mode : 0600;
    al->interval_ms = interval_ms;
    pthread_mutex_init(&al->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&al->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rv = nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, pipe_added, al);
    if (rv != 0)
        wp_error_set(err, api_nng_errno(rv), "API socket: %s", nng_strerror(rv));
    if (rv != 0 || make_socket_dir(al->path, err) < 0 || listen_once(al, &al->current, err) < 0) {
        nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, NULL, NULL);
        api_listener_free(al);
        return NULL;
    }
    if (interval_ms > 0) {
        rv = pthread_create(&al->thread, NULL, watchdog_main, al);
        if (rv != 0)
            wp_log_warn("API: no listener watchdog: %s", strerror(rv));
        al->running = rv == 0;
    }
    return al;
}

unsigned api_listener_restarts(api_listener_t *al)
{
    return atomic_load(&al->restarts);
}

void api_listener_stop(api_listener_t *al)
{
    if (al == NULL || !al->running)
        return;
    pthread_mutex_lock(&al->lock);
    al->stopping = true;
    pthread_cond_signal(&al->cond);
    pthread_mutex_unlock(&al->lock);
    pthread_join(al->thread, NULL);
    al->running = false;
}

void api_listener_free(api_listener_t *al)
{
    if (al == NULL)
        return;
    api_listener_stop(al);
    pthread_cond_destroy(&al->cond);
    pthread_mutex_destroy(&al->lock);
    free(al);
}
