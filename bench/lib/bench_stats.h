/* bench_stats.h - min/median/max of a benchmark's samples, for the bench
 * programs (header only: each is one source file). */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stdlib.h> /* qsort */

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v in place (so v[0] and v[n - 1] are then min and max). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
