/* pool_sizing.c - the `auto` sizing rule (see pool_sizing.h for the rule and
 * docs/pool-sizing.md for why). */
#include "pool_sizing.h"

#include <math.h> /* exp, sqrt, ceil */

void pool_sizing_init(pool_sizing_t *s, const pool_sizing_params_t *p, unsigned initial_target)
{
    s->rate = 0.0;
    s->burst = (double)initial_target;
    s->clone_s = p->clone_initial_s;
    s->clone_measured = false;
}

void pool_sizing_observe_demand(pool_sizing_t *s, const pool_sizing_params_t *p, unsigned acquires,
                                double dt_s)
{
    if (!(dt_s > 0.0))
        return;
    double observed = (double)acquires / dt_s;
    double tau = observed > s->rate ? p->tau_rise_s : p->tau_decay_s;
    s->rate += (1.0 - exp(-dt_s / tau)) * (observed - s->rate);
    double remembered = s->burst * exp(-dt_s / p->tau_burst_s);
    s->burst = (double)acquires > remembered ? (double)acquires : remembered;
}

void pool_sizing_observe_clone(pool_sizing_t *s, const pool_sizing_params_t *p, double clone_s)
{
    if (!(clone_s >= 0.0))
        return;
    /* The first measurement replaces the pessimistic guess outright. */
    if (!s->clone_measured) {
        s->clone_s = clone_s;
        s->clone_measured = true;
        return;
    }
    s->clone_s += p->clone_alpha * (clone_s - s->clone_s);
}

unsigned pool_sizing_target(const pool_sizing_t *s, const pool_sizing_params_t *p, unsigned min,
                            unsigned max)
{
    double in_flight = s->rate * s->clone_s; /* Little's law */
    double poisson = in_flight + p->z * sqrt(in_flight);
    double want = s->burst > poisson ? s->burst : poisson;
    double rounded = ceil(want - 0.5);
    if (rounded <= (double)min)
        return min;
    if (rounded >= (double)max)
        return max;
    return (unsigned)rounded;
}
