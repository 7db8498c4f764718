/* vxpload — load generator for the VXP document API.
 *
 * Speaks the national hub SDK's wire format byte for byte (docs: vxp-protocol.md sections 2-5)
 * over raw TCP sockets: HTTP/1.1 keep-alive, Content-Length bodies, one connection per worker
 * thread. Every request carries the SDK's signature headers: XroadVnpt-<key> per parameter,
 * XroadVnpt-sign-header-key, XroadVnpt-sign-header (compact JSON whose members follow Java
 * HashMap iteration order, computed here exactly as the JVM does) and XroadVnpt-hash-header =
 * HMAC-SHA256(secret, sign-header).
 *
 * Modes
 *   send     loop sendEdoc with the template file; every request carries different bytes (a
 *            unique XML comment after the XML declaration), so server de-duplication never hits.
 *   receive  act as a recipient system: getReceivedEdocList (messagetype edoc), then for each
 *            package getEdoc + updateStatus "done". One cycle = one package fetched and
 *            acknowledged. Stops when the inbox holds nothing new, or at --requests/--duration.
 *   once     send the file once, print the response.
 *   selftest print the signature headers of the worked examples of vxp-protocol.md 4.6 and
 *            compare them with the published values (no network).
 *
 * Loopback only. Every loop is bounded by a request count or a deadline, and every socket
 * operation by a timeout. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "util/b64.h"
#include "util/buf.h"
#include "util/crypto.h"

#define SDK_USER_AGENT "JAVASDKAgent/1.0.0 XRoad/VPCP"
#define SDK_VERSION "3.0.201608"
#define JDK_ACCEPT "text/html, image/gif, image/jpeg, */*; q=0.2"
#define CT_JSON "application/json"
#define CT_OCTET "application/octet-stream"

#define MAX_PARAMS 16
#define MAX_CONNS 1024
#define MAX_HEAD_BYTES (64 * 1024)           /* response header block */
#define MAX_BODY_BYTES (512UL * 1024 * 1024) /* response body (getEdoc of a big package) */
#define EXPECT_WAIT_MS 3000                  /* the Apache client's 100-continue fallback */
#define FAIL_SNIPPET 2000                    /* bytes of the first failing body kept for printing */
#define ID_MAX 128                           /* longest docId accepted from a list */

enum mode { MODE_SEND, MODE_RECEIVE, MODE_ONCE, MODE_RELAY };

static const char *const mode_names[] = {"send", "receive", "once", "relay"};
#define N_MODES 4

/* One server and the system that speaks to it. */
struct target {
    struct sockaddr_in addr;
    char hostport[96]; /* Host header */
    char prefix[256];  /* base path, no trailing slash ("" or "/vxp") */
    const char *system;
    const char *secret;
};

struct options {
    struct target t;    /* --url: where packages are sent (and received, in receive mode) */
    struct target recv; /* relay mode, --recv-url: the recipient's platform */
    const char *file;
    const char *messagetype; /* sendEdoc / getReceivedEdocList messagetype */
    const char *filepath;    /* getEdoc's client-side filePath parameter */
    int conns;
    double duration; /* seconds; 0 = none */
    long requests;   /* 0 = none */
    enum mode mode;
    pid_t pid; /* server pid for memory sampling; 0 = none */
    int timeout_s;
    int print_limit; /* bytes of response body printed in once mode */
    /* relay mode */
    double rate;    /* sendEdoc per second over all connections; 0 = back to back */
    int recv_conns; /* fetchers at the recipient (getEdoc + updateStatus) */
    int poll_ms;    /* the recipient lists its inbox this often */
    double drain_s; /* after the last send, wait at most this for the last arrivals */
};

static struct options opt;
static char g_timestamp[96]; /* ddMMyyyy'T'HHmmss+SSSS, fixed at start like the SDK */
static char g_nonce[40];     /* distinguishes runs, so repeated runs never send equal bytes */

/* ---------------------------------------------------------------------------------------- */
/* Time                                                                                     */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Java SimpleDateFormat "ddMMyyyy'T'HHmmss+SSSS" in local time: '+' is a literal and SSSS the
 * milliseconds padded to 4 digits. */
static void sdk_timestamp(char out[96])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    snprintf(out, 96, "%02d%02d%04dT%02d%02d%02d+%04d", tm.tm_mday, tm.tm_mon + 1,
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
}

/* ---------------------------------------------------------------------------------------- */
/* SDK parameter map and signature headers                                                  */

struct param {
    const char *key;
    const char *val;
};

/* The SDK's HashMap<String,String>, in insertion order. */
struct params {
    struct param p[MAX_PARAMS];
    size_t n;
};

static void params_add(struct params *ps, const char *key, const char *val)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i].key, key) == 0) { /* HashMap.put on an existing key: value only */
            ps->p[i].val = val;
            return;
        }
    if (ps->n < MAX_PARAMS)
        ps->p[ps->n++] = (struct param){key, val};
}

/* A fresh service object: the constructor puts timestamp and systemid; each operation puts its
 * Content-Type before the caller's JSON members (this insertion order reproduces every key
 * order observed on the wire, vxp-protocol.md 4.2). */
static void params_init(struct params *ps, const char *system, const char *content_type)
{
    ps->n = 0;
    params_add(ps, "timestamp", g_timestamp);
    params_add(ps, "systemid", system);
    params_add(ps, "Content-Type", content_type);
}

/* java.lang.String.hashCode() for ASCII keys, then HashMap.hash()'s spreading. */
static uint32_t java_hashmap_hash(const char *s)
{
    uint32_t h = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = 31 * h + *p;
    return h ^ (h >> 16);
}

/* Java 8+ HashMap iteration order: by bucket index for the table size the map has grown to,
 * and by insertion order within a bucket (resizes preserve the relative order). */
static void params_order(const struct params *ps, size_t order[MAX_PARAMS])
{
    uint32_t cap = 16;
    while ((double)ps->n > cap * 0.75)
        cap *= 2;
    uint32_t bucket[MAX_PARAMS];
    for (size_t i = 0; i < ps->n; i++) {
        bucket[i] = java_hashmap_hash(ps->p[i].key) & (cap - 1);
        order[i] = i;
    }
    for (size_t i = 1; i < ps->n; i++) { /* stable insertion sort by bucket */
        size_t v = order[i], j = i;
        while (j > 0 && bucket[order[j - 1]] > bucket[v]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

/* A JSON string body as Gson's JsonWriter writes it (no HTML escaping): escapes " \ control
 * characters and U+2028/U+2029; everything else raw. */
static int gson_escape(struct buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        switch (*p) {
        case '"':
            rc = buf_puts(b, "\\\"");
            break;
        case '\\':
            rc = buf_puts(b, "\\\\");
            break;
        case '\t':
            rc = buf_puts(b, "\\t");
            break;
        case '\b':
            rc = buf_puts(b, "\\b");
            break;
        case '\n':
            rc = buf_puts(b, "\\n");
            break;
        case '\r':
            rc = buf_puts(b, "\\r");
            break;
        case '\f':
            rc = buf_puts(b, "\\f");
            break;
        default:
            if (*p < 0x20) {
                rc = buf_printf(b, "\\u%04x", *p);
            } else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
                rc = buf_puts(b, p[2] == 0xa8 ? "\\u2028" : "\\u2029");
                p += 2;
            } else {
                rc = buf_append(b, p, 1);
            }
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Builds the signed string and the key list. */
static int sign_material(const struct params *ps, struct buf *keys, struct buf *json)
{
    size_t order[MAX_PARAMS];
    params_order(ps, order);
    int rc = buf_puts(json, "{");
    for (size_t i = 0; i < ps->n && rc == 0; i++) {
        const struct param *p = &ps->p[order[i]];
        if (i)
            rc |= buf_puts(keys, ";") | buf_puts(json, ",");
        rc |= buf_puts(keys, p->key);
        rc |= buf_puts(json, "\"XroadVnpt-") | gson_escape(json, p->key) | buf_puts(json, "\":\"");
        rc |= gson_escape(json, p->val) | buf_puts(json, "\"");
    }
    rc |= buf_puts(json, "}");
    return rc ? -1 : 0;
}

/* Appends the SDK's header lines: one XroadVnpt-<key> per entry (map order), then
 * sign-header-key, sign-header, hash-header. */
static int append_sdk_headers(struct buf *out, const struct params *ps, const char *secret)
{
    struct buf keys = {0}, json = {0};
    char mac[SHA256_HEX_SIZE];
    size_t order[MAX_PARAMS];
    int rc = sign_material(ps, &keys, &json);
    if (rc == 0)
        rc = hmac_sha256_hex(secret, strlen(secret), json.data, json.len, mac);
    params_order(ps, order);
    for (size_t i = 0; i < ps->n && rc == 0; i++)
        rc = buf_printf(out, "XroadVnpt-%s: %s\r\n", ps->p[order[i]].key, ps->p[order[i]].val);
    if (rc == 0)
        rc = buf_printf(out,
                        "XroadVnpt-sign-header-key: %s\r\nXroadVnpt-sign-header: %s\r\n"
                        "XroadVnpt-hash-header: %s\r\n",
                        keys.data, json.data, mac);
    buf_free(&keys);
    buf_free(&json);
    return rc ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Self-test: the worked examples of vxp-protocol.md 4.6                                    */

static int selftest_case(const char *name, const struct params *ps, const char *secret,
                         const char *want_keys, const char *want_json, const char *want_mac)
{
    struct buf keys = {0}, json = {0};
    char mac[SHA256_HEX_SIZE] = "";
    int ok = sign_material(ps, &keys, &json) == 0 &&
             hmac_sha256_hex(secret, strlen(secret), json.data, json.len, mac) == 0;
    ok = ok && strcmp(keys.data, want_keys) == 0 && strcmp(mac, want_mac) == 0 &&
         (!want_json || strcmp(json.data, want_json) == 0);
    printf("(%s) %s\n  sign-header-key: %s\n  sign-header:     %s\n  hash-header:     %s\n", name,
           ok ? "OK" : "MISMATCH", keys.data, json.data, mac);
    if (!ok)
        printf("  expected key:    %s\n  expected hash:   %s\n", want_keys, want_mac);
    buf_free(&keys);
    buf_free(&json);
    return ok ? 0 : 1;
}

static int selftest(void)
{
    static const char sys[] = "vxp.test.01", sec[] = "abc";
    static const char hf[] = "7e4a746b898d9b54749de74b58e7bd24c8b86287a386653f6593adf9db5eb";
    struct params ps;
    int bad = 0;
    snprintf(g_timestamp, sizeof g_timestamp, "%s", "22112026T103015+0123");

    /* hash-file rendering of a digest with leading-zero bytes (4.4) */
    static const uint8_t dg[SHA256_LEN] = {0x7e, 0x4a, 0x74, 0x6b, 0x89, 0x8d, 0x9b, 0x05,
                                           0x47, 0x49, 0xde, 0x74, 0xb5, 0x8e, 0x7b, 0xd2,
                                           0x4c, 0x8b, 0x86, 0x28, 0x7a, 0x38, 0x06, 0x65,
                                           0x3f, 0x06, 0x59, 0x3a, 0xdf, 0x9d, 0xb5, 0xeb};
    char h[SHA256_HEX_SIZE];
    hex_unpadded(dg, h);
    int hok = strcmp(h, hf) == 0;
    printf("(hash-file) %s %s\n", hok ? "OK" : "MISMATCH", h);
    bad += !hok;

    params_init(&ps, sys, CT_JSON);
    bad +=
        selftest_case("a", &ps, sec, "systemid;timestamp;Content-Type",
                      "{\"XroadVnpt-systemid\":\"vxp.test.01\",\"XroadVnpt-timestamp\":"
                      "\"22112026T103015+0123\",\"XroadVnpt-Content-Type\":\"application/json\"}",
                      "12567df8e04d9bd45e68dcd6e787ecf7332a57054b0dc717ae209a23bb1003e5");

    params_init(&ps, sys, CT_JSON);
    params_add(&ps, "servicetype", "eDoc");
    params_add(&ps, "messagetype", "edoc");
    bad += selftest_case(
        "b", &ps, sec, "systemid;servicetype;messagetype;timestamp;Content-Type",
        "{\"XroadVnpt-systemid\":\"vxp.test.01\",\"XroadVnpt-servicetype\":\"eDoc\","
        "\"XroadVnpt-messagetype\":\"edoc\",\"XroadVnpt-timestamp\":\"22112026T103015+0123\","
        "\"XroadVnpt-Content-Type\":\"application/json\"}",
        "f0cfa3c6f92a9bf61e8faffe691039aefd0d9902049f7c15e8a53185cf3e989d");

    params_init(&ps, sys, CT_OCTET);
    params_add(&ps, "from", sys);
    params_add(&ps, "servicetype", "eDoc");
    params_add(&ps, "messagetype", "edoc");
    params_add(&ps, "hash-file", hf);
    bad += selftest_case(
        "c", &ps, sec, "systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type",
        "{\"XroadVnpt-systemid\":\"vxp.test.01\",\"XroadVnpt-servicetype\":\"eDoc\","
        "\"XroadVnpt-messagetype\":\"edoc\",\"XroadVnpt-hash-file\":"
        "\"7e4a746b898d9b54749de74b58e7bd24c8b86287a386653f6593adf9db5eb\",\"XroadVnpt-from\":"
        "\"vxp.test.01\",\"XroadVnpt-timestamp\":\"22112026T103015+0123\","
        "\"XroadVnpt-Content-Type\":\"application/octet-stream\"}",
        "c2206fae231851d84419e5ae382283a955fdec7f3203a640b9c5857a9f42ae17");

    params_init(&ps, sys, CT_JSON);
    params_add(&ps, "status", "done");
    params_add(&ps, "docid", "nonexistent");
    bad += selftest_case("d", &ps, sec, "systemid;docid;timestamp;Content-Type;status", NULL,
                         "aca0d1a9917b2f1ca6ed6c85d82a55949f7ba341f78785288f4b70fbf536cb9f");

    params_init(&ps, sys, CT_OCTET);
    params_add(&ps, "from", sys);
    params_add(&ps, "servicetype", "eDoc");
    params_add(&ps, "messagetype", "edoc");
    params_add(&ps, "to", "[\"000.00.15.H51\"]");
    params_add(&ps, "hash-file", hf);
    bad += selftest_case(
        "e", &ps, sec, "systemid;servicetype;messagetype;hash-file;from;to;timestamp;Content-Type",
        NULL, "0ab7f31b37c086bf86d4f1eeeef56ff04003ae62ecac1e66df6fda465a986786");

    /* the long-lived object's order quoted in 4.2 */
    params_init(&ps, sys, CT_JSON);
    params_add(&ps, "servicetype", "eDoc");
    params_add(&ps, "messagetype", "edoc");
    params_add(&ps, "from", sys);
    params_add(&ps, "docId", "x");
    params_add(&ps, "hash-file", hf);
    params_add(&ps, "filePath", "/tmp");
    params_add(&ps, "status", "done");
    struct buf keys = {0}, json = {0};
    sign_material(&ps, &keys, &json);
    int lok = keys.data && strcmp(keys.data, "systemid;servicetype;messagetype;docId;hash-file;"
                                             "filePath;from;timestamp;Content-Type;status") == 0;
    printf("(long-lived order) %s %s\n", lok ? "OK" : "MISMATCH", keys.data ? keys.data : "");
    bad += !lok;
    buf_free(&keys);
    buf_free(&json);

    printf("selftest: %s\n", bad ? "FAILED" : "all match vxp-protocol.md 4.6");
    return bad ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Minimal JSON scanning (responses are small objects, or one big "data" string)           */

static const char *js_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* p at '"'; returns the position after the closing quote, or NULL. */
static const char *js_skip_string(const char *p, const char *e)
{
    for (p++; p < e; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Skips one value (string, number, literal, nested object/array); NULL when malformed. */
static const char *js_skip_value(const char *p, const char *e)
{
    p = js_ws(p, e);
    if (p >= e)
        return NULL;
    if (*p == '"')
        return js_skip_string(p, e);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < e) {
            if (*p == '"') {
                p = js_skip_string(p, e);
                if (!p)
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
            p++;
        }
        return NULL;
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\r' &&
           *p != '\n')
        p++;
    return p;
}

/* obj at '{': returns the start of the value of member `key` (direct member only), or NULL. */
static const char *js_member(const char *obj, const char *e, const char *key)
{
    size_t klen = strlen(key);
    const char *p = js_ws(obj, e);
    if (p >= e || *p != '{')
        return NULL;
    p = js_ws(p + 1, e);
    while (p < e && *p == '"') {
        const char *kend = js_skip_string(p, e);
        if (!kend)
            return NULL;
        int match = (size_t)(kend - p - 2) == klen && memcmp(p + 1, key, klen) == 0;
        p = js_ws(kend, e);
        if (p >= e || *p != ':')
            return NULL;
        p = js_ws(p + 1, e);
        if (match)
            return p;
        p = js_skip_value(p, e);
        if (!p)
            return NULL;
        p = js_ws(p, e);
        if (p < e && *p == ',')
            p = js_ws(p + 1, e);
        else
            break;
    }
    return NULL;
}

/* Copies the string value at v (a '"') into out; simple escapes are undone, \u kept ASCII.
 * Returns the value's length, or -1 when v is not a string or it does not fit. */
static long js_string(const char *v, const char *e, char *out, size_t outsz)
{
    if (!v || v >= e || *v != '"' || outsz == 0)
        return -1;
    size_t o = 0;
    for (const char *p = v + 1; p < e; p++) {
        char c = *p;
        if (c == '"') {
            out[o] = '\0';
            return (long)o;
        }
        if (c == '\\') {
            if (++p >= e)
                return -1;
            c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p;
            if (*p == 'u') { /* keep ASCII code points, replace the rest */
                if (e - p < 5)
                    return -1;
                char hex[5] = {p[1], p[2], p[3], p[4], 0};
                long cp = strtol(hex, NULL, 16);
                c = cp > 0 && cp < 0x80 ? (char)cp : '?';
                p += 4;
            }
        }
        if (o + 1 >= outsz)
            return -1;
        out[o++] = c;
    }
    return -1;
}

/* "status":"OK" at the top level of the response object. */
static int json_status_ok(const char *body, size_t len)
{
    char st[16];
    return js_string(js_member(body, body + len, "status"), body + len, st, sizeof st) >= 0 &&
           strcmp(st, "OK") == 0;
}

/* ---------------------------------------------------------------------------------------- */
/* HTTP/1.1 client connection                                                               */

struct conn {
    const struct target *t;
    int fd;
    int used;      /* a request has completed on this connection (keep-alive reuse) */
    struct buf in; /* received, not yet consumed bytes: in.data[in_off..in.len) */
    size_t in_off;
    struct buf body; /* the last response's body */
};

struct response {
    int status;
    int close; /* server asked to close, or the body was delimited by EOF */
};

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->used = 0;
    buf_reset(&c->in);
    c->in_off = 0;
}

static int conn_open(struct conn *c)
{
    conn_close(c);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct timeval tv = {.tv_sec = opt.timeout_s};
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)&c->t->addr, sizeof c->t->addr) != 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    return 0;
}

/* Writes every byte of iov[0..n) (the array is consumed). */
static int send_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)(n > IOV_MAX ? IOV_MAX : n)};
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Receives more bytes into c->in. Returns bytes read, 0 on EOF, -1 on error/timeout. */
static ssize_t conn_fill(struct conn *c)
{
    if (c->in_off > 0 && c->in_off == c->in.len) {
        c->in.len = c->in_off = 0;
    } else if (c->in_off > 65536 && c->in_off * 2 > c->in.len) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
    if (buf_reserve(&c->in, 65536) != 0)
        return -1;
    for (;;) {
        ssize_t r = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0) {
            c->in.len += (size_t)r;
            c->in.data[c->in.len] = '\0';
        }
        return r;
    }
}

static size_t conn_avail(const struct conn *c)
{
    return c->in.len - c->in_off;
}

/* Value of header `name` inside the header block [h, e), or NULL; *vlen gets its length. */
static const char *find_header(const char *h, const char *e, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *line = memchr(h, '\n', (size_t)(e - h)); /* skip the status line */
    while (line && ++line < e) {
        const char *eol = memchr(line, '\n', (size_t)(e - line));
        if (!eol)
            eol = e;
        if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 &&
            line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = eol < e ? eol : NULL;
    }
    return NULL;
}

static int value_has_token(const char *v, size_t vlen, const char *tok)
{
    size_t tlen = strlen(tok);
    for (size_t i = 0; i + tlen <= vlen; i++)
        if (strncasecmp(v + i, tok, tlen) == 0)
            return 1;
    return 0;
}

/* Appends n bytes of the stream to c->body (from the buffered bytes first, then recv). */
static int read_body_bytes(struct conn *c, size_t n)
{
    if (c->body.len + n > MAX_BODY_BYTES)
        return -1;
    size_t take = conn_avail(c) < n ? conn_avail(c) : n;
    if (buf_append(&c->body, c->in.data + c->in_off, take) != 0)
        return -1;
    c->in_off += take;
    n -= take;
    if (n && buf_reserve(&c->body, n) != 0)
        return -1;
    while (n > 0) {
        ssize_t r = recv(c->fd, c->body.data + c->body.len, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c->body.len += (size_t)r;
        n -= (size_t)r;
    }
    c->body.data[c->body.len] = '\0';
    return 0;
}

/* Ensures a CRLF-terminated line is buffered; returns its length without CRLF, or -1. */
static long buffered_line(struct conn *c)
{
    for (int guard = 0; guard < 1024; guard++) {
        const char *s = c->in.data + c->in_off;
        const char *nl = conn_avail(c) ? memchr(s, '\n', conn_avail(c)) : NULL;
        if (nl)
            return (long)(nl - s);
        if (conn_avail(c) > MAX_HEAD_BYTES || conn_fill(c) <= 0)
            return -1;
    }
    return -1;
}

static int read_chunked(struct conn *c)
{
    for (;;) {
        long ll = buffered_line(c);
        if (ll < 0)
            return -1;
        char *end;
        unsigned long size = strtoul(c->in.data + c->in_off, &end, 16);
        if (end == c->in.data + c->in_off)
            return -1;
        c->in_off += (size_t)ll + 1;
        if (size == 0) { /* trailers until an empty line */
            for (int i = 0; i < 64; i++) {
                ll = buffered_line(c);
                if (ll < 0)
                    return -1;
                const char *s = c->in.data + c->in_off;
                c->in_off += (size_t)ll + 1;
                if (ll == 0 || (ll == 1 && s[0] == '\r'))
                    return 0;
            }
            return -1;
        }
        if (size > MAX_BODY_BYTES || read_body_bytes(c, size) != 0)
            return -1;
        ll = buffered_line(c); /* the CRLF after the chunk data */
        if (ll < 0)
            return -1;
        c->in_off += (size_t)ll + 1;
    }
}

/* Reads one response (head + body into c->body). With want_interim, a 1xx response is
 * returned as such; otherwise 1xx responses are skipped. Returns 0, or -1 on I/O or protocol
 * error; *got_bytes tells whether any byte of a response arrived (stale-connection detection). */
static int read_response(struct conn *c, struct response *r, int want_interim, int *got_bytes)
{
    if (conn_avail(c))
        *got_bytes = 1;
    for (int guard = 0; guard < 16; guard++) {
        const char *hend = NULL;
        for (int g2 = 0; g2 < 4096; g2++) {
            size_t av = conn_avail(c);
            if (av >= 4)
                hend = memmem(c->in.data + c->in_off, av, "\r\n\r\n", 4);
            if (hend || av > MAX_HEAD_BYTES)
                break;
            ssize_t n = conn_fill(c);
            if (n <= 0)
                return -1;
            *got_bytes = 1;
        }
        if (!hend)
            return -1;
        const char *h = c->in.data + c->in_off;
        const char *he = hend + 2;
        int minor = 0, status = 0;
        if (sscanf(h, "HTTP/1.%d %3d", &minor, &status) != 2)
            return -1;
        c->in_off = (size_t)(hend + 4 - c->in.data);
        if (status >= 100 && status < 200) {
            if (want_interim) {
                r->status = status;
                r->close = 0;
                buf_reset(&c->body);
                return 0;
            }
            continue;
        }
        size_t vl;
        const char *v;
        r->status = status;
        r->close = minor == 0;
        if ((v = find_header(h, he, "Connection", &vl)) != NULL) {
            if (value_has_token(v, vl, "close"))
                r->close = 1;
            else if (value_has_token(v, vl, "keep-alive"))
                r->close = 0;
        }
        buf_reset(&c->body);
        if ((v = find_header(h, he, "Transfer-Encoding", &vl)) && value_has_token(v, vl, "chunked"))
            return read_chunked(c);
        if ((v = find_header(h, he, "Content-Length", &vl)) != NULL) {
            char *end;
            unsigned long long len = strtoull(v, &end, 10);
            if (end == v || len > MAX_BODY_BYTES)
                return -1;
            return read_body_bytes(c, (size_t)len);
        }
        if (status == 204 || status == 304)
            return 0;
        /* delimited by EOF */
        r->close = 1;
        for (;;) {
            if (read_body_bytes(c, conn_avail(c)) != 0)
                return -1;
            ssize_t n = conn_fill(c);
            if (n < 0)
                return -1;
            if (n == 0)
                return 0;
        }
    }
    return -1;
}

/* Waits up to ms for the socket to become readable: 1 readable, 0 timeout, -1 error. */
static int wait_readable(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (;;) {
        int n = poll(&pfd, 1, ms);
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 ? -1 : n > 0;
    }
}

/* One request/response exchange. head = request line + headers + blank line; body iov follows.
 * expect: the head carries "Expect: 100-continue" — wait for the interim 100 (at most 3 s, like
 * the Apache client) before sending the body. A reused connection that fails before any
 * response byte arrived is reopened and the request sent once more (as the JDK client does). */
static int http_exchange(struct conn *c, const struct buf *head, const struct iovec *body,
                         int nbody, int expect, struct response *r)
{
    struct iovec iov[8];
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && conn_open(c) != 0)
            return -1;
        int reused = c->used;
        int got = 0, rc = -1;
        buf_reset(&c->body);
        iov[0] = (struct iovec){head->data, head->len};
        int n = 1;
        if (!expect)
            for (int i = 0; i < nbody && n < 8; i++)
                iov[n++] = body[i];
        if (send_all(c->fd, iov, n) == 0) {
            rc = 0;
            if (expect) {
                int w = conn_avail(c) ? 1 : wait_readable(c->fd, EXPECT_WAIT_MS);
                int send_body = 1;
                if (w < 0) {
                    rc = -1;
                } else if (w > 0) {
                    rc = read_response(c, r, 1, &got);
                    if (rc == 0 && r->status >= 200) { /* final answer without the body */
                        send_body = 0;
                        r->close = 1; /* the body we announced was never sent */
                    }
                }
                if (rc == 0 && send_body) {
                    n = 0;
                    for (int i = 0; i < nbody && n < 8; i++)
                        iov[n++] = body[i];
                    rc = send_all(c->fd, iov, n);
                    if (rc == 0)
                        rc = read_response(c, r, 0, &got);
                }
            } else {
                rc = read_response(c, r, 0, &got);
            }
        }
        if (rc == 0) {
            c->used = 1;
            if (r->close)
                conn_close(c);
            return 0;
        }
        conn_close(c);
        if (!reused || got)
            return -1;
    }
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Workers, shared state and statistics                                                     */

/* Relay mode: one arrival at the recipient, named by the comment the sender put in. */
struct arrival {
    int sender;
    uint64_t seq;
    int64_t listed_ns;
};

enum role { ROLE_SENDER, ROLE_LISTER, ROLE_FETCHER };

struct worker {
    int id;
    enum role role;
    pthread_t th;
    struct conn c;
    struct buf head;
    uint32_t *lat_us;
    size_t nlat, caplat;
    uint64_t ok, failed, http;
    uint64_t seq;
    /* relay mode */
    int64_t *ok_ns; /* sender: when the sendEdoc of each seq answered OK, -1 when it failed */
    size_t n_ok_ns, cap_ok_ns;
    uint64_t late;       /* sender: requests that left over LATE_MS after their scheduled time */
    struct arrival *arr; /* fetcher */
    size_t n_arr, cap_arr;
    uint64_t foreign; /* fetcher: packages of another run, acknowledged and not counted */
};

static atomic_long g_budget;  /* remaining requests/cycles when --requests; else unused */
static int64_t g_deadline_ns; /* 0 = none */
static int64_t g_start_ns;
static pthread_mutex_t g_fail_mu = PTHREAD_MUTEX_INITIALIZER;
static char *g_first_fail;          /* first failure, for printing */
static const char *g_end = "limit"; /* why a receive run ended: drained|deadline|limit|error */

/* The template document (mapped read-only) and where the per-request comment goes. */
static const char *g_doc;
static size_t g_doc_len, g_ins;

static int take_ticket(void)
{
    if (g_deadline_ns && mono_ns() >= g_deadline_ns)
        return 0;
    if (opt.requests > 0)
        return atomic_fetch_sub(&g_budget, 1) > 0;
    return 1;
}

static void note_failure(const char *what, const struct conn *c, const struct response *r, int io)
{
    int err = errno;
    pthread_mutex_lock(&g_fail_mu);
    if (!g_first_fail) {
        struct buf b = {0};
        char eb[128];
        if (io)
            buf_printf(&b, "%s: connection error (%s)", what, strerror_r(err, eb, sizeof eb));
        else
            buf_printf(&b, "%s: HTTP %d, body: %.*s%s", what, r->status,
                       (int)(c->body.len > FAIL_SNIPPET ? FAIL_SNIPPET : c->body.len),
                       c->body.data ? c->body.data : "", c->body.len > FAIL_SNIPPET ? "..." : "");
        g_first_fail = buf_steal(&b);
    }
    pthread_mutex_unlock(&g_fail_mu);
}

static void record_latency(struct worker *w, int64_t t0)
{
    int64_t us = (mono_ns() - t0) / 1000;
    if (w->nlat == w->caplat) {
        size_t cap = w->caplat ? w->caplat * 2 : 4096;
        uint32_t *p = realloc(w->lat_us, cap * sizeof *p);
        if (!p)
            return;
        w->lat_us = p;
        w->caplat = cap;
    }
    w->lat_us[w->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const uint32_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t k = (size_t)(q * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1] / 1000.0;
}

/* Request line and the headers common to the Apache-client operations. */
static int apache_head(struct buf *h, const struct target *t, const char *op,
                       const struct params *ps, size_t body_len)
{
    buf_reset(h);
    int rc = buf_printf(h, "POST %s/%s HTTP/1.1\r\n", t->prefix, op);
    rc |= append_sdk_headers(h, ps, t->secret);
    rc |= buf_printf(h,
                     "User-Agent: " SDK_USER_AGENT "\r\nXroadVnpt-version: " SDK_VERSION "\r\n"
                     "Content-Type: " CT_JSON "\r\nContent-Length: %zu\r\nHost: %s\r\n"
                     "Connection: Keep-Alive\r\n%s\r\n",
                     body_len, t->hostport, body_len ? "Expect: 100-continue\r\n" : "");
    return rc ? -1 : 0;
}

/* One sendEdoc: the template with a unique comment, as the JDK client sends it. Returns 1 ok,
 * 0 failed (FAIL or HTTP error), -1 internal error. print: print the response (once mode). */
static int do_send(struct worker *w, int print, int64_t sched_ns)
{
    char comment[128];
    int clen = snprintf(comment, sizeof comment, "<!-- vxpload %s %d:%" PRIu64 " -->\n", g_nonce,
                        w->id, w->seq++);
    struct sha256_ctx sc;
    uint8_t dg[SHA256_LEN];
    char hashfile[SHA256_HEX_SIZE];
    if (sha256_init(&sc) != 0 || sha256_update(&sc, g_doc, g_ins) != 0 ||
        sha256_update(&sc, comment, (size_t)clen) != 0 ||
        sha256_update(&sc, g_doc + g_ins, g_doc_len - g_ins) != 0 || sha256_final(&sc, dg) != 0) {
        sha256_abort(&sc);
        return -1;
    }
    hex_unpadded(dg, hashfile);

    struct params ps;
    const struct target *t = w->c.t;
    params_init(&ps, t->system, CT_OCTET);
    params_add(&ps, "from", t->system);
    params_add(&ps, "servicetype", "eDoc");
    params_add(&ps, "messagetype", opt.messagetype);
    params_add(&ps, "hash-file", hashfile);

    size_t body_len = g_doc_len + (size_t)clen + 2;
    struct buf *h = &w->head;
    buf_reset(h);
    int rc =
        buf_printf(h, "POST %s/sendEdoc HTTP/1.1\r\nContent-Type: " CT_OCTET "\r\n", t->prefix);
    rc |= append_sdk_headers(h, &ps, t->secret);
    rc |= buf_printf(h,
                     "User-Agent: " SDK_USER_AGENT "\r\nXroadVnpt-version: " SDK_VERSION "\r\n"
                     "Cache-Control: no-cache\r\nPragma: no-cache\r\nHost: %s\r\n"
                     "Accept: " JDK_ACCEPT
                     "\r\nConnection: keep-alive\r\nContent-Length: %zu\r\n\r\n",
                     t->hostport, body_len);
    if (rc)
        return -1;
    struct iovec body[4] = {{(void *)g_doc, g_ins},
                            {comment, (size_t)clen},
                            {(void *)(g_doc + g_ins), g_doc_len - g_ins},
                            {"\r\n", 2}};
    struct response r = {0};
    int64_t t0 = mono_ns();
    w->http++;
    if (http_exchange(&w->c, h, body, 4, 0, &r) != 0) {
        note_failure("sendEdoc", &w->c, &r, 1);
        return 0;
    }
    record_latency(w, sched_ns ? sched_ns : t0);
    if (print) {
        int lim = opt.print_limit;
        printf("sendEdoc: HTTP %d, %zu-byte body: %.*s%s\n", r.status, w->c.body.len,
               (int)(w->c.body.len > (size_t)lim ? (size_t)lim : w->c.body.len),
               w->c.body.data ? w->c.body.data : "", w->c.body.len > (size_t)lim ? "..." : "");
    }
    if (!json_status_ok(w->c.body.data ? w->c.body.data : "", w->c.body.len)) {
        note_failure("sendEdoc", &w->c, &r, 0);
        return 0;
    }
    return 1;
}

/* ---- receive mode ---- */

/* Ids already taken from a list in this run: a package listed again (e.g. one that failed, and
 * stays listed by design) is not fetched twice, and a list of nothing new ends the run. */
struct idset {
    char **slot;
    size_t cap, n;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Adds s; returns 1 if added, 0 if present, -1 on allocation failure. */
static int idset_add(struct idset *st, const char *s)
{
    if ((st->n + 1) * 2 > st->cap) {
        size_t ncap = st->cap ? st->cap * 2 : 1024;
        char **ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < st->cap; i++)
            if (st->slot[i]) {
                size_t j = fnv1a(st->slot[i]) & (ncap - 1);
                while (ns[j])
                    j = (j + 1) & (ncap - 1);
                ns[j] = st->slot[i];
            }
        free(st->slot);
        st->slot = ns;
        st->cap = ncap;
    }
    size_t j = fnv1a(s) & (st->cap - 1);
    while (st->slot[j]) {
        if (strcmp(st->slot[j], s) == 0)
            return 0;
        j = (j + 1) & (st->cap - 1);
    }
    st->slot[j] = strdup(s);
    if (!st->slot[j])
        return -1;
    st->n++;
    return 1;
}

static void idset_free(struct idset *st)
{
    for (size_t i = 0; i < st->cap; i++)
        free(st->slot[i]);
    free(st->slot);
    st->slot = NULL;
    st->cap = st->n = 0;
}

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char **q;    /* ids to fetch: q[head..len) */
    int64_t *qt; /* when each was first listed (the list's reply arrived) */
    size_t head, len, cap;
    int inflight; /* cycles started and not finished */
    int listing;
    int done;
    uint64_t lists, listed, list_failed;
    struct idset seen;
} rq = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* getReceivedEdocList; appends the new ids to rq (caller holds no lock; takes it to append).
 * Returns the number of new ids, or -1 on failure. */
static int do_list(struct worker *w)
{
    struct params ps;
    params_init(&ps, w->c.t->system, CT_JSON);
    params_add(&ps, "servicetype", "eDoc");
    params_add(&ps, "messagetype", "edoc");
    if (apache_head(&w->head, w->c.t, "getReceivedEdocList", &ps, 0) != 0)
        return -1;
    struct response r = {0};
    w->http++;
    if (http_exchange(&w->c, &w->head, NULL, 0, 0, &r) != 0) {
        note_failure("getReceivedEdocList", &w->c, &r, 1);
        return -1;
    }
    const char *b = w->c.body.data ? w->c.body.data : "";
    const char *e = b + w->c.body.len;
    if (!json_status_ok(b, w->c.body.len)) {
        note_failure("getReceivedEdocList", &w->c, &r, 0);
        return -1;
    }
    const char *p = js_member(b, e, "data");
    if (!p || *p != '[') {
        note_failure("getReceivedEdocList (no data array)", &w->c, &r, 0);
        return -1;
    }
    int added = 0;
    int64_t listed_ns = mono_ns();
    pthread_mutex_lock(&rq.mu);
    rq.lists++;
    p = js_ws(p + 1, e);
    while (p && p < e && *p != ']') {
        char id[ID_MAX];
        if (*p == '{' && js_string(js_member(p, e, "docId"), e, id, sizeof id) > 0) {
            rq.listed++;
            int a = idset_add(&rq.seen, id);
            if (a > 0 && rq.len == rq.cap) {
                size_t ncap = rq.cap ? rq.cap * 2 : 1024;
                char **nq = realloc(rq.q, ncap * sizeof *nq);
                if (nq)
                    rq.q = nq;
                int64_t *nt = nq ? realloc(rq.qt, ncap * sizeof *nt) : NULL;
                if (nt)
                    rq.qt = nt;
                if (!nq || !nt)
                    a = -1;
                else
                    rq.cap = ncap;
            }
            if (a > 0 && (rq.q[rq.len] = strdup(id)) != NULL) {
                rq.qt[rq.len] = listed_ns;
                rq.len++;
                added++;
            }
        }
        p = js_skip_value(p, e);
        if (p) {
            p = js_ws(p, e);
            if (p < e && *p == ',')
                p = js_ws(p + 1, e);
        }
    }
    pthread_mutex_unlock(&rq.mu);
    return added;
}

/* The first bytes of the document in a getEdoc reply's base64 "data" string (data at its '"'):
 * at most DOC_HEAD_B64 characters decoded into head, which holds DOC_HEAD_B64 / 4 * 3 + 3. */
#define DOC_HEAD_B64 1024
static size_t doc_head(const char *data, const char *e, uint8_t *head)
{
    char text[DOC_HEAD_B64];
    size_t n = 0;
    for (const char *p = data + 1; p < e && *p != '"' && n < sizeof text; p++)
        if (*p != '\\') /* a JSON writer may escape '/' */
            text[n++] = *p;
    n -= n % 4;
    struct b64_dec d = {0};
    size_t out = 0;
    return b64_dec_update(&d, text, n, head, &out) == 0 ? out : 0;
}

/* getEdoc + updateStatus done for one package. Returns 1 ok, 0 failed. head (may be NULL):
 * receives the first bytes of the document (*head_len of them). */
static int do_cycle(struct worker *w, const char *id, uint8_t *head, size_t *head_len)
{
    static const struct iovec body = {"{}", 2};
    struct params ps;
    struct response r = {0};
    int64_t t0 = mono_ns();

    params_init(&ps, w->c.t->system, CT_JSON);
    params_add(&ps, "filePath", opt.filepath);
    params_add(&ps, "docId", id);
    if (apache_head(&w->head, w->c.t, "getEdoc", &ps, 2) != 0)
        return 0;
    w->http++;
    if (http_exchange(&w->c, &w->head, &body, 1, 1, &r) != 0) {
        note_failure("getEdoc", &w->c, &r, 1);
        return 0;
    }
    const char *b = w->c.body.data ? w->c.body.data : "";
    const char *data = js_member(b, b + w->c.body.len, "data");
    int got = json_status_ok(b, w->c.body.len) && data && data[0] == '"' && data[1] != '"';
    if (!got)
        note_failure("getEdoc", &w->c, &r, 0);
    else if (head)
        *head_len = doc_head(data, b + w->c.body.len, head);

    /* a fresh updateStatus object as production integrations write it: "docid" */
    params_init(&ps, w->c.t->system, CT_JSON);
    params_add(&ps, "status", got ? "done" : "fail");
    params_add(&ps, "docid", id);
    if (apache_head(&w->head, w->c.t, "updateStatus", &ps, 2) != 0)
        return 0;
    w->http++;
    if (http_exchange(&w->c, &w->head, &body, 1, 1, &r) != 0) {
        note_failure("updateStatus", &w->c, &r, 1);
        return 0;
    }
    if (!json_status_ok(w->c.body.data ? w->c.body.data : "", w->c.body.len)) {
        note_failure("updateStatus", &w->c, &r, 0);
        return 0;
    }
    if (got)
        record_latency(w, t0);
    return got;
}

static void rq_wait(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&rq.cv, &rq.mu, &ts);
}

static void receive_loop(struct worker *w)
{
    for (;;) {
        char *id = NULL;
        pthread_mutex_lock(&rq.mu);
        while (!rq.done) {
            if (g_deadline_ns && mono_ns() >= g_deadline_ns) {
                rq.done = 1;
                g_end = "deadline";
                break;
            }
            if (rq.head < rq.len) {
                id = rq.q[rq.head];
                rq.q[rq.head++] = NULL;
                break;
            }
            if (opt.requests > 0 && atomic_load(&g_budget) <= 0) {
                rq.done = 1; /* --requests reached: no further list */
                break;
            }
            if (rq.inflight == 0 && !rq.listing) {
                /* everything taken so far is finished: a fresh list shows only what is left */
                rq.listing = 1;
                pthread_mutex_unlock(&rq.mu);
                int n = do_list(w);
                pthread_mutex_lock(&rq.mu);
                rq.listing = 0;
                if (n < 0) {
                    rq.list_failed++;
                    g_end = "error";
                } else if (n == 0) {
                    g_end = "drained";
                }
                if (n <= 0)
                    rq.done = 1;
                pthread_cond_broadcast(&rq.cv);
                continue;
            }
            rq_wait();
        }
        if (id && !take_ticket()) {
            rq.done = 1;
            free(id);
            id = NULL;
        }
        if (!id) {
            pthread_cond_broadcast(&rq.cv);
            pthread_mutex_unlock(&rq.mu);
            return;
        }
        rq.inflight++;
        pthread_mutex_unlock(&rq.mu);

        if (do_cycle(w, id, NULL, NULL))
            w->ok++;
        else
            w->failed++;
        free(id);

        pthread_mutex_lock(&rq.mu);
        rq.inflight--;
        pthread_cond_broadcast(&rq.cv);
        pthread_mutex_unlock(&rq.mu);
    }
}

/* ---- relay mode ----
 * Senders push sendEdoc at --url (at a fixed rate, or back to back), a lister polls the
 * recipient's inbox at --recv-url every --poll-ms, fetchers take each new package (getEdoc +
 * updateStatus done) and read the sender's comment back from it. The delivery latency of a
 * package is the time from its sendEdoc's OK to the list reply that first showed it. */

#define LATE_MS 10
#define SETTLE_MS 1000 /* everything arrived: list a while longer, to see late duplicates */

static atomic_int g_senders_left;
static atomic_long g_acked;   /* sendEdoc answered OK */
static atomic_long g_matched; /* packages of this run fetched at the recipient (duplicates too) */
static const char *g_relay_end = "complete";

static int push_ok_ns(struct worker *w, int64_t t)
{
    if (w->n_ok_ns == w->cap_ok_ns) {
        size_t cap = w->cap_ok_ns ? w->cap_ok_ns * 2 : 1024;
        int64_t *n = realloc(w->ok_ns, cap * sizeof *n);
        if (!n)
            return -1;
        w->ok_ns = n;
        w->cap_ok_ns = cap;
    }
    w->ok_ns[w->n_ok_ns++] = t;
    return 0;
}

static void sleep_until(int64_t t)
{
    struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Open loop (--rate): connection k sends its j-th package at start + (k + j * conns) / rate; a
 * package still waiting for the previous reply leaves late and its send latency counts from its
 * scheduled time. */
static void relay_sender(struct worker *w)
{
    for (uint64_t j = 0;; j++) {
        int64_t due = 0;
        if (opt.rate > 0) {
            due = g_start_ns + (int64_t)(((double)w->id + (double)j * opt.conns) * 1e9 / opt.rate);
            if (due >= g_deadline_ns)
                break;
            sleep_until(due);
            if (mono_ns() - due > (int64_t)LATE_MS * 1000000)
                w->late++;
        } else if (!take_ticket()) {
            break;
        }
        int rc = do_send(w, 0, due);
        if (push_ok_ns(w, rc > 0 ? mono_ns() : -1) != 0)
            rc = -1;
        if (rc > 0) {
            w->ok++;
            atomic_fetch_add(&g_acked, 1);
        } else {
            w->failed++;
        }
        if (rc < 0)
            break;
    }
    atomic_fetch_sub(&g_senders_left, 1);
}

static void relay_lister(struct worker *w)
{
    int64_t drain_deadline = 0, settle_until = 0;
    for (;;) {
        int64_t t0 = mono_ns();
        if (do_list(w) < 0) {
            w->failed++;
            pthread_mutex_lock(&rq.mu);
            rq.list_failed++;
            pthread_mutex_unlock(&rq.mu);
        }
        pthread_cond_broadcast(&rq.cv);
        int64_t now = mono_ns();
        if (atomic_load(&g_senders_left) == 0) {
            if (!drain_deadline)
                drain_deadline = now + (int64_t)(opt.drain_s * 1e9);
            pthread_mutex_lock(&rq.mu);
            int idle = rq.head == rq.len && rq.inflight == 0;
            pthread_mutex_unlock(&rq.mu);
            if (idle && atomic_load(&g_matched) >= atomic_load(&g_acked)) {
                if (!settle_until)
                    settle_until = now + (int64_t)SETTLE_MS * 1000000;
                else if (now >= settle_until)
                    break;
            } else {
                settle_until = 0;
            }
            if (now >= drain_deadline) {
                g_relay_end = "drain-timeout";
                break;
            }
        }
        sleep_until(t0 + (int64_t)opt.poll_ms * 1000000);
    }
    pthread_mutex_lock(&rq.mu);
    rq.done = 1;
    pthread_cond_broadcast(&rq.cv);
    pthread_mutex_unlock(&rq.mu);
}

/* Which package of this run a document is: the sender's comment "<!-- vxpload NONCE K:SEQ -->". */
static int parse_origin(const uint8_t *head, size_t len, int *sender, uint64_t *seq)
{
    char marker[96];
    int m = snprintf(marker, sizeof marker, "<!-- vxpload %s ", g_nonce);
    const char *p = memmem(head, len, marker, (size_t)m);
    if (!p)
        return -1;
    p += m;
    const char *e = (const char *)head + len;
    char num[48];
    size_t n = 0;
    while (p < e && *p != ' ' && n + 1 < sizeof num)
        num[n++] = *p++;
    num[n] = '\0';
    int k;
    uint64_t q;
    char tail;
    if (sscanf(num, "%d:%" SCNu64 "%c", &k, &q, &tail) != 2 || k < 0 || k >= opt.conns)
        return -1;
    *sender = k;
    *seq = q;
    return 0;
}

static void relay_fetcher(struct worker *w)
{
    uint8_t head[DOC_HEAD_B64 / 4 * 3 + 3];
    for (;;) {
        pthread_mutex_lock(&rq.mu);
        while (!rq.done && rq.head == rq.len)
            rq_wait();
        if (rq.head == rq.len) {
            pthread_mutex_unlock(&rq.mu);
            return;
        }
        char *id = rq.q[rq.head];
        int64_t listed = rq.qt[rq.head];
        rq.q[rq.head++] = NULL;
        rq.inflight++;
        pthread_mutex_unlock(&rq.mu);

        size_t hl = 0;
        int sender;
        uint64_t seq;
        if (!do_cycle(w, id, head, &hl)) {
            w->failed++;
        } else if (parse_origin(head, hl, &sender, &seq) != 0) {
            w->foreign++;
        } else {
            w->ok++;
            atomic_fetch_add(&g_matched, 1);
            if (w->n_arr == w->cap_arr) {
                size_t cap = w->cap_arr ? w->cap_arr * 2 : 1024;
                struct arrival *n = realloc(w->arr, cap * sizeof *n);
                if (n) {
                    w->arr = n;
                    w->cap_arr = cap;
                }
            }
            if (w->n_arr < w->cap_arr)
                w->arr[w->n_arr++] = (struct arrival){sender, seq, listed};
        }
        free(id);
        pthread_mutex_lock(&rq.mu);
        rq.inflight--;
        pthread_cond_broadcast(&rq.cv);
        pthread_mutex_unlock(&rq.mu);
    }
}

static int cmp_arrival(const void *a, const void *b)
{
    const struct arrival *x = a, *y = b;
    if (x->sender != y->sender)
        return x->sender < y->sender ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return (x->listed_ns > y->listed_ns) - (x->listed_ns < y->listed_ns);
}

/* Matches arrivals with acknowledged sends, prints the report and the RESULT line; the exit
 * status: 1 when a request failed, a package arrived twice or an acknowledged one never did. */
static int relay_report(struct worker *ws, int n, double cpu)
{
    uint64_t sent_ok = 0, send_failed = 0, late = 0, fetch_failed = 0, foreign = 0, http = 0;
    uint64_t list_failed = 0;
    size_t n_arr = 0, n_send_lat = 0;
    for (int i = 0; i < n; i++) {
        struct worker *w = &ws[i];
        http += w->http;
        if (w->role == ROLE_SENDER) {
            sent_ok += w->ok;
            send_failed += w->failed;
            late += w->late;
            n_send_lat += w->nlat;
        } else if (w->role == ROLE_FETCHER) {
            fetch_failed += w->failed;
            foreign += w->foreign;
            n_arr += w->n_arr;
        } else {
            list_failed += w->failed;
        }
    }
    struct arrival *arr = malloc((n_arr ? n_arr : 1) * sizeof *arr);
    uint32_t *slat = malloc((n_send_lat ? n_send_lat : 1) * sizeof *slat);
    uint32_t *dlat = malloc((n_arr ? n_arr : 1) * sizeof *dlat);
    if (!arr || !slat || !dlat)
        return 1;
    size_t k = 0, ks = 0;
    for (int i = 0; i < n; i++) {
        if (ws[i].n_arr)
            memcpy(arr + k, ws[i].arr, ws[i].n_arr * sizeof *arr);
        k += ws[i].n_arr;
        if (ws[i].role == ROLE_SENDER && ws[i].nlat)
            memcpy(slat + ks, ws[i].lat_us, ws[i].nlat * sizeof *slat);
        ks += ws[i].role == ROLE_SENDER ? ws[i].nlat : 0;
    }
    qsort(arr, n_arr, sizeof *arr, cmp_arrival);
    qsort(slat, n_send_lat, sizeof *slat, cmp_u32);
    size_t delivered = 0, dups = 0, unacked = 0;
    int64_t last_seen = 0;
    /* the worst delivery latency of the packages acknowledged in each second of the run */
    enum { SERIES_MAX = 600 };
    uint32_t series[SERIES_MAX] = {0};
    int n_series = 0;
    for (size_t i = 0; i < n_arr; i++) {
        const struct arrival *a = &arr[i];
        if (i > 0 && arr[i - 1].sender == a->sender && arr[i - 1].seq == a->seq) {
            dups++;
            continue;
        }
        const struct worker *s = &ws[a->sender];
        if (a->seq >= s->n_ok_ns || s->ok_ns[a->seq] < 0) {
            unacked++; /* its sendEdoc failed or never answered, yet it was stored */
            continue;
        }
        int64_t us = (a->listed_ns - s->ok_ns[a->seq]) / 1000;
        uint32_t v = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
        dlat[delivered++] = v;
        int64_t sec = (s->ok_ns[a->seq] - g_start_ns) / 1000000000;
        if (sec >= 0 && sec < SERIES_MAX) {
            if (v > series[sec])
                series[sec] = v;
            if (sec + 1 > n_series)
                n_series = (int)sec + 1;
        }
        if (a->listed_ns > last_seen)
            last_seen = a->listed_ns;
    }
    qsort(dlat, delivered, sizeof *dlat, cmp_u32);
    size_t missing = sent_ok > delivered ? (size_t)sent_ok - delivered : 0;
    double span = delivered && last_seen > g_start_ns ? (double)(last_seen - g_start_ns) / 1e9 : 0;
    double send_span = (double)(g_deadline_ns ? g_deadline_ns - g_start_ns : 0) / 1e9;
    double delivered_rate = span > 0 ? (double)delivered / span : 0;
    double p50 = pct_ms(dlat, delivered, 0.50), p90 = pct_ms(dlat, delivered, 0.90);
    double p99 = pct_ms(dlat, delivered, 0.99), pmax = delivered ? dlat[delivered - 1] / 1000.0 : 0;
    double s50 = pct_ms(slat, n_send_lat, 0.50), s99 = pct_ms(slat, n_send_lat, 0.99);

    printf("vxpload: mode=relay senders=%d to http://%s%s as %s; recipient %s at http://%s%s "
           "(%d fetchers, list every %d ms)\n",
           opt.conns, opt.t.hostport, opt.t.prefix, opt.t.system, opt.recv.system,
           opt.recv.hostport, opt.recv.prefix, opt.recv_conns, opt.poll_ms);
    if (opt.rate > 0)
        printf("offered: %.1f packages/s for %.1f s (%" PRIu64 " sent over %d ms late)\n", opt.rate,
               send_span, late, LATE_MS);
    else
        printf("offered: back to back\n");
    printf("sendEdoc: ok=%" PRIu64 " failed=%" PRIu64 "  latency ms p50 %.2f p99 %.2f\n", sent_ok,
           send_failed, s50, s99);
    printf("recipient: delivered=%zu duplicates=%zu missing=%zu stored-but-not-acknowledged=%zu "
           "other-runs=%" PRIu64 " fetch failures=%" PRIu64 " list failures=%" PRIu64
           " (ended: %s)\n",
           delivered, dups, missing, unacked, foreign, fetch_failed, list_failed, g_relay_end);
    printf("delivered: %.1f packages/s (first send to last arrival %.2f s)\n", delivered_rate,
           span);
    printf("delivery latency ms (sender's OK -> recipient's list): p50 %.1f  p90 %.1f  p99 %.1f  "
           "max %.1f\n",
           p50, p90, p99, pmax);
    printf("worst delivery latency ms by second of sending:");
    for (int i = 0; i < n_series; i++)
        printf(" %.0f", series[i] / 1000.0);
    printf("\nvxpload's own CPU time: %.2f s\n", cpu);
    if (g_first_fail)
        printf("first failure: %s\n", g_first_fail);
    printf("RESULT mode=relay conns=%d offered=%.1f sent_ok=%" PRIu64 " send_failed=%" PRIu64
           " late=%" PRIu64 " send_p50_ms=%.2f send_p99_ms=%.2f delivered=%zu duplicates=%zu"
           " missing=%zu unacked_stored=%zu foreign=%" PRIu64 " fetch_failed=%" PRIu64
           " list_failed=%" PRIu64 " http=%" PRIu64 " delivered_rate=%.1f span_s=%.3f"
           " p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f client_cpu_s=%.2f end=%s\n",
           opt.conns, opt.rate, sent_ok, send_failed, late, s50, s99, delivered, dups, missing,
           unacked, foreign, fetch_failed, list_failed, http, delivered_rate, span, p50, p90, p99,
           pmax, cpu, g_relay_end);
    fflush(stdout);
    free(arr);
    free(slat);
    free(dlat);
    return send_failed || fetch_failed || list_failed || dups || missing ? 1 : 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (opt.mode == MODE_RELAY) {
        if (w->role == ROLE_SENDER)
            relay_sender(w);
        else if (w->role == ROLE_LISTER)
            relay_lister(w);
        else
            relay_fetcher(w);
    } else if (opt.mode == MODE_RECEIVE) {
        receive_loop(w);
    } else {
        while (take_ticket()) {
            int rc = do_send(w, opt.mode == MODE_ONCE, 0);
            if (rc > 0)
                w->ok++;
            else
                w->failed++;
            if (rc < 0)
                break;
        }
    }
    conn_close(&w->c);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Server memory sampling (/proc/PID/status)                                                */

static long proc_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long kb = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            kb = strtol(line + flen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static atomic_int g_sampler_stop;
static long g_rss_max_kb = -1;

static void *sampler_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_sampler_stop)) {
        long kb = proc_status_kb(opt.pid, "VmRSS");
        if (kb > g_rss_max_kb)
            g_rss_max_kb = kb;
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Options                                                                                  */

static void usage(FILE *f)
{
    fprintf(f, "usage: vxpload --url http://127.0.0.1:PORT[/prefix] --system ID --secret S\n"
               "               [--mode send|receive|once] [--file EDXML] [--connections N]\n"
               "               [--duration SECONDS | --requests N] [--pid SERVER_PID]\n"
               "               [--messagetype edoc|status] [--timeout SECONDS] [--print N]\n"
               "       vxpload --selftest\n"
               "  send     loop sendEdoc with FILE (each request made unique by an XML comment)\n"
               "  receive  as a recipient: list, then getEdoc + updateStatus done per package,\n"
               "           until the inbox holds nothing new or the limit is reached\n"
               "  once     send FILE once and print the response\n"
               "  --pid    sample the server's VmRSS during the run and report VmHWM at the end\n"
               "Last output line: RESULT key=value ... (machine-readable).\n");
}

static int parse_url(const char *url, struct target *t)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0) {
        fprintf(stderr, "vxpload: only http:// URLs are supported\n");
        return -1;
    }
    p += 7;
    const char *hend = p + strcspn(p, ":/");
    char host[64];
    if ((size_t)(hend - p) >= sizeof host || hend == p)
        return -1;
    memcpy(host, p, (size_t)(hend - p));
    host[hend - p] = '\0';
    long port = 80;
    p = hend;
    if (*p == ':') {
        char *end;
        port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535)
            return -1;
        p = end;
    }
    if (*p && *p != '/')
        return -1;
    size_t plen = strlen(p);
    while (plen > 0 && p[plen - 1] == '/') /* endpoint + "/" + op: no trailing slash */
        plen--;
    if (plen >= sizeof t->prefix)
        return -1;
    memcpy(t->prefix, p, plen);
    t->prefix[plen] = '\0';

    memset(&t->addr, 0, sizeof t->addr);
    t->addr.sin_family = AF_INET;
    t->addr.sin_port = htons((uint16_t)port);
    const char *ip = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    if (inet_pton(AF_INET, ip, &t->addr.sin_addr) != 1 ||
        (ntohl(t->addr.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "vxpload: %s: only loopback IPv4 addresses (127.x.x.x) are allowed\n",
                host);
        return -1;
    }
    snprintf(t->hostport, sizeof t->hostport, "%s:%ld", host, port);
    return 0;
}

static int parse_args(int argc, char **argv)
{
    const char *url = NULL, *recv_url = NULL, *mode = "send";
    opt.conns = 1;
    opt.recv_conns = 4;
    opt.poll_ms = 10;
    opt.drain_s = 60;
    opt.timeout_s = 120;
    opt.messagetype = "edoc";
    opt.filepath = "/tmp/vxpload";
    opt.print_limit = 2000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "vxpload: %s needs a value\n", a);
            return -1;
        }
        i++;
        char *end = NULL;
        if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--system") == 0)
            opt.t.system = v;
        else if (strcmp(a, "--secret") == 0)
            opt.t.secret = v;
        else if (strcmp(a, "--file") == 0)
            opt.file = v;
        else if (strcmp(a, "--mode") == 0)
            mode = v;
        else if (strcmp(a, "--messagetype") == 0)
            opt.messagetype = v;
        else if (strcmp(a, "--filepath") == 0)
            opt.filepath = v;
        else if (strcmp(a, "--connections") == 0)
            opt.conns = (int)strtol(v, &end, 10);
        else if (strcmp(a, "--duration") == 0)
            opt.duration = strtod(v, &end);
        else if (strcmp(a, "--requests") == 0)
            opt.requests = strtol(v, &end, 10);
        else if (strcmp(a, "--pid") == 0)
            opt.pid = (pid_t)strtol(v, &end, 10);
        else if (strcmp(a, "--timeout") == 0)
            opt.timeout_s = (int)strtol(v, &end, 10);
        else if (strcmp(a, "--print") == 0)
            opt.print_limit = (int)strtol(v, &end, 10);
        else if (strcmp(a, "--rate") == 0)
            opt.rate = strtod(v, &end);
        else if (strcmp(a, "--recv-url") == 0)
            recv_url = v;
        else if (strcmp(a, "--recv-system") == 0)
            opt.recv.system = v;
        else if (strcmp(a, "--recv-secret") == 0)
            opt.recv.secret = v;
        else if (strcmp(a, "--recv-connections") == 0)
            opt.recv_conns = (int)strtol(v, &end, 10);
        else if (strcmp(a, "--poll-ms") == 0)
            opt.poll_ms = (int)strtol(v, &end, 10);
        else if (strcmp(a, "--drain") == 0)
            opt.drain_s = strtod(v, &end);
        else {
            fprintf(stderr, "vxpload: unknown option %s\n", a);
            return -1;
        }
        if (end && (*end || end == v)) {
            fprintf(stderr, "vxpload: %s: not a number: %s\n", a, v);
            return -1;
        }
    }
    int m;
    for (m = 0; m < N_MODES && strcmp(mode, mode_names[m]) != 0; m++)
        ;
    if (m == N_MODES) {
        fprintf(stderr, "vxpload: unknown mode %s\n", mode);
        return -1;
    }
    opt.mode = (enum mode)m;
    if (!url || !opt.t.system || !opt.t.secret || parse_url(url, &opt.t) != 0) {
        fprintf(stderr, "vxpload: --url (loopback http), --system and --secret are required\n");
        return -1;
    }
    if (opt.mode != MODE_RECEIVE && !opt.file) {
        fprintf(stderr, "vxpload: --file is required for mode %s\n", mode);
        return -1;
    }
    if (opt.mode == MODE_ONCE) {
        opt.conns = 1;
        opt.requests = 1;
        opt.duration = 0;
    }
    if (opt.conns < 1 || opt.conns > MAX_CONNS || opt.requests < 0 || opt.duration < 0 ||
        opt.timeout_s < 1 || opt.print_limit < 0 || opt.pid < 0) {
        fprintf(stderr, "vxpload: option out of range\n");
        return -1;
    }
    if ((opt.mode == MODE_SEND || opt.mode == MODE_RELAY) && opt.requests == 0 &&
        opt.duration == 0) {
        fprintf(stderr, "vxpload: %s mode needs --duration or --requests\n", mode);
        return -1;
    }
    if (opt.mode == MODE_RELAY) {
        if (!recv_url || !opt.recv.system || !opt.recv.secret || parse_url(recv_url, &opt.recv)) {
            fprintf(stderr, "vxpload: relay mode needs --recv-url (loopback http), --recv-system "
                            "and --recv-secret\n");
            return -1;
        }
        if (opt.rate < 0 || (opt.rate > 0 && opt.duration == 0) || opt.recv_conns < 1 ||
            opt.conns + 1 + opt.recv_conns > MAX_CONNS || opt.poll_ms < 1 || opt.poll_ms > 10000 ||
            opt.drain_s < 0 || opt.drain_s > 3600) {
            fprintf(stderr, "vxpload: relay option out of range (--rate needs --duration)\n");
            return -1;
        }
    }
    return 0;
}

/* Maps the template and finds where the unique comment goes: after the XML declaration line
 * (after a UTF-8 BOM if any), or at the very start. */
static int load_template(const char *path, int *fd_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
        fprintf(stderr, "vxpload: %s: cannot read or empty\n", path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        return -1;
    }
    g_doc = m;
    g_doc_len = (size_t)st.st_size;
    size_t p = 0;
    if (g_doc_len >= 3 && memcmp(g_doc, "\xef\xbb\xbf", 3) == 0)
        p = 3;
    g_ins = 0;
    if (g_doc_len - p >= 5 && memcmp(g_doc + p, "<?xml", 5) == 0) {
        size_t lim = g_doc_len - p < 4096 ? g_doc_len - p : 4096;
        const char *q = memmem(g_doc + p, lim, "?>", 2);
        if (q) {
            g_ins = (size_t)(q - g_doc) + 2;
            if (g_ins < g_doc_len && g_doc[g_ins] == '\r')
                g_ins++;
            if (g_ins < g_doc_len && g_doc[g_ins] == '\n')
                g_ins++;
        }
    }
    *fd_out = fd;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--selftest") == 0)
        return selftest();
    if (parse_args(argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sdk_timestamp(g_timestamp);
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(g_nonce, sizeof g_nonce, "%d.%lld.%09ld", (int)getpid(), (long long)ts.tv_sec,
                 ts.tv_nsec);
    }

    int docfd = -1;
    if (opt.file && opt.mode != MODE_RECEIVE && load_template(opt.file, &docfd) != 0)
        return 1;

    /* relay mode: the senders, then the recipient's lister and fetchers */
    int n_workers = opt.mode == MODE_RELAY ? opt.conns + 1 + opt.recv_conns : opt.conns;
    atomic_store(&g_senders_left, opt.conns);
    struct worker *ws = calloc((size_t)n_workers, sizeof *ws);
    if (!ws)
        return 1;
    atomic_store(&g_budget, opt.requests);
    long rss_start = opt.pid ? proc_status_kb(opt.pid, "VmRSS") : -1;
    g_rss_max_kb = rss_start;
    pthread_t sampler;
    int have_sampler =
        opt.pid && rss_start >= 0 && pthread_create(&sampler, NULL, sampler_main, NULL) == 0;

    g_start_ns = mono_ns();
    g_deadline_ns = opt.duration > 0 ? g_start_ns + (int64_t)(opt.duration * 1e9) : 0;
    int started = 0;
    for (int i = 0; i < n_workers; i++) {
        ws[i].id = i;
        ws[i].c.fd = -1;
        ws[i].role = i < opt.conns ? ROLE_SENDER : i == opt.conns ? ROLE_LISTER : ROLE_FETCHER;
        ws[i].c.t = ws[i].role == ROLE_SENDER ? &opt.t : &opt.recv;
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
            break;
        started++;
    }
    if (opt.mode == MODE_RELAY && started < n_workers) {
        /* the roles wait for each other: without all of them the run cannot end */
        fprintf(stderr, "vxpload: cannot start %d threads\n", n_workers);
        exit(1);
    }
    for (int i = 0; i < started; i++)
        pthread_join(ws[i].th, NULL);
    int64_t end_ns = mono_ns();
    if (have_sampler) {
        atomic_store(&g_sampler_stop, 1);
        pthread_join(sampler, NULL);
    }
    long rss_end = opt.pid ? proc_status_kb(opt.pid, "VmRSS") : -1;
    long hwm = opt.pid ? proc_status_kb(opt.pid, "VmHWM") : -1;
    if (rss_end > g_rss_max_kb)
        g_rss_max_kb = rss_end;
    struct rusage ru;
    double cpu = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
              ru.ru_stime.tv_usec / 1e6;
    int relay_rc = opt.mode == MODE_RELAY ? relay_report(ws, started, cpu) : 0;

    uint64_t ok = 0, failed = 0, http = 0;
    size_t nlat = 0;
    for (int i = 0; i < started; i++) {
        ok += ws[i].ok;
        failed += ws[i].failed;
        http += ws[i].http;
        nlat += ws[i].nlat;
    }
    failed += rq.list_failed; /* a failed getReceivedEdocList is a failed request too */
    uint32_t *lat = malloc((nlat ? nlat : 1) * sizeof *lat);
    size_t k = 0;
    for (int i = 0; i < started; i++) {
        if (lat && ws[i].nlat)
            memcpy(lat + k, ws[i].lat_us, ws[i].nlat * sizeof *lat);
        k += ws[i].nlat;
        free(ws[i].lat_us);
        free(ws[i].ok_ns);
        free(ws[i].arr);
        buf_free(&ws[i].head);
        buf_free(&ws[i].c.in);
        buf_free(&ws[i].c.body);
    }
    if (lat)
        qsort(lat, nlat, sizeof *lat, cmp_u32);
    else
        nlat = 0;
    double elapsed = (double)(end_ns - g_start_ns) / 1e9;
    double rate = elapsed > 0 ? (double)ok / elapsed : 0;
    double p50 = pct_ms(lat, nlat, 0.50), p90 = pct_ms(lat, nlat, 0.90);
    double p99 = pct_ms(lat, nlat, 0.99), pmax = nlat ? lat[nlat - 1] / 1000.0 : 0;

    const char *unit = opt.mode == MODE_RECEIVE ? "cycles" : "requests";
    if (opt.mode != MODE_RELAY) {
        printf("vxpload: mode=%s connections=%d url=http://%s%s system=%s", mode_names[opt.mode],
               started, opt.t.hostport, opt.t.prefix, opt.t.system);
        if (g_doc)
            printf(" file=%s (%zu bytes)", opt.file, g_doc_len);
        printf("\n%s: ok=%" PRIu64 " failed=%" PRIu64 " (HTTP requests %" PRIu64 ")\n", unit, ok,
               failed, http);
        if (opt.mode == MODE_RECEIVE)
            printf("lists: %" PRIu64 " (items listed %" PRIu64
                   ", distinct %zu, list failures %" PRIu64 ")\n",
                   rq.lists, rq.listed, rq.seen.n, rq.list_failed);
        printf("elapsed: %.3f s   rate: %.1f %s/s\n", elapsed, rate, unit);
        printf("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", p50, p90, p99, pmax);
        printf("vxpload's own CPU time: %.2f s (%.0f%% of one CPU)\n", cpu,
               elapsed > 0 ? 100 * cpu / elapsed : 0);
        if (opt.pid)
            printf(
                "server pid %d: VmRSS start %ld kB, sampled max %ld kB, end %ld kB; VmHWM %ld kB\n",
                (int)opt.pid, rss_start, g_rss_max_kb, rss_end, hwm);
        if (opt.mode == MODE_RECEIVE)
            printf("ended: %s\n", g_end);
        if (g_first_fail)
            printf("first failure: %s\n", g_first_fail);
        printf("RESULT mode=%s conns=%d ok=%" PRIu64 " failed=%" PRIu64 " http=%" PRIu64
               " elapsed_s=%.3f client_cpu_s=%.2f rate=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f "
               "max_ms=%.2f"
               " server_rss_start_kb=%ld server_rss_max_kb=%ld server_rss_end_kb=%ld"
               " server_hwm_kb=%ld%s%s\n",
               mode_names[opt.mode], started, ok, failed, http, elapsed, cpu, rate, p50, p90, p99,
               pmax, rss_start, g_rss_max_kb, rss_end, hwm, opt.mode == MODE_RECEIVE ? " end=" : "",
               opt.mode == MODE_RECEIVE ? g_end : "");
        fflush(stdout);
    }

    free(lat);
    free(ws);
    free(g_first_fail);
    for (size_t i = rq.head; i < rq.len; i++)
        free(rq.q[i]);
    free(rq.q);
    free(rq.qt);
    idset_free(&rq.seen);
    if (g_doc)
        munmap((void *)g_doc, g_doc_len);
    if (docfd >= 0)
        close(docfd);
    if (opt.mode == MODE_RELAY)
        return relay_rc;
    return failed || started < opt.conns ? 1 : 0;
}
