/* wp_time.c - see wp_time.h. */
#include "wp_time.h"

#include <time.h> /* clock_gettime */

static int64_t read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t wp_now_mono_ns(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

int64_t wp_now_real_ns(void)
{
    return read_clock(CLOCK_REALTIME);
}

double wp_ms_between(int64_t start_ns, int64_t end_ns)
{
    return (double)(end_ns - start_ns) / 1e6;
}
