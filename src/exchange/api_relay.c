/* api_relay — the administration API of the relay between platforms (under /api/v1, behind the
 * administrator's bearer token like every /api/v1 route):
 *
 *   GET    /api/v1/platform                  this platform's identity (404 PLATFORM_NOT_SET)
 *   PUT    /api/v1/platform                  {"organ_id", "name"}: set it; 200 with it
 *   GET    /api/v1/peers                     {"peers": [peer...]} by name, secrets masked
 *   POST   /api/v1/peers                     {"name", "endpoint", "system_id", "secret"
 *                                            [, "pull_interval_ms"] [, "inbound_system"]}:
 *                                            201 with the peer
 *   GET    /api/v1/peers/{name}              the peer
 *   DELETE /api/v1/peers/{name}              remove it (409 PEER_IN_USE while routes name it)
 *   GET    /api/v1/routes                    {"routes": [route...]}, most specific first
 *   POST   /api/v1/routes                    {"pattern", "peer"}: 201 with the route
 *   DELETE /api/v1/routes/{pattern}          remove it; the pattern percent-encoded in the path
 *                                            ('*' may be sent as %2A or as it is)
 *   GET    /api/v1/routes/which?organ_id=ID  {"organ_id", "decision": "local"|"peer"|"none",
 *                                            "peer", "pattern"} (the last two null unless peer)
 *
 * The rules and JSON forms come from src/relay (shared with the CLI). Reads go straight to the
 * store; each change is a commit job run by the committer's one writer thread (the connection is
 * suspended meanwhile), which does its lookups, the change and its transaction-log record (actor
 * "operator") in one transaction, so a refused request changes nothing. Members not listed are
 * ignored (a GET reply can be sent back as a PUT); JSON null counts as absent. A route whose
 * pattern names a local agency is accepted (local agencies win anyway, see relay/route.h).
 * Identifiers in a path that cannot name anything (a malformed peer name or pattern) answer 404
 * like an unknown one, as /api/v1/services does.
 *
 * A peer object also carries "inbound_system" (the system of this platform the peer sends with,
 * "" when none; in a body, absent, null or "" mean none, anything else must have the form of a
 * system id) and a read-only "health": {"state": "up"|"backing-off"|"failing", "since",
 * "failures", "last_error", "next"}, as the running relay last stored it ("up" with empty times
 * for a peer it never wrote about). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edxml/edxml.h"
#include "exchange/api.h"
#include "exchange/app.h"
#include "relay/peer.h"
#include "relay/route.h"
#include "relay/which.h"
#include "store/committer.h"
#include "util/buf.h"
#include "util/timeutil.h"

#define PEERS_PREFIX "/api/v1/peers/"
#define ROUTES_PREFIX "/api/v1/routes/"
#define WHICH_PATH "/api/v1/routes/which"
#define IN_USE_LISTED 512 /* bytes of route patterns named in a PEER_IN_USE message */

static int is_get(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/* ---------------------------------------------------------------------------- commit jobs */

enum relay_op {
    OP_PLATFORM_SET,
    OP_PEER_ADD,
    OP_PEER_REMOVE,
    OP_ROUTE_ADD,
    OP_ROUTE_REMOVE,
};

struct relay_job {
    struct commit_job job;
    struct http_request *req;
    enum relay_op op;
    /* inputs (owned strings) */
    struct store_platform platform;
    struct store_peer peer;         /* add: the peer; remove: its name */
    struct store_relay_route route; /* add: the route; remove: its pattern */
    /* result of the last execute() */
    enum lt_err err;
    char detail[IN_USE_LISTED + 256];
    unsigned status;
    json_t *reply;
};

static void relay_job_free(struct relay_job *j)
{
    store_platform_clear(&j->platform);
    store_peer_clear(&j->peer);
    store_relay_route_clear(&j->route);
    json_decref(j->reply);
    free(j);
}

static enum store_rc refuse(struct relay_job *j, enum lt_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum store_rc refuse(struct relay_job *j, enum lt_err e, const char *fmt, ...)
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

/* "PATTERN:PEER", the object of a route's transaction-log records. */
static enum store_rc txlog_route(struct store *st, const char *operation, const char *pattern,
                                 const char *peer)
{
    char object[RELAY_PATTERN_MAX + RELAY_PEER_NAME_MAX + 2];
    snprintf(object, sizeof object, "%s:%s", pattern, peer);
    return txlog(st, operation, object);
}

static enum store_rc exec_platform_set(struct store *st, struct relay_job *j)
{
    struct store_platform cur = {0};
    enum store_rc rc = st->platform_get(st->cls, &cur);
    int64_t created = cur.created_ms;
    store_platform_clear(&cur);
    if (rc < 0)
        return rc;
    int64_t now = now_ms();
    j->platform.created_ms = rc == STORE_ONE_RESULT && created ? created : now;
    j->platform.updated_ms = now;
    if ((rc = st->platform_put(st->cls, &j->platform)) < 0 ||
        (rc = txlog(st, "platform.set", j->platform.organ_id)) < 0)
        return rc;
    j->reply = relay_platform_to_json(&j->platform);
    j->status = 200;
    return j->reply ? STORE_ONE_RESULT : STORE_HARD_ERROR;
}

/* The JSON form of a peer with its inbound system and health (never written: up, empty times);
 * NULL with *ret_rc negative on a store error, else NULL on allocation failure. */
static json_t *peer_json(struct store *st, const struct store_peer *p, enum store_rc *ret_rc)
{
    struct store_peer_state ps = {0};
    enum store_rc rc = st->peer_state_get(st->cls, p->name, &ps);
    *ret_rc = rc;
    if (rc < 0)
        return NULL;
    char since[25] = "", next[25] = "";
    if (ps.since_ms > 0)
        fmt_iso_utc(ps.since_ms, since);
    if (ps.next_ms > 0)
        fmt_iso_utc(ps.next_ms, next);
    json_t *o = relay_peer_to_json(p);
    /* set_new takes the value even when it fails (NULL included). */
    if (o && (json_object_set_new(o, "inbound_system",
                                  json_string(p->inbound_system ? p->inbound_system : "")) != 0 ||
              json_object_set_new(
                  o, "health",
                  json_pack("{s:s, s:s, s:i, s:s, s:s}", "state", store_peer_health_name(ps.health),
                            "since", since, "failures", ps.failures, "last_error",
                            ps.last_error ? ps.last_error : "", "next", next)) != 0)) {
        json_decref(o);
        o = NULL;
    }
    store_peer_state_clear(&ps);
    return o;
}

static enum store_rc exec_peer_add(struct store *st, struct relay_job *j)
{
    struct store_peer cur = {0};
    enum store_rc rc = st->peer_get(st->cls, j->peer.name, &cur);
    store_peer_clear(&cur);
    if (rc < 0)
        return rc;
    if (rc == STORE_ONE_RESULT)
        return refuse(j, LT_ERR_PEER_EXISTS, "%s", j->peer.name);
    j->peer.created_ms = j->peer.updated_ms = now_ms();
    if ((rc = st->peer_put(st->cls, &j->peer)) < 0 ||
        (rc = txlog(st, "peer.add", j->peer.name)) < 0)
        return rc;
    j->reply = peer_json(st, &j->peer, &rc);
    j->status = 201;
    return j->reply ? STORE_ONE_RESULT : rc < 0 ? rc : STORE_HARD_ERROR;
}

/* The routes that still name a peer: all counted, the first IN_USE_LISTED bytes listed. */
struct in_use {
    struct buf patterns;
    size_t n, listed;
    int oom;
};

static int in_use_cb(void *ctx, const struct store_relay_route *r)
{
    struct in_use *u = ctx;
    if (u->patterns.len < IN_USE_LISTED) {
        if (buf_printf(&u->patterns, "%s%s", u->n ? ", " : "", r->pattern) != 0)
            u->oom = 1;
        u->listed++;
    }
    u->n++;
    return u->oom;
}

static enum store_rc exec_peer_remove(struct store *st, struct relay_job *j)
{
    const char *name = j->peer.name;
    struct store_peer cur = {0};
    enum store_rc rc = st->peer_get(st->cls, name, &cur);
    store_peer_clear(&cur);
    if (rc < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return refuse(j, LT_ERR_UNKNOWN_PEER, "%s", name);
    struct in_use u = {0};
    rc = st->relay_route_list(st->cls, name, in_use_cb, &u);
    if (rc >= 0 && u.oom)
        rc = STORE_HARD_ERROR;
    if (rc >= 0 && u.n > 0) {
        int cut = u.listed < u.n;
        rc =
            refuse(j, LT_ERR_PEER_IN_USE, "peer %s is the target of %zu route%s: %s%s", name, u.n,
                   u.n == 1 ? "" : "s", u.patterns.data ? u.patterns.data : "", cut ? ", ..." : "");
        buf_free(&u.patterns);
        return rc;
    }
    buf_free(&u.patterns);
    if (rc < 0 || (rc = st->peer_remove(st->cls, name)) < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return STORE_HARD_ERROR; /* just found in this transaction */
    if ((rc = txlog(st, "peer.remove", name)) < 0)
        return rc;
    j->reply = json_pack("{s:s,s:b}", "name", name, "removed", 1);
    j->status = 200;
    return j->reply ? STORE_ONE_RESULT : STORE_HARD_ERROR;
}

static enum store_rc exec_route_add(struct store *st, struct relay_job *j)
{
    struct store_relay_route *r = &j->route;
    struct store_relay_route cur = {0};
    enum store_rc rc = st->relay_route_get(st->cls, r->pattern, &cur);
    if (rc == STORE_ONE_RESULT) {
        refuse(j, LT_ERR_ROUTE_EXISTS, "%s already routes to peer %s: remove it first", r->pattern,
               cur.peer);
        store_relay_route_clear(&cur);
        return STORE_ONE_RESULT;
    }
    if (rc < 0)
        return rc;
    struct store_peer peer = {0};
    rc = st->peer_get(st->cls, r->peer, &peer);
    store_peer_clear(&peer);
    if (rc < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return refuse(j, LT_ERR_UNKNOWN_PEER, "%s", r->peer);
    r->created_ms = now_ms();
    if ((rc = st->relay_route_put(st->cls, r)) < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return STORE_HARD_ERROR; /* the peer was just found */
    if ((rc = txlog_route(st, "route.add", r->pattern, r->peer)) < 0)
        return rc;
    j->reply = relay_route_to_json(r);
    j->status = 201;
    return j->reply ? STORE_ONE_RESULT : STORE_HARD_ERROR;
}

static enum store_rc exec_route_remove(struct store *st, struct relay_job *j)
{
    struct store_relay_route cur = {0};
    enum store_rc rc = st->relay_route_get(st->cls, j->route.pattern, &cur);
    if (rc < 0)
        return rc;
    if (rc == STORE_NO_RESULTS)
        return refuse(j, LT_ERR_UNKNOWN_ROUTE, "%s", j->route.pattern);
    if ((rc = st->relay_route_remove(st->cls, cur.pattern)) >= 0) {
        if (rc == STORE_NO_RESULTS)
            rc = STORE_HARD_ERROR; /* just found in this transaction */
        else
            rc = txlog_route(st, "route.remove", cur.pattern, cur.peer);
    }
    if (rc >= 0) {
        j->reply =
            json_pack("{s:s,s:s,s:b}", "pattern", cur.pattern, "peer", cur.peer, "removed", 1);
        j->status = 200;
        if (!j->reply)
            rc = STORE_HARD_ERROR;
    }
    store_relay_route_clear(&cur);
    return rc;
}

static enum store_rc relay_execute(struct store *st, struct commit_job *cj)
{
    struct relay_job *j = (struct relay_job *)cj;
    j->err = LT_ERR_OK;
    j->detail[0] = '\0';
    json_decref(j->reply);
    j->reply = NULL;
    j->status = 200;
    switch (j->op) {
    case OP_PLATFORM_SET:
        return exec_platform_set(st, j);
    case OP_PEER_ADD:
        return exec_peer_add(st, j);
    case OP_PEER_REMOVE:
        return exec_peer_remove(st, j);
    case OP_ROUTE_ADD:
        return exec_route_add(st, j);
    case OP_ROUTE_REMOVE:
        return exec_route_remove(st, j);
    }
    return STORE_HARD_ERROR;
}

/* A refused job wrote nothing: every check comes before its first write. */
static void relay_done(struct commit_job *cj, int ok)
{
    struct relay_job *j = (struct relay_job *)cj;
    if (!ok)
        api_complete_error(j->req, LT_ERR_STORE_FAILED, NULL);
    else if (j->err != LT_ERR_OK)
        api_complete_error(j->req, j->err, j->detail);
    else {
        api_complete_json(j->req, j->status, j->reply);
        j->reply = NULL;
    }
    relay_job_free(j);
}

static struct relay_job *job_new(struct http_request *req, enum relay_op op)
{
    struct relay_job *j = calloc(1, sizeof *j);
    if (!j) {
        api_error(req, LT_ERR_INTERNAL, NULL);
        return NULL;
    }
    j->req = req;
    j->op = op;
    j->job.execute = relay_execute;
    j->job.done = relay_done;
    return j;
}

static void submit(struct http_request *req, struct relay_job *j)
{
    struct app *a = http_app(req);
    http_suspend(req);
    if (committer_submit(a->committer, &j->job) != 0) {
        api_complete_error(req, LT_ERR_OVERLOADED, NULL);
        relay_job_free(j);
    }
}

/* Copies the strings of a job's input; on allocation failure answers and frees the job. */
static int dup_all(struct http_request *req, struct relay_job *j, char **dst[],
                   const char *const src[], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (src[i] && !(*dst[i] = strdup(src[i]))) {
            relay_job_free(j);
            api_error(req, LT_ERR_INTERNAL, NULL);
            return -1;
        }
    return 0;
}

/* ------------------------------------------------------------------------------- platform */

static void platform_get(struct http_request *req)
{
    struct app *a = http_app(req);
    struct store_platform p = {0};
    enum store_rc rc = a->store->platform_get(a->store->cls, &p);
    if (rc == STORE_ONE_RESULT)
        api_reply_json(req, 200, relay_platform_to_json(&p));
    else if (rc == STORE_NO_RESULTS)
        api_error(req, LT_ERR_PLATFORM_NOT_SET, "set it with PUT /api/v1/platform");
    else
        api_error(req, LT_ERR_STORE_FAILED, NULL);
    store_platform_clear(&p);
}

static void platform_set(struct http_request *req)
{
    json_t *o = api_body_object(req);
    if (!o)
        return;
    const char *organ = NULL, *name = NULL;
    const char *bad = api_member_string(o, "organ_id", &organ) <= 0
                          ? "organ_id is a required string"
                      : api_member_string(o, "name", &name) <= 0 ? "name is a required string"
                                                                 : NULL;
    struct store_platform probe = {.organ_id = (char *)organ, .name = (char *)name};
    char detail[256];
    enum lt_err e = LT_ERR_BAD_PARAMETER;
    if (bad)
        snprintf(detail, sizeof detail, "%s", bad);
    else
        e = relay_platform_check(&probe, detail, sizeof detail);
    if (e != LT_ERR_OK) {
        json_decref(o);
        api_error(req, e, detail);
        return;
    }
    struct relay_job *j = job_new(req, OP_PLATFORM_SET);
    if (!j) {
        json_decref(o);
        return;
    }
    char **dst[] = {&j->platform.organ_id, &j->platform.name};
    const char *src[] = {organ, name};
    int r = dup_all(req, j, dst, src, 2);
    json_decref(o);
    if (r == 0)
        submit(req, j);
}

void api_relay_platform(struct http_request *req)
{
    if (!api_authorized(req)) {
        api_error(req, LT_ERR_UNAUTHORIZED, NULL);
        return;
    }
    const char *m = http_method(req);
    if (is_get(m))
        platform_get(req);
    else if (strcmp(m, "PUT") == 0)
        platform_set(req);
    else
        api_method_not_allowed(req);
}

/* ---------------------------------------------------------------------------------- peers */

struct list_ctx {
    json_t *arr;
    int oom;
    struct store *st;
    enum store_rc store_err; /* a failed health lookup (0 when none) */
};

static int list_peer_cb(void *ctx, const struct store_peer *p)
{
    struct list_ctx *l = ctx;
    enum store_rc rc;
    json_t *o = peer_json(l->st, p, &rc);
    if (!o && rc < 0)
        l->store_err = rc;
    else if (!o || json_array_append_new(l->arr, o) != 0)
        l->oom = 1;
    return l->oom || l->store_err;
}

static void reply_list(struct http_request *req, const char *member, struct list_ctx *l,
                       enum store_rc rc)
{
    if (l->store_err) {
        json_decref(l->arr);
        api_error(req, LT_ERR_STORE_FAILED, NULL);
    } else if (l->oom || !l->arr) {
        json_decref(l->arr);
        api_error(req, LT_ERR_INTERNAL, NULL);
    } else if (rc < 0) {
        json_decref(l->arr);
        api_error(req, LT_ERR_STORE_FAILED, NULL);
    } else {
        api_reply_json(req, 200, json_pack("{s:o}", member, l->arr));
    }
}

static void peers_list(struct http_request *req)
{
    struct app *a = http_app(req);
    struct list_ctx l = {.arr = json_array(), .st = a->store};
    enum store_rc rc =
        l.arr ? a->store->peer_list(a->store->cls, list_peer_cb, &l) : STORE_HARD_ERROR;
    reply_list(req, "peers", &l, rc);
}

static void peers_add(struct http_request *req)
{
    json_t *o = api_body_object(req);
    if (!o)
        return;
    const char *name = NULL, *endpoint = NULL, *system_id = NULL, *secret = NULL, *inbound = NULL;
    int64_t pull = RELAY_PULL_DEFAULT_MS;
    const char *bad =
        api_member_string(o, "name", &name) <= 0             ? "name is a required string"
        : api_member_string(o, "endpoint", &endpoint) <= 0   ? "endpoint is a required string"
        : api_member_string(o, "system_id", &system_id) <= 0 ? "system_id is a required string"
        : api_member_string(o, "secret", &secret) <= 0       ? "secret is a required string"
        : api_member_int(o, "pull_interval_ms", &pull) < 0   ? "pull_interval_ms must be an integer"
        : api_member_string(o, "inbound_system", &inbound) < 0 ? "inbound_system must be a string"
                                                               : NULL;
    /* "" is none, as a GET reply shows a peer without one. */
    if (inbound && !*inbound)
        inbound = NULL;
    char detail[256];
    enum lt_err e = LT_ERR_BAD_PARAMETER;
    struct store_peer probe = {
        .name = (char *)name,
        .endpoint = (char *)endpoint,
        .system_id = (char *)system_id,
        .secret = (char *)secret,
        .pull_interval_ms = pull,
    };
    if (bad)
        snprintf(detail, sizeof detail, "%s", bad);
    else if ((e = relay_peer_check(&probe, detail, sizeof detail)) == LT_ERR_OK && inbound &&
             !edxml_organ_id_ok(inbound)) {
        e = LT_ERR_BAD_PARAMETER;
        snprintf(detail, sizeof detail,
                 "inbound_system must be a system id (letters, digits, '.', '_', '-'; at most %d "
                 "characters)",
                 STORE_ID_MAX);
    }
    if (e != LT_ERR_OK) {
        json_decref(o);
        api_error(req, e, detail);
        return;
    }
    struct relay_job *j = job_new(req, OP_PEER_ADD);
    if (!j) {
        json_decref(o);
        return;
    }
    j->peer.pull_interval_ms = pull;
    char **dst[] = {&j->peer.name, &j->peer.endpoint, &j->peer.system_id, &j->peer.secret,
                    &j->peer.inbound_system};
    const char *src[] = {name, endpoint, system_id, secret, inbound};
    int r = dup_all(req, j, dst, src, 5);
    json_decref(o);
    if (r == 0)
        submit(req, j);
}

static void peer_get(struct http_request *req, const char *name)
{
    struct app *a = http_app(req);
    struct store_peer p = {0};
    enum store_rc rc = a->store->peer_get(a->store->cls, name, &p);
    if (rc == STORE_NO_RESULTS) {
        api_error(req, LT_ERR_UNKNOWN_PEER, name);
    } else if (rc < 0) {
        api_error(req, LT_ERR_STORE_FAILED, NULL);
    } else {
        json_t *o = peer_json(a->store, &p, &rc);
        if (o)
            api_reply_json(req, 200, o);
        else
            api_error(req, rc < 0 ? LT_ERR_STORE_FAILED : LT_ERR_INTERNAL, NULL);
    }
    store_peer_clear(&p);
}

static void peer_remove(struct http_request *req, const char *name)
{
    struct relay_job *j = job_new(req, OP_PEER_REMOVE);
    if (!j)
        return;
    char **dst[] = {&j->peer.name};
    const char *src[] = {name};
    if (dup_all(req, j, dst, src, 1) == 0)
        submit(req, j);
}

void api_relay_peers(struct http_request *req)
{
    if (!api_authorized(req)) {
        api_error(req, LT_ERR_UNAUTHORIZED, NULL);
        return;
    }
    const char *m = http_method(req);
    const char *url = http_url(req);
    if (strncmp(url, PEERS_PREFIX, strlen(PEERS_PREFIX)) != 0) {
        if (is_get(m))
            peers_list(req);
        else if (strcmp(m, "POST") == 0)
            peers_add(req);
        else
            api_method_not_allowed(req);
        return;
    }
    const char *name = url + strlen(PEERS_PREFIX);
    if (!relay_peer_name_ok(name)) {
        api_error(req, LT_ERR_UNKNOWN_PEER, "the path must be /api/v1/peers/NAME");
        return;
    }
    if (is_get(m))
        peer_get(req, name);
    else if (strcmp(m, "DELETE") == 0)
        peer_remove(req, name);
    else
        api_method_not_allowed(req);
}

/* --------------------------------------------------------------------------------- routes */

static void routes_list(struct http_request *req)
{
    struct app *a = http_app(req);
    struct relay_table t = {0};
    if (relay_table_load(a->store, NULL, &t) != STORE_ONE_RESULT) {
        api_error(req, LT_ERR_STORE_FAILED, NULL);
        return;
    }
    /* In the order they are tried. */
    json_t *arr = json_array();
    int oom = !arr;
    for (size_t i = 0; !oom && i < t.n; i++) {
        json_t *o = relay_route_to_json(&t.rows[i]);
        if (!o || json_array_append_new(arr, o) != 0)
            oom = 1;
    }
    relay_table_free(&t);
    if (oom) {
        json_decref(arr);
        api_error(req, LT_ERR_INTERNAL, NULL);
        return;
    }
    api_reply_json(req, 200, json_pack("{s:o}", "routes", arr));
}

static void routes_add(struct http_request *req)
{
    json_t *o = api_body_object(req);
    if (!o)
        return;
    const char *pattern = NULL, *peer = NULL;
    char detail[256];
    enum lt_err e = LT_ERR_BAD_PARAMETER;
    if (api_member_string(o, "pattern", &pattern) <= 0)
        snprintf(detail, sizeof detail, "pattern is a required string");
    else if (api_member_string(o, "peer", &peer) <= 0)
        snprintf(detail, sizeof detail, "peer is a required string");
    else if ((e = relay_pattern_check(pattern, detail, sizeof detail)) == LT_ERR_OK &&
             !relay_peer_name_ok(peer)) {
        e = LT_ERR_BAD_PARAMETER;
        snprintf(detail, sizeof detail, "peer must be a peer name (1 to %d of [A-Za-z0-9._-])",
                 RELAY_PEER_NAME_MAX);
    }
    if (e != LT_ERR_OK) {
        json_decref(o);
        api_error(req, e, detail);
        return;
    }
    struct relay_job *j = job_new(req, OP_ROUTE_ADD);
    if (!j) {
        json_decref(o);
        return;
    }
    char **dst[] = {&j->route.pattern, &j->route.peer};
    const char *src[] = {pattern, peer};
    int r = dup_all(req, j, dst, src, 2);
    json_decref(o);
    if (r == 0)
        submit(req, j);
}

static void route_remove(struct http_request *req, const char *pattern)
{
    struct relay_job *j = job_new(req, OP_ROUTE_REMOVE);
    if (!j)
        return;
    char **dst[] = {&j->route.pattern};
    const char *src[] = {pattern};
    if (dup_all(req, j, dst, src, 1) == 0)
        submit(req, j);
}

static void routes_which(struct http_request *req)
{
    struct app *a = http_app(req);
    const char *organ = http_query(req, "organ_id");
    if (!organ || !*organ) {
        api_error(req, LT_ERR_BAD_ORGAN_ID, "organ_id is required");
        return;
    }
    struct relay_answer ans;
    enum lt_err e = relay_which(a->store, organ, &ans);
    if (e != LT_ERR_OK) {
        api_error(req, e, e == LT_ERR_BAD_ORGAN_ID ? "organ_id" : NULL);
        return;
    }
    int peer = ans.target == RELAY_PEER;
    api_reply_json(req, 200,
                   json_pack("{s:s, s:s, s:s?, s:s?}", "organ_id", organ, "decision",
                             relay_target_name(ans.target), "peer", peer ? ans.peer : NULL,
                             "pattern", peer ? ans.pattern : NULL));
}

void api_relay_routes(struct http_request *req)
{
    if (!api_authorized(req)) {
        api_error(req, LT_ERR_UNAUTHORIZED, NULL);
        return;
    }
    const char *m = http_method(req);
    const char *url = http_url(req);
    if (strncmp(url, ROUTES_PREFIX, strlen(ROUTES_PREFIX)) != 0) {
        if (is_get(m))
            routes_list(req);
        else if (strcmp(m, "POST") == 0)
            routes_add(req);
        else
            api_method_not_allowed(req);
        return;
    }
    /* GET .../which is the decision; DELETE .../which removes the route "which" (a valid
     * pattern): the method tells them apart, and a route is never read by its pattern. */
    if (is_get(m) && strcmp(url, WHICH_PATH) == 0) {
        routes_which(req);
        return;
    }
    if (strcmp(m, "DELETE") != 0) {
        api_method_not_allowed(req);
        return;
    }
    const char *pattern = url + strlen(ROUTES_PREFIX);
    if (!relay_pattern_ok(pattern)) {
        api_error(req, LT_ERR_UNKNOWN_ROUTE,
                  "the path must be /api/v1/routes/PATTERN (percent-encoded)");
        return;
    }
    route_remove(req, pattern);
}
