/* daemon_helpers.h - run a real warmpoold for the VM suites: write its
 * config under the fixture's test root, start it and wait for --ready-fd,
 * kill it (-9 or TERM), and at the end of each test stop exactly the
 * processes the test started: the daemon by its pid, and the QEMUs whose
 * command line names this test's runtime directory (by their pidfiles). */
#ifndef DAEMON_HELPERS_H
#define DAEMON_HELPERS_H

#include <stdbool.h>
#include <sys/types.h>

#include "api_client.h"

#define DAEMON_TEMPLATE "small" /* the fixture's template */
#define DAEMON_MAX_QEMU 64

typedef struct daemon_env {
    char root[512]; /* the fixture's test root (its template store) */
    char dir[600];  /* this suite's own: config, state, runtime, log */
    char config[700];
    char runtime[700];
    char socket_url[720];
    char metrics_url[128];
    pid_t pid;         /* the daemon, 0 when not running */
    api_client_t *api; /* a client of the running daemon */
} daemon_env_t;

extern daemon_env_t daemon_env;

/* Criterion .init / .fini: set up paths, write a config with the template's
 * target `target`; fini stops everything this suite started. */
void daemon_env_setup_target(unsigned target);
void daemon_env_teardown(void);

/* Start warmpoold and connect daemon_env.api; asserts it becomes ready. */
void daemon_start(void);
/* kill -9 (no shutdown at all) or SIGTERM (clean shutdown, asserts exit 0). */
void daemon_kill9(void);
void daemon_term(void);

/* Wait (by the daemon's watch call) until `template`'s warm count is `warm`
 * and nothing is cloning; asserts within timeout_ms. Returns the status. */
pool_template_status_t daemon_wait_warm(unsigned warm, int timeout_ms);
/* The template's current status. */
pool_template_status_t daemon_status(void);

/* Pids of the QEMU processes running under this suite's runtime directory. */
size_t daemon_qemu_pids(pid_t *pids, size_t max);
/* Wait until at most `want` of them run (destroys finish after the pool's
 * counts change); returns how many run. */
size_t daemon_wait_qemu_count(size_t want, int timeout_ms);
/* True while pid exists and is not a zombie. */
bool daemon_pid_alive(pid_t pid);
/* The agent at endpoint answers a ping. */
bool daemon_agent_answers(const char *endpoint);
/* GET the metrics page; malloc'd body, NULL on failure. */
char *daemon_scrape_metrics(void);

#endif
