/* api_server.c - the nng rep0 server (contract in api_server.h): socket,
 * one nng context per request in flight, the peer check, and the reply
 * path that never loses a lease it can tell was not delivered. The
 * listener and its watchdog are in api_listener.c.
 *
 * A context's aio has a callback, which nng runs on its own threads when a
 * request arrives or a reply is sent. Calls that never sleep (api_dispatch
 * with nowait: an acquire hit on a running VM with the journal in memory,
 * lease checks, status, health) are answered right there: no thread
 * hand-off between the socket and the pool. The others (a clone on a miss,
 * a resume, a release's VM destroy, a watch, the template store) go to the
 * context's own worker thread, so they never hold up nng's threads or
 * another context. Leases to hand back (their client is gone) are released
 * on the worker thread too, since a release destroys a VM.
 *
 * Stop protocol: under the context's lock, a receive is either posted
 * while stop has not yet looked, or not posted because `stopping` is set
 * (the context is then `done`); stop, taking each lock in turn, cancels
 * every posted receive, and waits until every context is done: a context
 * busy with a call finishes it and replies first (connections stay open
 * until then: closing an nng listener would close them). Then the worker
 * threads exit. The locks are per context, so serving never contends on
 * them. */
#include "api_internal.h"

#include <errno.h>                    /* EPERM, EMSGSIZE, ... */
#include <nng/nng.h>                  /* nng_* */
#include <nng/protocol/reqrep0/rep.h> /* nng_rep0_open */
#include <pthread.h>                  /* pthread_* */
#include <stdio.h>                    /* snprintf */
#include <stdlib.h>                   /* calloc */
#include <string.h>                   /* strncmp */

#include "wp_log.h"
#include "wp_time.h"

#define WORKER_STACK (1024 * 1024) /* a template build's call chain is the deepest */

typedef struct orphan {
    pool_lease_t lease;
    struct orphan *next;
} orphan_t;

typedef struct api_worker {
    api_server_t *s;
    nng_ctx ctx;
    nng_aio *aio; /* callback ctx_cb: a receive or a send completed */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* guards the fields up to pipe_id */
    pthread_cond_t cond;
    bool receiving;           /* a receive is posted: stop cancels it */
    bool done;                /* posts no more receives (stopping) */
    bool quit;                /* the thread exits once idle */
    nng_msg *pending;         /* a request for the thread */
    orphan_t *orphans;        /* undeliverable leases for the thread to release */
    _Atomic uint32_t pipe_id; /* connection of the request in progress; 0 none */
    atomic_bool peer_gone;    /* that connection closed: the reply cannot arrive */
    bool sent_lease;          /* the reply being sent hands out sent_lease_of */
    pool_lease_t sent_lease_of;
} api_worker_t;

struct api_server {
    pool_t *pool;
    factory_t *factory;
    uid_t allowed_uid;
    nng_socket sock;
    api_listener_t *listener;
    int n_workers;
    api_worker_t *workers;
    atomic_bool stopping;
    int64_t started_ns;
};

bool api_server_peer_allowed(uid_t peer_uid, uid_t allowed_uid)
{
    return peer_uid == 0 || peer_uid == allowed_uid;
}

/* Runs on nng's thread when a connection is gone: requests in progress from
 * it cannot be answered. */
static void pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)ev;
    api_server_t *s = arg;
    uint32_t id = (uint32_t)nng_pipe_id(p);
    for (int i = 0; i < s->n_workers; i++)
        if (atomic_load(&s->workers[i].pipe_id) == id)
            atomic_store(&s->workers[i].peer_gone, true);
}

/* 0: serve it; 1: the connection is already gone; -1: refused (err set). */
static int check_peer(api_worker_t *w, nng_pipe p, wp_error_t *err)
{
    uint64_t uid;
    int rv = nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid);
    if (rv == NNG_ENOENT || rv == NNG_ECLOSED)
        return 1;
    if (rv != 0)
        return wp_error_set(err, EPERM, "cannot read the caller's credentials: %s",
                            nng_strerror(rv));
    if (!api_server_peer_allowed((uid_t)uid, w->s->allowed_uid))
        return wp_error_set(err, EPERM,
                            "uid %llu may not use warmpoold (only root and uid %u; run as root?)",
                            (unsigned long long)uid, (unsigned)w->s->allowed_uid);
    return 0;
}

/* Hand back a lease whose reply will not reach its client: at once on the
 * worker thread, else queued for it (a release destroys a VM). */
static void give_back(api_worker_t *w, const pool_lease_t *lease, bool on_thread, const char *why)
{
    wp_log_warn("lease of VM '%s' of '%s' not delivered (%s): releasing it", lease->vm.id,
                lease->template_name, why);
    orphan_t *o = on_thread ? NULL : malloc(sizeof(*o));
    if (o != NULL) {
        o->lease = *lease;
        pthread_mutex_lock(&w->lock);
        o->next = w->orphans;
        w->orphans = o;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return;
    }
    wp_error_t err = {0}; /* on the thread, or no memory to queue it */
    if (pool_release(w->s->pool, lease->vm.id, lease->token, NULL, &err) < 0)
        wp_log_error("release of undelivered VM '%s': %s", lease->vm.id, err.msg);
}

static void undeliverable(api_worker_t *w, api_call_t *call, const char *why)
{
    if (!call->holds_lease)
        return;
    give_back(w, &call->lease, !call->nowait, why);
    call->holds_lease = false;
}

/* Decode, check and run one request: 0 with a result, -1 with call->err,
 * API_CALL_BLOCKS when it must go to the worker thread. *req is the
 * unpacked request, which the reply may borrow strings from until it is
 * packed. */
static int serve(api_worker_t *w, api_call_t *call, nng_msg *in, pb_request_t **req)
{
    wp_error_t *err = &call->err;
    int rc = check_peer(w, nng_msg_get_pipe(in), err);
    if (rc < 0)
        wp_log_warn("api: refused a request: %s", err->msg);
    if (rc > 0)
        atomic_store(&w->peer_gone, true);
    if (rc != 0)
        return -1;
    size_t len = nng_msg_len(in);
    if (len > API_MAX_MESSAGE)
        return wp_error_set(err, EMSGSIZE, "request of %zu bytes exceeds the limit of %d", len,
                            API_MAX_MESSAGE);
    *req = api_request_unpack(nng_msg_body(in), len, err);
    if (*req == NULL)
        return -1;
    call->req = *req;
    int64_t t0 = wp_now_mono_ns();
    rc = api_dispatch(call);
    if (rc == API_CALL_BLOCKS)
        return rc;
    wp_log_debug("api: %s %s in %.2f ms%s%s", api_call_name(*req), rc < 0 ? "failed" : "done",
                 wp_ms_between(t0, wp_now_mono_ns()), rc < 0 ? ": " : "", rc < 0 ? err->msg : "");
    if (rc == 0 && call->deadline_ns != 0 && wp_now_mono_ns() > call->deadline_ns) {
        undeliverable(w, call, "its timeout passed");
        wp_error_set(err, ETIMEDOUT, "acquire: the lease came after the request's timeout");
        rc = -1;
    }
    return rc;
}

/* Post the next receive, unless the server is stopping. Any thread. */
static void post_recv(api_worker_t *w)
{
    pthread_mutex_lock(&w->lock);
    if (atomic_load(&w->s->stopping)) {
        w->done = true;
        pthread_cond_broadcast(&w->cond);
    } else {
        w->receiving = true;
        nng_ctx_recv(w->ctx, w->aio); /* completes through the callback, never inline */
    }
    pthread_mutex_unlock(&w->lock);
}

/* Send the reply for a call (failed: the error in call->err) without
 * waiting: ctx_cb runs when it is sent. Releases its lease if it cannot be
 * delivered. Returns true when a send is in flight. */
static bool reply(api_worker_t *w, api_call_t *call, pb_response_t *resp, bool failed)
{
    if (atomic_load(&w->peer_gone)) {
        undeliverable(w, call, "client disconnected");
        return false;
    }
    if (failed) {
        /* an error reply carries no result, and never a code of 0 */
        resp->result_case = WARMPOOL__POOL__V1__RESPONSE__RESULT__NOT_SET;
        resp->error_code = call->err.code != 0 ? call->err.code : EIO;
        resp->error_message = call->err.msg;
    }
    nng_msg *out = NULL;
    wp_error_t err = {0};
    if (api_pack(&resp->base, &out, &err) < 0) {
        wp_log_error("api: %s", err.msg);
        undeliverable(w, call, "reply not built");
        return false;
    }
    w->sent_lease = call->holds_lease;
    if (call->holds_lease)
        w->sent_lease_of = call->lease;
    nng_aio_set_msg(w->aio, out);
    nng_ctx_send(w->ctx, w->aio);
    return true;
}

/* Serve one request and start its reply; on nng's callback thread
 * (nowait) a call that may block goes to the worker thread instead. */
static void handle(api_worker_t *w, nng_msg *msg, bool nowait)
{
    api_server_t *s = w->s;
    pb_request_t *req = NULL;
    pb_response_t resp = WARMPOOL__POOL__V1__RESPONSE__INIT;
    api_call_t call = {
        .pool = s->pool,
        .factory = s->factory,
        .stopping = &s->stopping,
        .server_started_ns = s->started_ns,
        .resp = &resp,
        .received_ns = wp_now_mono_ns(),
        .nowait = nowait,
    };
    /* peer_gone before pipe_id: pipe_removed may mark us as soon as the id
     * is visible; the peer check in serve() covers a close just before */
    atomic_store(&w->peer_gone, false);
    atomic_store(&w->pipe_id, (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg)));
    int rc = serve(w, &call, msg, &req);
    if (rc == API_CALL_BLOCKS) {
        warmpool__pool__v1__request__free_unpacked(req, NULL);
        api_arena_free(&call.arena);
        pthread_mutex_lock(&w->lock);
        w->pending = msg;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return;
    }
    bool sending = reply(w, &call, &resp, rc < 0);
    if (req != NULL)
        warmpool__pool__v1__request__free_unpacked(req, NULL);
    api_arena_free(&call.arena);
    nng_msg_free(msg);
    if (!sending) {
        atomic_store(&w->pipe_id, 0);
        post_recv(w);
    }
}

/* nng's callback thread: a receive or a send of this context completed. */
static void ctx_cb(void *arg)
{
    api_worker_t *w = arg;
    pthread_mutex_lock(&w->lock);
    bool received = w->receiving;
    w->receiving = false;
    pthread_mutex_unlock(&w->lock);
    int rv = nng_aio_result(w->aio);
    if (!received) { /* a reply went out, or failed to */
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(w->aio));
            if (w->sent_lease)
                give_back(w, &w->sent_lease_of, false, nng_strerror(rv));
        }
        w->sent_lease = false;
        atomic_store(&w->pipe_id, 0);
        post_recv(w);
        return;
    }
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
        pthread_mutex_lock(&w->lock);
        w->done = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return;
    }
    if (rv != 0) {
        wp_log_warn("api: receive: %s", nng_strerror(rv));
        post_recv(w);
        return;
    }
    handle(w, nng_aio_get_msg(w->aio), true);
}

/* The context's thread: the calls that may block, and the releases of
 * leases that could not be delivered. */
static void *worker_main(void *arg)
{
    api_worker_t *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        if (w->orphans != NULL) {
            orphan_t *o = w->orphans;
            w->orphans = o->next;
            pthread_mutex_unlock(&w->lock);
            give_back(w, &o->lease, true, "queued");
            free(o);
            pthread_mutex_lock(&w->lock);
        } else if (w->pending != NULL) {
            nng_msg *msg = w->pending;
            w->pending = NULL;
            pthread_mutex_unlock(&w->lock);
            handle(w, msg, false);
            pthread_mutex_lock(&w->lock);
        } else if (w->quit) {
            break;
        } else {
            pthread_cond_wait(&w->cond, &w->lock);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Close the socket (every connection and context) and free. Workers must
 * have been joined or never started. */
static void server_free(api_server_t *s)
{
    api_listener_stop(s->listener);
    nng_close(s->sock); /* closes the listeners; no pipe callback runs after this */
    api_listener_free(s->listener);
    for (int i = 0; s->workers != NULL && i < s->n_workers; i++) {
        if (s->workers[i].aio != NULL)
            nng_aio_free(s->workers[i].aio); /* waits for a callback in progress */
        pthread_mutex_destroy(&s->workers[i].lock);
        pthread_cond_destroy(&s->workers[i].cond);
    }
    free(s->workers);
    free(s);
}

static int open_workers(api_server_t *s, wp_error_t *err)
{
    s->workers = calloc((size_t)s->n_workers, sizeof(*s->workers));
    if (s->workers == NULL)
        return wp_error_errno(err, ENOMEM, "API workers");
    for (int i = 0; i < s->n_workers; i++) {
        pthread_mutex_init(&s->workers[i].lock, NULL);
        pthread_cond_init(&s->workers[i].cond, NULL);
        s->workers[i].done = true; /* until its first receive */
    }
    for (int i = 0; i < s->n_workers; i++) {
        api_worker_t *w = &s->workers[i];
        w->s = s;
        int rv = nng_ctx_open(&w->ctx, s->sock);
        if (rv == 0)
            rv = nng_aio_alloc(&w->aio, ctx_cb, w);
        if (rv != 0)
            return wp_error_set(err, api_nng_errno(rv), "API context %d: %s", i, nng_strerror(rv));
    }
    return 0;
}

static int start_workers(api_server_t *s, wp_error_t *err)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WORKER_STACK);
    int ret = 0;
    for (int i = 0; i < s->n_workers && ret == 0; i++) {
        int rc = pthread_create(&s->workers[i].thread, &attr, worker_main, &s->workers[i]);
        if (rc != 0)
            ret = wp_error_errno(err, rc, "API worker thread %d", i);
        else
            s->workers[i].started = true;
    }
    pthread_attr_destroy(&attr);
    for (int i = 0; i < s->n_workers && ret == 0; i++) {
        s->workers[i].done = false;
        post_recv(&s->workers[i]);
    }
    return ret;
}

/* Cancel every posted receive, wait until every context is done, then
 * end the threads (see the file comment). */
static void join_workers(api_server_t *s)
{
    atomic_store(&s->stopping, true);
    for (int i = 0; s->workers != NULL && i < s->n_workers; i++) {
        api_worker_t *w = &s->workers[i];
        pthread_mutex_lock(&w->lock);
        if (w->receiving)
            nng_aio_cancel(w->aio); /* its callback runs on nng's thread, not here */
        pthread_mutex_unlock(&w->lock);
    }
    for (int i = 0; s->workers != NULL && i < s->n_workers; i++) {
        api_worker_t *w = &s->workers[i];
        pthread_mutex_lock(&w->lock);
        while (!w->done)
            pthread_cond_wait(&w->cond, &w->lock);
        w->quit = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
    }
    for (int i = 0; s->workers != NULL && i < s->n_workers; i++)
        if (s->workers[i].started)
            pthread_join(s->workers[i].thread, NULL);
}

api_server_t *api_server_start(pool_t *pool, const api_server_config_t *cfg, wp_error_t *err)
{
    if (cfg->url == NULL || strncmp(cfg->url, "ipc://", 6) != 0) {
        wp_error_set(err, EINVAL, "API socket '%s': only ipc:// (a unix socket) is supported",
                     cfg->url ? cfg->url : "(none)");
        return NULL;
    }
    api_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        wp_error_errno(err, ENOMEM, "API server");
        return NULL;
    }
    s->pool = pool;
    s->factory = cfg->factory;
    s->allowed_uid = cfg->allowed_uid;
    s->n_workers = cfg->contexts > 0 ? cfg->contexts : API_DEFAULT_CONTEXTS;
    s->started_ns = wp_now_mono_ns();
    int rv = nng_rep0_open(&s->sock);
    if (rv != 0) {
        wp_error_set(err, api_nng_errno(rv), "API socket: %s", nng_strerror(rv));
        free(s);
        return NULL;
    }
    /* workers exist before any connection can, so pipe_removed can scan them */
    rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, pipe_removed, s);
    if (rv != 0)
        wp_error_set(err, api_nng_errno(rv), "API socket: %s", nng_strerror(rv));
    int watchdog = cfg->watchdog_ms ? cfg->watchdog_ms : API_DEFAULT_WATCHDOG_MS;
    if (rv != 0 || open_workers(s, err) < 0 || start_workers(s, err) < 0 ||
        (s->listener = api_listener_start(s->sock, cfg->url, cfg->socket_mode, watchdog, err)) ==
            NULL) {
        join_workers(s);
        server_free(s);
        return NULL;
    }
    wp_log_info("API listening on %s (mode %04o, uid %u and root, %d contexts)", cfg->url,
                cfg->socket_mode ? cfg->socket_mode : 0600, (unsigned)cfg->allowed_uid,
                s->n_workers);
    return s;
}

unsigned api_server_listener_restarts(api_server_t *s)
{
    return api_listener_restarts(s->listener);
}

void api_server_stop(api_server_t *s)
{
    if (s == NULL)
        return;
    join_workers(s);
    server_free(s); /* closes every connection and the listener, which unlinks the socket */
    wp_log_info("API stopped");
}
