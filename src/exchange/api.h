/* api — the routes outside the VXP protocol: /healthz, /metrics (Prometheus text) and the native
 * JSON API under /api/v1 (bearer token from DATA/admin.token), plus the replies the HTTP layer
 * needs before any route is known (not found, body too large, header limits). */
#ifndef LT_EXCHANGE_API_H
#define LT_EXCHANGE_API_H

#include "http/http.h"

struct api_route {
    const char *path;
    const char *method;
    http_handler_fn handler;
};

http_handler_fn app_router(void *app, const char *method, const char *url);

void api_healthz(struct http_request *req);
void api_metrics(struct http_request *req);
void api_stats(struct http_request *req);
void api_method_not_allowed(struct http_request *req);
void api_not_found(struct http_request *req);
void api_too_large(struct http_request *req);
void api_bad_headers(struct http_request *req);

#endif
