/* qmp_commands.c - one short function per QMP command used (see qmp.h). */
#include "qmp.h"

#include <errno.h>  /* ENOMEM, EPROTO */
#include <stdio.h>  /* snprintf */
#include <string.h> /* strcmp */

/* Commands that return nothing: send only when the caller pipelines (id != NULL). */
static int exec_simple(qmp_t *q, const char *command, json_t *args, const int *fds, size_t n_fds,
                       int64_t *id, int64_t deadline_ns, wp_error_t *err)
{
    if (id != NULL)
        return qmp_send(q, command, args, fds, n_fds, id, deadline_ns, err);
    return qmp_call(q, command, args, fds, n_fds, NULL, deadline_ns, err);
}

int qmp_capabilities(qmp_t *q, int64_t *id, int64_t deadline_ns, wp_error_t *err)
{
    return exec_simple(q, "qmp_capabilities", NULL, NULL, 0, id, deadline_ns, err);
}

int qmp_stop(qmp_t *q, int64_t *id, int64_t deadline_ns, wp_error_t *err)
{
    return exec_simple(q, "stop", NULL, NULL, 0, id, deadline_ns, err);
}

int qmp_cont(qmp_t *q, int64_t *id, int64_t deadline_ns, wp_error_t *err)
{
    return exec_simple(q, "cont", NULL, NULL, 0, id, deadline_ns, err);
}

int qmp_migrate_set_capabilities(qmp_t *q, const qmp_capability_t *caps, size_t n, int64_t *id,
                                 int64_t deadline_ns, wp_error_t *err)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        if (json_array_append_new(list, json_pack("{s:s,s:b}", "capability", caps[i].name, "state",
                                                  caps[i].state)) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    json_t *args = list ? json_pack("{s:o}", "capabilities", list) : NULL;
    if (args == NULL)
        return wp_error_errno(err, ENOMEM, "QMP 'migrate-set-capabilities'");
    return exec_simple(q, "migrate-set-capabilities", args, NULL, 0, id, deadline_ns, err);
}

int qmp_getfd(qmp_t *q, const char *name, int fd, int64_t *id, int64_t deadline_ns, wp_error_t *err)
{
    json_t *args = json_pack("{s:s}", "fdname", name);
    if (args == NULL)
        return wp_error_errno(err, ENOMEM, "QMP 'getfd'");
    return exec_simple(q, "getfd", args, &fd, 1, id, deadline_ns, err);
}

int qmp_migrate(qmp_t *q, const char *uri, int64_t *id, int64_t deadline_ns, wp_error_t *err)
{
    json_t *args = json_pack("{s:s}", "uri", uri);
    if (args == NULL)
        return wp_error_errno(err, ENOMEM, "QMP 'migrate'");
    return exec_simple(q, "migrate", args, NULL, 0, id, deadline_ns, err);
}

int qmp_migrate_incoming(qmp_t *q, const char *uri, int64_t *id, int64_t deadline_ns,
                         wp_error_t *err)
{
    json_t *args = json_pack("{s:s}", "uri", uri);
    if (args == NULL)
        return wp_error_errno(err, ENOMEM, "QMP 'migrate-incoming'");
    return exec_simple(q, "migrate-incoming", args, NULL, 0, id, deadline_ns, err);
}

int qmp_quit(qmp_t *q, int64_t *id, int64_t deadline_ns, wp_error_t *err)
{
    wp_error_t local = {0};
    if (exec_simple(q, "quit", NULL, NULL, 0, id, deadline_ns, &local) == 0)
        return 0;
    /* QEMU may exit before its reply is flushed: a closed connection is the answer */
    if (id == NULL && local.code == ECONNRESET)
        return 0;
    if (err != NULL)
        *err = local;
    return -1;
}

int qmp_query_status(qmp_t *q, char *status, size_t len, int64_t deadline_ns, wp_error_t *err)
{
    json_t *ret = NULL;
    if (qmp_call(q, "query-status", NULL, NULL, 0, &ret, deadline_ns, err) < 0)
        return -1;
    const char *s = json_string_value(json_object_get(ret, "status"));
    if (s != NULL)
        snprintf(status, len, "%s", s);
    json_decref(ret);
    if (s == NULL)
        return wp_error_set(err, EPROTO, "QMP 'query-status': reply has no 'status'");
    return 0;
}

int qmp_query_migrate(qmp_t *q, char *status, size_t status_len, char *desc, size_t desc_len,
                      int64_t deadline_ns, wp_error_t *err)
{
    json_t *ret = NULL;
    if (qmp_call(q, "query-migrate", NULL, NULL, 0, &ret, deadline_ns, err) < 0)
        return -1;
    const char *s = json_string_value(json_object_get(ret, "status"));
    const char *d = json_string_value(json_object_get(ret, "error-desc"));
    snprintf(status, status_len, "%s", s ? s : "");
    snprintf(desc, desc_len, "%s", d ? d : "");
    json_decref(ret);
    return 0;
}

int qmp_wait_migration(qmp_t *q, int64_t deadline_ns, wp_error_t *err)
{
    for (;;) {
        json_t *data = NULL;
        if (qmp_wait_event(q, "MIGRATION", &data, deadline_ns, err) < 0)
            return -1;
        char status[32];
        const char *s = json_string_value(json_object_get(data, "status"));
        snprintf(status, sizeof(status), "%s", s ? s : "");
        json_decref(data);
        if (strcmp(status, "completed") == 0)
            return 0;
        if (strcmp(status, "cancelled") == 0)
            return wp_error_set(err, ECANCELED, "migration cancelled");
        if (strcmp(status, "failed") != 0)
            continue; /* setup, active, device, ... */
        char qstatus[32], desc[512];
        wp_error_t qerr = {0};
        if (qmp_query_migrate(q, qstatus, sizeof(qstatus), desc, sizeof(desc), deadline_ns, &qerr) <
                0 ||
            desc[0] == '\0')
            return wp_error_set(err, EIO, "migration failed");
        return wp_error_set(err, EIO, "migration failed: %s", desc);
    }
}
