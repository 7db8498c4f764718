/* gwload — an open-loop HTTP/1.1 load generator at a fixed request rate (bench/gateway.sh).
 *
 * wrk measures throughput with closed loops: each connection sends its next request when the
 * previous reply arrived, so a slow server is asked less, and the latency of the requests that
 * "should" have been sent while it stalled is never measured (coordinated omission). Debian has
 * no wrk2, hence this small tool: requests are SCHEDULED at a fixed total rate, spread evenly
 * over N keep-alive connections (connection k sends at t0 + (k + j*N) / rate), and the latency
 * of a request is its completion time minus its scheduled send time. A connection still waiting
 * for its previous reply sends late, and the wait counts in the latency, as in wrk2.
 *
 * One thread, epoll, nanosecond timeouts (epoll_pwait2). Latencies go into a log-linear
 * histogram in microseconds with 64 sub-buckets per power of two (under 1.6 % error, as an HDR
 * histogram with 2 significant digits); percentiles report a bucket's highest value.
 *
 * Replies are read with Content-Length, chunked or close-delimited bodies; a 2xx reply counts as
 * ok, anything else (other statuses, connection failures, resets) as an error. Only 127.x.x.x
 * addresses are accepted.
 *
 * Output: a short report, then `RESULT target_rate=.. rate=.. ok=.. errors=.. late=..
 * p50_ms=.. p90_ms=.. p99_ms=.. p999_ms=.. max_ms=.. client_cpu_s=.. elapsed_s=.. answered=..`
 * (answered: every 2xx reply, warm-up included).
 * Exit status 0, 1 when any request failed, 2 on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADERS 16
#define RBUF 65536
#define MAX_CONNS 10000

/* ---- histogram (microseconds) ---- */

#define SUB 64
#define NBUCKETS (2 * SUB + 40 * SUB)
static uint64_t hist[NBUCKETS];
static uint64_t hist_n, hist_max;

static int msb(uint64_t v)
{
    return 63 - __builtin_clzll(v);
}

static unsigned hist_index(uint64_t us)
{
    if (us < 2 * SUB)
        return (unsigned)us;
    int b = msb(us) - 6; /* >= 1: us >> b is in [64, 128) */
    unsigned i = 2 * SUB + (unsigned)(b - 1) * SUB + (unsigned)((us >> b) - SUB);
    return i < NBUCKETS ? i : NBUCKETS - 1;
}

/* The highest value that falls into bucket i. */
static uint64_t hist_value(unsigned i)
{
    if (i < 2 * SUB)
        return i;
    unsigned b = (i - 2 * SUB) / SUB + 1, sub = (i - 2 * SUB) % SUB + SUB;
    return (((uint64_t)sub + 1) << b) - 1;
}

static void hist_add(uint64_t us)
{
    hist[hist_index(us)]++;
    hist_n++;
    if (us > hist_max)
        hist_max = us;
}

static double hist_pct_ms(double p)
{
    if (hist_n == 0)
        return 0;
    uint64_t want = (uint64_t)(p / 100.0 * (double)hist_n + 0.999999);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < NBUCKETS; i++) {
        seen += hist[i];
        if (seen >= want) {
            uint64_t v = hist_value(i);
            return (double)(v < hist_max ? v : hist_max) / 1000.0;
        }
    }
    return (double)hist_max / 1000.0;
}

/* ---- connections ---- */

enum cstate { C_IDLE, C_CONNECTING, C_WAITING };
enum pstate {
    P_HEAD,
    P_BODY_LEN,
    P_BODY_CLOSE,
    P_CHUNK_SIZE,
    P_CHUNK_DATA,
    P_CHUNK_CRLF,
    P_TRAILER
};

struct conn {
    int fd;
    enum cstate state;
    int64_t sched;  /* scheduled time of the next (or current) request, ns */
    size_t sent;    /* bytes of the request written */
    int pending;    /* a request was started (and is sent once connected) */
    int want_close; /* the reply said Connection: close */
    enum pstate ps;
    unsigned status;
    uint64_t left; /* body or chunk bytes still to skip */
    size_t rlen;
    char rbuf[RBUF];
};

static struct sockaddr_in target;
static char *request;
static size_t request_len;
static int ep = -1;
static int64_t interval_ns; /* per connection */
static int64_t record_from, stop_at, last_done;
static uint64_t n_ok, n_err, n_late, n_sent, n_answered;
static volatile sig_atomic_t interrupted;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = C_IDLE;
}

static int conn_open(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&target, sizeof target) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->state = C_CONNECTING;
    return 0;
}

/* The request of c is over (reply complete, or failed): record it, schedule the next one. */
static void finish(struct conn *c, int ok, int64_t now)
{
    if (ok)
        n_answered++; /* warm-up included */
    if (c->sched >= record_from && c->sched < stop_at) {
        if (ok) {
            n_ok++;
            last_done = now;
            hist_add((uint64_t)(now - c->sched) / 1000);
        } else {
            n_err++;
        }
    }
    c->sched += interval_ns;
    c->pending = 0;
    if (c->want_close || !ok)
        conn_close(c);
    else
        c->state = C_IDLE;
}

static void watch(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is left of the request; waits for EPOLLOUT only when the socket is full. */
static int send_request(struct conn *c)
{
    int was_partial = c->sent > 0;
    while (c->sent < request_len) {
        ssize_t n = send(c->fd, request + c->sent, request_len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            watch(c, EPOLLIN | EPOLLOUT);
            return 0;
        }
        if (n <= 0)
            return -1;
        c->sent += (size_t)n;
    }
    if (was_partial)
        watch(c, EPOLLIN);
    return 0;
}

static void start_request(struct conn *c, int64_t now)
{
    if (now - c->sched > 1000000)
        n_late++; /* sent more than 1 ms after its time (the connection was busy or slow) */
    if (c->fd < 0 && conn_open(c) != 0) {
        finish(c, 0, now);
        return;
    }
    c->sent = 0;
    c->ps = P_HEAD;
    c->rlen = 0;
    c->want_close = 0;
    c->status = 0;
    c->pending = 1;
    n_sent++;
    if (c->state == C_CONNECTING)
        return; /* sent when the connection is writable */
    c->state = C_WAITING;
    if (send_request(c) != 0)
        finish(c, 0, now);
}

/* Parses what is in c->rbuf. Returns 1 when a reply is complete, 0 for more, -1 on error. */
static int parse(struct conn *c)
{
    for (;;) {
        switch (c->ps) {
        case P_HEAD: {
            char *e = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
            if (!e)
                return c->rlen == RBUF ? -1 : 0;
            *e = '\0';
            if (strncmp(c->rbuf, "HTTP/1.", 7) != 0)
                return -1;
            c->status = (unsigned)atoi(c->rbuf + 9);
            int chunked = 0, have_len = 0;
            uint64_t len = 0;
            for (char *l = strstr(c->rbuf, "\r\n"); l; l = strstr(l, "\r\n")) {
                l += 2;
                if (strncasecmp(l, "Content-Length:", 15) == 0) {
                    len = strtoull(l + 15, NULL, 10);
                    have_len = 1;
                } else if (strncasecmp(l, "Transfer-Encoding:", 18) == 0) {
                    chunked = strstr(l, "chunked") != NULL || strstr(l, "Chunked") != NULL;
                } else if (strncasecmp(l, "Connection:", 11) == 0) {
                    c->want_close = strcasestr(l, "close") != NULL;
                }
            }
            size_t used = (size_t)(e + 4 - c->rbuf);
            memmove(c->rbuf, c->rbuf + used, c->rlen - used);
            c->rlen -= used;
            if (c->status == 204 || c->status == 304 || (c->status >= 100 && c->status < 200)) {
                if (c->status >= 100 && c->status < 200)
                    continue; /* an interim reply: the real one follows */
                return 1;
            }
            if (chunked)
                c->ps = P_CHUNK_SIZE;
            else if (have_len) {
                c->ps = P_BODY_LEN;
                c->left = len;
            } else {
                c->ps = P_BODY_CLOSE;
                c->want_close = 1;
            }
            continue;
        }
        case P_BODY_LEN:
        case P_CHUNK_DATA: {
            size_t n = c->rlen < c->left ? c->rlen : (size_t)c->left;
            memmove(c->rbuf, c->rbuf + n, c->rlen - n);
            c->rlen -= n;
            c->left -= n;
            if (c->left)
                return 0;
            if (c->ps == P_BODY_LEN)
                return 1;
            c->ps = P_CHUNK_CRLF;
            c->left = 2;
            continue;
        }
        case P_CHUNK_CRLF: {
            size_t n = c->rlen < c->left ? c->rlen : (size_t)c->left;
            memmove(c->rbuf, c->rbuf + n, c->rlen - n);
            c->rlen -= n;
            c->left -= n;
            if (c->left)
                return 0;
            c->ps = P_CHUNK_SIZE;
            continue;
        }
        case P_CHUNK_SIZE:
        case P_TRAILER: {
            char *e = memmem(c->rbuf, c->rlen, "\r\n", 2);
            if (!e)
                return c->rlen == RBUF ? -1 : 0;
            size_t used = (size_t)(e + 2 - c->rbuf);
            int empty = e == c->rbuf;
            uint64_t size = c->ps == P_CHUNK_SIZE ? strtoull(c->rbuf, NULL, 16) : 0;
            memmove(c->rbuf, c->rbuf + used, c->rlen - used);
            c->rlen -= used;
            if (c->ps == P_TRAILER) {
                if (empty)
                    return 1;
                continue;
            }
            if (size == 0) {
                c->ps = P_TRAILER;
            } else {
                c->ps = P_CHUNK_DATA;
                c->left = size;
            }
            continue;
        }
        case P_BODY_CLOSE:
            c->rlen = 0;
            return 0;
        }
    }
}

static void on_event(struct conn *c, uint32_t events, int64_t now)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        if ((events & (EPOLLERR | EPOLLHUP)) ||
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
            finish(c, 0, now);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        watch(c, EPOLLIN);
        if (!c->pending) {
            c->state = C_IDLE; /* connected ahead of its first request */
            return;
        }
        c->state = C_WAITING;
        if (send_request(c) != 0)
            finish(c, 0, now);
        return;
    }
    if (c->state != C_WAITING) {
        /* Idle keep-alive connection: the server closed it (or sent junk). */
        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            conn_close(c);
        return;
    }
    if (c->sent < request_len && (events & EPOLLOUT) && send_request(c) != 0) {
        finish(c, 0, now);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return;
    for (;;) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            /* closed: the end of a close-delimited body, or a failure */
            int ok = n == 0 && c->ps == P_BODY_CLOSE;
            c->want_close = 1;
            finish(c, ok && c->status >= 200 && c->status < 300, now);
            return;
        }
        c->rlen += (size_t)n;
        int r = parse(c);
        if (r < 0) {
            c->want_close = 1;
            finish(c, 0, now);
            return;
        }
        if (r == 1) {
            if (c->rlen)
                c->want_close = 1; /* bytes beyond the reply: not pipelining, drop them */
            finish(c, c->status >= 200 && c->status < 300, now);
            return;
        }
    }
}

/* ---- main ---- */

static const char usage[] =
    "usage: gwload --url http://127.0.0.1:PORT/PATH --rate REQ_PER_S [--connections N]\n"
    "              [--duration SECONDS] [--warmup SECONDS] [--header 'Name: value']...\n"
    "Sends GET requests at a fixed total rate over N keep-alive connections (default 64) for\n"
    "warmup (default 2 s, not recorded) + duration (default 15 s) and prints the latency\n"
    "percentiles, measured from each request's scheduled send time.\n";

static int parse_url(const char *url, char **ret_hostport, char **ret_path)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    char host[64];
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *hostport = strdup(host), *path = strdup(slash ? slash : "/");
    char *colon = strrchr(host, ':');
    unsigned long port = 80;
    if (colon) {
        *colon = '\0';
        port = strtoul(colon + 1, NULL, 10);
    }
    memset(&target, 0, sizeof target);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)port);
    if (port == 0 || port > 65535 || inet_pton(AF_INET, host, &target.sin_addr) != 1 ||
        (ntohl(target.sin_addr.s_addr) >> 24) != 127 || !hostport || !path) {
        free(hostport);
        free(path);
        return -1;
    }
    *ret_hostport = hostport;
    *ret_path = path;
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *headers[MAX_HEADERS];
    unsigned nh = 0;
    double rate = 0, duration = 15, warmup = 2;
    long nconns = 64;
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"connections", required_argument, NULL, 'c'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"warmup", required_argument, NULL, 'w'},
                                         {"header", required_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "u:r:c:d:w:H:h", opts, NULL)) != -1) {
        switch (o) {
        case 'u':
            url = optarg;
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'c':
            nconns = atol(optarg);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'w':
            warmup = atof(optarg);
            break;
        case 'H':
            if (nh == MAX_HEADERS || strpbrk(optarg, "\r\n")) {
                fprintf(stderr, "gwload: at most %d headers, without line breaks\n", MAX_HEADERS);
                return 2;
            }
            headers[nh++] = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    char *hostport = NULL, *path = NULL;
    if (optind != argc || !url || rate <= 0 || rate > 1e7 || nconns < 1 || nconns > MAX_CONNS ||
        duration <= 0 || warmup < 0 || parse_url(url, &hostport, &path) != 0) {
        fprintf(stderr, "gwload: bad arguments (the URL must be http://127.x.x.x:PORT/...)\n%s",
                usage);
        return 2;
    }
    size_t cap = strlen(path) + strlen(hostport) + 64;
    for (unsigned i = 0; i < nh; i++)
        cap += strlen(headers[i]) + 2;
    request = malloc(cap);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    struct epoll_event *evs = calloc((size_t)nconns, sizeof *evs);
    if (!request || !conns || !evs) {
        fprintf(stderr, "gwload: out of memory\n");
        return 1;
    }
    int len = snprintf(request, cap, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, hostport);
    for (unsigned i = 0; i < nh; i++)
        len += snprintf(request + len, cap - (size_t)len, "%s\r\n", headers[i]);
    len += snprintf(request + len, cap - (size_t)len, "\r\n");
    request_len = (size_t)len;

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("gwload: epoll_create1");
        return 1;
    }
    /* Connect everything first, so that connection set-up is not measured. */
    int64_t t0 = now_ns() + 200000000;
    interval_ns = (int64_t)((double)nconns * 1e9 / rate);
    for (long k = 0; k < nconns; k++) {
        conns[k].fd = -1;
        conns[k].sched = t0 + (int64_t)((double)k * 1e9 / rate);
        if (conn_open(&conns[k]) != 0) {
            fprintf(stderr, "gwload: cannot connect to %s\n", hostport);
            return 1;
        }
        conns[k].state = C_CONNECTING;
    }
    record_from = t0 + (int64_t)(warmup * 1e9);
    stop_at = record_from + (int64_t)(duration * 1e9);
    int64_t drain_until = stop_at + 5000000000LL; /* replies still awaited after the end */
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    int use_pwait2 = 1;
    for (;;) {
        int64_t now = now_ns();
        if (interrupted || now >= drain_until)
            break;
        int64_t next = INT64_MAX;
        int busy = 0;
        for (long k = 0; k < nconns; k++) {
            struct conn *c = &conns[k];
            if (c->state != C_IDLE) {
                busy = 1;
                continue;
            }
            if (c->sched >= stop_at)
                continue;
            if (c->sched <= now)
                start_request(c, now);
            if (c->state != C_IDLE)
                busy = 1;
            else if (c->sched < next)
                next = c->sched;
        }
        if (!busy && next == INT64_MAX)
            break; /* everything scheduled was sent and answered */
        int64_t wait = next == INT64_MAX ? 10000000 : next - now_ns();
        if (wait < 0)
            wait = 0;
        if (wait > 10000000)
            wait = 10000000;
        int n;
        if (use_pwait2) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)wait};
            n = epoll_pwait2(ep, evs, (int)nconns, &ts, NULL);
            if (n < 0 && errno == ENOSYS) {
                use_pwait2 = 0;
                continue;
            }
        } else {
            n = epoll_wait(ep, evs, (int)nconns, (int)(wait / 1000000));
        }
        if (n < 0 && errno != EINTR) {
            perror("gwload: epoll_wait");
            return 1;
        }
        now = now_ns();
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events, now);
    }
    getrusage(RUSAGE_SELF, &ru1);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    for (long k = 0; k < nconns; k++)
        if (conns[k].pending && conns[k].sched >= record_from && conns[k].sched < stop_at)
            n_err++; /* never answered */
    /* Achieved rate: over the measured window, or up to the last recorded reply when replies
     * came in late (the server could not keep up with the schedule). */
    double measured = duration;
    if (last_done > stop_at)
        measured = (double)(last_done - record_from) / 1e9;
    printf("gwload: %s%s, target %.0f req/s over %ld connections, %.1f s (+%.1f s warm-up)\n",
           hostport, path, rate, nconns, duration, warmup);
    printf("  ok %llu, errors %llu, achieved %.0f req/s; sent over 1 ms late: %llu\n",
           (unsigned long long)n_ok, (unsigned long long)n_err, (double)n_ok / measured,
           (unsigned long long)n_late);
    printf("  latency from scheduled send: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms\n",
           hist_pct_ms(50), hist_pct_ms(90), hist_pct_ms(99), hist_pct_ms(99.9),
           (double)hist_max / 1000.0);
    printf("RESULT target_rate=%.0f rate=%.0f ok=%llu errors=%llu late=%llu p50_ms=%.3f "
           "p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f client_cpu_s=%.2f elapsed_s=%.2f "
           "answered=%llu\n",
           rate, (double)n_ok / measured, (unsigned long long)n_ok, (unsigned long long)n_err,
           (unsigned long long)n_late, hist_pct_ms(50), hist_pct_ms(90), hist_pct_ms(99),
           hist_pct_ms(99.9), (double)hist_max / 1000.0, cpu, duration + warmup,
           (unsigned long long)n_answered);
    for (long k = 0; k < nconns; k++)
        conn_close(&conns[k]);
    close(ep);
    free(conns);
    free(evs);
    free(request);
    free(hostport);
    free(path);
    return interrupted ? 130 : n_err ? 1 : 0;
}
