/* forward — the forwarder thread: every upstream transfer of the gateway runs on one libcurl
 * multi handle driven by this thread, so the number of calls in flight costs memory, not
 * threads. Connections to providers are kept alive and reused (curl's connection cache, bounded
 * per host).
 *
 * Life of a response:
 *   - the header callback keeps the upstream's header lines; the write callback appends body
 *     bytes to the call's buffer, hashing and counting them;
 *   - a response that ends while its body is small (STREAM_AFTER) is handed to the consumer in
 *     one piece: the suspended connection is completed with the buffer;
 *   - a larger one switches to streaming: the connection is completed with a reader that drains
 *     the buffer from the HTTP thread. The buffer is bounded (STREAM_CAP): when it is full the
 *     curl transfer is paused, and unpaused (on this thread, as curl requires) once the reader
 *     has drained half of it; when it is empty the reader parks the client connection until
 *     more bytes (or the end) arrive. Memory per call stays below STREAM_CAP plus one curl
 *     buffer whatever the size of the response.
 * Retries: an idempotent call whose connection failed before any response is started again, up
 * to the configured number of times (the request body is re-read from its start). */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu;
    struct gw_call **incoming; /* submitted, not yet started */
    size_t n_incoming, cap_incoming;
    struct gw_call *active;   /* transfers running (forwarder thread only) */
    CURL *idle[IDLE_HANDLES]; /* reset easy handles kept for reuse (forwarder thread only) */
    unsigned n_idle;
    struct gw_call **unpause; /* asked by readers */
    size_t n_unpause, cap_unpause;
    int stop, stopped;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int push(struct gw_call ***arr, size_t *n, size_t *cap, struct gw_call *c)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct gw_call **grown = realloc(*arr, nc * sizeof *grown);
        if (!grown)
            return -1;
        *arr = grown;
        *cap = nc;
    }
    (*arr)[(*n)++] = c;
    return 0;
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
    ssize_t r;
    pthread_mutex_lock(&c->mu);
    size_t avail = c->resp.len - c->resp_off;
    if (avail) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, c->resp.data + c->resp_off, n);
        c->resp_off += n;
        if (c->paused && c->resp.len - c->resp_off < STREAM_CAP / 2)
            gw_call_unpause(c);
        r = (ssize_t)n;
    } else if (c->finished) {
        r = c->error == LT_ERR_OK ? -1 /* MHD_CONTENT_READER_END_OF_STREAM */
                                  : -2 /* MHD_CONTENT_READER_END_WITH_ERROR */;
    } else {
        c->parked = 1;
        http_stream_park(c->req);
        r = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return r;
}

static void stream_free(void *ctx)
{
    gw_call_release(ctx);
}

/* Switches a call to streaming (c->mu held): completes the suspended request with a reader. */
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
    pthread_mutex_lock(&c->mu);
    if (c->client_gone) {
        pthread_mutex_unlock(&c->mu);
        return 0; /* aborts the transfer */
    }
    if ((int64_t)(c->bytes_out + n) > c->max_response) {
        c->too_big = 1;
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    if (c->streaming && c->resp.len - c->resp_off >= STREAM_CAP) {
        c->paused = 1;
        pthread_mutex_unlock(&c->mu);
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
    if (buf_append(&c->resp, data, n) != 0) {
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    sha256_update(&c->resp_hash, data, n);
    c->bytes_out += n;
    if (!c->streaming && c->resp.len - c->resp_off > STREAM_AFTER)
        start_stream(c);
    else if (c->parked) {
        c->parked = 0;
        http_resume(c->req);
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* ---------- the thread ---------- */

void gw_call_unpause(struct gw_call *c)
{
    if (c->unpause_asked)
        return;
    struct gw_forwarder *f = c->gw->fwd;
    pthread_mutex_lock(&f->mu);
    if (!f->stopped && push(&f->unpause, &f->n_unpause, &f->cap_unpause, c) == 0) {
        c->unpause_asked = 1;
        c->refs++; /* released once the forwarder has handled the request */
        curl_multi_wakeup(f->multi);
    }
    pthread_mutex_unlock(&f->mu);
}

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
    if (curl_multi_add_handle(f->multi, e) != CURLM_OK)
        return -1;
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

    pthread_mutex_lock(&c->mu);
    c->finished = 1;
    if (c->error == LT_ERR_OK)
        c->error = e;
    if (c->streaming) {
        if (e != LT_ERR_OK) /* the consumer got a head, then a cut: logged as the failure */
            c->status = lt_err_http(e);
        if (c->parked && c->req) {
            c->parked = 0;
            http_resume(c->req);
        }
        pthread_mutex_unlock(&c->mu);
    } else if (e != LT_ERR_OK) {
        pthread_mutex_unlock(&c->mu);
        gw_reply_error(c, e, NULL, 0, 1);
    } else {
        reply_headers(c);
        http_complete(c->req, (unsigned)c->status, NULL, c->resp.data + c->resp_off,
                      c->resp.len - c->resp_off);
        c->resp_off = c->resp.len;
        pthread_mutex_unlock(&c->mu);
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

static void *run(void *arg)
{
    struct gw_forwarder *f = arg;
    struct gw_call **batch = NULL, **unp = NULL;
    size_t cap_batch = 0, cap_unp = 0;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        int stop = f->stop;
        /* swap the shared arrays with our (empty) ones */
        struct gw_call **in = f->incoming;
        size_t n_in = f->n_incoming, cap_in = f->cap_incoming;
        f->incoming = batch;
        f->n_incoming = 0;
        f->cap_incoming = cap_batch;
        struct gw_call **up = f->unpause;
        size_t n_up = f->n_unpause, cap_up = f->cap_unpause;
        f->unpause = unp;
        f->n_unpause = 0;
        f->cap_unpause = cap_unp;
        pthread_mutex_unlock(&f->mu);

        for (size_t i = 0; i < n_in; i++) {
            struct gw_call *c = in[i];
            if (stop || start_transfer(f, c) != 0)
                finish(f, c, stop ? LT_ERR_OVERLOADED : LT_ERR_INTERNAL);
        }
        for (size_t i = 0; i < n_up; i++) {
            struct gw_call *c = up[i];
            pthread_mutex_lock(&c->mu);
            c->unpause_asked = 0;
            int go = c->paused && c->easy && !c->finished;
            c->paused = 0;
            pthread_mutex_unlock(&c->mu);
            if (go)
                curl_easy_pause(c->easy, CURLPAUSE_CONT);
            gw_call_release(c);
        }
        batch = in;
        cap_batch = cap_in;
        unp = up;
        cap_unp = cap_up;
        if (stop)
            break;

        int running = 0;
        curl_multi_perform(f->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(f->multi, &left)))
            if (m->msg == CURLMSG_DONE)
                on_done(f, m->easy_handle, m->data.result);
        curl_multi_poll(f->multi, NULL, 0, 1000, NULL);
    }
    /* Stopping: end every transfer still running. */
    while (f->active)
        finish(f, f->active, LT_ERR_OVERLOADED);
    free(batch);
    free(unp);
    return NULL;
}

struct gw_forwarder *gw_forwarder_start(struct gateway *gw, unsigned host_connections, char *err,
                                        size_t err_len)
{
    struct gw_forwarder *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    f->gw = gw;
    pthread_mutex_init(&f->mu, NULL);
    f->multi = curl_multi_init();
    if (!f->multi) {
        snprintf(err, err_len, "cannot create the HTTP client");
        free(f);
        return NULL;
    }
    curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)host_connections);
    curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)host_connections * 4);
    gw->fwd = f;
    if (pthread_create(&f->thread, NULL, run, f) != 0) {
        snprintf(err, err_len, "cannot start the forwarder thread");
        curl_multi_cleanup(f->multi);
        gw->fwd = NULL;
        free(f);
        return NULL;
    }
    return f;
}

int gw_forwarder_submit(struct gw_forwarder *f, struct gw_call *c)
{
    pthread_mutex_lock(&f->mu);
    int rc = f->stop ? -1 : push(&f->incoming, &f->n_incoming, &f->cap_incoming, c);
    pthread_mutex_unlock(&f->mu);
    if (rc == 0)
        curl_multi_wakeup(f->multi);
    return rc;
}

void gw_forwarder_stop(struct gw_forwarder *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    if (f->stopped) {
        pthread_mutex_unlock(&f->mu);
        return;
    }
    f->stop = 1;
    pthread_mutex_unlock(&f->mu);
    curl_multi_wakeup(f->multi);
    pthread_join(f->thread, NULL);
    pthread_mutex_lock(&f->mu);
    f->stopped = 1;
    /* unpause requests that arrived after the thread's last round */
    for (size_t i = 0; i < f->n_unpause; i++)
        gw_call_release(f->unpause[i]);
    f->n_unpause = 0;
    pthread_mutex_unlock(&f->mu);
}

void gw_forwarder_free(struct gw_forwarder *f)
{
    if (!f)
        return;
    while (f->n_idle)
        curl_easy_cleanup(f->idle[--f->n_idle]);
    curl_multi_cleanup(f->multi);
    free(f->incoming);
    free(f->unpause);
    pthread_mutex_destroy(&f->mu);
    free(f);
}
