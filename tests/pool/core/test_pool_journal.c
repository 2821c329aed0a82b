/* test_pool_journal.c - the journal: round trip, last-state-wins replay,
 * a torn or corrupt last record is cut, damage in the middle is refused,
 * compaction keeps exactly the live records, group-committed appends from
 * many threads all survive. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool_journal.h"
#include "pool_journal_codec.h"
#include "wp_fs.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/wp-journal-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/%s", dir, POOL_JOURNAL_FILE);
}

static void teardown(void)
{
    wp_rm_tree(dir, NULL);
}

TestSuite(journal, .init = setup, .fini = teardown);

static pool_jrec_t rec(pool_jrec_kind_t kind, const char *id)
{
    pool_jrec_t r = {.kind = kind, .time_ns = 1234567890123ll, .paused = true};
    snprintf(r.template_name, sizeof(r.template_name), "small");
    snprintf(r.vm.id, sizeof(r.vm.id), "%s", id);
    snprintf(r.vm.agent_endpoint, sizeof(r.vm.agent_endpoint), "unix:/run/%s/agent.sock", id);
    snprintf(r.vm.runtime_dir, sizeof(r.vm.runtime_dir), "/run/%s", id);
    snprintf(r.vm.shared_dir, sizeof(r.vm.shared_dir), "/run/%s/shared", id);
    r.vm.pid = 4242;
    for (int i = 0; i < POOL_TOKEN_BYTES; i++)
        r.token[i] = (uint8_t)(i * 17 + id[0]);
    return r;
}

static pool_journal_t *open_ok(pool_journal_replay_t *replay, size_t compact)
{
    wp_error_t err = {0};
    pool_journal_t *j = pool_journal_open(dir, compact, replay, &err);
    cr_assert_not_null(j, "%s", err.msg);
    return j;
}

static void append(pool_journal_t *j, pool_jrec_t r)
{
    wp_error_t err = {0};
    cr_assert_eq(pool_journal_append(j, &r, true, &err), 0, "%s", err.msg);
}

static off_t file_size(void)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    return st.st_size;
}

/* Three VMs: a leased, b warm then gone, c warm. */
static void write_three(void)
{
    pool_journal_replay_t replay;
    pool_journal_t *j = open_ok(&replay, 0);
    cr_assert_eq(replay.count, 0);
    pool_journal_replay_free(&replay);
    append(j, rec(POOL_JREC_WARM, "vm-a"));
    append(j, rec(POOL_JREC_WARM, "vm-b"));
    append(j, rec(POOL_JREC_LEASED, "vm-a"));
    append(j, rec(POOL_JREC_GONE, "vm-b"));
    append(j, rec(POOL_JREC_WARM, "vm-c"));
    pool_journal_close(j);
}

Test(journal, crc32_is_the_standard_one)
{
    cr_assert_eq(pool_crc32("123456789", 9), 0xcbf43926u);
}

Test(journal, replay_gives_the_last_state_of_each_live_vm)
{
    write_three();
    pool_journal_replay_t replay;
    pool_journal_t *j = open_ok(&replay, 0);
    cr_assert_eq(replay.count, 2);
    cr_assert_eq(replay.truncated_bytes, 0);
    pool_jrec_t want = rec(POOL_JREC_LEASED, "vm-a");
    cr_assert_eq(memcmp(&replay.records[0], &want, sizeof(want)), 0, "vm-a round-trips exactly");
    cr_assert_str_eq(replay.records[1].vm.id, "vm-c");
    cr_assert_eq(replay.records[1].kind, POOL_JREC_WARM);
    pool_journal_replay_free(&replay);
    pool_journal_close(j);
}

Test(journal, a_torn_last_record_is_cut_and_appending_continues)
{
    write_three();
    off_t full = file_size();
    cr_assert_eq(truncate(path, full - 5), 0); /* the crash hit mid-append */
    pool_journal_replay_t replay;
    pool_journal_t *j = open_ok(&replay, 0);
    cr_assert_eq(replay.count, 1, "vm-c's record was the torn one");
    cr_assert_str_eq(replay.records[0].vm.id, "vm-a");
    cr_assert_gt(replay.truncated_bytes, 0);
    pool_journal_replay_free(&replay);
    append(j, rec(POOL_JREC_WARM, "vm-d"));
    pool_journal_close(j);
    j = open_ok(&replay, 0);
    cr_assert_eq(replay.count, 2);
    cr_assert_eq(replay.truncated_bytes, 0, "the file is clean after the cut");
    cr_assert_str_eq(replay.records[1].vm.id, "vm-d");
    pool_journal_replay_free(&replay);
    pool_journal_close(j);
}

Test(journal, a_torn_header_and_a_zeroed_tail_are_cut)
{
    write_three();
    off_t full = file_size();
    int fd = open(path, O_WRONLY | O_APPEND);
    cr_assert_eq(write(fd, "\x00\x00\x01", 3), 3); /* three bytes of a header */
    close(fd);
    pool_journal_replay_t replay;
    pool_journal_t *j = open_ok(&replay, 0);
    cr_assert_eq(replay.count, 2);
    cr_assert_eq(replay.truncated_bytes, 3);
    pool_journal_replay_free(&replay);
    pool_journal_close(j);
    cr_assert_eq(file_size(), full);
    cr_assert_eq(truncate(path, full + 4096), 0); /* extended, never written */
    j = open_ok(&replay, 0);
    cr_assert_eq(replay.count, 2);
    cr_assert_eq(replay.truncated_bytes, 4096);
    pool_journal_replay_free(&replay);
    pool_journal_close(j);
}

Test(journal, a_corrupt_last_record_is_cut)
{
    write_three();
    off_t full = file_size();
    int fd = open(path, O_WRONLY);
    cr_assert_eq(pwrite(fd, "X", 1, full - 3), 1); /* inside vm-c's payload */
    close(fd);
    pool_journal_replay_t replay;
    pool_journal_t *j = open_ok(&replay, 0);
    cr_assert_eq(replay.count, 1);
    cr_assert_gt(replay.truncated_bytes, 0);
    pool_journal_replay_free(&replay);
    pool_journal_close(j);
}

Test(journal, corruption_in_the_middle_is_refused_with_its_offset)
{
    write_three();
    /* the second record starts after the magic and the first record */
    uint8_t buf[POOL_JREC_HEADER + POOL_JREC_MAX];
    pool_jrec_t first = rec(POOL_JREC_WARM, "vm-a");
    size_t first_len = pool_jrec_encode(&first, buf);
    off_t second = POOL_JOURNAL_MAGIC_LEN + (off_t)first_len;
    int fd = open(path, O_WRONLY);
    cr_assert_eq(pwrite(fd, "X", 1, second + POOL_JREC_HEADER + 20), 1);
    close(fd);
    off_t before = file_size();
    pool_journal_replay_t replay;
    wp_error_t err = {0};
    cr_assert_null(pool_journal_open(dir, 0, &replay, &err));
    cr_assert_eq(err.code, EBADMSG);
    char want[64];
    snprintf(want, sizeof(want), "offset %lld", (long long)second);
    cr_assert(strstr(err.msg, want) != NULL, "names the offset: %s", err.msg);
    cr_assert(strstr(err.msg, path) != NULL, "names the file: %s", err.msg);
    cr_assert_eq(file_size(), before, "damage is left for the operator, not truncated");
}

Test(journal, a_file_that_is_not_a_journal_is_refused)
{
    cr_assert_eq(wp_write_file_atomic(path, "{\"hello\": 1}\n", 13, 0600, NULL), 0);
    pool_journal_replay_t replay;
    wp_error_t err = {0};
    cr_assert_null(pool_journal_open(dir, 0, &replay, &err));
    cr_assert_eq(err.code, EBADMSG);
}

Test(journal, compaction_keeps_exactly_the_live_records)
{
    pool_journal_replay_t replay;
    pool_journal_t *j = open_ok(&replay, 4096);
    pool_journal_replay_free(&replay);
    char id[32];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "vm-%d", i);
        append(j, rec(POOL_JREC_WARM, id));
        if (i % 10 != 0)
            append(j, rec(POOL_JREC_GONE, id));
    }
    cr_assert(pool_journal_needs_compaction(j));
    size_t before = pool_journal_size(j);
    wp_error_t err = {0};
    cr_assert_eq(pool_journal_compact(j, &err), 0, "%s", err.msg);
    cr_assert_lt(pool_journal_size(j), before / 10);
    cr_assert_eq((off_t)pool_journal_size(j), file_size());
    cr_assert_not(pool_journal_needs_compaction(j));
    append(j, rec(POOL_JREC_LEASED, "vm-10")); /* appends go to the new file */
    pool_journal_close(j);
    j = open_ok(&replay, 4096);
    cr_assert_eq(replay.count, 20);
    cr_assert_str_eq(replay.records[0].vm.id, "vm-0");
    bool saw = false;
    for (size_t i = 0; i < replay.count; i++)
        if (strcmp(replay.records[i].vm.id, "vm-10") == 0)
            saw = replay.records[i].kind == POOL_JREC_LEASED;
    cr_assert(saw);
    pool_journal_replay_free(&replay);
    pool_journal_close(j);
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    cr_assert_neq(access(tmp, F_OK), 0, "no temporary file left");
}

typedef struct appender {
    pool_journal_t *j;
    int base;
} appender_t;

static void *append_many(void *p)
{
    appender_t *a = p;
    for (int i = 0; i < 50; i++) {
        char id[32];
        snprintf(id, sizeof(id), "vm-%d-%d", a->base, i);
        pool_jrec_t r = rec(POOL_JREC_LEASED, id);
        wp_error_t err = {0};
        if (pool_journal_append(a->j, &r, true, &err) < 0)
            return (void *)1;
    }
    return NULL;
}

Test(journal, group_committed_appends_from_many_threads_all_survive)
{
    pool_journal_replay_t replay;
    pool_journal_t *j = open_ok(&replay, 0);
    pool_journal_replay_free(&replay);
    pthread_t th[8];
    appender_t args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (appender_t){j, i};
        pthread_create(&th[i], NULL, append_many, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        cr_assert_null(ret);
    }
    pool_journal_close(j);
    j = open_ok(&replay, 0);
    cr_assert_eq(replay.count, 400);
    pool_journal_replay_free(&replay);
    pool_journal_close(j);
}

Test(journal, a_second_opener_is_refused)
{
    pool_journal_replay_t replay, replay2;
    pool_journal_t *j = open_ok(&replay, 0);
    pool_journal_replay_free(&replay);
    wp_error_t err = {0};
    cr_assert_null(pool_journal_open(dir, 0, &replay2, &err));
    cr_assert_eq(err.code, EBUSY);
    cr_assert(strstr(err.msg, "another warmpoold") != NULL, "%s", err.msg);
    pool_journal_close(j);
}
