/* gate — the connection gate of the HTTP server (see http_int.h).
 *
 * libmicrohttpd reads and parses request heads itself and is lenient where a careful server is
 * not (it takes a bare LF as a line end, answers a negative Content-Length with HTML, waits for
 * the end of a body in an unknown transfer coding until the idle timeout), and it has no
 * deadline for a head that trickles in. So the loops accept connections themselves: a new
 * connection is held here, its bytes PEEKED at (not consumed) as they arrive, until its first
 * request head is complete; head.c then decides. A sound head goes to libmicrohttpd with
 * MHD_add_connection, which reads the very same bytes; anything else is answered here with the
 * JSON error shape and closed, and a head not complete within head_timeout_ms gets 408. Limits
 * checked at accept: max_connections in all, max_connections_per_ip per client address (trusted
 * proxies excepted). The requests that follow on a kept-alive connection are read by
 * libmicrohttpd alone; http.c applies head.c's field and framing rules to their parsed fields.
 *
 * A refused connection is not closed at once: closing a socket with unread bytes sends a reset
 * that can destroy the answer on its way, so the write side is shut and what the client still
 * sends is read and dropped for a short while (at most GATE_MAX_CLOSING per loop; beyond that,
 * a plain close). Everything here runs on the loop's own thread, except the per-address table,
 * which the loops share under a mutex. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http/http_int.h"
#include "util/errors.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/timeutil.h"

#define GATE_LINGER_MS 2000      /* draining a refused connection */
#define GATE_MAX_CLOSING 256     /* refused connections drained at once, per loop */
#define GATE_DRAIN_MAX (1 << 20) /* bytes read from a refused connection before closing it */
#define GATE_ACCEPT_BATCH 64
#define GATE_EMFILE_PAUSE_MS 100 /* out of descriptors: accept nothing for this long */

struct gate_conn {
    struct http_watch w; /* first: the watch callback gets this pointer */
    struct http_loop *loop;
    struct gate_conn *prev, *next;
    struct gate_list *list;
    int64_t deadline_ms;
    size_t drained;
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

static int64_t mono_ms(void)
{
    return mono_ns() / 1000000;
}

/* --- lists (FIFO) --- */

static void list_push(struct gate_list *l, struct gate_conn *c)
{
    c->list = l;
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
}

static void list_remove(struct gate_conn *c)
{
    struct gate_list *l = c->list;
    if (!l)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    c->list = NULL;
}

static size_t list_len(const struct gate_list *l, size_t stop)
{
    size_t n = 0;
    for (const struct gate_conn *c = l->head; c && n < stop; c = c->next)
        n++;
    return n;
}

/* --- connections per client address --- */

#define IP_BUCKETS 1024

struct ip_entry {
    unsigned char key[17];
    unsigned n;
    struct ip_entry *next;
};

struct ip_table {
    pthread_mutex_t mu;
    struct ip_entry *b[IP_BUCKETS];
};

/* family byte and address; an IPv4-mapped IPv6 address counts as its IPv4 address */
static int ip_key(const struct sockaddr *sa, unsigned char key[17])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(key, 0, 17);
    if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *a =
            (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (memcmp(a, mapped, 12) == 0) {
            key[0] = 4;
            memcpy(key + 1, a + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a, 16);
        }
        return 0;
    }
    return -1;
}

static unsigned ip_hash(const unsigned char key[17])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 17; i++)
        h = (h ^ key[i]) * 16777619u;
    return h & (IP_BUCKETS - 1);
}

/* Whether connections from sa count against max_connections_per_ip. */
static int counted(const struct http_server *s, const struct sockaddr *sa)
{
    return s->cfg.max_connections_per_ip && !addr_list_match(s->cfg.trusted_proxies, sa);
}

/* 1 when sa may open one more connection (now counted), 0 when it is at the limit. */
static int ip_acquire(struct http_server *s, const struct sockaddr *sa)
{
    unsigned char key[17];
    if (!counted(s, sa) || ip_key(sa, key) != 0)
        return 1;
    struct ip_table *t = s->ips;
    unsigned h = ip_hash(key);
    int ok = 1;
    pthread_mutex_lock(&t->mu);
    struct ip_entry *e = t->b[h];
    while (e && memcmp(e->key, key, 17) != 0)
        e = e->next;
    if (!e && (e = calloc(1, sizeof *e)) != NULL) {
        memcpy(e->key, key, 17);
        e->next = t->b[h];
        t->b[h] = e;
    }
    if (!e || e->n >= s->cfg.max_connections_per_ip)
        ok = 0;
    else
        e->n++;
    pthread_mutex_unlock(&t->mu);
    return ok;
}

static void ip_release(struct http_server *s, const struct sockaddr *sa)
{
    unsigned char key[17];
    if (!counted(s, sa) || ip_key(sa, key) != 0)
        return;
    struct ip_table *t = s->ips;
    unsigned h = ip_hash(key);
    pthread_mutex_lock(&t->mu);
    struct ip_entry **pp = &t->b[h];
    while (*pp && memcmp((*pp)->key, key, 17) != 0)
        pp = &(*pp)->next;
    if (*pp && --(*pp)->n == 0) {
        struct ip_entry *e = *pp;
        *pp = e->next;
        free(e);
    }
    pthread_mutex_unlock(&t->mu);
}

void gate_released(struct http_server *s, const struct sockaddr *sa)
{
    if (sa)
        ip_release(s, sa);
    atomic_fetch_sub(&s->n_open, 1);
}

void gate_log_refusal(struct http_server *s, const char *client, const char *what)
{
    int_fast64_t now = mono_ms(), last = atomic_load(&s->log_last_ms);
    if (now - last >= 1000 && atomic_compare_exchange_strong(&s->log_last_ms, &last, now)) {
        int_fast64_t more = atomic_exchange(&s->log_suppressed, 0);
        if (more)
            log_warn("http: refused client=%s: %s (and %lld refusals not logged since the "
                     "previous line)",
                     client, what, (long long)more);
        else
            log_warn("http: refused client=%s: %s", client, what);
    } else {
        atomic_fetch_add(&s->log_suppressed, 1);
    }
}

/* --- answering and closing --- */

static const char *reason_phrase(unsigned status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 408:
        return "Request Timeout";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Service Unavailable";
    }
}

/* The JSON error reply, written without waiting (a client that reads nothing loses it). */
static void send_error(int fd, enum lt_err e, const char *detail)
{
    size_t blen = 0;
    char *body = lt_err_json(e, detail, &blen);
    char head[256];
    unsigned status = (unsigned)lt_err_http(e);
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %u %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      status, reason_phrase(status), body ? blen : 0);
    struct iovec iov[2] = {{head, (size_t)hl}, {body ? body : "", body ? blen : 0}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    if (sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
        log_debug("http: error reply not sent: %s", strerror(errno));
    free(body);
}

static void conn_close(struct gate_conn *c)
{
    struct http_loop *l = c->loop;
    list_remove(c);
    http_loop_watch(l, &c->w, 0);
    close(c->w.fd);
    gate_released(l->srv, (struct sockaddr *)&c->addr);
    free(c);
}

/* Reads and drops what a refused client still sends; closes at its end, on an error, or after
 * GATE_DRAIN_MAX bytes. */
static void drain(struct gate_conn *c)
{
    struct http_loop *l = c->loop;
    size_t cap = l->srv->head_limits.max_total + 1;
    for (;;) {
        ssize_t n = recv(c->w.fd, l->peek, cap, 0);
        if (n > 0) {
            c->drained += (size_t)n;
            if (c->drained > GATE_DRAIN_MAX)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        break;
    }
    conn_close(c);
}

static void refuse(struct gate_conn *c, enum lt_err e, const char *detail)
{
    struct http_loop *l = c->loop;
    send_error(c->w.fd, e, detail);
    shutdown(c->w.fd, SHUT_WR);
    list_remove(c);
    if (list_len(&l->closing, GATE_MAX_CLOSING) >= GATE_MAX_CLOSING) {
        conn_close(c);
        return;
    }
    c->deadline_ms = mono_ms() + GATE_LINGER_MS;
    list_push(&l->closing, c);
    drain(c);
}

static void client_text(const struct gate_conn *c, char *buf, size_t len)
{
    if (addr_text((const struct sockaddr *)&c->addr, buf, len) != 0)
        snprintf(buf, len, "?");
}

/* --- the first request head --- */

/* Set while MHD_add_connection runs on this thread: libmicrohttpd may report the connection
 * started and closed inside the call when it fails (then its close notification has released
 * the count already). */
static _Thread_local int tl_adding, tl_add_released;

void gate_note_closed_while_adding(void)
{
    if (tl_adding)
        tl_add_released = 1;
}

static void hand_over(struct gate_conn *c)
{
    struct http_loop *l = c->loop;
    list_remove(c);
    http_loop_watch(l, &c->w, 0);
    /* From here the connection is libmicrohttpd's: its close notification releases the count
     * (http.c). If it refuses the connection, it has closed the socket. */
    tl_adding = 1;
    tl_add_released = 0;
    int added =
        MHD_add_connection(l->daemon, c->w.fd, (struct sockaddr *)&c->addr, c->addrlen) == MHD_YES;
    tl_adding = 0;
    if (!added) {
        log_warn("http: the HTTP library refused a connection: %s", strerror(errno));
        if (!tl_add_released)
            gate_released(l->srv, (struct sockaddr *)&c->addr);
    }
    l->kick = 1;
    free(c);
}

static void on_conn(struct http_watch *w, unsigned events)
{
    struct gate_conn *c = (struct gate_conn *)w;
    struct http_loop *l = c->loop;
    struct http_server *s = l->srv;
    if (c->list == &l->closing) {
        drain(c);
        return;
    }
    ssize_t n;
    do {
        n = recv(w->fd, l->peek, s->head_limits.max_total + 1, MSG_PEEK);
    } while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
        conn_close(c); /* the client left before its request */
        return;
    }
    if (n < 0)
        return;
    struct http_head_result r = {0};
    enum http_head_verdict v = http_head_check(l->peek, (size_t)n, &s->head_limits, &r);
    if (v == HTTP_HEAD_OK || (v == HTTP_HEAD_BAD && r.status == 431)) {
        /* Over a size limit: libmicrohttpd refuses it in the shape of the operation asked for
         * (the VXP FAIL envelope for the document API) from what it parsed, or with its own 431
         * when it cannot even hold the head. */
        hand_over(c);
    } else if (v == HTTP_HEAD_BAD) {
        char ip[64];
        client_text(c, ip, sizeof ip);
        atomic_fetch_add(&s->n_bad, 1);
        gate_log_refusal(s, ip, r.reason);
        refuse(c, r.status == 431 ? LT_ERR_HEADERS_TOO_LARGE : LT_ERR_BAD_HTTP, r.reason);
    } else if (events & HTTP_ERR) {
        conn_close(c);
    }
}

/* A new connection: the limits, then held until its head is complete. */
static void admit(struct http_loop *l, int fd, const struct sockaddr_storage *ss, socklen_t sl)
{
    struct http_server *s = l->srv;
    const struct sockaddr *sa = (const struct sockaddr *)ss;
    char ip[64];
    if (addr_text(sa, ip, sizeof ip) != 0)
        snprintf(ip, sizeof ip, "?");
    if (atomic_load(&s->n_open) >= s->cfg.max_connections) {
        atomic_fetch_add(&s->n_overloaded, 1);
        gate_log_refusal(s, ip, "max_connections reached");
        send_error(fd, LT_ERR_TOO_MANY_CONNECTIONS, "the server's connection limit is reached");
        close(fd);
        return;
    }
    if (!ip_acquire(s, sa)) {
        atomic_fetch_add(&s->n_per_ip, 1);
        gate_log_refusal(s, ip, "max_connections_per_ip reached");
        send_error(fd, LT_ERR_TOO_MANY_CONNECTIONS, "too many connections from this address");
        close(fd);
        return;
    }
    atomic_fetch_add(&s->n_open, 1);
    struct gate_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        gate_released(s, sa);
        return;
    }
    c->w.fd = fd;
    c->w.fn = on_conn;
    c->loop = l;
    memcpy(&c->addr, ss, sl);
    c->addrlen = sl;
    c->deadline_ms = mono_ms() + (int64_t)s->cfg.head_timeout_ms;
    list_push(&l->waiting, c);
    /* edge-triggered: peeked bytes stay readable, so only new bytes should wake us; bytes
     * already there are reported once by the registration itself */
    if (http_loop_watch(l, &c->w, HTTP_IN | HTTP_EDGE) != 0)
        conn_close(c);
}

static void on_listen(struct http_watch *w, unsigned events)
{
    struct http_loop *l =
        (struct http_loop *)((char *)w - offsetof(struct http_loop, listen_watch));
    (void)events;
    for (int i = 0; i < GATE_ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                /* the pending connection stays readable: stop watching for a while instead of
                 * spinning on it (the others wait in the backlog) */
                gate_log_refusal(l->srv, "-", "out of file descriptors");
                if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL) == 0)
                    l->listen_resume_ms = mono_ms() + GATE_EMFILE_PAUSE_MS;
            } else if (errno != EAGAIN) {
                log_error("http: accept: %s", strerror(errno));
            }
            return;
        }
        admit(l, fd, &ss, sl);
    }
}

/* --- deadlines --- */

static void watch_listen(struct http_loop *l)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &l->listen_watch};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->listen_watch.fd, &ev) == 0)
        l->listen_resume_ms = 0;
    else
        l->listen_resume_ms = mono_ms() + GATE_EMFILE_PAUSE_MS;
}

int64_t gate_next_deadline(const struct http_loop *l)
{
    int64_t d = l->listen_resume_ms > 0 ? l->listen_resume_ms : -1;
    if (l->waiting.head)
        d = l->waiting.head->deadline_ms;
    if (l->closing.head && (d < 0 || l->closing.head->deadline_ms < d))
        d = l->closing.head->deadline_ms;
    return d;
}

void gate_expire(struct http_loop *l, int64_t now_ms)
{
    struct http_server *s = l->srv;
    if (l->listen_resume_ms > 0 && l->listen_resume_ms <= now_ms)
        watch_listen(l);
    while (l->closing.head && l->closing.head->deadline_ms <= now_ms)
        conn_close(l->closing.head);
    while (l->waiting.head && l->waiting.head->deadline_ms <= now_ms) {
        struct gate_conn *c = l->waiting.head;
        char ip[64];
        client_text(c, ip, sizeof ip);
        atomic_fetch_add(&s->n_timeouts, 1);
        gate_log_refusal(s, ip, "request head not received within head_timeout_ms");
        refuse(c, LT_ERR_HEAD_TIMEOUT, NULL);
    }
}

/* --- set-up and teardown --- */

int gate_server_init(struct http_server *s, char *err, size_t err_len)
{
    s->head_limits = (struct http_head_limits){
        .max_line = s->cfg.max_header_bytes,
        /* the request line may be as long as a header line */
        .max_total = s->cfg.max_headers_total + s->cfg.max_header_bytes,
        .max_fields = s->cfg.max_headers,
    };
    s->ips = calloc(1, sizeof *s->ips);
    if (!s->ips || pthread_mutex_init(&s->ips->mu, NULL) != 0) {
        free(s->ips);
        s->ips = NULL;
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    return 0;
}

int gate_loop_init(struct http_loop *l, char *err, size_t err_len)
{
    struct http_server *s = l->srv;
    l->peek = malloc(s->head_limits.max_total + 1);
    l->listen_watch.fd = s->listen_fd;
    l->listen_watch.fn = on_listen;
    /* every loop watches the one listening socket; EPOLLEXCLUSIVE wakes one of them */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &l->listen_watch};
    if (!l->peek || epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) != 0) {
        snprintf(err, err_len, "cannot watch the listening socket: %s", strerror(errno));
        return -1;
    }
    l->listen_watch.events = HTTP_IN;
    return 0;
}

void gate_loop_free(struct http_loop *l)
{
    while (l->waiting.head)
        conn_close(l->waiting.head);
    while (l->closing.head)
        conn_close(l->closing.head);
    free(l->peek);
    l->peek = NULL;
}

void gate_server_free(struct http_server *s)
{
    if (!s->ips)
        return;
    for (int i = 0; i < IP_BUCKETS; i++) {
        while (s->ips->b[i]) {
            struct ip_entry *e = s->ips->b[i];
            s->ips->b[i] = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&s->ips->mu);
    free(s->ips);
    s->ips = NULL;
}
