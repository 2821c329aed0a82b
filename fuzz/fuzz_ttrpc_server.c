/* fuzz_ttrpc_server.c - the shim's ttrpc server (shim/ttrpc_*.c) reading
 * what containerd could send: arbitrary bytes on one connection, then EOF.
 * A malformed frame must close that connection only; nothing is read out
 * of bounds or leaked (the server is freed after every input). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ttrpc.h"

static void echo(void *opaque, ttrpc_call_t *call, const uint8_t *payload, size_t len)
{
    (void)opaque;
    ttrpc_call_reply(call, TTRPC_OK, NULL, payload, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/wp-fuzz-ttrpc-%d.sock", (int)getpid());
    unlink(path);
    wp_error_t err = {0};
    ttrpc_server_t *s = ttrpc_server_new(&err);
    if (s == NULL)
        return 0;
    int c = -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (ttrpc_server_add(s, "containerd.task.v2.Task", "State", echo, NULL, &err) == 0 &&
        ttrpc_server_listen(s, path, &err) >= 0 &&
        (c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
        connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        ttrpc_server_process(s, 100, &err); /* accept */
        size_t off = 0;
        while (off < size) {
            ssize_t n = send(c, data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                off += (size_t)n;
            ttrpc_server_process(s, 0, &err);
            if (n <= 0 && ttrpc_server_connections(s) == 0)
                break; /* the server closed it: a malformed frame */
        }
        shutdown(c, SHUT_WR);
        for (int i = 0; i < 100 && ttrpc_server_connections(s) > 0; i++) {
            char drain[4096];
            while (recv(c, drain, sizeof(drain), MSG_DONTWAIT) > 0)
                ;
            ttrpc_server_process(s, 5, &err);
        }
    }
    if (c >= 0)
        close(c);
    ttrpc_server_free(s);
    unlink(path);
    return 0;
}
