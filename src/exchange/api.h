/* api — the routes outside the VXP protocol: /healthz, /metrics (Prometheus text) and the native
 * JSON API under /api/v1 (bearer token from DATA/admin.token), plus the replies the HTTP layer
 * needs before any route is known (not found, body too large, header limits). */
#ifndef LT_EXCHANGE_API_H
#define LT_EXCHANGE_API_H

#include <jansson.h>
#include <stdint.h>

#include "http/http.h"
#include "util/errors.h"

struct api_route {
    const char *path;
    const char *method;
    http_handler_fn handler;
};

http_handler_fn app_router(void *app, const char *method, const char *url);

/* Shared by every /api/v1 handler: a JSON reply (o stolen), the one error shape, and the check of
 * the administrator's bearer token (1 when authorised, else 0: the caller answers UNAUTHORIZED). */
void api_reply_json(struct http_request *req, unsigned status, json_t *o);
void api_error(struct http_request *req, enum lt_err e, const char *detail);
int api_authorized(struct http_request *req);

/* For handlers that reply from the committer thread after http_suspend(): the same reply and
 * error shape, completing the suspended request. */
void api_complete_json(struct http_request *req, unsigned status, json_t *o);
void api_complete_error(struct http_request *req, enum lt_err e, const char *detail);

/* Request bodies of the administration API: at most API_BODY_MAX bytes of one JSON object
 * (duplicate keys refused). Returns a new reference, or NULL with the error reply sent. */
#define API_BODY_MAX (64 * 1024)
json_t *api_body_object(struct http_request *req);
/* A member of a body: absent or null -> 0 with *ret untouched; of the wrong type -> -1; else 1
 * (the string stays owned by o). */
int api_member_string(json_t *o, const char *key, const char **ret);
int api_member_int(json_t *o, const char *key, int64_t *ret);

void api_healthz(struct http_request *req);
void api_metrics(struct http_request *req);
void api_stats(struct http_request *req);
/* Gateway administration (api_gateway.c). */
void api_services(struct http_request *req); /* /api/v1/services[/{code}/{version}] */
void api_access(struct http_request *req);   /* /api/v1/access */
void api_tokens(struct http_request *req);   /* /api/v1/tokens[/revoke] */
/* Relay administration (api_relay.c). */
void api_relay_platform(struct http_request *req); /* /api/v1/platform */
void api_relay_peers(struct http_request *req);    /* /api/v1/peers[/{name}] */
void api_relay_routes(struct http_request *req);   /* /api/v1/routes[/{pattern}|/which] */
void api_method_not_allowed(struct http_request *req);
void api_not_found(struct http_request *req);
void api_too_large(struct http_request *req);
void api_bad_headers(struct http_request *req);
/* A body that could not be spooled (storage full or failing): the FAIL reply all the same. */
void api_no_storage(struct http_request *req);

#endif
