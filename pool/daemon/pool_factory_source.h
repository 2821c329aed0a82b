/* pool_factory_source.h - the pool's real VM source (pool_source.h) over
 * the factory: clones are factory_clone()s of opened templates, exits are
 * seen through a pidfd per VM, re-adoption after a daemon restart goes
 * through factory_vm_adopt(). Only VMs whose ids start with the source's
 * prefix ("wp-") are listed, so clones kept by `warmpoolctl clone --keep`
 * are never taken for orphans. Thread-safe. */
#ifndef POOL_FACTORY_SOURCE_H
#define POOL_FACTORY_SOURCE_H

#include "factory.h"
#include "pool_source.h"

typedef struct pool_factory_source pool_factory_source_t;

/* mount_share: each clone mounts its 9p share once ready (config
 * share_mount "clone"), else the lease's first container call does.
 * warm_up: each refill clone creates and deletes a throwaway container
 * before it is warm (config warm_up); clones for a waiting acquire do not. */
pool_factory_source_t *pool_factory_source_new(factory_t *f, bool mount_share, bool warm_up,
                                               wp_error_t *err);
void pool_factory_source_free(pool_factory_source_t *s);
/* The pool_source_t to hand to pool_open (borrows s). */
pool_source_t pool_factory_source(pool_factory_source_t *s);

#endif
