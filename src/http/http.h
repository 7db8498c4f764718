/* http — lienthong's HTTP/1.1 server layer over libmicrohttpd.
 *
 * Design: one event loop per thread (cfg.threads), each an epoll set that drives its own MHD
 * daemon (external epoll mode, all daemons accepting from one listening socket) and whatever
 * other layers attach to it: the gateway runs its upstream transfers on the loop that received
 * the call, so a call never changes thread and needs no lock or hand-off. Connections are
 * suspended while they wait for a durable commit or an upstream (so no thread ever blocks on
 * fsync or on a slow provider), and one request object per request owns everything the request
 * allocates; it is released in one place, the completion callback.
 *
 * Request bodies are spooled: kept in memory up to spool_memory bytes, then written to an
 * unlinked temporary file under the data directory, so a 50 MB upload costs no more memory
 * than a small one. Bodies over max_body_bytes are refused without being stored.
 *
 * Handlers are looked up by the application's router (http_router_fn) on the first call; they
 * run once the whole body has arrived and must end by queueing a response (http_reply_*) or by
 * suspending (http_suspend) and later calling http_complete() from any thread.
 *
 * Convention: functions return 0 on success, -1 on failure. */
#ifndef LT_HTTP_H
#define LT_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"

struct addr_list;
struct http_request;
struct http_server;
struct MHD_Response;

typedef void (*http_handler_fn)(struct http_request *req);

/* Chooses the handler for a request from its method and URL; called before the body arrives.
 * Returns NULL for "no such route" (the router itself must then have queued nothing: the layer
 * calls not_found). */
typedef http_handler_fn (*http_router_fn)(void *app, const char *method, const char *url);

struct http_config {
    const char *host; /* numeric IPv4/IPv6 address */
    uint16_t port;
    unsigned threads; /* event loops, one thread each */
    unsigned max_connections;
    unsigned idle_timeout_s;
    uint64_t max_body_bytes;
    size_t spool_memory;      /* body bytes kept in memory before spooling to a file */
    const char *spool_dir;    /* where spool files are created (then unlinked) */
    size_t max_header_bytes;  /* one header line */
    size_t max_headers_total; /* all headers */
    unsigned max_headers;
    /* Slow and greedy clients: the first request head of a connection must arrive within
     * head_timeout_ms (else 408 and closed); at most max_connections_per_ip connections from
     * one client address (0: no limit), except from the trusted proxies (may be NULL). */
    unsigned head_timeout_ms;
    unsigned max_connections_per_ip;
    const struct addr_list *trusted_proxies;
    http_router_fn router;
    http_handler_fn not_found;   /* called when the router returns NULL */
    http_handler_fn too_large;   /* called instead of the handler when the body was too large */
    http_handler_fn bad_headers; /* called instead of the handler when header limits are hit */
    http_handler_fn no_storage;  /* called instead of the handler when the body could not be
                                    spooled (storage full or failing) */
    void *app;
};

struct http_server *http_start(const struct http_config *cfg, char *err, size_t err_len);

/* What the server refused on its own, since it started (for /metrics). */
struct http_counters {
    uint64_t bad_requests;       /* malformed or ambiguous heads: 400 / 431 */
    uint64_t head_timeouts;      /* 408 */
    uint64_t refused_per_ip;     /* over max_connections_per_ip */
    uint64_t refused_overloaded; /* over max_connections */
    uint64_t open_connections;   /* now */
};
void http_counters(const struct http_server *s, struct http_counters *ret);
void http_stop(struct http_server *s); /* accepts NULL */
uint16_t http_bound_port(const struct http_server *s);

/* --- request accessors (valid until the request completes) --- */
void *http_app(const struct http_request *req);
const char *http_method(const struct http_request *req);
const char *http_url(const struct http_request *req); /* path, unescaped by MHD */
/* The request-target exactly as received (path and query, not unescaped). */
const char *http_raw_uri(const struct http_request *req);
/* The client's address as text (IPv4 or IPv6). Returns 0, or -1. */
int http_client_ip(const struct http_request *req, char *buf, size_t len);
/* Case-insensitive header lookup; NULL when absent. */
const char *http_header(const struct http_request *req, const char *name);
const char *http_query(const struct http_request *req, const char *name);
/* The token of "Authorization: Bearer TOKEN" (RFC 6750: the scheme in any case, then spaces),
 * NULL when the request has no such header. */
const char *http_bearer(const struct http_request *req);
/* Iterates headers; cb returns non-zero to stop. */
void http_each_header(const struct http_request *req,
                      int (*cb)(void *ctx, const char *name, const char *value), void *ctx);
uint64_t http_body_len(const struct http_request *req);
/* In-memory body (NUL-terminated) or NULL when it was spooled to a file. */
const char *http_body_mem(const struct http_request *req);
/* A file descriptor positioned at 0 on the spooled body, or -1 when the body is in memory.
 * The descriptor stays owned by the request. */
int http_body_fd(struct http_request *req);
/* Reads the body sequentially whatever its storage; returns bytes read, 0 at end, -1 on error.
 * http_body_rewind() restarts from the first byte. */
long http_body_read(struct http_request *req, void *buf, size_t cap);
int http_body_rewind(struct http_request *req);

/* Moves the body out of the request: the memory buffer (possibly empty) or the spool file
 * descriptor positioned at 0 (-1 when in memory); the caller owns both afterwards. For handlers
 * whose body outlives the request's thread (the gateway streams it to an upstream). */
void http_body_take(struct http_request *req, struct buf *ret_mem, int *ret_fd);

/* Per-request handler state, freed with the request. */
void http_set_state(struct http_request *req, void *state, void (*free_fn)(void *));
void *http_state(const struct http_request *req);

/* --- replies --- */
/* Queues a response with a copy of body. content_type may be NULL. */
int http_reply(struct http_request *req, unsigned status, const char *content_type,
               const void *body, size_t len);
/* Queues a response whose body is produced by reader(ctx, pos, buf, max) -> bytes, or -1 on
 * error (see MHD_ContentReaderCallback); size is the total, ctx freed by free_fn. */
int http_reply_stream(struct http_request *req, unsigned status, const char *content_type,
                      uint64_t size,
                      ssize_t (*reader)(void *ctx, uint64_t pos, char *buf, size_t max), void *ctx,
                      void (*free_fn)(void *));
/* Adds a header to the response queued next (call before http_reply*). */
int http_add_reply_header(struct http_request *req, const char *name, const char *value);

/* Asynchronous completion: the handler calls http_suspend() and returns; later any thread
 * calls http_complete() with the reply to send (copied). */
void http_suspend(struct http_request *req);
void http_complete(struct http_request *req, unsigned status, const char *content_type,
                   const void *body, size_t len);

/* Completes a suspended request with a body produced later, possibly by another thread.
 * size is the total or HTTP_SIZE_UNKNOWN (chunked). When the reader has no data yet it calls
 * http_stream_park() and returns 0; the producer calls http_resume() once data (or the end) is
 * there. Reply headers added with http_add_reply_header() before this call are sent. */
#define HTTP_SIZE_UNKNOWN UINT64_MAX
void http_complete_stream(struct http_request *req, unsigned status, const char *content_type,
                          uint64_t size,
                          ssize_t (*reader)(void *ctx, uint64_t pos, char *buf, size_t max),
                          void *ctx, void (*free_fn)(void *));
void http_stream_park(struct http_request *req);
void http_resume(struct http_request *req);

/* --- the event loops (for layers that do their own I/O next to the server's) --- */
struct http_loop;
/* The loop running a request: a handler's own I/O attached there runs on the same thread. */
struct http_loop *http_request_loop(const struct http_request *req);
unsigned http_loop_count(const struct http_loop *l); /* loops of the server */
/* One pointer of per-loop storage for the layer that attaches to the loops (the gateway); only
 * ever touched from the loop's own thread, or after the server has stopped. */
void **http_loop_slot(struct http_loop *l);

/* A file descriptor watched by a loop; fn runs on the loop's thread with HTTP_IN / HTTP_OUT /
 * HTTP_ERR. The struct is the caller's and must stay in place while watched. */
#define HTTP_IN 1u
#define HTTP_OUT 2u
#define HTTP_ERR 4u
#define HTTP_EDGE 8u /* edge-triggered (with HTTP_IN: once per arrival of new bytes) */
struct http_watch {
    int fd;
    unsigned events; /* as registered (kept by the loop; 0 when not watched) */
    void (*fn)(struct http_watch *w, unsigned events);
};
/* Adds, changes (events != 0) or removes (events == 0) a watch. Returns 0, or -1. */
int http_loop_watch(struct http_loop *l, struct http_watch *w, unsigned events);
/* The loop's one timer for the attached layer: fn(ctx) runs on the loop's thread once the
 * monotonic clock reaches deadline_ms; a deadline < 0 disarms it. */
void http_loop_timer(struct http_loop *l, int64_t deadline_ms, void (*fn)(void *ctx), void *ctx);

#endif
