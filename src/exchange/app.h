/* app — the running server: configuration, the store, the committer and the HTTP server, shared
 * by every handler of src/exchange. One instance per process, built by app_start(). */
#ifndef LT_EXCHANGE_APP_H
#define LT_EXCHANGE_APP_H

#include <stdatomic.h>
#include <stdint.h>

#include "edxml/edxml.h"
#include "gateway/gateway.h"
#include "relay/relay.h"
#include "store/store.h"
#include "util/netaddr.h"

struct anchorer;
struct sigcheck;
struct committer;
struct sign_key;
struct http_server;

struct app_config {
    char *data_dir;
    char *host;
    uint16_t port;
    unsigned threads; /* HTTP worker threads */
    unsigned max_connections;
    unsigned idle_timeout_s;
    uint64_t max_body_bytes;          /* sendEdoc body limit */
    uint64_t spool_memory_bytes;      /* bodies above this go to a temporary file */
    unsigned dedupe_window_s;         /* identical sendEdoc within this window -> same DocId */
    unsigned list_limit;              /* most items in one getReceivedEdocList reply */
    int agency_self_registration;     /* registerAgency/deleteAgency from systems (on by default) */
    unsigned head_timeout_ms;         /* a connection's first request head must arrive in time */
    unsigned max_connections_per_ip;  /* 0: no limit */
    struct addr_list trusted_proxies; /* their X-Forwarded-For is kept; no per-address limit */
    uint64_t anchor_every_records;    /* sign the log's head after this many records... */
    uint64_t anchor_every_ms;         /* ...or this long after the last anchor */
    char *signature_ca_file;          /* trusted roots for XML signatures; NULL: none */
    struct edxml_sig_config signatures; /* ca_file points at signature_ca_file */
    char *log_level;
    struct gateway_config gateway;
    struct relay_config relay;
};

/* Defaults, then the config file (lines "key = value", '#' comments), if any. Returns 0, or -1
 * with an ASCII reason in err. */
void app_config_defaults(struct app_config *c);
int app_config_load(struct app_config *c, const char *path, char *err, size_t err_len);
int app_config_set(struct app_config *c, const char *key, const char *value, char *err,
                   size_t err_len);
void app_config_clear(struct app_config *c);

struct app_metrics {
    atomic_uint_fast64_t requests, failures, sent_edoc, sent_status, acks, commits, committed_jobs;
    atomic_uint_fast64_t corruption; /* stored bytes that did not match their SHA-256 */
};

struct app {
    struct app_config cfg;
    struct store *store;
    struct committer *committer;
    struct http_server *http;
    struct gateway *gateway;
    struct relay *relay;
    struct edxml_limits limits;
    char admin_token[65];       /* bearer token of /api/v1, kept in DATA/admin.token */
    int lock_fd;                /* DATA/lienthong.lock, held while the server runs */
    struct sign_key *audit_key; /* DATA/audit.key: signs the log's anchors */
    struct anchorer *anchorer;
    struct sigcheck *sigcheck; /* verifies accepted packages' XML signatures */
    int64_t started_ms;
    struct app_metrics metrics;
};

/* Opens the store, starts the committer and the HTTP server. On failure returns NULL with an
 * ASCII reason in err (the config is then still owned by the caller). */
struct app *app_start(struct app_config *cfg, char *err, size_t err_len);
uint16_t app_port(const struct app *a);
void app_stop(struct app *a); /* accepts NULL */

#endif
