/* api_gateway — the administration API of the data-sharing gateway (under /api/v1, behind the
 * administrator's bearer token like every /api/v1 route):
 *
 *   GET    /api/v1/services[?provider=ID]        {"services": [service...]}
 *   POST   /api/v1/services                      publish; 201 with the service
 *   GET    /api/v1/services/{code}/{version}     the service
 *   PUT    /api/v1/services/{code}/{version}     change the members given; 200 with the service
 *   DELETE /api/v1/services/{code}/{version}     withdraw it and its rights
 *   GET    /api/v1/access[?consumer=ID&service=CODE/VERSION]   {"grants": [grant...]}
 *   POST   /api/v1/access                        grant (or replace) a right; 201 with the right
 *   DELETE /api/v1/access?consumer=ID&service=CODE/VERSION      revoke it
 *   GET    /api/v1/tokens[?system=ID]            {"tokens": [token...]} (active; never a secret)
 *   POST   /api/v1/tokens/revoke                 {"system": ID} or {"token": "<token>"}
 *
 * The JSON forms and every validation rule come from src/gateway/catalogue.c, shared with the
 * CLI. Reads go straight to the store; each change is a commit job run by the committer's one
 * writer thread (the connection is suspended meanwhile), which does its lookups, the change and
 * its transaction-log record (actor "operator") in one transaction, so a refused request changes
 * nothing. Members not listed above are ignored (so a GET reply can be sent back as a PUT);
 * JSON null counts as absent. There is no "already exists" code in the registry: publishing an
 * existing service is a BAD_PARAMETER naming PUT. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exchange/api.h"
#include "exchange/app.h"
#include "gateway/catalogue.h"
#include "store/committer.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/timeutil.h"

#define SERVICES_PREFIX "/api/v1/services/"

static int is_get(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/* ---------------------------------------------------------------------------- commit jobs */

enum admin_op {
    OP_SERVICE_ADD,
    OP_SERVICE_UPDATE,
    OP_SERVICE_REMOVE,
    OP_GRANT_PUT,
    OP_GRANT_REMOVE,
    OP_TOKEN_REVOKE,
};

/* Members of a service given in a request (bits of admin_job.given). */
enum {
    F_PROVIDER = 1 << 0,
    F_URL = 1 << 1,
    F_PROTOCOL = 1 << 2,
    F_TIMEOUT = 1 << 3,
    F_NAME = 1 << 4,
    F_DESCRIPTION = 1 << 5,
    F_MAX_REQUEST = 1 << 6,
    F_MAX_RESPONSE = 1 << 7,
    F_RATE = 1 << 8,
    F_BURST = 1 << 9,
};

struct admin_job {
    struct commit_job job;
    struct http_request *req;
    enum admin_op op;
    /* inputs (owned strings) */
    struct store_service svc; /* add: the service; update: code, version and given members */
    unsigned given;
    struct store_grant grant;   /* grant put; grant remove uses the keys only */
    char *system;               /* token revoke by system */
    char hash[SHA256_HEX_SIZE]; /* token revoke by token: its SHA-256 */
    /* result of the last execute() */
    enum lt_err err;
    char detail[256];
    unsigned status;
    json_t *reply;
};

static void admin_job_free(struct admin_job *j)
{
    store_service_clear(&j->svc);
    store_grant_clear(&j->grant);
    free(j->system);
    json_decref(j->reply);
    free(j);
}

static enum store_rc refuse(struct admin_job *j, enum lt_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum store_rc refuse(struct admin_job *j, enum lt_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->detail, sizeof j->detail, fmt, ap);
    va_end(ap);
    j->err = e;
    return STORE_ONE_RESULT;
}

static enum store_rc txlog(struct store *st, const char *operation, const char *object)
{
    struct store_txrec rec = {
        .time_ms = now_ms(),
        .actor = "operator",
        .operation = operation,
        .package_id = object,
        .content_sha256 = "",
        .outcome = "ok",
    };
    return st->txlog_append(st->cls, &rec);
}

static enum store_rc system_exists(struct store *st, const char *id)
{
    struct store_system s = {0};
    enum store_rc rc = st->system_get(st->cls, id, &s);
    store_system_clear(&s);
    return rc;
}

/* Sets the reply to the service as stored now. */
static enum store_rc reply_service(struct store *st, struct admin_job *j, const char *code,
                                   const char *version, unsigned status)
{
    struct store_service s = {0};
    enum store_rc rc = st->service_get(st->cls, code, version, &s);
    if (rc == STORE_ONE_RESULT) {
        j->reply = gw_service_to_json(&s);
        j->status = status;
        if (!j->reply)
            rc = STORE_HARD_ERROR;
    } else if (rc == STORE_NO_RESULTS) {
        rc = STORE_HARD_ERROR; /* just written in this transaction */
    }
    store_service_clear(&s);
    return rc;
}

static enum store_rc service_object(struct store *st, const char *operation, const char *code,
                                    const char *version)
{
    char object[GW_CODE_MAX + GW_VERSION_MAX + 2];
    snprintf(object, sizeof object, "%s/%s", code, version);
    return txlog(st, operation, object);
}

static enum store_rc exec_service_add(struct store *st, struct admin_job *j)
{
    struct store_service cur = {0};
    enum store_rc rc = st->service_get(st->cls, j->svc.code, j->svc.version, &cur);
    store_service_clear(&cur);
    if (rc < 0)
        return rc;
    if (rc == STORE_ONE_RESULT)
        return refuse(j, LT_ERR_BAD_PARAMETER,
                      "service %s/%s already exists: change it with PUT /api/v1/services/%s/%s",
                      j->svc.code, j->svc.version, j->svc.code, j->svc.version);
    if ((rc = system_exists(st, j->svc.provider_system)) < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return refuse(j, LT_ERR_UNKNOWN_SYSTEM, "provider %s", j->svc.provider_system);
    j->svc.created_ms = j->svc.updated_ms = now_ms();
    if ((rc = st->service_put(st->cls, &j->svc)) < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return STORE_HARD_ERROR; /* the provider was just found */
    if ((rc = service_object(st, "service.add", j->svc.code, j->svc.version)) < 0)
        return rc;
    return reply_service(st, j, j->svc.code, j->svc.version, 201);
}

static enum store_rc exec_service_update(struct store *st, struct admin_job *j)
{
    struct store_service cur = {0};
    enum store_rc rc = st->service_get(st->cls, j->svc.code, j->svc.version, &cur);
    if (rc < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return refuse(j, LT_ERR_UNKNOWN_SERVICE, "%s/%s", j->svc.code, j->svc.version);
    struct store_service m = cur; /* borrows cur's strings and the job's */
    const struct store_service *g = &j->svc;
    if (j->given & F_PROVIDER)
        m.provider_system = g->provider_system;
    if (j->given & F_URL)
        m.url = g->url;
    if (j->given & F_PROTOCOL)
        m.protocol = g->protocol;
    if (j->given & F_TIMEOUT)
        m.timeout_ms = g->timeout_ms;
    if (j->given & F_NAME)
        m.name = g->name;
    if (j->given & F_DESCRIPTION)
        m.description = g->description;
    if (j->given & F_MAX_REQUEST)
        m.max_request_bytes = g->max_request_bytes;
    if (j->given & F_MAX_RESPONSE)
        m.max_response_bytes = g->max_response_bytes;
    if (j->given & F_RATE)
        m.rate_per_s = g->rate_per_s;
    if (j->given & F_BURST)
        m.burst = g->burst;
    m.updated_ms = now_ms();
    if (gw_service_check(&m, j->detail, sizeof j->detail) != LT_ERR_OK) {
        j->err = LT_ERR_BAD_PARAMETER;
        rc = STORE_ONE_RESULT;
    } else if ((j->given & F_PROVIDER) &&
               (rc = system_exists(st, m.provider_system)) == STORE_NO_RESULTS) {
        rc = refuse(j, LT_ERR_UNKNOWN_SYSTEM, "provider %s", m.provider_system);
    } else if (rc >= 0 && (rc = st->service_put(st->cls, &m)) >= 0) {
        rc = rc == STORE_NO_RESULTS ? STORE_HARD_ERROR
                                    : service_object(st, "service.update", m.code, m.version);
        if (rc >= 0)
            rc = reply_service(st, j, m.code, m.version, 200);
    }
    store_service_clear(&cur);
    return rc;
}

static int count_grant(void *ctx, const struct store_grant *g)
{
    (*(int64_t *)ctx)++;
    return 0;
}

static enum store_rc exec_service_remove(struct store *st, struct admin_job *j)
{
    int64_t n = 0;
    enum store_rc rc = st->grant_list(st->cls, NULL, j->svc.code, j->svc.version, count_grant, &n);
    if (rc < 0 || (rc = st->service_remove(st->cls, j->svc.code, j->svc.version)) < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return refuse(j, LT_ERR_UNKNOWN_SERVICE, "%s/%s", j->svc.code, j->svc.version);
    if ((rc = service_object(st, "service.remove", j->svc.code, j->svc.version)) < 0)
        return rc;
    j->reply = json_pack("{s:s,s:s,s:b,s:I}", "code", j->svc.code, "version", j->svc.version,
                         "removed", 1, "grants_removed", (json_int_t)n);
    j->status = 200;
    return j->reply ? STORE_ONE_RESULT : STORE_HARD_ERROR;
}

static enum store_rc grant_object(struct store *st, const char *operation,
                                  const struct store_grant *g)
{
    char object[STORE_ID_MAX + GW_CODE_MAX + GW_VERSION_MAX + 3];
    snprintf(object, sizeof object, "%s:%s/%s", g->consumer_system, g->service_code,
             g->service_version);
    return txlog(st, operation, object);
}

static int found_grant(void *ctx, const struct store_grant *g)
{
    *(struct store_grant *)ctx =
        (struct store_grant){.created_ms = g->created_ms, .updated_ms = g->updated_ms};
    return 1;
}

static enum store_rc exec_grant_put(struct store *st, struct admin_job *j)
{
    struct store_grant *g = &j->grant;
    enum store_rc rc = system_exists(st, g->consumer_system);
    if (rc < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return refuse(j, LT_ERR_UNKNOWN_SYSTEM, "consumer %s", g->consumer_system);
    struct store_service svc = {0};
    rc = st->service_get(st->cls, g->service_code, g->service_version, &svc);
    store_service_clear(&svc);
    if (rc < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return refuse(j, LT_ERR_UNKNOWN_SERVICE, "%s/%s", g->service_code, g->service_version);
    struct store_grant old = {0};
    rc = st->grant_list(st->cls, g->consumer_system, g->service_code, g->service_version,
                        found_grant, &old);
    if (rc < 0)
        return rc;
    int64_t now = now_ms();
    g->created_ms = old.created_ms ? old.created_ms : now;
    g->updated_ms = now;
    if ((rc = st->grant_put(st->cls, g)) < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return STORE_HARD_ERROR; /* consumer and service were just found */
    if ((rc = grant_object(st, "access.grant", g)) < 0)
        return rc;
    j->reply = gw_grant_to_json(g);
    j->status = 201;
    return j->reply ? STORE_ONE_RESULT : STORE_HARD_ERROR;
}

static enum store_rc exec_grant_remove(struct store *st, struct admin_job *j)
{
    struct store_grant *g = &j->grant;
    enum store_rc rc =
        st->grant_remove(st->cls, g->consumer_system, g->service_code, g->service_version);
    if (rc < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return refuse(j, LT_ERR_UNKNOWN_GRANT, "%s has no right to %s/%s", g->consumer_system,
                      g->service_code, g->service_version);
    if ((rc = grant_object(st, "access.revoke", g)) < 0)
        return rc;
    char ref[GW_CODE_MAX + GW_VERSION_MAX + 2];
    snprintf(ref, sizeof ref, "%s/%s", g->service_code, g->service_version);
    j->reply =
        json_pack("{s:s,s:s,s:b}", "consumer", g->consumer_system, "service", ref, "revoked", 1);
    j->status = 200;
    return j->reply ? STORE_ONE_RESULT : STORE_HARD_ERROR;
}

static enum store_rc exec_token_revoke(struct store *st, struct admin_job *j)
{
    int64_t now = now_ms();
    enum store_rc rc = j->system ? st->token_revoke_system(st->cls, j->system, now)
                                 : st->token_revoke(st->cls, j->hash, now);
    if (rc < 0)
        return rc;
    char id[13];
    snprintf(id, sizeof id, "%.12s", j->hash);
    if (rc == STORE_ONE_RESULT && (rc = txlog(st, "token.revoke", j->system ? j->system : id)) < 0)
        return rc;
    int revoked = rc == STORE_ONE_RESULT;
    j->reply = j->system ? json_pack("{s:s,s:b}", "system", j->system, "revoked", revoked)
                         : json_pack("{s:s,s:b}", "id", id, "revoked", revoked);
    j->status = 200;
    return j->reply ? STORE_ONE_RESULT : STORE_HARD_ERROR;
}

static enum store_rc admin_execute(struct store *st, struct commit_job *cj)
{
    struct admin_job *j = (struct admin_job *)cj;
    j->err = LT_ERR_OK;
    j->detail[0] = '\0';
    json_decref(j->reply);
    j->reply = NULL;
    j->status = 200;
    switch (j->op) {
    case OP_SERVICE_ADD:
        return exec_service_add(st, j);
    case OP_SERVICE_UPDATE:
        return exec_service_update(st, j);
    case OP_SERVICE_REMOVE:
        return exec_service_remove(st, j);
    case OP_GRANT_PUT:
        return exec_grant_put(st, j);
    case OP_GRANT_REMOVE:
        return exec_grant_remove(st, j);
    case OP_TOKEN_REVOKE:
        return exec_token_revoke(st, j);
    }
    return STORE_HARD_ERROR;
}

/* A refused job rolls nothing back by itself: it wrote nothing before refusing (every check
 * comes before the first write). */
static void admin_done(struct commit_job *cj, int ok)
{
    struct admin_job *j = (struct admin_job *)cj;
    if (!ok)
        api_complete_error(j->req, LT_ERR_STORE_FAILED, NULL);
    else if (j->err != LT_ERR_OK)
        api_complete_error(j->req, j->err, j->detail);
    else {
        api_complete_json(j->req, j->status, j->reply);
        j->reply = NULL;
    }
    admin_job_free(j);
}

static struct admin_job *job_new(struct http_request *req, enum admin_op op)
{
    struct admin_job *j = calloc(1, sizeof *j);
    if (!j) {
        api_error(req, LT_ERR_INTERNAL, NULL);
        return NULL;
    }
    j->req = req;
    j->op = op;
    j->job.execute = admin_execute;
    j->job.done = admin_done;
    return j;
}

static void submit(struct http_request *req, struct admin_job *j)
{
    struct app *a = http_app(req);
    http_suspend(req);
    if (committer_submit(a->committer, &j->job) != 0) {
        api_complete_error(req, LT_ERR_OVERLOADED, NULL);
        admin_job_free(j);
    }
}

/* ------------------------------------------------------------------------------- services */

/* Reads the service members of body o into s (strings copied) and the bits of those given into
 * *given. Returns 0, or -1 with the reply sent. */
static int parse_service_members(struct http_request *req, json_t *o, struct store_service *s,
                                 unsigned *given)
{
    static const struct {
        const char *key;
        unsigned bit;
        size_t off;
    } strs[] = {
        {"provider", F_PROVIDER, offsetof(struct store_service, provider_system)},
        {"url", F_URL, offsetof(struct store_service, url)},
        {"name", F_NAME, offsetof(struct store_service, name)},
        {"description", F_DESCRIPTION, offsetof(struct store_service, description)},
    };
    static const struct {
        const char *key;
        unsigned bit;
        size_t off;
    } ints[] = {
        {"timeout_ms", F_TIMEOUT, offsetof(struct store_service, timeout_ms)},
        {"max_request_bytes", F_MAX_REQUEST, offsetof(struct store_service, max_request_bytes)},
        {"max_response_bytes", F_MAX_RESPONSE, offsetof(struct store_service, max_response_bytes)},
        {"rate_per_s", F_RATE, offsetof(struct store_service, rate_per_s)},
        {"burst", F_BURST, offsetof(struct store_service, burst)},
    };
    char detail[96];
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *v = NULL;
        int r = api_member_string(o, strs[i].key, &v);
        if (r < 0) {
            snprintf(detail, sizeof detail, "%s must be a string", strs[i].key);
            api_error(req, LT_ERR_BAD_PARAMETER, detail);
            return -1;
        }
        if (r > 0) {
            char **dst = (char **)((char *)s + strs[i].off);
            free(*dst);
            if (!(*dst = strdup(v))) {
                api_error(req, LT_ERR_INTERNAL, NULL);
                return -1;
            }
            *given |= strs[i].bit;
        }
    }
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int r = api_member_int(o, ints[i].key, (int64_t *)((char *)s + ints[i].off));
        if (r < 0) {
            snprintf(detail, sizeof detail, "%s must be an integer", ints[i].key);
            api_error(req, LT_ERR_BAD_PARAMETER, detail);
            return -1;
        }
        if (r > 0)
            *given |= ints[i].bit;
    }
    const char *proto = NULL;
    int r = api_member_string(o, "protocol", &proto);
    if (r < 0 || (r > 0 && strcasecmp(proto, "rest") != 0 && strcasecmp(proto, "soap") != 0)) {
        api_error(req, LT_ERR_BAD_PARAMETER, "protocol must be \"rest\" or \"soap\"");
        return -1;
    }
    if (r > 0) {
        s->protocol = strcasecmp(proto, "soap") == 0 ? STORE_PROTO_SOAP : STORE_PROTO_REST;
        *given |= F_PROTOCOL;
    }
    return 0;
}

struct list_ctx {
    json_t *arr;
    const char *system; /* token filter */
    int oom;
};

static int list_service_cb(void *ctx, const struct store_service *s)
{
    struct list_ctx *l = ctx;
    json_t *o = gw_service_to_json(s);
    if (!o || json_array_append_new(l->arr, o) != 0)
        l->oom = 1;
    return l->oom;
}

static void reply_list(struct http_request *req, const char *member, struct list_ctx *l,
                       enum store_rc rc)
{
    if (l->oom || !l->arr) {
        json_decref(l->arr);
        api_error(req, LT_ERR_INTERNAL, NULL);
    } else if (rc < 0) {
        json_decref(l->arr);
        api_error(req, LT_ERR_STORE_FAILED, NULL);
    } else {
        api_reply_json(req, 200, json_pack("{s:o}", member, l->arr));
    }
}

static void services_list(struct http_request *req)
{
    struct app *a = http_app(req);
    const char *provider = http_query(req, "provider");
    struct list_ctx l = {json_array(), NULL, 0};
    enum store_rc rc =
        l.arr ? a->store->service_list(a->store->cls, provider && *provider ? provider : NULL,
                                       list_service_cb, &l)
              : STORE_HARD_ERROR;
    reply_list(req, "services", &l, rc);
}

static void services_add(struct http_request *req)
{
    json_t *o = api_body_object(req);
    if (!o)
        return;
    struct admin_job *j = job_new(req, OP_SERVICE_ADD);
    if (!j) {
        json_decref(o);
        return;
    }
    const char *code = NULL, *version = NULL;
    if (api_member_string(o, "code", &code) <= 0 ||
        api_member_string(o, "version", &version) <= 0) {
        json_decref(o);
        admin_job_free(j);
        api_error(req, LT_ERR_BAD_PARAMETER, "code and version are required strings");
        return;
    }
    j->svc = (struct store_service){
        .code = strdup(code),
        .version = strdup(version),
        .name = strdup(""),
        .description = strdup(""),
        .protocol = STORE_PROTO_REST,
        .timeout_ms = GW_DEFAULT_TIMEOUT_MS,
        .max_request_bytes = GW_DEFAULT_MAX_REQUEST,
        .max_response_bytes = GW_DEFAULT_MAX_RESPONSE,
        .rate_per_s = GW_DEFAULT_RATE_PER_S,
    };
    int r = parse_service_members(req, o, &j->svc, &j->given);
    json_decref(o);
    if (r != 0) {
        admin_job_free(j);
        return;
    }
    if (!j->svc.code || !j->svc.version || !j->svc.name || !j->svc.description) {
        admin_job_free(j);
        api_error(req, LT_ERR_INTERNAL, NULL);
        return;
    }
    char detail[256];
    if (!(j->given & F_PROVIDER) || !(j->given & F_URL)) {
        admin_job_free(j);
        api_error(req, LT_ERR_BAD_PARAMETER, "provider and url are required");
        return;
    }
    if (gw_service_check(&j->svc, detail, sizeof detail) != LT_ERR_OK) {
        admin_job_free(j);
        api_error(req, LT_ERR_BAD_PARAMETER, detail);
        return;
    }
    submit(req, j);
}

/* /api/v1/services/{code}/{version}: the two path segments, or -1 (reply sent). */
static int service_path(struct http_request *req, char *code, char *version)
{
    const char *ref = http_url(req) + strlen(SERVICES_PREFIX);
    if (gw_parse_service_ref(ref, code, version) != 0) {
        api_error(req, LT_ERR_UNKNOWN_SERVICE, "the path must be /api/v1/services/CODE/VERSION");
        return -1;
    }
    return 0;
}

static void service_get(struct http_request *req, const char *code, const char *version)
{
    struct app *a = http_app(req);
    struct store_service s = {0};
    enum store_rc rc = a->store->service_get(a->store->cls, code, version, &s);
    if (rc == STORE_ONE_RESULT)
        api_reply_json(req, 200, gw_service_to_json(&s));
    else if (rc == STORE_NO_RESULTS) {
        char detail[GW_CODE_MAX + GW_VERSION_MAX + 2];
        snprintf(detail, sizeof detail, "%s/%s", code, version);
        api_error(req, LT_ERR_UNKNOWN_SERVICE, detail);
    } else
        api_error(req, LT_ERR_STORE_FAILED, NULL);
    store_service_clear(&s);
}

static void service_update(struct http_request *req, const char *code, const char *version)
{
    json_t *o = api_body_object(req);
    if (!o)
        return;
    const char *bc = NULL, *bv = NULL;
    if (api_member_string(o, "code", &bc) < 0 || api_member_string(o, "version", &bv) < 0 ||
        (bc && strcmp(bc, code) != 0) || (bv && strcmp(bv, version) != 0)) {
        json_decref(o);
        api_error(req, LT_ERR_BAD_PARAMETER,
                  "code and version are those of the path and cannot be changed");
        return;
    }
    struct admin_job *j = job_new(req, OP_SERVICE_UPDATE);
    if (!j) {
        json_decref(o);
        return;
    }
    int r = parse_service_members(req, o, &j->svc, &j->given);
    json_decref(o);
    if (r != 0) {
        admin_job_free(j);
        return;
    }
    if (!(j->svc.code = strdup(code)) || !(j->svc.version = strdup(version))) {
        admin_job_free(j);
        api_error(req, LT_ERR_INTERNAL, NULL);
        return;
    }
    /* Each member's rule stands alone: check the given ones over valid placeholders now, the
     * merged service again in the job. */
    struct store_service probe = {
        .code = j->svc.code,
        .version = j->svc.version,
        .provider_system = (j->given & F_PROVIDER) ? j->svc.provider_system : "x",
        .url = (j->given & F_URL) ? j->svc.url : "http://x/",
        .name = j->svc.name,
        .description = j->svc.description,
        .protocol = (j->given & F_PROTOCOL) ? j->svc.protocol : STORE_PROTO_REST,
        .timeout_ms = (j->given & F_TIMEOUT) ? j->svc.timeout_ms : 1,
        .max_request_bytes = (j->given & F_MAX_REQUEST) ? j->svc.max_request_bytes : 1,
        .max_response_bytes = (j->given & F_MAX_RESPONSE) ? j->svc.max_response_bytes : 1,
        .rate_per_s = j->svc.rate_per_s,
        .burst = j->svc.burst,
    };
    char detail[256];
    if (gw_service_check(&probe, detail, sizeof detail) != LT_ERR_OK) {
        admin_job_free(j);
        api_error(req, LT_ERR_BAD_PARAMETER, detail);
        return;
    }
    submit(req, j);
}

static void service_remove(struct http_request *req, const char *code, const char *version)
{
    struct admin_job *j = job_new(req, OP_SERVICE_REMOVE);
    if (!j)
        return;
    if (!(j->svc.code = strdup(code)) || !(j->svc.version = strdup(version))) {
        admin_job_free(j);
        api_error(req, LT_ERR_INTERNAL, NULL);
        return;
    }
    submit(req, j);
}

void api_services(struct http_request *req)
{
    if (!api_authorized(req)) {
        api_error(req, LT_ERR_UNAUTHORIZED, NULL);
        return;
    }
    const char *m = http_method(req);
    const char *url = http_url(req);
    if (strncmp(url, SERVICES_PREFIX, strlen(SERVICES_PREFIX)) != 0) {
        if (is_get(m))
            services_list(req);
        else if (strcmp(m, "POST") == 0)
            services_add(req);
        else
            api_method_not_allowed(req);
        return;
    }
    char code[GW_CODE_MAX + 1], version[GW_VERSION_MAX + 1];
    if (service_path(req, code, version) != 0)
        return;
    if (is_get(m))
        service_get(req, code, version);
    else if (strcmp(m, "PUT") == 0)
        service_update(req, code, version);
    else if (strcmp(m, "DELETE") == 0)
        service_remove(req, code, version);
    else
        api_method_not_allowed(req);
}

/* --------------------------------------------------------------------------------- access */

static int list_grant_cb(void *ctx, const struct store_grant *g)
{
    struct list_ctx *l = ctx;
    json_t *o = gw_grant_to_json(g);
    if (!o || json_array_append_new(l->arr, o) != 0)
        l->oom = 1;
    return l->oom;
}

/* The optional ?service=CODE/VERSION: 0 (absent: *ret_given = 0), 1, or -1 (reply sent). */
static int query_service(struct http_request *req, char *code, char *version, int *ret_given)
{
    const char *ref = http_query(req, "service");
    *ret_given = ref && *ref;
    if (*ret_given && gw_parse_service_ref(ref, code, version) != 0) {
        api_error(req, LT_ERR_BAD_PARAMETER, "service must be CODE/VERSION");
        return -1;
    }
    return 0;
}

static void access_list(struct http_request *req)
{
    struct app *a = http_app(req);
    const char *consumer = http_query(req, "consumer");
    char code[GW_CODE_MAX + 1], version[GW_VERSION_MAX + 1];
    int has_service;
    if (query_service(req, code, version, &has_service) != 0)
        return;
    struct list_ctx l = {json_array(), NULL, 0};
    enum store_rc rc =
        l.arr ? a->store->grant_list(a->store->cls, consumer && *consumer ? consumer : NULL,
                                     has_service ? code : NULL, has_service ? version : NULL,
                                     list_grant_cb, &l)
              : STORE_HARD_ERROR;
    reply_list(req, "grants", &l, rc);
}

static void access_grant(struct http_request *req)
{
    json_t *o = api_body_object(req);
    if (!o)
        return;
    const char *consumer = NULL, *ref = NULL, *methods = "", *prefix = "";
    int64_t rate = 0, burst = 0;
    const char *bad =
        api_member_string(o, "consumer", &consumer) <= 0   ? "consumer is a required string"
        : api_member_string(o, "service", &ref) <= 0       ? "service is a required string"
        : api_member_string(o, "methods", &methods) < 0    ? "methods must be a string"
        : api_member_string(o, "path_prefix", &prefix) < 0 ? "path_prefix must be a string"
        : api_member_int(o, "rate_per_s", &rate) < 0       ? "rate_per_s must be an integer"
        : api_member_int(o, "burst", &burst) < 0           ? "burst must be an integer"
                                                           : NULL;
    char code[GW_CODE_MAX + 1], version[GW_VERSION_MAX + 1];
    if (!bad && gw_parse_service_ref(ref, code, version) != 0)
        bad = "service must be CODE/VERSION";
    if (bad) {
        json_decref(o);
        api_error(req, LT_ERR_BAD_PARAMETER, bad);
        return;
    }
    struct admin_job *j = job_new(req, OP_GRANT_PUT);
    if (!j) {
        json_decref(o);
        return;
    }
    j->grant = (struct store_grant){
        .consumer_system = strdup(consumer),
        .service_code = strdup(code),
        .service_version = strdup(version),
        .methods = strdup(methods),
        .path_prefix = strdup(prefix),
        .rate_per_s = rate,
        .burst = burst,
    };
    json_decref(o);
    struct store_grant *g = &j->grant;
    if (!g->consumer_system || !g->service_code || !g->service_version || !g->methods ||
        !g->path_prefix) {
        admin_job_free(j);
        api_error(req, LT_ERR_INTERNAL, NULL);
        return;
    }
    char detail[256];
    enum lt_err e = gw_grant_check(g, detail, sizeof detail);
    if (e != LT_ERR_OK) {
        admin_job_free(j);
        api_error(req, e, detail);
        return;
    }
    submit(req, j);
}

static void access_revoke(struct http_request *req)
{
    const char *consumer = http_query(req, "consumer");
    char code[GW_CODE_MAX + 1], version[GW_VERSION_MAX + 1];
    int has_service;
    if (query_service(req, code, version, &has_service) != 0)
        return;
    if (!consumer || !*consumer || !has_service) {
        api_error(req, LT_ERR_BAD_PARAMETER, "consumer and service (CODE/VERSION) are required");
        return;
    }
    struct admin_job *j = job_new(req, OP_GRANT_REMOVE);
    if (!j)
        return;
    j->grant.consumer_system = strdup(consumer);
    j->grant.service_code = strdup(code);
    j->grant.service_version = strdup(version);
    if (!j->grant.consumer_system || !j->grant.service_code || !j->grant.service_version) {
        admin_job_free(j);
        api_error(req, LT_ERR_INTERNAL, NULL);
        return;
    }
    submit(req, j);
}

void api_access(struct http_request *req)
{
    if (!api_authorized(req)) {
        api_error(req, LT_ERR_UNAUTHORIZED, NULL);
        return;
    }
    const char *m = http_method(req);
    if (is_get(m))
        access_list(req);
    else if (strcmp(m, "POST") == 0)
        access_grant(req);
    else if (strcmp(m, "DELETE") == 0)
        access_revoke(req);
    else
        api_method_not_allowed(req);
}

/* --------------------------------------------------------------------------------- tokens */

static int list_token_cb(void *ctx, const struct store_token *t)
{
    struct list_ctx *l = ctx;
    if (l->system && strcmp(l->system, t->system_id) != 0)
        return 0;
    json_t *o = gw_token_to_json(t);
    if (!o || json_array_append_new(l->arr, o) != 0)
        l->oom = 1;
    return l->oom;
}

static void tokens_list(struct http_request *req)
{
    struct app *a = http_app(req);
    const char *system = http_query(req, "system");
    struct list_ctx l = {json_array(), system && *system ? system : NULL, 0};
    enum store_rc rc = l.arr
                           ? a->store->token_list_active(a->store->cls, now_ms(), list_token_cb, &l)
                           : STORE_HARD_ERROR;
    reply_list(req, "tokens", &l, rc);
}

static void tokens_revoke(struct http_request *req)
{
    json_t *o = api_body_object(req);
    if (!o)
        return;
    const char *system = NULL, *token = NULL;
    int rs = api_member_string(o, "system", &system), rt = api_member_string(o, "token", &token);
    if (rs < 0 || rt < 0 || (rs > 0) == (rt > 0) || (system && !*system) || (token && !*token)) {
        json_decref(o);
        api_error(req, LT_ERR_BAD_PARAMETER,
                  "give exactly one of \"system\" (a system id) and \"token\" (a token string)");
        return;
    }
    struct admin_job *j = job_new(req, OP_TOKEN_REVOKE);
    if (!j) {
        json_decref(o);
        return;
    }
    int failed = 0;
    if (system)
        failed = !(j->system = strdup(system));
    else {
        uint8_t digest[SHA256_LEN];
        failed = sha256(token, strlen(token), digest) != 0;
        if (!failed)
            hex_encode(digest, sizeof digest, j->hash);
    }
    json_decref(o);
    if (failed) {
        admin_job_free(j);
        api_error(req, LT_ERR_INTERNAL, NULL);
        return;
    }
    submit(req, j);
}

void api_tokens(struct http_request *req)
{
    if (!api_authorized(req)) {
        api_error(req, LT_ERR_UNAUTHORIZED, NULL);
        return;
    }
    const char *m = http_method(req);
    size_t n = strlen(http_url(req));
    int revoke = n >= 7 && strcmp(http_url(req) + n - 7, "/revoke") == 0;
    if (revoke && strcmp(m, "POST") == 0)
        tokens_revoke(req);
    else if (!revoke && is_get(m))
        tokens_list(req);
    else
        api_method_not_allowed(req);
}
