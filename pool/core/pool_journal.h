/* pool_journal.h - the pool's write-ahead journal of VM and lease state.
 *
 * Why: after `kill -9` of warmpoold, a restart must find every leased VM
 * again (same id, token, endpoint), re-adopt or destroy the warm ones, and
 * kill what it does not account for. So every state change is appended to
 * <state_dir>/journal, and a change that a client is told about (a lease
 * handed out, a release acknowledged) is fsync'd first.
 *
 * File format (integers big-endian):
 *   header  8 bytes  "WPJRNL01"
 *   record  u32 length | u32 crc32(payload) | payload[length]
 *   payload u8 version (1) | u8 kind | u8 flags (bit 0: paused) | u8 0
 *           i64 realtime ns | i32 pid | u8 token[16]
 *           then five strings, each u16 length + bytes (no NUL):
 *           id, template, agent endpoint, runtime dir, shared dir
 * Every record is a full snapshot of one VM, so the state of a VM is its
 * last record and compaction is "write the last record of each live VM".
 *
 * Replay (on open) tolerates a torn or corrupt LAST record (a crash in the
 * middle of an append): it is cut off with ftruncate and a warning. A bad
 * record with more data after it is not a crash artefact but damage: open
 * fails with EBADMSG naming the offset, and the operator decides.
 *
 * Compaction: when the file passes `compact_bytes` and is 4x larger than the
 * live records, pool_journal_compact() writes them to journal.new, fsyncs it,
 * renames it over the journal and fsyncs the directory: a crash leaves
 * either the old file or the new one.
 *
 * Locking: one mutex per journal; any thread may append. fsyncs are group
 * commits: appenders that asked for durability while another thread's
 * fdatasync is in flight wait for the next one, so N concurrent acquires pay
 * about two fsyncs, not N. On a memory filesystem (tmpfs, ramfs) there is
 * nothing to sync: a written record is as durable as the file gets, so no
 * fdatasync is made there. An fsync error is sticky (the kernel may have
 * dropped the dirty pages): every later append fails until reopen.
 *
 * A journal is held with flock(LOCK_EX): a second daemon on the same state
 * directory fails to open it with EBUSY. */
#ifndef POOL_JOURNAL_H
#define POOL_JOURNAL_H

#include <stdbool.h> /* bool */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint8_t */

#include "pool_config.h" /* POOL_NAME_MAX */
#include "pool_source.h" /* pool_vm_info_t */
#include "wp_error.h"

#define POOL_TOKEN_BYTES             16
#define POOL_JOURNAL_FILE            "journal"
#define POOL_JOURNAL_COMPACT_DEFAULT (1u << 20) /* 1 MiB */

typedef enum pool_jrec_kind {
    POOL_JREC_WARM = 1,       /* cloned, waiting in the warm queue */
    POOL_JREC_LEASED = 2,     /* handed out under `token` */
    POOL_JREC_DEAD = 3,       /* leased, and its process exited: lease kept until released */
    POOL_JREC_DESTROYING = 4, /* destroy began (release acknowledged): may be half done */
    POOL_JREC_GONE = 5,       /* destroyed: forgotten by replay */
} pool_jrec_kind_t;

typedef struct pool_jrec {
    pool_jrec_kind_t kind;
    bool paused;
    int64_t time_ns; /* CLOCK_REALTIME when written: lease age survives a restart */
    uint8_t token[POOL_TOKEN_BYTES];
    char template_name[POOL_NAME_MAX + 1];
    pool_vm_info_t vm;
} pool_jrec_t;

/* What replay found: the last record of every VM not GONE, in the order
 * their last records were written. By kind, what the pool does with them:
 *   LEASED, DEAD  re-adopt the lease (same id, token, endpoint);
 *   WARM          re-adopt into the warm queue, or destroy if surplus;
 *   DESTROYING    an orphan to check: destroy by id. */
typedef struct pool_journal_replay {
    pool_jrec_t *records;
    size_t count;
    size_t truncated_bytes; /* torn tail cut off, 0 if none */
} pool_journal_replay_t;

typedef struct pool_journal pool_journal_t;

/* Open (creating dir and file as needed), lock, replay. *replay is filled
 * (free with pool_journal_replay_free) and the journal's own live set starts
 * from it. compact_bytes 0: POOL_JOURNAL_COMPACT_DEFAULT. */
pool_journal_t *pool_journal_open(const char *state_dir, size_t compact_bytes,
                                  pool_journal_replay_t *replay, wp_error_t *err);

void pool_journal_replay_free(pool_journal_replay_t *replay);

/* Append one record; with `sync` it is on disk when this returns. Any thread. */
int pool_journal_append(pool_journal_t *j, const pool_jrec_t *rec, bool sync, wp_error_t *err);

/* True when the file is large and mostly dead records. Any thread. */
bool pool_journal_needs_compaction(pool_journal_t *j);

/* Rewrite the file with the live records only. Any thread; appenders wait
 * for it (milliseconds: the live set is one record per VM). */
int pool_journal_compact(pool_journal_t *j, wp_error_t *err);

/* Current file size in bytes (header included). */
size_t pool_journal_size(pool_journal_t *j);
/* True when the journal is on a memory filesystem (tmpfs, ramfs: the
 * default /run/warmpool/state), where fdatasync returns in microseconds;
 * then a caller that must not block may still append with sync. */
bool pool_journal_sync_is_cheap(const pool_journal_t *j);

/* Close the file and free. Records already appended stay; no thread may be
 * appending. NULL is a no-op. */
void pool_journal_close(pool_journal_t *j);

#endif
