/* http — the MHD wrapper (see http.h for the design). */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/http_int.h"
#include "util/errors.h"
#include "util/log.h"
#include "util/timeutil.h"

struct http_request {
    struct http_server *srv;
    struct http_loop *loop;
    struct MHD_Connection *conn;
    const char *method, *url;
    char *raw_uri; /* request-target as received (not unescaped), for proxying */
    http_handler_fn handler;
    int too_large, bad_headers, no_storage, responded, suspended;
    /* body */
    struct buf mem;
    int fd;
    uint64_t body_len, read_pos;
    /* handler state */
    void *state;
    void (*state_free)(void *);
    /* reply headers for the next response */
    char *(*reply_hdr)[2]; /* grown on demand up to MAX_REPLY_HEADERS */
    unsigned n_reply_hdr;
    /* completion from another thread */
    struct MHD_Response *pending;
    unsigned pending_status;
};

/* --- responses --- */

static void apply_reply_headers(struct http_request *req, struct MHD_Response *r)
{
    for (unsigned i = 0; i < req->n_reply_hdr; i++)
        MHD_add_response_header(r, req->reply_hdr[i][0], req->reply_hdr[i][1]);
}

static int queue(struct http_request *req, unsigned status, struct MHD_Response *r,
                 const char *content_type)
{
    if (!r)
        return -1;
    if (content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    apply_reply_headers(req, r);
    enum MHD_Result rc = MHD_queue_response(req->conn, status, r);
    MHD_destroy_response(r);
    req->responded = 1;
    return rc == MHD_YES ? 0 : -1;
}

int http_reply(struct http_request *req, unsigned status, const char *content_type,
               const void *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    return queue(req, status, r, content_type);
}

#define STREAM_BLOCK (64 * 1024)

int http_reply_stream(struct http_request *req, unsigned status, const char *content_type,
                      uint64_t size,
                      ssize_t (*reader)(void *ctx, uint64_t pos, char *buf, size_t max), void *ctx,
                      void (*free_fn)(void *))
{
    /* MHD zeroes a buffer of block_size per response: no bigger than the body */
    size_t block = size < STREAM_BLOCK ? (size_t)(size ? size : 1) : STREAM_BLOCK;
    struct MHD_Response *r = MHD_create_response_from_callback(size, block, reader, ctx, free_fn);
    if (!r) {
        if (free_fn)
            free_fn(ctx);
        return -1;
    }
    return queue(req, status, r, content_type);
}

int http_add_reply_header(struct http_request *req, const char *name, const char *value)
{
    if (req->n_reply_hdr >= MAX_REPLY_HEADERS)
        return -1;
    if ((req->n_reply_hdr & 7) == 0) {
        char *(*grown)[2] = realloc(req->reply_hdr, (req->n_reply_hdr + 8) * sizeof *grown);
        if (!grown)
            return -1;
        req->reply_hdr = grown;
    }
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    req->reply_hdr[req->n_reply_hdr][0] = n;
    req->reply_hdr[req->n_reply_hdr][1] = v;
    req->n_reply_hdr++;
    return 0;
}

/* MHD must run after a connection is resumed, and a resume signalled only through MHD's own
 * descriptor can be consumed by a run already in progress: the loop keeps its own flag (same
 * thread) or is woken through its eventfd (other threads, e.g. the committer). */
static void kick(struct http_loop *l)
{
    if (pthread_equal(pthread_self(), l->thread)) {
        l->kick = 1;
        return;
    }
    uint64_t one = 1;
    if (write(l->wake_watch.fd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_error("http: cannot wake a loop: %s", strerror(errno));
}

/* Once resumed, the connection belongs to its loop again, which may answer it and free req before
 * this returns (seen under load: the committer kicked a freed request's loop): nothing of req is
 * read after MHD_resume_connection. */
static void resume(struct http_request *req)
{
    struct http_loop *l = req->loop;
    MHD_resume_connection(req->conn);
    kick(l);
}

void http_suspend(struct http_request *req)
{
    req->suspended = 1;
    MHD_suspend_connection(req->conn);
}

static void complete_with(struct http_request *req, unsigned status, const char *content_type,
                          struct MHD_Response *r)
{
    if (r && content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    req->pending = r;
    req->pending_status = status;
    resume(req);
}

void http_complete(struct http_request *req, unsigned status, const char *content_type,
                   const void *body, size_t len)
{
    complete_with(req, status, content_type,
                  MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY));
}

void http_complete_stream(struct http_request *req, unsigned status, const char *content_type,
                          uint64_t size,
                          ssize_t (*reader)(void *ctx, uint64_t pos, char *buf, size_t max),
                          void *ctx, void (*free_fn)(void *))
{
    struct MHD_Response *r = MHD_create_response_from_callback(
        size == HTTP_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN : size, 64 * 1024, reader, ctx, free_fn);
    if (!r && free_fn)
        free_fn(ctx);
    complete_with(req, status, content_type, r);
}

void http_stream_park(struct http_request *req)
{
    MHD_suspend_connection(req->conn);
}

void http_resume(struct http_request *req)
{
    resume(req);
}

/* --- accessors --- */

void *http_app(const struct http_request *req)
{
    return req->srv->cfg.app;
}
const char *http_method(const struct http_request *req)
{
    return req->method;
}
const char *http_url(const struct http_request *req)
{
    return req->url;
}
const char *http_raw_uri(const struct http_request *req)
{
    return req->raw_uri ? req->raw_uri : req->url;
}

int http_client_ip(const struct http_request *req, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return -1;
    const struct sockaddr *sa = ci->client_addr;
    const void *addr = sa->sa_family == AF_INET6
                           ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                           : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    return inet_ntop(sa->sa_family, addr, buf, (socklen_t)len) ? 0 : -1;
}

void http_body_take(struct http_request *req, struct buf *ret_mem, int *ret_fd)
{
    *ret_mem = req->mem;
    memset(&req->mem, 0, sizeof req->mem);
    *ret_fd = req->fd;
    req->fd = -1;
    if (*ret_fd >= 0)
        lseek(*ret_fd, 0, SEEK_SET);
}

const char *http_header(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}
const char *http_bearer(const struct http_request *req)
{
    const char *h = http_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

const char *http_query(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct each_ctx {
    int (*cb)(void *ctx, const char *name, const char *value);
    void *ctx;
};

static enum MHD_Result each_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct each_ctx *e = cls;
    return e->cb(e->ctx, key, value ? value : "") ? MHD_NO : MHD_YES;
}

void http_each_header(const struct http_request *req,
                      int (*cb)(void *ctx, const char *name, const char *value), void *ctx)
{
    struct each_ctx e = {cb, ctx};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, each_header, &e);
}

uint64_t http_body_len(const struct http_request *req)
{
    return req->body_len;
}

const char *http_body_mem(const struct http_request *req)
{
    if (req->fd >= 0)
        return NULL;
    return req->mem.data ? req->mem.data : "";
}

int http_body_fd(struct http_request *req)
{
    if (req->fd >= 0 && lseek(req->fd, 0, SEEK_SET) != 0)
        return -1;
    return req->fd;
}

long http_body_read(struct http_request *req, void *buf, size_t cap)
{
    if (req->fd >= 0) {
        ssize_t n;
        do {
            n = read(req->fd, buf, cap);
        } while (n < 0 && errno == EINTR);
        return (long)n;
    }
    size_t left = req->mem.len - (size_t)req->read_pos;
    size_t n = left < cap ? left : cap;
    if (n)
        memcpy(buf, req->mem.data + req->read_pos, n);
    req->read_pos += n;
    return (long)n;
}

int http_body_rewind(struct http_request *req)
{
    req->read_pos = 0;
    if (req->fd >= 0 && lseek(req->fd, 0, SEEK_SET) != 0)
        return -1;
    return 0;
}

void http_set_state(struct http_request *req, void *state, void (*free_fn)(void *))
{
    req->state = state;
    req->state_free = free_fn;
}

void *http_state(const struct http_request *req)
{
    return req->state;
}

/* --- body spooling --- */

static int open_spool(struct http_server *s)
{
    int fd = open(s->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    char path[4096];
    snprintf(path, sizeof path, "%s/spool-XXXXXX", s->spool_dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Returns 0, or -1 on an I/O failure (the request then fails as a server error). */
static int take_body(struct http_request *req, const char *data, size_t len)
{
    struct http_server *s = req->srv;
    if (req->too_large || req->no_storage)
        return 0;
    if (req->body_len + len > s->cfg.max_body_bytes) {
        req->too_large = 1;
        buf_free(&req->mem);
        return 0;
    }
    req->body_len += len;
    if (req->fd < 0 && req->mem.len + len <= s->cfg.spool_memory)
        return buf_append(&req->mem, data, len);
    if (req->fd < 0) {
        req->fd = open_spool(s);
        if (req->fd < 0 || write_all(req->fd, req->mem.data, req->mem.len) != 0)
            return -1;
        buf_free(&req->mem);
    }
    return write_all(req->fd, data, len);
}

/* --- header checks of every request (the gate checked the first one's raw bytes) --- */

struct hdr_check {
    const struct http_config *cfg;
    size_t total;
    unsigned count;
    int too_large;
    struct http_framing framing;
    const char *reason; /* malformed: why */
};

static enum MHD_Result check_header(void *ctx, enum MHD_ValueKind kind, const char *name,
                                    size_t name_len, const char *value, size_t value_len)
{
    struct hdr_check *h = ctx;
    (void)kind;
    size_t line = name_len + value_len + 4;
    h->total += line;
    h->count++;
    if (line > h->cfg->max_header_bytes || h->total > h->cfg->max_headers_total ||
        h->count > h->cfg->max_headers)
        h->too_large = 1;
    else if (!http_token_ok(name, name_len))
        h->reason = "a header field name is not a token";
    else if (!value || !http_field_value_ok(value, value_len) || strlen(value) != value_len)
        h->reason = "a control character in a header field value";
    else
        http_framing_add(&h->framing, name, name_len, value, value_len);
    return h->too_large || h->reason ? MHD_NO : MHD_YES;
}

/* A malformed or ambiguous request: answered here, and the connection closed after it (what
 * follows on it cannot be trusted to start a request). */
static void refuse_request(struct http_request *req, const char *reason)
{
    size_t len = 0;
    char *body = lt_err_json(LT_ERR_BAD_HTTP, reason, &len);
    char ip[64];
    if (http_client_ip(req, ip, sizeof ip) != 0)
        snprintf(ip, sizeof ip, "?");
    atomic_fetch_add(&req->srv->n_bad, 1);
    gate_log_refusal(req->srv, ip, reason);
    http_add_reply_header(req, "Connection", "close");
    http_reply(req, 400, "application/json; charset=utf-8", body ? body : "", body ? len : 0);
    free(body);
}

/* --- MHD callbacks --- */

/* Called by MHD with the request-target exactly as received, before any unescaping: the request
 * object is born here so that the gateway can forward the path byte for byte. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_request *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->fd = -1;
    req->raw_uri = strdup(uri ? uri : "");
    return req;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_loop *loop = cls;
    struct http_server *s = loop->srv;
    struct http_request *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->fd = -1;
        *con_cls = req;
    }
    if (!req->srv) {
        req->srv = s;
        req->loop = loop;
        req->conn = conn;
        req->url = url;
        req->method = method;
        struct hdr_check h = {.cfg = &s->cfg};
        MHD_get_connection_values_n(conn, MHD_HEADER_KIND, check_header, &h);
        if (h.too_large) {
            req->bad_headers = 1;
            s->cfg.bad_headers(req);
            return MHD_YES;
        }
        if (!h.reason)
            h.reason = http_framing_verdict(&h.framing, strcmp(version, "HTTP/1.0") == 0);
        if (h.reason) {
            req->bad_headers = 1;
            refuse_request(req, h.reason);
            return MHD_YES;
        }
        const char *cl = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body_bytes) {
            req->too_large = 1;
            s->cfg.too_large(req); /* early answer: MHD closes the connection after it */
            return MHD_YES;
        }
        req->handler = s->cfg.router(s->cfg.app, method, url);
        return MHD_YES;
    }
    if (req->pending) {
        struct MHD_Response *r = req->pending;
        req->pending = NULL;
        apply_reply_headers(req, r);
        enum MHD_Result rc = MHD_queue_response(conn, req->pending_status, r);
        MHD_destroy_response(r);
        req->responded = 1;
        return rc;
    }
    if (*upload_data_size) {
        if (!req->responded && take_body(req, upload_data, *upload_data_size) != 0) {
            /* the rest of the body is read and dropped; the request still gets its answer */
            log_error("http: cannot spool a request body: %s", strerror(errno));
            req->no_storage = 1;
            if (req->fd >= 0)
                close(req->fd);
            req->fd = -1;
            buf_free(&req->mem);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->responded || req->suspended)
        return MHD_YES;
    if (req->too_large)
        s->cfg.too_large(req);
    else if (req->no_storage)
        s->cfg.no_storage(req);
    else if (!req->handler)
        s->cfg.not_found(req);
    else
        req->handler(req);
    if (!req->responded && !req->suspended)
        return MHD_NO; /* handler could not even queue a reply: drop the connection */
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_request *req = *con_cls;
    if (!req)
        return;
    if (req->state_free)
        req->state_free(req->state);
    if (req->pending)
        MHD_destroy_response(req->pending);
    if (req->fd >= 0)
        close(req->fd);
    buf_free(&req->mem);
    for (unsigned i = 0; i < req->n_reply_hdr; i++) {
        free(req->reply_hdr[i][0]);
        free(req->reply_hdr[i][1]);
    }
    free(req->reply_hdr);
    free(req->raw_uri);
    free(req);
    *con_cls = NULL;
}

/* The gate counted each connection it handed over: the count ends with the connection. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)socket_context;
    if (toe != MHD_CONNECTION_NOTIFY_CLOSED)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    gate_released(cls, ci ? ci->client_addr : NULL);
    gate_note_closed_while_adding();
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_debug("http: %s", msg);
}

/* --- the event loops --- */

static int64_t mono_ms(void)
{
    return mono_ns() / 1000000;
}

int http_loop_watch(struct http_loop *l, struct http_watch *w, unsigned events)
{
    struct epoll_event ev = {.data.ptr = w};
    if (events & HTTP_IN)
        ev.events |= EPOLLIN;
    if (events & HTTP_OUT)
        ev.events |= EPOLLOUT;
    if (events & HTTP_EDGE)
        ev.events |= EPOLLET;
    int op = !events ? EPOLL_CTL_DEL : w->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (!events && !w->events)
        return 0;
    if (events && events == w->events)
        return 0;
    int rc = epoll_ctl(l->epfd, op, w->fd, &ev);
    /* a descriptor already closed has left the set by itself */
    if (rc != 0 && !(op == EPOLL_CTL_DEL && (errno == EBADF || errno == ENOENT)))
        return -1;
    w->events = events;
    return 0;
}

void http_loop_timer(struct http_loop *l, int64_t deadline_ms, void (*fn)(void *ctx), void *ctx)
{
    l->timer_ms = deadline_ms;
    l->timer_fn = fn;
    l->timer_ctx = ctx;
}

struct http_loop *http_request_loop(const struct http_request *req)
{
    return req->loop;
}

unsigned http_loop_count(const struct http_loop *l)
{
    return l->srv->n_loops;
}

void **http_loop_slot(struct http_loop *l)
{
    return &l->slot;
}

static void on_wake(struct http_watch *w, unsigned events)
{
    struct http_loop *l = (struct http_loop *)((char *)w - offsetof(struct http_loop, wake_watch));
    uint64_t v;
    (void)events;
    while (read(w->fd, &v, sizeof v) < 0 && errno == EINTR) {
    }
    l->kick = 1;
}

/* One thread: waits on the loop's epoll set (the daemon's set, attached watches, the wake-up
 * descriptor) no longer than MHD's and the timer's deadlines, then runs what is ready. */
static void *loop_main(void *arg)
{
    struct http_loop *l = arg;
    pthread_setname_np(pthread_self(), "lt-http");
    struct epoll_event evs[64];
    while (!atomic_load(&l->stop)) {
        MHD_UNSIGNED_LONG_LONG mt = 0;
        int64_t now = mono_ms(), deadline = -1;
        if (MHD_get_timeout(l->daemon, &mt) == MHD_YES)
            deadline = now + (int64_t)(mt < (MHD_UNSIGNED_LONG_LONG)INT_MAX ? mt : INT_MAX);
        if (l->timer_ms >= 0 && (deadline < 0 || l->timer_ms < deadline))
            deadline = l->timer_ms;
        int64_t gate = gate_next_deadline(l);
        if (gate >= 0 && (deadline < 0 || gate < deadline))
            deadline = gate;
        int timeout = l->kick || (deadline >= 0 && deadline <= now) ? 0
                      : deadline < 0                                ? -1
                                                                    : (int)(deadline - now);
        int n = epoll_wait(l->epfd, evs, 64, timeout);
        if (n < 0 && errno != EINTR) {
            log_error("http: epoll_wait: %s", strerror(errno));
            break;
        }
        int run_mhd = 0;
        for (int i = 0; i < n; i++) {
            struct http_watch *w = evs[i].data.ptr;
            if (w == &l->mhd_watch) {
                run_mhd = 1;
                continue;
            }
            unsigned ev = 0;
            if (evs[i].events & EPOLLIN)
                ev |= HTTP_IN;
            if (evs[i].events & EPOLLOUT)
                ev |= HTTP_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                ev |= HTTP_ERR;
            w->fn(w, ev);
        }
        now = mono_ms();
        gate_expire(l, now);
        if (l->timer_ms >= 0 && l->timer_ms <= now) {
            l->timer_ms = -1;
            l->timer_fn(l->timer_ctx);
        }
        if (l->kick || run_mhd || (deadline >= 0 && deadline <= now)) {
            l->kick = 0;
            MHD_run(l->daemon);
        }
    }
    return NULL;
}

static int listen_socket(const struct http_config *cfg, char *err, size_t err_len)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(cfg->port);
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, cfg->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(cfg->port);
        len = sizeof *a6;
    } else {
        snprintf(err, err_len, "listen address must be a numeric IP address: %s", cfg->host);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, err_len, "cannot listen on %s:%u (%s)", cfg->host, (unsigned)cfg->port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int loop_init(struct http_server *s, struct http_loop *l, char *err, size_t err_len)
{
    l->srv = s;
    l->timer_ms = -1;
    l->mhd_watch.fd = -1;
    l->wake_watch.fd = -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        snprintf(err, err_len, "cannot create an event loop: %s", strerror(errno));
        return -1;
    }
    if (gate_loop_init(l, err, err_len) != 0)
        return -1;
    const struct http_config *cfg = &s->cfg;
    /* The gate accepts and counts connections (gate.c); the daemon only serves them, so its
     * own limit is the server's. */
    l->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET, 0,
        NULL, NULL, on_request, l, MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_s,
        /* MHD zeroes a connection's whole pool for every request: no bigger than the headers
         * allowed plus room to work */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(cfg->max_headers_total + 16 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_END);
    if (!l->daemon) {
        snprintf(err, err_len, "cannot start the HTTP daemon");
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    l->mhd_watch.fd = di ? di->epoll_fd : -1;
    l->wake_watch.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->wake_watch.fn = on_wake;
    if (l->mhd_watch.fd < 0 || l->wake_watch.fd < 0 ||
        http_loop_watch(l, &l->mhd_watch, HTTP_IN) != 0 ||
        http_loop_watch(l, &l->wake_watch, HTTP_IN) != 0) {
        snprintf(err, err_len, "cannot set up an event loop: %s", strerror(errno));
        return -1;
    }
    return 0;
}

struct http_server *http_start(const struct http_config *cfg, char *err, size_t err_len)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->spool_dir = strdup(cfg->spool_dir);
    s->n_loops = cfg->threads < 1 ? 1 : cfg->threads > MAX_LOOPS ? MAX_LOOPS : cfg->threads;
    s->listen_fd = listen_socket(cfg, err, err_len);
    s->loops = calloc(s->n_loops, sizeof *s->loops);
    if (s->listen_fd < 0 || !s->loops || !s->spool_dir) {
        if (s->listen_fd >= 0)
            snprintf(err, err_len, "out of memory");
        http_stop(s);
        return NULL;
    }
    if (gate_server_init(s, err, err_len) != 0) {
        http_stop(s);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    for (unsigned i = 0; i < s->n_loops; i++) {
        struct http_loop *l = &s->loops[i];
        if (loop_init(s, l, err, err_len) != 0) {
            http_stop(s);
            return NULL;
        }
        if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
            snprintf(err, err_len, "cannot start an HTTP thread");
            http_stop(s);
            return NULL;
        }
        l->started = 1;
    }
    return s;
}

uint16_t http_bound_port(const struct http_server *s)
{
    return s->port;
}

void http_counters(const struct http_server *s, struct http_counters *ret)
{
    ret->bad_requests = atomic_load(&s->n_bad);
    ret->head_timeouts = atomic_load(&s->n_timeouts);
    ret->refused_per_ip = atomic_load(&s->n_per_ip);
    ret->refused_overloaded = atomic_load(&s->n_overloaded);
    ret->open_connections = atomic_load(&s->n_open);
}

void http_stop(struct http_server *s)
{
    if (!s)
        return;
    for (unsigned i = 0; s->loops && i < s->n_loops; i++) {
        struct http_loop *l = &s->loops[i];
        if (!l->started)
            continue;
        atomic_store(&l->stop, 1);
        uint64_t one = 1;
        if (write(l->wake_watch.fd, &one, sizeof one) < 0)
            log_error("http: cannot wake a loop: %s", strerror(errno));
        pthread_join(l->thread, NULL);
    }
    for (unsigned i = 0; s->loops && i < s->n_loops; i++) {
        struct http_loop *l = &s->loops[i];
        if (!l->srv)
            continue; /* never set up */
        gate_loop_free(l);
        if (l->daemon)
            MHD_stop_daemon(l->daemon);
        if (l->wake_watch.fd >= 0)
            close(l->wake_watch.fd);
        if (l->epfd >= 0)
            close(l->epfd);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    gate_server_free(s);
    free(s->loops);
    free(s->spool_dir);
    free(s);
}
