/* fake_agent.h - a scripted container agent on a unix socket, on its own
 * thread, for running the built `warmpoolctl run --endpoint` against: it
 * answers mount_share, create or exec (streams 1 stdin, 2 stdout, 3
 * stderr), wait, start, delete_process, signal (the process then dies of it) and delete; echoes
 * stdin back on stdout as "got: ..." once stdin ends (or at once, without stdin), writes "warn" on
 * stderr, sends ProcessExited and answers the wait with exit_status. It records what it saw; the
 * test thread reads it after fake_agent_stop. No Criterion calls on its thread. */
#ifndef FAKE_AGENT_H
#define FAKE_AGENT_H

#include <pthread.h> /* pthread_t */
#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint32_t */

typedef struct fake_agent {
    /* set by the test */
    char sock_path[108];
    char share[256];      /* to check the rootfs bind while the container exists */
    uint32_t exit_status; /* answered to the wait */
    uint32_t exit_signal;
    /* recorded */
    char container_id[80];
    char exec_id[80]; /* the exec's, if one came */
    char process_json[4096];
    bool deleted_process;
    char spec_json[8192];
    bool create_stdin, create_terminal;
    bool rootfs_visible; /* <share>/<id>/rootfs/marker existed at create */
    int signalled;       /* the signal forwarded (the process then "dies" of it) */
    bool mounted_share, started, waited_before_start, deleted, delete_force;
    char stdin_data[4096];
    size_t stdin_len;
    bool stdin_eof;
    int calls;
    char failure[256]; /* non-empty: the script went wrong */
    /* private */
    uint32_t wait_id;
    bool finished;
    int listen_fd;
    pthread_t thread;
} fake_agent_t;

/* Listen on sock_path and serve one connection on a thread. */
void fake_agent_start(fake_agent_t *f);
/* Join the thread (it ends when warmpoolctl closes the connection). */
void fake_agent_stop(fake_agent_t *f);

#endif
