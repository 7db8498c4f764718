/* token — POST /token, OAuth2 client credentials (RFC 6749 sections 2.3.1, 4.4 and 5).
 *
 * The client is a connected system: client_id is its systemId, client_secret its secret (the
 * ones `lienthong system add` issued), given by HTTP Basic (each part form-urlencoded first, as
 * section 2.3.1 says) or as form fields, never both. The token is 32 random bytes in base64url;
 * only its SHA-256 is stored, with the system and the expiry, through the committer (one durable
 * write shared with whatever else is being committed), and added to the in-memory view before
 * the reply, so it works on the very next request. Replies carry Cache-Control: no-store.
 *
 * A system holds at most tokens_per_client live tokens: one more is refused (429, Retry-After
 * until its oldest expires, the refusal on the transaction log), so a client that asks for a
 * token per call cannot fill the store. Each issue also deletes up to PURGE_BATCH tokens that
 * expired or were revoked, so dead rows go at the pace new ones come. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "gateway/gw_int.h"
#include "store/committer.h"
#include "util/b64.h"
#include "util/log.h"
#include "util/timeutil.h"

#define JSON_CT "application/json; charset=utf-8"
#define FORM_MAX 4096
#define TOKEN_SIZE 44 /* 43 base64url characters + NUL */
#define PURGE_BATCH 64

static void token_reply(struct http_request *req, unsigned status, json_t *o, int async)
{
    char *body = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    http_add_reply_header(req, "Cache-Control", "no-store");
    http_add_reply_header(req, "Pragma", "no-cache");
    if (!body)
        status = 500;
    if (async)
        http_complete(req, status, JSON_CT, body ? body : "", body ? strlen(body) : 0);
    else
        http_reply(req, status, JSON_CT, body ? body : "", body ? strlen(body) : 0);
    free(body);
}

/* RFC 6749 section 5.2 error, with our registry code beside it. */
static void token_error(struct http_request *req, unsigned status, const char *oauth_error,
                        enum lt_err e, const char *description, int basic)
{
    if (basic && status == 401)
        http_add_reply_header(req, "WWW-Authenticate", "Basic realm=\"lienthong\"");
    token_reply(req, status,
                json_pack("{s:s,s:s,s:i}", "error", oauth_error, "error_description", description,
                          "code", lt_err_code(e)),
                0);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if ((ch | 32) >= 'a' && (ch | 32) <= 'f')
        return (ch | 32) - 'a' + 10;
    return -1;
}

/* application/x-www-form-urlencoded decoding of s[0..n) into out (size >= n + 1). Returns 0, or
 * -1 on a bad escape or an escaped NUL (%00). */
int gw_token_form_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return 0;
}

/* Parses the body; returns NULL or the reason it is refused. Unknown parameters are ignored
 * (section 3.2: scope is meaningless here); repeated ones are refused (section 3.1). */
const char *gw_token_parse_form(const char *body, size_t len, struct gw_form *f)
{
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        const char *eq = memchr(body + i, '=', end - i);
        if (eq) {
            size_t kl = (size_t)(eq - (body + i)), vl = end - (size_t)(eq + 1 - body);
            char key[32];
            struct {
                const char *name;
                char *dst;
                size_t cap;
                int *seen;
            } fields[] = {
                {"grant_type", f->grant_type, sizeof f->grant_type, &f->has_grant_type},
                {"client_id", f->client_id, sizeof f->client_id, &f->has_client_id},
                {"client_secret", f->client_secret, sizeof f->client_secret, &f->has_client_secret},
            };
            if (kl < sizeof key && gw_token_form_decode(body + i, kl, key) == 0) {
                for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
                    if (strcmp(key, fields[k].name) != 0)
                        continue;
                    if (*fields[k].seen)
                        return "a parameter is repeated";
                    if (vl >= fields[k].cap || gw_token_form_decode(eq + 1, vl, fields[k].dst) != 0)
                        return "a parameter is malformed or too long";
                    *fields[k].seen = 1;
                }
            }
        }
        i = end + 1;
    }
    return NULL;
}

/* HTTP Basic credentials: base64("id:secret") with both parts form-urlencoded. */
int gw_token_parse_basic(const char *value, struct gw_form *f)
{
    const char *b = value + 6;
    while (*b == ' ')
        b++;
    size_t n = strlen(b);
    if (n == 0 || n > 1024)
        return -1;
    uint8_t raw[800];
    size_t out = 0;
    struct b64_dec d;
    memset(&d, 0, sizeof d);
    if (b64_dec_update(&d, b, n, raw, &out) != 0)
        return -1;
    size_t tail = 0;
    if (b64_dec_final(&d, raw + out, &tail) != 0)
        return -1;
    out += tail;
    const char *colon = memchr(raw, ':', out);
    if (!colon)
        return -1;
    size_t il = (size_t)((const uint8_t *)colon - raw), sl = out - il - 1;
    if (il >= sizeof f->client_id || sl >= sizeof f->client_secret ||
        gw_token_form_decode((const char *)raw, il, f->client_id) != 0 ||
        gw_token_form_decode(colon + 1, sl, f->client_secret) != 0)
        return -1;
    f->has_client_id = f->has_client_secret = 1;
    return 0;
}

struct token_job {
    struct commit_job job;
    struct gateway *gw;
    struct http_request *req;
    char token[TOKEN_SIZE];
    char sha256[SHA256_HEX_SIZE];
    char system_id[STORE_ID_MAX + 1];
    int64_t issued_ms, expires_ms;
    int64_t retry_after_s; /* > 0: refused, over tokens_per_client */
};

static enum store_rc token_execute(struct store *st, struct commit_job *cj)
{
    struct token_job *j = (struct token_job *)cj;
    int64_t live = 0, oldest = 0, purged = 0;
    j->retry_after_s = 0;
    enum store_rc rc = st->token_purge(st->cls, j->issued_ms, PURGE_BATCH, &purged);
    if (rc >= 0)
        rc = st->token_live_count(st->cls, j->system_id, j->issued_ms, &live, &oldest);
    if (rc < 0)
        return rc;
    if (live >= (int64_t)j->gw->cfg.tokens_per_client) {
        j->retry_after_s = (oldest - j->issued_ms) / 1000 + 1;
        char outcome[32];
        snprintf(outcome, sizeof outcome, "refused:%d", lt_err_code(LT_ERR_RATE_LIMITED));
        struct store_txrec rec = {.time_ms = j->issued_ms,
                                  .actor = j->system_id,
                                  .operation = "token.issue",
                                  .package_id = "",
                                  .content_sha256 = "",
                                  .outcome = outcome};
        return st->txlog_append(st->cls, &rec);
    }
    struct store_token t = {.sha256 = j->sha256,
                            .system_id = j->system_id,
                            .issued_ms = j->issued_ms,
                            .expires_ms = j->expires_ms};
    rc = st->token_insert(st->cls, &t);
    if (rc != STORE_ONE_RESULT)
        return rc < 0 ? rc : STORE_HARD_ERROR;
    char id[13];
    snprintf(id, sizeof id, "%.12s", j->sha256);
    struct store_txrec rec = {.time_ms = j->issued_ms,
                              .actor = j->system_id,
                              .operation = "token.issue",
                              .package_id = id,
                              .content_sha256 = "",
                              .outcome = "ok"};
    return st->txlog_append(st->cls, &rec);
}

static void token_done(struct commit_job *cj, int ok)
{
    struct token_job *j = (struct token_job *)cj;
    if (ok && j->retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%lld", (long long)j->retry_after_s);
        http_add_reply_header(j->req, "Retry-After", ra);
        char ip[64];
        if (http_client_ip(j->req, ip, sizeof ip) != 0)
            snprintf(ip, sizeof ip, "?");
        log_info("gateway: token refused client=%s system=%s: tokens_per_client live tokens "
                 "already",
                 ip, j->system_id);
        token_reply(j->req, 429,
                    json_pack("{s:s,s:s,s:i}", "error", "temporarily_unavailable",
                              "error_description",
                              "this client holds as many live access tokens as it may: reuse one "
                              "until it expires",
                              "code", lt_err_code(LT_ERR_RATE_LIMITED)),
                    1);
    } else if (ok && gw_view_add_token(j->gw->view, j->sha256, j->system_id, j->expires_ms) == 0) {
        token_reply(j->req, 200,
                    json_pack("{s:s,s:s,s:I}", "access_token", j->token, "token_type", "Bearer",
                              "expires_in", (json_int_t)j->gw->cfg.token_ttl_s),
                    1);
    } else {
        log_error("gateway: a token for %s could not be stored", j->system_id);
        token_reply(j->req, 500,
                    json_pack("{s:s,s:s,s:i}", "error", "server_error", "error_description",
                              lt_err_msg(LT_ERR_STORE_FAILED), "code",
                              lt_err_code(LT_ERR_STORE_FAILED)),
                    1);
    }
    free(j);
}

void gateway_token(struct gateway *g, struct http_request *req)
{
    struct gw_form f;
    memset(&f, 0, sizeof f);
    const char *ct = http_header(req, "Content-Type");
    const char *body = http_body_mem(req);
    uint64_t len = http_body_len(req);
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        token_error(req, 400, "invalid_request", LT_ERR_BAD_PARAMETER,
                    "Content-Type must be application/x-www-form-urlencoded", 0);
        return;
    }
    if (!body || len > FORM_MAX) {
        token_error(req, 400, "invalid_request", LT_ERR_BAD_PARAMETER, "request body too large", 0);
        return;
    }
    const char *why = gw_token_parse_form(body, (size_t)len, &f);
    const char *auth = http_header(req, "Authorization");
    int basic = auth && strncasecmp(auth, "Basic ", 6) == 0;
    if (!why && basic && (f.has_client_id || f.has_client_secret))
        why = "client credentials given both by HTTP Basic and in the body";
    if (!why && basic && gw_token_parse_basic(auth, &f) != 0)
        why = "malformed HTTP Basic credentials";
    if (!why && !f.has_grant_type)
        why = "grant_type is missing";
    if (why) {
        token_error(req, 400, "invalid_request", LT_ERR_BAD_PARAMETER, why, 0);
        return;
    }
    if (strcmp(f.grant_type, "client_credentials") != 0) {
        token_error(req, 400, "unsupported_grant_type", LT_ERR_BAD_PARAMETER,
                    "only grant_type=client_credentials is supported", 0);
        return;
    }
    int ok = 0;
    if (f.has_client_id && f.has_client_secret && gw_view_refresh(g->view) == 0) {
        gw_view_rdlock(g->view);
        const struct gw_system *sys = gw_view_system(g->view, f.client_id);
        ok = sys &&
             ct_equal(sys->secret, strlen(sys->secret), f.client_secret, strlen(f.client_secret));
        gw_view_unlock(g->view);
    }
    if (!ok) {
        char ip[64];
        if (http_client_ip(req, ip, sizeof ip) != 0)
            snprintf(ip, sizeof ip, "?");
        log_info("gateway: token refused client=%s claimed=%.64s: %s", ip,
                 f.has_client_id ? f.client_id : "-", lt_err_name(LT_ERR_BAD_CLIENT));
        token_error(req, 401, "invalid_client", LT_ERR_BAD_CLIENT, lt_err_msg(LT_ERR_BAD_CLIENT),
                    basic);
        return;
    }

    struct token_job *j = calloc(1, sizeof *j);
    char b64[45];
    uint8_t d[SHA256_LEN];
    if (!j || random_secret(b64) != 0) {
        free(j);
        token_error(req, 500, "server_error", LT_ERR_INTERNAL, lt_err_msg(LT_ERR_INTERNAL), 0);
        return;
    }
    for (int i = 0; i < 43; i++) /* base64url without padding (RFC 4648 section 5) */
        j->token[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    j->token[43] = '\0';
    sha256(j->token, 43, d);
    hex_encode(d, SHA256_LEN, j->sha256);
    snprintf(j->system_id, sizeof j->system_id, "%s", f.client_id);
    j->gw = g;
    j->req = req;
    j->issued_ms = now_ms();
    j->expires_ms = j->issued_ms + (int64_t)g->cfg.token_ttl_s * 1000;
    j->job.execute = token_execute;
    j->job.done = token_done;
    http_suspend(req);
    if (committer_submit(g->committer, &j->job) != 0) {
        free(j);
        token_reply(req, 503,
                    json_pack("{s:s,s:s,s:i}", "error", "temporarily_unavailable",
                              "error_description", lt_err_msg(LT_ERR_OVERLOADED), "code",
                              lt_err_code(LT_ERR_OVERLOADED)),
                    1);
    }
}
