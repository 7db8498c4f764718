/* sqlite_schema — the tables of the SQLite store and the ordered list of migrations.
 *
 * Version bookkeeping: table schema_version holds one row per applied migration. At open, every
 * migration past the highest recorded version is applied in its own BEGIN IMMEDIATE transaction
 * (the version re-read inside it, so a server and a CLI opening at the same time do not both
 * apply it). A database whose version is higher than the migrations this program knows is
 * refused: an older binary must not write to a newer schema.
 *
 * The table shapes are plain SQL (TEXT, INTEGER, BIGINT, BLOB; no WITHOUT ROWID, no STRICT, no
 * AUTOINCREMENT) so that the PostgreSQL store can use the same shape. Migrations are append only:
 * never edit one that has shipped, add a new one. */
#include "store/sqlite_schema.h"

#include <stdio.h>
#include <string.h>

#include "util/timeutil.h"

/* 1: registry, packages and their bytes, deliveries, the transaction log, metadata. */
static const char migration_1[] =
    "CREATE TABLE agency ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  parent_id TEXT," /* no foreign key: agencies are imported in any order */
    "  mail TEXT,"
    "  mobile TEXT,"
    "  fax TEXT,"
    "  created_ms BIGINT NOT NULL,"
    "  updated_ms BIGINT NOT NULL"
    ");"
    "CREATE INDEX agency_parent ON agency (parent_id);"

    "CREATE TABLE system ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  agency_id TEXT NOT NULL REFERENCES agency (id),"
    "  status INTEGER NOT NULL,"
    "  secret TEXT NOT NULL,"
    "  created_ms BIGINT NOT NULL,"
    "  updated_ms BIGINT NOT NULL"
    ");"
    "CREATE INDEX system_agency ON system (agency_id);"

    /* organ_id is the key: an organ is served by at most one system. */
    "CREATE TABLE system_serves ("
    "  organ_id TEXT NOT NULL PRIMARY KEY,"
    "  system_id TEXT NOT NULL REFERENCES system (id) ON DELETE CASCADE"
    ");"
    "CREATE INDEX system_serves_system ON system_serves (system_id, organ_id);"

    /* No foreign key to system: a removed system's packages and inbox entries stay. */
    "CREATE TABLE package ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  sender_system TEXT NOT NULL,"
    "  messagetype INTEGER NOT NULL,"
    "  from_organ TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  size BIGINT NOT NULL,"
    "  created_ms BIGINT NOT NULL,"
    "  subject TEXT,"
    "  code_number TEXT,"
    "  code_notation TEXT,"
    "  document_id TEXT,"
    "  business_doc_type TEXT,"
    "  status_code TEXT,"
    "  has_signature INTEGER NOT NULL,"
    "  n_attachments INTEGER NOT NULL"
    ");"
    "CREATE INDEX package_dedupe ON package (sender_system, sha256, created_ms);"
    "CREATE INDEX package_sent ON package (sender_system, created_ms);"
    "CREATE INDEX package_created ON package (created_ms);"

    "CREATE TABLE package_chunk ("
    "  package_id TEXT NOT NULL REFERENCES package (id),"
    "  seq INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY (package_id, seq)"
    ");"

    "CREATE TABLE delivery ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  package_id TEXT NOT NULL REFERENCES package (id),"
    "  recipient_organ TEXT NOT NULL,"
    "  recipient_system TEXT NOT NULL,"
    "  messagetype INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  created_ms BIGINT NOT NULL,"
    "  updated_ms BIGINT NOT NULL"
    ");"
    "CREATE INDEX delivery_inbox ON delivery (recipient_system, state, messagetype, created_ms);"
    "CREATE INDEX delivery_package ON delivery (package_id);"
    "CREATE INDEX delivery_created ON delivery (created_ms);"

    /* seq is the row id in SQLite (INTEGER PRIMARY KEY); BIGINT in PostgreSQL. */
    "CREATE TABLE txlog ("
    "  seq INTEGER NOT NULL PRIMARY KEY,"
    "  time_ms BIGINT NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  operation TEXT NOT NULL,"
    "  package_id TEXT NOT NULL,"
    "  content_sha256 TEXT NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL"
    ");"

    /* Small key/value facts about the store, e.g. the txlog head "<seq> <hash>". */
    "CREATE TABLE meta ("
    "  key TEXT NOT NULL PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ");";

/* 2: the data-sharing gateway: published services, access grants, OAuth2 tokens (their hashes
 * only) and the call log. Names avoid SQL keywords (grant, call, token...) for PostgreSQL.
 * provider_system and consumer_system are not foreign keys: removing a system leaves its services
 * and grants (and its calls in the log), as it leaves its packages; the store's put functions
 * refuse unknown systems instead. A grant does refer to its service: service_remove deletes the
 * service's grants first. */
static const char migration_2[] =
    "CREATE TABLE service ("
    "  code TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  provider_system TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  protocol INTEGER NOT NULL,"
    "  timeout_ms BIGINT NOT NULL,"
    "  max_request_bytes BIGINT NOT NULL,"
    "  max_response_bytes BIGINT NOT NULL,"
    "  rate_per_s BIGINT NOT NULL,"
    "  burst BIGINT NOT NULL,"
    "  created_ms BIGINT NOT NULL,"
    "  updated_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (code, version)"
    ");"
    "CREATE INDEX service_provider ON service (provider_system);"

    "CREATE TABLE access_grant ("
    "  consumer_system TEXT NOT NULL,"
    "  service_code TEXT NOT NULL,"
    "  service_version TEXT NOT NULL,"
    "  methods TEXT NOT NULL,"
    "  path_prefix TEXT NOT NULL,"
    "  rate_per_s BIGINT NOT NULL,"
    "  burst BIGINT NOT NULL,"
    "  created_ms BIGINT NOT NULL,"
    "  updated_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (consumer_system, service_code, service_version),"
    "  FOREIGN KEY (service_code, service_version) REFERENCES service (code, version)"
    ");"
    "CREATE INDEX access_grant_service ON access_grant (service_code, service_version);"

    /* sha256: hex of the token string; revoked_ms 0 = not revoked. */
    "CREATE TABLE access_token ("
    "  sha256 TEXT NOT NULL PRIMARY KEY,"
    "  system_id TEXT NOT NULL,"
    "  issued_ms BIGINT NOT NULL,"
    "  expires_ms BIGINT NOT NULL,"
    "  revoked_ms BIGINT NOT NULL"
    ");"
    "CREATE INDEX access_token_system ON access_token (system_id);"

    /* Append only, read in time order (call_scan). No key: rows are never addressed. */
    "CREATE TABLE gateway_call ("
    "  time_ms BIGINT NOT NULL,"
    "  request_id TEXT NOT NULL,"
    "  consumer TEXT NOT NULL,"
    "  provider TEXT NOT NULL,"
    "  service_code TEXT NOT NULL,"
    "  service_version TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  error TEXT NOT NULL,"
    "  duration_us BIGINT NOT NULL,"
    "  upstream_us BIGINT NOT NULL,"
    "  bytes_in BIGINT NOT NULL,"
    "  bytes_out BIGINT NOT NULL,"
    "  request_sha256 TEXT NOT NULL,"
    "  response_sha256 TEXT NOT NULL"
    ");"
    "CREATE INDEX gateway_call_time ON gateway_call (time_ms);";

/* 3: the relay between platforms: this platform's identity, its peers (the national axis, other
 * provinces) and the routes that send recipients outside the province to them.
 *  - platform holds at most one row (id is always 1).
 *  - peer.secret is the HMAC key this platform signs its VXP requests to the peer with (the
 *    secret the peer issued to us). It is stored as given, like system.secret, because signing
 *    needs the key itself (a hash would not do); it is never shown by lists or the API. The
 *    database directory is private to the service account (0700).
 *  - route.peer_name refers to its peer: removing a peer that routes still name is refused
 *    (the store checks first and says which routes; the foreign key is the last guard). */
static const char migration_3[] = "CREATE TABLE platform ("
                                  "  id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),"
                                  "  organ_id TEXT NOT NULL,"
                                  "  name TEXT NOT NULL,"
                                  "  created_ms BIGINT NOT NULL,"
                                  "  updated_ms BIGINT NOT NULL"
                                  ");"

                                  "CREATE TABLE peer ("
                                  "  name TEXT NOT NULL PRIMARY KEY,"
                                  "  endpoint TEXT NOT NULL,"
                                  "  system_id TEXT NOT NULL,"
                                  "  secret TEXT NOT NULL,"
                                  "  pull_interval_ms BIGINT NOT NULL,"
                                  "  created_ms BIGINT NOT NULL,"
                                  "  updated_ms BIGINT NOT NULL"
                                  ");"

                                  "CREATE TABLE route ("
                                  "  pattern TEXT NOT NULL PRIMARY KEY,"
                                  "  peer_name TEXT NOT NULL REFERENCES peer (name),"
                                  "  created_ms BIGINT NOT NULL"
                                  ");"
                                  "CREATE INDEX route_peer ON route (peer_name);";

/* 4: the relay's traffic (the configuration came in 3).
 *  - package.origin_peer: the peer a package came from (NULL = sent by a system here); the
 *    relay's figures count these as received from the peer.
 *  - delivery.outbox_id: a recipient outside the province has a delivery like any other (the
 *    sender's getSentEdocList lists it), with recipient_system '' and the outbox row that carries
 *    the package to the peer; remote_state is what the peer last said of it; status_code and
 *    status_ms the last status package that came back about it (every recipient).
 *  - peer.inbound_system: the system of this platform a peer pushes packages with (and whose
 *    inbox here it pulls), '' when none.
 *  - relay_outbox: one row per (package, peer), written in the transaction that accepts the
 *    package, so a crash cannot lose a forward; its retries, the peer's docId once sent, and the
 *    tracking of the delivery at the peer. peer is not a foreign key: a removed peer's rows stay
 *    (they are the sender's history), as a removed system's packages do.
 *  - package_trace: this platform's TraceHeader for a package, fixed at acceptance, for the
 *    copies a peer pulls from its inbound system's inbox here (getEdoc splices it in, as the
 *    outbox does for the copies pushed): every hop appends its trace, whichever way it goes.
 *  - relay_inbound: the peer's docId of each package pulled from it, so that a package fetched
 *    again after a crash (our commit done, the peer's acknowledgement lost) is recognised. It
 *    refers to the package stored from it, so it is written after that package.
 *  - peer_state: the health of each peer as the running relay last saw it, for the operator
 *    (not configuration: writing it does not reload anything). peer_remove deletes it.
 *  - delivery_outbox and package_document serve delivery_set_remote and delivery_set_status
 *    (a status names its document by ResponseFor/DocumentId). */
static const char migration_4[] =
    "ALTER TABLE package ADD COLUMN origin_peer TEXT;"
    "ALTER TABLE delivery ADD COLUMN outbox_id TEXT;"
    "ALTER TABLE delivery ADD COLUMN remote_state TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE delivery ADD COLUMN status_code TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE delivery ADD COLUMN status_ms BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE peer ADD COLUMN inbound_system TEXT NOT NULL DEFAULT '';"

    "CREATE TABLE relay_outbox ("
    "  id TEXT NOT NULL PRIMARY KEY,"
    "  package_id TEXT NOT NULL REFERENCES package (id),"
    "  peer TEXT NOT NULL,"
    "  messagetype INTEGER NOT NULL,"
    "  recipients TEXT NOT NULL,"
    "  insert_offset BIGINT NOT NULL,"
    "  insert_text TEXT NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  next_ms BIGINT NOT NULL,"
    "  last_error TEXT NOT NULL,"
    "  remote_doc_id TEXT NOT NULL,"
    "  track_next_ms BIGINT NOT NULL,"
    "  track_count INTEGER NOT NULL,"
    "  created_ms BIGINT NOT NULL,"
    "  updated_ms BIGINT NOT NULL"
    ");"
    "CREATE INDEX relay_outbox_due ON relay_outbox (peer, state, next_ms);"
    "CREATE INDEX relay_outbox_track ON relay_outbox (peer, state, track_next_ms);"
    "CREATE INDEX relay_outbox_package ON relay_outbox (package_id);"
    "CREATE INDEX delivery_outbox ON delivery (outbox_id);"
    "CREATE INDEX package_document ON package (document_id);"

    "CREATE TABLE package_trace ("
    "  package_id TEXT NOT NULL PRIMARY KEY REFERENCES package (id),"
    "  insert_offset BIGINT NOT NULL,"
    "  insert_text TEXT NOT NULL"
    ");"
    "CREATE TABLE relay_inbound ("
    "  peer TEXT NOT NULL,"
    "  remote_doc_id TEXT NOT NULL,"
    "  package_id TEXT NOT NULL REFERENCES package (id),"
    "  created_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (peer, remote_doc_id)"
    ");"

    "CREATE TABLE peer_state ("
    "  peer TEXT NOT NULL PRIMARY KEY,"
    "  health INTEGER NOT NULL,"
    "  since_ms BIGINT NOT NULL,"
    "  failures INTEGER NOT NULL,"
    "  last_error TEXT NOT NULL,"
    "  next_ms BIGINT NOT NULL,"
    "  updated_ms BIGINT NOT NULL"
    ");";

/* Version 5: the outbox's due and tracking indexes hold only the rows their queries look for
 * (pending; sent and still tracked), so a row leaves them when it is settled instead of moving
 * to another key on every send outcome and tracking round: fewer index pages written a commit. */
static const char migration_5[] =
    "DROP INDEX relay_outbox_due;"
    "DROP INDEX relay_outbox_track;"
    "CREATE INDEX relay_outbox_due ON relay_outbox (peer, next_ms) WHERE state = 0;"
    "CREATE INDEX relay_outbox_track ON relay_outbox (peer, track_next_ms)"
    " WHERE state = 1 AND track_next_ms > 0;";

/* Version 6: expired and revoked access tokens are purged (a few at each issue), found by
 * their expiry or revocation instead of a scan of the table. */
static const char migration_6[] =
    "CREATE INDEX IF NOT EXISTS access_token_expiry ON access_token (expires_ms);"
    "CREATE INDEX IF NOT EXISTS access_token_revoked ON access_token (revoked_ms) WHERE revoked_ms "
    "> 0;";

/* Version 7: signed anchors of the transaction log's head (src/audit/anchor.c). Each signs
 * (seq, hash, time, the previous anchor's signature) with this platform's Ed25519 key. */
static const char migration_7[] = "CREATE TABLE IF NOT EXISTS txlog_anchor ("
                                  "  seq BIGINT NOT NULL PRIMARY KEY,"
                                  "  hash TEXT NOT NULL,"
                                  "  time_ms BIGINT NOT NULL,"
                                  "  key_id TEXT NOT NULL,"
                                  "  prev_signature TEXT NOT NULL,"
                                  "  signature TEXT NOT NULL"
                                  ");";

/* Version 8: package.has_signature holds the verdict on the package's XML signatures (0 none,
 * 1 valid, 2 invalid, 3 not verified yet, 4 not checked: too large); before, 1 meant "a
 * Signature element is there": such packages are now to be verified (the server does it in the
 * background), and only valid signatures count as signed. The partial index finds them. */
static const char migration_8[] =
    "UPDATE package SET has_signature = 3 WHERE has_signature = 1;"
    "CREATE INDEX IF NOT EXISTS package_signature_pending ON package (created_ms)"
    " WHERE has_signature = 3;";

static const char *const migrations[] = {
    migration_1, migration_2, migration_3, migration_4,
    migration_5, migration_6, migration_7, migration_8,
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

static const char sql_create_version[] = "CREATE TABLE IF NOT EXISTS schema_version ("
                                         "  version INTEGER NOT NULL PRIMARY KEY,"
                                         "  applied_ms BIGINT NOT NULL"
                                         ")";
static const char sql_get_version[] = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
static const char sql_put_version[] =
    "INSERT INTO schema_version (version, applied_ms) VALUES (?1, ?2)";

int sqlite_schema_current(void)
{
    return N_MIGRATIONS;
}

static int get_version(sqlite3 *db, int *ret)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql_get_version, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int put_version(sqlite3 *db, int version)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql_put_version, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int(st, 1, version);
    sqlite3_bind_int64(st, 2, now_ms());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int sqlite_schema_migrate(sqlite3 *db, char *err, size_t err_len)
{
    if (sqlite3_exec(db, sql_create_version, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, err_len, "cannot create schema_version: %s", sqlite3_errmsg(db));
        return -1;
    }
    for (;;) {
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, err_len, "cannot start the schema migration: %s", sqlite3_errmsg(db));
            return -1;
        }
        int version = 0;
        if (get_version(db, &version) != 0) {
            snprintf(err, err_len, "cannot read the schema version: %s", sqlite3_errmsg(db));
            goto fail;
        }
        if (version > N_MIGRATIONS) {
            snprintf(err, err_len,
                     "the database has schema version %d, newer than this program's %d: "
                     "use a newer lienthong",
                     version, N_MIGRATIONS);
            goto fail;
        }
        if (version == N_MIGRATIONS)
            return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
        if (sqlite3_exec(db, migrations[version], NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, err_len, "schema migration %d failed: %s", version + 1,
                     sqlite3_errmsg(db));
            goto fail;
        }
        if (put_version(db, version + 1) != 0 ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, err_len, "schema migration %d failed: %s", version + 1,
                     sqlite3_errmsg(db));
            goto fail;
        }
    }
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}
