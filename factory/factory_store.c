/* factory_store.c - the on-disk template store: list, read, open, remove. */
#include "factory_internal.h"

#include <dirent.h> /* opendir */
#include <errno.h>  /* errno */
#include <stdio.h>  /* snprintf, rename */
#include <stdlib.h> /* qsort */
#include <string.h> /* strdup */
#include <unistd.h> /* unlink, access */

#include "wp_cleanup.h"
#include "wp_fs.h"

#define MANIFEST_MAX (64 * 1024)

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void factory_names_free(char **names, size_t count)
{
    for (size_t i = 0; names && i < count; i++)
        free(names[i]);
    free(names);
}

/* Sorted names of the entries of dir that are not hidden and pass keep(). */
int factory_list_dir(const char *dir, bool (*keep)(const char *dir, const char *name),
                     char ***out, size_t *count, wp_error_t *err)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        return wp_error_errno(err, errno, "list '%s'", dir);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int ret = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || (keep && !keep(dir, de->d_name)))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, cap * sizeof(*names));
            if (grown == NULL) {
                ret = wp_error_errno(err, ENOMEM, "list '%s'", dir);
                break;
            }
            names = grown;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            ret = wp_error_errno(err, ENOMEM, "list '%s'", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (ret < 0) {
        factory_names_free(names, n);
        return ret;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
    *out = names;
    *count = n;
    return 0;
}

static bool has_manifest(const char *dir, const char *name)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s/manifest.json", dir, name);
    return access(path, F_OK) == 0;
}

int factory_template_list(factory_t *f, char ***names, size_t *count, wp_error_t *err)
{
    return factory_list_dir(f->store_dir, has_manifest, names, count, err);
}

static char *read_manifest_text(factory_t *f, const char *name, wp_error_t *err)
{
    if (factory_check_name(name, err) < 0)
        return NULL;
    char dir[PATH_MAX], path[PATH_MAX + 32];
    factory_template_dir(f, name, dir);
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    if (access(dir, F_OK) < 0) {
        wp_error_set(err, ENOENT, "template '%s' does not exist in '%s'", name, f->store_dir);
        return NULL;
    }
    char *text = wp_read_file(path, MANIFEST_MAX, NULL, err);
    if (text == NULL)
        wp_error_wrap(err, "template '%s' is damaged (rebuild it with 'warmpoolctl template "
                           "build %s ... --force')",
                      name, name);
    return text;
}

char *factory_template_manifest_json(factory_t *f, const char *name, wp_error_t *err)
{
    return read_manifest_text(f, name, err);
}

factory_template_t *factory_template_open(factory_t *f, const char *name, wp_error_t *err)
{
    _cleanup_free_ char *text = read_manifest_text(f, name, err);
    if (text == NULL)
        return NULL;
    _cleanup_free_ factory_template_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        wp_error_errno(err, ENOMEM, "open template '%s'", name);
        return NULL;
    }
    t->factory = f;
    if (factory_manifest_from_json(text, &t->manifest, err) < 0) {
        wp_error_wrap(err, "template '%s' has an unreadable manifest; rebuild it with "
                           "'warmpoolctl template build %s ... --force'",
                      name, name);
        return NULL;
    }
    if (strcmp(t->manifest.name, name) != 0) {
        wp_error_set(err, EINVAL,
                     "template '%s' has a manifest for '%s'; rebuild it with 'warmpoolctl "
                     "template build %s ... --force'",
                     name, t->manifest.name, name);
        return NULL;
    }
    factory_template_dir(f, name, t->dir);
    snprintf(t->kernel_path, PATH_MAX, "%.3000s/%s", t->dir, t->manifest.kernel.file);
    snprintf(t->initrd_path, PATH_MAX, "%.3000s/%s", t->dir, t->manifest.initrd.file);
    snprintf(t->state_path, PATH_MAX, "%.3000s/%s", t->dir, t->manifest.state.file);
    pthread_mutex_init(&t->sig_lock, NULL);
    if (factory_template_validate(t, err) < 0) {
        pthread_mutex_destroy(&t->sig_lock);
        return NULL;
    }
    return wp_steal_ptr(&t);
}

void factory_template_close(factory_template_t *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->sig_lock);
    free(t);
}

const char *factory_template_name(const factory_template_t *t)
{
    return t->manifest.name;
}

int factory_template_remove(factory_t *f, const char *name, wp_error_t *err)
{
    if (factory_check_name(name, err) < 0)
        return -1;
    _cleanup_close_ int lock = factory_lock_name(f, name, err);
    if (lock < 0)
        return wp_error_wrap(err, "remove template '%s'", name);
    char dir[PATH_MAX], trash[PATH_MAX + 64], mem[PATH_MAX];
    factory_template_dir(f, name, dir);
    factory_memory_path(f, name, mem);
    snprintf(trash, sizeof(trash), "%s/.trash-%s-%d", f->store_dir, name, (int)getpid());
    /* one rename makes it invisible; the slow deletion follows */
    if (rename(dir, trash) < 0) {
        if (errno == ENOENT)
            return wp_error_set(err, ENOENT, "template '%s' does not exist in '%s'", name,
                                f->store_dir);
        return wp_error_errno(err, errno, "remove template '%s': rename '%s'", name, dir);
    }
    if (unlink(mem) < 0 && errno != ENOENT)
        return wp_error_errno(err, errno, "remove template '%s': memory file '%s'", name, mem);
    if (wp_rm_tree(trash, err) < 0)
        return wp_error_wrap(err, "remove template '%s'", name);
    return 0;
}
