/* api — /healthz, /metrics, the native JSON API (/api/v1) and the replies the HTTP layer needs
 * before a route is known. Native API errors share one shape:
 *   {"code": <registry code>, "error": "<NAME>", "message": "<ASCII text>"}
 * with the registry's HTTP status. */
#include "exchange/api.h"

#include <stdlib.h>
#include <string.h>

#include "exchange/app.h"
#include "store/committer.h"
#include "exchange/vxp.h"
#include "report/callstats.h"
#include "report/relaystats.h"
#include "report/stats.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/log.h"

#include <sys/statvfs.h>
#include "util/timeutil.h"

#define JSON_CT "application/json; charset=utf-8"

void api_reply_json(struct http_request *req, unsigned status, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    if (!s) {
        http_reply(req, 500, NULL, "", 0);
        return;
    }
    http_reply(req, status, JSON_CT, s, strlen(s));
    free(s);
}

void api_error(struct http_request *req, enum lt_err e, const char *detail)
{
    size_t len = 0;
    char *s = lt_err_json(e, detail, &len);
    if (!s) {
        http_reply(req, 500, NULL, "", 0);
        return;
    }
    http_reply(req, (unsigned)lt_err_http(e), JSON_CT, s, len);
    free(s);
}

/* The asynchronous forms of api_reply_json / api_error, for replies sent from the committer. */
void api_complete_json(struct http_request *req, unsigned status, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    if (!s) {
        http_complete(req, 500, NULL, "", 0);
        return;
    }
    http_complete(req, status, JSON_CT, s, strlen(s));
    free(s);
}

void api_complete_error(struct http_request *req, enum lt_err e, const char *detail)
{
    size_t len = 0;
    char *s = lt_err_json(e, detail, &len);
    if (!s) {
        http_complete(req, 500, NULL, "", 0);
        return;
    }
    http_complete(req, (unsigned)lt_err_http(e), JSON_CT, s, len);
    free(s);
}

json_t *api_body_object(struct http_request *req)
{
    const char *mem = http_body_mem(req);
    struct buf b = {0};
    if (!mem) {
        char chunk[4096];
        long n;
        while ((n = http_body_read(req, chunk, sizeof chunk)) > 0) {
            if (b.len + (size_t)n > API_BODY_MAX) {
                buf_free(&b);
                api_error(req, LT_ERR_BODY_TOO_LARGE, "administration bodies are at most 64 KiB");
                return NULL;
            }
            if (buf_append(&b, chunk, (size_t)n) != 0) {
                buf_free(&b);
                api_error(req, LT_ERR_INTERNAL, NULL);
                return NULL;
            }
        }
        if (n < 0) {
            buf_free(&b);
            api_error(req, LT_ERR_INTERNAL, "cannot read the request body");
            return NULL;
        }
    }
    json_error_t jerr;
    json_t *o = mem ? json_loadb(mem, (size_t)http_body_len(req), JSON_REJECT_DUPLICATES, &jerr)
                    : json_loadb(b.data ? b.data : "", b.len, JSON_REJECT_DUPLICATES, &jerr);
    buf_free(&b);
    if (!json_is_object(o)) {
        json_decref(o);
        api_error(req, LT_ERR_BAD_PARAMETER, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

int api_member_string(json_t *o, const char *key, const char **ret)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *ret = json_string_value(v);
    return 1;
}

int api_member_int(json_t *o, const char *key, int64_t *ret)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return -1;
    *ret = (int64_t)json_integer_value(v);
    return 1;
}

/* 200 while the store commits; 503 with the reason while it cannot (disk full, I/O error),
 * each such answer queueing a probe so that health comes back by itself. */
void api_healthz(struct http_request *req)
{
    struct app *a = http_app(req);
    struct committer_health h;
    committer_health(a->committer, &h);
    if (!h.failing) {
        api_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
        return;
    }
    committer_probe(a->committer);
    char since[32];
    fmt_local_datetime(h.since_ms, since);
    api_reply_json(
        req, 503,
        json_pack("{s:s,s:s,s:s}", "status", "failing", "reason", h.reason, "since", since));
}

void api_metrics(struct http_request *req)
{
    struct app *a = http_app(req);
    uint64_t batches = 0, jobs = 0;
    committer_counts(a->committer, &batches, &jobs);
    struct buf b = {0};
    buf_printf(&b,
               "# HELP lienthong_vxp_requests_total VXP requests received.\n"
               "# TYPE lienthong_vxp_requests_total counter\n"
               "lienthong_vxp_requests_total %llu\n"
               "# HELP lienthong_vxp_failures_total VXP requests answered FAIL.\n"
               "# TYPE lienthong_vxp_failures_total counter\n"
               "lienthong_vxp_failures_total %llu\n"
               "# HELP lienthong_packages_accepted_total Packages accepted, by message type.\n"
               "# TYPE lienthong_packages_accepted_total counter\n"
               "lienthong_packages_accepted_total{messagetype=\"edoc\"} %llu\n"
               "lienthong_packages_accepted_total{messagetype=\"status\"} %llu\n"
               "# HELP lienthong_acks_total updateStatus acknowledgements applied.\n"
               "# TYPE lienthong_acks_total counter\n"
               "lienthong_acks_total %llu\n"
               "# HELP lienthong_commit_batches_total Durable commits (group commit batches).\n"
               "# TYPE lienthong_commit_batches_total counter\n"
               "lienthong_commit_batches_total %llu\n"
               "# HELP lienthong_commit_jobs_total Jobs committed in those batches.\n"
               "# TYPE lienthong_commit_jobs_total counter\n"
               "lienthong_commit_jobs_total %llu\n"
               "# HELP lienthong_uptime_seconds Seconds since the server started.\n"
               "# TYPE lienthong_uptime_seconds gauge\n"
               "lienthong_uptime_seconds %lld\n",
               (unsigned long long)atomic_load(&a->metrics.requests),
               (unsigned long long)atomic_load(&a->metrics.failures),
               (unsigned long long)atomic_load(&a->metrics.sent_edoc),
               (unsigned long long)atomic_load(&a->metrics.sent_status),
               (unsigned long long)atomic_load(&a->metrics.acks), (unsigned long long)batches,
               (unsigned long long)jobs, (long long)((now_ms() - a->started_ms) / 1000));
    struct committer_health ch;
    committer_health(a->committer, &ch);
    struct statvfs vfs;
    unsigned long long free_bytes =
        statvfs(a->cfg.data_dir, &vfs) == 0 ? (unsigned long long)vfs.f_bavail * vfs.f_frsize : 0;
    buf_printf(&b,
               "# HELP lienthong_commit_failures_total Batches the store could not commit.\n"
               "# TYPE lienthong_commit_failures_total counter\n"
               "lienthong_commit_failures_total %llu\n"
               "# HELP lienthong_store_failing 1 while the store cannot commit.\n"
               "# TYPE lienthong_store_failing gauge\n"
               "lienthong_store_failing %d\n"
               "# HELP lienthong_data_free_bytes Free space for lienthong on the data directory's "
               "file system.\n"
               "# TYPE lienthong_data_free_bytes gauge\n"
               "lienthong_data_free_bytes %llu\n",
               (unsigned long long)ch.failures, ch.failing, free_bytes);
    buf_printf(&b,
               "# HELP lienthong_corruption_total Stored packages whose bytes did not match their "
               "SHA-256 when read.\n"
               "# TYPE lienthong_corruption_total counter\n"
               "lienthong_corruption_total %llu\n",
               (unsigned long long)atomic_load(&a->metrics.corruption));
    struct http_counters hc;
    http_counters(a->http, &hc);
    buf_printf(&b,
               "# HELP lienthong_http_refused_total Requests and connections the HTTP layer "
               "refused on its own, by reason.\n"
               "# TYPE lienthong_http_refused_total counter\n"
               "lienthong_http_refused_total{reason=\"malformed\"} %llu\n"
               "lienthong_http_refused_total{reason=\"head_timeout\"} %llu\n"
               "lienthong_http_refused_total{reason=\"per_ip_limit\"} %llu\n"
               "lienthong_http_refused_total{reason=\"connection_limit\"} %llu\n"
               "# HELP lienthong_http_connections Open client connections.\n"
               "# TYPE lienthong_http_connections gauge\n"
               "lienthong_http_connections %llu\n",
               (unsigned long long)hc.bad_requests, (unsigned long long)hc.head_timeouts,
               (unsigned long long)hc.refused_per_ip, (unsigned long long)hc.refused_overloaded,
               (unsigned long long)hc.open_connections);
    struct gateway_counts gc;
    gateway_counts(a->gateway, &gc);
    buf_printf(
        &b,
        "# HELP lienthong_gateway_calls_total Gateway calls received.\n"
        "# TYPE lienthong_gateway_calls_total counter\n"
        "lienthong_gateway_calls_total %llu\n"
        "# HELP lienthong_gateway_forwarded_total Gateway calls forwarded to a provider.\n"
        "# TYPE lienthong_gateway_forwarded_total counter\n"
        "lienthong_gateway_forwarded_total %llu\n"
        "# HELP lienthong_gateway_refused_total Gateway calls refused by the gateway.\n"
        "# TYPE lienthong_gateway_refused_total counter\n"
        "lienthong_gateway_refused_total %llu\n"
        "# HELP lienthong_gateway_upstream_failures_total Connection failures and timeouts.\n"
        "# TYPE lienthong_gateway_upstream_failures_total counter\n"
        "lienthong_gateway_upstream_failures_total %llu\n"
        "# HELP lienthong_gateway_in_flight Calls being forwarded now.\n"
        "# TYPE lienthong_gateway_in_flight gauge\n"
        "lienthong_gateway_in_flight %llu\n"
        "# HELP lienthong_gateway_breakers_open Providers whose circuit breaker is open.\n"
        "# TYPE lienthong_gateway_breakers_open gauge\n"
        "lienthong_gateway_breakers_open %llu\n",
        (unsigned long long)gc.calls, (unsigned long long)gc.forwarded,
        (unsigned long long)gc.refused, (unsigned long long)gc.upstream_failures,
        (unsigned long long)gc.in_flight, (unsigned long long)gc.breakers_open);
    http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_free(&b);
}

/* Bearer token of the operator (DATA/admin.token), compared in constant time. */
int api_authorized(struct http_request *req)
{
    struct app *a = http_app(req);
    const char *t = http_bearer(req);
    if (t && ct_equal(t, strlen(t), a->admin_token, strlen(a->admin_token)))
        return 1;
    char ip[64];
    if (http_client_ip(req, ip, sizeof ip) != 0)
        snprintf(ip, sizeof ip, "?");
    log_info("api: %s %.200s refused client=%s: %s", http_method(req), http_raw_uri(req), ip,
             t ? "wrong administrator token" : "no administrator token");
    return 0;
}

void api_stats(struct http_request *req)
{
    struct app *a = http_app(req);
    if (!api_authorized(req)) {
        api_error(req, LT_ERR_UNAUTHORIZED, NULL);
        return;
    }
    const char *from = http_query(req, "from"), *to = http_query(req, "to");
    int64_t from_ms = 0, to_ms = 0;
    if (from && *from && parse_local_date(from, &from_ms) != 0) {
        api_error(req, LT_ERR_BAD_PARAMETER, "from must be YYYY-MM-DD");
        return;
    }
    if (to && *to) {
        if (parse_local_date(to, &to_ms) != 0) {
            api_error(req, LT_ERR_BAD_PARAMETER, "to must be YYYY-MM-DD");
            return;
        }
        to_ms += 24LL * 3600 * 1000; /* the whole last day */
    }
    const char *period_s = http_query(req, "period");
    enum callstats_period period = CALLSTATS_DAY;
    if (period_s && *period_s && callstats_period_parse(period_s, &period) != 0) {
        api_error(req, LT_ERR_BAD_PARAMETER, "period must be day or month");
        return;
    }
    struct stats_result r;
    if (stats_collect(a->store, from_ms, to_ms, &r) != 0) {
        api_error(req, LT_ERR_STORE_FAILED, NULL);
        return;
    }
    struct callstats_result cr;
    if (callstats_collect(a->store, from_ms, to_ms, period, &cr) != 0) {
        stats_result_clear(&r);
        api_error(req, LT_ERR_STORE_FAILED, NULL);
        return;
    }
    struct relaystats_result rr;
    if (relaystats_collect(a->store, from_ms, to_ms, &rr) != 0) {
        stats_result_clear(&r);
        callstats_result_clear(&cr);
        api_error(req, LT_ERR_STORE_FAILED, NULL);
        return;
    }
    /* The documents figures stay the top-level members; the gateway's and the relay's sit
     * beside them. */
    json_t *o = stats_to_json(&r, from ? from : "", to ? to : "");
    json_t *g = callstats_to_json(&cr, from ? from : "", to ? to : "");
    json_t *rl = relaystats_to_json(&rr);
    stats_result_clear(&r);
    callstats_result_clear(&cr);
    relaystats_result_clear(&rr);
    if (!o || !g || !rl) {
        json_decref(o);
        json_decref(g);
        json_decref(rl);
        o = NULL;
    } else if (json_object_set_new(o, "gateway", g) != 0 ||
               json_object_set_new(o, "relay", rl) != 0) {
        json_decref(o);
        o = NULL;
    }
    api_reply_json(req, 200, o);
}

void api_method_not_allowed(struct http_request *req)
{
    api_error(req, LT_ERR_METHOD_NOT_ALLOWED, http_method(req));
}

void api_not_found(struct http_request *req)
{
    api_error(req, LT_ERR_UNKNOWN_OPERATION, NULL);
}

/* Before a route is known: VXP operations get the VXP envelope, everything else the API one. */
static void early_error(struct http_request *req, enum lt_err e)
{
    const struct vxp_op *op = vxp_find_op(http_url(req));
    if (!op || strncmp(http_url(req), "/api/", 5) == 0) {
        api_error(req, e, NULL);
        return;
    }
    if (op->fail_shape == VXP_FAIL_EMPTY_BODY) {
        http_reply(req, 404, NULL, "", 0);
        return;
    }
    struct app *a = http_app(req);
    atomic_fetch_add(&a->metrics.failures, 1);
    size_t len;
    char *body = vxp_render(e, NULL, vxp_fail_members(op->fail_shape), &len);
    if (body)
        http_reply(req, 200, JSON_CT, body, len);
    free(body);
}

void api_too_large(struct http_request *req)
{
    early_error(req, LT_ERR_BODY_TOO_LARGE);
}

void api_bad_headers(struct http_request *req)
{
    early_error(req, LT_ERR_HEADERS_TOO_LARGE);
}

void api_no_storage(struct http_request *req)
{
    early_error(req, LT_ERR_NO_STORAGE);
}
