/* forward — the upstream side of the gateway: on each HTTP event loop that has received calls,
 * one libcurl multi handle whose sockets and timer are watched by that loop (curl's socket
 * interface). A call is received, forwarded and answered on one thread: no lock, no hand-off, and
 * the number of calls in flight costs memory, not threads. Connections to providers are kept
 * alive and reused (curl's connection cache, bounded per host and loop).
 *
 * Life of a response:
 *   - the header callback keeps the upstream's header lines; the write callback appends body
 *     bytes to the call's buffer, hashing and counting them;
 *   - a response that ends while its body is small (STREAM_AFTER) is handed to the consumer in
 *     one piece: the suspended connection is completed with the buffer;
 *   - a larger one switches to streaming: the connection is completed with a reader that drains
 *     the buffer. The buffer is bounded (STREAM_CAP): when it is full the curl transfer is
 *     paused, and unpaused by the reader once it has drained half of it; when it is empty the
 *     reader parks the client connection until more bytes (or the end) arrive. Memory per call
 *     stays below STREAM_CAP plus one curl buffer whatever the size of the response.
 * Retries: an idempotent call whose connection failed before any response is started again, up
 * to the configured number of times (the request body is re-read from its start).
 * Stopping: gateway_quiesce() wakes every forwarder through its eventfd; on its own thread each
 * ends its transfers (503), closes its multi handle and says so. */
#include <curl/curl.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gateway/gw_int.h"
#include "util/log.h"
#include "util/timeutil.h"

#define STREAM_AFTER (64 * 1024) /* buffered bytes that start streaming */
#define STREAM_CAP (256 * 1024)  /* most bytes buffered per call while streaming */
#define HEAD_MAX (64 * 1024)     /* upstream response header bytes kept */
#define IDLE_HANDLES 256         /* easy handles kept for reuse: setting one up is not free */

struct gw_forwarder {
    struct gateway *gw;
    struct http_loop *loop; /* NULL once the loop is gone (server stopped) */
    CURLM *multi;
    struct gw_call *active;   /* transfers running */
    CURL *idle[IDLE_HANDLES]; /* reset easy handles kept for reuse */
    unsigned n_idle;
    struct http_watch wake; /* eventfd: the gateway is stopping */
    int closed;
    struct gw_forwarder *next; /* the gateway's list */
};

/* A socket of the multi handle, watched by the loop. */
struct sock_watch {
    struct http_watch w;
    struct gw_forwarder *f;
};

static int64_t mono_us(void)
{
    return mono_ns() / 1000;
}

/* ---------- request body ---------- */

static size_t read_body(char *buf, size_t size, size_t nitems, void *ud)
{
    struct gw_call *c = ud;
    size_t cap = size * nitems;
    uint64_t left = c->body_len - c->body_pos;
    size_t n = left < cap ? (size_t)left : cap;
    if (n == 0)
        return 0;
    if (c->body_fd >= 0) {
        ssize_t r = pread(c->body_fd, buf, n, (off_t)c->body_pos);
        if (r <= 0)
            return CURL_READFUNC_ABORT;
        n = (size_t)r;
    } else {
        memcpy(buf, c->body.data + c->body_pos, n);
    }
    c->body_pos += n;
    return n;
}

static int seek_body(void *ud, curl_off_t offset, int origin)
{
    struct gw_call *c = ud;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > c->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    c->body_pos = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* ---------- response head ---------- */

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct gw_call *c = ud;
    size_t len = size * nitems;
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) { /* a new head (after a 1xx, or a retry) */
        buf_reset(&c->resp_head);
        c->head_done = 0;
        c->content_length = -1;
        return len;
    }
    size_t n = len;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0) { /* end of a head: interim 1xx heads are not passed on */
        long code = 0;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200) {
            c->head_done = 1;
            c->status = (int)code;
            if (c->content_length > c->max_response) {
                c->too_big = 1; /* refused from its head: the consumer gets a 502 */
                return 0;
            }
        }
        return len;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon || colon == buf || c->resp_head.len + n + 2 > HEAD_MAX)
        return colon ? 0 : len; /* over the bound: abort; a line without colon: skip it */
    size_t nl = (size_t)(colon - buf);
    const char *v = colon + 1;
    while (v < buf + n && (*v == ' ' || *v == '\t'))
        v++;
    if (nl == 14 && strncasecmp(buf, "Content-Length", 14) == 0)
        c->content_length = strtoll(v, NULL, 10);
    /* kept as "name\0value\0" pairs; filtered when handed to the consumer */
    if (buf_append(&c->resp_head, buf, nl) || buf_append(&c->resp_head, "", 1) ||
        buf_append(&c->resp_head, v, (size_t)(buf + n - v)) || buf_append(&c->resp_head, "", 1))
        return 0;
    return len;
}

/* Header names never passed on (RFC 9110 section 7.6.1 hop-by-hop fields, framing that the
 * HTTP layer sets itself). */
static int hop_by_hop(const char *name)
{
    static const char *const names[] = {"Connection",
                                        "Keep-Alive",
                                        "Proxy-Connection",
                                        "TE",
                                        "Trailer",
                                        "Transfer-Encoding",
                                        "Upgrade",
                                        "Proxy-Authenticate",
                                        "Proxy-Authorization",
                                        "Content-Length",
                                        NULL};
    for (int i = 0; names[i]; i++)
        if (strcasecmp(name, names[i]) == 0)
            return 1;
    return 0;
}

/* Whether name is one of the comma-separated tokens of a Connection header value. */
int gw_connection_names(const char *connection, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = connection; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        if ((size_t)(e - p) == nl && strncasecmp(p, name, nl) == 0)
            return 1;
        p = e;
    }
    return 0;
}

/* Adds the upstream's end-to-end headers and ours to the reply. */
static void reply_headers(struct gw_call *c)
{
    const char *connection = NULL, *via = NULL;
    for (size_t off = 0; off < c->resp_head.len;) {
        const char *n = c->resp_head.data + off;
        const char *v = n + strlen(n) + 1;
        if (strcasecmp(n, "Connection") == 0)
            connection = v;
        off = (size_t)(v + strlen(v) + 1 - c->resp_head.data);
    }
    for (size_t off = 0; off < c->resp_head.len;) {
        const char *n = c->resp_head.data + off;
        const char *v = n + strlen(n) + 1;
        off = (size_t)(v + strlen(v) + 1 - c->resp_head.data);
        if (hop_by_hop(n) || gw_connection_names(connection, n) ||
            strcasecmp(n, "X-Request-Id") == 0)
            continue;
        if (strcasecmp(n, "Via") == 0) {
            via = v;
            continue;
        }
        http_add_reply_header(c->req, n, v);
    }
    char line[512];
    snprintf(line, sizeof line, "%s%s1.1 lienthong", via ? via : "", via ? ", " : "");
    http_add_reply_header(c->req, "Via", line);
    http_add_reply_header(c->req, "X-Request-Id", c->request_id);
}

/* ---------- response body ---------- */

static ssize_t stream_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    struct gw_call *c = ctx;
    (void)pos;
    size_t avail = c->resp.len - c->resp_off;
    if (avail) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, c->resp.data + c->resp_off, n);
        c->resp_off += n;
        if (c->paused && c->resp.len - c->resp_off < STREAM_CAP / 2)
            gw_call_unpause(c);
        return (ssize_t)n;
    }
    if (c->finished)
        return c->error == LT_ERR_OK ? -1 /* MHD_CONTENT_READER_END_OF_STREAM */
                                     : -2 /* MHD_CONTENT_READER_END_WITH_ERROR */;
    c->parked = 1;
    http_stream_park(c->req);
    return 0;
}

static void stream_free(void *ctx)
{
    gw_call_release(ctx);
}

/* Switches a call to streaming: completes the suspended request with a reader. */
static void start_stream(struct gw_call *c)
{
    c->streaming = 1;
    c->refs++; /* the stream's */
    reply_headers(c);
    uint64_t size = c->content_length >= 0 ? (uint64_t)c->content_length : HTTP_SIZE_UNKNOWN;
    http_complete_stream(c->req, (unsigned)c->status, NULL, size, stream_read, c, stream_free);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct gw_call *c = ud;
    size_t n = size * nmemb;
    if (c->client_gone)
        return 0; /* aborts the transfer */
    if ((int64_t)(c->bytes_out + n) > c->max_response) {
        c->too_big = 1;
        return 0;
    }
    if (c->streaming && c->resp.len - c->resp_off >= STREAM_CAP) {
        c->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (c->resp_off && c->resp_off == c->resp.len) {
        buf_reset(&c->resp);
        c->resp_off = 0;
    } else if (c->resp_off > STREAM_CAP) {
        memmove(c->resp.data, c->resp.data + c->resp_off, c->resp.len - c->resp_off);
        c->resp.len -= c->resp_off;
        c->resp_off = 0;
    }
    if (buf_append(&c->resp, data, n) != 0)
        return 0;
    sha256_update(&c->resp_hash, data, n);
    c->bytes_out += n;
    if (!c->streaming && c->resp.len - c->resp_off > STREAM_AFTER) {
        start_stream(c);
    } else if (c->parked) {
        c->parked = 0;
        http_resume(c->req);
    }
    return n;
}

/* Called outside curl's callbacks (from the HTTP side of the same loop): curl may deliver the
 * bytes it held at once, through on_body. */
void gw_call_unpause(struct gw_call *c)
{
    if (!c->paused || !c->easy || c->finished)
        return;
    c->paused = 0;
    curl_easy_pause(c->easy, CURLPAUSE_CONT);
}

/* ---------- transfers ---------- */

static int start_transfer(struct gw_forwarder *f, struct gw_call *c)
{
    CURL *e = c->easy ? c->easy : f->n_idle ? f->idle[--f->n_idle] : curl_easy_init();
    if (!e)
        return -1;
    c->easy = e;
    c->body_pos = 0;
    c->upstream_start_us = mono_us();
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L); /* the path goes byte for byte */
    curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(c->timeout_ms < 5000 ? c->timeout_ms : 5000));
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    if (strcmp(c->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (c->body_len > 0 || strcmp(c->method, "POST") == 0 || strcmp(c->method, "PUT") == 0 ||
               strcmp(c->method, "PATCH") == 0) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->body_len);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, read_body);
        curl_easy_setopt(e, CURLOPT_READDATA, c);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_body);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, c);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
    } else if (strcmp(c->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
    }
    if (curl_multi_add_handle(f->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        c->easy = NULL;
        return -1;
    }
    if (!c->active) {
        c->active = 1;
        c->next_active = f->active;
        c->prev_active = NULL;
        if (f->active)
            f->active->prev_active = c;
        f->active = c;
    }
    return 0;
}

static enum lt_err map_error(const struct gw_call *c, CURLcode res)
{
    switch (res) {
    case CURLE_OK:
        return LT_ERR_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return LT_ERR_UPSTREAM_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
        return c->head_done ? LT_ERR_UPSTREAM_BAD_RESPONSE : LT_ERR_UPSTREAM_UNREACHABLE;
    default:
        return LT_ERR_UPSTREAM_BAD_RESPONSE;
    }
}

/* The connection failed before any response: safe to try again for idempotent methods. */
static int retryable(const struct gw_call *c, CURLcode res)
{
    return c->idempotent && c->retries_left > 0 && !c->head_done && c->bytes_out == 0 &&
           (res == CURLE_COULDNT_CONNECT || res == CURLE_SEND_ERROR || res == CURLE_RECV_ERROR ||
            res == CURLE_GOT_NOTHING);
}

/* Ends a call's transfer: answers the consumer (or ends the stream) and drops the forwarder's
 * reference. */
static void finish(struct gw_forwarder *f, struct gw_call *c, enum lt_err e)
{
    struct gateway *g = f->gw;
    if (c->easy) {
        curl_multi_remove_handle(f->multi, c->easy);
        if (f->n_idle < IDLE_HANDLES) {
            curl_easy_reset(c->easy);
            f->idle[f->n_idle++] = c->easy;
        } else {
            curl_easy_cleanup(c->easy);
        }
        c->easy = NULL;
    }
    if (c->active) {
        c->active = 0;
        if (c->prev_active)
            c->prev_active->next_active = c->next_active;
        else
            f->active = c->next_active;
        if (c->next_active)
            c->next_active->prev_active = c->prev_active;
    }
    c->upstream_us = mono_us() - c->upstream_start_us;
    int failed = e == LT_ERR_UPSTREAM_UNREACHABLE || e == LT_ERR_UPSTREAM_TIMEOUT;
    if (c->provider[0])
        gw_breaker_report(g->guard, c->provider, c->probe, failed, now_ms());
    if (failed)
        atomic_fetch_add(&g->upstream_failures, 1);
    atomic_fetch_sub(&g->in_flight, 1);

    c->finished = 1;
    if (c->error == LT_ERR_OK)
        c->error = e;
    if (!c->req) {
        /* the consumer has gone: nothing to answer */
    } else if (c->streaming) {
        if (e != LT_ERR_OK) /* the consumer got a head, then a cut: logged as the failure */
            c->status = lt_err_http(e);
        if (c->parked) {
            c->parked = 0;
            http_resume(c->req);
        }
    } else if (e != LT_ERR_OK) {
        gw_reply_error(c, e, NULL, 0, 1);
    } else {
        reply_headers(c);
        http_complete(c->req, (unsigned)c->status, NULL, c->resp.data + c->resp_off,
                      c->resp.len - c->resp_off);
        c->resp_off = c->resp.len;
    }
    gw_call_release(c);
}

static void on_done(struct gw_forwarder *f, CURL *e, CURLcode res)
{
    struct gw_call *c = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&c);
    if (!c)
        return;
    if (res != CURLE_OK && retryable(c, res)) {
        c->retries_left--;
        curl_multi_remove_handle(f->multi, e);
        buf_reset(&c->resp_head);
        log_info("gateway: %s %s: %s, trying again", c->method, c->url, curl_easy_strerror(res));
        if (start_transfer(f, c) == 0)
            return;
    }
    enum lt_err err = map_error(c, res);
    if (c->too_big)
        err = LT_ERR_UPSTREAM_BAD_RESPONSE;
    if (res != CURLE_OK && !c->client_gone)
        log_info("gateway: %s %s: %s", c->method, c->url, curl_easy_strerror(res));
    finish(f, c, err);
}

/* Handles the transfers curl has finished. */
static void drain(struct gw_forwarder *f)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(f->multi, &left)))
        if (m->msg == CURLMSG_DONE)
            on_done(f, m->easy_handle, m->data.result);
}

/* ---------- curl's socket interface on the loop ---------- */

static void on_socket_ready(struct http_watch *w, unsigned events)
{
    struct sock_watch *sw = (struct sock_watch *)w;
    int flags = 0, running;
    if (events & HTTP_IN)
        flags |= CURL_CSELECT_IN;
    if (events & HTTP_OUT)
        flags |= CURL_CSELECT_OUT;
    if (events & HTTP_ERR)
        flags |= CURL_CSELECT_ERR;
    struct gw_forwarder *f = sw->f;
    curl_multi_socket_action(f->multi, w->fd, flags, &running);
    drain(f);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct gw_forwarder *f = userp;
    struct sock_watch *sw = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (sw) {
            if (f->loop)
                http_loop_watch(f->loop, &sw->w, 0);
            curl_multi_assign(f->multi, s, NULL);
            free(sw);
        }
        return 0;
    }
    if (!sw) {
        sw = calloc(1, sizeof *sw);
        if (!sw)
            return -1;
        sw->w.fd = s;
        sw->w.fn = on_socket_ready;
        sw->f = f;
        curl_multi_assign(f->multi, s, sw);
    }
    unsigned ev = 0;
    if (what & CURL_POLL_IN)
        ev |= HTTP_IN;
    if (what & CURL_POLL_OUT)
        ev |= HTTP_OUT;
    if (f->loop && http_loop_watch(f->loop, &sw->w, ev) != 0) {
        log_error("gateway: cannot watch an upstream socket: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void on_timeout(void *ctx)
{
    struct gw_forwarder *f = ctx;
    int running;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain(f);
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    struct gw_forwarder *f = userp;
    (void)m;
    if (f->loop)
        http_loop_timer(f->loop, timeout_ms < 0 ? -1 : mono_ns() / 1000000 + timeout_ms, on_timeout,
                        f);
    return 0;
}

/* ---------- life of a forwarder ---------- */

/* Ends every transfer (503 to the consumers still waiting) and closes the multi handle. */
static void close_forwarder(struct gw_forwarder *f)
{
    while (f->active)
        finish(f, f->active, LT_ERR_OVERLOADED);
    while (f->n_idle)
        curl_easy_cleanup(f->idle[--f->n_idle]);
    if (f->multi)
        curl_multi_cleanup(f->multi);
    f->multi = NULL;
    if (f->wake.fd >= 0) {
        if (f->loop)
            http_loop_watch(f->loop, &f->wake, 0);
        close(f->wake.fd);
        f->wake.fd = -1;
    }
}

static void on_stop(struct http_watch *w, unsigned events)
{
    struct gw_forwarder *f =
        (struct gw_forwarder *)((char *)w - offsetof(struct gw_forwarder, wake));
    struct gateway *g = f->gw;
    (void)events;
    close_forwarder(f);
    pthread_mutex_lock(&g->fwd_mu);
    f->closed = 1;
    pthread_cond_broadcast(&g->fwd_cv);
    pthread_mutex_unlock(&g->fwd_mu);
}

struct gw_forwarder *gw_forwarder_for(struct gateway *g, struct http_loop *loop)
{
    void **slot = http_loop_slot(loop);
    if (*slot)
        return *slot;
    struct gw_forwarder *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->gw = g;
    f->loop = loop;
    f->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    f->wake.fn = on_stop;
    f->multi = curl_multi_init();
    if (f->wake.fd < 0 || !f->multi || http_loop_watch(loop, &f->wake, HTTP_IN) != 0) {
        log_error("gateway: cannot set up the upstream client on a loop");
        f->loop = NULL;
        close_forwarder(f);
        free(f);
        return NULL;
    }
    unsigned loops = http_loop_count(loop);
    long per_host = (long)((g->cfg.upstream_connections + loops - 1) / loops);
    curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, per_host);
    curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, per_host * 4);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    pthread_mutex_lock(&g->fwd_mu);
    int stopping = atomic_load(&g->stopping);
    if (!stopping) {
        f->next = g->forwarders;
        g->forwarders = f;
    }
    pthread_mutex_unlock(&g->fwd_mu);
    if (stopping) {
        close_forwarder(f);
        free(f);
        return NULL;
    }
    *slot = f;
    return f;
}

int gw_forward(struct gw_forwarder *f, struct gw_call *c)
{
    if (f->closed || start_transfer(f, c) != 0)
        return -1;
    return 0; /* curl's timer (due at once) starts it on the next turn of the loop */
}

void gw_forwarders_stop(struct gateway *g)
{
    pthread_mutex_lock(&g->fwd_mu);
    for (struct gw_forwarder *f = g->forwarders; f; f = f->next) {
        uint64_t one = 1;
        if (!f->closed && write(f->wake.fd, &one, sizeof one) < 0)
            log_error("gateway: cannot wake a loop: %s", strerror(errno));
    }
    /* Bounded: a loop that does not answer is ended by gw_forwarders_free() instead. */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    for (;;) {
        int open = 0;
        for (struct gw_forwarder *f = g->forwarders; f; f = f->next)
            open += !f->closed;
        if (!open || pthread_cond_timedwait(&g->fwd_cv, &g->fwd_mu, &dl) != 0)
            break;
    }
    pthread_mutex_unlock(&g->fwd_mu);
}

void gw_forwarders_free(struct gateway *g)
{
    while (g->forwarders) {
        struct gw_forwarder *f = g->forwarders;
        g->forwarders = f->next;
        f->loop = NULL; /* the server has stopped: its loops are gone */
        if (!f->closed)
            close_forwarder(f);
        free(f);
    }
}
