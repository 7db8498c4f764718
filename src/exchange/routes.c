/* routes — the one route table of lienthong's HTTP server, and the VXP dispatcher.
 *
 * URL layout: the VXP operations are matched on the LAST path segment (the SDK builds
 * endpoint + "/" + operation, endpoints may carry a base path or a trailing slash), so every
 * other route lives under a reserved first segment that no VXP operation name can take:
 * /healthz, /metrics, /api/v1/..., /token and the data-sharing gateway /gw/... (checked first, so
 * a gateway path ending in a VXP operation name is still a gateway call). */
#include <stdlib.h>
#include <string.h>

#include "exchange/api.h"
#include "exchange/vxp.h"
#include "gateway/gateway.h"

static const struct vxp_op ops[] = {
    {.name = "sendEdoc", .fail_shape = VXP_FAIL_DOCID, .handler = op_send_edoc},
    {.name = "getReceivedEdocList",
     .fail_shape = VXP_FAIL_DATA_LIST,
     .handler = op_get_received_list},
    {.name = "getSentEdocList", .fail_shape = VXP_FAIL_DATA_LIST, .handler = op_get_sent_list},
    {.name = "getEdoc", .fail_shape = VXP_FAIL_DATA_STRING, .handler = op_get_edoc},
    {.name = "updateStatus", .fail_shape = VXP_FAIL_PLAIN, .handler = op_update_status},
    {.name = "countReceiveEdoc", .fail_shape = VXP_FAIL_COUNT, .handler = op_count_receive_edoc},
    {.name = "countReceiveStatus",
     .fail_shape = VXP_FAIL_COUNT,
     .handler = op_count_receive_status},
    {.name = "downloadEdoc",
     .allow_get = 1,
     .fail_shape = VXP_FAIL_EMPTY_BODY,
     .handler = op_download_edoc},
    {.name = "getAgenciesList", .fail_shape = VXP_FAIL_DATA_LIST, .handler = op_get_agencies},
    {.name = "getAgenciesListQD20",
     .fail_shape = VXP_FAIL_DATA_LIST,
     .handler = op_get_agencies_qd20},
    {.name = "getSynchronizeUnit",
     .fail_shape = VXP_FAIL_DATA_LIST,
     .handler = op_get_synchronize_unit},
    {.name = "registerAgency", .fail_shape = VXP_FAIL_PLAIN, .handler = op_register_agency},
    {.name = "deleteAgency", .fail_shape = VXP_FAIL_PLAIN, .handler = op_delete_agency},
};

/* A path ending in '/' matches every path below it (the handler parses the rest); several
 * entries may share a path, one per method. */
static const struct api_route api_routes[] = {
    {.path = "/healthz", .method = "GET", .handler = api_healthz},
    {.path = "/metrics", .method = "GET", .handler = api_metrics},
    {.path = "/api/v1/stats", .method = "GET", .handler = api_stats},
    {.path = "/api/v1/services", .method = "GET", .handler = api_services},
    {.path = "/api/v1/services", .method = "POST", .handler = api_services},
    {.path = "/api/v1/services/", .method = "GET", .handler = api_services},
    {.path = "/api/v1/services/", .method = "PUT", .handler = api_services},
    {.path = "/api/v1/services/", .method = "DELETE", .handler = api_services},
    {.path = "/api/v1/access", .method = "GET", .handler = api_access},
    {.path = "/api/v1/access", .method = "POST", .handler = api_access},
    {.path = "/api/v1/access", .method = "DELETE", .handler = api_access},
    {.path = "/api/v1/tokens", .method = "GET", .handler = api_tokens},
    {.path = "/api/v1/tokens/revoke", .method = "POST", .handler = api_tokens},
    {.path = "/api/v1/platform", .method = "GET", .handler = api_relay_platform},
    {.path = "/api/v1/platform", .method = "PUT", .handler = api_relay_platform},
    {.path = "/api/v1/peers", .method = "GET", .handler = api_relay_peers},
    {.path = "/api/v1/peers", .method = "POST", .handler = api_relay_peers},
    {.path = "/api/v1/peers/", .method = "GET", .handler = api_relay_peers},
    {.path = "/api/v1/peers/", .method = "DELETE", .handler = api_relay_peers},
    {.path = "/api/v1/routes", .method = "GET", .handler = api_relay_routes},
    {.path = "/api/v1/routes", .method = "POST", .handler = api_relay_routes},
    /* GET .../which is the decision; DELETE .../PATTERN removes a route ("which" included) */
    {.path = "/api/v1/routes/which", .method = "GET", .handler = api_relay_routes},
    {.path = "/api/v1/routes/", .method = "DELETE", .handler = api_relay_routes},
};

/* Length of the path part of url (without a query string). */
static size_t path_len(const char *url)
{
    const char *q = strchr(url, '?');
    return q ? (size_t)(q - url) : strlen(url);
}

const struct vxp_op *vxp_find_op(const char *url)
{
    size_t n = path_len(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    size_t start = n;
    while (start > 0 && url[start - 1] != '/')
        start--;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (strlen(ops[i].name) == n - start && memcmp(ops[i].name, url + start, n - start) == 0)
            return &ops[i];
    }
    return NULL;
}

static void call_free(void *p)
{
    struct vxp_call *call = p;
    json_decref(call->params);
    free(call);
}

void vxp_dispatch(struct http_request *req)
{
    struct vxp_call *call = calloc(1, sizeof *call);
    if (!call) {
        http_reply(req, 503, NULL, "", 0);
        return;
    }
    call->req = req;
    call->app = http_app(req);
    call->op = vxp_find_op(http_url(req));
    http_set_state(req, call, call_free);
    atomic_fetch_add(&call->app->metrics.requests, 1);
    const char *m = http_method(req);
    if (strcmp(m, "POST") != 0 && !(call->op->allow_get && strcmp(m, "GET") == 0)) {
        vxp_fail(call, LT_ERR_METHOD_NOT_ALLOWED, m);
        return;
    }
    enum lt_err e = vxp_authenticate(call);
    if (e != LT_ERR_OK) {
        vxp_fail(call, e, NULL);
        return;
    }
    call->op->handler(call);
}

static void gateway_call_route(struct http_request *req)
{
    struct app *a = http_app(req);
    gateway_call(a->gateway, req);
}

static void gateway_token_route(struct http_request *req)
{
    struct app *a = http_app(req);
    gateway_token(a->gateway, req);
}

http_handler_fn app_router(void *app, const char *method, const char *url)
{
    size_t n = path_len(url);
    if (strncmp(url, "/gw/", 4) == 0)
        return gateway_call_route;
    if (n == 6 && memcmp(url, "/token", 6) == 0)
        return strcmp(method, "POST") == 0 ? gateway_token_route : api_method_not_allowed;
    http_handler_fn path_found = NULL;
    for (size_t i = 0; i < sizeof api_routes / sizeof api_routes[0]; i++) {
        const struct api_route *r = &api_routes[i];
        size_t rl = strlen(r->path);
        int match = r->path[rl - 1] == '/' ? n > rl && memcmp(r->path, url, rl) == 0
                                           : rl == n && memcmp(r->path, url, n) == 0;
        if (!match)
            continue;
        if (strcmp(method, r->method) == 0)
            return r->handler;
        if (!path_found)
            path_found = strcmp(method, "HEAD") == 0 ? r->handler : api_method_not_allowed;
    }
    if (path_found)
        return path_found;
    if (strncmp(url, "/api/", 5) == 0 || strncmp(url, "/healthz", 8) == 0 ||
        strncmp(url, "/metrics", 8) == 0)
        return NULL;
    return vxp_find_op(url) ? vxp_dispatch : NULL;
}
