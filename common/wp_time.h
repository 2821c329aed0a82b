/* wp_time.h - clocks in nanoseconds. Thread-safe, never fail. */
#ifndef WP_TIME_H
#define WP_TIME_H

#include <stdint.h> /* int64_t */

/* CLOCK_MONOTONIC in ns: for durations and deadlines. */
int64_t wp_now_mono_ns(void);
/* CLOCK_REALTIME in ns since the epoch: for setting a guest's wall clock. */
int64_t wp_now_real_ns(void);
/* Milliseconds between two monotonic readings, as a double for printing. */
double wp_ms_between(int64_t start_ns, int64_t end_ns);

#endif
