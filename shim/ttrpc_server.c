/* ttrpc_server.c - the server: listeners, the method table and the epoll
 * loop (see ttrpc.h). Connections and calls live in ttrpc_conn.c. */
#include "ttrpc_private.h"

#include <errno.h>      /* errno, E* */
#include <fcntl.h>      /* fcntl: O_NONBLOCK on a passed listener */
#include <stdlib.h>     /* calloc, free */
#include <string.h>     /* strcmp, strdup, strlen */
#include <sys/epoll.h>  /* epoll_* */
#include <sys/socket.h> /* socket, bind, listen, accept4 */
#include <sys/un.h>     /* sockaddr_un */
#include <unistd.h>     /* close */

#include "wp_cleanup.h" /* _cleanup_close_ */
#include "wp_log.h"     /* wp_log_warn */

#define TTRPC_EVENTS 32

ttrpc_server_t *ttrpc_server_new(wp_error_t *err)
{
    ttrpc_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        wp_error_errno(err, ENOMEM, "ttrpc server");
        return NULL;
    }
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        wp_error_errno(err, errno, "ttrpc server: epoll_create1");
        free(s);
        return NULL;
    }
    return s;
}

void ttrpc_server_free(ttrpc_server_t *s)
{
    if (s == NULL)
        return;
    while (s->calls != NULL)
        ttrpc_call_free(s->calls);
    while (s->conns != NULL)
        ttrpc_conn_close(s->conns); /* unlinks it; the last reference frees it */
    for (struct ttrpc_listener *l = s->listeners, *next; l != NULL; l = next) {
        next = l->next;
        close(l->fd);
        free(l);
    }
    for (struct ttrpc_method *m = s->methods, *next; m != NULL; m = next) {
        next = m->next;
        free(m->service);
        free(m->method);
        free(m);
    }
    close(s->epfd);
    free(s);
}

int ttrpc_server_listen_fd(ttrpc_server_t *s, int fd, wp_error_t *err)
{
    _cleanup_close_ int owned = fd;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return wp_error_errno(err, errno, "ttrpc listener %d: set O_NONBLOCK", fd);
    struct ttrpc_listener *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return wp_error_errno(err, ENOMEM, "ttrpc listener");
    l->kind = TTRPC_EP_LISTENER;
    l->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        free(l);
        return wp_error_errno(err, errno, "ttrpc listener %d: epoll_ctl", fd);
    }
    owned = -1;
    l->next = s->listeners;
    s->listeners = l;
    return 0;
}

int ttrpc_server_listen(ttrpc_server_t *s, const char *path, wp_error_t *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return wp_error_set(err, ENAMETOOLONG, "ttrpc socket '%s': path longer than %zu bytes",
                            path, sizeof(addr.sun_path) - 1);
    strcpy(addr.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wp_error_errno(err, errno, "ttrpc socket '%s'", path);
    /* no unlink first: a socket already there may be a live shim's */
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return wp_error_errno(err, errno, "ttrpc socket '%s': bind", path);
    if (listen(fd, SOMAXCONN) < 0)
        return wp_error_errno(err, errno, "ttrpc socket '%s': listen", path);
    int ret = ttrpc_server_listen_fd(s, fd, err);
    int listener = wp_steal_fd(&fd); /* owned by the server even on failure */
    if (ret < 0)
        return wp_error_wrap(err, "ttrpc socket '%s'", path);
    return listener;
}

int ttrpc_server_add(ttrpc_server_t *s, const char *service, const char *method,
                     ttrpc_handler_fn fn, void *opaque, wp_error_t *err)
{
    if (ttrpc_server_lookup(s, service, method) != NULL)
        return wp_error_set(err, EEXIST, "ttrpc method '%s/%s' is registered already", service,
                            method);
    struct ttrpc_method *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return wp_error_errno(err, ENOMEM, "ttrpc method '%s/%s'", service, method);
    m->service = strdup(service);
    m->method = strdup(method);
    if (m->service == NULL || m->method == NULL) {
        free(m->service);
        free(m->method);
        free(m);
        return wp_error_errno(err, ENOMEM, "ttrpc method '%s/%s'", service, method);
    }
    m->fn = fn;
    m->opaque = opaque;
    m->next = s->methods;
    s->methods = m;
    return 0;
}

const struct ttrpc_method *ttrpc_server_lookup(const ttrpc_server_t *s, const char *service,
                                               const char *method)
{
    for (const struct ttrpc_method *m = s->methods; m != NULL; m = m->next)
        if (strcmp(m->service, service) == 0 && strcmp(m->method, method) == 0)
            return m;
    return NULL;
}

int ttrpc_server_fd(const ttrpc_server_t *s)
{
    return s->epfd;
}

size_t ttrpc_server_connections(const ttrpc_server_t *s)
{
    return s->n_conns;
}

/* Accept every pending connection. Running out of fds is the caller's to
 * hear: the listener stays readable, so ignoring it would spin. */
static int accept_all(ttrpc_server_t *s, struct ttrpc_listener *l, wp_error_t *err)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return wp_error_errno(err, errno, "ttrpc: accept");
        }
        wp_error_t cerr = {0};
        if (ttrpc_conn_new(s, fd, &cerr) == NULL)
            wp_log_warn("ttrpc: dropped a new connection: %s", cerr.msg);
    }
}

int ttrpc_server_process(ttrpc_server_t *s, int timeout_ms, wp_error_t *err)
{
    struct epoll_event evs[TTRPC_EVENTS];
    int n = epoll_wait(s->epfd, evs, TTRPC_EVENTS, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        return wp_error_errno(err, errno, "ttrpc: epoll_wait");
    }
    /* handling one event may close (and would free) another's connection */
    for (int i = 0; i < n; i++)
        if (*(enum ttrpc_ep_kind *)evs[i].data.ptr == TTRPC_EP_CONN)
            ttrpc_conn_ref(evs[i].data.ptr);
    int ret = 0;
    for (int i = 0; i < n; i++) {
        if (*(enum ttrpc_ep_kind *)evs[i].data.ptr == TTRPC_EP_CONN)
            ttrpc_conn_event(evs[i].data.ptr, evs[i].events);
        else if (ret == 0)
            ret = accept_all(s, evs[i].data.ptr, err);
    }
    for (int i = 0; i < n; i++)
        if (*(enum ttrpc_ep_kind *)evs[i].data.ptr == TTRPC_EP_CONN)
            ttrpc_conn_unref(evs[i].data.ptr);
    return ret;
}
