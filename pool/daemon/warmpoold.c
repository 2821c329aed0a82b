/* warmpoold.c - the warm-pool daemon: configuration -> factory -> VM source
 * -> pool (re-adopts what an earlier run left) -> API and metrics servers,
 * then waits for a signal.
 *
 * Signals are taken synchronously (blocked in every thread, read from a
 * signalfd by the main thread), so shutdown runs in ordinary code:
 * SIGTERM/SIGINT stop accepting requests, let the calls in progress finish,
 * destroy warm VMs and leave leased VMs running and journaled for the next
 * start. Signals that arrive during shutdown change nothing; after a
 * SIGKILL the journal lets the next start re-adopt everything. */
#include <errno.h>        /* errno */
#include <getopt.h>       /* getopt_long */
#include <malloc.h>       /* mallopt */
#include <signal.h>       /* sigset_t */
#include <stdio.h>        /* fprintf */
#include <stdlib.h>       /* strtol */
#include <string.h>       /* strerror */
#include <sys/signalfd.h> /* signalfd */
#include <unistd.h>       /* geteuid, write */

#include "api_server.h"
#include "factory.h"
#include "metrics_server.h"
#include "pool.h"
#include "pool_factory_source.h"
#include "wp_cleanup.h"
#include "wp_log.h"

static const char usage_text[] =
    "Usage: warmpoold [OPTIONS]\n"
    "\n"
    "Keep per-template pools of cloned, reseeded VMs warm and lease them to clients\n"
    "over an API socket (see warmpoolctl). Runs in the foreground and logs to stderr.\n"
    "\n"
    "Options:\n"
    "  --config FILE      JSON configuration (default: built-in defaults, no templates;\n"
    "                     see docs/configuration.md)\n"
    "  --log-level LEVEL  error, warn, info or debug (overrides the file's log_level)\n"
    "  --ready-fd FD      write \"READY=1\\n\" to FD and close it once requests are served\n"
    "  -h, --help         this text\n"
    "  --version          print the version\n"
    "\n"
    "Signals: SIGTERM or SIGINT shuts down: warm VMs are destroyed, leased VMs keep\n"
    "running and are re-adopted by the next start.\n";

/* Requests served at once; a thread each. Calls that wait (an acquire that
 * clones, a watch) hold one, so this bounds those too; the rest take
 * microseconds. */
#define DAEMON_API_CONTEXTS 16
/* glibc gives each thread that allocates an arena of its own (up to 8 per
 * core), each with pages of its own: the daemon's threads mostly wait, two
 * arenas serve them (bench/daemon_memory). */
#define DAEMON_MALLOC_ARENAS 2

typedef struct daemon_options {
    const char *config_path;
    const char *log_level;
    int ready_fd;
} daemon_options_t;

typedef struct daemon_state {
    pool_config_t *cfg;
    factory_t *factory;
    pool_factory_source_t *source;
    pool_t *pool;
    api_server_t *api;
    metrics_server_t *metrics;
} daemon_state_t;

/* 0: run, 1: exit 0 (help, version), -1: exit 2 (usage) */
static int parse_args(int argc, char **argv, daemon_options_t *o)
{
    enum { OPT_CONFIG = 256, OPT_LOG_LEVEL, OPT_READY_FD, OPT_VERSION };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"ready-fd", required_argument, NULL, OPT_READY_FD},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    *o = (daemon_options_t){.ready_fd = -1};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG:
            o->config_path = optarg;
            break;
        case OPT_LOG_LEVEL:
            o->log_level = optarg;
            break;
        case OPT_READY_FD: {
            char *end = NULL;
            errno = 0;
            long fd = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || fd < 0 || fd > 65535) {
                fprintf(stderr, "warmpoold: --ready-fd: '%s' is not a file descriptor\n", optarg);
                return -1;
            }
            o->ready_fd = (int)fd;
            break;
        }
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        case OPT_VERSION:
            printf("warmpoold %s\n", WP_VERSION);
            return 1;
        default:
            fprintf(stderr, "Run 'warmpoold --help' for usage.\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "warmpoold: unexpected argument '%s'\nRun 'warmpoold --help' for usage.\n",
                argv[optind]);
        return -1;
    }
    return 0;
}

static int apply_log_level(const daemon_options_t *o, const pool_config_t *cfg, wp_error_t *err)
{
    const char *name = o->log_level ? o->log_level : cfg->log_level;
    wp_log_level_t level;
    if (wp_log_parse_level(name, &level) < 0)
        return wp_error_set(err, EINVAL, "%s: unknown log level '%s' (error, warn, info, debug)",
                            o->log_level ? "--log-level" : "log_level", name);
    wp_log_set_level(level);
    return 0;
}

static int start(daemon_state_t *d, const daemon_options_t *o, wp_error_t *err)
{
    d->cfg = pool_config_load(o->config_path, err);
    if (d->cfg == NULL || apply_log_level(o, d->cfg, err) < 0)
        return -1;
    factory_config_t fc = {
        .store_dir = d->cfg->store_dir,
        .memory_dir = d->cfg->memory_dir,
        .runtime_dir = d->cfg->runtime_dir,
        .qemu_binary = d->cfg->qemu_binary,
        .libvirt_uri = d->cfg->libvirt_uri,
    };
    d->factory = factory_open(&fc, err);
    if (d->factory == NULL)
        return -1;
    d->source =
        pool_factory_source_new(d->factory, d->cfg->share_mount_at_clone, d->cfg->warm_up, err);
    if (d->source == NULL)
        return -1;
    pool_options_t po = {.config = d->cfg, .source = pool_factory_source(d->source)};
    pool_recovery_t rec = {0};
    d->pool = pool_open(&po, &rec, err);
    if (d->pool == NULL)
        return wp_error_wrap(err, "open the pool (state in '%s')", d->cfg->state_dir);
    wp_log_info("recovered: %zu leases re-adopted, %zu leased VMs dead, %zu warm VMs re-adopted, "
                "%zu destroyed, %zu orphans destroyed, %zu journal bytes truncated",
                rec.leases_adopted, rec.leases_dead, rec.warm_adopted, rec.warm_destroyed,
                rec.orphans_destroyed, rec.journal_truncated_bytes);
    if (pool_start(d->pool, err) < 0)
        return -1;
    api_server_config_t ac = {
        .url = d->cfg->api_socket,
        .socket_mode = 0600,
        .allowed_uid = geteuid(),
        .factory = d->factory,
        .contexts = DAEMON_API_CONTEXTS,
    };
    d->api = api_server_start(d->pool, &ac, err);
    if (d->api == NULL)
        return wp_error_wrap(err, "API");
    d->metrics = metrics_server_start(d->pool, d->cfg->metrics_address, err);
    if (d->metrics == NULL)
        return wp_error_wrap(err, "metrics");
    return 0;
}

/* Order matters: no new requests, then the calls in progress end (an
 * acquire that cloned gets its VM), then the VMs. */
static void stop(daemon_state_t *d)
{
    if (d->pool)
        pool_close(d->pool);
    api_server_stop(d->api);
    metrics_server_stop(d->metrics);
    if (d->pool) {
        pool_stop(d->pool);
        pool_free(d->pool);
    }
    pool_factory_source_free(d->source);
    factory_close(d->factory);
    pool_config_free(d->cfg);
}

static void announce_ready(daemon_state_t *d, int ready_fd)
{
    wp_log_info("serving on %s, metrics on %s, %zu templates configured", d->cfg->api_socket,
                d->cfg->metrics_address, d->cfg->n_templates);
    if (ready_fd < 0)
        return;
    static const char msg[] = "READY=1\n";
    if (write(ready_fd, msg, sizeof(msg) - 1) < 0)
        wp_log_warn("--ready-fd %d: %s", ready_fd, strerror(errno));
    close(ready_fd);
}

/* Block until SIGTERM or SIGINT. */
static void wait_for_stop(int sfd)
{
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(si)) {
            wp_log_error("signalfd: %s; shutting down", n < 0 ? strerror(errno) : "short read");
            return;
        }
        if (si.ssi_signo == SIGHUP) {
            wp_log_warn("SIGHUP: the configuration is read at start only; sizes change live "
                        "with 'warmpoolctl pool set'");
            continue;
        }
        wp_log_info("%s: shutting down", strsignal((int)si.ssi_signo));
        return;
    }
}

int main(int argc, char **argv)
{
    daemon_options_t o;
    int parsed = parse_args(argc, argv, &o);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;

    mallopt(M_ARENA_MAX, DAEMON_MALLOC_ARENAS);
    /* before any thread exists, so every thread inherits the mask */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGPIPE);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sigdelset(&mask, SIGPIPE);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "warmpoold: signalfd: %s\n", strerror(errno));
        return 1;
    }

    daemon_state_t d = {0};
    wp_error_t err = {0};
    if (start(&d, &o, &err) < 0) {
        fprintf(stderr, "warmpoold: %s\n", err.msg);
        stop(&d);
        close(sfd);
        return 1;
    }
    announce_ready(&d, o.ready_fd);
    wait_for_stop(sfd);
    stop(&d);
    close(sfd);
    wp_log_info("stopped");
    return 0;
}
