/* fake_source.h - a scripted pool_source_t for the pool's unit tests.
 *
 * It models a host: VMs exist from clone() until destroy()/destroy_by_id(),
 * survive detach() (a daemon restart), and can be "killed" (their process
 * exits: the exit eventfd of an attached handle becomes readable, and a
 * later adopt() fails with ESRCH). Scriptable: clone delay, clone/resume
 * failures, deadline honouring, orphans. Thread-safe (one mutex); counters
 * are read with the getters. */
#ifndef FAKE_SOURCE_H
#define FAKE_SOURCE_H

#include <stdbool.h>

#include "pool_source.h"

typedef struct fake_source fake_source_t;

fake_source_t *fake_source_new(void);
/* Frees the model; VMs still "on the host" are just forgotten. */
void fake_source_free(fake_source_t *fs);
pool_source_t fake_source_as_source(fake_source_t *fs);

void fake_source_set_clone_delay_ms(fake_source_t *fs, int ms);
/* The next n clones fail (EIO); -1: every clone until set to 0. */
void fake_source_fail_clones(fake_source_t *fs, int n);
/* The next n resumes fail. */
void fake_source_fail_resumes(fake_source_t *fs, int n);
/* false: clone() ignores its deadline (a slow source that finishes late). */
void fake_source_honour_deadline(fake_source_t *fs, bool on);

/* The VM's process exits. 0, or -1 if there is no such VM. */
int fake_source_kill(fake_source_t *fs, const char *id);
/* A VM on the host that nobody cloned through this pool. */
void fake_source_add_orphan(fake_source_t *fs, const char *id);

bool fake_source_exists(fake_source_t *fs, const char *id);
bool fake_source_paused(fake_source_t *fs, const char *id);
/* VMs on the host, VMs with an open handle. */
int fake_source_count(fake_source_t *fs);
int fake_source_attached(fake_source_t *fs);

typedef struct fake_counts {
    int clones, clone_failures, destroys, destroys_by_id, pauses, resumes, adopts, detaches;
    int max_concurrent_clones;
} fake_counts_t;
fake_counts_t fake_source_counts(fake_source_t *fs);

#endif
