/* pool_sizing.h - the `auto` sizing rule, as pure functions (no clock, no
 * threads) so it can be tested against a synthetic demand pattern.
 *
 * The question: how many warm VMs must wait so that acquires are served from
 * the pool, not by an on-demand clone? Every acquire starts one clone to
 * replace it, which takes T seconds. By Little's law the number of
 * replacements in flight is L = lambda * T for an acquire rate lambda; the
 * pool must hold them (they were handed out before their replacements are
 * ready), plus headroom for the randomness of arrivals: with Poisson
 * arrivals the count in a window of T has mean L and deviation sqrt(L), so
 * we keep L + z * sqrt(L) (z = 3: a window's demand exceeds it rarely).
 * Arrivals are not Poisson in practice but bursty (a deployment scales out
 * 30 pods at once), so the pool also remembers the largest recent burst B:
 *
 *   target = clamp(round_down_half(max(B, L + z * sqrt(L))), min, max)
 *
 * where every tick of dt seconds with a acquires (hits and misses: demand,
 * not supply) updates
 *
 *   lambda <- lambda + (1 - e^(-dt/tau)) * (a/dt - lambda)
 *             tau = tau_rise (5 s) when a/dt > lambda, else tau_decay (60 s):
 *             fast attack, slow release, so a pool does not shrink in a lull
 *   B      <- max(a, B * e^(-dt/tau_burst))       tau_burst = 120 s
 *   T      <- T + alpha * (clone_s - T)            per measured clone, alpha 0.2,
 *                                                 T starts at 1 s (pessimistic)
 *
 * round_down_half(x) = ceil(x - 0.5): a residue below half a VM keeps none.
 * See docs/pool-sizing.md for the reasoning and a worked example.
 *
 * Threads: a pool_sizing_t is owned by whoever ticks it (the pool's watcher
 * thread); the functions are pure and reentrant. */
#ifndef POOL_SIZING_H
#define POOL_SIZING_H

#include <stdbool.h> /* bool */

typedef struct pool_sizing_params {
    double tau_rise_s;      /* rate EWMA time constant while demand rises */
    double tau_decay_s;     /* ... while it falls */
    double tau_burst_s;     /* how long a burst is remembered */
    double z;               /* headroom in standard deviations of Poisson demand */
    double clone_alpha;     /* EWMA weight of a new clone-time sample */
    double clone_initial_s; /* clone time assumed before the first measurement */
} pool_sizing_params_t;

#define POOL_SIZING_DEFAULTS                                                                       \
    ((pool_sizing_params_t){.tau_rise_s = 5.0,                                                     \
                            .tau_decay_s = 60.0,                                                   \
                            .tau_burst_s = 120.0,                                                  \
                            .z = 3.0,                                                              \
                            .clone_alpha = 0.2,                                                    \
                            .clone_initial_s = 1.0})

typedef struct pool_sizing {
    double rate;    /* lambda: acquires per second */
    double burst;   /* B: largest recent acquires in one tick, decaying */
    double clone_s; /* T: clone time in seconds */
    bool clone_measured;
} pool_sizing_t;

/* Start with no observed demand but a remembered burst of `initial_target`,
 * so a pool configured with a target decays from it instead of collapsing
 * to min at the first quiet tick. */
void pool_sizing_init(pool_sizing_t *s, const pool_sizing_params_t *p, unsigned initial_target);

/* One tick: `acquires` requests seen in the last `dt_s` seconds (dt_s > 0). */
void pool_sizing_observe_demand(pool_sizing_t *s, const pool_sizing_params_t *p, unsigned acquires,
                                double dt_s);

/* One measured clone duration in seconds. */
void pool_sizing_observe_clone(pool_sizing_t *s, const pool_sizing_params_t *p, double clone_s);

/* The target the rule gives now, within [min, max]. */
unsigned pool_sizing_target(const pool_sizing_t *s, const pool_sizing_params_t *p, unsigned min,
                            unsigned max);

#endif
