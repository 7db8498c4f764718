/* store — the storage interface of lienthong: registry, packages and their bytes, inboxes,
 * the transaction log and the figures for statistics.
 *
 * A struct of function pointers (the "plugin") so that a PostgreSQL implementation can follow
 * the SQLite one: nothing outside src/store knows which database is behind it, and the SQL in
 * the implementations stays portable (no SQLite-only syntax in the shared schema shape).
 *
 * Return convention (every function returning enum store_rc):
 *   STORE_HARD_ERROR (-2)  failure that a retry will not fix (I/O, corruption, constraint bug);
 *   STORE_SOFT_ERROR (-1)  transient (busy/serialization): the whole transaction may be retried;
 *   STORE_NO_RESULTS  (0)  nothing found / nothing changed;
 *   STORE_ONE_RESULT  (1)  success (one row found, the change made).
 * List functions return STORE_ONE_RESULT after calling the callback for each row (possibly zero
 * rows); a callback returning non-zero stops the iteration early (still STORE_ONE_RESULT).
 *
 * Transactions: writes happen only between write_begin() and write_commit()/write_rollback(),
 * and only one write transaction exists at a time per store (write_begin blocks until it can
 * start). write_commit() returns only once the transaction is durable (fsync). Group commit is
 * done by the caller batching many operations into one transaction (src/store/committer.c).
 * Read functions may be called from any thread at any time, outside or inside the writer's
 * transaction (from other threads they see the last committed state).
 *
 * Ownership: out-structs are filled with caller-owned copies; free them with the *_clear()
 * functions below. Structs passed to callbacks are owned by the store and valid only during the
 * call. Strings are NUL-terminated UTF-8. Times are milliseconds since the epoch (UTC). */
#ifndef LT_STORE_H
#define LT_STORE_H

#include <stddef.h>
#include <stdint.h>

enum store_rc {
    STORE_HARD_ERROR = -2,
    STORE_SOFT_ERROR = -1,
    STORE_NO_RESULTS = 0,
    STORE_ONE_RESULT = 1,
};

#define STORE_CHUNK_SIZE (256 * 1024) /* package bytes are stored in chunks of this size */
#define STORE_ID_MAX 64               /* longest organ/system id accepted anywhere */

struct store_agency {
    char *id; /* organ id, e.g. 000.00.00.H34 */
    char *name;
    char *parent_id;           /* NULL for a root */
    char *mail, *mobile, *fax; /* optional, NULL when unknown */
    int64_t created_ms, updated_ms;
};

enum store_system_status { STORE_SYSTEM_OFFICIAL = 0, STORE_SYSTEM_TRIAL = 1 };

struct store_system {
    char *id;        /* systemId; also an organ id the system serves */
    char *agency_id; /* owner agency */
    enum store_system_status status;
    char *secret; /* HMAC key, as configured (raw string) */
    int64_t created_ms, updated_ms;
};

enum store_msgtype { STORE_MSG_EDOC = 0, STORE_MSG_STATUS = 1 };

struct store_package {
    char *id;            /* sender-side DocId (24 hex) */
    char *sender_system; /* authenticated systemId that sent it */
    enum store_msgtype messagetype;
    char *from_organ; /* edXML From/OrganId */
    char *sha256;     /* 64 lower-case hex of the stored bytes */
    int64_t size;     /* stored bytes */
    int64_t created_ms;
    /* Descriptive fields kept for lists and reports; NULL when absent. */
    char *subject, *code_number, *code_notation, *document_id;
    char *business_doc_type; /* edoc: Bussiness/BussinessDocType */
    char *status_code;       /* status: StatusCode */
    /* enum edxml_signature: 0 none, 1 valid, 2 invalid, 3 pending, 4 not checked */
    int signature;
    int n_attachments;
    /* The peer platform the package came from (pushed by the peer's inbound system, or pulled
     * from the peer); NULL = sent by a system of this platform. */
    char *origin_peer;
};

enum store_delivery_state {
    STORE_DELIVERY_INITIAL = 0,    /* waiting in the recipient's inbox */
    STORE_DELIVERY_PROCESSING = 1, /* updateStatus processing */
    STORE_DELIVERY_DONE = 2,       /* updateStatus done: no longer listed */
    STORE_DELIVERY_FAIL = 3,       /* updateStatus fail: still listed, sender sees it */
};

struct store_delivery {
    char *id; /* receiver-side docId (UUID) */
    char *package_id;
    char *recipient_organ;  /* the To/OrganId (or ResponseFor/OrganId) it was routed for */
    char *recipient_system; /* the system whose inbox holds it */
    enum store_msgtype messagetype;
    enum store_delivery_state state;
    int64_t created_ms, updated_ms;
    /* A recipient outside this platform: the outbox row that carries the package to the peer
     * its route names (recipient_system is then ""); NULL for a local inbox entry. */
    char *outbox_id;
    /* Relayed recipients: their state as the peer last reported it in its getSentEdocList
     * (initial, processing, done, fail; "" = not known yet). NULL on insert means "". */
    char *remote_state;
    /* The last edXML StatusCode the recipient sent back about this package ("" = none; every
     * recipient, local or relayed) and when it arrived. NULL on insert means "". */
    char *status_code;
    int64_t status_ms;
};

struct store_outbox;

/* One row of the sender's delivery report: a package and one of its deliveries (both non-NULL;
 * a package without any delivery yields no row). */
struct store_sent_row {
    const struct store_package *pkg;
    const struct store_delivery *dlv;
    const struct store_outbox *out; /* the outbox row of a relayed recipient, else NULL */
};

struct store_sent_filter {
    const char *sender_system; /* required */
    int messagetype;           /* -1 = any, else enum store_msgtype */
    const char *package_id;    /* NULL = any */
    int64_t from_ms, to_ms;    /* created in [from, to); 0 = unbounded */
    unsigned limit, offset;    /* packages, newest first; limit 0 = implementation default */
};

/* One transaction-log record. The chain fields are computed by the store on append with
 * audit_chain_hash() (src/audit/chain.h) from the previous record's hash. */
struct store_txrec {
    int64_t seq; /* 1, 2, 3... assigned on append */
    int64_t time_ms;
    const char *actor;          /* systemId, or "operator" for the CLI */
    const char *operation;      /* send, receive, status, agency.add, system.add, ... */
    const char *package_id;     /* or the registry object id; "" when none */
    const char *content_sha256; /* 64 hex or "" */
    const char *outcome;        /* "ok" or "refused:<code>" */
    char prev_hash[65];
    char hash[65];
};

/* A signed anchor of the transaction log's head (src/audit/anchor.c). */
#define STORE_SIG_SIZE 89 /* base64 of a 64-byte Ed25519 signature, and its NUL */
struct store_anchor {
    int64_t seq; /* the head record signed */
    char hash[65];
    int64_t time_ms;
    char key_id[17];                     /* first 16 hex of SHA-256 of the public key */
    char prev_signature[STORE_SIG_SIZE]; /* the previous anchor's, "" for the first */
    char signature[STORE_SIG_SIZE];
};
typedef int (*store_anchor_cb)(void *ctx, const struct store_anchor *a);

/* Figures for one organ over a period (see src/report/stats.h for their meaning). */
struct store_stats_row {
    const char *organ_id;    /* "" for the total row */
    const char *agency_name; /* NULL when the organ is not a registered agency */
    int64_t edoc_sent, status_sent;
    int64_t edoc_received, status_received;
    int64_t signed_sent;
    int64_t state[4]; /* deliveries received, by enum store_delivery_state */
};

/* Who claims to answer a document with a status package (see delivery_answerable). */
struct store_status_claim {
    const char *document_id, *issuer_organ, *recipient_organ;
    const char *system_a, *system_b, *peer;
};

typedef int (*store_agency_cb)(void *ctx, const struct store_agency *a);
typedef int (*store_system_cb)(void *ctx, const struct store_system *s, char *const *serves,
                               size_t n_serves);
typedef int (*store_delivery_cb)(void *ctx, const struct store_delivery *d,
                                 const struct store_package *p);
typedef int (*store_sent_cb)(void *ctx, const struct store_sent_row *row);
typedef int (*store_txrec_cb)(void *ctx, const struct store_txrec *r);
typedef int (*store_stats_cb)(void *ctx, const struct store_stats_row *row);
/* Pulls package bytes for package_insert: like read(2): >0 bytes, 0 at end, -1 on error. */
typedef long (*store_read_fn)(void *ctx, void *buf, size_t cap);

/* --- data-sharing gateway (src/gateway) --- */

enum store_protocol { STORE_PROTO_REST = 0, STORE_PROTO_SOAP = 1 };

/* A published service, keyed by (code, version). */
struct store_service {
    char *code;            /* [A-Za-z0-9._-]{1,64} */
    char *version;         /* [A-Za-z0-9._-]{1,32} */
    char *provider_system; /* the system that publishes it (must exist) */
    char *name;            /* human name, UTF-8 ("" when not given) */
    char *description;     /* "" when not given */
    char *url;             /* upstream base URL, http:// or https:// */
    enum store_protocol protocol;
    int64_t timeout_ms;         /* whole upstream exchange */
    int64_t max_request_bytes;  /* request body limit (413 above) */
    int64_t max_response_bytes; /* upstream body limit (502 above) */
    int64_t rate_per_s; /* default calls per second per consumer (token bucket); 0 = unlimited */
    int64_t burst;      /* bucket size; 0 = same as rate_per_s */
    int64_t created_ms, updated_ms;
};

/* A consumer system's right to call a service: one per (consumer, service). */
struct store_grant {
    char *consumer_system;
    char *service_code, *service_version;
    char *methods;      /* upper-case comma list, e.g. "GET,POST"; "" = every method */
    char *path_prefix;  /* "" = every path; else starts with '/' */
    int64_t rate_per_s; /* 0 = the service's rate */
    int64_t burst;      /* 0 = the service's burst */
    int64_t created_ms, updated_ms;
};

/* An OAuth2 access token. Only its SHA-256 is stored, never the token. */
struct store_token {
    char *sha256;    /* 64 hex of the token string */
    char *system_id; /* the consumer it was issued to */
    int64_t issued_ms, expires_ms;
    int64_t revoked_ms; /* 0 = not revoked */
};

/* One gateway call as logged (also chained into the transaction log, operation "call"). */
struct store_call {
    int64_t time_ms;        /* when the request arrived */
    const char *request_id; /* X-Request-Id as sent upstream (<= 64 chars) */
    const char *consumer;   /* authenticated system, "" when authentication failed */
    const char *provider;   /* provider system, "" when no service matched */
    const char *service_code, *service_version; /* "" when no service matched */
    const char *method;
    const char *path;            /* path below the service (no query), truncated to 512 bytes */
    int status;                  /* HTTP status returned to the consumer */
    const char *error;           /* registry name (e.g. "UPSTREAM_TIMEOUT") or "" when forwarded */
    int64_t duration_us;         /* arrival to last byte handed to the consumer */
    int64_t upstream_us;         /* time spent waiting for the upstream; 0 when not forwarded */
    int64_t bytes_in, bytes_out; /* request body received, response body sent */
    const char *request_sha256, *response_sha256; /* 64 hex of the bodies ("" when none) */
};

typedef int (*store_service_cb)(void *ctx, const struct store_service *s);
typedef int (*store_grant_cb)(void *ctx, const struct store_grant *g);
typedef int (*store_token_cb)(void *ctx, const struct store_token *t);
typedef int (*store_call_cb)(void *ctx, const struct store_call *c);

/* --- relay between platforms (src/relay) --- */

/* This platform's own identity toward other platforms: the organ id it stamps in the edXML
 * TraceHeader of each hop and presents to peers, and its name. One per store. */
struct store_platform {
    char *organ_id;
    char *name;
    int64_t created_ms, updated_ms;
};

/* Another platform documents are relayed to and pulled from (the national axis, another
 * province's lienthong), keyed by name. */
struct store_peer {
    char *name;      /* [A-Za-z0-9._-]{1,64} */
    char *endpoint;  /* the peer's VXP base URL, http:// or https:// */
    char *system_id; /* the systemId this platform is registered under AT the peer */
    char *secret;    /* the HMAC key this platform signs its requests to the peer with: stored as
                        given because signing needs it; never shown by lists or the API */
    int64_t pull_interval_ms; /* how often the peer's inbox is polled for documents */
    /* The system of THIS platform that the peer sends (pushes) packages with, "" when none:
     * packages that system sends count as received from the peer, and packages waiting in its
     * inbox here count as sent to the peer (it pulls them). NULL on put means "". */
    char *inbound_system;
    int64_t created_ms, updated_ms;
};

/* A routing rule: recipients matching the pattern (an organ id where '*' stands for one or
 * more characters, see src/relay/route.h) are relayed to the peer. Keyed by pattern. */
struct store_relay_route {
    char *pattern;
    char *peer;
    int64_t created_ms;
};

enum store_relay_state {
    STORE_RELAY_PENDING = 0,       /* waiting for (another) attempt */
    STORE_RELAY_SENT = 1,          /* the peer answered sendEdoc OK */
    STORE_RELAY_UNDELIVERABLE = 2, /* attempts exhausted: given up, the sender sees it */
};

/* One package to forward to one peer: ONE sendEdoc per (package, peer) whatever the number of
 * recipients there, because the peer's duplicate tolerance keys on (sender, bytes). Written in
 * the same transaction as the package's acceptance. */
struct store_outbox {
    char *id; /* UUID */
    char *package_id;
    char *peer;
    enum store_msgtype messagetype;
    char *recipients; /* JSON array of the organ ids routed to this peer (sendEdoc "to") */
    /* This hop's TraceHeader: insert_text goes into the stored bytes at insert_offset. Fixed at
     * acceptance, so that every attempt (also after a restart) sends the very same bytes.
     * insert_offset -1 (and insert_text "") = the bytes are sent unchanged. */
    int64_t insert_offset;
    char *insert_text;
    enum store_relay_state state;
    int attempts;
    int64_t next_ms;     /* PENDING: not before this time */
    char *last_error;    /* "" when none */
    char *remote_doc_id; /* the peer's DocId once SENT, else "" */
    /* Delivery tracking after SENT: when to ask the peer's getSentEdocList next (0 = done
     * tracking) and how many times it was asked. */
    int64_t track_next_ms;
    int track_count;
    int64_t created_ms, updated_ms;
};

enum store_peer_health {
    STORE_PEER_UP = 0,          /* last call answered (or never tried) */
    STORE_PEER_BACKING_OFF = 1, /* a call failed: waiting before the next */
    STORE_PEER_FAILING = 2,     /* several consecutive failures */
};

/* What the running relay last knew about a peer (written on each change of health). */
struct store_peer_state {
    char *peer;
    enum store_peer_health health;
    int64_t since_ms; /* start of the current health (failing since...) */
    int failures;     /* consecutive failed calls */
    char *last_error; /* "" when none */
    int64_t next_ms;  /* BACKING_OFF/FAILING: next call not before */
    int64_t updated_ms;
};

/* Relay figures of one peer over a period (packages created in [from, to)). */
struct store_relay_stats_row {
    const char *peer;
    /* sent to the peer: outbox rows (one per package and peer) by messagetype, plus packages
     * waiting for / taken by the peer in its inbound system's inbox here */
    int64_t sent_edoc, sent_status;
    int64_t pending, undeliverable;         /* outbox rows now in these states */
    int64_t received_edoc, received_status; /* packages whose origin_peer is this peer */
};

typedef int (*store_peer_cb)(void *ctx, const struct store_peer *p);
typedef int (*store_relay_route_cb)(void *ctx, const struct store_relay_route *r);
typedef int (*store_outbox_cb)(void *ctx, const struct store_outbox *o);
typedef int (*store_relay_stats_cb)(void *ctx, const struct store_relay_stats_row *row);

struct store {
    void *cls; /* implementation state */

    void (*close)(void *cls);

    /* Transactions (see above). */
    enum store_rc (*write_begin)(void *cls);
    enum store_rc (*write_commit)(void *cls);
    void (*write_rollback)(void *cls);

    /* Registry. agency_put inserts or updates by id. agency_remove refuses (NO_RESULTS is "not
     * found"; SOFT never) with HARD_ERROR when children, systems or serves still refer to it:
     * callers check with the list functions first to give a clear message. */
    enum store_rc (*agency_put)(void *cls, const struct store_agency *a);
    enum store_rc (*agency_get)(void *cls, const char *id, struct store_agency *ret);
    enum store_rc (*agency_list)(void *cls, store_agency_cb cb, void *ctx);
    enum store_rc (*agency_remove)(void *cls, const char *id);

    enum store_rc (*system_put)(void *cls, const struct store_system *s);
    enum store_rc (*system_get)(void *cls, const char *id, struct store_system *ret);
    enum store_rc (*system_list)(void *cls, store_system_cb cb, void *ctx);
    /* Removes the system and its serves rows. Its packages and inbox entries stay. */
    enum store_rc (*system_remove)(void *cls, const char *id);

    /* Which system serves an organ. An organ is served by at most one system:
     * serves_add returns NO_RESULTS when another system already serves it (unchanged) and
     * ONE_RESULT when added or already served by this system. */
    enum store_rc (*serves_add)(void *cls, const char *system_id, const char *organ_id);
    enum store_rc (*serves_remove)(void *cls, const char *system_id, const char *organ_id);
    /* ret_system_id must hold STORE_ID_MAX + 1 bytes. */
    enum store_rc (*route)(void *cls, const char *organ_id, char *ret_system_id);

    /* Packages. package_find_recent: the id of a package the same system sent with the same
     * content hash at or after since_ms (duplicate-request tolerance); ret_id holds 25 bytes. */
    enum store_rc (*package_find_recent)(void *cls, const char *sender_system, const char *sha256,
                                         int64_t since_ms, char *ret_id);
    /* Stores the metadata and pulls the bytes through read() in STORE_CHUNK_SIZE chunks, so
     * memory stays bounded whatever the size. pkg->size must equal the bytes read. */
    enum store_rc (*package_insert)(void *cls, const struct store_package *pkg, store_read_fn read,
                                    void *read_ctx);
    enum store_rc (*package_get)(void *cls, const char *id, struct store_package *ret);
    /* Copies up to len bytes of the package from offset into buf; *ret_n gets the count (0 at
     * the end). */
    enum store_rc (*package_read)(void *cls, const char *id, int64_t offset, void *buf, size_t len,
                                  size_t *ret_n);

    /* Inboxes. */
    enum store_rc (*delivery_insert)(void *cls, const struct store_delivery *d);
    enum store_rc (*delivery_get)(void *cls, const char *id, struct store_delivery *ret);
    enum store_rc (*delivery_set_state)(void *cls, const char *id, enum store_delivery_state st,
                                        int64_t now_ms);
    /* Pending entries (state != DONE) of a system, oldest first; messagetype -1 = both. */
    enum store_rc (*inbox_list)(void *cls, const char *system_id, int messagetype, unsigned limit,
                                store_delivery_cb cb, void *ctx);
    enum store_rc (*inbox_count)(void *cls, const char *system_id, int messagetype,
                                 int64_t *ret_count);
    enum store_rc (*sent_list)(void *cls, const struct store_sent_filter *f, store_sent_cb cb,
                               void *ctx);

    /* Transaction log (append only inside a write transaction). rec->seq, prev_hash and hash
     * are filled in by the store. */
    enum store_rc (*txlog_append)(void *cls, struct store_txrec *rec);
    /* Every record in seq order, as stored (for audit verify: nothing is recomputed). */
    enum store_rc (*txlog_scan)(void *cls, store_txrec_cb cb, void *ctx);
    /* The head as recorded in the store's metadata (last seq and hash) for detecting removal
     * of the newest records; NO_RESULTS when the log is empty. ret_hash holds 65 bytes. Called
     * by the writer inside its own transaction, it includes that transaction's appends (the
     * metadata itself is updated at commit, in the same transaction as the records). */
    enum store_rc (*txlog_head)(void *cls, int64_t *ret_seq, char *ret_hash);
    /* Health: probe_write writes one small row (inside a write transaction), so that committing
     * it needs the disk as a real commit does; last_error copies the calling thread's last store
     * error ("" when none) into buf. */
    enum store_rc (*probe_write)(void *cls, int64_t now_ms);
    /* Signatures verified after acceptance: the ids of up to limit packages whose signature is
     * still to be verified (state 3), oldest first, into ids (STORE_ID_MAX + 1 bytes each;
     * *ret_n their count); package_set_signature records a verdict (inside a write
     * transaction; only while the package is still pending: NO_RESULTS otherwise). */
    enum store_rc (*signature_pending)(void *cls, unsigned limit, char (*ids)[STORE_ID_MAX + 1],
                                       unsigned *ret_n);
    enum store_rc (*package_set_signature)(void *cls, const char *id, int state);
    void (*last_error)(void *cls, char *buf, size_t len);
    /* Signed anchors of the head: anchor_append inside a write transaction; anchor_last the
     * newest (NO_RESULTS when none); anchor_scan every one in seq order. */
    enum store_rc (*anchor_append)(void *cls, const struct store_anchor *a);
    enum store_rc (*anchor_last)(void *cls, struct store_anchor *ret);
    enum store_rc (*anchor_scan)(void *cls, store_anchor_cb cb, void *ctx);

    /* Statistics over packages created in [from_ms, to_ms) (0 = unbounded): one row per organ
     * that sent or received, ordered by organ id, then the total row (organ_id ""). */
    enum store_rc (*stats)(void *cls, int64_t from_ms, int64_t to_ms, store_stats_cb cb, void *ctx);

    /* Gateway catalogue. service_put inserts or updates by (code, version), keeping created_ms
     * of an existing row; NO_RESULTS (nothing stored) when provider_system is not a registered
     * system. service_remove also removes the service's grants (NO_RESULTS when unknown). */
    enum store_rc (*service_put)(void *cls, const struct store_service *s);
    enum store_rc (*service_get)(void *cls, const char *code, const char *version,
                                 struct store_service *ret);
    /* Ordered by code, version; provider NULL = every provider. */
    enum store_rc (*service_list)(void *cls, const char *provider, store_service_cb cb, void *ctx);
    enum store_rc (*service_remove)(void *cls, const char *code, const char *version);

    /* Access rights. grant_put inserts or updates by (consumer, code, version), keeping
     * created_ms; NO_RESULTS (nothing stored) when the consumer system or the service is unknown.
     * grant_remove: NO_RESULTS when there was no such grant. */
    enum store_rc (*grant_put)(void *cls, const struct store_grant *g);
    enum store_rc (*grant_remove)(void *cls, const char *consumer, const char *code,
                                  const char *version);
    /* Ordered by consumer, code, version; NULL filters match everything. */
    enum store_rc (*grant_list)(void *cls, const char *consumer, const char *code,
                                const char *version, store_grant_cb cb, void *ctx);

    /* Tokens. token_revoke: one token by hash; token_revoke_system: every unrevoked token of
     * a system (NO_RESULTS when there was none). token_list_active: not revoked and expiring
     * after now_ms, ordered by issue time. */
    enum store_rc (*token_insert)(void *cls, const struct store_token *t);
    enum store_rc (*token_revoke)(void *cls, const char *sha256, int64_t now_ms);
    enum store_rc (*token_revoke_system)(void *cls, const char *system_id, int64_t now_ms);
    enum store_rc (*token_list_active)(void *cls, int64_t now_ms, store_token_cb cb, void *ctx);
    /* The live (unrevoked, unexpired at now_ms) tokens of a system: how many, and the earliest
     * expiry among them (0 when none). */
    enum store_rc (*token_live_count)(void *cls, const char *system_id, int64_t now_ms,
                                      int64_t *ret_count, int64_t *ret_oldest_expiry);
    /* Deletes at most limit tokens that expired by now_ms or were revoked (they authenticate
     * nothing any more). ONE_RESULT when some went, NO_RESULTS when none was left. */
    enum store_rc (*token_purge)(void *cls, int64_t now_ms, unsigned limit, int64_t *ret_purged);

    /* Call log: call_insert appends one call (inside a write transaction); call_scan yields
     * the calls with time in [from_ms, to_ms) (0 = unbounded) in time order, in bounded memory.
     * It does not read one snapshot: calls committed during the scan may be included. */
    enum store_rc (*call_insert)(void *cls, const struct store_call *c);
    enum store_rc (*call_scan)(void *cls, int64_t from_ms, int64_t to_ms, store_call_cb cb,
                               void *ctx);

    /* Relay between platforms: this platform's identity, its peers and the routes to them. Every
     * change below counts as a configuration change (bumps the generation, see below), so that a
     * running server sees a route the CLI added on its next decision.
     * platform_put inserts or replaces the one identity, keeping created_ms of an existing one;
     * platform_get: NO_RESULTS when it was never set. */
    enum store_rc (*platform_put)(void *cls, const struct store_platform *p);
    enum store_rc (*platform_get)(void *cls, struct store_platform *ret);
    /* peer_put inserts or updates by name, keeping created_ms. peer_remove: NO_RESULTS when
     * unknown; refuses with HARD_ERROR (logged) while routes still name the peer: callers list
     * them first (relay_route_list with the peer) to give a clear message. Lists by name. */
    enum store_rc (*peer_put)(void *cls, const struct store_peer *p);
    enum store_rc (*peer_get)(void *cls, const char *name, struct store_peer *ret);
    enum store_rc (*peer_list)(void *cls, store_peer_cb cb, void *ctx);
    enum store_rc (*peer_remove)(void *cls, const char *name);
    /* relay_route_put inserts or updates by pattern, keeping created_ms; NO_RESULTS (nothing
     * stored) when the peer is unknown. relay_route_list: ordered by pattern (byte order), peer
     * NULL = every peer (src/relay/route.h orders them by specificity). relay_route_remove:
     * NO_RESULTS when there was no such route. */
    enum store_rc (*relay_route_put)(void *cls, const struct store_relay_route *r);
    enum store_rc (*relay_route_get)(void *cls, const char *pattern, struct store_relay_route *ret);
    enum store_rc (*relay_route_list)(void *cls, const char *peer, store_relay_route_cb cb,
                                      void *ctx);
    enum store_rc (*relay_route_remove)(void *cls, const char *pattern);

    /* Relay outbox. outbox_insert inside the acceptance's transaction. outbox_update writes
     * state, attempts, next_ms, last_error, remote_doc_id, track_next_ms, track_count and
     * updated_ms of the row with o->id (NO_RESULTS when unknown). outbox_due: PENDING rows of a
     * peer with next_ms <= now_ms, by next_ms then created_ms, at most limit. outbox_track_due:
     * SENT rows of a peer with 0 < track_next_ms <= now_ms, by track_next_ms, at most limit. */
    enum store_rc (*outbox_insert)(void *cls, const struct store_outbox *o);
    enum store_rc (*outbox_get)(void *cls, const char *id, struct store_outbox *ret);
    enum store_rc (*outbox_update)(void *cls, const struct store_outbox *o);
    enum store_rc (*outbox_due)(void *cls, const char *peer, int64_t now_ms, unsigned limit,
                                store_outbox_cb cb, void *ctx);
    enum store_rc (*outbox_track_due)(void *cls, const char *peer, int64_t now_ms, unsigned limit,
                                      store_outbox_cb cb, void *ctx);
    /* The relayed recipient's state as the peer reported it (delivery of that outbox row and
     * recipient organ): NO_RESULTS when no such delivery. */
    enum store_rc (*delivery_set_remote)(void *cls, const char *outbox_id,
                                         const char *recipient_organ, const char *remote_state,
                                         int64_t now_ms);
    /* A status package came back: sets status_code/status_ms of the deliveries to
     * recipient_organ of the DOCUMENTS (messagetype edoc) whose document_id and from_organ are
     * the status's ResponseFor/DocumentId and ResponseFor/OrganId. ONE_RESULT when at least one
     * delivery matched, NO_RESULTS otherwise. */
    enum store_rc (*delivery_set_status)(void *cls, const char *document_id, const char *from_organ,
                                         const char *recipient_organ, const char *status_code,
                                         int64_t now_ms);
    /* Whether a status package may answer: ONE_RESULT when the document (edoc) c->document_id
     * issued by c->issuer_organ has a delivery to c->recipient_organ that is either local to
     * system_a or system_b (either may be NULL or ""), or relayed to peer c->peer (NULL or "":
     * none); NO_RESULTS otherwise. */
    enum store_rc (*delivery_answerable)(void *cls, const struct store_status_claim *c);

    /* This platform's TraceHeader of a package (text to insert at offset into its bytes), fixed
     * at acceptance, for the copies peers pull from their inbound system's inbox here.
     * package_trace_get: NO_RESULTS when the package has none; *ret_text is the caller's. */
    enum store_rc (*package_trace_put)(void *cls, const char *package_id, int64_t offset,
                                       const char *text);
    enum store_rc (*package_trace_get)(void *cls, const char *package_id, int64_t *ret_offset,
                                       char **ret_text);

    /* Packages pulled from a peer, keyed by the peer's docId: a package fetched again (a crash
     * between our commit and the peer's acknowledgement) is recognised. inbound_find: the local
     * package id (ret holds 25 bytes), NO_RESULTS when never seen. */
    enum store_rc (*inbound_find)(void *cls, const char *peer, const char *remote_doc_id,
                                  char *ret_package_id);
    enum store_rc (*inbound_insert)(void *cls, const char *peer, const char *remote_doc_id,
                                    const char *package_id, int64_t now_ms);

    /* Peer health as the running relay last wrote it (insert or replace by peer; NOT a
     * configuration change). peer_state_get: NO_RESULTS when never written. */
    enum store_rc (*peer_state_put)(void *cls, const struct store_peer_state *s);
    enum store_rc (*peer_state_get)(void *cls, const char *peer, struct store_peer_state *ret);

    /* One row per configured peer (by name), figures over packages created in [from, to); then
     * one last row with peer "" for the packages internal to this platform: sent_edoc and
     * sent_status count the packages a system of this platform sent (origin_peer NULL) with at
     * least one recipient served here; its other figures are 0. */
    enum store_rc (*relay_stats)(void *cls, int64_t from_ms, int64_t to_ms, store_relay_stats_cb cb,
                                 void *ctx);

    /* Configuration generation: a counter shared by every process that opens this store, bumped
     * by write_commit() after a durable commit that changed systems, serves, services, grants,
     * revoked tokens or the relay's configuration (not by token_insert or call_insert). Reading it
     * costs no I/O (one atomic load), so the gateway checks it on every request and reloads its
     * in-memory view when it moved: a change made by the CLI applies to the next request. Read it
     * BEFORE loading the view, so that a change committed during the load causes another reload. */
    uint64_t (*config_generation)(void *cls);
};

/* Opens (creating when missing) the SQLite store in directory data_dir, migrating its schema to
 * the current version. On failure returns NULL and writes an ASCII reason to err. */
struct store *store_sqlite_open(const char *data_dir, char *err, size_t err_len);
/* Closes any store; accepts NULL. */
void store_close(struct store *s);

void store_agency_clear(struct store_agency *a);
void store_system_clear(struct store_system *s);
void store_package_clear(struct store_package *p);
void store_delivery_clear(struct store_delivery *d);
void store_service_clear(struct store_service *s);
void store_grant_clear(struct store_grant *g);
void store_token_clear(struct store_token *t);
void store_platform_clear(struct store_platform *p);
void store_peer_clear(struct store_peer *p); /* also wipes the secret's bytes before freeing */
void store_relay_route_clear(struct store_relay_route *r);
void store_outbox_clear(struct store_outbox *o);
/* A copy with strings of its own (NULL strings become ""): 0, or -1 when out of memory (dst is
 * then cleared). */
int store_outbox_copy(struct store_outbox *dst, const struct store_outbox *src);
void store_peer_state_clear(struct store_peer_state *s);

const char *store_state_name(enum store_delivery_state st);   /* initial processing done fail */
const char *store_msgtype_name(enum store_msgtype t);         /* edoc status */
const char *store_protocol_name(enum store_protocol p);       /* rest soap */
const char *store_relay_state_name(enum store_relay_state s); /* pending sent undeliverable */
const char *store_peer_health_name(enum store_peer_health h); /* up backing-off failing */

#endif
