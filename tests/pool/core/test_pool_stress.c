/* test_pool_stress.c - everything at once for a second and a half: eight
 * clients acquiring (fail-fast and with deadlines) and releasing, one of
 * them killing its VMs, a killer shooting random VMs, a resizer flipping
 * targets and modes, a fast sizing tick and a tiny compaction threshold.
 * Invariants: no VM is leased twice at once, every release of a held lease
 * succeeds exactly once, and after shutdown no VM is left on the host. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "pool_harness.h"
#include "wp_log.h"

#define CLIENTS 8

typedef struct stress {
    pool_t *pool;
    fake_source_t *fs;
    atomic_bool stop;
    pthread_mutex_t held_lock; /* ids leased right now, to catch a double lease */
    char held[CLIENTS][POOL_VM_ID_MAX];
    atomic_int acquired, problems;
} stress_t;

typedef struct client_arg {
    stress_t *s;
    int k;
} client_arg_t;

static bool hold(stress_t *s, int k, const char *id)
{
    pthread_mutex_lock(&s->held_lock);
    bool dup = false;
    for (int i = 0; i < CLIENTS; i++)
        dup |= strcmp(s->held[i], id) == 0;
    snprintf(s->held[k], sizeof(s->held[k]), "%s", id);
    pthread_mutex_unlock(&s->held_lock);
    return !dup;
}

static void unhold(stress_t *s, int k)
{
    pthread_mutex_lock(&s->held_lock);
    s->held[k][0] = '\0';
    pthread_mutex_unlock(&s->held_lock);
}

static void *client(void *p)
{
    client_arg_t *a = p;
    stress_t *s = a->s;
    while (!atomic_load(&s->stop)) {
        pool_lease_t l;
        wp_error_t err = {0};
        pool_acquire_options_t o = {.fail_fast = a->k % 2,
                                    .deadline_ns = wp_now_mono_ns() + 200000000ll};
        if (pool_acquire(s->pool, "t", &o, &l, &err) < 0)
            continue;
        atomic_fetch_add(&s->acquired, 1);
        if (!hold(s, a->k, l.vm.id))
            atomic_fetch_add(&s->problems, 1);
        if (a->k == 3)
            fake_source_kill(s->fs, l.vm.id);
        unhold(s, a->k);
        if (pool_release(s->pool, l.vm.id, l.token, NULL, &err) < 0 ||
            pool_release(s->pool, l.vm.id, l.token, NULL, &err) == 0)
            atomic_fetch_add(&s->problems, 1);
    }
    return NULL;
}

static void *killer(void *p)
{
    stress_t *s = p;
    pool_source_t src = fake_source_as_source(s->fs);
    while (!atomic_load(&s->stop)) {
        char **ids;
        size_t n;
        src.ops->list(src.self, &ids, &n, NULL);
        if (n > 0)
            fake_source_kill(s->fs, ids[(size_t)rand() % n]);
        pool_source_ids_free(ids, n);
        struct timespec ts = {0, 3 * 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void *resizer(void *p)
{
    stress_t *s = p;
    for (unsigned i = 0; !atomic_load(&s->stop); i++) {
        pool_size_t size = {.sizing = i % 5 == 4 ? POOL_SIZING_AUTO : POOL_SIZING_FIXED,
                            .target = (i * 7) % 9,
                            .max = 16};
        pool_set_size(s->pool, "t", &size, NULL);
        struct timespec ts = {0, 7 * 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

Test(pool_stress, everything_at_once_keeps_the_invariants, .timeout = 60)
{
    wp_log_set_level(WP_LOG_ERROR); /* thousands of expected deaths would flood stderr */
    harness_t h;
    harness_open_opts(&h, "{\"t\": {\"target\": 4}}", 2, 5);
    fake_source_set_clone_delay_ms(h.fs, 1);
    stress_t s = {.pool = h.pool, .fs = h.fs};
    pthread_mutex_init(&s.held_lock, NULL);
    pthread_t th[CLIENTS + 2];
    client_arg_t args[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        args[i] = (client_arg_t){&s, i};
        pthread_create(&th[i], NULL, client, &args[i]);
    }
    pthread_create(&th[CLIENTS], NULL, killer, &s);
    pthread_create(&th[CLIENTS + 1], NULL, resizer, &s);
    struct timespec run = {1, 500 * 1000000};
    nanosleep(&run, NULL);
    atomic_store(&s.stop, true);
    for (int i = 0; i < CLIENTS + 2; i++)
        pthread_join(th[i], NULL);
    cr_assert_gt(atomic_load(&s.acquired), 100, "only %d acquires", atomic_load(&s.acquired));
    cr_assert_eq(atomic_load(&s.problems), 0);
    pool_free(h.pool);
    h.pool = NULL;
    cr_assert_eq(fake_source_count(h.fs), 0, "no lease out, so shutdown leaves no VM");
    cr_assert_eq(fake_source_attached(h.fs), 0);
    fake_source_free(h.fs);
    pool_config_free(h.cfg);
    wp_rm_tree(h.dir, NULL);
    pthread_mutex_destroy(&s.held_lock);
}
