/* agent_transport_vsock.c - the agent on AF_VSOCK: listen on
 * VMADDR_CID_ANY:port, serve every accepted host connection. */
#include "agent_transport.h"

#include <errno.h>            /* errno */
#include <linux/vm_sockets.h> /* sockaddr_vm */
#include <sys/epoll.h>        /* EPOLLIN */
#include <sys/socket.h>       /* socket, accept4 */
#include <unistd.h>           /* close */

#include "wp_cleanup.h"
#include "wp_log.h"

static void vsock_accept(agent_server_t *s, agent_watch_t *w, uint32_t events)
{
    (void)events;
    for (;;) {
        /* non-blocking: a host that stops reading its replies must not
         * stall the agent for every other host (agent_server.c) */
        int fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR)
                wp_log_warn("agent: vsock accept failed (errno %d)", errno);
            return;
        }
        wp_error_t err = {0};
        if (agent_server_add_conn(s, fd, false, NULL, NULL, true, &err) < 0)
            wp_log_error("agent: serve vsock connection: %s", err.msg);
    }
}

static int vsock_start(agent_transport_t *t, agent_server_t *s, wp_error_t *err)
{
    t->server = s;
    unsigned port = t->vsock_port ? t->vsock_port : AGENT_DEFAULT_VSOCK_PORT;
    _cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return wp_error_errno(err, errno, "vsock socket (is the vsock transport loaded?)");
    struct sockaddr_vm addr = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return wp_error_errno(err, errno, "bind vsock port %u", port);
    if (listen(fd, 16) < 0)
        return wp_error_errno(err, errno, "listen on vsock port %u", port);
    t->watch = (agent_watch_t){.fd = fd, .fn = vsock_accept, .opaque = t};
    if (agent_server_watch(s, &t->watch, EPOLLIN, err) < 0)
        return -1;
    t->fd = wp_steal_fd(&fd);
    wp_log_info("agent: listening on vsock port %u", port);
    return 0;
}

static void vsock_sigio(agent_transport_t *t)
{
    (void)t;
}

const agent_transport_ops_t agent_transport_vsock = {
    .name = "vsock",
    .start = vsock_start,
    .on_sigio = vsock_sigio,
};
