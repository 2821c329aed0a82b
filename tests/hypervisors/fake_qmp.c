/* fake_qmp.c - the scripted QMP server (see fake_qmp.h). */
#include "fake_qmp.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct reader {
    char buf[65536];
    size_t len;
} reader_t;

__attribute__((format(printf, 2, 3))) static void fail(fake_qmp_t *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->error, sizeof(f->error), fmt, ap);
    va_end(ap);
}

/* One line (without its newline) into out; fds that arrive are kept in f. 0 at EOF. */
static int read_line(fake_qmp_t *f, reader_t *r, char *out, size_t cap)
{
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - r->buf);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, r->buf, n);
            out[n] = '\0';
            memmove(r->buf, nl + 1, r->len - (size_t)(nl + 1 - r->buf));
            r->len -= (size_t)(nl + 1 - r->buf);
            return 1;
        }
        union {
            char b[CMSG_SPACE(sizeof(int) * 4)];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {.iov_base = r->buf + r->len, .iov_len = sizeof(r->buf) - r->len};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.b,
                            .msg_controllen = sizeof(ctl.b)};
        ssize_t n = recvmsg(f->fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                if (f->received_fd >= 0)
                    close(f->received_fd);
                memcpy(&f->received_fd, CMSG_DATA(c), sizeof(int));
            }
        }
        r->len += (size_t)n;
    }
}

/* Replace $N by the N-th received id. */
static void substitute(const fake_qmp_t *f, const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 24 < cap; p++) {
        if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            int k = p[1] - '0';
            o += (size_t)snprintf(out + o, cap - o, "%lld", k < f->n_ids ? f->ids[k] : -1LL);
            p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static int expect(fake_qmp_t *f, reader_t *r, const fake_step_t *s)
{
    char line[8192];
    if (read_line(f, r, line, sizeof(line)) == 0) {
        fail(f, "expected '%s', got EOF", s->text);
        return -1;
    }
    json_error_t jerr;
    json_t *msg = json_loads(line, 0, &jerr);
    const char *cmd = json_string_value(json_object_get(msg, "execute"));
    json_t *id = json_object_get(msg, "id");
    json_t *args = json_object_get(msg, "arguments");
    json_t *want = s->args ? json_loads(s->args, 0, &jerr) : NULL;
    int ret = -1;
    if (msg == NULL)
        fail(f, "expected '%s', got bad JSON '%s'", s->text, line);
    else if (cmd == NULL || strcmp(cmd, s->text) != 0)
        fail(f, "expected '%s', got '%s'", s->text, line);
    else if (!json_is_integer(id))
        fail(f, "'%s' has no integer id: '%s'", s->text, line);
    else if ((want == NULL) != (args == NULL) || (want && !json_equal(want, args)))
        fail(f, "'%s': arguments differ: got '%s', want '%s'", s->text, line,
             s->args ? s->args : "none");
    else {
        f->ids[f->n_ids++] = json_integer_value(id);
        ret = 0;
    }
    json_decref(want);
    json_decref(msg);
    return ret;
}

static int expect_fd(fake_qmp_t *f)
{
    struct stat st;
    if (f->received_fd < 0) {
        fail(f, "no fd came with the command");
        return -1;
    }
    if (fstat(f->received_fd, &st) < 0 || st.st_dev != f->fd_file.st_dev ||
        st.st_ino != f->fd_file.st_ino) {
        fail(f, "the fd received is not the expected file");
        return -1;
    }
    return 0;
}

static void *run(void *arg)
{
    fake_qmp_t *f = arg;
    static __thread reader_t r; /* 64 KiB: off the thread's stack */
    r.len = 0;
    if (f->accept) {
        int c = accept(f->fd, NULL, NULL);
        close(f->fd);
        f->fd = c;
        if (c < 0) {
            fail(f, "accept: %s", strerror(errno));
            return NULL;
        }
    }
    for (const fake_step_t *s = f->script; s->kind != FAKE_END && f->error[0] == '\0'; s++) {
        char out[8192];
        switch (s->kind) {
        case FAKE_SEND:
            substitute(f, s->text, out, sizeof(out) - 2);
            strcat(out, "\r\n"); /* QEMU ends lines with CRLF */
            if (write(f->fd, out, strlen(out)) != (ssize_t)strlen(out))
                fail(f, "write: %s", strerror(errno));
            break;
        case FAKE_EXPECT:
            expect(f, &r, s);
            break;
        case FAKE_EXPECT_FD:
            expect_fd(f);
            break;
        case FAKE_CLOSE:
            close(f->fd);
            f->fd = -1;
            break;
        case FAKE_WAIT_EOF:
            while (read_line(f, &r, out, sizeof(out)) == 1)
                ;
            break;
        case FAKE_END:
            break;
        }
    }
    return NULL;
}

void fake_qmp_start(fake_qmp_t *f, int fd, const fake_step_t *script)
{
    f->fd = fd;
    f->script = script;
    f->received_fd = -1;
    f->n_ids = 0;
    f->error[0] = '\0';
    pthread_create(&f->thread, NULL, run, f);
}

const char *fake_qmp_join(fake_qmp_t *f)
{
    pthread_join(f->thread, NULL);
    if (f->fd >= 0)
        close(f->fd);
    if (f->received_fd >= 0)
        close(f->received_fd);
    f->fd = f->received_fd = -1;
    return f->error;
}
