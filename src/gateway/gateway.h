/* gateway — the data-sharing gateway at run time: consumer authentication (OAuth2 client
 * credentials or the VXP HMAC headers), access rights, rate limits, a circuit breaker per
 * provider, and non-blocking forwarding of calls to the providers' systems. Every call is logged
 * (store->call_insert plus a chained transaction-log record) through the committer, in batches,
 * never with an fsync on the request path. URL layout: see catalogue.h.
 *
 * Threads: the HTTP worker threads authenticate and authorise from an in-memory view of the
 * catalogue (reloaded when store->config_generation moves), then suspend the connection and
 * hand the call to the forwarder thread, which drives every upstream transfer through one libcurl
 * multi handle; the connection is resumed when the response head (and, for small bodies, the
 * whole body) has arrived. Larger bodies stream through a bounded buffer: the curl transfer is
 * paused when it is full and the client connection parked when it is empty. So a thousand slow
 * upstream calls cost a thousand small structs, not a thousand threads. */
#ifndef LT_GATEWAY_GATEWAY_H
#define LT_GATEWAY_GATEWAY_H

#include <stdint.h>

#include "http/http.h"
#include "store/store.h"

struct committer;
struct gateway;

struct addr_list;

struct gateway_config {
    uint64_t token_ttl_s;          /* lifetime of an access token (default 3600) */
    unsigned breaker_failures;     /* consecutive failures that open a provider's breaker (5) */
    uint64_t breaker_open_ms;      /* how long it stays open before one probe call (10000) */
    unsigned retries;              /* extra attempts, idempotent methods, connection failures (1) */
    unsigned max_in_flight;        /* calls being forwarded at once; beyond: 503 (4096) */
    unsigned upstream_connections; /* most connections kept per upstream host (64) */
    unsigned tokens_per_client;    /* live access tokens a system may hold at once (100) */
    /* Proxies in front of lienthong whose X-Forwarded-For / Forwarded are kept (NULL: none):
     * from any other peer they are replaced by the peer's address. */
    const struct addr_list *trusted_proxies;
};

void gateway_config_defaults(struct gateway_config *c);

struct gateway *gateway_start(struct store *st, struct committer *c,
                              const struct gateway_config *cfg, char *err, size_t err_len);
/* Ends every call in flight (503 to its consumer) and resumes their connections; call before
 * http_stop(). Then gateway_stop() frees everything once the HTTP server is gone. */
void gateway_quiesce(struct gateway *g);
void gateway_stop(struct gateway *g); /* accepts NULL */

/* HTTP handlers (routed by src/exchange/routes.c). */
void gateway_call(struct gateway *g, struct http_request *req);  /* ANY /gw/... */
void gateway_token(struct gateway *g, struct http_request *req); /* POST /token */

/* The secret of a registered system, from the in-memory view (no database read once it is
 * loaded; a change by the CLI or the API applies to the next call). 1: *ret_secret is a copy
 * to free; 0: no such system; -1: the view could not be loaded or out of memory. */
int gateway_system_secret(struct gateway *g, const char *id, char **ret_secret);

struct gateway_counts {
    uint64_t calls, forwarded, refused, upstream_failures, in_flight, breakers_open;
};
void gateway_counts(struct gateway *g, struct gateway_counts *ret);

#endif
