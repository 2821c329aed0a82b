/* agent_containers.c - see agent_containers.h. The registry, and one short
 * function per call: look the process up, ask agent_proc_allows(), act. */
#include "agent_containers.h"

#include <errno.h>       /* ENOENT, EEXIST */
#include <signal.h>      /* kill */
#include <stdio.h>       /* snprintf */
#include <stdlib.h>      /* calloc */
#include <string.h>      /* strcmp */
#include <sys/epoll.h>   /* EPOLLIN */
#include <sys/inotify.h> /* inotify: memory.events */
#include <sys/ioctl.h>   /* TIOCSWINSZ */
#include <sys/wait.h>    /* waitpid */
#include <termios.h>     /* struct winsize */
#include <unistd.h>      /* close */

#include "agent_cgroup.h"
#include "agent_crun.h"
#include "agent_containers_impl.h"
#include "wp_cleanup.h"
#include "wp_fs.h"
#include "wp_log.h"
#include "wp_time.h"

/* ---- registry ---- */

bool agent_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > AGENT_ID_MAX || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return false;
    return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

agent_container_t *agent_find_ctr(agent_containers_t *m, const char *id, wp_error_t *err)
{
    for (agent_container_t *c = m->list; c != NULL; c = c->next)
        if (strcmp(c->id, id) == 0)
            return c;
    wp_error_set(err, ENOENT, "no container '%s'", id);
    return NULL;
}

agent_proc_t *agent_find_exec(agent_container_t *c, const char *exec_id)
{
    for (agent_proc_t *p = c->execs; p != NULL; p = p->next)
        if (strcmp(p->exec_id, exec_id) == 0)
            return p;
    return NULL;
}

agent_proc_t *agent_find_proc(agent_containers_t *m, const char *id, const char *exec_id,
                              wp_error_t *err)
{
    agent_container_t *c = agent_find_ctr(m, id, err);
    if (c == NULL)
        return NULL;
    if (exec_id[0] == '\0')
        return c->init;
    agent_proc_t *p = agent_find_exec(c, exec_id);
    if (p == NULL)
        wp_error_set(err, ENOENT, "no process '%s' in container '%s'", exec_id, id);
    return p;
}

static void each_proc(agent_containers_t *m, void (*fn)(agent_proc_t *, void *), void *arg)
{
    for (agent_container_t *c = m->list; c != NULL; c = c->next) {
        fn(c->init, arg);
        for (agent_proc_t *p = c->execs; p != NULL; p = p->next)
            fn(p, arg);
    }
}

void agent_ctr_path(const agent_container_t *c, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", c->bundle, name);
}

int agent_ctr_crun(agent_containers_t *m, const agent_container_t *c, const char *const *args,
                   const int stdio[3], wp_error_t *err)
{
    char log[600];
    agent_ctr_path(c, "crun.log", log, sizeof(log));
    static const int none[3] = {-1, -1, -1};
    return agent_crun_run(&m->crun, log, args, stdio ? stdio : none, err);
}

/* ---- OOM ---- */

static void oom_ready(agent_server_t *s, agent_watch_t *w, uint32_t events)
{
    (void)events;
    agent_containers_t *m = w->opaque;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof(*ev) + ev->len;
            for (agent_container_t *c = m->list; c != NULL; c = c->next) {
                if (c->oom_wd != ev->wd)
                    continue;
                uint64_t kills = agent_cgroup_oom_kills(c->cgroup);
                if (kills <= c->oom_kills)
                    continue;
                c->oom_kills = kills;
                Warmpool__Agent__V1__ContainerOom oom = WARMPOOL__AGENT__V1__CONTAINER_OOM__INIT;
                oom.container_id = c->id;
                oom.oom_kills = kills;
                Warmpool__Agent__V1__Event e = WARMPOOL__AGENT__V1__EVENT__INIT;
                e.event_case = WARMPOOL__AGENT__V1__EVENT__EVENT_CONTAINER_OOM;
                e.container_oom = &oom;
                agent_server_broadcast(s, &e);
            }
        }
    }
}

void agent_ctr_oom_watch(agent_containers_t *m, agent_container_t *c)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/memory.events", c->cgroup);
    c->oom_kills = agent_cgroup_oom_kills(c->cgroup);
    c->oom_wd = m->oom.fd < 0 ? -1 : inotify_add_watch(m->oom.fd, path, IN_MODIFY);
    if (c->oom_wd < 0)
        wp_log_debug("agent: container '%s': no OOM watch on '%s'", c->id, path);
}

/* ---- lifecycle ---- */

agent_containers_t *agent_containers_new(agent_server_t *s, agent_ctx_t *ctx, wp_error_t *err)
{
    agent_containers_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        wp_error_errno(err, ENOMEM, "container manager");
        return NULL;
    }
    m->srv = s;
    m->ctx = ctx;
    const agent_paths_t *p = &ctx->paths;
    m->crun.bin = p->crun ? p->crun : AGENT_CRUN_BIN;
    m->crun.root = p->crun_root ? p->crun_root : "/run/crun";
    m->bundle_dir = p->bundle_dir ? p->bundle_dir : AGENT_BUNDLE_DIR;
    m->cgroup_root = p->cgroup_root ? p->cgroup_root : "/sys/fs/cgroup";
    m->oom = (agent_watch_t){
        .fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), .fn = oom_ready, .opaque = m};
    if (m->oom.fd >= 0 && agent_server_watch(s, &m->oom, EPOLLIN, NULL) < 0) {
        close(m->oom.fd);
        m->oom.fd = -1;
    }
    return m;
}

void agent_ctr_free(agent_containers_t *m, agent_container_t *c)
{
    for (agent_container_t **pp = &m->list; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    while (c->execs != NULL) {
        agent_proc_t *p = c->execs;
        c->execs = p->next;
        agent_proc_free(p);
    }
    agent_proc_free(c->init);
    if (c->oom_wd >= 0 && m->oom.fd >= 0)
        inotify_rm_watch(m->oom.fd, c->oom_wd);
    free(c);
}

void agent_containers_free(agent_containers_t *m)
{
    if (m == NULL)
        return;
    while (m->list != NULL)
        agent_ctr_free(m, m->list);
    if (m->oom.fd >= 0) {
        agent_server_unwatch(m->srv, &m->oom);
        close(m->oom.fd);
    }
    free(m);
}

static void exited_one(agent_proc_t *p, void *arg)
{
    const int *pid_status = arg;
    if (p->pid == pid_status[0] && p->state != AGENT_PROC_STOPPED)
        agent_proc_exited(p, pid_status[1]);
}

void agent_containers_exited(agent_containers_t *m, pid_t pid, int status)
{
    int arg[2] = {pid, status};
    each_proc(m, exited_one, arg);
}

typedef struct stream_find {
    agent_conn_t *conn;
    uint32_t id;
    agent_in_stream_t *in;
    agent_out_stream_t *out;
} stream_find_t;

static void find_stream(agent_proc_t *p, void *arg)
{
    stream_find_t *f = arg;
    if (agent_in_open_to(&p->in, f->conn, f->id))
        f->in = &p->in;
    agent_out_stream_t *outs[2] = {&p->out, &p->err};
    for (int i = 0; i < 2; i++)
        if (outs[i]->id == f->id && outs[i]->conn == f->conn && f->id != 0)
            f->out = outs[i];
}

int agent_containers_stream(agent_containers_t *m, agent_conn_t *c, const wp_frame_header_t *h,
                            const uint8_t *payload, wp_error_t *err)
{
    stream_find_t f = {.conn = c, .id = h->id};
    each_proc(m, find_stream, &f);
    if (f.in == NULL)
        return wp_error_set(
            err, EPROTO,
            "stream frame for id %u, which is not an open stdin stream of this connection", h->id);
    return agent_in_data(f.in, payload, h->length, h->flags & WP_FRAME_FLAG_EOF, err);
}

void agent_containers_credit(agent_containers_t *m, agent_conn_t *c, uint32_t stream,
                             uint32_t bytes)
{
    stream_find_t f = {.conn = c, .id = stream};
    each_proc(m, find_stream, &f);
    if (f.out != NULL)
        agent_out_credit(f.out, bytes);
}

static void conn_gone_one(agent_proc_t *p, void *arg)
{
    agent_proc_conn_gone(p, arg);
}

void agent_containers_conn_gone(agent_containers_t *m, agent_conn_t *c)
{
    each_proc(m, conn_gone_one, c);
}
