/* gateway — the call path of the data-sharing gateway (see gateway.h for the design):
 *   parse /gw/{code}/{version}/{rest} from the raw request-target;
 *   authenticate (Bearer token, or the VXP HMAC headers);
 *   find the service (404), the consumer's right to it, its methods and path prefix (403);
 *   the service's size limit (413), the consumer's rate (429), the provider's breaker (503) and
 *   the bound on calls in flight (503);
 *   build the upstream request (end-to-end headers only, the consumer's credentials removed,
 *   X-Consumer-Id, X-Request-Id, Via, X-Forwarded-*), suspend the connection and hand the call
 *   to the forwarder.
 * Every call, refused or forwarded, ends in gw_call_release() and is logged from there. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "audit/chain.h"
#include "gateway/gw_int.h"
#include "util/netaddr.h"
#include "store/committer.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/vxpsig.h"

#define JSON_CT "application/json; charset=utf-8"
#define LOG_PATH_MAX 512 /* bytes of a call's path kept in its log record */

void gateway_config_defaults(struct gateway_config *c)
{
    c->token_ttl_s = 3600;
    c->breaker_failures = 5;
    c->breaker_open_ms = 10000;
    c->retries = 1;
    c->max_in_flight = 4096;
    c->upstream_connections = 64;
    c->tokens_per_client = 100;
}

/* ---------- the call object ---------- */

static void call_free(struct gw_call *c)
{
    curl_slist_free_all(c->headers);
    buf_free(&c->body);
    if (c->body_fd >= 0)
        close(c->body_fd);
    buf_free(&c->resp_head);
    buf_free(&c->resp);
    sha256_abort(&c->resp_hash);
    free(c->path);
    free(c->url);
    free(c);
}

void gw_call_release(struct gw_call *c)
{
    int left = --c->refs;
    if (left > 0)
        return;
    gw_log_call(c);
    call_free(c);
}

/* The HTTP request is over (sent, or the client went away). */
static void request_done(void *p)
{
    struct gw_call *c = p;
    c->req = NULL;
    if (!c->finished) {
        c->client_gone = 1;
        gw_call_unpause(c); /* a paused transfer sees it and stops */
    }
    gw_call_release(c);
}

/* ---------- replies ---------- */

void gw_reply_error(struct gw_call *c, enum lt_err e, const char *detail, int64_t retry_after_s,
                    int async)
{
    struct http_request *req = c->req;
    char *body = lt_err_json(e, detail, NULL);
    unsigned status = (unsigned)lt_err_http(e);
    c->status = (int)status;
    c->error = e;
    http_add_reply_header(req, "X-Request-Id", c->request_id);
    if (retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%lld", (long long)retry_after_s);
        http_add_reply_header(req, "Retry-After", ra);
    }
    if (status == 401)
        http_add_reply_header(req, "WWW-Authenticate",
                              e == LT_ERR_TOKEN_INVALID && http_header(req, "Authorization")
                                  ? "Bearer realm=\"lienthong\", error=\"invalid_token\""
                                  : "Bearer realm=\"lienthong\"");
    if (status == 401) {
        /* unauthenticated: no call record, so the log says who tried */
        char ip[64];
        if (http_client_ip(req, ip, sizeof ip) != 0)
            snprintf(ip, sizeof ip, "?");
        const char *claimed = http_header(req, VXP_HEADER_PREFIX "systemid");
        log_info("gateway: %s %.200s refused client=%s%s%.64s: %s", http_method(req),
                 http_raw_uri(req), ip, claimed ? " claimed=" : "", claimed ? claimed : "",
                 lt_err_name(e));
    }
    size_t len = body ? strlen(body) : 0;
    c->bytes_out = len;
    if (async)
        http_complete(req, status, JSON_CT, body ? body : "", len);
    else
        http_reply(req, status, JSON_CT, body ? body : "", len);
    free(body);
}

/* ---------- the call log ---------- */

struct log_job {
    struct commit_job job;
    struct store_call call;
    int64_t time_ms;
    char digest[SHA256_HEX_SIZE];
    char outcome[48];
    char strings[]; /* every string of call, NUL-separated */
};

static enum store_rc log_execute(struct store *st, struct commit_job *cj)
{
    struct log_job *j = (struct log_job *)cj;
    enum store_rc rc = st->call_insert(st->cls, &j->call);
    if (rc != STORE_ONE_RESULT)
        return rc;
    struct store_txrec rec = {.time_ms = j->time_ms,
                              .actor = j->call.consumer[0] ? j->call.consumer : "anonymous",
                              .operation = "call",
                              .package_id = j->call.request_id,
                              .content_sha256 = j->digest,
                              .outcome = j->outcome};
    return st->txlog_append(st->cls, &rec);
}

static void log_done(struct commit_job *cj, int ok)
{
    if (!ok)
        log_error("gateway: a call record could not be written");
    free(cj);
}

/* Appends s (NUL-terminated) to the job's string area and returns where it landed. */
static const char *put_string(char **cursor, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(*cursor, s, n);
    const char *at = *cursor;
    *cursor += n;
    return at;
}

void gw_log_call(struct gw_call *c)
{
    struct gateway *g = c->gw;
    char resp_sha[SHA256_HEX_SIZE] = "";
    uint8_t d[SHA256_LEN];
    if (c->bytes_out && c->error == LT_ERR_OK && c->resp_hash.md &&
        sha256_final(&c->resp_hash, d) == 0)
        hex_encode(d, SHA256_LEN, resp_sha);
    const char *err_name = c->error == LT_ERR_OK ? "" : lt_err_name(c->error);
    char path[LOG_PATH_MAX + 1];
    snprintf(path, sizeof path, "%s", c->path ? c->path : "");
    const char *strs[] = {c->request_id, c->consumer, c->provider, c->code,           c->version,
                          c->method,     path,        err_name,    c->request_sha256, resp_sha};
    size_t total = 0;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        total += strlen(strs[i]) + 1;
    struct log_job *j = calloc(1, sizeof *j + total);
    if (!j) {
        log_error("gateway: out of memory for a call record");
        return;
    }
    char *cur = j->strings;
    struct store_call *r = &j->call;
    r->time_ms = c->time_ms;
    r->request_id = put_string(&cur, c->request_id);
    r->consumer = put_string(&cur, c->consumer);
    r->provider = put_string(&cur, c->provider);
    r->service_code = put_string(&cur, c->code);
    r->service_version = put_string(&cur, c->version);
    r->method = put_string(&cur, c->method);
    r->path = put_string(&cur, path);
    r->error = put_string(&cur, err_name);
    r->request_sha256 = put_string(&cur, c->request_sha256);
    r->response_sha256 = put_string(&cur, resp_sha);
    r->status = c->status;
    r->duration_us = (mono_ns() - c->start_ns) / 1000;
    r->upstream_us = c->upstream_us;
    r->bytes_in = (int64_t)c->body_len;
    r->bytes_out = (int64_t)c->bytes_out;
    j->time_ms = now_ms();

    /* The transaction-log record carries a digest of every field of the call, so the hash
     * chain covers the call rows too. */
    audit_call_digest(r, j->digest);
    if (c->error != LT_ERR_OK)
        snprintf(j->outcome, sizeof j->outcome, "refused:%d", lt_err_code(c->error));
    else if (c->status >= 400)
        snprintf(j->outcome, sizeof j->outcome, "upstream:%d", c->status);
    else
        snprintf(j->outcome, sizeof j->outcome, "ok");

    j->job.execute = log_execute;
    j->job.done = log_done;
    j->job.lazy = 1; /* the call has been answered: its record may wait for company */
    if (committer_submit(g->committer, &j->job) == 0)
        return;
    /* The committer has stopped (server shutting down): write it ourselves. */
    struct store *st = g->st;
    int ok = st->write_begin(st->cls) == STORE_ONE_RESULT;
    if (ok && log_execute(st, &j->job) == STORE_ONE_RESULT)
        ok = st->write_commit(st->cls) == STORE_ONE_RESULT;
    else if (ok) {
        st->write_rollback(st->cls);
        ok = 0;
    }
    log_done(&j->job, ok);
}

/* ---------- the call path ---------- */

/* Splits "/gw/{code}/{version}{rest}" (raw); rest is "" or starts with '/' or '?'. */
int gw_parse_target(const char *raw, char *code, char *version, const char **rest)
{
    if (strncmp(raw, "/gw/", 4) != 0)
        return -1;
    const char *p = raw + 4;
    size_t n = strcspn(p, "/?");
    if (n == 0 || n > GW_CODE_MAX || p[n] != '/')
        return -1;
    memcpy(code, p, n);
    code[n] = '\0';
    p += n + 1;
    n = strcspn(p, "/?");
    if (n == 0 || n > GW_VERSION_MAX)
        return -1;
    memcpy(version, p, n);
    version[n] = '\0';
    *rest = p + n;
    return gw_valid_code(code) && gw_valid_version(version) ? 0 : -1;
}

/* The length of a segment separator at p as the most lenient upstream reads one: '/', '\\' or
 * their encodings %2F and %5C; 0 when there is none. */
static size_t separator(const char *p, size_t left)
{
    if (*p == '/' || *p == '\\')
        return 1;
    if (left >= 3 && p[0] == '%' &&
        ((p[1] == '2' && (p[2] == 'f' || p[2] == 'F')) ||
         (p[1] == '5' && (p[2] == 'c' || p[2] == 'C'))))
        return 3;
    return 0;
}

/* A path with a "." or ".." segment could leave the granted prefix, or the service's base path,
 * once an upstream normalises it: refused. Segments are read as the most lenient upstream would:
 * split at every separator above, %2E taken as '.', path parameters (";...", as Tomcat reads
 * them) ignored — so "..%2F", "..\\" and "..;x" count as well as "..". */
int gw_has_dot_segment(const char *path, size_t len)
{
    size_t k = 0;
    for (;;) {
        size_t dots = 0, sep = 0;
        int only_dots = 1, params = 0;
        while (k < len && !(sep = separator(path + k, len - k))) {
            if (params) {
                k++;
            } else if (path[k] == ';') {
                params = 1;
                k++;
            } else if (path[k] == '.') {
                dots++;
                k++;
            } else if (len - k >= 3 && path[k] == '%' && path[k + 1] == '2' &&
                       (path[k + 2] == 'e' || path[k + 2] == 'E')) {
                dots++;
                k += 3;
            } else {
                only_dots = 0;
                k++;
            }
        }
        if (only_dots && (dots == 1 || dots == 2))
            return 1;
        if (k >= len)
            return 0;
        k += sep;
    }
}

int gw_valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.' || ch == ':'))
            return 0;
    }
    return n > 0 && n <= GW_REQUEST_ID_MAX;
}

/* Authenticates the consumer into c->consumer (view read-locked). */
static enum lt_err authenticate(struct gw_call *c, const struct gw_view *v)
{
    struct http_request *req = c->req;
    const char *t = http_bearer(req);
    if (t) {
        uint8_t d[SHA256_LEN];
        char hex[SHA256_HEX_SIZE];
        if (sha256(t, strlen(t), d) != 0)
            return LT_ERR_INTERNAL;
        hex_encode(d, SHA256_LEN, hex);
        const char *who = gw_view_token(v, hex, now_ms());
        if (!who)
            return LT_ERR_TOKEN_INVALID;
        snprintf(c->consumer, sizeof c->consumer, "%s", who);
        return LT_ERR_OK;
    }
    const char *id = http_header(req, VXP_HEADER_PREFIX "systemid");
    const char *sign = http_header(req, VXP_HEADER_PREFIX "sign-header");
    const char *mac = http_header(req, VXP_HEADER_PREFIX "hash-header");
    if (!id || !sign || !mac)
        return LT_ERR_TOKEN_INVALID;
    const struct gw_system *sys = strlen(id) <= STORE_ID_MAX ? gw_view_system(v, id) : NULL;
    if (!sys)
        return LT_ERR_AUTH_UNKNOWN_SYSTEM;
    json_t *params = NULL;
    enum lt_err e = vxp_check_signature(id, sys->secret, sign, mac, &params);
    json_decref(params);
    if (e == LT_ERR_OK)
        snprintf(c->consumer, sizeof c->consumer, "%s", id);
    return e;
}

int gateway_system_secret(struct gateway *g, const char *id, char **ret_secret)
{
    *ret_secret = NULL;
    if (gw_view_refresh(g->view) != 0)
        return -1;
    gw_view_rdlock(g->view);
    const struct gw_system *sys = gw_view_system(g->view, id);
    int rc = sys ? ((*ret_secret = strdup(sys->secret)) ? 1 : -1) : 0;
    gw_view_unlock(g->view);
    return rc;
}

struct hdr_ctx {
    struct gw_call *c;
    const char *connection;
    const char *via, *xff, *forwarded, *xfproto;
    int has_accept, failed;
};

static int append_header(struct curl_slist **list, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    if (!line)
        return -1;
    if (*value)
        snprintf(line, n, "%s: %s", name, value);
    else
        snprintf(line, n, "%s;", name); /* curl's form for a header with an empty value */
    struct curl_slist *l = curl_slist_append(*list, line);
    free(line);
    if (!l)
        return -1;
    *list = l;
    return 0;
}

/* Field names alike for a provider: case-insensitive, and "_" for "-" (many servers and CGI
 * gateways read X_Consumer_Id as X-Consumer-Id, so a client must not send either). */
static int same_field(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static int field_prefix(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strlen(name) < n)
        return 0;
    char head[64];
    if (n >= sizeof head)
        return 0;
    memcpy(head, name, n);
    head[n] = '\0';
    return same_field(head, prefix);
}

/* Request headers that never reach the provider: hop-by-hop fields, framing set by the client
 * library, the consumer's credentials, and the fields the gateway sets itself, in any case and
 * with "_" for "-" (X-Forwarded-* and Forwarded are rebuilt from the real peer address). */
static int dropped_request_header(const char *name)
{
    static const char *const names[] = {"Connection",
                                        "Keep-Alive",
                                        "Proxy-Connection",
                                        "TE",
                                        "Trailer",
                                        "Transfer-Encoding",
                                        "Upgrade",
                                        "Proxy-Authorization",
                                        "Proxy-Authenticate",
                                        "Host",
                                        "Content-Length",
                                        "Expect",
                                        "Authorization",
                                        "X-Consumer-Id",
                                        "X-Request-Id",
                                        "Via",
                                        "Forwarded",
                                        "X-Real-Ip",
                                        NULL};
    for (int i = 0; names[i]; i++)
        if (same_field(name, names[i]))
            return 1;
    return field_prefix(name, "X-Forwarded-") || field_prefix(name, VXP_HEADER_PREFIX);
}

static int copy_header(void *ctx, const char *name, const char *value)
{
    struct hdr_ctx *h = ctx;
    if (strcasecmp(name, "Via") == 0)
        h->via = value;
    else if (strcasecmp(name, "X-Forwarded-For") == 0)
        h->xff = value;
    else if (strcasecmp(name, "Forwarded") == 0)
        h->forwarded = value;
    else if (strcasecmp(name, "X-Forwarded-Proto") == 0)
        h->xfproto = value;
    if (dropped_request_header(name) || gw_connection_names(h->connection, name))
        return 0;
    if (strcasecmp(name, "Accept") == 0)
        h->has_accept = 1;
    if (append_header(&h->c->headers, name, value) != 0)
        h->failed = 1;
    return h->failed;
}

static int build_headers(struct gw_call *c)
{
    struct http_request *req = c->req;
    struct hdr_ctx h = {.c = c, .connection = http_header(req, "Connection")};
    http_each_header(req, copy_header, &h);
    char ip[64] = "";
    http_client_ip(req, ip, sizeof ip);
    char line[1024];
    const char *host = http_header(req, "Host");
    int rc = h.failed;
    rc |= append_header(&c->headers, "X-Consumer-Id", c->consumer);
    rc |= append_header(&c->headers, "X-Request-Id", c->request_id);
    snprintf(line, sizeof line, "%s%s1.1 lienthong", h.via ? h.via : "", h.via ? ", " : "");
    rc |= append_header(&c->headers, "Via", line);
    /* What a client says of its own address counts only when the peer is a trusted proxy (which
     * appended it); from anyone else only the peer's real address is passed on. */
    int trusted = addr_list_match_text(c->gw->cfg.trusted_proxies, ip);
    const char *xff = trusted ? h.xff : NULL, *fwd = trusted ? h.forwarded : NULL;
    const char *proto = trusted && h.xfproto && !strcmp(h.xfproto, "https") ? "https" : "http";
    snprintf(line, sizeof line, "%s%s%s", xff ? xff : "", xff ? ", " : "", ip);
    rc |= append_header(&c->headers, "X-Forwarded-For", line);
    snprintf(line, sizeof line, "%s%sfor=%s%s%s;proto=%s", fwd ? fwd : "", fwd ? ", " : "",
             strchr(ip, ':') ? "\"[" : "", ip, strchr(ip, ':') ? "]\"" : "", proto);
    rc |= append_header(&c->headers, "Forwarded", line);
    rc |= append_header(&c->headers, "X-Forwarded-Proto", proto);
    if (host)
        rc |= append_header(&c->headers, "X-Forwarded-Host", host);
    /* curl would add these on its own: none unless the consumer sent them */
    struct curl_slist *l = curl_slist_append(c->headers, "Expect:");
    if (l)
        c->headers = l;
    if (!h.has_accept && (l = curl_slist_append(c->headers, "Accept:")))
        c->headers = l;
    return rc ? -1 : 0;
}

/* SHA-256 of the request body (memory or spool file). */
static int hash_body(struct gw_call *c)
{
    struct sha256_ctx h;
    uint8_t d[SHA256_LEN];
    if (c->body_len == 0) {
        c->request_sha256[0] = '\0';
        return 0;
    }
    if (sha256_init(&h) != 0)
        return -1;
    if (c->body_fd < 0) {
        sha256_update(&h, c->body.data, c->body.len);
    } else {
        char chunk[64 * 1024];
        uint64_t off = 0;
        while (off < c->body_len) {
            ssize_t r = pread(c->body_fd, chunk, sizeof chunk, (off_t)off);
            if (r <= 0) {
                sha256_abort(&h);
                return -1;
            }
            sha256_update(&h, chunk, (size_t)r);
            off += (uint64_t)r;
        }
    }
    if (sha256_final(&h, d) != 0)
        return -1;
    hex_encode(d, SHA256_LEN, c->request_sha256);
    return 0;
}

static void refuse(struct gw_call *c, enum lt_err e, const char *detail, int64_t retry_after_s)
{
    atomic_fetch_add(&c->gw->refused, 1);
    gw_reply_error(c, e, detail, retry_after_s, 0);
}

void gateway_call(struct gateway *g, struct http_request *req)
{
    atomic_fetch_add(&g->calls, 1);
    struct gw_call *c = calloc(1, sizeof *c);
    if (!c) {
        http_reply(req, 503, NULL, "", 0);
        return;
    }
    c->gw = g;
    c->req = req;
    c->refs = 1; /* the HTTP request's */
    c->body_fd = -1;
    c->content_length = -1;
    c->start_ns = mono_ns();
    c->time_ms = now_ms();
    http_set_state(req, c, request_done);
    snprintf(c->method, sizeof c->method, "%s", http_method(req));
    const char *rid = http_header(req, "X-Request-Id");
    if (rid && gw_valid_request_id(rid))
        snprintf(c->request_id, sizeof c->request_id, "%s", rid);
    else if (random_uuid(c->request_id) != 0) {
        refuse(c, LT_ERR_INTERNAL, NULL, 0);
        return;
    }
    if (atomic_load(&g->stopping)) {
        refuse(c, LT_ERR_OVERLOADED, NULL, 0);
        return;
    }
    /* A call is logged under a service (and its provider) only once that service is found:
     * refusals before that count under no service. */
    const char *rest;
    char code[GW_CODE_MAX + 1], version[GW_VERSION_MAX + 1];
    if (gw_parse_target(http_raw_uri(req), code, version, &rest) != 0) {
        refuse(c, LT_ERR_UNKNOWN_SERVICE, "expected /gw/{code}/{version}/{path}", 0);
        return;
    }
    size_t path_len = strcspn(rest, "?");
    /* the whole path for the checks (the log keeps its first LOG_PATH_MAX bytes) */
    c->path = strndup(path_len ? rest : "/", path_len ? path_len : 1);
    if (!c->path) {
        refuse(c, LT_ERR_INTERNAL, NULL, 0);
        return;
    }
    if (gw_has_dot_segment(rest, path_len)) {
        refuse(c, LT_ERR_BAD_PARAMETER, "dot segments are not allowed in the path", 0);
        return;
    }
    if (gw_view_refresh(g->view) != 0) {
        refuse(c, LT_ERR_STORE_FAILED, NULL, 0);
        return;
    }

    /* Decisions taken under the view's read lock; what is needed later is copied. */
    gw_view_rdlock(g->view);
    enum lt_err e = authenticate(c, g->view);
    const struct store_service *svc = NULL;
    const struct store_grant *gr = NULL;
    if (e == LT_ERR_OK && !(svc = gw_view_service(g->view, code, version)))
        e = LT_ERR_UNKNOWN_SERVICE;
    if (svc) {
        memcpy(c->code, code, sizeof code);
        memcpy(c->version, version, sizeof version);
        snprintf(c->provider, sizeof c->provider, "%s", svc->provider_system);
    }
    if (e == LT_ERR_OK && (!(gr = gw_view_grant(g->view, c->consumer, code, version)) ||
                           !gw_grant_allows(gr->methods, gr->path_prefix, c->method, c->path)))
        e = LT_ERR_NOT_GRANTED;
    int64_t rate = 0, burst = 0, max_request = 0;
    if (e == LT_ERR_OK) {
        size_t base = strlen(svc->url);
        while (base && svc->url[base - 1] == '/')
            base--;
        size_t rl = strlen(rest);
        c->url = malloc(base + rl + 1);
        if (c->url) {
            memcpy(c->url, svc->url, base);
            memcpy(c->url + base, rest, rl + 1);
        }
        c->timeout_ms = svc->timeout_ms;
        c->max_response = svc->max_response_bytes;
        max_request = svc->max_request_bytes;
        rate = gr->rate_per_s ? gr->rate_per_s : svc->rate_per_s;
        burst = gr->burst ? gr->burst : (gr->rate_per_s ? gr->rate_per_s : svc->burst);
    }
    gw_view_unlock(g->view);
    if (e != LT_ERR_OK) {
        refuse(c, e, NULL, 0);
        return;
    }
    if (!c->url) {
        refuse(c, LT_ERR_INTERNAL, NULL, 0);
        return;
    }
    if (http_body_len(req) > (uint64_t)max_request) {
        refuse(c, LT_ERR_BODY_TOO_LARGE, NULL, 0);
        return;
    }
    char key[GW_CODE_MAX + GW_VERSION_MAX + 2];
    snprintf(key, sizeof key, "%s/%s", c->code, c->version);
    int64_t now = now_ms();
    int64_t wait_s = gw_rate_take(g->guard, c->consumer, key, rate, burst, now);
    if (wait_s > 0) {
        refuse(c, LT_ERR_RATE_LIMITED, NULL, wait_s);
        return;
    }
    enum gw_breaker_verdict bv = gw_breaker_check(g->guard, c->provider, now, &wait_s);
    if (bv == GW_BREAKER_REFUSE) {
        refuse(c, LT_ERR_BREAKER_OPEN, NULL, wait_s);
        return;
    }
    c->probe = bv == GW_BREAKER_PROBE;
    if (atomic_fetch_add(&g->in_flight, 1) >= g->cfg.max_in_flight) {
        atomic_fetch_sub(&g->in_flight, 1);
        if (c->probe) /* not tried: leave the breaker as it was */
            gw_breaker_report(g->guard, c->provider, 1, 1, now);
        refuse(c, LT_ERR_OVERLOADED, NULL, 1);
        return;
    }

    static const char *const idempotent[] = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", NULL};
    for (int i = 0; idempotent[i]; i++)
        if (strcmp(c->method, idempotent[i]) == 0)
            c->idempotent = 1;
    c->retries_left = c->idempotent ? g->cfg.retries : 0;
    c->body_len = http_body_len(req);
    http_body_take(req, &c->body, &c->body_fd);
    if (build_headers(c) != 0 || hash_body(c) != 0 || sha256_init(&c->resp_hash) != 0) {
        atomic_fetch_sub(&g->in_flight, 1);
        if (c->probe)
            gw_breaker_report(g->guard, c->provider, 1, 1, now);
        refuse(c, LT_ERR_INTERNAL, NULL, 0);
        return;
    }
    struct gw_forwarder *f = gw_forwarder_for(g, http_request_loop(req));
    c->refs++; /* the forwarder's */
    if (!f || gw_forward(f, c) != 0) {
        c->refs--;
        atomic_fetch_sub(&g->in_flight, 1);
        if (c->probe)
            gw_breaker_report(g->guard, c->provider, 1, 1, now);
        refuse(c, LT_ERR_OVERLOADED, NULL, 1);
        return;
    }
    atomic_fetch_add(&g->forwarded, 1);
    http_suspend(req);
}

/* ---------- start, stop, counts ---------- */

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct gateway *gateway_start(struct store *st, struct committer *committer,
                              const struct gateway_config *cfg, char *err, size_t err_len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    struct gateway *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    g->st = st;
    g->committer = committer;
    pthread_mutex_init(&g->fwd_mu, NULL);
    pthread_cond_init(&g->fwd_cv, NULL);
    g->cfg = *cfg;
    g->view = gw_view_new(st);
    g->guard = gw_guard_new(cfg->breaker_failures, (int64_t)cfg->breaker_open_ms);
    if (!g->view || !g->guard || gw_view_refresh(g->view) != 0) {
        snprintf(err, err_len, "cannot load the gateway catalogue");
        gateway_stop(g);
        return NULL;
    }
    return g;
}

void gateway_quiesce(struct gateway *g)
{
    if (!g)
        return;
    atomic_store(&g->stopping, 1);
    gw_forwarders_stop(g);
}

void gateway_stop(struct gateway *g)
{
    if (!g)
        return;
    gateway_quiesce(g);
    gw_forwarders_free(g);
    pthread_mutex_destroy(&g->fwd_mu);
    pthread_cond_destroy(&g->fwd_cv);
    gw_guard_free(g->guard);
    gw_view_free(g->view);
    free(g);
}

void gateway_counts(struct gateway *g, struct gateway_counts *ret)
{
    memset(ret, 0, sizeof *ret);
    if (!g)
        return;
    ret->calls = atomic_load(&g->calls);
    ret->forwarded = atomic_load(&g->forwarded);
    ret->refused = atomic_load(&g->refused);
    ret->upstream_failures = atomic_load(&g->upstream_failures);
    ret->in_flight = atomic_load(&g->in_flight);
    ret->breakers_open = gw_breakers_open(g->guard);
}
