/* sqlite — the SQLite implementation of the store interface (store.h).
 *
 * Files: <data_dir>/lienthong.db (+ -wal, -shm), WAL journal, synchronous=FULL so that a commit
 * is on disk (fsync) when write_commit returns. busy_timeout lets the CLI work on the database
 * while the server runs. <data_dir>/lienthong.gen holds the configuration generation (8 bytes,
 * native order), mapped MAP_SHARED by every process that opens the store: write_commit
 * increments it atomically after a durable commit whose transaction changed systems, serves,
 * services, grants, revoked tokens or the relay's configuration (the transaction's config_dirty
 * flag), and config_generation() is one atomic load. Not itself durable: a lost increment (crash
 * between commit and increment) costs only a reload that the restarting gateway does anyway.
 *
 * Connections:
 *  - ONE write connection, guarded by a mutex that write_begin takes (then BEGIN IMMEDIATE) and
 *    write_commit/write_rollback release. The thread holding it is remembered in a thread-local
 *    variable: every read function called from that thread while its transaction is open runs on
 *    the write connection, so it sees the transaction's own uncommitted writes (the committer
 *    looks up routes and duplicates inside its batch).
 *  - A pool of read-only connections (up to POOL_MAX kept, opened lazily) for every other read.
 *    Under WAL they read the last committed state concurrently with the writer. A thread that
 *    already holds a pool connection (a read called from a list callback) gets an extra one
 *    instead of waiting, so nested reads cannot deadlock the pool.
 * Prepared statements are cached per connection (SQLITE_PREPARE_PERSISTENT) and reset after use;
 * a statement that is already running on that connection (nested use from a callback) is
 * prepared afresh for the nested call and finalized after it.
 *
 * Transaction log: the chain head ("<seq> <hash>" under meta key txlog.head) is read once per
 * write transaction, on its first append, kept in memory while the transaction appends, and
 * written back once by write_commit just before COMMIT (struct txhead). A transaction that cannot
 * write it is rolled back, so records are never committed without their head.
 *
 * Package bytes live in package_chunk rows of STORE_CHUNK_SIZE bytes (the last one shorter);
 * package_read reads only the bytes asked for, through incremental blob I/O.
 *
 * Errors: SQLITE_BUSY / SQLITE_LOCKED -> STORE_SOFT_ERROR, anything else -> STORE_HARD_ERROR,
 * logged with the SQLite message. */
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/chain.h"
#include "store/sqlite_schema.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

#define POOL_MAX 8
#define BUSY_TIMEOUT_MS 10000
#define WRITE_CACHE_KIB 32768
#define READ_CACHE_KIB 8192
#define INBOX_DEFAULT_LIMIT 1000
#define SENT_DEFAULT_LIMIT 500
#define SENT_MAX_LIMIT 5000
#define CALL_SCAN_PAGE 1000
#define OUTBOX_DEFAULT_LIMIT 100 /* outbox_due / outbox_track_due with limit 0 */
#define GEN_FILE "lienthong.gen"

/* ---- SQL: one named statement each ---------------------------------------------------------- */

static const char sql_begin_immediate[] = "BEGIN IMMEDIATE";
static const char sql_begin_read[] = "BEGIN";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";
static const char sql_savepoint[] = "SAVEPOINT package_insert";
static const char sql_release[] = "RELEASE package_insert";
static const char sql_rollback_to[] = "ROLLBACK TO package_insert";

static const char sql_agency_put[] =
    "INSERT INTO agency (id, name, parent_id, mail, mobile, fax, created_ms, updated_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    " ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id,"
    " mail = excluded.mail, mobile = excluded.mobile, fax = excluded.fax,"
    " updated_ms = excluded.updated_ms";
static const char sql_agency_get[] =
    "SELECT id, name, parent_id, mail, mobile, fax, created_ms, updated_ms"
    " FROM agency WHERE id = ?1";
static const char sql_agency_list[] =
    "SELECT id, name, parent_id, mail, mobile, fax, created_ms, updated_ms"
    " FROM agency ORDER BY id";
static const char sql_agency_refs[] = "SELECT (SELECT COUNT(*) FROM agency WHERE parent_id = ?1)"
                                      " + (SELECT COUNT(*) FROM system WHERE agency_id = ?1)"
                                      " + (SELECT COUNT(*) FROM system_serves WHERE organ_id = ?1)";
static const char sql_agency_delete[] = "DELETE FROM agency WHERE id = ?1";

/* A NULL secret on update keeps the configured one. */
static const char sql_system_put[] =
    "INSERT INTO system (id, agency_id, status, secret, created_ms, updated_ms)"
    " VALUES (?1, ?2, ?3, COALESCE(?4, (SELECT secret FROM system WHERE id = ?1)), ?5, ?6)"
    " ON CONFLICT (id) DO UPDATE SET agency_id = excluded.agency_id, status = excluded.status,"
    " secret = excluded.secret, updated_ms = excluded.updated_ms";
static const char sql_system_get[] =
    "SELECT id, agency_id, status, secret, created_ms, updated_ms FROM system WHERE id = ?1";
static const char sql_system_list[] =
    "SELECT id, agency_id, status, secret, created_ms, updated_ms FROM system ORDER BY id";
static const char sql_system_delete[] = "DELETE FROM system WHERE id = ?1";

static const char sql_serves_of_system[] =
    "SELECT organ_id FROM system_serves WHERE system_id = ?1 ORDER BY organ_id";
static const char sql_serves_delete_system[] = "DELETE FROM system_serves WHERE system_id = ?1";
static const char sql_serves_get[] = "SELECT system_id FROM system_serves WHERE organ_id = ?1";
static const char sql_serves_insert[] =
    "INSERT INTO system_serves (organ_id, system_id) VALUES (?1, ?2)";
static const char sql_serves_delete[] =
    "DELETE FROM system_serves WHERE system_id = ?1 AND organ_id = ?2";

#define PKG_COLS                                                                                   \
    "p.id, p.sender_system, p.messagetype, p.from_organ, p.sha256, p.size, p.created_ms,"          \
    " p.subject, p.code_number, p.code_notation, p.document_id, p.business_doc_type,"              \
    " p.status_code, p.has_signature, p.n_attachments, p.origin_peer"
#define PKG_NCOLS 16
#define DLV_COLS                                                                                   \
    "d.id, d.package_id, d.recipient_organ, d.recipient_system, d.messagetype, d.state,"           \
    " d.created_ms, d.updated_ms, d.outbox_id, d.remote_state, d.status_code, d.status_ms"
#define DLV_NCOLS 12
#define OUTBOX_COLS                                                                                \
    "o.id, o.package_id, o.peer, o.messagetype, o.recipients, o.insert_offset, o.insert_text,"     \
    " o.state, o.attempts, o.next_ms, o.last_error, o.remote_doc_id, o.track_next_ms,"             \
    " o.track_count, o.created_ms, o.updated_ms"

static const char sql_package_find_recent[] =
    "SELECT id FROM package WHERE sender_system = ?1 AND sha256 = ?2 AND created_ms >= ?3"
    " ORDER BY created_ms DESC LIMIT 1";
static const char sql_package_insert[] =
    "INSERT INTO package (id, sender_system, messagetype, from_organ, sha256, size, created_ms,"
    " subject, code_number, code_notation, document_id, business_doc_type, status_code,"
    " has_signature, n_attachments, origin_peer)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
static const char sql_package_get[] = "SELECT " PKG_COLS " FROM package p WHERE p.id = ?1";
static const char sql_package_size[] = "SELECT size FROM package WHERE id = ?1";
static const char sql_chunk_insert[] =
    "INSERT INTO package_chunk (package_id, seq, data) VALUES (?1, ?2, ?3)";
/* rowid: for incremental blob reads of just the bytes needed (SQLite only, not in the shape). */
static const char sql_chunk_range[] = "SELECT rowid, seq FROM package_chunk"
                                      " WHERE package_id = ?1 AND seq >= ?2 AND seq <= ?3"
                                      " ORDER BY seq";

static const char sql_delivery_insert[] =
    "INSERT INTO delivery (id, package_id, recipient_organ, recipient_system, messagetype, state,"
    " created_ms, updated_ms, outbox_id, remote_state, status_code, status_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
static const char sql_delivery_get[] = "SELECT " DLV_COLS " FROM delivery d WHERE d.id = ?1";
static const char sql_delivery_set_state[] =
    "UPDATE delivery SET state = ?2, updated_ms = ?3 WHERE id = ?1";
/* Pending = every state but done (2): written as IN so that the inbox index is used. */
static const char sql_inbox_list_any[] =
    "SELECT " DLV_COLS ", " PKG_COLS " FROM delivery d JOIN package p ON p.id = d.package_id"
    " WHERE d.recipient_system = ?1 AND d.state IN (0, 1, 3)"
    " ORDER BY d.created_ms, d.id LIMIT ?2";
static const char sql_inbox_list_type[] =
    "SELECT " DLV_COLS ", " PKG_COLS " FROM delivery d JOIN package p ON p.id = d.package_id"
    " WHERE d.recipient_system = ?1 AND d.state IN (0, 1, 3) AND d.messagetype = ?3"
    " ORDER BY d.created_ms, d.id LIMIT ?2";
static const char sql_inbox_count_any[] =
    "SELECT COUNT(*) FROM delivery WHERE recipient_system = ?1 AND state IN (0, 1, 3)";
static const char sql_inbox_count_type[] = "SELECT COUNT(*) FROM delivery"
                                           " WHERE recipient_system = ?1 AND state IN (0, 1, 3)"
                                           " AND messagetype = ?2";
/* Packages newest first (limit/offset count packages), one row per delivery (with its outbox row
 * when relayed); a package without any delivery yields no row. */
/* A sender's packages, or one of them (?3): the by-id form is its own statement, as
 * "(?3 IS NULL OR id = ?3)" would scan every package of the sender instead of the key. */
#define SENT_LIST(ID)                                                                              \
    "SELECT " PKG_COLS ", " DLV_COLS ", " OUTBOX_COLS " FROM"                                      \
    " (SELECT * FROM package WHERE sender_system = ?1 AND (?2 < 0 OR messagetype = ?2)"            \
    "  AND " ID " AND (?4 = 0 OR created_ms >= ?4)"                                                \
    "  AND (?5 = 0 OR created_ms < ?5)"                                                            \
    "  ORDER BY created_ms DESC, id DESC LIMIT ?6 OFFSET ?7) p"                                    \
    " JOIN delivery d ON d.package_id = p.id"                                                      \
    " LEFT JOIN relay_outbox o ON o.id = d.outbox_id"                                              \
    " ORDER BY p.created_ms DESC, p.id DESC, d.recipient_organ, d.id"
static const char sql_sent_list[] = SENT_LIST("?3 IS NULL");
static const char sql_sent_one[] = SENT_LIST("id = ?3");

static const char sql_txlog_insert[] =
    "INSERT INTO txlog (seq, time_ms, actor, operation, package_id, content_sha256, outcome,"
    " prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char sql_txlog_scan[] =
    "SELECT seq, time_ms, actor, operation, package_id, content_sha256, outcome, prev_hash, hash"
    " FROM txlog ORDER BY seq";
static const char sql_meta_get[] = "SELECT value FROM meta WHERE key = ?1";
static const char sql_meta_put[] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                                   " ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/* Per organ: packages sent (by from_organ) and deliveries received (by recipient_organ) created
 * in [?1, ?2) (0 = unbounded), with the agency name when registered. */
#define PERIOD "(?1 = 0 OR created_ms >= ?1) AND (?2 = 0 OR created_ms < ?2)"
static const char sql_stats[] =
    "SELECT o.organ, a.name,"
    " COALESCE(s.edoc, 0), COALESCE(s.status, 0), COALESCE(s.signed, 0),"
    " COALESCE(r.edoc, 0), COALESCE(r.status, 0),"
    " COALESCE(r.st0, 0), COALESCE(r.st1, 0), COALESCE(r.st2, 0), COALESCE(r.st3, 0)"
    " FROM (SELECT from_organ AS organ FROM package WHERE " PERIOD
    "       UNION SELECT recipient_organ FROM delivery WHERE " PERIOD ") o"
    " LEFT JOIN (SELECT from_organ AS organ,"
    "   SUM(CASE WHEN messagetype = 0 THEN 1 ELSE 0 END) AS edoc,"
    "   SUM(CASE WHEN messagetype = 1 THEN 1 ELSE 0 END) AS status,"
    "   SUM(CASE WHEN messagetype = 0 AND has_signature = 1 THEN 1 ELSE 0 END) AS signed"
    "   FROM package WHERE " PERIOD " GROUP BY from_organ) s ON s.organ = o.organ"
    " LEFT JOIN (SELECT recipient_organ AS organ,"
    "   SUM(CASE WHEN messagetype = 0 THEN 1 ELSE 0 END) AS edoc,"
    "   SUM(CASE WHEN messagetype = 1 THEN 1 ELSE 0 END) AS status,"
    "   SUM(CASE WHEN state = 0 THEN 1 ELSE 0 END) AS st0,"
    "   SUM(CASE WHEN state = 1 THEN 1 ELSE 0 END) AS st1,"
    "   SUM(CASE WHEN state = 2 THEN 1 ELSE 0 END) AS st2,"
    "   SUM(CASE WHEN state = 3 THEN 1 ELSE 0 END) AS st3"
    "   FROM delivery WHERE " PERIOD " GROUP BY recipient_organ) r ON r.organ = o.organ"
    " LEFT JOIN agency a ON a.id = o.organ"
    " ORDER BY o.organ";

/* Gateway catalogue. A put for an unknown system (or a grant for an unknown service) inserts
 * nothing: the EXISTS clause makes the row set empty, and the caller gets NO_RESULTS. An update
 * keeps created_ms. */
#define SERVICE_COLS                                                                               \
    "code, version, provider_system, name, description, url, protocol, timeout_ms,"                \
    " max_request_bytes, max_response_bytes, rate_per_s, burst, created_ms, updated_ms"
static const char sql_service_put[] =
    "INSERT INTO service (" SERVICE_COLS ")"
    " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14"
    " WHERE EXISTS (SELECT 1 FROM system WHERE id = ?3)"
    " ON CONFLICT (code, version) DO UPDATE SET provider_system = excluded.provider_system,"
    " name = excluded.name, description = excluded.description, url = excluded.url,"
    " protocol = excluded.protocol, timeout_ms = excluded.timeout_ms,"
    " max_request_bytes = excluded.max_request_bytes,"
    " max_response_bytes = excluded.max_response_bytes, rate_per_s = excluded.rate_per_s,"
    " burst = excluded.burst, updated_ms = excluded.updated_ms";
static const char sql_service_get[] =
    "SELECT " SERVICE_COLS " FROM service WHERE code = ?1 AND version = ?2";
static const char sql_service_list[] = "SELECT " SERVICE_COLS " FROM service"
                                       " WHERE ?1 IS NULL OR provider_system = ?1"
                                       " ORDER BY code, version";
static const char sql_service_delete[] = "DELETE FROM service WHERE code = ?1 AND version = ?2";

#define GRANT_COLS                                                                                 \
    "consumer_system, service_code, service_version, methods, path_prefix, rate_per_s, burst,"     \
    " created_ms, updated_ms"
static const char sql_grant_put[] =
    "INSERT INTO access_grant (" GRANT_COLS ")"
    " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9"
    " WHERE EXISTS (SELECT 1 FROM system WHERE id = ?1)"
    " AND EXISTS (SELECT 1 FROM service WHERE code = ?2 AND version = ?3)"
    " ON CONFLICT (consumer_system, service_code, service_version) DO UPDATE SET"
    " methods = excluded.methods, path_prefix = excluded.path_prefix,"
    " rate_per_s = excluded.rate_per_s, burst = excluded.burst, updated_ms = excluded.updated_ms";
static const char sql_grant_delete[] = "DELETE FROM access_grant WHERE consumer_system = ?1"
                                       " AND service_code = ?2 AND service_version = ?3";
static const char sql_grant_delete_service[] =
    "DELETE FROM access_grant WHERE service_code = ?1 AND service_version = ?2";
static const char sql_grant_list[] = "SELECT " GRANT_COLS " FROM access_grant"
                                     " WHERE (?1 IS NULL OR consumer_system = ?1)"
                                     " AND (?2 IS NULL OR service_code = ?2)"
                                     " AND (?3 IS NULL OR service_version = ?3)"
                                     " ORDER BY consumer_system, service_code, service_version";

static const char sql_token_insert[] =
    "INSERT INTO access_token (sha256, system_id, issued_ms, expires_ms, revoked_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_token_revoke[] =
    "UPDATE access_token SET revoked_ms = ?2 WHERE sha256 = ?1 AND revoked_ms = 0";
static const char sql_token_revoke_system[] =
    "UPDATE access_token SET revoked_ms = ?2 WHERE system_id = ?1 AND revoked_ms = 0";
static const char sql_token_live_count[] =
    "SELECT COUNT(*), COALESCE(MIN(expires_ms), 0) FROM access_token"
    " WHERE system_id = ?1 AND revoked_ms = 0 AND expires_ms > ?2";
static const char sql_token_purge[] =
    "DELETE FROM access_token WHERE sha256 IN (SELECT sha256 FROM access_token"
    " WHERE expires_ms <= ?1 OR revoked_ms > 0 LIMIT ?2)";
static const char sql_signature_pending[] =
    "SELECT id FROM package WHERE has_signature = 3 ORDER BY created_ms LIMIT ?1";
static const char sql_signature_set[] =
    "UPDATE package SET has_signature = ?2 WHERE id = ?1 AND has_signature = 3";
static const char sql_anchor_insert[] =
    "INSERT INTO txlog_anchor (seq, hash, time_ms, key_id, prev_signature, signature)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_anchor_last[] =
    "SELECT seq, hash, time_ms, key_id, prev_signature, signature FROM txlog_anchor"
    " ORDER BY seq DESC LIMIT 1";
static const char sql_anchor_scan[] =
    "SELECT seq, hash, time_ms, key_id, prev_signature, signature FROM txlog_anchor"
    " ORDER BY seq";
static const char sql_token_list_active[] =
    "SELECT sha256, system_id, issued_ms, expires_ms, revoked_ms FROM access_token"
    " WHERE revoked_ms = 0 AND expires_ms > ?1 ORDER BY issued_ms, sha256";

#define CALL_COLS                                                                                  \
    "time_ms, request_id, consumer, provider, service_code, service_version, method, path,"        \
    " status, error, duration_us, upstream_us, bytes_in, bytes_out, request_sha256,"               \
    " response_sha256"
static const char sql_call_insert[] =
    "INSERT INTO gateway_call (" CALL_COLS ")"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
/* One page of the call log after the key (?1 time, ?2 rowid), before ?3: keyset paging on the
 * time index (which ends in the rowid), so each page is one short read (SQLite only: rowid). */
static const char sql_call_scan[] = "SELECT rowid, " CALL_COLS " FROM gateway_call"
                                    " WHERE (time_ms, rowid) > (?1, ?2) AND time_ms < ?3"
                                    " ORDER BY time_ms, rowid LIMIT ?4";

/* Relay between platforms. The platform row always has id 1. A route for an unknown peer inserts
 * nothing (the EXISTS clause), so the caller gets NO_RESULTS. Updates keep created_ms. */
static const char sql_platform_put[] =
    "INSERT INTO platform (id, organ_id, name, created_ms, updated_ms) VALUES (1, ?1, ?2, ?3, ?4)"
    " ON CONFLICT (id) DO UPDATE SET organ_id = excluded.organ_id, name = excluded.name,"
    " updated_ms = excluded.updated_ms";
static const char sql_platform_get[] =
    "SELECT organ_id, name, created_ms, updated_ms FROM platform WHERE id = 1";

#define PEER_COLS                                                                                  \
    "name, endpoint, system_id, secret, pull_interval_ms, created_ms, updated_ms, inbound_system"
static const char sql_peer_put[] =
    "INSERT INTO peer (" PEER_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    " ON CONFLICT (name) DO UPDATE SET endpoint = excluded.endpoint,"
    " system_id = excluded.system_id, secret = excluded.secret,"
    " pull_interval_ms = excluded.pull_interval_ms, updated_ms = excluded.updated_ms,"
    " inbound_system = excluded.inbound_system";
static const char sql_peer_get[] = "SELECT " PEER_COLS " FROM peer WHERE name = ?1";
static const char sql_peer_list[] = "SELECT " PEER_COLS " FROM peer ORDER BY name";
static const char sql_peer_refs[] = "SELECT COUNT(*) FROM route WHERE peer_name = ?1";
static const char sql_peer_delete[] = "DELETE FROM peer WHERE name = ?1";

static const char sql_route_put[] =
    "INSERT INTO route (pattern, peer_name, created_ms)"
    " SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM peer WHERE name = ?2)"
    " ON CONFLICT (pattern) DO UPDATE SET peer_name = excluded.peer_name";
static const char sql_route_get[] =
    "SELECT pattern, peer_name, created_ms FROM route WHERE pattern = ?1";
static const char sql_route_list[] = "SELECT pattern, peer_name, created_ms FROM route"
                                     " WHERE ?1 IS NULL OR peer_name = ?1 ORDER BY pattern";
static const char sql_route_delete[] = "DELETE FROM route WHERE pattern = ?1";

/* The relay's traffic. */
static const char sql_outbox_insert[] =
    "INSERT INTO relay_outbox (id, package_id, peer, messagetype, recipients, insert_offset,"
    " insert_text, state, attempts, next_ms, last_error, remote_doc_id, track_next_ms,"
    " track_count, created_ms, updated_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
static const char sql_outbox_get[] = "SELECT " OUTBOX_COLS " FROM relay_outbox o WHERE o.id = ?1";
static const char sql_outbox_update[] =
    "UPDATE relay_outbox SET state = ?2, attempts = ?3, next_ms = ?4, last_error = ?5,"
    " remote_doc_id = ?6, track_next_ms = ?7, track_count = ?8, updated_ms = ?9 WHERE id = ?1";
/* state 0 = pending, 1 = sent, track_next_ms > 0: literals, the WHERE of the partial indexes
 * (peer, next_ms) and (peer, track_next_ms), so that they are used. */
static const char sql_outbox_due[] = "SELECT " OUTBOX_COLS " FROM relay_outbox o"
                                     " WHERE o.peer = ?1 AND o.state = 0 AND o.next_ms <= ?2"
                                     " ORDER BY o.next_ms, o.created_ms, o.id LIMIT ?3";
static const char sql_outbox_track_due[] =
    "SELECT " OUTBOX_COLS " FROM relay_outbox o"
    " WHERE o.peer = ?1 AND o.state = 1 AND o.track_next_ms > 0 AND o.track_next_ms <= ?2"
    " ORDER BY o.track_next_ms, o.created_ms, o.id LIMIT ?3";
static const char sql_delivery_set_remote[] =
    "UPDATE delivery SET remote_state = ?3, updated_ms = ?4"
    " WHERE outbox_id = ?1 AND recipient_organ = ?2";
/* Only documents (messagetype 0) are answered by a status. */
static const char sql_delivery_set_status[] =
    "UPDATE delivery SET status_code = ?4, status_ms = ?5 WHERE recipient_organ = ?3"
    " AND package_id IN (SELECT id FROM package"
    "  WHERE document_id = ?1 AND from_organ = ?2 AND messagetype = 0)";
/* Deliveries of a document (edoc) to one organ that a status from this caller may answer: a
 * local delivery to one of the caller's systems (?4, ?5), or one relayed to its peer (?6). */
static const char sql_delivery_answerable[] =
    "SELECT COUNT(*) FROM delivery d JOIN package p ON p.id = d.package_id"
    " LEFT JOIN relay_outbox o ON o.id = d.outbox_id"
    " WHERE p.document_id = ?1 AND p.from_organ = ?2 AND p.messagetype = 0"
    " AND d.recipient_organ = ?3"
    " AND ((d.recipient_system <> '' AND d.recipient_system IN (?4, ?5))"
    "  OR (?6 <> '' AND o.peer = ?6))";
static const char sql_trace_put[] =
    "INSERT INTO package_trace (package_id, insert_offset, insert_text) VALUES (?1, ?2, ?3)";
static const char sql_trace_get[] =
    "SELECT insert_offset, insert_text FROM package_trace WHERE package_id = ?1";
static const char sql_inbound_find[] =
    "SELECT package_id FROM relay_inbound WHERE peer = ?1 AND remote_doc_id = ?2";
static const char sql_inbound_insert[] =
    "INSERT INTO relay_inbound (peer, remote_doc_id, package_id, created_ms)"
    " VALUES (?1, ?2, ?3, ?4)";
#define PEER_STATE_COLS "peer, health, since_ms, failures, last_error, next_ms, updated_ms"
static const char sql_peer_state_put[] =
    "INSERT INTO peer_state (" PEER_STATE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    " ON CONFLICT (peer) DO UPDATE SET health = excluded.health, since_ms = excluded.since_ms,"
    " failures = excluded.failures, last_error = excluded.last_error,"
    " next_ms = excluded.next_ms, updated_ms = excluded.updated_ms";
static const char sql_peer_state_get[] =
    "SELECT " PEER_STATE_COLS " FROM peer_state WHERE peer = ?1";
static const char sql_peer_state_delete[] = "DELETE FROM peer_state WHERE peer = ?1";
/* Per configured peer, over rows created in [?1, ?2) (0 = unbounded): its outbox rows by
 * messagetype and by state; the entries of its inbound system's inbox here (once per entry: the
 * peer pulls each as a package of its own); the packages that came from it. Then the row ""
 * of the packages internal to this platform: sent by a system here, with at least one recipient
 * served here (not a peer's inbound system). */
static const char sql_relay_stats[] =
    "SELECT pe.name,"
    " COALESCE(o.edoc, 0) + COALESCE(i.edoc, 0), COALESCE(o.status, 0) + COALESCE(i.status, 0),"
    " COALESCE(o.pending, 0), COALESCE(o.undeliverable, 0),"
    " COALESCE(r.edoc, 0), COALESCE(r.status, 0), 0"
    " FROM peer pe"
    " LEFT JOIN (SELECT peer,"
    "   SUM(CASE WHEN messagetype = 0 THEN 1 ELSE 0 END) AS edoc,"
    "   SUM(CASE WHEN messagetype = 1 THEN 1 ELSE 0 END) AS status,"
    "   SUM(CASE WHEN state = 0 THEN 1 ELSE 0 END) AS pending,"
    "   SUM(CASE WHEN state = 2 THEN 1 ELSE 0 END) AS undeliverable"
    "   FROM relay_outbox WHERE " PERIOD " GROUP BY peer) o ON o.peer = pe.name"
    " LEFT JOIN (SELECT recipient_system AS sys,"
    "   SUM(CASE WHEN messagetype = 0 THEN 1 ELSE 0 END) AS edoc,"
    "   SUM(CASE WHEN messagetype = 1 THEN 1 ELSE 0 END) AS status"
    "   FROM delivery WHERE " PERIOD
    "   AND recipient_system IN (SELECT inbound_system FROM peer WHERE inbound_system <> '')"
    "   GROUP BY recipient_system) i ON pe.inbound_system <> '' AND i.sys = pe.inbound_system"
    " LEFT JOIN (SELECT origin_peer,"
    "   SUM(CASE WHEN messagetype = 0 THEN 1 ELSE 0 END) AS edoc,"
    "   SUM(CASE WHEN messagetype = 1 THEN 1 ELSE 0 END) AS status"
    "   FROM package WHERE origin_peer IS NOT NULL AND " PERIOD
    "   GROUP BY origin_peer) r ON r.origin_peer = pe.name"
    " UNION ALL SELECT '',"
    "   COALESCE(SUM(CASE WHEN messagetype = 0 THEN 1 ELSE 0 END), 0),"
    "   COALESCE(SUM(CASE WHEN messagetype = 1 THEN 1 ELSE 0 END), 0), 0, 0, 0, 0, 1"
    "   FROM package p WHERE origin_peer IS NULL AND " PERIOD
    "   AND EXISTS (SELECT 1 FROM delivery d WHERE d.package_id = p.id"
    "     AND d.recipient_system <> ''"
    "     AND d.recipient_system NOT IN (SELECT inbound_system FROM peer))"
    " ORDER BY 8, 1";

enum stmt_id {
    S_BEGIN_IMMEDIATE,
    S_BEGIN_READ,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_AGENCY_PUT,
    S_AGENCY_GET,
    S_AGENCY_LIST,
    S_AGENCY_REFS,
    S_AGENCY_DELETE,
    S_SYSTEM_PUT,
    S_SYSTEM_GET,
    S_SYSTEM_LIST,
    S_SYSTEM_DELETE,
    S_SERVES_OF_SYSTEM,
    S_SERVES_DELETE_SYSTEM,
    S_SERVES_GET,
    S_SERVES_INSERT,
    S_SERVES_DELETE,
    S_PACKAGE_FIND_RECENT,
    S_PACKAGE_INSERT,
    S_PACKAGE_GET,
    S_PACKAGE_SIZE,
    S_CHUNK_INSERT,
    S_CHUNK_RANGE,
    S_DELIVERY_INSERT,
    S_DELIVERY_GET,
    S_DELIVERY_SET_STATE,
    S_INBOX_LIST_ANY,
    S_INBOX_LIST_TYPE,
    S_INBOX_COUNT_ANY,
    S_INBOX_COUNT_TYPE,
    S_SENT_LIST,
    S_SENT_ONE,
    S_TXLOG_INSERT,
    S_TXLOG_SCAN,
    S_META_GET,
    S_META_PUT,
    S_STATS,
    S_SERVICE_PUT,
    S_SERVICE_GET,
    S_SERVICE_LIST,
    S_SERVICE_DELETE,
    S_GRANT_PUT,
    S_GRANT_DELETE,
    S_GRANT_DELETE_SERVICE,
    S_GRANT_LIST,
    S_TOKEN_INSERT,
    S_TOKEN_REVOKE,
    S_TOKEN_REVOKE_SYSTEM,
    S_TOKEN_LIST_ACTIVE,
    S_TOKEN_LIVE_COUNT,
    S_ANCHOR_INSERT,
    S_SIGNATURE_PENDING,
    S_SIGNATURE_SET,
    S_ANCHOR_LAST,
    S_ANCHOR_SCAN,
    S_TOKEN_PURGE,
    S_CALL_INSERT,
    S_CALL_SCAN,
    S_PLATFORM_PUT,
    S_PLATFORM_GET,
    S_PEER_PUT,
    S_PEER_GET,
    S_PEER_LIST,
    S_PEER_REFS,
    S_PEER_DELETE,
    S_ROUTE_PUT,
    S_ROUTE_GET,
    S_ROUTE_LIST,
    S_ROUTE_DELETE,
    S_OUTBOX_INSERT,
    S_OUTBOX_GET,
    S_OUTBOX_UPDATE,
    S_OUTBOX_DUE,
    S_OUTBOX_TRACK_DUE,
    S_DELIVERY_SET_REMOTE,
    S_DELIVERY_SET_STATUS,
    S_DELIVERY_ANSWERABLE,
    S_TRACE_PUT,
    S_TRACE_GET,
    S_INBOUND_FIND,
    S_INBOUND_INSERT,
    S_PEER_STATE_PUT,
    S_PEER_STATE_GET,
    S_PEER_STATE_DELETE,
    S_RELAY_STATS,
    S__COUNT
};

static const char *const stmt_sql[S__COUNT] = {
    [S_BEGIN_IMMEDIATE] = sql_begin_immediate,
    [S_BEGIN_READ] = sql_begin_read,
    [S_COMMIT] = sql_commit,
    [S_ROLLBACK] = sql_rollback,
    [S_SAVEPOINT] = sql_savepoint,
    [S_RELEASE] = sql_release,
    [S_ROLLBACK_TO] = sql_rollback_to,
    [S_AGENCY_PUT] = sql_agency_put,
    [S_AGENCY_GET] = sql_agency_get,
    [S_AGENCY_LIST] = sql_agency_list,
    [S_AGENCY_REFS] = sql_agency_refs,
    [S_AGENCY_DELETE] = sql_agency_delete,
    [S_SYSTEM_PUT] = sql_system_put,
    [S_SYSTEM_GET] = sql_system_get,
    [S_SYSTEM_LIST] = sql_system_list,
    [S_SYSTEM_DELETE] = sql_system_delete,
    [S_SERVES_OF_SYSTEM] = sql_serves_of_system,
    [S_SERVES_DELETE_SYSTEM] = sql_serves_delete_system,
    [S_SERVES_GET] = sql_serves_get,
    [S_SERVES_INSERT] = sql_serves_insert,
    [S_SERVES_DELETE] = sql_serves_delete,
    [S_PACKAGE_FIND_RECENT] = sql_package_find_recent,
    [S_PACKAGE_INSERT] = sql_package_insert,
    [S_PACKAGE_GET] = sql_package_get,
    [S_PACKAGE_SIZE] = sql_package_size,
    [S_CHUNK_INSERT] = sql_chunk_insert,
    [S_CHUNK_RANGE] = sql_chunk_range,
    [S_DELIVERY_INSERT] = sql_delivery_insert,
    [S_DELIVERY_GET] = sql_delivery_get,
    [S_DELIVERY_SET_STATE] = sql_delivery_set_state,
    [S_INBOX_LIST_ANY] = sql_inbox_list_any,
    [S_INBOX_LIST_TYPE] = sql_inbox_list_type,
    [S_INBOX_COUNT_ANY] = sql_inbox_count_any,
    [S_INBOX_COUNT_TYPE] = sql_inbox_count_type,
    [S_SENT_LIST] = sql_sent_list,
    [S_SENT_ONE] = sql_sent_one,
    [S_TXLOG_INSERT] = sql_txlog_insert,
    [S_TXLOG_SCAN] = sql_txlog_scan,
    [S_META_GET] = sql_meta_get,
    [S_META_PUT] = sql_meta_put,
    [S_STATS] = sql_stats,
    [S_SERVICE_PUT] = sql_service_put,
    [S_SERVICE_GET] = sql_service_get,
    [S_SERVICE_LIST] = sql_service_list,
    [S_SERVICE_DELETE] = sql_service_delete,
    [S_GRANT_PUT] = sql_grant_put,
    [S_GRANT_DELETE] = sql_grant_delete,
    [S_GRANT_DELETE_SERVICE] = sql_grant_delete_service,
    [S_GRANT_LIST] = sql_grant_list,
    [S_TOKEN_INSERT] = sql_token_insert,
    [S_TOKEN_REVOKE] = sql_token_revoke,
    [S_TOKEN_REVOKE_SYSTEM] = sql_token_revoke_system,
    [S_TOKEN_LIST_ACTIVE] = sql_token_list_active,
    [S_TOKEN_LIVE_COUNT] = sql_token_live_count,
    [S_ANCHOR_INSERT] = sql_anchor_insert,
    [S_SIGNATURE_PENDING] = sql_signature_pending,
    [S_SIGNATURE_SET] = sql_signature_set,
    [S_ANCHOR_LAST] = sql_anchor_last,
    [S_ANCHOR_SCAN] = sql_anchor_scan,
    [S_TOKEN_PURGE] = sql_token_purge,
    [S_CALL_INSERT] = sql_call_insert,
    [S_CALL_SCAN] = sql_call_scan,
    [S_PLATFORM_PUT] = sql_platform_put,
    [S_PLATFORM_GET] = sql_platform_get,
    [S_PEER_PUT] = sql_peer_put,
    [S_PEER_GET] = sql_peer_get,
    [S_PEER_LIST] = sql_peer_list,
    [S_PEER_REFS] = sql_peer_refs,
    [S_PEER_DELETE] = sql_peer_delete,
    [S_ROUTE_PUT] = sql_route_put,
    [S_ROUTE_GET] = sql_route_get,
    [S_ROUTE_LIST] = sql_route_list,
    [S_ROUTE_DELETE] = sql_route_delete,
    [S_OUTBOX_INSERT] = sql_outbox_insert,
    [S_OUTBOX_GET] = sql_outbox_get,
    [S_OUTBOX_UPDATE] = sql_outbox_update,
    [S_OUTBOX_DUE] = sql_outbox_due,
    [S_OUTBOX_TRACK_DUE] = sql_outbox_track_due,
    [S_DELIVERY_SET_REMOTE] = sql_delivery_set_remote,
    [S_DELIVERY_SET_STATUS] = sql_delivery_set_status,
    [S_DELIVERY_ANSWERABLE] = sql_delivery_answerable,
    [S_TRACE_PUT] = sql_trace_put,
    [S_TRACE_GET] = sql_trace_get,
    [S_INBOUND_FIND] = sql_inbound_find,
    [S_INBOUND_INSERT] = sql_inbound_insert,
    [S_PEER_STATE_PUT] = sql_peer_state_put,
    [S_PEER_STATE_GET] = sql_peer_state_get,
    [S_PEER_STATE_DELETE] = sql_peer_state_delete,
    [S_RELAY_STATS] = sql_relay_stats,
};

static const char meta_txlog_head[] = "txlog.head"; /* value "<seq> <hash>" */

/* ---- connections and statements ------------------------------------------------------------- */

/* The transaction-log head inside a write transaction (under wlock). Read from meta once, on the
 * transaction's first append (BEGIN IMMEDIATE holds the database's write lock, so no other
 * connection or process can append until we end), advanced in memory by each append, and written
 * back to meta by write_commit just before COMMIT, in the same transaction as the records.
 * Forgotten whenever the transaction ends: between our transactions other processes (the CLI)
 * append to the same chain. (A savepoint rolled back to after an append would leave it ahead of
 * the log; the only savepoint, package_insert's, covers nothing but the package's own rows.) */
enum txhead_state {
    TXHEAD_UNKNOWN = 0, /* not read in this transaction */
    TXHEAD_CLEAN,       /* read, equal to meta */
    TXHEAD_DIRTY,       /* records appended: meta must be updated before COMMIT */
};

struct txhead {
    enum txhead_state state;
    int present; /* the log has at least one record (else seq 0, hash GENESIS) */
    int64_t seq;
    char hash[65];
};

struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[S__COUNT];
    unsigned char busy[S__COUNT]; /* the cached statement is in use */
};

struct sq {
    struct store pub; /* pub.cls == this */
    char *path;

    pthread_mutex_t wlock; /* held from write_begin to commit/rollback */
    struct conn w;
    uint8_t *chunk;     /* STORE_CHUNK_SIZE bytes for package_insert, used under wlock */
    int config_dirty;   /* the open write transaction changed what the gateway caches */
    struct txhead head; /* the txlog head as the open write transaction sees it */

    uint64_t *gen; /* DATA/lienthong.gen mapped shared: the configuration generation */

    pthread_mutex_t plock;
    pthread_cond_t pcond;
    struct conn *idle[POOL_MAX];
    int n_idle, n_open;
};

/* The store whose write transaction this thread holds (NULL when none). */
static _Thread_local struct sq *tl_writer;
/* Pool connections this thread holds (so that nested reads never wait for the pool). */
static _Thread_local int tl_pool_held;

static enum store_rc rc_of(int rc)
{
    int base = rc & 0xff;
    return base == SQLITE_BUSY || base == SQLITE_LOCKED ? STORE_SOFT_ERROR : STORE_HARD_ERROR;
}

/* The last error of this thread, for the committer's health report. */
static _Thread_local char tl_last_error[200];

static enum store_rc fail(struct conn *c, int rc, const char *what)
{
    log_error("store: %s failed: %s (%d)", what, sqlite3_errmsg(c->db), rc);
    snprintf(tl_last_error, sizeof tl_last_error, "%s: %s", what, sqlite3_errmsg(c->db));
    return rc_of(rc);
}

static void sq_last_error(void *cls, char *buf, size_t len)
{
    (void)cls;
    snprintf(buf, len, "%s", tl_last_error);
}

static void conn_close(struct conn *c)
{
    for (int i = 0; i < S__COUNT; i++)
        if (c->st[i])
            sqlite3_finalize(c->st[i]);
    memset(c->st, 0, sizeof c->st);
    if (c->db)
        sqlite3_close(c->db);
    c->db = NULL;
}

static int conn_exec(sqlite3 *db, const char *sql, char *err, size_t err_len)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, err_len, "%s: %s", sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int conn_open(struct conn *c, const char *path, int readonly, char *err, size_t err_len)
{
    memset(c, 0, sizeof *c);
    int flags = SQLITE_OPEN_NOMUTEX |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "cannot open %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn_close(c);
        return -1;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%d",
             readonly ? READ_CACHE_KIB : WRITE_CACHE_KIB);
    if (conn_exec(c->db, "PRAGMA foreign_keys = ON", err, err_len) != 0 ||
        conn_exec(c->db, pragma, err, err_len) != 0) {
        conn_close(c);
        return -1;
    }
    return 0;
}

/* The statement id on c, ready to bind; NULL on error (logged). Release with st_put. */
static sqlite3_stmt *st_get(struct conn *c, enum stmt_id id)
{
    sqlite3_stmt *st = NULL;
    if (c->st[id] && !c->busy[id]) {
        c->busy[id] = 1;
        return c->st[id];
    }
    int persistent = !c->st[id];
    int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0,
                                &st, NULL);
    if (rc != SQLITE_OK) {
        log_error("store: cannot prepare statement %d: %s", (int)id, sqlite3_errmsg(c->db));
        return NULL;
    }
    if (persistent) {
        c->st[id] = st;
        c->busy[id] = 1;
    }
    return st;
}

static void st_put(struct conn *c, enum stmt_id id, sqlite3_stmt *st)
{
    if (!st)
        return;
    if (st == c->st[id]) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        c->busy[id] = 0;
    } else {
        sqlite3_finalize(st);
    }
}

/* Runs a statement without parameters or rows (BEGIN, COMMIT...). */
static int st_run(struct conn *c, enum stmt_id id)
{
    sqlite3_stmt *st = st_get(c, id);
    if (!st)
        return SQLITE_ERROR;
    int rc = sqlite3_step(st);
    st_put(c, id, st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* NULL is bound as "" for the NOT NULL text columns whose absence is "" (gateway, relay). */
static void bind_text0(sqlite3_stmt *st, int i, const char *s)
{
    sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* ---- the read pool -------------------------------------------------------------------------- */

struct rd {
    struct sq *q;
    struct conn *c;
    int pooled; /* c came from the pool */
    int tx;     /* a read transaction was opened on c */
};

/* Picks the connection for a read: the write connection for the writer thread inside its
 * transaction, a pool connection otherwise. With want_tx, several statements on a pool
 * connection see one snapshot. */
static enum store_rc rd_open(struct sq *q, struct rd *r, int want_tx)
{
    memset(r, 0, sizeof *r);
    r->q = q;
    if (tl_writer == q) {
        r->c = &q->w;
        return STORE_ONE_RESULT;
    }
    struct conn *c = NULL;
    pthread_mutex_lock(&q->plock);
    while (q->n_idle == 0 && q->n_open >= POOL_MAX && tl_pool_held == 0)
        pthread_cond_wait(&q->pcond, &q->plock);
    if (q->n_idle > 0)
        c = q->idle[--q->n_idle];
    else
        q->n_open++;
    pthread_mutex_unlock(&q->plock);
    if (!c) {
        char err[256];
        c = malloc(sizeof *c);
        if (!c || conn_open(c, q->path, 1, err, sizeof err) != 0) {
            if (c)
                log_error("store: read connection: %s", err);
            free(c);
            pthread_mutex_lock(&q->plock);
            q->n_open--;
            pthread_cond_signal(&q->pcond);
            pthread_mutex_unlock(&q->plock);
            return STORE_HARD_ERROR;
        }
    }
    tl_pool_held++;
    r->c = c;
    r->pooled = 1;
    if (want_tx) {
        int rc = st_run(c, S_BEGIN_READ);
        if (rc != SQLITE_OK) {
            enum store_rc ret = fail(c, rc, "BEGIN (read)");
            r->tx = 0;
            pthread_mutex_lock(&q->plock);
            q->idle[q->n_idle++] = c;
            pthread_cond_signal(&q->pcond);
            pthread_mutex_unlock(&q->plock);
            tl_pool_held--;
            return ret;
        }
        r->tx = 1;
    }
    return STORE_ONE_RESULT;
}

static void rd_close(struct rd *r)
{
    if (!r->pooled)
        return;
    struct sq *q = r->q;
    if (r->tx && st_run(r->c, S_COMMIT) != SQLITE_OK)
        st_run(r->c, S_ROLLBACK);
    tl_pool_held--;
    pthread_mutex_lock(&q->plock);
    if (q->n_open > POOL_MAX || q->n_idle >= POOL_MAX) {
        q->n_open--;
        pthread_mutex_unlock(&q->plock);
        conn_close(r->c);
        free(r->c);
        pthread_mutex_lock(&q->plock);
    } else {
        q->idle[q->n_idle++] = r->c;
    }
    pthread_cond_signal(&q->pcond);
    pthread_mutex_unlock(&q->plock);
}

/* The write connection when this thread holds the write transaction, else NULL (logged). */
static struct conn *writer(struct sq *q, const char *what)
{
    if (tl_writer == q)
        return &q->w;
    log_error("store: %s called outside a write transaction", what);
    return NULL;
}

/* ---- transactions --------------------------------------------------------------------------- */

static int txhead_flush(struct sq *q);

static enum store_rc sq_write_begin(void *cls)
{
    struct sq *q = cls;
    tl_last_error[0] = '\0'; /* a reason reported for this transaction is this transaction's */
    if (tl_writer == q) {
        log_error("store: write_begin inside a write transaction");
        return STORE_HARD_ERROR;
    }
    pthread_mutex_lock(&q->wlock);
    int rc = st_run(&q->w, S_BEGIN_IMMEDIATE);
    if (rc != SQLITE_OK) {
        enum store_rc ret = fail(&q->w, rc, "BEGIN IMMEDIATE");
        pthread_mutex_unlock(&q->wlock);
        return ret;
    }
    tl_writer = q;
    q->config_dirty = 0;
    q->head.state = TXHEAD_UNKNOWN;
    return STORE_ONE_RESULT;
}

/* Ends the transaction whatever happens: when writing the txlog head or the COMMIT fails, it is
 * rolled back (records are never committed without their head). */
static enum store_rc sq_write_commit(void *cls)
{
    struct sq *q = cls;
    if (tl_writer != q) {
        log_error("store: write_commit without write_begin");
        return STORE_HARD_ERROR;
    }
    enum store_rc ret = STORE_ONE_RESULT;
    const char *what = "txlog head";
    int rc = txhead_flush(q);
    if (rc == SQLITE_OK) {
        what = "COMMIT";
        rc = st_run(&q->w, S_COMMIT);
    }
    if (rc != SQLITE_OK) {
        ret = fail(&q->w, rc, what);
        if (!sqlite3_get_autocommit(q->w.db))
            st_run(&q->w, S_ROLLBACK);
    } else if (q->config_dirty) {
        /* After the durable commit, so that whoever sees the new generation reads the new
         * configuration (a crash in between loses only a reload that a restart does anyway). */
        __atomic_add_fetch(q->gen, 1, __ATOMIC_ACQ_REL);
    }
    q->config_dirty = 0;
    q->head.state = TXHEAD_UNKNOWN;
    tl_writer = NULL;
    pthread_mutex_unlock(&q->wlock);
    return ret;
}

static void sq_write_rollback(void *cls)
{
    struct sq *q = cls;
    if (tl_writer != q)
        return;
    if (!sqlite3_get_autocommit(q->w.db)) {
        int rc = st_run(&q->w, S_ROLLBACK);
        if (rc != SQLITE_OK)
            fail(&q->w, rc, "ROLLBACK");
    }
    q->config_dirty = 0;
    q->head.state = TXHEAD_UNKNOWN; /* the next transaction reads it again */
    tl_writer = NULL;
    pthread_mutex_unlock(&q->wlock);
}

/* ---- registry ------------------------------------------------------------------------------- */

static char *dup_or_null(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

static void agency_row(sqlite3_stmt *st, struct store_agency *a)
{
    a->id = (char *)col_text(st, 0);
    a->name = (char *)col_text(st, 1);
    a->parent_id = (char *)col_text(st, 2);
    a->mail = (char *)col_text(st, 3);
    a->mobile = (char *)col_text(st, 4);
    a->fax = (char *)col_text(st, 5);
    a->created_ms = sqlite3_column_int64(st, 6);
    a->updated_ms = sqlite3_column_int64(st, 7);
}

static enum store_rc sq_agency_put(void *cls, const struct store_agency *a)
{
    struct conn *c = writer(cls, "agency_put");
    if (!c)
        return STORE_HARD_ERROR;
    if (!a->id || !a->name)
        return STORE_HARD_ERROR;
    sqlite3_stmt *st = st_get(c, S_AGENCY_PUT);
    if (!st)
        return STORE_HARD_ERROR;
    int64_t now = now_ms();
    bind_text(st, 1, a->id);
    bind_text(st, 2, a->name);
    bind_text(st, 3, a->parent_id);
    bind_text(st, 4, a->mail);
    bind_text(st, 5, a->mobile);
    bind_text(st, 6, a->fax);
    sqlite3_bind_int64(st, 7, a->created_ms ? a->created_ms : now);
    sqlite3_bind_int64(st, 8, a->updated_ms ? a->updated_ms : now);
    int rc = sqlite3_step(st);
    enum store_rc ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(c, rc, "agency_put");
    st_put(c, S_AGENCY_PUT, st);
    return ret;
}

static enum store_rc sq_agency_get(void *cls, const char *id, struct store_agency *ret_a)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_AGENCY_GET);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct store_agency a, out = {0};
        int oom = 0;
        agency_row(st, &a);
        out.id = dup_or_null(a.id, &oom);
        out.name = dup_or_null(a.name, &oom);
        out.parent_id = dup_or_null(a.parent_id, &oom);
        out.mail = dup_or_null(a.mail, &oom);
        out.mobile = dup_or_null(a.mobile, &oom);
        out.fax = dup_or_null(a.fax, &oom);
        out.created_ms = a.created_ms;
        out.updated_ms = a.updated_ms;
        if (oom) {
            store_agency_clear(&out);
            ret = STORE_HARD_ERROR;
        } else {
            *ret_a = out;
            ret = STORE_ONE_RESULT;
        }
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "agency_get");
    }
    st_put(r.c, S_AGENCY_GET, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_agency_list(void *cls, store_agency_cb cb, void *ctx)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_AGENCY_LIST);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_agency a;
        agency_row(st, &a);
        if (cb(ctx, &a) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "agency_list");
    st_put(r.c, S_AGENCY_LIST, st);
    rd_close(&r);
    return ret;
}

/* Runs a statement binding one or two texts; ret_changes gets the rows changed. */
static int run_text2(struct conn *c, enum stmt_id id, const char *a, const char *b,
                     int *ret_changes)
{
    sqlite3_stmt *st = st_get(c, id);
    if (!st)
        return SQLITE_ERROR;
    bind_text(st, 1, a);
    if (b)
        bind_text(st, 2, b);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        if (ret_changes)
            *ret_changes = sqlite3_changes(c->db);
    }
    st_put(c, id, st);
    return rc;
}

/* A single-integer query binding one text. */
static int query_int(struct conn *c, enum stmt_id id, const char *a, int64_t *ret, int *ret_found)
{
    sqlite3_stmt *st = st_get(c, id);
    if (!st)
        return SQLITE_ERROR;
    bind_text(st, 1, a);
    int rc = sqlite3_step(st);
    *ret_found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        *ret = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    st_put(c, id, st);
    return rc;
}

static enum store_rc sq_agency_remove(void *cls, const char *id)
{
    struct conn *c = writer(cls, "agency_remove");
    if (!c)
        return STORE_HARD_ERROR;
    int64_t refs = 0;
    int found = 0, changes = 0;
    int rc = query_int(c, S_AGENCY_REFS, id, &refs, &found);
    if (rc != SQLITE_OK)
        return fail(c, rc, "agency_remove");
    if (refs > 0) {
        log_warn("store: agency %s is still referred to (%" PRId64 " references)", id, refs);
        return STORE_HARD_ERROR;
    }
    rc = run_text2(c, S_AGENCY_DELETE, id, NULL, &changes);
    if (rc != SQLITE_OK)
        return fail(c, rc, "agency_remove");
    return changes ? STORE_ONE_RESULT : STORE_NO_RESULTS;
}

static void system_row(sqlite3_stmt *st, struct store_system *s)
{
    s->id = (char *)col_text(st, 0);
    s->agency_id = (char *)col_text(st, 1);
    s->status = (enum store_system_status)sqlite3_column_int(st, 2);
    s->secret = (char *)col_text(st, 3);
    s->created_ms = sqlite3_column_int64(st, 4);
    s->updated_ms = sqlite3_column_int64(st, 5);
}

static enum store_rc sq_system_put(void *cls, const struct store_system *s)
{
    struct conn *c = writer(cls, "system_put");
    if (!c)
        return STORE_HARD_ERROR;
    if (!s->id || !s->agency_id)
        return STORE_HARD_ERROR;
    sqlite3_stmt *st = st_get(c, S_SYSTEM_PUT);
    if (!st)
        return STORE_HARD_ERROR;
    int64_t now = now_ms();
    bind_text(st, 1, s->id);
    bind_text(st, 2, s->agency_id);
    sqlite3_bind_int(st, 3, (int)s->status);
    bind_text(st, 4, s->secret);
    sqlite3_bind_int64(st, 5, s->created_ms ? s->created_ms : now);
    sqlite3_bind_int64(st, 6, s->updated_ms ? s->updated_ms : now);
    int rc = sqlite3_step(st);
    enum store_rc ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(c, rc, "system_put");
    if (ret == STORE_ONE_RESULT)
        ((struct sq *)cls)->config_dirty = 1;
    st_put(c, S_SYSTEM_PUT, st);
    return ret;
}

static enum store_rc sq_system_get(void *cls, const char *id, struct store_system *ret_s)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_SYSTEM_GET);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct store_system s, out = {0};
        int oom = 0;
        system_row(st, &s);
        out.id = dup_or_null(s.id, &oom);
        out.agency_id = dup_or_null(s.agency_id, &oom);
        out.status = s.status;
        out.secret = dup_or_null(s.secret, &oom);
        out.created_ms = s.created_ms;
        out.updated_ms = s.updated_ms;
        if (oom) {
            store_system_clear(&out);
            ret = STORE_HARD_ERROR;
        } else {
            *ret_s = out;
            ret = STORE_ONE_RESULT;
        }
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "system_get");
    }
    st_put(r.c, S_SYSTEM_GET, st);
    rd_close(&r);
    return ret;
}

/* The organs a system serves, as a malloc'ed array of malloc'ed strings. */
static int serves_of(struct conn *c, const char *system_id, char ***ret, size_t *ret_n)
{
    sqlite3_stmt *st = st_get(c, S_SERVES_OF_SYSTEM);
    if (!st)
        return SQLITE_ERROR;
    bind_text(st, 1, system_id);
    char **v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        if (!(v[n] = strdup(col_text(st, 0)))) {
            rc = SQLITE_NOMEM;
            break;
        }
        n++;
    }
    st_put(c, S_SERVES_OF_SYSTEM, st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    *ret = v;
    *ret_n = n;
    return SQLITE_OK;
}

static enum store_rc sq_system_list(void *cls, store_system_cb cb, void *ctx)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 1);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_SYSTEM_LIST);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_system s;
        system_row(st, &s);
        char **serves = NULL;
        size_t n = 0;
        rc = serves_of(r.c, s.id, &serves, &n);
        if (rc != SQLITE_OK)
            break;
        int stop = cb(ctx, &s, serves, n);
        for (size_t i = 0; i < n; i++)
            free(serves[i]);
        free(serves);
        if (stop) {
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "system_list");
    st_put(r.c, S_SYSTEM_LIST, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_system_remove(void *cls, const char *id)
{
    struct conn *c = writer(cls, "system_remove");
    if (!c)
        return STORE_HARD_ERROR;
    int changes = 0;
    int rc = run_text2(c, S_SERVES_DELETE_SYSTEM, id, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = run_text2(c, S_SYSTEM_DELETE, id, NULL, &changes);
    if (rc != SQLITE_OK)
        return fail(c, rc, "system_remove");
    if (!changes)
        return STORE_NO_RESULTS;
    ((struct sq *)cls)->config_dirty = 1;
    return STORE_ONE_RESULT;
}

/* The system serving organ_id into ret (STORE_ID_MAX + 1 bytes); *ret_found 0 when none. */
static int serves_lookup(struct conn *c, const char *organ_id, char *ret, int *ret_found)
{
    sqlite3_stmt *st = st_get(c, S_SERVES_GET);
    if (!st)
        return SQLITE_ERROR;
    bind_text(st, 1, organ_id);
    int rc = sqlite3_step(st);
    *ret_found = 0;
    if (rc == SQLITE_ROW) {
        const char *sys = col_text(st, 0);
        if (strlen(sys) > STORE_ID_MAX) {
            rc = SQLITE_TOOBIG;
        } else {
            strcpy(ret, sys);
            *ret_found = 1;
            rc = SQLITE_OK;
        }
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    st_put(c, S_SERVES_GET, st);
    return rc;
}

static enum store_rc sq_serves_add(void *cls, const char *system_id, const char *organ_id)
{
    struct conn *c = writer(cls, "serves_add");
    if (!c)
        return STORE_HARD_ERROR;
    if (!system_id || !organ_id || strlen(organ_id) > STORE_ID_MAX)
        return STORE_HARD_ERROR;
    char cur[STORE_ID_MAX + 1];
    int found = 0;
    int rc = serves_lookup(c, organ_id, cur, &found);
    if (rc != SQLITE_OK)
        return fail(c, rc, "serves_add");
    if (found)
        return strcmp(cur, system_id) == 0 ? STORE_ONE_RESULT : STORE_NO_RESULTS;
    rc = run_text2(c, S_SERVES_INSERT, organ_id, system_id, NULL);
    if (rc != SQLITE_OK)
        return fail(c, rc, "serves_add");
    ((struct sq *)cls)->config_dirty = 1;
    return STORE_ONE_RESULT;
}

static enum store_rc sq_serves_remove(void *cls, const char *system_id, const char *organ_id)
{
    struct conn *c = writer(cls, "serves_remove");
    if (!c)
        return STORE_HARD_ERROR;
    int changes = 0;
    int rc = run_text2(c, S_SERVES_DELETE, system_id, organ_id, &changes);
    if (rc != SQLITE_OK)
        return fail(c, rc, "serves_remove");
    if (!changes)
        return STORE_NO_RESULTS;
    ((struct sq *)cls)->config_dirty = 1;
    return STORE_ONE_RESULT;
}

static enum store_rc sq_route(void *cls, const char *organ_id, char *ret_system_id)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    int found = 0;
    int rc = serves_lookup(r.c, organ_id, ret_system_id, &found);
    ret = rc != SQLITE_OK ? fail(r.c, rc, "route") : found ? STORE_ONE_RESULT : STORE_NO_RESULTS;
    rd_close(&r);
    return ret;
}

/* ---- packages ------------------------------------------------------------------------------- */

static void package_row(sqlite3_stmt *st, int base, struct store_package *p)
{
    p->id = (char *)col_text(st, base + 0);
    p->sender_system = (char *)col_text(st, base + 1);
    p->messagetype = (enum store_msgtype)sqlite3_column_int(st, base + 2);
    p->from_organ = (char *)col_text(st, base + 3);
    p->sha256 = (char *)col_text(st, base + 4);
    p->size = sqlite3_column_int64(st, base + 5);
    p->created_ms = sqlite3_column_int64(st, base + 6);
    p->subject = (char *)col_text(st, base + 7);
    p->code_number = (char *)col_text(st, base + 8);
    p->code_notation = (char *)col_text(st, base + 9);
    p->document_id = (char *)col_text(st, base + 10);
    p->business_doc_type = (char *)col_text(st, base + 11);
    p->status_code = (char *)col_text(st, base + 12);
    p->signature = sqlite3_column_int(st, base + 13);
    p->n_attachments = sqlite3_column_int(st, base + 14);
    p->origin_peer = (char *)col_text(st, base + 15);
}

static void delivery_row(sqlite3_stmt *st, int base, struct store_delivery *d)
{
    d->id = (char *)col_text(st, base + 0);
    d->package_id = (char *)col_text(st, base + 1);
    d->recipient_organ = (char *)col_text(st, base + 2);
    d->recipient_system = (char *)col_text(st, base + 3);
    d->messagetype = (enum store_msgtype)sqlite3_column_int(st, base + 4);
    d->state = (enum store_delivery_state)sqlite3_column_int(st, base + 5);
    d->created_ms = sqlite3_column_int64(st, base + 6);
    d->updated_ms = sqlite3_column_int64(st, base + 7);
    d->outbox_id = (char *)col_text(st, base + 8);
    d->remote_state = (char *)col_text(st, base + 9);
    d->status_code = (char *)col_text(st, base + 10);
    d->status_ms = sqlite3_column_int64(st, base + 11);
}

static void outbox_row(sqlite3_stmt *st, int base, struct store_outbox *o)
{
    o->id = (char *)col_text(st, base + 0);
    o->package_id = (char *)col_text(st, base + 1);
    o->peer = (char *)col_text(st, base + 2);
    o->messagetype = (enum store_msgtype)sqlite3_column_int(st, base + 3);
    o->recipients = (char *)col_text(st, base + 4);
    o->insert_offset = sqlite3_column_int64(st, base + 5);
    o->insert_text = (char *)col_text(st, base + 6);
    o->state = (enum store_relay_state)sqlite3_column_int(st, base + 7);
    o->attempts = sqlite3_column_int(st, base + 8);
    o->next_ms = sqlite3_column_int64(st, base + 9);
    o->last_error = (char *)col_text(st, base + 10);
    o->remote_doc_id = (char *)col_text(st, base + 11);
    o->track_next_ms = sqlite3_column_int64(st, base + 12);
    o->track_count = sqlite3_column_int(st, base + 13);
    o->created_ms = sqlite3_column_int64(st, base + 14);
    o->updated_ms = sqlite3_column_int64(st, base + 15);
}

static enum store_rc sq_package_find_recent(void *cls, const char *sender_system,
                                            const char *sha256, int64_t since_ms, char *ret_id)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_PACKAGE_FIND_RECENT);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, sender_system);
    bind_text(st, 2, sha256);
    sqlite3_bind_int64(st, 3, since_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *id = col_text(st, 0);
        if (strlen(id) >= DOCID_HEX_SIZE) {
            ret = STORE_HARD_ERROR;
        } else {
            strcpy(ret_id, id);
            ret = STORE_ONE_RESULT;
        }
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "package_find_recent");
    }
    st_put(r.c, S_PACKAGE_FIND_RECENT, st);
    rd_close(&r);
    return ret;
}

static int is_lower_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static int insert_package_row(struct conn *c, const struct store_package *p)
{
    sqlite3_stmt *st = st_get(c, S_PACKAGE_INSERT);
    if (!st)
        return SQLITE_ERROR;
    bind_text(st, 1, p->id);
    bind_text(st, 2, p->sender_system);
    sqlite3_bind_int(st, 3, (int)p->messagetype);
    bind_text(st, 4, p->from_organ);
    bind_text(st, 5, p->sha256);
    sqlite3_bind_int64(st, 6, p->size);
    sqlite3_bind_int64(st, 7, p->created_ms ? p->created_ms : now_ms());
    bind_text(st, 8, p->subject);
    bind_text(st, 9, p->code_number);
    bind_text(st, 10, p->code_notation);
    bind_text(st, 11, p->document_id);
    bind_text(st, 12, p->business_doc_type);
    bind_text(st, 13, p->status_code);
    sqlite3_bind_int(st, 14, p->signature);
    sqlite3_bind_int(st, 15, p->n_attachments);
    bind_text(st, 16, p->origin_peer);
    int rc = sqlite3_step(st);
    st_put(c, S_PACKAGE_INSERT, st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int insert_chunk(struct conn *c, const char *id, int64_t seq, const void *data, size_t n)
{
    sqlite3_stmt *st = st_get(c, S_CHUNK_INSERT);
    if (!st)
        return SQLITE_ERROR;
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_blob(st, 3, data, (int)n, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    st_put(c, S_CHUNK_INSERT, st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Inside a savepoint, so that a refused package leaves nothing behind even if the caller goes
 * on to commit the rest of its batch. */
static enum store_rc sq_package_insert(void *cls, const struct store_package *pkg,
                                       store_read_fn read, void *read_ctx)
{
    struct sq *q = cls;
    struct conn *c = writer(q, "package_insert");
    if (!c)
        return STORE_HARD_ERROR;
    if (!pkg->id || !pkg->sender_system || !pkg->from_organ || !is_lower_hex64(pkg->sha256) ||
        pkg->size < 0) {
        log_error("store: package_insert: incomplete package metadata");
        return STORE_HARD_ERROR;
    }
    int rc = st_run(c, S_SAVEPOINT);
    if (rc != SQLITE_OK)
        return fail(c, rc, "package_insert savepoint");

    enum store_rc ret = STORE_HARD_ERROR;
    struct sha256_ctx sha = {0};
    if (!q->chunk)
        q->chunk = malloc(STORE_CHUNK_SIZE);
    uint8_t *chunk = q->chunk;
    int64_t total = 0, seq = 0;
    if (!chunk || sha256_init(&sha) != 0) {
        log_error("store: package_insert: out of memory");
        goto out;
    }
    rc = insert_package_row(c, pkg);
    if (rc != SQLITE_OK) {
        ret = fail(c, rc, "package_insert");
        goto out;
    }
    for (int eof = 0; !eof;) {
        size_t fill = 0;
        while (fill < STORE_CHUNK_SIZE) {
            long n = read(read_ctx, chunk + fill, STORE_CHUNK_SIZE - fill);
            if (n < 0 || (size_t)n > STORE_CHUNK_SIZE - fill) {
                log_error("store: package_insert %s: reading the bytes failed", pkg->id);
                goto out;
            }
            if (n == 0) {
                eof = 1;
                break;
            }
            fill += (size_t)n;
            total += n;
            if (total > pkg->size) {
                log_error("store: package_insert %s: more bytes than the declared %" PRId64,
                          pkg->id, pkg->size);
                goto out;
            }
        }
        if (fill == 0)
            break;
        sha256_update(&sha, chunk, fill);
        rc = insert_chunk(c, pkg->id, seq++, chunk, fill);
        if (rc != SQLITE_OK) {
            ret = fail(c, rc, "package_insert chunk");
            goto out;
        }
    }
    if (total != pkg->size) {
        log_error("store: package_insert %s: %" PRId64 " bytes read, %" PRId64 " declared", pkg->id,
                  total, pkg->size);
        goto out;
    }
    uint8_t digest[SHA256_LEN];
    char hex[SHA256_HEX_SIZE];
    if (sha256_final(&sha, digest) != 0)
        goto out;
    hex_encode(digest, SHA256_LEN, hex);
    if (strcmp(hex, pkg->sha256) != 0) {
        log_error("store: package_insert %s: the bytes' SHA-256 %s differs from the declared %s",
                  pkg->id, hex, pkg->sha256);
        goto out;
    }
    ret = STORE_ONE_RESULT;
out:
    sha256_abort(&sha);
    if (ret != STORE_ONE_RESULT)
        st_run(c, S_ROLLBACK_TO);
    rc = st_run(c, S_RELEASE);
    if (rc != SQLITE_OK && ret == STORE_ONE_RESULT)
        ret = fail(c, rc, "package_insert release");
    return ret;
}

static int copy_package(const struct store_package *p, struct store_package *out)
{
    int oom = 0;
    *out = *p;
    out->id = dup_or_null(p->id, &oom);
    out->sender_system = dup_or_null(p->sender_system, &oom);
    out->from_organ = dup_or_null(p->from_organ, &oom);
    out->sha256 = dup_or_null(p->sha256, &oom);
    out->subject = dup_or_null(p->subject, &oom);
    out->code_number = dup_or_null(p->code_number, &oom);
    out->code_notation = dup_or_null(p->code_notation, &oom);
    out->document_id = dup_or_null(p->document_id, &oom);
    out->business_doc_type = dup_or_null(p->business_doc_type, &oom);
    out->status_code = dup_or_null(p->status_code, &oom);
    out->origin_peer = dup_or_null(p->origin_peer, &oom);
    if (oom) {
        store_package_clear(out);
        return -1;
    }
    return 0;
}

static enum store_rc sq_package_get(void *cls, const char *id, struct store_package *ret_p)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_PACKAGE_GET);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct store_package p;
        package_row(st, 0, &p);
        ret = copy_package(&p, ret_p) == 0 ? STORE_ONE_RESULT : STORE_HARD_ERROR;
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "package_get");
    }
    st_put(r.c, S_PACKAGE_GET, st);
    rd_close(&r);
    return ret;
}

/* Reads [offset, offset+len) from the chunks that hold it, only the bytes needed. */
static enum store_rc sq_package_read(void *cls, const char *id, int64_t offset, void *buf,
                                     size_t len, size_t *ret_n)
{
    if (offset < 0)
        return STORE_HARD_ERROR;
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 1);
    if (ret < 0)
        return ret;
    int64_t size = 0;
    int found = 0;
    int rc = query_int(r.c, S_PACKAGE_SIZE, id, &size, &found);
    if (rc != SQLITE_OK || !found) {
        ret = rc != SQLITE_OK ? fail(r.c, rc, "package_read") : STORE_NO_RESULTS;
        rd_close(&r);
        return ret;
    }
    if (offset >= size || len == 0) {
        *ret_n = 0;
        rd_close(&r);
        return STORE_ONE_RESULT;
    }
    if ((uint64_t)len > (uint64_t)(size - offset))
        len = (size_t)(size - offset);
    int64_t first = offset / STORE_CHUNK_SIZE;
    int64_t last = (offset + (int64_t)len - 1) / STORE_CHUNK_SIZE;
    sqlite3_stmt *st = st_get(r.c, S_CHUNK_RANGE);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, first);
    sqlite3_bind_int64(st, 3, last);
    size_t done = 0;
    int64_t expect = first;
    ret = STORE_ONE_RESULT;
    while (done < len && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 rowid = sqlite3_column_int64(st, 0);
        int64_t seq = sqlite3_column_int64(st, 1);
        if (seq != expect) {
            log_error("store: package %s: chunk %" PRId64 " missing", id, expect);
            ret = STORE_HARD_ERROR;
            break;
        }
        sqlite3_blob *blob = NULL;
        rc = sqlite3_blob_open(r.c->db, "main", "package_chunk", "data", rowid, 0, &blob);
        if (rc != SQLITE_OK) {
            ret = fail(r.c, rc, "package_read blob");
            break;
        }
        int64_t at = offset + (int64_t)done - seq * STORE_CHUNK_SIZE; /* offset in this chunk */
        int64_t avail = sqlite3_blob_bytes(blob) - at;
        size_t n = len - done;
        if (avail <= 0) {
            sqlite3_blob_close(blob);
            log_error("store: package %s: chunk %" PRId64 " is short", id, seq);
            ret = STORE_HARD_ERROR;
            break;
        }
        if ((int64_t)n > avail)
            n = (size_t)avail;
        rc = sqlite3_blob_read(blob, (char *)buf + done, (int)n, (int)at);
        sqlite3_blob_close(blob);
        if (rc != SQLITE_OK) {
            ret = fail(r.c, rc, "package_read blob");
            break;
        }
        done += n;
        expect++;
    }
    if (ret == STORE_ONE_RESULT && done < len) {
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            ret = fail(r.c, rc, "package_read");
        } else {
            log_error("store: package %s: bytes missing at %" PRId64, id, offset + (int64_t)done);
            ret = STORE_HARD_ERROR;
        }
    }
    st_put(r.c, S_CHUNK_RANGE, st);
    rd_close(&r);
    if (ret == STORE_ONE_RESULT)
        *ret_n = done;
    return ret;
}

/* ---- deliveries and inboxes ----------------------------------------------------------------- */

static enum store_rc sq_delivery_insert(void *cls, const struct store_delivery *d)
{
    struct conn *c = writer(cls, "delivery_insert");
    if (!c)
        return STORE_HARD_ERROR;
    sqlite3_stmt *st = st_get(c, S_DELIVERY_INSERT);
    if (!st)
        return STORE_HARD_ERROR;
    int64_t now = now_ms();
    bind_text(st, 1, d->id);
    bind_text(st, 2, d->package_id);
    bind_text(st, 3, d->recipient_organ);
    bind_text(st, 4, d->recipient_system);
    sqlite3_bind_int(st, 5, (int)d->messagetype);
    sqlite3_bind_int(st, 6, (int)d->state);
    sqlite3_bind_int64(st, 7, d->created_ms ? d->created_ms : now);
    sqlite3_bind_int64(st, 8, d->updated_ms ? d->updated_ms : now);
    bind_text(st, 9, d->outbox_id);
    bind_text0(st, 10, d->remote_state);
    bind_text0(st, 11, d->status_code);
    sqlite3_bind_int64(st, 12, d->status_ms);
    int rc = sqlite3_step(st);
    enum store_rc ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(c, rc, "delivery_insert");
    st_put(c, S_DELIVERY_INSERT, st);
    return ret;
}

static enum store_rc sq_delivery_get(void *cls, const char *id, struct store_delivery *ret_d)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_DELIVERY_GET);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct store_delivery d, out;
        int oom = 0;
        delivery_row(st, 0, &d);
        out = d;
        out.id = dup_or_null(d.id, &oom);
        out.package_id = dup_or_null(d.package_id, &oom);
        out.recipient_organ = dup_or_null(d.recipient_organ, &oom);
        out.recipient_system = dup_or_null(d.recipient_system, &oom);
        out.outbox_id = dup_or_null(d.outbox_id, &oom);
        out.remote_state = dup_or_null(d.remote_state, &oom);
        out.status_code = dup_or_null(d.status_code, &oom);
        if (oom) {
            store_delivery_clear(&out);
            ret = STORE_HARD_ERROR;
        } else {
            *ret_d = out;
            ret = STORE_ONE_RESULT;
        }
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "delivery_get");
    }
    st_put(r.c, S_DELIVERY_GET, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_delivery_set_state(void *cls, const char *id,
                                           enum store_delivery_state state, int64_t when_ms)
{
    struct conn *c = writer(cls, "delivery_set_state");
    if (!c)
        return STORE_HARD_ERROR;
    sqlite3_stmt *st = st_get(c, S_DELIVERY_SET_STATE);
    if (!st)
        return STORE_HARD_ERROR;
    bind_text(st, 1, id);
    sqlite3_bind_int(st, 2, (int)state);
    sqlite3_bind_int64(st, 3, when_ms ? when_ms : now_ms());
    int rc = sqlite3_step(st);
    enum store_rc ret;
    if (rc == SQLITE_DONE)
        ret = sqlite3_changes(c->db) ? STORE_ONE_RESULT : STORE_NO_RESULTS;
    else
        ret = fail(c, rc, "delivery_set_state");
    st_put(c, S_DELIVERY_SET_STATE, st);
    return ret;
}

static enum store_rc sq_inbox_list(void *cls, const char *system_id, int messagetype,
                                   unsigned limit, store_delivery_cb cb, void *ctx)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    enum stmt_id id = messagetype < 0 ? S_INBOX_LIST_ANY : S_INBOX_LIST_TYPE;
    sqlite3_stmt *st = st_get(r.c, id);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, system_id);
    sqlite3_bind_int64(st, 2, limit ? limit : INBOX_DEFAULT_LIMIT);
    if (messagetype >= 0)
        sqlite3_bind_int(st, 3, messagetype);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_delivery d;
        struct store_package p;
        delivery_row(st, 0, &d);
        package_row(st, DLV_NCOLS, &p);
        if (cb(ctx, &d, &p) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "inbox_list");
    st_put(r.c, id, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_inbox_count(void *cls, const char *system_id, int messagetype,
                                    int64_t *ret_count)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    enum stmt_id id = messagetype < 0 ? S_INBOX_COUNT_ANY : S_INBOX_COUNT_TYPE;
    sqlite3_stmt *st = st_get(r.c, id);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, system_id);
    if (messagetype >= 0)
        sqlite3_bind_int(st, 2, messagetype);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_count = sqlite3_column_int64(st, 0);
        ret = STORE_ONE_RESULT;
    } else {
        ret = fail(r.c, rc, "inbox_count");
    }
    st_put(r.c, id, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_sent_list(void *cls, const struct store_sent_filter *f, store_sent_cb cb,
                                  void *ctx)
{
    if (!f || !f->sender_system)
        return STORE_HARD_ERROR;
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    enum stmt_id id = f->package_id ? S_SENT_ONE : S_SENT_LIST;
    sqlite3_stmt *st = st_get(r.c, id);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    unsigned limit = f->limit ? f->limit : SENT_DEFAULT_LIMIT;
    if (limit > SENT_MAX_LIMIT)
        limit = SENT_MAX_LIMIT;
    bind_text(st, 1, f->sender_system);
    sqlite3_bind_int(st, 2, f->messagetype < 0 ? -1 : f->messagetype);
    bind_text(st, 3, f->package_id);
    sqlite3_bind_int64(st, 4, f->from_ms);
    sqlite3_bind_int64(st, 5, f->to_ms);
    sqlite3_bind_int64(st, 6, limit);
    sqlite3_bind_int64(st, 7, f->offset);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_package p;
        struct store_delivery d;
        struct store_outbox o;
        package_row(st, 0, &p);
        delivery_row(st, PKG_NCOLS, &d);
        struct store_sent_row row = {.pkg = &p, .dlv = &d};
        if (sqlite3_column_type(st, PKG_NCOLS + DLV_NCOLS) != SQLITE_NULL) {
            outbox_row(st, PKG_NCOLS + DLV_NCOLS, &o);
            row.out = &o;
        }
        if (cb(ctx, &row) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "sent_list");
    st_put(r.c, id, st);
    rd_close(&r);
    return ret;
}

/* ---- transaction log ------------------------------------------------------------------------ */

/* Reads the head from meta on c; *ret_found 0 when the log is empty. */
static int head_read(struct conn *c, int64_t *ret_seq, char ret_hash[65], int *ret_found)
{
    sqlite3_stmt *st = st_get(c, S_META_GET);
    if (!st)
        return SQLITE_ERROR;
    bind_text(st, 1, meta_txlog_head);
    int rc = sqlite3_step(st);
    *ret_found = 0;
    if (rc == SQLITE_ROW) {
        const char *v = col_text(st, 0);
        long long seq = 0;
        char hash[65];
        if (v && sscanf(v, "%lld %64s", &seq, hash) == 2 && strlen(hash) == 64) {
            *ret_seq = seq;
            memcpy(ret_hash, hash, 65);
            *ret_found = 1;
            rc = SQLITE_OK;
        } else {
            rc = SQLITE_CORRUPT;
        }
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    st_put(c, S_META_GET, st);
    return rc;
}

/* Loads the head into q->head on the transaction's first append. */
static int txhead_load(struct sq *q)
{
    struct txhead *h = &q->head;
    if (h->state != TXHEAD_UNKNOWN)
        return SQLITE_OK;
    int found = 0;
    int rc = head_read(&q->w, &h->seq, h->hash, &found);
    if (rc != SQLITE_OK)
        return rc;
    if (!found) {
        h->seq = 0;
        memcpy(h->hash, AUDIT_GENESIS, 65);
    }
    h->present = found;
    h->state = TXHEAD_CLEAN;
    return SQLITE_OK;
}

/* Writes the head back to meta when the transaction appended (write_commit, before COMMIT). */
static int txhead_flush(struct sq *q)
{
    struct txhead *h = &q->head;
    if (h->state != TXHEAD_DIRTY)
        return SQLITE_OK;
    char value[96];
    snprintf(value, sizeof value, "%" PRId64 " %s", h->seq, h->hash);
    int rc = run_text2(&q->w, S_META_PUT, meta_txlog_head, value, NULL);
    if (rc == SQLITE_OK)
        h->state = TXHEAD_CLEAN;
    return rc;
}

/* Per record: the hash and one INSERT. The head is read once per transaction and written once at
 * commit (see struct txhead). */
static enum store_rc sq_txlog_append(void *cls, struct store_txrec *rec)
{
    struct sq *q = cls;
    struct conn *c = writer(q, "txlog_append");
    if (!c)
        return STORE_HARD_ERROR;
    int rc = txhead_load(q);
    if (rc != SQLITE_OK)
        return fail(c, rc, "txlog_append head");
    if (!rec->actor)
        rec->actor = "";
    if (!rec->operation)
        rec->operation = "";
    if (!rec->package_id)
        rec->package_id = "";
    if (!rec->content_sha256)
        rec->content_sha256 = "";
    if (!rec->outcome)
        rec->outcome = "";
    if (!rec->time_ms)
        rec->time_ms = now_ms();
    rec->seq = q->head.seq + 1;
    memcpy(rec->prev_hash, q->head.hash, 65);
    audit_chain_hash(rec->prev_hash, rec, rec->hash);

    sqlite3_stmt *st = st_get(c, S_TXLOG_INSERT);
    if (!st)
        return STORE_HARD_ERROR;
    sqlite3_bind_int64(st, 1, rec->seq);
    sqlite3_bind_int64(st, 2, rec->time_ms);
    bind_text(st, 3, rec->actor);
    bind_text(st, 4, rec->operation);
    bind_text(st, 5, rec->package_id);
    bind_text(st, 6, rec->content_sha256);
    bind_text(st, 7, rec->outcome);
    bind_text(st, 8, rec->prev_hash);
    bind_text(st, 9, rec->hash);
    rc = sqlite3_step(st);
    st_put(c, S_TXLOG_INSERT, st);
    if (rc != SQLITE_DONE) /* nothing inserted: the head stays where it was */
        return fail(c, rc, "txlog_append");
    q->head.seq = rec->seq;
    memcpy(q->head.hash, rec->hash, 65);
    q->head.present = 1;
    q->head.state = TXHEAD_DIRTY;
    return STORE_ONE_RESULT;
}

static enum store_rc sq_txlog_scan(void *cls, store_txrec_cb cb, void *ctx)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_TXLOG_SCAN);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_txrec t = {0};
        t.seq = sqlite3_column_int64(st, 0);
        t.time_ms = sqlite3_column_int64(st, 1);
        t.actor = col_text(st, 2);
        t.operation = col_text(st, 3);
        t.package_id = col_text(st, 4);
        t.content_sha256 = col_text(st, 5);
        t.outcome = col_text(st, 6);
        /* Stored text longer than a hash is truncated: it then fails verification. */
        const char *ph = col_text(st, 7), *h = col_text(st, 8);
        snprintf(t.prev_hash, sizeof t.prev_hash, "%s", ph ? ph : "");
        snprintf(t.hash, sizeof t.hash, "%s", h ? h : "");
        if (cb(ctx, &t) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "txlog_scan");
    st_put(r.c, S_TXLOG_SCAN, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_txlog_head(void *cls, int64_t *ret_seq, char *ret_hash)
{
    struct sq *q = cls;
    if (tl_writer == q && q->head.state != TXHEAD_UNKNOWN) {
        /* Inside our write transaction meta may lag behind our own appends. */
        if (!q->head.present)
            return STORE_NO_RESULTS;
        *ret_seq = q->head.seq;
        memcpy(ret_hash, q->head.hash, 65);
        return STORE_ONE_RESULT;
    }
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    int found = 0;
    int rc = head_read(r.c, ret_seq, ret_hash, &found);
    ret = rc != SQLITE_OK ? fail(r.c, rc, "txlog_head")
          : found         ? STORE_ONE_RESULT
                          : STORE_NO_RESULTS;
    rd_close(&r);
    return ret;
}

/* ---- statistics ----------------------------------------------------------------------------- */

static enum store_rc sq_stats(void *cls, int64_t from_ms, int64_t to_ms, store_stats_cb cb,
                              void *ctx)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_STATS);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    sqlite3_bind_int64(st, 1, from_ms);
    sqlite3_bind_int64(st, 2, to_ms);
    struct store_stats_row total = {.organ_id = ""};
    int rc, stopped = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_stats_row row = {0};
        row.organ_id = col_text(st, 0);
        row.agency_name = col_text(st, 1);
        row.edoc_sent = sqlite3_column_int64(st, 2);
        row.status_sent = sqlite3_column_int64(st, 3);
        row.signed_sent = sqlite3_column_int64(st, 4);
        row.edoc_received = sqlite3_column_int64(st, 5);
        row.status_received = sqlite3_column_int64(st, 6);
        for (int i = 0; i < 4; i++)
            row.state[i] = sqlite3_column_int64(st, 7 + i);
        if (!row.organ_id)
            row.organ_id = "";
        total.edoc_sent += row.edoc_sent;
        total.status_sent += row.status_sent;
        total.signed_sent += row.signed_sent;
        total.edoc_received += row.edoc_received;
        total.status_received += row.status_received;
        for (int i = 0; i < 4; i++)
            total.state[i] += row.state[i];
        if (cb(ctx, &row) != 0) {
            stopped = 1;
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "stats");
    st_put(r.c, S_STATS, st);
    rd_close(&r);
    if (ret == STORE_ONE_RESULT && !stopped)
        cb(ctx, &total);
    return ret;
}

/* ---- data-sharing gateway ------------------------------------------------------------------- */

/* Runs a write statement already bound; ret_changes gets the rows changed. */
static int step_changes(struct conn *c, sqlite3_stmt *st, int *ret_changes)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return rc;
    *ret_changes = sqlite3_changes(c->db);
    return SQLITE_OK;
}

/* The result of a write that changes what the gateway caches: ONE_RESULT (and the transaction
 * marked, so that write_commit bumps the generation) when rows changed, NO_RESULTS when none. */
static enum store_rc config_write(struct sq *q, int rc, int changes, const char *what)
{
    if (rc != SQLITE_OK)
        return fail(&q->w, rc, what);
    if (!changes)
        return STORE_NO_RESULTS;
    q->config_dirty = 1;
    return STORE_ONE_RESULT;
}

static void service_row(sqlite3_stmt *st, struct store_service *s)
{
    s->code = (char *)col_text(st, 0);
    s->version = (char *)col_text(st, 1);
    s->provider_system = (char *)col_text(st, 2);
    s->name = (char *)col_text(st, 3);
    s->description = (char *)col_text(st, 4);
    s->url = (char *)col_text(st, 5);
    s->protocol = (enum store_protocol)sqlite3_column_int(st, 6);
    s->timeout_ms = sqlite3_column_int64(st, 7);
    s->max_request_bytes = sqlite3_column_int64(st, 8);
    s->max_response_bytes = sqlite3_column_int64(st, 9);
    s->rate_per_s = sqlite3_column_int64(st, 10);
    s->burst = sqlite3_column_int64(st, 11);
    s->created_ms = sqlite3_column_int64(st, 12);
    s->updated_ms = sqlite3_column_int64(st, 13);
}

static enum store_rc sq_service_put(void *cls, const struct store_service *s)
{
    struct conn *c = writer(cls, "service_put");
    if (!c)
        return STORE_HARD_ERROR;
    if (!s->code || !s->version || !s->provider_system || !s->url) {
        log_error("store: service_put: incomplete service");
        return STORE_HARD_ERROR;
    }
    sqlite3_stmt *st = st_get(c, S_SERVICE_PUT);
    if (!st)
        return STORE_HARD_ERROR;
    int64_t now = now_ms();
    bind_text(st, 1, s->code);
    bind_text(st, 2, s->version);
    bind_text(st, 3, s->provider_system);
    bind_text0(st, 4, s->name);
    bind_text0(st, 5, s->description);
    bind_text(st, 6, s->url);
    sqlite3_bind_int(st, 7, (int)s->protocol);
    sqlite3_bind_int64(st, 8, s->timeout_ms);
    sqlite3_bind_int64(st, 9, s->max_request_bytes);
    sqlite3_bind_int64(st, 10, s->max_response_bytes);
    sqlite3_bind_int64(st, 11, s->rate_per_s);
    sqlite3_bind_int64(st, 12, s->burst);
    sqlite3_bind_int64(st, 13, s->created_ms ? s->created_ms : now);
    sqlite3_bind_int64(st, 14, s->updated_ms ? s->updated_ms : now);
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, S_SERVICE_PUT, st);
    return config_write(cls, rc, changes, "service_put");
}

static enum store_rc sq_service_get(void *cls, const char *code, const char *version,
                                    struct store_service *ret_s)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_SERVICE_GET);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, code);
    bind_text(st, 2, version);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct store_service s, out;
        int oom = 0;
        service_row(st, &s);
        out = s;
        out.code = dup_or_null(s.code, &oom);
        out.version = dup_or_null(s.version, &oom);
        out.provider_system = dup_or_null(s.provider_system, &oom);
        out.name = dup_or_null(s.name, &oom);
        out.description = dup_or_null(s.description, &oom);
        out.url = dup_or_null(s.url, &oom);
        if (oom) {
            store_service_clear(&out);
            ret = STORE_HARD_ERROR;
        } else {
            *ret_s = out;
            ret = STORE_ONE_RESULT;
        }
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "service_get");
    }
    st_put(r.c, S_SERVICE_GET, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_service_list(void *cls, const char *provider, store_service_cb cb,
                                     void *ctx)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_SERVICE_LIST);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, provider);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_service s;
        service_row(st, &s);
        if (cb(ctx, &s) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "service_list");
    st_put(r.c, S_SERVICE_LIST, st);
    rd_close(&r);
    return ret;
}

/* The grants first (they refer to the service), then the service. */
static enum store_rc sq_service_remove(void *cls, const char *code, const char *version)
{
    struct conn *c = writer(cls, "service_remove");
    if (!c)
        return STORE_HARD_ERROR;
    int changes = 0;
    int rc = run_text2(c, S_GRANT_DELETE_SERVICE, code, version, NULL);
    if (rc == SQLITE_OK)
        rc = run_text2(c, S_SERVICE_DELETE, code, version, &changes);
    return config_write(cls, rc, changes, "service_remove");
}

static void grant_row(sqlite3_stmt *st, struct store_grant *g)
{
    g->consumer_system = (char *)col_text(st, 0);
    g->service_code = (char *)col_text(st, 1);
    g->service_version = (char *)col_text(st, 2);
    g->methods = (char *)col_text(st, 3);
    g->path_prefix = (char *)col_text(st, 4);
    g->rate_per_s = sqlite3_column_int64(st, 5);
    g->burst = sqlite3_column_int64(st, 6);
    g->created_ms = sqlite3_column_int64(st, 7);
    g->updated_ms = sqlite3_column_int64(st, 8);
}

static enum store_rc sq_grant_put(void *cls, const struct store_grant *g)
{
    struct conn *c = writer(cls, "grant_put");
    if (!c)
        return STORE_HARD_ERROR;
    if (!g->consumer_system || !g->service_code || !g->service_version) {
        log_error("store: grant_put: incomplete grant");
        return STORE_HARD_ERROR;
    }
    sqlite3_stmt *st = st_get(c, S_GRANT_PUT);
    if (!st)
        return STORE_HARD_ERROR;
    int64_t now = now_ms();
    bind_text(st, 1, g->consumer_system);
    bind_text(st, 2, g->service_code);
    bind_text(st, 3, g->service_version);
    bind_text0(st, 4, g->methods);
    bind_text0(st, 5, g->path_prefix);
    sqlite3_bind_int64(st, 6, g->rate_per_s);
    sqlite3_bind_int64(st, 7, g->burst);
    sqlite3_bind_int64(st, 8, g->created_ms ? g->created_ms : now);
    sqlite3_bind_int64(st, 9, g->updated_ms ? g->updated_ms : now);
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, S_GRANT_PUT, st);
    return config_write(cls, rc, changes, "grant_put");
}

static enum store_rc sq_grant_remove(void *cls, const char *consumer, const char *code,
                                     const char *version)
{
    struct conn *c = writer(cls, "grant_remove");
    if (!c)
        return STORE_HARD_ERROR;
    sqlite3_stmt *st = st_get(c, S_GRANT_DELETE);
    if (!st)
        return STORE_HARD_ERROR;
    bind_text(st, 1, consumer);
    bind_text(st, 2, code);
    bind_text(st, 3, version);
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, S_GRANT_DELETE, st);
    return config_write(cls, rc, changes, "grant_remove");
}

static enum store_rc sq_grant_list(void *cls, const char *consumer, const char *code,
                                   const char *version, store_grant_cb cb, void *ctx)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_GRANT_LIST);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, consumer);
    bind_text(st, 2, code);
    bind_text(st, 3, version);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_grant g;
        grant_row(st, &g);
        if (cb(ctx, &g) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "grant_list");
    st_put(r.c, S_GRANT_LIST, st);
    rd_close(&r);
    return ret;
}

/* Not a configuration change: a new token is unknown to every cache until it is presented,
 * and the gateway that issued it adds it to its own. */
static enum store_rc sq_token_insert(void *cls, const struct store_token *t)
{
    struct conn *c = writer(cls, "token_insert");
    if (!c)
        return STORE_HARD_ERROR;
    if (!is_lower_hex64(t->sha256) || !t->system_id) {
        log_error("store: token_insert: incomplete token");
        return STORE_HARD_ERROR;
    }
    sqlite3_stmt *st = st_get(c, S_TOKEN_INSERT);
    if (!st)
        return STORE_HARD_ERROR;
    bind_text(st, 1, t->sha256);
    bind_text(st, 2, t->system_id);
    sqlite3_bind_int64(st, 3, t->issued_ms ? t->issued_ms : now_ms());
    sqlite3_bind_int64(st, 4, t->expires_ms);
    sqlite3_bind_int64(st, 5, t->revoked_ms);
    int rc = sqlite3_step(st);
    enum store_rc ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(c, rc, "token_insert");
    st_put(c, S_TOKEN_INSERT, st);
    return ret;
}

static enum store_rc token_revoke_by(struct sq *q, enum stmt_id id, const char *key,
                                     int64_t when_ms, const char *what)
{
    struct conn *c = writer(q, what);
    if (!c)
        return STORE_HARD_ERROR;
    sqlite3_stmt *st = st_get(c, id);
    if (!st)
        return STORE_HARD_ERROR;
    bind_text(st, 1, key);
    sqlite3_bind_int64(st, 2, when_ms > 0 ? when_ms : now_ms()); /* never 0: that is "not" */
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, id, st);
    return config_write(q, rc, changes, what);
}

static enum store_rc sq_token_revoke(void *cls, const char *sha256, int64_t when_ms)
{
    return token_revoke_by(cls, S_TOKEN_REVOKE, sha256, when_ms, "token_revoke");
}

static enum store_rc sq_token_revoke_system(void *cls, const char *system_id, int64_t when_ms)
{
    return token_revoke_by(cls, S_TOKEN_REVOKE_SYSTEM, system_id, when_ms, "token_revoke_system");
}

static enum store_rc sq_signature_pending(void *cls, unsigned limit, char (*ids)[STORE_ID_MAX + 1],
                                          unsigned *ret_n)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_SIGNATURE_PENDING);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    sqlite3_bind_int64(st, 1, limit);
    unsigned n = 0;
    int rc = SQLITE_DONE;
    while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW)
        snprintf(ids[n++], STORE_ID_MAX + 1, "%s", col_text(st, 0));
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = fail(r.c, rc, "signature_pending");
    else
        ret = n ? STORE_ONE_RESULT : STORE_NO_RESULTS;
    *ret_n = n;
    st_put(r.c, S_SIGNATURE_PENDING, st);
    rd_close(&r);
    return ret;
}

static enum store_rc write_result(struct conn *c, int rc, int changes, const char *what);

static enum store_rc sq_package_set_signature(void *cls, const char *id, int state)
{
    struct conn *c = writer(cls, "package_set_signature");
    if (!c)
        return STORE_HARD_ERROR;
    sqlite3_stmt *st = st_get(c, S_SIGNATURE_SET);
    if (!st)
        return STORE_HARD_ERROR;
    bind_text(st, 1, id);
    sqlite3_bind_int(st, 2, state);
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, S_SIGNATURE_SET, st);
    return write_result(c, rc, changes, "package_set_signature");
}

static enum store_rc sq_probe_write(void *cls, int64_t now)
{
    struct conn *c = writer(cls, "probe_write");
    if (!c)
        return STORE_HARD_ERROR;
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)now);
    int rc = run_text2(c, S_META_PUT, "health.probe", v, NULL);
    return rc == SQLITE_OK ? STORE_ONE_RESULT : fail(c, rc, "probe_write");
}

static enum store_rc sq_anchor_append(void *cls, const struct store_anchor *a)
{
    struct conn *c = writer(cls, "anchor_append");
    if (!c)
        return STORE_HARD_ERROR;
    sqlite3_stmt *st = st_get(c, S_ANCHOR_INSERT);
    if (!st)
        return STORE_HARD_ERROR;
    sqlite3_bind_int64(st, 1, a->seq);
    bind_text(st, 2, a->hash);
    sqlite3_bind_int64(st, 3, a->time_ms);
    bind_text(st, 4, a->key_id);
    bind_text(st, 5, a->prev_signature);
    bind_text(st, 6, a->signature);
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, S_ANCHOR_INSERT, st);
    return rc == SQLITE_OK ? STORE_ONE_RESULT : fail(c, rc, "anchor_append");
}

static void anchor_row(sqlite3_stmt *st, struct store_anchor *a)
{
    memset(a, 0, sizeof *a);
    a->seq = sqlite3_column_int64(st, 0);
    snprintf(a->hash, sizeof a->hash, "%s", col_text(st, 1));
    a->time_ms = sqlite3_column_int64(st, 2);
    snprintf(a->key_id, sizeof a->key_id, "%s", col_text(st, 3));
    snprintf(a->prev_signature, sizeof a->prev_signature, "%s", col_text(st, 4));
    snprintf(a->signature, sizeof a->signature, "%s", col_text(st, 5));
}

static enum store_rc anchors_read(struct sq *q, enum stmt_id id, store_anchor_cb cb, void *ctx,
                                  struct store_anchor *ret_one)
{
    struct rd r;
    enum store_rc ret = rd_open(q, &r, 1);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, id);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    int rc;
    ret = STORE_NO_RESULTS;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_anchor a;
        anchor_row(st, &a);
        ret = STORE_ONE_RESULT;
        if (ret_one) {
            *ret_one = a;
            rc = SQLITE_DONE;
            break;
        }
        if (cb(ctx, &a)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        ret = fail(r.c, rc, "anchors");
    st_put(r.c, id, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_anchor_last(void *cls, struct store_anchor *ret)
{
    return anchors_read(cls, S_ANCHOR_LAST, NULL, NULL, ret);
}

static enum store_rc sq_anchor_scan(void *cls, store_anchor_cb cb, void *ctx)
{
    enum store_rc rc = anchors_read(cls, S_ANCHOR_SCAN, cb, ctx, NULL);
    return rc == STORE_NO_RESULTS ? STORE_ONE_RESULT : rc;
}

static enum store_rc sq_token_live_count(void *cls, const char *system_id, int64_t at_ms,
                                         int64_t *ret_count, int64_t *ret_oldest_expiry)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_TOKEN_LIVE_COUNT);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, system_id);
    sqlite3_bind_int64(st, 2, at_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_count = sqlite3_column_int64(st, 0);
        *ret_oldest_expiry = sqlite3_column_int64(st, 1);
        ret = STORE_ONE_RESULT;
    } else {
        ret = fail(r.c, rc, "token_live_count");
    }
    st_put(r.c, S_TOKEN_LIVE_COUNT, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_token_purge(void *cls, int64_t at_ms, unsigned limit, int64_t *ret_purged)
{
    struct conn *c = writer(cls, "token_purge");
    if (!c)
        return STORE_HARD_ERROR;
    sqlite3_stmt *st = st_get(c, S_TOKEN_PURGE);
    if (!st)
        return STORE_HARD_ERROR;
    sqlite3_bind_int64(st, 1, at_ms);
    sqlite3_bind_int64(st, 2, limit);
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, S_TOKEN_PURGE, st);
    *ret_purged = changes;
    return rc == SQLITE_OK ? (changes ? STORE_ONE_RESULT : STORE_NO_RESULTS)
                           : fail(c, rc, "token_purge");
}

static enum store_rc sq_token_list_active(void *cls, int64_t at_ms, store_token_cb cb, void *ctx)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_TOKEN_LIST_ACTIVE);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    sqlite3_bind_int64(st, 1, at_ms);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_token t = {
            .sha256 = (char *)col_text(st, 0),
            .system_id = (char *)col_text(st, 1),
            .issued_ms = sqlite3_column_int64(st, 2),
            .expires_ms = sqlite3_column_int64(st, 3),
            .revoked_ms = sqlite3_column_int64(st, 4),
        };
        if (cb(ctx, &t) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "token_list_active");
    st_put(r.c, S_TOKEN_LIST_ACTIVE, st);
    rd_close(&r);
    return ret;
}

/* On the hot path (every gateway call, inside the committer's batches): the cached statement
 * of the write connection, texts bound without copies. */
static enum store_rc sq_call_insert(void *cls, const struct store_call *k)
{
    struct conn *c = writer(cls, "call_insert");
    if (!c)
        return STORE_HARD_ERROR;
    sqlite3_stmt *st = st_get(c, S_CALL_INSERT);
    if (!st)
        return STORE_HARD_ERROR;
    sqlite3_bind_int64(st, 1, k->time_ms ? k->time_ms : now_ms());
    bind_text0(st, 2, k->request_id);
    bind_text0(st, 3, k->consumer);
    bind_text0(st, 4, k->provider);
    bind_text0(st, 5, k->service_code);
    bind_text0(st, 6, k->service_version);
    bind_text0(st, 7, k->method);
    bind_text0(st, 8, k->path);
    sqlite3_bind_int(st, 9, k->status);
    bind_text0(st, 10, k->error);
    sqlite3_bind_int64(st, 11, k->duration_us);
    sqlite3_bind_int64(st, 12, k->upstream_us);
    sqlite3_bind_int64(st, 13, k->bytes_in);
    sqlite3_bind_int64(st, 14, k->bytes_out);
    bind_text0(st, 15, k->request_sha256);
    bind_text0(st, 16, k->response_sha256);
    int rc = sqlite3_step(st);
    enum store_rc ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(c, rc, "call_insert");
    st_put(c, S_CALL_INSERT, st);
    return ret;
}

/* Page by page (CALL_SCAN_PAGE rows a query, each its own short read), so that a long scan
 * neither holds memory nor one read snapshot: under a writer logging thousands of calls a
 * second, a snapshot held for the whole scan would stop WAL checkpoints and let the WAL grow.
 * Calls committed during the scan after its position are included. */
static enum store_rc sq_call_scan(void *cls, int64_t from_ms, int64_t to_ms, store_call_cb cb,
                                  void *ctx)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_CALL_SCAN);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    int64_t key_time = from_ms ? from_ms : INT64_MIN, key_rowid = INT64_MIN;
    int rc = SQLITE_DONE, stop = 0;
    for (int more = 1; more && !stop;) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, key_time);
        sqlite3_bind_int64(st, 2, key_rowid);
        sqlite3_bind_int64(st, 3, to_ms ? to_ms : INT64_MAX);
        sqlite3_bind_int(st, 4, CALL_SCAN_PAGE);
        int n = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            n++;
            key_rowid = sqlite3_column_int64(st, 0);
            key_time = sqlite3_column_int64(st, 1);
            struct store_call k = {
                .time_ms = key_time,
                .request_id = col_text(st, 2),
                .consumer = col_text(st, 3),
                .provider = col_text(st, 4),
                .service_code = col_text(st, 5),
                .service_version = col_text(st, 6),
                .method = col_text(st, 7),
                .path = col_text(st, 8),
                .status = sqlite3_column_int(st, 9),
                .error = col_text(st, 10),
                .duration_us = sqlite3_column_int64(st, 11),
                .upstream_us = sqlite3_column_int64(st, 12),
                .bytes_in = sqlite3_column_int64(st, 13),
                .bytes_out = sqlite3_column_int64(st, 14),
                .request_sha256 = col_text(st, 15),
                .response_sha256 = col_text(st, 16),
            };
            if (cb(ctx, &k) != 0) {
                stop = 1;
                rc = SQLITE_DONE;
                break;
            }
        }
        if (rc != SQLITE_DONE)
            break;
        more = n == CALL_SCAN_PAGE;
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "call_scan");
    st_put(r.c, S_CALL_SCAN, st);
    rd_close(&r);
    return ret;
}

/* ---- relay between platforms ---------------------------------------------------------------- */

static enum store_rc sq_platform_put(void *cls, const struct store_platform *p)
{
    struct conn *c = writer(cls, "platform_put");
    if (!c)
        return STORE_HARD_ERROR;
    if (!p->organ_id || !p->name) {
        log_error("store: platform_put: incomplete identity");
        return STORE_HARD_ERROR;
    }
    sqlite3_stmt *st = st_get(c, S_PLATFORM_PUT);
    if (!st)
        return STORE_HARD_ERROR;
    int64_t now = now_ms();
    bind_text(st, 1, p->organ_id);
    bind_text(st, 2, p->name);
    sqlite3_bind_int64(st, 3, p->created_ms ? p->created_ms : now);
    sqlite3_bind_int64(st, 4, p->updated_ms ? p->updated_ms : now);
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, S_PLATFORM_PUT, st);
    return config_write(cls, rc, changes, "platform_put");
}

static enum store_rc sq_platform_get(void *cls, struct store_platform *ret_p)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_PLATFORM_GET);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct store_platform out = {0};
        int oom = 0;
        out.organ_id = dup_or_null(col_text(st, 0), &oom);
        out.name = dup_or_null(col_text(st, 1), &oom);
        out.created_ms = sqlite3_column_int64(st, 2);
        out.updated_ms = sqlite3_column_int64(st, 3);
        if (oom) {
            store_platform_clear(&out);
            ret = STORE_HARD_ERROR;
        } else {
            *ret_p = out;
            ret = STORE_ONE_RESULT;
        }
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "platform_get");
    }
    st_put(r.c, S_PLATFORM_GET, st);
    rd_close(&r);
    return ret;
}

static void peer_row(sqlite3_stmt *st, struct store_peer *p)
{
    p->name = (char *)col_text(st, 0);
    p->endpoint = (char *)col_text(st, 1);
    p->system_id = (char *)col_text(st, 2);
    p->secret = (char *)col_text(st, 3);
    p->pull_interval_ms = sqlite3_column_int64(st, 4);
    p->created_ms = sqlite3_column_int64(st, 5);
    p->updated_ms = sqlite3_column_int64(st, 6);
    p->inbound_system = (char *)col_text(st, 7);
}

static enum store_rc sq_peer_put(void *cls, const struct store_peer *p)
{
    struct conn *c = writer(cls, "peer_put");
    if (!c)
        return STORE_HARD_ERROR;
    if (!p->name || !p->endpoint || !p->system_id || !p->secret) {
        log_error("store: peer_put: incomplete peer");
        return STORE_HARD_ERROR;
    }
    sqlite3_stmt *st = st_get(c, S_PEER_PUT);
    if (!st)
        return STORE_HARD_ERROR;
    int64_t now = now_ms();
    bind_text(st, 1, p->name);
    bind_text(st, 2, p->endpoint);
    bind_text(st, 3, p->system_id);
    bind_text(st, 4, p->secret);
    sqlite3_bind_int64(st, 5, p->pull_interval_ms);
    sqlite3_bind_int64(st, 6, p->created_ms ? p->created_ms : now);
    sqlite3_bind_int64(st, 7, p->updated_ms ? p->updated_ms : now);
    bind_text0(st, 8, p->inbound_system);
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, S_PEER_PUT, st);
    return config_write(cls, rc, changes, "peer_put");
}

static enum store_rc sq_peer_get(void *cls, const char *name, struct store_peer *ret_p)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_PEER_GET);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct store_peer p, out;
        int oom = 0;
        peer_row(st, &p);
        out = p;
        out.name = dup_or_null(p.name, &oom);
        out.endpoint = dup_or_null(p.endpoint, &oom);
        out.system_id = dup_or_null(p.system_id, &oom);
        out.secret = dup_or_null(p.secret, &oom);
        out.inbound_system = dup_or_null(p.inbound_system, &oom);
        if (oom) {
            store_peer_clear(&out);
            ret = STORE_HARD_ERROR;
        } else {
            *ret_p = out;
            ret = STORE_ONE_RESULT;
        }
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "peer_get");
    }
    st_put(r.c, S_PEER_GET, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_peer_list(void *cls, store_peer_cb cb, void *ctx)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_PEER_LIST);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_peer p;
        peer_row(st, &p);
        if (cb(ctx, &p) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "peer_list");
    st_put(r.c, S_PEER_LIST, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_peer_remove(void *cls, const char *name)
{
    struct conn *c = writer(cls, "peer_remove");
    if (!c)
        return STORE_HARD_ERROR;
    int64_t refs = 0;
    int found = 0, changes = 0;
    int rc = query_int(c, S_PEER_REFS, name, &refs, &found);
    if (rc != SQLITE_OK)
        return fail(c, rc, "peer_remove");
    if (refs > 0) {
        log_warn("store: peer %s is still the target of %" PRId64 " routes", name, refs);
        return STORE_HARD_ERROR;
    }
    /* Its health goes with it (its outbox and inbound rows stay: they are history). */
    rc = run_text2(c, S_PEER_DELETE, name, NULL, &changes);
    if (rc == SQLITE_OK && changes)
        rc = run_text2(c, S_PEER_STATE_DELETE, name, NULL, NULL);
    return config_write(cls, rc, changes, "peer_remove");
}

static void relay_route_row(sqlite3_stmt *st, struct store_relay_route *r)
{
    r->pattern = (char *)col_text(st, 0);
    r->peer = (char *)col_text(st, 1);
    r->created_ms = sqlite3_column_int64(st, 2);
}

static enum store_rc sq_relay_route_put(void *cls, const struct store_relay_route *rt)
{
    struct conn *c = writer(cls, "relay_route_put");
    if (!c)
        return STORE_HARD_ERROR;
    if (!rt->pattern || !rt->peer) {
        log_error("store: relay_route_put: incomplete route");
        return STORE_HARD_ERROR;
    }
    sqlite3_stmt *st = st_get(c, S_ROUTE_PUT);
    if (!st)
        return STORE_HARD_ERROR;
    bind_text(st, 1, rt->pattern);
    bind_text(st, 2, rt->peer);
    sqlite3_bind_int64(st, 3, rt->created_ms ? rt->created_ms : now_ms());
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, S_ROUTE_PUT, st);
    return config_write(cls, rc, changes, "relay_route_put");
}

static enum store_rc sq_relay_route_get(void *cls, const char *pattern,
                                        struct store_relay_route *ret_r)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_ROUTE_GET);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, pattern);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct store_relay_route v, out;
        int oom = 0;
        relay_route_row(st, &v);
        out = v;
        out.pattern = dup_or_null(v.pattern, &oom);
        out.peer = dup_or_null(v.peer, &oom);
        if (oom) {
            store_relay_route_clear(&out);
            ret = STORE_HARD_ERROR;
        } else {
            *ret_r = out;
            ret = STORE_ONE_RESULT;
        }
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "relay_route_get");
    }
    st_put(r.c, S_ROUTE_GET, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_relay_route_list(void *cls, const char *peer, store_relay_route_cb cb,
                                         void *ctx)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_ROUTE_LIST);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, peer);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_relay_route v;
        relay_route_row(st, &v);
        if (cb(ctx, &v) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "relay_route_list");
    st_put(r.c, S_ROUTE_LIST, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_relay_route_remove(void *cls, const char *pattern)
{
    struct conn *c = writer(cls, "relay_route_remove");
    if (!c)
        return STORE_HARD_ERROR;
    int changes = 0;
    int rc = run_text2(c, S_ROUTE_DELETE, pattern, NULL, &changes);
    return config_write(cls, rc, changes, "relay_route_remove");
}

/* ---- relay traffic -------------------------------------------------------------------------- */

/* The result of a write that changes no configuration: ONE_RESULT when rows changed. */
static enum store_rc write_result(struct conn *c, int rc, int changes, const char *what)
{
    if (rc != SQLITE_OK)
        return fail(c, rc, what);
    return changes ? STORE_ONE_RESULT : STORE_NO_RESULTS;
}

static enum store_rc sq_outbox_insert(void *cls, const struct store_outbox *o)
{
    struct conn *c = writer(cls, "outbox_insert");
    if (!c)
        return STORE_HARD_ERROR;
    if (!o->id || !o->package_id || !o->peer || !o->recipients) {
        log_error("store: outbox_insert: incomplete outbox row");
        return STORE_HARD_ERROR;
    }
    sqlite3_stmt *st = st_get(c, S_OUTBOX_INSERT);
    if (!st)
        return STORE_HARD_ERROR;
    int64_t now = now_ms();
    bind_text(st, 1, o->id);
    bind_text(st, 2, o->package_id);
    bind_text(st, 3, o->peer);
    sqlite3_bind_int(st, 4, (int)o->messagetype);
    bind_text(st, 5, o->recipients);
    sqlite3_bind_int64(st, 6, o->insert_offset);
    bind_text0(st, 7, o->insert_text);
    sqlite3_bind_int(st, 8, (int)o->state);
    sqlite3_bind_int(st, 9, o->attempts);
    sqlite3_bind_int64(st, 10, o->next_ms);
    bind_text0(st, 11, o->last_error);
    bind_text0(st, 12, o->remote_doc_id);
    sqlite3_bind_int64(st, 13, o->track_next_ms);
    sqlite3_bind_int(st, 14, o->track_count);
    sqlite3_bind_int64(st, 15, o->created_ms ? o->created_ms : now);
    sqlite3_bind_int64(st, 16, o->updated_ms ? o->updated_ms : now);
    int rc = sqlite3_step(st);
    enum store_rc ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(c, rc, "outbox_insert");
    st_put(c, S_OUTBOX_INSERT, st);
    return ret;
}

static int copy_outbox(const struct store_outbox *o, struct store_outbox *out)
{
    int oom = 0;
    *out = *o;
    out->id = dup_or_null(o->id, &oom);
    out->package_id = dup_or_null(o->package_id, &oom);
    out->peer = dup_or_null(o->peer, &oom);
    out->recipients = dup_or_null(o->recipients, &oom);
    out->insert_text = dup_or_null(o->insert_text, &oom);
    out->last_error = dup_or_null(o->last_error, &oom);
    out->remote_doc_id = dup_or_null(o->remote_doc_id, &oom);
    if (oom) {
        store_outbox_clear(out);
        return -1;
    }
    return 0;
}

static enum store_rc sq_outbox_get(void *cls, const char *id, struct store_outbox *ret_o)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_OUTBOX_GET);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct store_outbox o;
        outbox_row(st, 0, &o);
        ret = copy_outbox(&o, ret_o) == 0 ? STORE_ONE_RESULT : STORE_HARD_ERROR;
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "outbox_get");
    }
    st_put(r.c, S_OUTBOX_GET, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_outbox_update(void *cls, const struct store_outbox *o)
{
    struct conn *c = writer(cls, "outbox_update");
    if (!c)
        return STORE_HARD_ERROR;
    if (!o->id) {
        log_error("store: outbox_update: no id");
        return STORE_HARD_ERROR;
    }
    sqlite3_stmt *st = st_get(c, S_OUTBOX_UPDATE);
    if (!st)
        return STORE_HARD_ERROR;
    bind_text(st, 1, o->id);
    sqlite3_bind_int(st, 2, (int)o->state);
    sqlite3_bind_int(st, 3, o->attempts);
    sqlite3_bind_int64(st, 4, o->next_ms);
    bind_text0(st, 5, o->last_error);
    bind_text0(st, 6, o->remote_doc_id);
    sqlite3_bind_int64(st, 7, o->track_next_ms);
    sqlite3_bind_int(st, 8, o->track_count);
    sqlite3_bind_int64(st, 9, o->updated_ms ? o->updated_ms : now_ms());
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, S_OUTBOX_UPDATE, st);
    return write_result(c, rc, changes, "outbox_update");
}

/* outbox_due and outbox_track_due: the rows of a peer that a statement selects by time. */
static enum store_rc outbox_scan(struct sq *q, enum stmt_id id, const char *peer, int64_t at_ms,
                                 unsigned limit, store_outbox_cb cb, void *ctx, const char *what)
{
    struct rd r;
    enum store_rc ret = rd_open(q, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, id);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, peer);
    sqlite3_bind_int64(st, 2, at_ms);
    sqlite3_bind_int64(st, 3, limit ? limit : OUTBOX_DEFAULT_LIMIT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_outbox o;
        outbox_row(st, 0, &o);
        if (cb(ctx, &o) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, what);
    st_put(r.c, id, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_outbox_due(void *cls, const char *peer, int64_t at_ms, unsigned limit,
                                   store_outbox_cb cb, void *ctx)
{
    return outbox_scan(cls, S_OUTBOX_DUE, peer, at_ms, limit, cb, ctx, "outbox_due");
}

static enum store_rc sq_outbox_track_due(void *cls, const char *peer, int64_t at_ms, unsigned limit,
                                         store_outbox_cb cb, void *ctx)
{
    return outbox_scan(cls, S_OUTBOX_TRACK_DUE, peer, at_ms, limit, cb, ctx, "outbox_track_due");
}

static enum store_rc sq_delivery_set_remote(void *cls, const char *outbox_id,
                                            const char *recipient_organ, const char *remote_state,
                                            int64_t when_ms)
{
    struct conn *c = writer(cls, "delivery_set_remote");
    if (!c)
        return STORE_HARD_ERROR;
    sqlite3_stmt *st = st_get(c, S_DELIVERY_SET_REMOTE);
    if (!st)
        return STORE_HARD_ERROR;
    bind_text(st, 1, outbox_id);
    bind_text(st, 2, recipient_organ);
    bind_text0(st, 3, remote_state);
    sqlite3_bind_int64(st, 4, when_ms ? when_ms : now_ms());
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, S_DELIVERY_SET_REMOTE, st);
    return write_result(c, rc, changes, "delivery_set_remote");
}

static enum store_rc sq_delivery_set_status(void *cls, const char *document_id,
                                            const char *from_organ, const char *recipient_organ,
                                            const char *status_code, int64_t when_ms)
{
    struct conn *c = writer(cls, "delivery_set_status");
    if (!c)
        return STORE_HARD_ERROR;
    sqlite3_stmt *st = st_get(c, S_DELIVERY_SET_STATUS);
    if (!st)
        return STORE_HARD_ERROR;
    bind_text(st, 1, document_id);
    bind_text(st, 2, from_organ);
    bind_text(st, 3, recipient_organ);
    bind_text0(st, 4, status_code);
    sqlite3_bind_int64(st, 5, when_ms ? when_ms : now_ms());
    int changes = 0;
    int rc = step_changes(c, st, &changes);
    st_put(c, S_DELIVERY_SET_STATUS, st);
    return write_result(c, rc, changes, "delivery_set_status");
}

static enum store_rc sq_delivery_answerable(void *cls, const struct store_status_claim *cl)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_DELIVERY_ANSWERABLE);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, cl->document_id);
    bind_text(st, 2, cl->issuer_organ);
    bind_text(st, 3, cl->recipient_organ);
    bind_text0(st, 4, cl->system_a);
    bind_text0(st, 5, cl->system_b);
    bind_text0(st, 6, cl->peer);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        ret = sqlite3_column_int64(st, 0) > 0 ? STORE_ONE_RESULT : STORE_NO_RESULTS;
    else
        ret = fail(r.c, rc, "delivery_answerable");
    st_put(r.c, S_DELIVERY_ANSWERABLE, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_package_trace_put(void *cls, const char *package_id, int64_t offset,
                                          const char *text)
{
    struct conn *c = writer(cls, "package_trace_put");
    if (!c)
        return STORE_HARD_ERROR;
    if (!package_id || !text || offset < 0) {
        log_error("store: package_trace_put: incomplete trace");
        return STORE_HARD_ERROR;
    }
    sqlite3_stmt *st = st_get(c, S_TRACE_PUT);
    if (!st)
        return STORE_HARD_ERROR;
    bind_text(st, 1, package_id);
    sqlite3_bind_int64(st, 2, offset);
    bind_text(st, 3, text);
    int rc = sqlite3_step(st);
    enum store_rc ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(c, rc, "package_trace_put");
    st_put(c, S_TRACE_PUT, st);
    return ret;
}

static enum store_rc sq_package_trace_get(void *cls, const char *package_id, int64_t *ret_offset,
                                          char **ret_text)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_TRACE_GET);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, package_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int oom = 0;
        char *text = dup_or_null(col_text(st, 1), &oom);
        if (oom || !text) {
            free(text);
            ret = STORE_HARD_ERROR;
        } else {
            *ret_offset = sqlite3_column_int64(st, 0);
            *ret_text = text;
            ret = STORE_ONE_RESULT;
        }
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "package_trace_get");
    }
    st_put(r.c, S_TRACE_GET, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_inbound_find(void *cls, const char *peer, const char *remote_doc_id,
                                     char *ret_package_id)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_INBOUND_FIND);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, peer);
    bind_text(st, 2, remote_doc_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *id = col_text(st, 0);
        if (!id || strlen(id) >= DOCID_HEX_SIZE) {
            ret = STORE_HARD_ERROR;
        } else {
            strcpy(ret_package_id, id);
            ret = STORE_ONE_RESULT;
        }
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "inbound_find");
    }
    st_put(r.c, S_INBOUND_FIND, st);
    rd_close(&r);
    return ret;
}

/* A second record for the same (peer, docId) violates the key: HARD_ERROR, nothing written. */
static enum store_rc sq_inbound_insert(void *cls, const char *peer, const char *remote_doc_id,
                                       const char *package_id, int64_t when_ms)
{
    struct conn *c = writer(cls, "inbound_insert");
    if (!c)
        return STORE_HARD_ERROR;
    if (!peer || !remote_doc_id || !package_id) {
        log_error("store: inbound_insert: incomplete record");
        return STORE_HARD_ERROR;
    }
    sqlite3_stmt *st = st_get(c, S_INBOUND_INSERT);
    if (!st)
        return STORE_HARD_ERROR;
    bind_text(st, 1, peer);
    bind_text(st, 2, remote_doc_id);
    bind_text(st, 3, package_id);
    sqlite3_bind_int64(st, 4, when_ms ? when_ms : now_ms());
    int rc = sqlite3_step(st);
    enum store_rc ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(c, rc, "inbound_insert");
    st_put(c, S_INBOUND_INSERT, st);
    return ret;
}

/* Not a configuration change: the relay that writes it is the one that acts on it. */
static enum store_rc sq_peer_state_put(void *cls, const struct store_peer_state *ps)
{
    struct conn *c = writer(cls, "peer_state_put");
    if (!c)
        return STORE_HARD_ERROR;
    if (!ps->peer) {
        log_error("store: peer_state_put: no peer");
        return STORE_HARD_ERROR;
    }
    sqlite3_stmt *st = st_get(c, S_PEER_STATE_PUT);
    if (!st)
        return STORE_HARD_ERROR;
    bind_text(st, 1, ps->peer);
    sqlite3_bind_int(st, 2, (int)ps->health);
    sqlite3_bind_int64(st, 3, ps->since_ms);
    sqlite3_bind_int(st, 4, ps->failures);
    bind_text0(st, 5, ps->last_error);
    sqlite3_bind_int64(st, 6, ps->next_ms);
    sqlite3_bind_int64(st, 7, ps->updated_ms ? ps->updated_ms : now_ms());
    int rc = sqlite3_step(st);
    enum store_rc ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(c, rc, "peer_state_put");
    st_put(c, S_PEER_STATE_PUT, st);
    return ret;
}

static enum store_rc sq_peer_state_get(void *cls, const char *peer, struct store_peer_state *ret_s)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_PEER_STATE_GET);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    bind_text(st, 1, peer);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct store_peer_state out = {0};
        int oom = 0;
        out.peer = dup_or_null(col_text(st, 0), &oom);
        out.health = (enum store_peer_health)sqlite3_column_int(st, 1);
        out.since_ms = sqlite3_column_int64(st, 2);
        out.failures = sqlite3_column_int(st, 3);
        out.last_error = dup_or_null(col_text(st, 4), &oom);
        out.next_ms = sqlite3_column_int64(st, 5);
        out.updated_ms = sqlite3_column_int64(st, 6);
        if (oom) {
            store_peer_state_clear(&out);
            ret = STORE_HARD_ERROR;
        } else {
            *ret_s = out;
            ret = STORE_ONE_RESULT;
        }
    } else {
        ret = rc == SQLITE_DONE ? STORE_NO_RESULTS : fail(r.c, rc, "peer_state_get");
    }
    st_put(r.c, S_PEER_STATE_GET, st);
    rd_close(&r);
    return ret;
}

static enum store_rc sq_relay_stats(void *cls, int64_t from_ms, int64_t to_ms,
                                    store_relay_stats_cb cb, void *ctx)
{
    struct rd r;
    enum store_rc ret = rd_open(cls, &r, 0);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = st_get(r.c, S_RELAY_STATS);
    if (!st) {
        rd_close(&r);
        return STORE_HARD_ERROR;
    }
    sqlite3_bind_int64(st, 1, from_ms);
    sqlite3_bind_int64(st, 2, to_ms);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_relay_stats_row row = {
            .peer = col_text(st, 0),
            .sent_edoc = sqlite3_column_int64(st, 1),
            .sent_status = sqlite3_column_int64(st, 2),
            .pending = sqlite3_column_int64(st, 3),
            .undeliverable = sqlite3_column_int64(st, 4),
            .received_edoc = sqlite3_column_int64(st, 5),
            .received_status = sqlite3_column_int64(st, 6),
        };
        if (cb(ctx, &row) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    ret = rc == SQLITE_DONE ? STORE_ONE_RESULT : fail(r.c, rc, "relay_stats");
    st_put(r.c, S_RELAY_STATS, st);
    rd_close(&r);
    return ret;
}

/* No I/O: one atomic load of the shared mapping (called on every gateway request). */
static uint64_t sq_config_generation(void *cls)
{
    struct sq *q = cls;
    return __atomic_load_n(q->gen, __ATOMIC_ACQUIRE);
}

/* ---- open and close ------------------------------------------------------------------------- */

/* Maps DATA/lienthong.gen (8 bytes, created 0600 and zero when missing) shared, so that every
 * process of this data directory sees one counter. Extending an 8-byte file to 8 bytes changes
 * nothing, so two processes creating it at once are harmless. */
static uint64_t *gen_map(const char *data_dir, char *err, size_t err_len)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/" GEN_FILE, data_dir) >= sizeof path) {
        snprintf(err, err_len, "data directory path too long");
        return NULL;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    void *p = MAP_FAILED;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, err_len, "%s is not a regular file", path);
    } else if (sb.st_size < (off_t)sizeof(uint64_t) &&
               ftruncate(fd, (off_t)sizeof(uint64_t)) != 0) {
        snprintf(err, err_len, "cannot size %s: %s", path, strerror(errno));
    } else {
        p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            snprintf(err, err_len, "cannot map %s: %s", path, strerror(errno));
    }
    close(fd); /* the mapping stays valid */
    return p == MAP_FAILED ? NULL : p;
}

static void gen_unmap(uint64_t *gen)
{
    if (gen)
        munmap(gen, sizeof *gen);
}

static void sq_close(void *cls)
{
    struct sq *q = cls;
    if (!q)
        return;
    if (tl_writer == q)
        sq_write_rollback(q);
    pthread_mutex_lock(&q->plock);
    for (int i = 0; i < q->n_idle; i++) {
        conn_close(q->idle[i]);
        free(q->idle[i]);
    }
    if (q->n_open != q->n_idle)
        log_warn("store: closed while %d reads were running", q->n_open - q->n_idle);
    q->n_idle = q->n_open = 0;
    pthread_mutex_unlock(&q->plock);
    conn_close(&q->w); /* the last connection: checkpoints and removes the WAL */
    pthread_cond_destroy(&q->pcond);
    pthread_mutex_destroy(&q->plock);
    pthread_mutex_destroy(&q->wlock);
    gen_unmap(q->gen);
    free(q->chunk);
    free(q->path);
    free(q);
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int mkdir_p(const char *dir, char *err, size_t err_len)
{
    char *p = strdup(dir);
    if (!p) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c != '/' && c != '\0')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            snprintf(err, err_len, "cannot create directory %s: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    struct stat sb;
    if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, err_len, "%s is not a directory", p);
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

/* The database holds every system's and peer's secret: it is created 0600 whatever the umask
 * and the directory's mode, and a file left readable by an older version is tightened. SQLite
 * gives the -wal and -shm files the mode of the database. */
static int private_files(const char *db_path, char *err, size_t err_len)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s%s", db_path, suffixes[i]);
        int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (i == 0 ? O_CREAT : 0), 0600);
        if (fd < 0 && errno == ENOENT)
            continue;
        if (fd < 0 || fchmod(fd, 0600) != 0) {
            snprintf(err, err_len, "%s: %s", p, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        close(fd);
    }
    return 0;
}

struct store *store_sqlite_open(const char *data_dir, char *err, size_t err_len)
{
    if (!data_dir || !*data_dir) {
        snprintf(err, err_len, "no data directory given");
        return NULL;
    }
    if (mkdir_p(data_dir, err, err_len) != 0)
        return NULL;
    struct sq *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    size_t plen = strlen(data_dir) + sizeof "/lienthong.db";
    q->path = malloc(plen);
    if (!q->path) {
        free(q);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    snprintf(q->path, plen, "%s/lienthong.db", data_dir);
    pthread_mutex_init(&q->wlock, NULL);
    pthread_mutex_init(&q->plock, NULL);
    pthread_cond_init(&q->pcond, NULL);

    if (private_files(q->path, err, err_len) != 0 ||
        conn_open(&q->w, q->path, 0, err, err_len) != 0)
        goto fail;
    sqlite3_stmt *st = NULL;
    const char *mode = NULL;
    if (sqlite3_prepare_v2(q->w.db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        mode = col_text(st, 0);
    int wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) {
        snprintf(err, err_len, "%s: cannot switch to WAL mode: %s", q->path,
                 sqlite3_errmsg(q->w.db));
        goto fail;
    }
    if (conn_exec(q->w.db, "PRAGMA synchronous = FULL", err, err_len) != 0)
        goto fail;
    if (sqlite_schema_migrate(q->w.db, err, err_len) != 0)
        goto fail;
    if (!(q->gen = gen_map(data_dir, err, err_len)))
        goto fail;

    q->pub = (struct store){
        .cls = q,
        .close = sq_close,
        .write_begin = sq_write_begin,
        .write_commit = sq_write_commit,
        .write_rollback = sq_write_rollback,
        .agency_put = sq_agency_put,
        .agency_get = sq_agency_get,
        .agency_list = sq_agency_list,
        .agency_remove = sq_agency_remove,
        .system_put = sq_system_put,
        .system_get = sq_system_get,
        .system_list = sq_system_list,
        .system_remove = sq_system_remove,
        .serves_add = sq_serves_add,
        .serves_remove = sq_serves_remove,
        .route = sq_route,
        .package_find_recent = sq_package_find_recent,
        .package_insert = sq_package_insert,
        .package_get = sq_package_get,
        .package_read = sq_package_read,
        .delivery_insert = sq_delivery_insert,
        .delivery_get = sq_delivery_get,
        .delivery_set_state = sq_delivery_set_state,
        .inbox_list = sq_inbox_list,
        .inbox_count = sq_inbox_count,
        .sent_list = sq_sent_list,
        .txlog_append = sq_txlog_append,
        .txlog_scan = sq_txlog_scan,
        .txlog_head = sq_txlog_head,
        .stats = sq_stats,
        .service_put = sq_service_put,
        .service_get = sq_service_get,
        .service_list = sq_service_list,
        .service_remove = sq_service_remove,
        .grant_put = sq_grant_put,
        .grant_remove = sq_grant_remove,
        .grant_list = sq_grant_list,
        .token_insert = sq_token_insert,
        .token_revoke = sq_token_revoke,
        .token_revoke_system = sq_token_revoke_system,
        .token_list_active = sq_token_list_active,
        .token_live_count = sq_token_live_count,
        .anchor_append = sq_anchor_append,
        .probe_write = sq_probe_write,
        .signature_pending = sq_signature_pending,
        .package_set_signature = sq_package_set_signature,
        .last_error = sq_last_error,
        .anchor_last = sq_anchor_last,
        .anchor_scan = sq_anchor_scan,
        .token_purge = sq_token_purge,
        .call_insert = sq_call_insert,
        .call_scan = sq_call_scan,
        .platform_put = sq_platform_put,
        .platform_get = sq_platform_get,
        .peer_put = sq_peer_put,
        .peer_get = sq_peer_get,
        .peer_list = sq_peer_list,
        .peer_remove = sq_peer_remove,
        .relay_route_put = sq_relay_route_put,
        .relay_route_get = sq_relay_route_get,
        .relay_route_list = sq_relay_route_list,
        .relay_route_remove = sq_relay_route_remove,
        .outbox_insert = sq_outbox_insert,
        .outbox_get = sq_outbox_get,
        .outbox_update = sq_outbox_update,
        .outbox_due = sq_outbox_due,
        .outbox_track_due = sq_outbox_track_due,
        .delivery_set_remote = sq_delivery_set_remote,
        .delivery_set_status = sq_delivery_set_status,
        .delivery_answerable = sq_delivery_answerable,
        .inbound_find = sq_inbound_find,
        .inbound_insert = sq_inbound_insert,
        .peer_state_put = sq_peer_state_put,
        .peer_state_get = sq_peer_state_get,
        .relay_stats = sq_relay_stats,
        .package_trace_put = sq_package_trace_put,
        .package_trace_get = sq_package_trace_get,
        .config_generation = sq_config_generation,
    };
    return &q->pub;
fail:
    conn_close(&q->w);
    pthread_cond_destroy(&q->pcond);
    pthread_mutex_destroy(&q->plock);
    pthread_mutex_destroy(&q->wlock);
    free(q->path);
    free(q);
    return NULL;
}
