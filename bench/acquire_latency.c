/* acquire_latency.c - hit-path acquire latency of a running warmpoold, as
 * its clients see it: K client threads, each with its own connection,
 * loop acquire (fail-fast) + release; the acquire's round trip is timed.
 * Misses (the pool ran dry: EAGAIN) are counted, not timed, and the client
 * backs off a little so the refill can catch up. Prints p50/p99/max of the
 * round trip, the daemon's own share (the lease's wait_ms), and, last,
 * `acquire p99 ms: <x>`. A measurement: it never fails on a time.
 *
 *   acquire_latency_bin [--socket URL] [--template NAME] [--clients K]
 *                       [--acquires N]   (per client; default 200)
 *                       [--duration SEC] (instead of a count)
 *                       [--hold]         (release leases only once every client
 *                                         has acquired its N, so no VM destroy
 *                                         runs beside an acquire; needs K*N
 *                                         warm VMs)
 *                       [--rounds R]     (with --hold: R rounds, each started
 *                                         once K*N VMs are warm again)
 *                       [--threads]      (clients as threads of this process)
 *                       [--health]       (time the health call instead: the
 *                                         transport and server alone, no VM)
 *                       [--settle MS]    (with --hold: start a round MS after
 *                                         the pool is full again)
 *                       [--samples FILE] (every hit: client, start, round
 *                                         trip, daemon's share) */
#include <errno.h>    /* EAGAIN */
#include <stdbool.h>  /* bool */
#include <getopt.h>   /* getopt_long */
#include <pthread.h>  /* pthread_* */
#include <stdio.h>    /* printf */
#include <stdlib.h>   /* calloc, qsort, strtol */
#include <string.h>   /* strcmp */
#include <sys/mman.h> /* mmap: results of client processes */
#include <sys/wait.h> /* waitpid */
#include <unistd.h>   /* usleep, fork */

#include "api_client.h"
#include "wp_time.h"

#define MISS_BACKOFF_US 2000

typedef struct opts {
    const char *url, *tpl;
    int clients, acquires;
    double duration_s;
    bool hold;
    int rounds;
    bool health;         /* time a health call instead: the transport alone */
    bool threads;        /* clients as threads, not processes */
    int settle_ms;       /* --hold: wait this long once the pool is full */
    const char *samples; /* write every hit here */
} opts_t;

/* What a release needs of a lease (a whole pool_lease_t is ~12 kB). */
typedef struct held {
    char id[POOL_VM_ID_MAX];
    char token[POOL_TOKEN_HEX_LEN + 1];
} held_t;

typedef struct client {
    const opts_t *o;
    pthread_barrier_t *start; /* every client connected and warmed up */
    pthread_barrier_t *done;  /* --hold: every client has acquired */
    int64_t end_ns;           /* 0: count mode */
    double *lat_ms;           /* hits' round trips */
    double *wait_ms;          /* the daemon's time in pool_acquire, per hit */
    double *start_ms;         /* when each hit's call began (CLOCK_MONOTONIC) */
    held_t *held;
    int n, cap, misses, errors;
    int round_start; /* first of this round's leases in held[] */
    wp_error_t err;  /* the first error */
} client_t;

static void note_error(client_t *c, const wp_error_t *err)
{
    if (c->errors++ == 0)
        c->err = *err;
}

static int grow(client_t *c)
{
    int cap = c->cap ? 2 * c->cap : 1024;
    double *lat = realloc(c->lat_ms, (size_t)cap * sizeof(*lat));
    if (lat != NULL)
        c->lat_ms = lat;
    double *wait = realloc(c->wait_ms, (size_t)cap * sizeof(*wait));
    if (wait != NULL)
        c->wait_ms = wait;
    double *start = realloc(c->start_ms, (size_t)cap * sizeof(*start));
    if (start != NULL)
        c->start_ms = start;
    held_t *held = realloc(c->held, (size_t)cap * sizeof(*held));
    if (held != NULL)
        c->held = held;
    if (lat == NULL || wait == NULL || start == NULL || held == NULL)
        return -1;
    c->cap = cap;
    return 0;
}

/* Room for `more` hits, its pages touched: no allocation or page fault of
 * the bench's own runs beside the calls it times. */
static int reserve(client_t *c, int more)
{
    while (c->cap - c->n < more)
        if (grow(c) < 0)
            return -1;
    size_t from = (size_t)c->n, len = (size_t)(c->cap - c->n);
    memset(c->lat_ms + from, 0, len * sizeof(*c->lat_ms));
    memset(c->wait_ms + from, 0, len * sizeof(*c->wait_ms));
    memset(c->start_ms + from, 0, len * sizeof(*c->start_ms));
    memset(c->held + from, 0, len * sizeof(*c->held));
    return 0;
}

static void *run_client(void *arg)
{
    client_t *c = arg;
    wp_error_t err = {0};
    /* connect and make one untimed call (it opens the connection's first
     * context), then start together */
    api_client_t *api = api_client_open(c->o->url, &err);
    api_health_t h;
    if (api != NULL && api_client_health(api, &h, &err) < 0)
        note_error(c, &err);
    if (reserve(c, c->o->acquires) < 0)
        fprintf(stderr, "client: out of memory\n");
    pthread_barrier_wait(c->start);
    if (api == NULL) {
        note_error(c, &err);
        if (c->o->hold)
            pthread_barrier_wait(c->done);
        return NULL;
    }
    c->round_start = c->n;
    for (int i = 0; c->end_ns ? wp_now_mono_ns() < c->end_ns : i < c->o->acquires; i++) {
        pool_lease_t l = {0};
        int64_t t0 = wp_now_mono_ns();
        int rc = c->o->health ? api_client_health(api, &h, &err)
                              : api_client_acquire(api, c->o->tpl, true, 5000, &l, &err);
        double ms = wp_ms_between(t0, wp_now_mono_ns());
        if (rc < 0) {
            if (err.code == EAGAIN) {
                c->misses++;
                usleep(MISS_BACKOFF_US);
            } else {
                note_error(c, &err);
                if (c->errors > 10)
                    break;
            }
            continue;
        }
        if (c->n == c->cap && grow(c) < 0)
            break;
        c->lat_ms[c->n] = ms;
        c->wait_ms[c->n] = l.wait_ms;
        c->start_ms[c->n] = (double)t0 / 1e6;
        snprintf(c->held[c->n].id, sizeof(c->held[c->n].id), "%s", l.vm.id);
        snprintf(c->held[c->n].token, sizeof(c->held[c->n].token), "%s", l.token);
        c->n++;
        if (c->o->health)
            continue;
        if (!c->o->hold && api_client_release(api, l.vm.id, l.token, NULL, &err) < 0)
            note_error(c, &err);
    }
    /* --hold: no release (a VM destroy) runs beside anyone's acquires */
    if (c->o->hold)
        pthread_barrier_wait(c->done);
    for (int i = c->round_start; c->o->hold && !c->o->health && i < c->n; i++)
        if (api_client_release(api, c->held[i].id, c->held[i].token, NULL, &err) < 0)
            note_error(c, &err);
    api_client_close(api);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank on sorted v. */
static double quantile(const double *v, int n, double q)
{
    int rank = (int)(q * n + 0.999999);
    if (rank < 1)
        rank = 1;
    return v[(rank > n ? n : rank) - 1];
}

/* Every hit, one line each: client, start (ms since the first hit),
 * round trip and the daemon's share (ms), for plots and for finding when
 * the slow ones happen. */
static int write_samples(const char *path, const client_t *cl, int clients)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    double first = 0;
    for (int i = 0; i < clients; i++)
        for (int j = 0; j < cl[i].n; j++)
            if (first == 0 || cl[i].start_ms[j] < first)
                first = cl[i].start_ms[j];
    /* CLOCK_MONOTONIC of the first hit, to line samples up with a trace
     * (perf record -k CLOCK_MONOTONIC) */
    fprintf(f, "# first hit at %.3f ms CLOCK_MONOTONIC\n", first);
    fprintf(f, "client start_ms round_trip_ms daemon_ms\n");
    for (int i = 0; i < clients; i++)
        for (int j = 0; j < cl[i].n; j++)
            fprintf(f, "%d %.3f %.3f %.3f\n", i, cl[i].start_ms[j] - first, cl[i].lat_ms[j],
                    cl[i].wait_ms[j]);
    return fclose(f) == 0 ? 0 : -1;
}

static int usage(void)
{
    fprintf(stderr, "usage: acquire_latency_bin [--socket URL] [--template NAME] [--clients K] "
                    "[--acquires N | --threads --duration SEC] [--hold [--rounds R]] [--threads] "
                    "[--health] [--settle MS] [--samples FILE]\n");
    return 2;
}

/* Wait (by the daemon's watch call) until `tpl` has `want` warm VMs. */
static int wait_warm(const opts_t *o, unsigned want, wp_error_t *err)
{
    api_client_t *api = api_client_open(o->url, err);
    if (api == NULL)
        return -1;
    int64_t deadline = wp_now_mono_ns() + 900 * 1000000000LL;
    uint64_t gen = 0;
    int ret = -1;
    while (wp_now_mono_ns() < deadline) {
        pool_template_status_t *list = NULL;
        size_t n = 0;
        bool changed = false;
        if (api_client_watch(api, &gen, 10000, &changed, &list, &n, err) < 0)
            break;
        unsigned warm = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(list[i].name, o->tpl) == 0)
                warm = list[i].warm;
        free(list);
        if (warm >= want) {
            ret = 0;
            break;
        }
    }
    if (ret < 0 && err->code == 0)
        wp_error_set(err, ETIMEDOUT, "'%s' did not reach %u warm VMs", o->tpl, want);
    api_client_close(api);
    return ret;
}

/* What a client process hands back: counts, then lat[acquires],
 * wait[acquires] and start[acquires]. */
typedef struct result {
    int n, misses, errors;
    wp_error_t err;
    double ms[];
} result_t;

typedef struct shared {
    pthread_barrier_t start, done;
    size_t slot_size;
    unsigned char slots[];
} shared_t;

static result_t *slot(shared_t *sh, int i)
{
    return (result_t *)(sh->slots + (size_t)i * sh->slot_size);
}

/* In a child: run client i of this round and copy its results out. */
static void child_run(client_t *c, result_t *r, int acquires)
{
    int before = c->n;
    run_client(c);
    r->n = c->n - before;
    r->misses = c->misses;
    r->errors = c->errors;
    r->err = c->err;
    for (int j = 0; j < r->n && j < acquires; j++) {
        r->ms[j] = c->lat_ms[before + j];
        r->ms[acquires + j] = c->wait_ms[before + j];
        r->ms[2 * acquires + j] = c->start_ms[before + j];
    }
}

/* In the parent: add a child's results to client c. */
static void child_merge(client_t *c, const result_t *r, int acquires)
{
    for (int j = 0; j < r->n; j++) {
        if (c->n == c->cap && grow(c) < 0)
            break;
        c->lat_ms[c->n] = r->ms[j];
        c->wait_ms[c->n] = r->ms[acquires + j];
        c->start_ms[c->n++] = r->ms[2 * acquires + j];
    }
    c->misses += r->misses;
    if (r->errors > 0 && c->errors == 0)
        c->err = r->err;
    c->errors += r->errors;
}

/* One round: every client connects, then all start together. */
static double run_round(opts_t *o, client_t *cl, pthread_t *th)
{
    size_t slot_size = sizeof(result_t) + 3 * (size_t)o->acquires * sizeof(double);
    slot_size = (slot_size + 63) & ~(size_t)63;
    size_t len = sizeof(shared_t) + (size_t)o->clients * slot_size;
    shared_t *sh = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    sh->slot_size = slot_size;
    pthread_barrierattr_t ba;
    pthread_barrierattr_init(&ba);
    pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(&sh->start, &ba, (unsigned)o->clients + 1);
    pthread_barrier_init(&sh->done, &ba, (unsigned)o->clients);
    pthread_barrierattr_destroy(&ba);
    /* the clients read end_ns only after the barrier */
    int64_t t0 = wp_now_mono_ns();
    int64_t end = o->duration_s > 0 ? t0 + (int64_t)(o->duration_s * 1e9) : 0;
    pid_t *pids = calloc((size_t)o->clients, sizeof(*pids));
    for (int i = 0; i < o->clients; i++) {
        cl[i].o = o;
        cl[i].start = &sh->start;
        cl[i].done = &sh->done;
        cl[i].end_ns = end;
        if (o->threads) {
            pthread_create(&th[i], NULL, run_client, &cl[i]);
            continue;
        }
        client_t fresh = {.o = o, .start = &sh->start, .done = &sh->done, .end_ns = end};
        if ((pids[i] = fork()) == 0) {
            child_run(&fresh, slot(sh, i), o->acquires);
            _exit(0);
        }
        if (pids[i] < 0) {
            perror("fork");
            exit(1);
        }
    }
    pthread_barrier_wait(&sh->start);
    for (int i = 0; i < o->clients; i++) {
        if (o->threads) {
            pthread_join(th[i], NULL);
            continue;
        }
        int status;
        waitpid(pids[i], &status, 0);
        child_merge(&cl[i], slot(sh, i), o->acquires);
    }
    double wall_s = wp_ms_between(t0, wp_now_mono_ns()) / 1000;
    free(pids);
    pthread_barrier_destroy(&sh->start);
    pthread_barrier_destroy(&sh->done);
    munmap(sh, len);
    return wall_s;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"socket", required_argument, NULL, 's'},   {"template", required_argument, NULL, 't'},
        {"clients", required_argument, NULL, 'c'},  {"acquires", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'}, {"hold", no_argument, NULL, 'h'},
        {"rounds", required_argument, NULL, 'r'},   {"health", no_argument, NULL, 'H'},
        {"threads", no_argument, NULL, 'T'},        {"settle", required_argument, NULL, 'S'},
        {"samples", required_argument, NULL, 'o'},  {NULL, 0, NULL, 0},
    };
    opts_t o = {.url = POOL_DEFAULT_API_SOCKET,
                .tpl = "bench",
                .clients = 16,
                .acquires = 200,
                .rounds = 1};
    int ch;
    while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (ch) {
        case 's':
            o.url = optarg;
            break;
        case 't':
            o.tpl = optarg;
            break;
        case 'c':
            o.clients = atoi(optarg);
            break;
        case 'n':
            o.acquires = atoi(optarg);
            break;
        case 'd':
            o.duration_s = atof(optarg);
            break;
        case 'h':
            o.hold = true;
            break;
        case 'r':
            o.rounds = atoi(optarg);
            break;
        case 'H':
            o.health = true;
            break;
        case 'T':
            o.threads = true;
            break;
        case 'S':
            o.settle_ms = atoi(optarg);
            break;
        case 'o':
            o.samples = optarg;
            break;
        default:
            return usage();
        }
    }
    if (o.clients < 1 || o.clients > 1024 || o.acquires < 1 || o.duration_s < 0 || o.rounds < 1 ||
        (o.rounds > 1 && !o.hold) || (o.duration_s > 0 && !o.threads))
        return usage(); /* a process hands back at most --acquires results */
    client_t *cl = calloc((size_t)o.clients, sizeof(*cl));
    pthread_t *th = calloc((size_t)o.clients, sizeof(*th));
    if (cl == NULL || th == NULL)
        return 1;
    double wall_s = 0;
    for (int r = 0; r < o.rounds; r++) {
        wp_error_t err = {0};
        if (o.hold && !o.health && wait_warm(&o, (unsigned)(o.clients * o.acquires), &err) < 0) {
            fprintf(stderr, "round %d: %s\n", r + 1, err.msg);
            return 1;
        }
        if (o.settle_ms > 0)
            usleep((useconds_t)o.settle_ms * 1000);
        wall_s += run_round(&o, cl, th);
    }
    int total = 0, misses = 0, errors = 0;
    for (int i = 0; i < o.clients; i++) {
        total += cl[i].n;
        misses += cl[i].misses;
        errors += cl[i].errors;
    }
    for (int i = 0; i < o.clients; i++)
        if (cl[i].errors > 0) {
            fprintf(stderr, "client %d: %d errors, first: %s\n", i, cl[i].errors, cl[i].err.msg);
            break;
        }
    double *all = calloc((size_t)(total ? total : 1), sizeof(*all));
    double *daemon = calloc((size_t)(total ? total : 1), sizeof(*daemon));
    if (all == NULL || daemon == NULL)
        return 1;
    for (int i = 0, k = 0; i < o.clients; i++)
        for (int j = 0; j < cl[i].n; j++, k++) {
            all[k] = cl[i].lat_ms[j];
            daemon[k] = cl[i].wait_ms[j];
        }
    if (o.samples != NULL && write_samples(o.samples, cl, o.clients) < 0)
        return 1;
    qsort(all, (size_t)total, sizeof(*all), cmp_double);
    qsort(daemon, (size_t)total, sizeof(*daemon), cmp_double);
    printf("template '%s', %d clients, %d round(s), %.1f s: %d hits, %d misses (fail-fast), %d "
           "errors, "
           "%.0f acquire+release/s\n",
           o.tpl, o.clients, o.rounds, wall_s, total, misses, errors, total / wall_s);
    if (total == 0) {
        fprintf(stderr, "no acquire succeeded\n");
        return 1;
    }
    printf("hit-path acquire round trip (ms): p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
           quantile(all, total, 0.50), quantile(all, total, 0.90), quantile(all, total, 0.99),
           all[total - 1]);
    printf("  of which in the daemon's pool_acquire (ms): p50 %.3f  p99 %.3f  max %.3f\n",
           quantile(daemon, total, 0.50), quantile(daemon, total, 0.99), daemon[total - 1]);
    printf("acquire p99 ms: %.3f\n", quantile(all, total, 0.99));
    for (int i = 0; i < o.clients; i++) {
        free(cl[i].lat_ms);
        free(cl[i].wait_ms);
        free(cl[i].start_ms);
        free(cl[i].held);
    }
    free(all);
    free(daemon);
    free(cl);
    free(th);
    return 0;
}
