/* fake_source.c - the scripted source (see fake_source.h). */
#include "fake_source.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "wp_time.h"

#define MAX_VMS 1024

typedef struct fake_vm {
    char id[POOL_VM_ID_MAX];
    bool used;
    bool alive; /* process running */
    bool paused;
    pool_source_vm_t *handle; /* open handle, or NULL */
} fake_vm_t;

struct pool_source_vm {
    fake_vm_t *vm;
    int efd;
};

struct fake_source {
    pthread_mutex_t lock;
    fake_vm_t vms[MAX_VMS];
    int next_id;
    int delay_ms;
    int fail_clones, fail_resumes;
    bool honour_deadline;
    int in_clone;
    fake_counts_t counts;
};

fake_source_t *fake_source_new(void)
{
    fake_source_t *fs = calloc(1, sizeof(*fs));
    pthread_mutex_init(&fs->lock, NULL);
    fs->honour_deadline = true;
    return fs;
}

void fake_source_free(fake_source_t *fs)
{
    for (int i = 0; i < MAX_VMS; i++)
        if (fs->vms[i].handle != NULL) {
            close(fs->vms[i].handle->efd);
            free(fs->vms[i].handle);
        }
    pthread_mutex_destroy(&fs->lock);
    free(fs);
}

static fake_vm_t *find(fake_source_t *fs, const char *id)
{
    for (int i = 0; i < MAX_VMS; i++)
        if (fs->vms[i].used && strcmp(fs->vms[i].id, id) == 0)
            return &fs->vms[i];
    return NULL;
}

static fake_vm_t *slot(fake_source_t *fs, const char *id)
{
    for (int i = 0; i < MAX_VMS; i++)
        if (!fs->vms[i].used) {
            memset(&fs->vms[i], 0, sizeof(fs->vms[i]));
            fs->vms[i].used = true;
            fs->vms[i].alive = true;
            snprintf(fs->vms[i].id, sizeof(fs->vms[i].id), "%s", id);
            return &fs->vms[i];
        }
    abort();
}

static void fill_info(const fake_source_t *fs, const fake_vm_t *vm, pool_vm_info_t *info)
{
    memset(info, 0, sizeof(*info));
    snprintf(info->id, sizeof(info->id), "%s", vm->id);
    snprintf(info->agent_endpoint, sizeof(info->agent_endpoint), "unix:/fake/%s/agent.sock",
             vm->id);
    snprintf(info->runtime_dir, sizeof(info->runtime_dir), "/fake/%s", vm->id);
    snprintf(info->shared_dir, sizeof(info->shared_dir), "/fake/%s/shared", vm->id);
    info->pid = 10000 + (pid_t)(vm - fs->vms);
}

static pool_source_vm_t *attach(fake_vm_t *vm)
{
    pool_source_vm_t *h = calloc(1, sizeof(*h));
    h->vm = vm;
    h->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vm->handle = h;
    return h;
}

static void drop_handle(pool_source_vm_t *h)
{
    h->vm->handle = NULL;
    close(h->efd);
    free(h);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int f_clone(void *self, const char *tpl, int64_t deadline_ns, pool_vm_info_t *info,
                   pool_source_vm_t **out, wp_error_t *err)
{
    fake_source_t *fs = self;
    pthread_mutex_lock(&fs->lock);
    int delay = fs->delay_ms;
    bool honour = fs->honour_deadline;
    bool fail = fs->fail_clones != 0;
    if (fs->fail_clones > 0)
        fs->fail_clones--;
    if (++fs->in_clone > fs->counts.max_concurrent_clones)
        fs->counts.max_concurrent_clones = fs->in_clone;
    pthread_mutex_unlock(&fs->lock);

    int ret = 0;
    if (honour && deadline_ns != 0) {
        int64_t left_ms = (deadline_ns - wp_now_mono_ns()) / 1000000;
        if (left_ms < delay) {
            sleep_ms(left_ms > 0 ? (int)left_ms : 0);
            ret = wp_error_set(err, ETIMEDOUT, "fake clone of '%s': deadline", tpl);
        }
    }
    if (ret == 0)
        sleep_ms(delay);
    if (ret == 0 && fail)
        ret = wp_error_set(err, EIO, "fake clone of '%s': scripted failure", tpl);

    pthread_mutex_lock(&fs->lock);
    fs->in_clone--;
    if (ret == 0) {
        char id[POOL_VM_ID_MAX];
        snprintf(id, sizeof(id), "fake-%s-%d", tpl, ++fs->next_id);
        fake_vm_t *vm = slot(fs, id);
        fill_info(fs, vm, info);
        *out = attach(vm);
        fs->counts.clones++;
    } else {
        fs->counts.clone_failures++;
    }
    pthread_mutex_unlock(&fs->lock);
    return ret;
}

static int f_pause(void *self, pool_source_vm_t *h, wp_error_t *err)
{
    fake_source_t *fs = self;
    pthread_mutex_lock(&fs->lock);
    int ret = h->vm->alive ? 0 : wp_error_set(err, ESRCH, "fake pause: VM gone");
    if (ret == 0) {
        h->vm->paused = true;
        fs->counts.pauses++;
    }
    pthread_mutex_unlock(&fs->lock);
    return ret;
}

static int f_resume(void *self, pool_source_vm_t *h, wp_error_t *err)
{
    fake_source_t *fs = self;
    pthread_mutex_lock(&fs->lock);
    int ret = 0;
    if (!h->vm->alive)
        ret = wp_error_set(err, ESRCH, "fake resume: VM gone");
    else if (fs->fail_resumes > 0) {
        fs->fail_resumes--;
        ret = wp_error_set(err, EIO, "fake resume: scripted failure");
    } else {
        h->vm->paused = false;
        fs->counts.resumes++;
    }
    pthread_mutex_unlock(&fs->lock);
    return ret;
}

static int f_destroy(void *self, pool_source_vm_t *h, wp_error_t *err)
{
    (void)err;
    fake_source_t *fs = self;
    pthread_mutex_lock(&fs->lock);
    fake_vm_t *vm = h->vm;
    drop_handle(h);
    vm->used = false;
    fs->counts.destroys++;
    pthread_mutex_unlock(&fs->lock);
    return 0;
}

static void f_detach(void *self, pool_source_vm_t *h)
{
    fake_source_t *fs = self;
    pthread_mutex_lock(&fs->lock);
    drop_handle(h);
    fs->counts.detaches++;
    pthread_mutex_unlock(&fs->lock);
}

static int f_adopt(void *self, const char *id, pool_vm_info_t *info, pool_source_vm_t **out,
                   wp_error_t *err)
{
    fake_source_t *fs = self;
    pthread_mutex_lock(&fs->lock);
    fake_vm_t *vm = find(fs, id);
    int ret = 0;
    if (vm == NULL || !vm->alive) {
        if (vm != NULL)
            vm->used = false; /* the source cleans up what a dead VM left */
        ret = wp_error_set(err, ESRCH, "fake adopt: VM '%s' is gone", id);
    } else if (vm->handle != NULL) {
        ret = wp_error_set(err, EBUSY, "fake adopt: VM '%s' already has a handle", id);
    } else {
        fill_info(fs, vm, info);
        *out = attach(vm);
        fs->counts.adopts++;
    }
    pthread_mutex_unlock(&fs->lock);
    return ret;
}

static int f_destroy_by_id(void *self, const char *id, wp_error_t *err)
{
    (void)err;
    fake_source_t *fs = self;
    pthread_mutex_lock(&fs->lock);
    fake_vm_t *vm = find(fs, id);
    if (vm != NULL) {
        if (vm->handle != NULL)
            drop_handle(vm->handle);
        vm->used = false;
        fs->counts.destroys_by_id++;
    }
    pthread_mutex_unlock(&fs->lock);
    return 0;
}

static int f_list(void *self, char ***ids, size_t *count, wp_error_t *err)
{
    (void)err;
    fake_source_t *fs = self;
    pthread_mutex_lock(&fs->lock);
    *ids = calloc(MAX_VMS, sizeof(char *));
    *count = 0;
    for (int i = 0; i < MAX_VMS; i++)
        if (fs->vms[i].used)
            (*ids)[(*count)++] = strdup(fs->vms[i].id);
    pthread_mutex_unlock(&fs->lock);
    return 0;
}

static int f_exit_fd(void *self, pool_source_vm_t *h)
{
    (void)self;
    return h->efd;
}

static const pool_source_ops_t fake_ops = {
    .clone = f_clone,
    .pause = f_pause,
    .resume = f_resume,
    .destroy = f_destroy,
    .detach = f_detach,
    .adopt = f_adopt,
    .destroy_by_id = f_destroy_by_id,
    .list = f_list,
    .exit_fd = f_exit_fd,
};

pool_source_t fake_source_as_source(fake_source_t *fs)
{
    return (pool_source_t){.ops = &fake_ops, .self = fs};
}

#define SETTER(name, field, type)                                                                  \
    void name(fake_source_t *fs, type v)                                                           \
    {                                                                                              \
        pthread_mutex_lock(&fs->lock);                                                             \
        fs->field = v;                                                                             \
        pthread_mutex_unlock(&fs->lock);                                                           \
    }
SETTER(fake_source_set_clone_delay_ms, delay_ms, int)
SETTER(fake_source_fail_clones, fail_clones, int)
SETTER(fake_source_fail_resumes, fail_resumes, int)
SETTER(fake_source_honour_deadline, honour_deadline, bool)

int fake_source_kill(fake_source_t *fs, const char *id)
{
    pthread_mutex_lock(&fs->lock);
    fake_vm_t *vm = find(fs, id);
    int ret = -1;
    if (vm != NULL) {
        vm->alive = false;
        if (vm->handle != NULL) {
            uint64_t one = 1;
            ssize_t n = write(vm->handle->efd, &one, sizeof(one));
            (void)n;
        }
        ret = 0;
    }
    pthread_mutex_unlock(&fs->lock);
    return ret;
}

void fake_source_add_orphan(fake_source_t *fs, const char *id)
{
    pthread_mutex_lock(&fs->lock);
    slot(fs, id);
    pthread_mutex_unlock(&fs->lock);
}

bool fake_source_exists(fake_source_t *fs, const char *id)
{
    pthread_mutex_lock(&fs->lock);
    bool found = find(fs, id) != NULL;
    pthread_mutex_unlock(&fs->lock);
    return found;
}

bool fake_source_paused(fake_source_t *fs, const char *id)
{
    pthread_mutex_lock(&fs->lock);
    fake_vm_t *vm = find(fs, id);
    bool paused = vm != NULL && vm->paused;
    pthread_mutex_unlock(&fs->lock);
    return paused;
}

int fake_source_count(fake_source_t *fs)
{
    pthread_mutex_lock(&fs->lock);
    int n = 0;
    for (int i = 0; i < MAX_VMS; i++)
        n += fs->vms[i].used;
    pthread_mutex_unlock(&fs->lock);
    return n;
}

int fake_source_attached(fake_source_t *fs)
{
    pthread_mutex_lock(&fs->lock);
    int n = 0;
    for (int i = 0; i < MAX_VMS; i++)
        n += fs->vms[i].used && fs->vms[i].handle != NULL;
    pthread_mutex_unlock(&fs->lock);
    return n;
}

fake_counts_t fake_source_counts(fake_source_t *fs)
{
    pthread_mutex_lock(&fs->lock);
    fake_counts_t c = fs->counts;
    pthread_mutex_unlock(&fs->lock);
    return c;
}
