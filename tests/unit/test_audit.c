/* test_audit — the transaction-log hash chain: the hash encoding, appends through the SQLite
 * store, and audit_verify catching each kind of tampering done to the database file behind the
 * store's back (through a separate raw sqlite3 connection, as an intruder would). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit/chain.h"
#include "store/store.h"
#include "util/crypto.h"

#define N_RECORDS 12

static char *make_tmpdir(void)
{
    const char *base = getenv("LT_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700);
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/audit-XXXXXX", base);
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static struct store *open_in(const char *dir)
{
    char err[256] = "";
    struct store *s = store_sqlite_open(dir, err, sizeof err);
    if (!s)
        fail_msg("store_sqlite_open(%s): %s", dir, err);
    return s;
}

/* A store holding N_RECORDS chained records, appended over a few transactions. */
static char *make_log(void)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    int seq = 0;
    for (int tx = 0; tx < 3; tx++) {
        assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
        for (int i = 0; i < N_RECORDS / 3; i++) {
            char pkg[32];
            snprintf(pkg, sizeof pkg, "%024d", ++seq);
            struct store_txrec r = {
                .time_ms = 1700000000000 + seq,
                .actor = seq % 2 ? "SYS.A" : "operator",
                .operation = seq % 2 ? "send" : "agency.add",
                .package_id = pkg,
                .content_sha256 = seq % 2 ? AUDIT_GENESIS : "",
                .outcome = seq == 5 ? "refused:hash" : "ok",
            };
            assert_int_equal(s->txlog_append(s->cls, &r), STORE_ONE_RESULT);
            assert_int_equal(r.seq, seq);
            char h[65];
            audit_chain_hash(r.prev_hash, &r, h);
            assert_string_equal(h, r.hash);
        }
        assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);
    }
    /* Rolled-back appends leave no trace and no gap. */
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    struct store_txrec r = {.actor = "x", .operation = "send", .outcome = "ok"};
    assert_int_equal(s->txlog_append(s->cls, &r), STORE_ONE_RESULT);
    s->write_rollback(s->cls);
    store_close(s);
    return dir;
}

static void tamper(const char *dir, const char *sql)
{
    char path[600];
    snprintf(path, sizeof path, "%s/lienthong.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("tamper SQL failed: %s", msg);
    sqlite3_close(db);
}

static void verify(const char *dir, struct audit_report *rep)
{
    struct store *s = open_in(dir);
    assert_int_equal(audit_verify(s, rep), 0);
    store_close(s);
    printf("    verify: ok=%d records=%lld broken=%lld: %s\n", rep->ok, (long long)rep->records,
           (long long)rep->broken_seq, rep->reason);
}

/* ---- the hash ------------------------------------------------------------------------------- */

static void test_chain_hash(void **state)
{
    (void)state;
    assert_int_equal(strlen(AUDIT_GENESIS), 64);
    for (int i = 0; i < 64; i++)
        assert_int_equal(AUDIT_GENESIS[i], '0');

    struct store_txrec r = {.seq = 1,
                            .time_ms = 1000,
                            .actor = "ab",
                            .operation = "c",
                            .package_id = "p",
                            .content_sha256 = "",
                            .outcome = "ok"};
    char h1[65], h2[65];
    audit_chain_hash(AUDIT_GENESIS, &r, h1);
    assert_int_equal(strlen(h1), 64);
    audit_chain_hash(AUDIT_GENESIS, &r, h2);
    assert_string_equal(h1, h2); /* deterministic */

    /* Length prefixes: moving a character between fields changes the hash. */
    r.actor = "a";
    r.operation = "bc";
    audit_chain_hash(AUDIT_GENESIS, &r, h2);
    assert_string_not_equal(h1, h2);
    r.actor = "ab";
    r.operation = "c";

    /* Every field counts, and so does the previous hash. */
    struct store_txrec v = r;
    v.seq = 2;
    audit_chain_hash(AUDIT_GENESIS, &v, h2);
    assert_string_not_equal(h1, h2);
    v = r;
    v.time_ms = 1001;
    audit_chain_hash(AUDIT_GENESIS, &v, h2);
    assert_string_not_equal(h1, h2);
    v = r;
    v.package_id = "q";
    audit_chain_hash(AUDIT_GENESIS, &v, h2);
    assert_string_not_equal(h1, h2);
    v = r;
    v.content_sha256 = "0";
    audit_chain_hash(AUDIT_GENESIS, &v, h2);
    assert_string_not_equal(h1, h2);
    v = r;
    v.outcome = "refused:x";
    audit_chain_hash(AUDIT_GENESIS, &v, h2);
    assert_string_not_equal(h1, h2);
    char prev[65];
    memcpy(prev, AUDIT_GENESIS, 65);
    prev[63] = '1';
    audit_chain_hash(prev, &r, h2);
    assert_string_not_equal(h1, h2);
    /* NULL strings hash like empty ones. */
    v = r;
    v.content_sha256 = NULL;
    audit_chain_hash(AUDIT_GENESIS, &v, h2);
    assert_string_equal(h1, h2);

    /* Known answer, pins the encoding: SHA-256 of
     * "64:000...0" "1:1" "4:1000" "2:ab" "1:c" "1:p" "0:" "2:ok". */
    const char *expect_input = "64:0000000000000000000000000000000000000000000000000000000000000000"
                               "1:14:10002:ab1:c1:p0:2:ok";
    uint8_t d[SHA256_LEN];
    char hex[65];
    assert_int_equal(sha256(expect_input, strlen(expect_input), d), 0);
    hex_encode(d, SHA256_LEN, hex);
    assert_string_equal(h1, hex);
}

/* ---- verify --------------------------------------------------------------------------------- */

static void test_verify_ok(void **state)
{
    (void)state;
    struct audit_report rep;
    char *dir = make_tmpdir();
    verify(dir, &rep); /* an empty log verifies */
    assert_int_equal(rep.ok, 1);
    assert_int_equal(rep.records, 0);
    free(dir);

    dir = make_log();
    verify(dir, &rep);
    assert_int_equal(rep.ok, 1);
    assert_int_equal(rep.records, N_RECORDS);
    assert_int_equal(rep.broken_seq, 0);

    struct store *s = open_in(dir);
    int64_t seq = 0;
    char hash[65];
    assert_int_equal(s->txlog_head(s->cls, &seq, hash), STORE_ONE_RESULT);
    assert_int_equal(seq, N_RECORDS);
    /* Appends continue the chain after a reopen. */
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    struct store_txrec r = {.actor = "operator", .operation = "system.add", .outcome = "ok"};
    assert_int_equal(s->txlog_append(s->cls, &r), STORE_ONE_RESULT);
    assert_int_equal(r.seq, N_RECORDS + 1);
    assert_string_equal(r.prev_hash, hash);
    assert_true(r.time_ms > 0);
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);
    assert_int_equal(audit_verify(s, &rep), 0);
    assert_int_equal(rep.ok, 1);
    assert_int_equal(rep.records, N_RECORDS + 1);
    store_close(s);
    free(dir);

    s = open_in(dir = make_tmpdir());
    assert_int_equal(s->txlog_head(s->cls, &seq, hash), STORE_NO_RESULTS);
    struct store_txrec out = {0};
    assert_int_equal(s->txlog_append(s->cls, &out), STORE_HARD_ERROR); /* no transaction */
    store_close(s);
    free(dir);
}

static void test_tamper_update(void **state)
{
    (void)state;
    struct audit_report rep;
    char *dir = make_log();
    tamper(dir, "UPDATE txlog SET outcome = 'ok' WHERE seq = 5");
    verify(dir, &rep);
    assert_int_equal(rep.ok, 0);
    assert_int_equal(rep.broken_seq, 5);
    assert_non_null(strstr(rep.reason, "record 5: hash does not match its content"));
    assert_non_null(strstr(rep.reason, "altered"));
    assert_int_equal(rep.records, 4);
    free(dir);
}

/* The intruder also recomputes the altered record's hash: the next link breaks. */
static void test_tamper_update_rehash(void **state)
{
    (void)state;
    struct audit_report rep;
    char *dir = make_log();
    /* Recompute record 5's hash with outcome "ok" from its stored fields. */
    char path[600];
    snprintf(path, sizeof path, "%s/lienthong.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT seq, time_ms, actor, operation, package_id,"
                                        " content_sha256, prev_hash FROM txlog WHERE seq = 5",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    struct store_txrec t = {.seq = sqlite3_column_int64(st, 0),
                            .time_ms = sqlite3_column_int64(st, 1),
                            .actor = (const char *)sqlite3_column_text(st, 2),
                            .operation = (const char *)sqlite3_column_text(st, 3),
                            .package_id = (const char *)sqlite3_column_text(st, 4),
                            .content_sha256 = (const char *)sqlite3_column_text(st, 5),
                            .outcome = "ok"};
    char h[65];
    audit_chain_hash((const char *)sqlite3_column_text(st, 6), &t, h);
    sqlite3_finalize(st);
    sqlite3_close(db);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE txlog SET outcome = 'ok', hash = '%s' WHERE seq = 5", h);
    tamper(dir, sql);
    verify(dir, &rep);
    assert_int_equal(rep.ok, 0);
    assert_int_equal(rep.broken_seq, 6);
    assert_non_null(strstr(rep.reason, "record 6"));
    free(dir);
}

static void test_tamper_delete_middle(void **state)
{
    (void)state;
    struct audit_report rep;
    char *dir = make_log();
    tamper(dir, "DELETE FROM txlog WHERE seq = 7");
    verify(dir, &rep);
    assert_int_equal(rep.ok, 0);
    assert_int_equal(rep.broken_seq, 7);
    assert_non_null(strstr(rep.reason, "record 7 missing: after record 6 comes 8"));
    assert_non_null(strstr(rep.reason, "removed"));
    free(dir);

    dir = make_log();
    tamper(dir, "DELETE FROM txlog WHERE seq = 1");
    verify(dir, &rep);
    assert_int_equal(rep.ok, 0);
    assert_int_equal(rep.broken_seq, 1);
    assert_non_null(strstr(rep.reason, "record 1 missing"));
    free(dir);
}

static void test_tamper_insert(void **state)
{
    (void)state;
    struct audit_report rep;
    char *dir = make_log();
    /* A forged record appended with a correct link and hash: only the head reveals it. */
    struct store *s = open_in(dir);
    int64_t seq = 0;
    char head[65];
    assert_int_equal(s->txlog_head(s->cls, &seq, head), STORE_ONE_RESULT);
    store_close(s);
    struct store_txrec f = {.seq = seq + 1,
                            .time_ms = 1700000009999,
                            .actor = "SYS.A",
                            .operation = "send",
                            .package_id = "forged",
                            .content_sha256 = "",
                            .outcome = "ok"};
    char h[65];
    audit_chain_hash(head, &f, h);
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO txlog VALUES (%lld, 1700000009999, 'SYS.A', 'send', 'forged', '', 'ok',"
             " '%s', '%s')",
             (long long)f.seq, head, h);
    tamper(dir, sql);
    verify(dir, &rep);
    assert_int_equal(rep.ok, 0);
    assert_int_equal(rep.broken_seq, N_RECORDS + 1);
    assert_non_null(strstr(rep.reason, "inserted"));
    free(dir);

    /* A forged record squeezed in by renumbering the later ones (seq + 100, then a new 6). */
    dir = make_log();
    tamper(dir, "UPDATE txlog SET seq = seq + 100 WHERE seq >= 6;"
                "INSERT INTO txlog SELECT 6, time_ms, actor, operation, 'forged', content_sha256,"
                " outcome, hash, hash FROM txlog WHERE seq = 5;"
                "UPDATE txlog SET seq = seq - 99 WHERE seq >= 106;");
    verify(dir, &rep);
    assert_int_equal(rep.ok, 0);
    assert_int_equal(rep.broken_seq, 6);
    free(dir);
}

static void test_tamper_delete_last(void **state)
{
    (void)state;
    struct audit_report rep;
    char *dir = make_log();
    tamper(dir, "DELETE FROM txlog WHERE seq = (SELECT MAX(seq) FROM txlog)");
    verify(dir, &rep);
    assert_int_equal(rep.ok, 0);
    assert_int_equal(rep.broken_seq, N_RECORDS);
    assert_non_null(strstr(rep.reason, "newest records removed"));
    assert_int_equal(rep.records, N_RECORDS - 1);
    free(dir);

    /* Everything removed. */
    dir = make_log();
    tamper(dir, "DELETE FROM txlog");
    verify(dir, &rep);
    assert_int_equal(rep.ok, 0);
    assert_int_equal(rep.broken_seq, 1);
    free(dir);

    /* The last record altered and rehashed: the head kept in meta no longer matches. */
    dir = make_log();
    tamper(dir, "UPDATE txlog SET hash = prev_hash WHERE seq = (SELECT MAX(seq) FROM txlog)");
    verify(dir, &rep);
    assert_int_equal(rep.ok, 0);
    assert_int_equal(rep.broken_seq, N_RECORDS);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_hash),           cmocka_unit_test(test_verify_ok),
        cmocka_unit_test(test_tamper_update),        cmocka_unit_test(test_tamper_update_rehash),
        cmocka_unit_test(test_tamper_delete_middle), cmocka_unit_test(test_tamper_insert),
        cmocka_unit_test(test_tamper_delete_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
