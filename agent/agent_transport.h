/* agent_transport.h - how the agent meets its host: one small interface,
 * two implementations (virtio-serial port, AF_VSOCK listener). A transport
 * registers its fds with the server and hands it connections; it never
 * waits on a timer. Single-threaded (the agent's loop). */
#ifndef AGENT_TRANSPORT_H
#define AGENT_TRANSPORT_H

#include <stdbool.h> /* bool */

#include "agent_server.h"

#define AGENT_PORT_NAME "org.warmpool.agent"
#define AGENT_DEFAULT_VSOCK_PORT 1024

typedef struct agent_transport agent_transport_t;

typedef struct agent_transport_ops {
    const char *name;
    /* Open the channel and register with s; connections follow as hosts come. */
    int (*start)(agent_transport_t *t, agent_server_t *s, wp_error_t *err);
    /* SIGIO arrived (virtio-serial: the host connection may have changed). */
    void (*on_sigio)(agent_transport_t *t);
} agent_transport_ops_t;

struct agent_transport {
    const agent_transport_ops_t *ops;
    agent_server_t *server;
    unsigned vsock_port;     /* vsock */
    const char *sysfs_ports; /* serial: "/sys/class/virtio-ports" (tests may change it) */
    const char *dev_dir;     /* serial: "/dev" */
    int fd;                  /* the port or the listening socket, -1 when none */
    bool connected;          /* serial: a host is on the port */
    agent_watch_t watch;     /* netlink (serial, while the port is missing) or listener */
    char port_path[64];
};

extern const agent_transport_ops_t agent_transport_serial;
extern const agent_transport_ops_t agent_transport_vsock;

/* Find the virtio-serial port named `name` under sysfs_ports; writes
 * "<dev_dir>/vportNpM" to out. Returns 1 found, 0 not (yet). */
int agent_serial_find_port(const char *sysfs_ports, const char *dev_dir, const char *name,
                           char *out, size_t len);

#endif
