/* agent_transport_serial.c - the agent on a virtio-serial port.
 *
 * The port appears asynchronously (the host adds ports and names them by
 * control messages after virtio_console loads): we wait on kernel uevents
 * (NETLINK_KOBJECT_UEVENT) and look again at each one. While no host is
 * connected, the port reports POLLHUP continuously, so it leaves the epoll
 * set at hang-up; the driver sends SIGIO to the port's owner whenever the
 * host connection changes, and the agent's signalfd passes it to on_sigio,
 * which puts the port back once a host is there. A clone restored while its
 * host was already connected sees no change at all and keeps serving; a
 * host that reconnected before its hang-up was seen gets a new Announce. */
#include "agent_transport.h"

#include <dirent.h>        /* opendir */
#include <errno.h>         /* errno */
#include <fcntl.h>         /* open, fcntl */
#include <linux/netlink.h> /* sockaddr_nl */
#include <poll.h>          /* poll */
#include <stdio.h>         /* snprintf */
#include <string.h>        /* strcmp */
#include <sys/epoll.h>     /* EPOLLIN */
#include <sys/socket.h>    /* socket */
#include <unistd.h>        /* close, getpid */

#include "wp_log.h"

int agent_serial_find_port(const char *sysfs_ports, const char *dev_dir, const char *name,
                           char *out, size_t len)
{
    DIR *d = opendir(sysfs_ports);
    if (d == NULL)
        return 0;
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[512], value[128] = "";
        snprintf(path, sizeof(path), "%s/%s/name", sysfs_ports, de->d_name);
        FILE *f = fopen(path, "re");
        if (f == NULL)
            continue;
        if (fgets(value, sizeof(value), f) != NULL)
            value[strcspn(value, "\n")] = '\0';
        fclose(f);
        if (strcmp(value, name) == 0) {
            snprintf(out, len, "%s/%s", dev_dir, de->d_name);
            found = access(out, F_OK) == 0;
        }
    }
    closedir(d);
    return found;
}

static bool host_present(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, 0) >= 0 && !(pfd.revents & POLLHUP);
}

static void serial_hangup(void *opaque);

/* If a host is on the port and we are not serving it, serve it. */
static void serial_check(agent_transport_t *t)
{
    if (t->fd < 0 || t->connected || !host_present(t->fd))
        return;
    wp_error_t err = {0};
    t->connected = true;
    if (agent_server_add_conn(t->server, t->fd, true, serial_hangup, t, true, &err) < 0) {
        t->connected = false;
        wp_log_error("agent: serve '%s': %s", t->port_path, err.msg);
    }
}

static void serial_hangup(void *opaque)
{
    agent_transport_t *t = opaque;
    t->connected = false;
    /* the host may already be back: its SIGIO could have come first */
    serial_check(t);
}

static int serial_open(agent_transport_t *t, wp_error_t *err)
{
    int fd = open(t->port_path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return wp_error_errno(err, errno, "open '%s'", t->port_path);
    /* ask for SIGIO before looking at the state, so no change is missed */
    if (fcntl(fd, F_SETOWN, getpid()) < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC) < 0) {
        close(fd);
        return wp_error_errno(err, errno, "enable SIGIO on '%s'", t->port_path);
    }
    t->fd = fd;
    wp_log_info("agent: serving on '%s'", t->port_path);
    serial_check(t);
    return 0;
}

static void uevent_ready(agent_server_t *s, agent_watch_t *w, uint32_t events)
{
    (void)events;
    agent_transport_t *t = w->opaque;
    char buf[4096];
    while (recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
    }
    if (!agent_serial_find_port(t->sysfs_ports, t->dev_dir, AGENT_PORT_NAME, t->port_path,
                                sizeof(t->port_path)))
        return;
    agent_server_unwatch(s, w);
    close(w->fd);
    w->fd = -1;
    wp_error_t err = {0};
    if (serial_open(t, &err) < 0)
        wp_log_error("agent: %s", err.msg);
}

static int serial_start(agent_transport_t *t, agent_server_t *s, wp_error_t *err)
{
    t->server = s;
    t->fd = -1;
    if (t->sysfs_ports == NULL)
        t->sysfs_ports = "/sys/class/virtio-ports";
    if (t->dev_dir == NULL)
        t->dev_dir = "/dev";
    /* listen for uevents first, then look: a port added in between is not missed */
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
    if (nl >= 0) {
        struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = 1};
        if (bind(nl, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
            close(nl);
            nl = -1;
        }
    }
    if (agent_serial_find_port(t->sysfs_ports, t->dev_dir, AGENT_PORT_NAME, t->port_path,
                               sizeof(t->port_path))) {
        if (nl >= 0)
            close(nl);
        return serial_open(t, err);
    }
    if (nl < 0)
        return wp_error_errno(err, errno, "no port named '%s' and no uevent socket to wait on",
                              AGENT_PORT_NAME);
    t->watch = (agent_watch_t){.fd = nl, .fn = uevent_ready, .opaque = t};
    wp_log_info("agent: waiting for virtio-serial port '%s'", AGENT_PORT_NAME);
    return agent_server_watch(s, &t->watch, EPOLLIN, err);
}

static void serial_sigio(agent_transport_t *t)
{
    /* A host that closed and reconnected at once (warmpoold lets go of a
     * fresh clone, its holder connects) can be back before the hang-up was
     * seen: the port never reported one, the old connection just goes on.
     * The new host still waits for its Announce: the change signal says a
     * host came, so announce again (a second Announce is harmless). */
    if (t->fd >= 0 && t->connected && host_present(t->fd)) {
        if (agent_server_announce(t->server, t->fd) < 0)
            wp_log_warn("agent: announce on '%s' failed", t->port_path);
        return;
    }
    serial_check(t);
}

const agent_transport_ops_t agent_transport_serial = {
    .name = "serial",
    .start = serial_start,
    .on_sigio = serial_sigio,
};
