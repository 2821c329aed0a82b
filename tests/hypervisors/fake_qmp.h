/* fake_qmp.h - a scripted QMP server for tests: a thread that plays a list
 * of steps on one end of a socket. EXPECT steps read one command and check
 * its name and arguments (and remember its id as $0, $1, ... in the order
 * received); SEND steps write a line with $N replaced by those ids. The
 * first mismatch stops the script and is kept in `error` for the test to
 * assert on after fake_qmp_join() (Criterion asserts belong to the test
 * thread). */
#ifndef FAKE_QMP_H
#define FAKE_QMP_H

#include <pthread.h>  /* pthread_t */
#include <stdbool.h>  /* bool */
#include <sys/stat.h> /* struct stat */

typedef enum fake_step_kind {
    FAKE_END = 0,
    FAKE_SEND,      /* text: a JSON line to write ($N = id of the N-th command received) */
    FAKE_EXPECT,    /* text: command name; args: expected arguments as JSON, NULL for none */
    FAKE_EXPECT_FD, /* the last command came with an fd referring to fake->fd_file */
    FAKE_CLOSE,     /* close the connection */
    FAKE_WAIT_EOF,  /* read until the client closes (a server that never answers) */
} fake_step_kind_t;

typedef struct fake_step {
    fake_step_kind_t kind;
    const char *text;
    const char *args;
} fake_step_t;

typedef struct fake_qmp {
    int fd;      /* the server's end (a connected socket, or a listener if `accept`) */
    bool accept; /* fd is listening: accept one client first */
    const fake_step_t *script;
    struct stat fd_file; /* for FAKE_EXPECT_FD */
    long long ids[16];
    int n_ids;
    int received_fd; /* the last fd received, -1 if none */
    char error[512]; /* "" when the whole script played */
    pthread_t thread;
} fake_qmp_t;

/* Start playing script on fd (taken over). */
void fake_qmp_start(fake_qmp_t *f, int fd, const fake_step_t *script);
/* Wait for the script to end; returns f->error. */
const char *fake_qmp_join(fake_qmp_t *f);

#define GREETING                                                                                   \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "             \
    "\"package\": \"test\"}, \"capabilities\": [\"oob\"]}}"

#endif
