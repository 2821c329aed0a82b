/* bench_opts.h - the factory options the bench programs share: --store,
 * --memory-dir, --runtime-dir (header only, as bench_stats.h). */
#ifndef BENCH_OPTS_H
#define BENCH_OPTS_H

#include <getopt.h>  /* struct option */
#include <stdbool.h> /* bool */

#include "factory.h" /* factory_config_t */

/* Entries for a struct option table. */
#define BENCH_FACTORY_OPTIONS                                                                      \
    {"store", required_argument, NULL, 's'}, {"memory-dir", required_argument, NULL, 'm'},         \
    {                                                                                              \
        "runtime-dir", required_argument, NULL, 'r'                                                \
    }

/* Takes getopt's c if it is one of those options; true if it was. */
static inline bool bench_factory_option(int c, const char *arg, factory_config_t *cfg)
{
    if (c == 's')
        cfg->store_dir = arg;
    else if (c == 'm')
        cfg->memory_dir = arg;
    else if (c == 'r')
        cfg->runtime_dir = arg;
    return c == 's' || c == 'm' || c == 'r';
}

#endif
