/* agent_cgroup.c - see agent_cgroup.h. */
#include "agent_cgroup.h"

#include <errno.h>    /* ENOENT */
#include <inttypes.h> /* SCNu64 */
#include <stdio.h>    /* snprintf, sscanf */
#include <stdlib.h>   /* realloc */
#include <string.h>   /* strncmp */
#include <sys/stat.h> /* stat */

#include "wp_cleanup.h"
#include "wp_fs.h"

#define CGROUP_FILE_MAX (1 << 20)

void agent_cgroup_path(const char *root, const char *id, char *out, size_t len)
{
    snprintf(out, len, "%s/warmpool/%s", root, id);
}

static char *read_in(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return wp_read_file(path, CGROUP_FILE_MAX, NULL, NULL);
}

/* A single-value file: a number, or "max" (0). */
static uint64_t read_value(const char *dir, const char *name)
{
    _cleanup_free_ char *text = read_in(dir, name);
    uint64_t v = 0;
    if (text != NULL && strncmp(text, "max", 3) != 0)
        sscanf(text, "%" SCNu64, &v);
    return v;
}

/* The value of `key` in a flat-keyed file ("key value" lines). */
static uint64_t read_key(const char *dir, const char *name, const char *key)
{
    _cleanup_free_ char *text = read_in(dir, name);
    size_t klen = strlen(key);
    for (char *line = text; line != NULL && *line != '\0';) {
        uint64_t v;
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ' &&
            sscanf(line + klen + 1, "%" SCNu64, &v) == 1)
            return v;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return 0;
}

int agent_cgroup_stats(const char *dir, agent_cgroup_stats_t *out, wp_error_t *err)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return wp_error_errno(err, errno, "cgroup '%s'", dir);
    out->cpu_usage_usec = read_key(dir, "cpu.stat", "usage_usec");
    out->cpu_user_usec = read_key(dir, "cpu.stat", "user_usec");
    out->cpu_system_usec = read_key(dir, "cpu.stat", "system_usec");
    out->memory_current = read_value(dir, "memory.current");
    out->memory_max = read_value(dir, "memory.max");
    out->pids_current = read_value(dir, "pids.current");
    out->pids_max = read_value(dir, "pids.max");
    out->oom_kills = agent_cgroup_oom_kills(dir);
    return 0;
}

int agent_cgroup_pids(const char *dir, uint32_t **pids, size_t *n, wp_error_t *err)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    _cleanup_free_ char *text = wp_read_file(path, CGROUP_FILE_MAX, NULL, err);
    if (text == NULL)
        return wp_error_wrap(err, "list pids");
    size_t cap = 0;
    *pids = NULL;
    *n = 0;
    for (char *p = text; *p != '\0';) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *grown = realloc(*pids, cap * sizeof(**pids));
            if (grown == NULL) {
                free(*pids);
                *pids = NULL;
                return wp_error_errno(err, ENOMEM, "list pids");
            }
            *pids = grown;
        }
        (*pids)[(*n)++] = (uint32_t)v;
        p = end;
    }
    return 0;
}

uint64_t agent_cgroup_oom_kills(const char *dir)
{
    return read_key(dir, "memory.events", "oom_kill");
}
