/* gw_int — the gateway's internal pieces (not used outside src/gateway):
 *   view.c     the in-memory view of systems, services, grants and tokens;
 *   guard.c    rate limits (token buckets) and circuit breakers;
 *   forward.c  the forwarder thread (libcurl multi) and the life of one call;
 *   gateway.c  the HTTP handlers, authentication and the call log. */
#ifndef LT_GATEWAY_GW_INT_H
#define LT_GATEWAY_GW_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "gateway/catalogue.h"
#include "gateway/gateway.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/errors.h"

struct curl_slist;

/* ---------- view.c ---------- */

struct gw_view; /* opaque; guarded by a read-write lock inside */

struct gw_view *gw_view_new(struct store *st);
void gw_view_free(struct gw_view *v);
/* Brings the view up to date with the store's configuration generation (reloads when it moved).
 * Returns 0, or -1 when the store could not be read (the previous view stays in force). */
int gw_view_refresh(struct gw_view *v);
void gw_view_rdlock(struct gw_view *v);
void gw_view_unlock(struct gw_view *v);

/* Lookups, valid while the read lock is held. */
struct gw_system {
    char *id, *secret;
    enum store_system_status status;
};
const struct gw_system *gw_view_system(const struct gw_view *v, const char *id);
const struct store_service *gw_view_service(const struct gw_view *v, const char *code,
                                            const char *version);
const struct store_grant *gw_view_grant(const struct gw_view *v, const char *consumer,
                                        const char *code, const char *version);
/* The system a live token (by its SHA-256 hex) was issued to, or NULL when unknown, expired or
 * revoked. */
const char *gw_view_token(const struct gw_view *v, const char *sha256, int64_t now_ms);
/* Adds a token just committed to the store (takes the write lock). */
int gw_view_add_token(struct gw_view *v, const char *sha256, const char *system_id,
                      int64_t expires_ms);

/* ---------- guard.c ---------- */

struct gw_guard;
struct gw_guard *gw_guard_new(unsigned breaker_failures, int64_t breaker_open_ms);
void gw_guard_free(struct gw_guard *g);
/* Token bucket of (consumer, service). rate 0 = unlimited. Returns 0 when the call may go, or
 * the seconds to wait (>= 1) when it is over the rate. */
int64_t gw_rate_take(struct gw_guard *g, const char *consumer, const char *service_key,
                     int64_t rate_per_s, int64_t burst, int64_t now_ms);

enum gw_breaker_verdict { GW_BREAKER_PASS, GW_BREAKER_PROBE, GW_BREAKER_REFUSE };
/* Whether a call to provider may go now; on REFUSE *ret_retry_s gets the seconds until a probe. */
enum gw_breaker_verdict gw_breaker_check(struct gw_guard *g, const char *provider, int64_t now_ms,
                                         int64_t *ret_retry_s);
/* The outcome of a forwarded call: failed = connection failure or timeout. */
void gw_breaker_report(struct gw_guard *g, const char *provider, int probe, int failed,
                       int64_t now_ms);
unsigned gw_breakers_open(struct gw_guard *g);

/* ---------- forward.c ---------- */

#define GW_REQUEST_ID_MAX 64

/* One call, from the handler to the log record. Shared by the HTTP request (until it completes)
 * and the forwarder (until the transfer ends): freed, and logged, when both let go. A call lives
 * on the thread of the HTTP loop that received it, so it needs no lock. */
struct gw_call {
    struct gateway *gw;
    struct http_request *req; /* NULL once the request has completed */
    int refs;

    /* what the handler decided */
    int64_t start_ns, time_ms;
    char request_id[GW_REQUEST_ID_MAX + 1];
    char consumer[STORE_ID_MAX + 1], provider[STORE_ID_MAX + 1];
    char code[GW_CODE_MAX + 1], version[GW_VERSION_MAX + 1];
    char method[16];
    char *path; /* below the service, no query (for the log) */
    char *url;  /* full upstream URL */
    struct curl_slist *headers;
    int64_t timeout_ms, max_response;
    unsigned retries_left;
    int probe; /* this call is the breaker's probe */
    int idempotent;

    /* request body (taken over from the HTTP request) */
    struct buf body;
    int body_fd;
    uint64_t body_len, body_pos;
    char request_sha256[SHA256_HEX_SIZE];

    /* response */
    void *easy; /* CURL *, owned by the forwarder while running */
    int status;
    enum lt_err error;    /* LT_ERR_OK when the upstream answered */
    struct buf resp_head; /* "Name: value\n" pairs kept for the consumer */
    int head_done;
    int64_t content_length; /* -1 unknown */
    struct buf resp;        /* body bytes not yet handed to the consumer */
    size_t resp_off;
    uint64_t bytes_out;
    struct sha256_ctx resp_hash; /* running over the body as it arrives */
    int64_t upstream_us, upstream_start_us;
    int streaming, parked, paused, finished, client_gone, too_big;
    int active; /* in its forwarder's list of transfers */
    struct gw_call *prev_active, *next_active;
};

struct gw_forwarder;
/* The forwarder of an HTTP loop, created on first use (on that loop's thread). NULL when the
 * gateway is stopping or out of resources. */
struct gw_forwarder *gw_forwarder_for(struct gateway *g, struct http_loop *loop);
/* Starts a call's transfer (the forwarder's reference handed over). Returns 0, or -1. */
int gw_forward(struct gw_forwarder *f, struct gw_call *c);
/* Ends every transfer (their consumers get 503) and closes every forwarder, each on its own
 * loop; returns once they all have (bounded wait). */
void gw_forwarders_stop(struct gateway *g);
/* After the HTTP server has stopped: frees the forwarders (closing any still open). */
void gw_forwarders_free(struct gateway *g);
/* Resumes a paused transfer once its reader has drained the buffer (loop thread, outside
 * curl's callbacks). */
void gw_call_unpause(struct gw_call *c);
/* Whether name is one of the tokens of a Connection header value (NULL = none). */
int gw_connection_names(const char *connection, const char *name);

void gw_call_release(struct gw_call *c); /* drops one reference (gateway.c logs on the last) */

/* ---------- gateway.c ---------- */

struct gateway {
    struct store *st;
    struct committer *committer;
    struct gateway_config cfg;
    struct gw_view *view;
    struct gw_guard *guard;
    pthread_mutex_t fwd_mu; /* the list, and forwarders' closed flags */
    pthread_cond_t fwd_cv;
    struct gw_forwarder *forwarders;
    atomic_uint_fast64_t calls, forwarded, refused, upstream_failures, in_flight;
    atomic_int stopping;
};

/* Answers a call the gateway refuses or fails (the one JSON error shape, X-Request-Id, and the
 * extra header when given), from the handler thread or (async) from the forwarder. */
void gw_reply_error(struct gw_call *c, enum lt_err e, const char *detail, int64_t retry_after_s,
                    int async);
/* Writes the call record (store + chained transaction log) through the committer. */
void gw_log_call(struct gw_call *c);

/* ---------- parsers of gateway.c and token.c (pure; driven by fuzz/fuzz_gateway.c) ---------- */

/* Splits the raw request-target "/gw/{code}/{version}{rest}" into code (GW_CODE_MAX + 1 bytes)
 * and version (GW_VERSION_MAX + 1 bytes); *rest points into raw and is "" or starts with '/' or
 * '?'. Returns 0, or -1 when raw is not of that form or code/version are not valid. */
int gw_parse_target(const char *raw, char *code, char *version, const char **rest);
/* Whether path[0..len) (starting with '/') has a "." or ".." segment, also as %2e. */
int gw_has_dot_segment(const char *path, size_t len);
/* Whether an X-Request-Id sent by the consumer may be kept: 1..GW_REQUEST_ID_MAX characters of
 * [A-Za-z0-9._:-]. */
int gw_valid_request_id(const char *s);

/* The credentials and grant type of POST /token. */
struct gw_form {
    char grant_type[64], client_id[STORE_ID_MAX + 1], client_secret[256];
    int has_grant_type, has_client_id, has_client_secret;
};
/* Form-urlencoded decoding of s[0..n) into out (n + 1 bytes, NUL-terminated). Returns 0, or -1
 * on a bad escape or %00 (a raw NUL byte is copied). */
int gw_token_form_decode(const char *s, size_t n, char *out);
/* Parses the form body[0..len) into f (zeroed by the caller). Returns NULL, or why refused. */
const char *gw_token_parse_form(const char *body, size_t len, struct gw_form *f);
/* Parses an Authorization value whose first 6 characters are "Basic " (the caller matched the
 * scheme) into f's client_id and client_secret. Returns 0, or -1 when malformed. */
int gw_token_parse_basic(const char *value, struct gw_form *f);

#endif
