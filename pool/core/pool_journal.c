/* pool_journal.c - append, group-commit fsync, replay and compaction of the
 * journal (format and contract in pool_journal.h). */
#include "pool_journal.h"

#include <errno.h>       /* errno */
#include <fcntl.h>       /* open */
#include <pthread.h>     /* mutex, cond */
#include <stdio.h>       /* snprintf, rename */
#include <stdlib.h>      /* calloc */
#include <string.h>      /* memcmp */
#include <sys/file.h>    /* flock */
#include <sys/stat.h>    /* fstat */
#include <sys/vfs.h>     /* fstatfs */
#include <linux/magic.h> /* TMPFS_MAGIC, RAMFS_MAGIC */
#include <unistd.h>      /* fdatasync, ftruncate */

#include "pool_journal_codec.h"
#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_log.h"

#define JOURNAL_READ_MAX (256u << 20) /* refuse to slurp anything absurd */

typedef struct live_rec {
    pool_jrec_t rec;
    size_t encoded; /* bytes it takes in a compacted file */
} live_rec_t;

struct pool_journal {
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t synced;
    int fd;
    char *dir;
    char *path;
    size_t size;
    size_t compact_bytes;
    uint64_t appended_seq; /* records written */
    uint64_t synced_seq;   /* records known durable */
    bool syncing;          /* a thread is in fdatasync, outside the lock */
    bool cheap_sync;       /* on tmpfs / ramfs; set at open, then constant */
    int failed;            /* sticky errno after a failed fsync or rollback */
    live_rec_t *live;      /* last record of each VM not GONE */
    size_t n_live, cap_live;
    size_t live_bytes;
};

static int live_update(pool_journal_t *j, const pool_jrec_t *rec, size_t encoded)
{
    size_t i = 0;
    while (i < j->n_live && strcmp(j->live[i].rec.vm.id, rec->vm.id) != 0)
        i++;
    if (rec->kind == POOL_JREC_GONE) {
        if (i < j->n_live) {
            j->live_bytes -= j->live[i].encoded;
            /* keep write order: replay reports records oldest first */
            memmove(&j->live[i], &j->live[i + 1], (j->n_live - i - 1) * sizeof(*j->live));
            j->n_live--;
        }
        return 0;
    }
    if (i == j->n_live) {
        if (j->n_live == j->cap_live) {
            size_t cap = j->cap_live ? 2 * j->cap_live : 16;
            live_rec_t *grown = realloc(j->live, cap * sizeof(*grown));
            if (grown == NULL)
                return -1;
            j->live = grown;
            j->cap_live = cap;
        }
        j->n_live++;
    } else {
        j->live_bytes -= j->live[i].encoded;
    }
    j->live[i].rec = *rec;
    j->live[i].encoded = encoded;
    j->live_bytes += encoded;
    return 0;
}

/* True when every byte of buf is zero: a tail the filesystem extended but
 * never wrote (delayed allocation after a crash). */
static bool all_zero(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != 0)
            return false;
    return true;
}

/* Walk the records of buf[0..len); sets *good_end to the end of the last
 * intact record. A bad record is tolerated only at the very end. */
static int replay_records(pool_journal_t *j, const uint8_t *buf, size_t len, size_t *good_end,
                          wp_error_t *err)
{
    size_t off = POOL_JOURNAL_MAGIC_LEN;
    while (off < len) {
        size_t left = len - off;
        if (left < POOL_JREC_HEADER || all_zero(buf + off, left))
            break; /* torn header or unwritten tail */
        uint32_t rlen = pool_be32(buf + off);
        if (rlen == 0 || rlen > POOL_JREC_MAX) {
            /* a torn append cannot produce a bad length: the header is
             * written first and whole, so this is damage unless nothing
             * that could be a further record follows */
            if (left > POOL_JREC_HEADER + POOL_JREC_MAX)
                return wp_error_set(err, EBADMSG,
                                    "record at offset %zu has an impossible length %u and "
                                    "%zu bytes follow it",
                                    off, rlen, left);
            break;
        }
        if (left < POOL_JREC_HEADER + rlen)
            break; /* torn payload */
        const uint8_t *payload = buf + off + POOL_JREC_HEADER;
        bool last = left == POOL_JREC_HEADER + rlen;
        pool_jrec_t rec;
        wp_error_t derr = {0};
        if (pool_crc32(payload, rlen) != pool_be32(buf + off + 4))
            wp_error_set(&derr, EBADMSG, "checksum mismatch");
        else
            pool_jrec_decode(payload, rlen, &rec, &derr);
        if (derr.code != 0) {
            if (last)
                break;
            return wp_error_set(err, EBADMSG,
                                "record at offset %zu is corrupt (%s) and %zu "
                                "bytes follow it",
                                off, derr.msg, left - POOL_JREC_HEADER - rlen);
        }
        if (live_update(j, &rec, POOL_JREC_HEADER + rlen) < 0)
            return wp_error_errno(err, ENOMEM, "replay");
        off += POOL_JREC_HEADER + rlen;
    }
    *good_end = off < len ? off : len;
    return 0;
}

static int write_header(int fd, wp_error_t *err)
{
    if (wp_write_all(fd, POOL_JOURNAL_MAGIC, POOL_JOURNAL_MAGIC_LEN, err) < 0)
        return -1;
    if (fdatasync(fd) < 0)
        return wp_error_errno(err, errno, "fsync");
    return 0;
}

static int fsync_dir(const char *dir, wp_error_t *err)
{
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0)
        return wp_error_errno(err, errno, "fsync directory '%s'", dir);
    return 0;
}

/* Read, check and replay the whole file; cut a torn tail. */
static int load(pool_journal_t *j, pool_journal_replay_t *replay, wp_error_t *err)
{
    struct stat st;
    if (fstat(j->fd, &st) < 0)
        return wp_error_errno(err, errno, "stat");
    if ((size_t)st.st_size > JOURNAL_READ_MAX)
        return wp_error_set(err, EFBIG, "%lld bytes, more than a journal should ever hold",
                            (long long)st.st_size);
    size_t len = (size_t)st.st_size;
    _cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return wp_error_errno(err, ENOMEM, "read");
    for (size_t got = 0; got < len;) {
        ssize_t n = pread(j->fd, buf + got, len - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return wp_error_errno(err, n < 0 ? errno : EIO, "read");
        got += (size_t)n;
    }
    bool magic_prefix = memcmp(buf, POOL_JOURNAL_MAGIC, len < 8 ? len : 8) == 0;
    if (len < POOL_JOURNAL_MAGIC_LEN && magic_prefix) {
        /* new, or a crash while writing the header: start afresh */
        if (ftruncate(j->fd, 0) < 0)
            return wp_error_errno(err, errno, "truncate");
        if (write_header(j->fd, err) < 0 || fsync_dir(j->dir, err) < 0)
            return -1;
        j->size = POOL_JOURNAL_MAGIC_LEN;
        return 0;
    }
    if (!magic_prefix)
        return wp_error_set(err, EBADMSG, "not a warmpool journal (bad magic)");
    size_t good_end;
    if (replay_records(j, buf, len, &good_end, err) < 0)
        return -1;
    if (good_end < len) {
        wp_log_warn("journal '%s': cutting a torn last record (%zu bytes at offset %zu)", j->path,
                    len - good_end, good_end);
        if (ftruncate(j->fd, (off_t)good_end) < 0 || fdatasync(j->fd) < 0)
            return wp_error_errno(err, errno, "truncate torn tail");
        replay->truncated_bytes = len - good_end;
    }
    j->size = good_end;
    return 0;
}

static int copy_replay(const pool_journal_t *j, pool_journal_replay_t *replay, wp_error_t *err)
{
    replay->records = calloc(j->n_live ? j->n_live : 1, sizeof(*replay->records));
    if (replay->records == NULL)
        return wp_error_errno(err, ENOMEM, "replay");
    for (size_t i = 0; i < j->n_live; i++)
        replay->records[i] = j->live[i].rec;
    replay->count = j->n_live;
    return 0;
}

pool_journal_t *pool_journal_open(const char *state_dir, size_t compact_bytes,
                                  pool_journal_replay_t *replay, wp_error_t *err)
{
    memset(replay, 0, sizeof(*replay));
    pool_journal_t *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        wp_error_errno(err, ENOMEM, "journal");
        return NULL;
    }
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->synced, NULL);
    j->fd = -1;
    j->compact_bytes = compact_bytes ? compact_bytes : POOL_JOURNAL_COMPACT_DEFAULT;
    j->dir = strdup(state_dir);
    if (j->dir == NULL || asprintf(&j->path, "%s/%s", state_dir, POOL_JOURNAL_FILE) < 0) {
        j->path = NULL;
        wp_error_errno(err, ENOMEM, "journal");
        goto fail;
    }
    if (wp_mkdir_p(state_dir, 0700, err) < 0)
        goto fail_wrap;
    j->fd = open(j->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (j->fd < 0) {
        wp_error_errno(err, errno, "open");
        goto fail_wrap;
    }
    if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
        wp_error_set(err, errno == EWOULDBLOCK ? EBUSY : errno,
                     "locked by another process (is another warmpoold using this state "
                     "directory?)");
        goto fail_wrap;
    }
    if (load(j, replay, err) < 0 || copy_replay(j, replay, err) < 0)
        goto fail_wrap;
    struct statfs fs;
    j->cheap_sync = fstatfs(j->fd, &fs) == 0 && (fs.f_type == (typeof(fs.f_type))TMPFS_MAGIC ||
                                                 fs.f_type == (typeof(fs.f_type))RAMFS_MAGIC);
    return j;
fail_wrap:
    wp_error_wrap(err, "journal '%s'", j->path);
fail:
    pool_journal_replay_free(replay);
    pool_journal_close(j);
    return NULL;
}

void pool_journal_replay_free(pool_journal_replay_t *replay)
{
    free(replay->records);
    replay->records = NULL;
    replay->count = 0;
}

/* Make every record up to `seq` durable, sharing fsyncs between threads.
 * Called and returns with j->lock held. */
static int sync_to(pool_journal_t *j, uint64_t seq, wp_error_t *err)
{
    while (j->synced_seq < seq && j->failed == 0) {
        if (j->syncing) {
            pthread_cond_wait(&j->synced, &j->lock);
            continue;
        }
        j->syncing = true;
        uint64_t covers = j->appended_seq;
        int fd = j->fd;
        pthread_mutex_unlock(&j->lock);
        int ret = fdatasync(fd);
        int saved = errno;
        pthread_mutex_lock(&j->lock);
        j->syncing = false;
        if (ret < 0)
            j->failed = saved;
        else if (covers > j->synced_seq)
            j->synced_seq = covers;
        pthread_cond_broadcast(&j->synced);
    }
    if (j->failed != 0)
        return wp_error_errno(err, j->failed, "journal '%s': fsync failed earlier", j->path);
    return 0;
}

int pool_journal_append(pool_journal_t *j, const pool_jrec_t *rec, bool sync, wp_error_t *err)
{
    uint8_t buf[POOL_JREC_HEADER + POOL_JREC_MAX];
    size_t n = pool_jrec_encode(rec, buf);
    if (n == 0)
        return wp_error_set(err, EINVAL, "journal: a field of VM '%.64s' is too long", rec->vm.id);
    pthread_mutex_lock(&j->lock);
    if (j->failed != 0) {
        pthread_mutex_unlock(&j->lock);
        return wp_error_errno(err, j->failed, "journal '%s': unusable after an earlier failure",
                              j->path);
    }
    if (wp_write_all(j->fd, buf, n, err) < 0) {
        /* leave no partial record behind, or the next append would follow
         * garbage and replay would call the file damaged */
        if (ftruncate(j->fd, (off_t)j->size) < 0)
            j->failed = errno;
        pthread_mutex_unlock(&j->lock);
        return wp_error_wrap(err, "journal '%s': append", j->path);
    }
    j->size += n;
    if (live_update(j, rec, n) < 0)
        j->failed = ENOMEM; /* the live set would be wrong for compaction */
    uint64_t seq = ++j->appended_seq;
    /* on a memory filesystem fdatasync has nothing to do: skip the call and
     * the group commit's hand-offs between appenders */
    if (j->cheap_sync && j->synced_seq < seq)
        j->synced_seq = seq;
    int ret = sync ? sync_to(j, seq, err) : 0;
    pthread_mutex_unlock(&j->lock);
    return ret;
}

bool pool_journal_needs_compaction(pool_journal_t *j)
{
    pthread_mutex_lock(&j->lock);
    bool due = j->size > j->compact_bytes && j->size > 4 * (POOL_JOURNAL_MAGIC_LEN + j->live_bytes);
    pthread_mutex_unlock(&j->lock);
    return due;
}

size_t pool_journal_size(pool_journal_t *j)
{
    pthread_mutex_lock(&j->lock);
    size_t size = j->size;
    pthread_mutex_unlock(&j->lock);
    return size;
}

bool pool_journal_sync_is_cheap(const pool_journal_t *j)
{
    return j->cheap_sync;
}

static int write_compacted(pool_journal_t *j, const char *tmp, wp_error_t *err)
{
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return wp_error_errno(err, errno, "create '%s'", tmp);
    if (wp_write_all(fd, POOL_JOURNAL_MAGIC, POOL_JOURNAL_MAGIC_LEN, err) < 0)
        return -1;
    for (size_t i = 0; i < j->n_live; i++) {
        uint8_t buf[POOL_JREC_HEADER + POOL_JREC_MAX];
        size_t n = pool_jrec_encode(&j->live[i].rec, buf);
        if (wp_write_all(fd, buf, n, err) < 0)
            return -1;
    }
    if (fsync(fd) < 0)
        return wp_error_errno(err, errno, "fsync '%s'", tmp);
    /* The lock must move with the file: take it on the new one before the
     * rename makes it the journal. */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        return wp_error_errno(err, errno, "lock '%s'", tmp);
    return wp_steal_fd(&fd);
}

int pool_journal_compact(pool_journal_t *j, wp_error_t *err)
{
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.new", j->path) < 0) {
        tmp = NULL;
        return wp_error_errno(err, ENOMEM, "journal compaction");
    }
    pthread_mutex_lock(&j->lock);
    while (j->syncing) /* never swap the fd under a running fdatasync */
        pthread_cond_wait(&j->synced, &j->lock);
    size_t before = j->size;
    int fd = write_compacted(j, tmp, err);
    if (fd < 0 || rename(tmp, j->path) < 0) {
        if (fd >= 0) {
            wp_error_errno(err, errno, "rename '%s'", tmp);
            close(fd);
        }
        unlink(tmp);
        pthread_mutex_unlock(&j->lock);
        return wp_error_wrap(err, "journal '%s': compaction", j->path);
    }
    close(j->fd);
    j->fd = fd;
    j->size = POOL_JOURNAL_MAGIC_LEN + j->live_bytes;
    j->synced_seq = j->appended_seq; /* all of it was just fsync'd in the new file */
    size_t after = j->size;
    int ret = fsync_dir(j->dir, err);
    if (ret < 0)
        j->failed = err ? err->code : EIO;
    pthread_mutex_unlock(&j->lock);
    if (ret == 0)
        wp_log_info("journal '%s': compacted %zu bytes to %zu", j->path, before, after);
    return ret;
}

void pool_journal_close(pool_journal_t *j)
{
    if (j == NULL)
        return;
    if (j->fd >= 0)
        close(j->fd);
    pthread_cond_destroy(&j->synced);
    pthread_mutex_destroy(&j->lock);
    free(j->live);
    free(j->path);
    free(j->dir);
    free(j);
}
