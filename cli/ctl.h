/* ctl.h - warmpoolctl's shared pieces (ctl.c): global options and the commands.
 * Each command file implements `int ctl_<verb>(ctl_t *ctl, int argc, char **argv)`
 * returning the process exit status (0 ok, 1 failure, 2 usage). */
#ifndef CTL_H
#define CTL_H

#include <stdbool.h> /* bool */

#include "api_client.h"
#include "factory.h"

typedef struct ctl {
    factory_config_t factory_cfg;
    bool json;
    factory_t *factory;     /* opened on first use by ctl_factory() */
    const char *socket_url; /* the daemon's API; NULL: POOL_DEFAULT_API_SOCKET */
    api_client_t *api;      /* connected on first use by ctl_api() */
    bool via_daemon;        /* --daemon: template commands through warmpoold */
} ctl_t;

/* The factory, opened on first use; NULL after printing the error. */
factory_t *ctl_factory(ctl_t *ctl);

/* The daemon connection, opened on first use; NULL after printing why
 * (not running, socket not accessible). */
api_client_t *ctl_api(ctl_t *ctl);

/* Print "warmpoolctl: <message>" to stderr; returns 1. */
int ctl_fail(const wp_error_t *err);
/* Print a usage error and the hint to run --help; returns 2. */
int ctl_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int ctl_template(ctl_t *ctl, int argc, char **argv);
int ctl_clone(ctl_t *ctl, int argc, char **argv);
int ctl_vm(ctl_t *ctl, int argc, char **argv);

/* Through the daemon (ctl_daemon.c). */
int ctl_status(ctl_t *ctl, int argc, char **argv);
int ctl_leases(ctl_t *ctl, int argc, char **argv);
int ctl_health(ctl_t *ctl, int argc, char **argv);
int ctl_pool(ctl_t *ctl, int argc, char **argv);
int ctl_pool_wait(ctl_t *ctl, int argc, char **argv); /* ctl_pool_wait.c */
int ctl_agent(ctl_t *ctl, int argc, char **argv);     /* ctl_agent.c */
int ctl_acquire(ctl_t *ctl, int argc, char **argv);
int ctl_release(ctl_t *ctl, int argc, char **argv);
/* A container in a warm VM (ctl_run.c): exits with its status. */
int ctl_run(ctl_t *ctl, int argc, char **argv);
/* A process in a running container (ctl_run.c). */
int ctl_exec(ctl_t *ctl, int argc, char **argv);

#endif
