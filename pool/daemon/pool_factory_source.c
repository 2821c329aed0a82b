/* pool_factory_source.c - the pool's VM source over the factory (contract in
 * pool_factory_source.h and pool_source.h).
 *
 * The agent channel of a VM serves one host connection at a time, and a
 * leased VM's holder talks to its agent directly. So the source holds an
 * agent connection only while it needs one (the clone's reseed and clock; a
 * paused warm VM's, for the clock after its resume) and closes it before
 * the VM is handed on. A running warm VM is handed on with none. */
#include "pool_factory_source.h"

#include <dirent.h>       /* opendir */
#include <errno.h>        /* ENOENT, ESRCH */
#include <stdatomic.h>    /* atomic_bool */
#include <sys/resource.h> /* setpriority */
#include <pthread.h>      /* pthread_mutex_t */
#include <stdlib.h>       /* calloc */
#include <limits.h>       /* PATH_MAX */
#include <stdio.h>        /* snprintf */
#include <string.h>       /* strncmp */
#include <sys/stat.h>     /* stat */
#include <fcntl.h>        /* fcntl: F_DUPFD_CLOEXEC */
#include <sys/syscall.h>  /* SYS_gettid */
#include <unistd.h>       /* close, syscall */

#include "wp_log.h"
#include "wp_time.h"

#define SOURCE_ID_PREFIX    "wp-"
#define SOURCE_AGENT_MS     10000 /* agent calls outside a clone's own deadline */
#define SOURCE_MIN_CLONE_MS 1000  /* a deadline closer than this still gets a try */

typedef struct open_template {
    struct open_template *next;
    factory_template_t *t;
    dev_t manifest_dev; /* the manifest it was opened from: a rebuild replaces it */
    ino_t manifest_ino;
    bool stale; /* replaced on disk; kept open for clones still using it */
} open_template_t;

struct pool_factory_source {
    factory_t *f;
    bool mount_share;     /* factory_clone_options_t.mount_share */
    bool warm_up;         /* factory_clone_options_t.warm_up, for refills */
    pthread_mutex_t lock; /* guards templates */
    open_template_t *templates;
};

struct pool_source_vm {
    factory_vm_t *fvm;
    int exit_fd; /* dup of hv_vm_exit_fd: readable once the VM ended */
};

/* ---- opened templates, cached: validation reads digests once ---- */

static int manifest_stat(pool_factory_source_t *s, const char *name, struct stat *st)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s/manifest.json", factory_store_dir(s->f), name);
    return stat(path, st);
}

static open_template_t *template_get(pool_factory_source_t *s, const char *name, wp_error_t *err)
{
    pthread_mutex_lock(&s->lock);
    open_template_t *found = NULL;
    for (open_template_t *o = s->templates; o && !found; o = o->next)
        if (!o->stale && strcmp(factory_template_name(o->t), name) == 0)
            found = o;
    if (found == NULL) {
        open_template_t *o = calloc(1, sizeof(*o));
        struct stat st = {0};
        if (o == NULL) {
            wp_error_errno(err, ENOMEM, "open template '%s'", name);
        } else if (manifest_stat(s, name, &st) < 0 ||
                   (o->t = factory_template_open(s->f, name, err)) == NULL) {
            if (o->t == NULL && err && err->code == 0)
                wp_error_errno(err, errno, "open template '%s'", name);
            free(o);
        } else {
            o->manifest_dev = st.st_dev;
            o->manifest_ino = st.st_ino;
            o->next = s->templates;
            s->templates = o;
            found = o;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* Was the template rebuilt since o was opened? Then mark o stale. */
static bool template_replaced(pool_factory_source_t *s, open_template_t *o)
{
    struct stat st;
    bool replaced = manifest_stat(s, factory_template_name(o->t), &st) < 0 ||
                    st.st_dev != o->manifest_dev || st.st_ino != o->manifest_ino;
    if (replaced) {
        pthread_mutex_lock(&s->lock);
        o->stale = true;
        pthread_mutex_unlock(&s->lock);
    }
    return replaced;
}

/* A clone started by a refill thread (nice POOL_REFILL_NICE) gets normal
 * priority once ready: every thread of its process, as nice is per thread.
 * Raising priority needs CAP_SYS_NICE; without it the VM stays niced and
 * that is said once. */
static void restore_priority(pid_t pid)
{
    errno = 0;
    int mine = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    if (mine <= 0 || errno != 0)
        return; /* an on-demand clone: started at normal priority */
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    struct dirent *e;
    static atomic_bool warned;
    while (dir && (e = readdir(dir)) != NULL) {
        long tid = strtol(e->d_name, NULL, 10);
        if (tid > 0 && setpriority(PRIO_PROCESS, (id_t)tid, 0) < 0 &&
            !atomic_exchange(&warned, true))
            wp_log_warn("VM process %d: cannot restore normal priority: %s (the daemon needs "
                        "CAP_SYS_NICE)",
                        (int)pid, strerror(errno));
    }
    if (dir)
        closedir(dir);
}

static pool_source_vm_t *wrap(factory_vm_t *fvm, pool_vm_info_t *info, wp_error_t *err)
{
    pool_source_vm_t *vm = calloc(1, sizeof(*vm));
    if (vm == NULL) {
        wp_error_errno(err, ENOMEM, "VM '%s'", fvm->id);
        return NULL;
    }
    pid_t pid = hv_vm_pid(fvm->vm);
    /* the backend's exit notice (pidfd, or libvirt's lifecycle events), ours to close */
    int exit_fd = hv_vm_exit_fd(fvm->vm);
    vm->exit_fd = exit_fd < 0 ? -1 : fcntl(exit_fd, F_DUPFD_CLOEXEC, 0);
    if (vm->exit_fd < 0) {
        int e = exit_fd < 0 ? ESRCH : errno;
        free(vm);
        wp_error_errno(err, e, "VM '%s': watch for its exit", fvm->id);
        return NULL;
    }
    vm->fvm = fvm;
    memset(info, 0, sizeof(*info));
    snprintf(info->id, sizeof(info->id), "%s", fvm->id);
    snprintf(info->agent_endpoint, sizeof(info->agent_endpoint), "%s",
             hv_vm_agent_endpoint(fvm->vm));
    snprintf(info->runtime_dir, sizeof(info->runtime_dir), "%s", hv_vm_runtime_dir(fvm->vm));
    snprintf(info->shared_dir, sizeof(info->shared_dir), "%s", fvm->share_dir);
    info->pid = pid;
    return vm;
}

/* ---- ops ---- */

static int src_clone(void *self, const char *template_name, int64_t deadline_ns,
                     pool_vm_info_t *info, pool_source_vm_t **out, wp_error_t *err)
{
    pool_factory_source_t *s = self;
    /* no deadline: a refill, ahead of demand (a waiting acquire has one) */
    factory_clone_options_t opt = {.id_prefix = SOURCE_ID_PREFIX,
                                   .mount_share = s->mount_share,
                                   .warm_up = s->warm_up && deadline_ns == 0};
    if (deadline_ns > 0) {
        double left = wp_ms_between(wp_now_mono_ns(), deadline_ns);
        if (left <= 0)
            return wp_error_set(err, ETIMEDOUT, "clone '%s': deadline passed", template_name);
        opt.agent_timeout_ms = left < SOURCE_MIN_CLONE_MS ? SOURCE_MIN_CLONE_MS : (int)left;
    }
    factory_vm_t *fvm = NULL;
    for (int attempt = 0; fvm == NULL; attempt++) {
        open_template_t *o = template_get(s, template_name, err);
        if (o == NULL)
            return -1;
        wp_error_t cerr = {0};
        if (factory_clone(s->f, o->t, &opt, &fvm, &cerr) == 0)
            break;
        /* rebuilt since we opened it (`warmpoolctl template build --force`):
         * open the new one, once */
        if (attempt == 0 && template_replaced(s, o))
            continue;
        if (err)
            *err = cerr;
        return -1;
    }
    /* the holder talks to the agent, not us */
    agent_client_close(fvm->agent);
    fvm->agent = NULL;
    restore_priority(hv_vm_pid(fvm->vm));
    pool_source_vm_t *vm = wrap(fvm, info, err);
    if (vm == NULL) {
        factory_vm_destroy(fvm, NULL);
        return -1;
    }
    *out = vm;
    return 0;
}

/* Pause a warm VM, holding an agent connection the guest has already
 * taken up (a ping answered): after the resume, setting the clock is then
 * one round trip on it, not a reconnect the guest must notice first. */
static int src_pause(void *self, pool_source_vm_t *vm, wp_error_t *err)
{
    (void)self;
    factory_vm_t *fvm = vm->fvm;
    if (fvm->agent == NULL) {
        fvm->agent = agent_client_connect(hv_vm_agent_endpoint(fvm->vm), err);
        if (fvm->agent == NULL)
            return wp_error_wrap(err, "connect to the agent");
        if (agent_client_ping(fvm->agent, SOURCE_AGENT_MS, err) < 0)
            return wp_error_wrap(err, "ping the agent");
    }
    return hv_pause(fvm->vm, err);
}

/* Resume, then set the wall clock (the guest's stood still while paused),
 * then let go of the agent: its holder talks to it next. */
static int src_resume(void *self, pool_source_vm_t *vm, wp_error_t *err)
{
    (void)self;
    factory_vm_t *fvm = vm->fvm;
    if (hv_resume(fvm->vm, err) < 0)
        return -1;
    if (fvm->agent == NULL) {
        fvm->agent = agent_client_connect(hv_vm_agent_endpoint(fvm->vm), err);
        if (fvm->agent == NULL)
            return wp_error_wrap(err, "connect to the agent");
    }
    int ret = agent_client_set_clock(fvm->agent, wp_now_real_ns(), SOURCE_AGENT_MS, err);
    agent_client_close(fvm->agent);
    fvm->agent = NULL;
    return ret < 0 ? wp_error_wrap(err, "set the guest clock") : 0;
}

static int src_destroy(void *self, pool_source_vm_t *vm, wp_error_t *err)
{
    (void)self;
    close(vm->exit_fd);
    int ret = factory_vm_destroy(vm->fvm, err);
    free(vm);
    return ret;
}

static void src_detach(void *self, pool_source_vm_t *vm)
{
    (void)self;
    close(vm->exit_fd);
    factory_vm_release(vm->fvm);
    free(vm);
}

static int src_adopt(void *self, const char *id, pool_vm_info_t *info, pool_source_vm_t **out,
                     wp_error_t *err)
{
    pool_factory_source_t *s = self;
    factory_vm_t *fvm = NULL;
    wp_error_t aerr = {0};
    if (factory_vm_adopt(s->f, id, &fvm, &aerr) < 0) {
        if (aerr.code == ESRCH || aerr.code == ENOENT) {
            factory_vm_destroy_by_id(s->f, id, NULL); /* whatever files it left */
            return wp_error_set(err, ESRCH, "VM '%s' is gone: %s", id, aerr.msg);
        }
        if (err)
            *err = aerr;
        return -1;
    }
    pool_source_vm_t *vm = wrap(fvm, info, err);
    if (vm == NULL) {
        factory_vm_release(fvm);
        return -1;
    }
    *out = vm;
    return 0;
}

static int src_destroy_by_id(void *self, const char *id, wp_error_t *err)
{
    pool_factory_source_t *s = self;
    wp_error_t derr = {0};
    if (factory_vm_destroy_by_id(s->f, id, &derr) == 0 || derr.code == ENOENT)
        return 0;
    if (err)
        *err = derr;
    return -1;
}

static int src_list(void *self, char ***ids, size_t *count, wp_error_t *err)
{
    pool_factory_source_t *s = self;
    char **all = NULL;
    size_t n = 0, kept = 0;
    if (factory_vm_list(s->f, &all, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(all[i], SOURCE_ID_PREFIX, strlen(SOURCE_ID_PREFIX)) == 0)
            all[kept++] = all[i];
        else
            free(all[i]);
    }
    *ids = all;
    *count = kept;
    return 0;
}

static int src_exit_fd(void *self, pool_source_vm_t *vm)
{
    (void)self;
    return vm->exit_fd;
}

static const pool_source_ops_t factory_source_ops = {
    .clone = src_clone,
    .pause = src_pause,
    .resume = src_resume,
    .destroy = src_destroy,
    .detach = src_detach,
    .adopt = src_adopt,
    .destroy_by_id = src_destroy_by_id,
    .list = src_list,
    .exit_fd = src_exit_fd,
};

pool_factory_source_t *pool_factory_source_new(factory_t *f, bool mount_share, bool warm_up,
                                               wp_error_t *err)
{
    pool_factory_source_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        wp_error_errno(err, ENOMEM, "VM source");
        return NULL;
    }
    s->f = f;
    s->mount_share = mount_share;
    s->warm_up = warm_up;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void pool_factory_source_free(pool_factory_source_t *s)
{
    if (s == NULL)
        return;
    open_template_t *o = s->templates;
    while (o) {
        open_template_t *next = o->next;
        factory_template_close(o->t);
        free(o);
        o = next;
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

pool_source_t pool_factory_source(pool_factory_source_t *s)
{
    return (pool_source_t){.ops = &factory_source_ops, .self = s};
}
