/* test_store — the SQLite store against a real database file in $LT_TMP: schema and reopen,
 * registry, package bytes across chunk boundaries and their integrity checks, inboxes, the
 * sender's delivery report, statistics, readers running while a writer commits, and the
 * transaction log's head across transactions, rollbacks and a second writer on the same
 * directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit/chain.h"
#include "report/stats.h"
#include "store/committer.h"
#include "store/store.h"
#include "util/crypto.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static char *make_tmpdir(void)
{
    const char *base = getenv("LT_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700);
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/store-XXXXXX", base);
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

struct memsrc {
    const uint8_t *data;
    size_t len, pos, step; /* step: most bytes handed per call (exercises partial reads) */
};

static long mem_read(void *ctx, void *buf, size_t cap)
{
    struct memsrc *m = ctx;
    size_t n = m->len - m->pos;
    if (n > cap)
        n = cap;
    if (m->step && n > m->step)
        n = m->step;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (long)n;
}

static void sha_hex(const void *data, size_t len, char out[SHA256_HEX_SIZE])
{
    uint8_t d[SHA256_LEN];
    assert_int_equal(sha256(data, len, d), 0);
    hex_encode(d, SHA256_LEN, out);
}

static uint8_t *random_bytes(size_t n, unsigned seed)
{
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    srand(seed);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(rand() >> 7);
    return b;
}

/* Inserts a package with the given bytes in its own transaction. */
static enum store_rc put_pkg_tx(struct store *s, const char *id, const char *sender,
                                enum store_msgtype type, const char *from, const void *data,
                                size_t len, int64_t created, int has_sig)
{
    char sha[SHA256_HEX_SIZE];
    sha_hex(data, len, sha);
    struct store_package p = {
        .id = (char *)id,
        .sender_system = (char *)sender,
        .messagetype = type,
        .from_organ = (char *)from,
        .sha256 = sha,
        .size = (int64_t)len,
        .created_ms = created,
        .subject = "Subject",
        .signature = has_sig,
        .n_attachments = 1,
    };
    struct memsrc m = {.data = data, .len = len};
    return s->package_insert(s->cls, &p, mem_read, &m);
}

static void put_pkg(struct store *s, const char *id, const char *sender, enum store_msgtype type,
                    const char *from, const void *data, size_t len, int64_t created, int has_sig)
{
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    assert_int_equal(put_pkg_tx(s, id, sender, type, from, data, len, created, has_sig),
                     STORE_ONE_RESULT);
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);
}

static void put_dlv(struct store *s, const char *id, const char *pkg, const char *organ,
                    const char *sys, enum store_msgtype type, int64_t created)
{
    struct store_delivery d = {
        .id = (char *)id,
        .package_id = (char *)pkg,
        .recipient_organ = (char *)organ,
        .recipient_system = (char *)sys,
        .messagetype = type,
        .state = STORE_DELIVERY_INITIAL,
        .created_ms = created,
        .updated_ms = created,
    };
    assert_int_equal(s->delivery_insert(s->cls, &d), STORE_ONE_RESULT);
}

static void put_agency(struct store *s, const char *id, const char *name, const char *parent)
{
    struct store_agency a = {.id = (char *)id, .name = (char *)name, .parent_id = (char *)parent};
    assert_int_equal(s->agency_put(s->cls, &a), STORE_ONE_RESULT);
}

static void put_system(struct store *s, const char *id, const char *agency)
{
    struct store_system y = {.id = (char *)id, .agency_id = (char *)agency, .secret = "k"};
    assert_int_equal(s->system_put(s->cls, &y), STORE_ONE_RESULT);
}

static int count_cb(void *ctx, const struct store_agency *a)
{
    (void)a;
    (*(int *)ctx)++;
    return 0;
}

/* ---- open, migrate, reopen ------------------------------------------------------------------ */

static void test_open_reopen(void **state)
{
    (void)state;
    char *base = make_tmpdir();
    char dir[600];
    snprintf(dir, sizeof dir, "%s/a/b/data", base);
    struct store *s = open_in(dir);
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    put_agency(s, "000.00.00.H34", "UBND tỉnh Kon Tum", NULL);
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);
    store_close(s);

    s = open_in(dir); /* reopen: migrations already applied */
    struct store_agency a = {0};
    assert_int_equal(s->agency_get(s->cls, "000.00.00.H34", &a), STORE_ONE_RESULT);
    assert_string_equal(a.name, "UBND tỉnh Kon Tum");
    assert_null(a.parent_id);
    store_agency_clear(&a);
    store_close(s);
    store_close(NULL);

    /* The database file: WAL mode, schema_version recorded. */
    char path[700];
    snprintf(path, sizeof path, "%s/lienthong.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_version VALUES (999, 0)", 0, 0, 0),
                     SQLITE_OK);
    sqlite3_close(db);

    /* A newer schema is refused with a clear reason. */
    char err[256] = "";
    assert_null(store_sqlite_open(dir, err, sizeof err));
    assert_non_null(strstr(err, "newer"));

    /* A data_dir that is a file is refused. */
    char file[700];
    snprintf(file, sizeof file, "%s/plain", base);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_null(store_sqlite_open(file, err, sizeof err));
    free(base);
}

/* ---- registry ------------------------------------------------------------------------------- */

struct sys_seen {
    int n;
    char serves[8][64];
    size_t n_serves;
};

static int sys_cb(void *ctx, const struct store_system *y, char *const *serves, size_t n)
{
    struct sys_seen *seen = ctx;
    seen->n++;
    if (strcmp(y->id, "SYS.A") == 0) {
        seen->n_serves = n;
        for (size_t i = 0; i < n && i < 8; i++)
            snprintf(seen->serves[i], 64, "%s", serves[i]);
    }
    return 0;
}

static void test_registry(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);

    /* Writes outside a transaction are refused. */
    struct store_agency a0 = {.id = "X", .name = "X"};
    assert_int_equal(s->agency_put(s->cls, &a0), STORE_HARD_ERROR);

    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    put_agency(s, "000.00.00.H34", "Tỉnh", NULL);
    put_agency(s, "000.00.01.H34", "Sở A", "000.00.00.H34");
    put_agency(s, "000.00.02.H34", "Sở B", "000.00.00.H34");
    put_agency(s, "000.00.03.H34", "Sở C", "000.00.00.H34");
    /* Update keeps created_ms. */
    struct store_agency upd = {.id = "000.00.02.H34",
                               .name = "Sở B mới",
                               .parent_id = "000.00.00.H34",
                               .mail = "b@x.vn",
                               .created_ms = 5,
                               .updated_ms = 9};
    assert_int_equal(s->agency_put(s->cls, &upd), STORE_ONE_RESULT);
    put_system(s, "SYS.A", "000.00.01.H34");
    put_system(s, "SYS.B", "000.00.02.H34");
    /* A system's owner agency must exist. */
    struct store_system bad = {.id = "SYS.Z", .agency_id = "nope", .secret = "k"};
    assert_int_equal(s->system_put(s->cls, &bad), STORE_HARD_ERROR);

    assert_int_equal(s->serves_add(s->cls, "SYS.A", "000.00.01.H34"), STORE_ONE_RESULT);
    assert_int_equal(s->serves_add(s->cls, "SYS.A", "000.00.03.H34"), STORE_ONE_RESULT);
    assert_int_equal(s->serves_add(s->cls, "SYS.A", "000.00.03.H34"), STORE_ONE_RESULT);
    assert_int_equal(s->serves_add(s->cls, "SYS.B", "000.00.03.H34"), STORE_NO_RESULTS);
    assert_int_equal(s->serves_add(s->cls, "SYS.B", "000.00.02.H34"), STORE_ONE_RESULT);
    /* Seen inside the transaction by the writer thread. */
    char route[STORE_ID_MAX + 1];
    assert_int_equal(s->route(s->cls, "000.00.03.H34", route), STORE_ONE_RESULT);
    assert_string_equal(route, "SYS.A");
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);

    struct store_agency a = {0};
    assert_int_equal(s->agency_get(s->cls, "000.00.02.H34", &a), STORE_ONE_RESULT);
    assert_string_equal(a.name, "Sở B mới");
    assert_string_equal(a.mail, "b@x.vn");
    assert_string_equal(a.parent_id, "000.00.00.H34");
    assert_int_equal(a.updated_ms, 9);
    assert_true(a.created_ms != 5); /* the first insert's time stays */
    store_agency_clear(&a);
    assert_int_equal(s->agency_get(s->cls, "nope", &a), STORE_NO_RESULTS);

    int n = 0;
    assert_int_equal(s->agency_list(s->cls, count_cb, &n), STORE_ONE_RESULT);
    assert_int_equal(n, 4);

    struct store_system y = {0};
    assert_int_equal(s->system_get(s->cls, "SYS.B", &y), STORE_ONE_RESULT);
    assert_string_equal(y.agency_id, "000.00.02.H34");
    assert_string_equal(y.secret, "k");
    assert_int_equal(y.status, STORE_SYSTEM_OFFICIAL);
    store_system_clear(&y);

    struct sys_seen seen = {0};
    assert_int_equal(s->system_list(s->cls, sys_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.n_serves, 2);
    assert_string_equal(seen.serves[0], "000.00.01.H34");
    assert_string_equal(seen.serves[1], "000.00.03.H34");

    assert_int_equal(s->route(s->cls, "000.00.02.H34", route), STORE_ONE_RESULT);
    assert_string_equal(route, "SYS.B");
    assert_int_equal(s->route(s->cls, "000.00.09.H34", route), STORE_NO_RESULTS);

    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    /* Trial status update without a secret keeps the secret. */
    struct store_system trial = {
        .id = "SYS.B", .agency_id = "000.00.02.H34", .status = STORE_SYSTEM_TRIAL};
    assert_int_equal(s->system_put(s->cls, &trial), STORE_ONE_RESULT);
    /* Referenced agencies cannot be removed. */
    assert_int_equal(s->agency_remove(s->cls, "000.00.00.H34"), STORE_HARD_ERROR); /* children */
    assert_int_equal(s->agency_remove(s->cls, "000.00.01.H34"), STORE_HARD_ERROR); /* system */
    assert_int_equal(s->agency_remove(s->cls, "000.00.03.H34"), STORE_HARD_ERROR); /* serves */
    assert_int_equal(s->agency_remove(s->cls, "nope"), STORE_NO_RESULTS);
    assert_int_equal(s->serves_remove(s->cls, "SYS.B", "000.00.03.H34"), STORE_NO_RESULTS);
    assert_int_equal(s->serves_remove(s->cls, "SYS.A", "000.00.03.H34"), STORE_ONE_RESULT);
    assert_int_equal(s->agency_remove(s->cls, "000.00.03.H34"), STORE_ONE_RESULT);
    assert_int_equal(s->system_remove(s->cls, "SYS.A"), STORE_ONE_RESULT);
    assert_int_equal(s->system_remove(s->cls, "SYS.A"), STORE_NO_RESULTS);
    assert_int_equal(s->route(s->cls, "000.00.01.H34", route), STORE_NO_RESULTS);
    assert_int_equal(s->agency_remove(s->cls, "000.00.01.H34"), STORE_ONE_RESULT);
    /* Now SYS.B may take an organ SYS.A served. */
    put_agency(s, "000.00.03.H34", "Sở C", NULL);
    assert_int_equal(s->serves_add(s->cls, "SYS.B", "000.00.03.H34"), STORE_ONE_RESULT);
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);

    assert_int_equal(s->system_get(s->cls, "SYS.B", &y), STORE_ONE_RESULT);
    assert_int_equal(y.status, STORE_SYSTEM_TRIAL);
    assert_string_equal(y.secret, "k");
    store_system_clear(&y);
    assert_int_equal(s->system_get(s->cls, "SYS.A", &y), STORE_NO_RESULTS);

    /* Rollback discards. */
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    put_agency(s, "000.00.07.H34", "Tạm", NULL);
    s->write_rollback(s->cls);
    assert_int_equal(s->agency_get(s->cls, "000.00.07.H34", &a), STORE_NO_RESULTS);

    store_close(s);
    free(dir);
}

/* ---- package bytes -------------------------------------------------------------------------- */

static void check_read_all(struct store *s, const char *id, const uint8_t *data, size_t len,
                           size_t stride)
{
    uint8_t *out = malloc(len + stride + 1);
    assert_non_null(out);
    size_t got = 0;
    for (;;) {
        size_t n = 0;
        assert_int_equal(s->package_read(s->cls, id, (int64_t)got, out + got, stride, &n),
                         STORE_ONE_RESULT);
        if (n == 0)
            break;
        got += n;
        assert_true(got <= len);
    }
    assert_int_equal(got, len);
    assert_memory_equal(out, data, len);
    free(out);
}

static void test_package_sizes(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    const size_t sizes[] = {1, STORE_CHUNK_SIZE, STORE_CHUNK_SIZE + 1, 3 * 1024 * 1024 + 77};
    const char *ids[] = {"000000000000000000000001", "000000000000000000000002",
                         "000000000000000000000003", "000000000000000000000004"};
    for (int i = 0; i < 4; i++) {
        uint8_t *data = random_bytes(sizes[i], (unsigned)i + 1);
        char sha[SHA256_HEX_SIZE];
        sha_hex(data, sizes[i], sha);
        struct store_package p = {.id = (char *)ids[i],
                                  .sender_system = "SYS.A",
                                  .messagetype = STORE_MSG_EDOC,
                                  .from_organ = "000.00.01.H34",
                                  .sha256 = sha,
                                  .size = (int64_t)sizes[i],
                                  .created_ms = 1000 + i,
                                  .subject = "Công văn",
                                  .code_number = "12",
                                  .code_notation = "UBND-VP",
                                  .signature = 1,
                                  .n_attachments = 2};
        struct memsrc m = {.data = data, .len = sizes[i], .step = 10000 + (size_t)i * 777};
        assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
        assert_int_equal(s->package_insert(s->cls, &p, mem_read, &m), STORE_ONE_RESULT);
        assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);

        struct store_package g = {0};
        assert_int_equal(s->package_get(s->cls, ids[i], &g), STORE_ONE_RESULT);
        assert_int_equal(g.size, (int64_t)sizes[i]);
        assert_string_equal(g.sha256, sha);
        assert_string_equal(g.subject, "Công văn");
        assert_string_equal(g.code_notation, "UBND-VP");
        assert_null(g.document_id);
        assert_int_equal(g.signature, 1);
        assert_int_equal(g.n_attachments, 2);
        assert_int_equal(g.created_ms, 1000 + i);
        store_package_clear(&g);

        check_read_all(s, ids[i], data, sizes[i], 65536);
        check_read_all(s, ids[i], data, sizes[i], STORE_CHUNK_SIZE + 3);
        check_read_all(s, ids[i], data, sizes[i], 4 * 1024 * 1024);

        /* Random windows, many of them across chunk boundaries. */
        uint8_t *win = malloc(700000);
        assert_non_null(win);
        srand(99);
        for (int k = 0; k < 40; k++) {
            size_t off = (size_t)rand() % sizes[i];
            size_t len = (size_t)rand() % 700000;
            if (k % 5 == 0 && sizes[i] > STORE_CHUNK_SIZE) { /* straddle a boundary */
                off = STORE_CHUNK_SIZE - 10;
                len = 20;
            }
            size_t n = 0;
            assert_int_equal(s->package_read(s->cls, ids[i], (int64_t)off, win, len, &n),
                             STORE_ONE_RESULT);
            size_t expect = sizes[i] - off < len ? sizes[i] - off : len;
            assert_int_equal(n, expect);
            assert_memory_equal(win, data + off, n);
        }
        free(win);
        size_t n = 7;
        uint8_t b;
        assert_int_equal(s->package_read(s->cls, ids[i], (int64_t)sizes[i], &b, 1, &n),
                         STORE_ONE_RESULT);
        assert_int_equal(n, 0);
        free(data);
    }
    size_t n = 0;
    uint8_t b;
    assert_int_equal(s->package_read(s->cls, "ffffffffffffffffffffffff", 0, &b, 1, &n),
                     STORE_NO_RESULTS);

    /* An empty package is allowed: no chunks, reads end at once. */
    put_pkg(s, "000000000000000000000005", "SYS.A", STORE_MSG_STATUS, "000.00.01.H34", "", 0, 1, 0);
    assert_int_equal(s->package_read(s->cls, "000000000000000000000005", 0, &b, 1, &n),
                     STORE_ONE_RESULT);
    assert_int_equal(n, 0);
    store_close(s);
    free(dir);
}

static void test_package_mismatch(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    size_t len = STORE_CHUNK_SIZE + 100;
    uint8_t *data = random_bytes(len, 7);
    char sha[SHA256_HEX_SIZE];
    sha_hex(data, len, sha);
    struct store_package p = {.id = "0000000000000000000000aa",
                              .sender_system = "SYS.A",
                              .messagetype = STORE_MSG_EDOC,
                              .from_organ = "000.00.01.H34",
                              .sha256 = sha,
                              .size = (int64_t)len};

    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    /* A good package in the same batch survives the refused ones. */
    put_pkg_tx(s, "0000000000000000000000bb", "SYS.A", STORE_MSG_EDOC, "000.00.01.H34", "x", 1, 1,
               0);
    /* Wrong hash. */
    char bad[SHA256_HEX_SIZE];
    memcpy(bad, sha, sizeof bad);
    bad[0] = bad[0] == '0' ? '1' : '0';
    p.sha256 = bad;
    struct memsrc m = {.data = data, .len = len};
    assert_int_equal(s->package_insert(s->cls, &p, mem_read, &m), STORE_HARD_ERROR);
    /* Declared size smaller than the bytes. */
    p.sha256 = sha;
    p.size = (int64_t)len - 1;
    m.pos = 0;
    assert_int_equal(s->package_insert(s->cls, &p, mem_read, &m), STORE_HARD_ERROR);
    /* Declared size larger than the bytes. */
    p.size = (int64_t)len + 1;
    m.pos = 0;
    assert_int_equal(s->package_insert(s->cls, &p, mem_read, &m), STORE_HARD_ERROR);
    /* Upper-case or short hashes are refused up front. */
    p.size = (int64_t)len;
    p.sha256 = "ABC";
    m.pos = 0;
    assert_int_equal(s->package_insert(s->cls, &p, mem_read, &m), STORE_HARD_ERROR);
    struct store_package g = {0};
    assert_int_equal(s->package_get(s->cls, "0000000000000000000000aa", &g), STORE_NO_RESULTS);
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);
    assert_int_equal(s->package_get(s->cls, "0000000000000000000000aa", &g), STORE_NO_RESULTS);
    assert_int_equal(s->package_get(s->cls, "0000000000000000000000bb", &g), STORE_ONE_RESULT);
    store_package_clear(&g);

    /* Refused then rolled back: nothing, not even chunk rows. */
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    p.sha256 = bad;
    m.pos = 0;
    assert_int_equal(s->package_insert(s->cls, &p, mem_read, &m), STORE_HARD_ERROR);
    s->write_rollback(s->cls);
    size_t n = 0;
    uint8_t b;
    assert_int_equal(s->package_read(s->cls, "0000000000000000000000aa", 0, &b, 1, &n),
                     STORE_NO_RESULTS);
    /* Then the correct bytes are accepted under the same id. */
    p.sha256 = sha;
    m.pos = 0;
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    assert_int_equal(s->package_insert(s->cls, &p, mem_read, &m), STORE_ONE_RESULT);
    /* The same id twice is an error. */
    m.pos = 0;
    assert_int_equal(s->package_insert(s->cls, &p, mem_read, &m), STORE_HARD_ERROR);
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);
    check_read_all(s, "0000000000000000000000aa", data, len, 100000);
    store_close(s);

    char path[700];
    snprintf(path, sizeof path, "%s/lienthong.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM package_chunk", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 3); /* bb: 1 chunk, aa: 2 chunks */
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(data);
    free(dir);
}

static void test_find_recent(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    char sha[SHA256_HEX_SIZE];
    sha_hex("hello", 5, sha);
    put_pkg(s, "00000000000000000000000a", "SYS.A", STORE_MSG_EDOC, "O1", "hello", 5, 10000, 0);
    put_pkg(s, "00000000000000000000000b", "SYS.A", STORE_MSG_EDOC, "O1", "hello", 5, 20000, 0);
    char id[DOCID_HEX_SIZE];
    assert_int_equal(s->package_find_recent(s->cls, "SYS.A", sha, 15000, id), STORE_ONE_RESULT);
    assert_string_equal(id, "00000000000000000000000b");
    assert_int_equal(s->package_find_recent(s->cls, "SYS.A", sha, 20000, id), STORE_ONE_RESULT);
    assert_int_equal(s->package_find_recent(s->cls, "SYS.A", sha, 20001, id), STORE_NO_RESULTS);
    assert_int_equal(s->package_find_recent(s->cls, "SYS.B", sha, 0, id), STORE_NO_RESULTS);
    char other[SHA256_HEX_SIZE];
    sha_hex("hellp", 5, other);
    assert_int_equal(s->package_find_recent(s->cls, "SYS.A", other, 0, id), STORE_NO_RESULTS);

    /* Inside the writer's transaction its own insert is found. */
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    assert_int_equal(put_pkg_tx(s, "00000000000000000000000c", "SYS.B", STORE_MSG_EDOC, "O2",
                                "hello", 5, 30000, 0),
                     STORE_ONE_RESULT);
    assert_int_equal(s->package_find_recent(s->cls, "SYS.B", sha, 0, id), STORE_ONE_RESULT);
    assert_string_equal(id, "00000000000000000000000c");
    s->write_rollback(s->cls);
    assert_int_equal(s->package_find_recent(s->cls, "SYS.B", sha, 0, id), STORE_NO_RESULTS);
    store_close(s);
    free(dir);
}

/* ---- inboxes -------------------------------------------------------------------------------- */

struct inbox_seen {
    int n;
    char ids[16][40];
    char subj[16][40];
    int stop_after;
};

static int inbox_cb(void *ctx, const struct store_delivery *d, const struct store_package *p)
{
    struct inbox_seen *seen = ctx;
    if (seen->n < 16) {
        snprintf(seen->ids[seen->n], 40, "%s", d->id);
        snprintf(seen->subj[seen->n], 40, "%s", p->subject ? p->subject : "");
    }
    seen->n++;
    return seen->stop_after && seen->n >= seen->stop_after;
}

static void test_inbox(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    put_pkg(s, "00000000000000000000000a", "SYS.A", STORE_MSG_EDOC, "O1", "a", 1, 100, 0);
    put_pkg(s, "00000000000000000000000b", "SYS.A", STORE_MSG_STATUS, "O1", "b", 1, 200, 0);
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    put_dlv(s, "d3", "00000000000000000000000a", "O2", "SYS.B", STORE_MSG_EDOC, 300);
    put_dlv(s, "d1", "00000000000000000000000a", "O3", "SYS.B", STORE_MSG_EDOC, 100);
    put_dlv(s, "d2", "00000000000000000000000b", "O2", "SYS.B", STORE_MSG_STATUS, 200);
    put_dlv(s, "d4", "00000000000000000000000a", "O4", "SYS.C", STORE_MSG_EDOC, 100);
    /* The delivery must name an existing package. */
    struct store_delivery orphan = {.id = "dx",
                                    .package_id = "ffffffffffffffffffffffff",
                                    .recipient_organ = "O2",
                                    .recipient_system = "SYS.B"};
    assert_int_equal(s->delivery_insert(s->cls, &orphan), STORE_HARD_ERROR);
    struct store_delivery g = {0};
    assert_int_equal(s->delivery_get(s->cls, "d3", &g), STORE_ONE_RESULT); /* uncommitted */
    store_delivery_clear(&g);
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);

    struct inbox_seen seen = {0};
    assert_int_equal(s->inbox_list(s->cls, "SYS.B", -1, 0, inbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.ids[0], "d1"); /* oldest first */
    assert_string_equal(seen.ids[1], "d2");
    assert_string_equal(seen.ids[2], "d3");
    assert_string_equal(seen.subj[0], "Subject");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->inbox_list(s->cls, "SYS.B", STORE_MSG_EDOC, 0, inbox_cb, &seen),
                     STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->inbox_list(s->cls, "SYS.B", -1, 2, inbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 1;
    assert_int_equal(s->inbox_list(s->cls, "SYS.B", -1, 0, inbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);

    int64_t c = -1;
    assert_int_equal(s->inbox_count(s->cls, "SYS.B", -1, &c), STORE_ONE_RESULT);
    assert_int_equal(c, 3);
    assert_int_equal(s->inbox_count(s->cls, "SYS.B", STORE_MSG_STATUS, &c), STORE_ONE_RESULT);
    assert_int_equal(c, 1);
    assert_int_equal(s->inbox_count(s->cls, "SYS.Z", -1, &c), STORE_ONE_RESULT);
    assert_int_equal(c, 0);

    assert_int_equal(s->delivery_set_state(s->cls, "d1", STORE_DELIVERY_DONE, 999),
                     STORE_HARD_ERROR); /* outside a transaction */
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    assert_int_equal(s->delivery_set_state(s->cls, "d1", STORE_DELIVERY_DONE, 999),
                     STORE_ONE_RESULT);
    assert_int_equal(s->delivery_set_state(s->cls, "d3", STORE_DELIVERY_FAIL, 999),
                     STORE_ONE_RESULT);
    assert_int_equal(s->delivery_set_state(s->cls, "d2", STORE_DELIVERY_PROCESSING, 999),
                     STORE_ONE_RESULT);
    assert_int_equal(s->delivery_set_state(s->cls, "nope", STORE_DELIVERY_DONE, 999),
                     STORE_NO_RESULTS);
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);

    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->inbox_list(s->cls, "SYS.B", -1, 0, inbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2); /* done is gone, fail and processing stay */
    assert_string_equal(seen.ids[0], "d2");
    assert_string_equal(seen.ids[1], "d3");
    assert_int_equal(s->inbox_count(s->cls, "SYS.B", STORE_MSG_EDOC, &c), STORE_ONE_RESULT);
    assert_int_equal(c, 1);
    assert_int_equal(s->delivery_get(s->cls, "d1", &g), STORE_ONE_RESULT);
    assert_int_equal(g.state, STORE_DELIVERY_DONE);
    assert_int_equal(g.updated_ms, 999);
    assert_int_equal(g.created_ms, 100);
    assert_string_equal(g.recipient_organ, "O3");
    assert_string_equal(g.package_id, "00000000000000000000000a");
    store_delivery_clear(&g);
    assert_int_equal(s->delivery_get(s->cls, "nope", &g), STORE_NO_RESULTS);

    assert_string_equal(store_state_name(STORE_DELIVERY_FAIL), "fail");
    assert_string_equal(store_state_name(STORE_DELIVERY_INITIAL), "initial");
    assert_string_equal(store_msgtype_name(STORE_MSG_STATUS), "status");
    store_close(s);
    free(dir);
}

/* ---- sent list ------------------------------------------------------------------------------ */

struct sent_seen {
    int n;
    char rows[32][80];
};

static int sent_cb(void *ctx, const struct store_sent_row *row)
{
    struct sent_seen *seen = ctx;
    if (seen->n < 32)
        snprintf(seen->rows[seen->n], 80, "%s/%s", row->pkg->id + 22,
                 row->dlv ? row->dlv->recipient_organ : "-");
    seen->n++;
    return 0;
}

static void test_sent_list(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    /* p01..p05 by SYS.A at 100..500; p03 is a status; p04 has no delivery; q01 by SYS.B. */
    const char *ids[] = {"0000000000000000000000p1", "0000000000000000000000p2",
                         "0000000000000000000000p3", "0000000000000000000000p4",
                         "0000000000000000000000p5"};
    for (int i = 0; i < 5; i++)
        put_pkg(s, ids[i], "SYS.A", i == 2 ? STORE_MSG_STATUS : STORE_MSG_EDOC, "O1", "x", 1,
                100 * (i + 1), 0);
    put_pkg(s, "0000000000000000000000q1", "SYS.B", STORE_MSG_EDOC, "O9", "y", 1, 250, 0);
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    put_dlv(s, "u1", ids[0], "O2", "SYS.B", STORE_MSG_EDOC, 100);
    put_dlv(s, "u2", ids[0], "O3", "SYS.C", STORE_MSG_EDOC, 100);
    put_dlv(s, "u3", ids[1], "O2", "SYS.B", STORE_MSG_EDOC, 200);
    put_dlv(s, "u4", ids[2], "O2", "SYS.B", STORE_MSG_STATUS, 300);
    put_dlv(s, "u5", ids[4], "O3", "SYS.C", STORE_MSG_EDOC, 500);
    put_dlv(s, "u6", "0000000000000000000000q1", "O1", "SYS.A", STORE_MSG_EDOC, 250);
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);

    struct sent_seen seen = {0};
    struct store_sent_filter f = {.sender_system = "SYS.A", .messagetype = -1};
    assert_int_equal(s->sent_list(s->cls, &f, sent_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 5); /* p4 has no delivery: no row */
    assert_string_equal(seen.rows[0], "p5/O3");
    assert_string_equal(seen.rows[1], "p3/O2");
    assert_string_equal(seen.rows[2], "p2/O2");
    assert_string_equal(seen.rows[3], "p1/O2");
    assert_string_equal(seen.rows[4], "p1/O3");

    memset(&seen, 0, sizeof seen);
    f.messagetype = STORE_MSG_STATUS;
    assert_int_equal(s->sent_list(s->cls, &f, sent_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.rows[0], "p3/O2");

    memset(&seen, 0, sizeof seen);
    f.messagetype = -1;
    f.package_id = ids[0];
    assert_int_equal(s->sent_list(s->cls, &f, sent_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);

    memset(&seen, 0, sizeof seen);
    f.package_id = NULL;
    f.from_ms = 200;
    f.to_ms = 400;
    assert_int_equal(s->sent_list(s->cls, &f, sent_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.rows[0], "p3/O2");
    assert_string_equal(seen.rows[1], "p2/O2");

    /* limit/offset count packages, not rows. */
    memset(&seen, 0, sizeof seen);
    f.from_ms = f.to_ms = 0;
    f.limit = 1;
    f.offset = 4;
    assert_int_equal(s->sent_list(s->cls, &f, sent_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.rows[0], "p1/O2");

    memset(&seen, 0, sizeof seen);
    f.sender_system = "SYS.Z";
    f.limit = f.offset = 0;
    assert_int_equal(s->sent_list(s->cls, &f, sent_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 0);
    store_close(s);
    free(dir);
}

/* ---- statistics ----------------------------------------------------------------------------- */

struct stats_seen {
    int n;
    struct store_stats_row rows[8];
    char ids[8][32];
};

static int stats_cb(void *ctx, const struct store_stats_row *row)
{
    struct stats_seen *seen = ctx;
    if (seen->n < 8) {
        seen->rows[seen->n] = *row;
        snprintf(seen->ids[seen->n], 32, "%s", row->organ_id);
        seen->rows[seen->n].agency_name = NULL;
        seen->rows[seen->n].organ_id = seen->ids[seen->n];
    }
    seen->n++;
    return 0;
}

static void stats_scenario(struct store *s)
{
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    put_agency(s, "A", "Sở A", NULL);
    put_agency(s, "B", "Sở B", NULL);
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);
    /* A sends e1 (signed) to B and C, e2 (unsigned) to B; B sends status s1 to A;
     * e0 by A is before the period. */
    put_pkg(s, "0000000000000000000000e0", "SYS.A", STORE_MSG_EDOC, "A", "0", 1, 50, 1);
    put_pkg(s, "0000000000000000000000e1", "SYS.A", STORE_MSG_EDOC, "A", "1", 1, 100, 1);
    put_pkg(s, "0000000000000000000000e2", "SYS.A", STORE_MSG_EDOC, "A", "2", 1, 200, 0);
    put_pkg(s, "0000000000000000000000s1", "SYS.B", STORE_MSG_STATUS, "B", "3", 1, 300, 0);
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    put_dlv(s, "r0", "0000000000000000000000e0", "B", "SYS.B", STORE_MSG_EDOC, 50);
    put_dlv(s, "r1", "0000000000000000000000e1", "B", "SYS.B", STORE_MSG_EDOC, 100);
    put_dlv(s, "r2", "0000000000000000000000e1", "C", "SYS.C", STORE_MSG_EDOC, 100);
    put_dlv(s, "r3", "0000000000000000000000e2", "B", "SYS.B", STORE_MSG_EDOC, 200);
    put_dlv(s, "r4", "0000000000000000000000s1", "A", "SYS.A", STORE_MSG_STATUS, 300);
    assert_int_equal(s->delivery_set_state(s->cls, "r1", STORE_DELIVERY_DONE, 400),
                     STORE_ONE_RESULT);
    assert_int_equal(s->delivery_set_state(s->cls, "r2", STORE_DELIVERY_FAIL, 400),
                     STORE_ONE_RESULT);
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);
}

static void test_stats(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    stats_scenario(s);

    struct stats_seen seen = {0};
    assert_int_equal(s->stats(s->cls, 100, 1000, stats_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 4); /* A, B, C, total */
    struct store_stats_row *a = &seen.rows[0], *b = &seen.rows[1], *c = &seen.rows[2],
                           *t = &seen.rows[3];
    assert_string_equal(a->organ_id, "A");
    assert_int_equal(a->edoc_sent, 2);
    assert_int_equal(a->signed_sent, 1);
    assert_int_equal(a->status_sent, 0);
    assert_int_equal(a->status_received, 1);
    assert_int_equal(a->edoc_received, 0);
    assert_int_equal(a->state[STORE_DELIVERY_INITIAL], 1);
    assert_string_equal(b->organ_id, "B");
    assert_int_equal(b->status_sent, 1);
    assert_int_equal(b->edoc_received, 2);
    assert_int_equal(b->state[STORE_DELIVERY_DONE], 1);
    assert_int_equal(b->state[STORE_DELIVERY_INITIAL], 1);
    assert_string_equal(c->organ_id, "C");
    assert_int_equal(c->edoc_received, 1);
    assert_int_equal(c->state[STORE_DELIVERY_FAIL], 1);
    assert_string_equal(t->organ_id, "");
    assert_int_equal(t->edoc_sent, 2);
    assert_int_equal(t->status_sent, 1);
    assert_int_equal(t->signed_sent, 1);
    assert_int_equal(t->edoc_received, 3);
    assert_int_equal(t->status_received, 1);
    assert_int_equal(t->state[0] + t->state[1] + t->state[2] + t->state[3], 4);

    /* Unbounded: e0 and r0 count too. */
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->stats(s->cls, 0, 0, stats_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.rows[3].edoc_sent, 3);
    assert_int_equal(seen.rows[3].edoc_received, 4);

    /* The report module over the same figures. */
    struct stats_result res;
    assert_int_equal(stats_collect(s, 100, 1000, &res), 0);
    assert_int_equal(res.n, 3);
    assert_string_equal(res.rows[0].organ_id, "A");
    assert_string_equal(res.rows[0].agency_name, "Sở A");
    assert_null(res.rows[2].agency_name); /* C is not registered */
    assert_int_equal(res.total.edoc_received, 3);
    json_t *j = stats_to_json(&res, "2026-01-01", "2026-02-01");
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "from")), "2026-01-01");
    json_t *ag = json_object_get(j, "agencies");
    assert_int_equal(json_array_size(ag), 3);
    json_t *ja = json_array_get(ag, 0);
    assert_string_equal(json_string_value(json_object_get(ja, "name")), "Sở A");
    assert_int_equal(json_integer_value(json_object_get(ja, "documents_sent")), 2);
    assert_int_equal(json_integer_value(json_object_get(ja, "signed_sent")), 1);
    json_t *jt = json_object_get(j, "total");
    assert_int_equal(json_integer_value(json_object_get(jt, "documents_received")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(jt, "deliveries"), "fail")),
                     1);
    json_decref(j);

    char *text = NULL;
    size_t text_len = 0;
    FILE *mf = open_memstream(&text, &text_len);
    assert_non_null(mf);
    stats_print_text(&res, mf);
    fclose(mf);
    assert_non_null(strstr(text, "Cơ quan"));
    assert_non_null(strstr(text, "Sở A"));
    assert_non_null(strstr(text, "Tổng cộng"));
    free(text);
    stats_result_clear(&res);
    stats_result_clear(&res); /* idempotent */
    store_close(s);
    free(dir);
}

/* ---- concurrency ---------------------------------------------------------------------------- */

#define CONC_TX 60
#define CONC_READERS 6

struct conc {
    struct store *s;
    atomic_int done;
    atomic_int reads; /* reader iterations, to show they overlapped the writer */
    int errors;
    pthread_mutex_t mu;
};

static void *writer_thread(void *arg)
{
    struct conc *c = arg;
    struct store *s = c->s;
    for (int i = 0; i < CONC_TX; i++) {
        char id[DOCID_HEX_SIZE], did[40], data[64];
        snprintf(id, sizeof id, "%024d", i);
        snprintf(did, sizeof did, "dlv-%d", i);
        int len = snprintf(data, sizeof data, "package number %d", i);
        if (s->write_begin(s->cls) != STORE_ONE_RESULT ||
            put_pkg_tx(s, id, "SYS.A", STORE_MSG_EDOC, "O1", data, (size_t)len, 1000 + i, 0) !=
                STORE_ONE_RESULT) {
            pthread_mutex_lock(&c->mu);
            c->errors++;
            pthread_mutex_unlock(&c->mu);
            continue;
        }
        struct store_delivery d = {.id = did,
                                   .package_id = id,
                                   .recipient_organ = "O2",
                                   .recipient_system = "SYS.B",
                                   .created_ms = 1000 + i};
        struct store_txrec r = {
            .actor = "SYS.A", .operation = "send", .package_id = id, .outcome = "ok"};
        if (s->delivery_insert(s->cls, &d) != STORE_ONE_RESULT ||
            s->txlog_append(s->cls, &r) != STORE_ONE_RESULT ||
            s->write_commit(s->cls) != STORE_ONE_RESULT) {
            pthread_mutex_lock(&c->mu);
            c->errors++;
            pthread_mutex_unlock(&c->mu);
        }
    }
    atomic_store(&c->done, 1);
    return NULL;
}

static int nested_cb(void *ctx, const struct store_delivery *d, const struct store_package *p)
{
    /* A read from inside a list callback (a nested pool connection). */
    struct store *s = ctx;
    char buf[64];
    size_t n = 0;
    if (s->package_read(s->cls, p->id, 0, buf, sizeof buf, &n) != STORE_ONE_RESULT ||
        n != (size_t)p->size)
        return 2;
    (void)d;
    return 0;
}

static void *reader_thread(void *arg)
{
    struct conc *c = arg;
    struct store *s = c->s;
    int64_t last = 0;
    int bad = 0;
    while (!atomic_load(&c->done)) {
        atomic_fetch_add(&c->reads, 1);
        int64_t n = 0;
        if (s->inbox_count(s->cls, "SYS.B", -1, &n) != STORE_ONE_RESULT || n < last)
            bad++;
        last = n;
        if (s->inbox_list(s->cls, "SYS.B", -1, 20, nested_cb, s) != STORE_ONE_RESULT)
            bad++;
        if (n > 0) {
            char id[DOCID_HEX_SIZE], buf[64], expect[64];
            int k = (int)(n - 1);
            snprintf(id, sizeof id, "%024d", k);
            int len = snprintf(expect, sizeof expect, "package number %d", k);
            size_t got = 0;
            if (s->package_read(s->cls, id, 0, buf, sizeof buf, &got) != STORE_ONE_RESULT ||
                got != (size_t)len || memcmp(buf, expect, got) != 0)
                bad++;
        }
    }
    pthread_mutex_lock(&c->mu);
    c->errors += bad;
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct conc c = {.s = open_in(dir)};
    pthread_mutex_init(&c.mu, NULL);
    pthread_t w, r[CONC_READERS];
    for (int i = 0; i < CONC_READERS; i++)
        assert_int_equal(pthread_create(&r[i], NULL, reader_thread, &c), 0);
    assert_int_equal(pthread_create(&w, NULL, writer_thread, &c), 0);
    pthread_join(w, NULL);
    for (int i = 0; i < CONC_READERS; i++)
        pthread_join(r[i], NULL);
    assert_int_equal(c.errors, 0);
    assert_true(atomic_load(&c.reads) > CONC_READERS);
    int64_t n = 0;
    assert_int_equal(c.s->inbox_count(c.s->cls, "SYS.B", -1, &n), STORE_ONE_RESULT);
    assert_int_equal(n, CONC_TX);
    int64_t seq = 0;
    char hash[65];
    assert_int_equal(c.s->txlog_head(c.s->cls, &seq, hash), STORE_ONE_RESULT);
    assert_int_equal(seq, CONC_TX);

    /* Another store on the same directory (like the CLI next to the server) sees the commits. */
    struct store *s2 = open_in(dir);
    assert_int_equal(s2->inbox_count(s2->cls, "SYS.B", -1, &n), STORE_ONE_RESULT);
    assert_int_equal(n, CONC_TX);
    store_close(s2);
    store_close(c.s);
    pthread_mutex_destroy(&c.mu);
    free(dir);
}

/* ---- transaction log: the head across transactions and writers ------------------------------ */

/* Walks the log: seq must run 1, 2, 3... and each prev_hash be the previous hash. */
struct tx_walk {
    int64_t n;
    char prev[65];
    int bad;
    int64_t by_a, by_b; /* records whose actor is "A..." / "B..." */
    int64_t switches;   /* records whose actor's letter differs from the previous record's */
    char last;
};

static int tx_walk_cb(void *ctx, const struct store_txrec *r)
{
    struct tx_walk *w = ctx;
    if (r->seq != w->n + 1 || strcmp(r->prev_hash, w->n ? w->prev : AUDIT_GENESIS) != 0)
        w->bad++;
    w->n = r->seq;
    memcpy(w->prev, r->hash, 65);
    if (w->n > 1 && r->actor[0] != w->last)
        w->switches++;
    w->last = r->actor[0];
    if (r->actor[0] == 'A')
        w->by_a++;
    else if (r->actor[0] == 'B')
        w->by_b++;
    return 0;
}

/* The log holds exactly n records, contiguous and linked, its head in meta is the last one, and
 * audit_verify agrees. */
static struct tx_walk check_log(struct store *s, int64_t n)
{
    struct tx_walk w = {0};
    assert_int_equal(s->txlog_scan(s->cls, tx_walk_cb, &w), STORE_ONE_RESULT);
    assert_int_equal(w.bad, 0);
    assert_int_equal(w.n, n);
    int64_t seq = -1;
    char hash[65];
    if (n == 0) {
        assert_int_equal(s->txlog_head(s->cls, &seq, hash), STORE_NO_RESULTS);
    } else {
        assert_int_equal(s->txlog_head(s->cls, &seq, hash), STORE_ONE_RESULT);
        assert_int_equal(seq, n);
        assert_string_equal(hash, w.prev);
    }
    struct audit_report rep;
    assert_int_equal(audit_verify(s, &rep), 0);
    if (!rep.ok)
        fail_msg("audit_verify: %s", rep.reason);
    assert_int_equal(rep.records, n);
    return w;
}

/* One transaction of k appends by actor; expects them to get seq first, first + 1, ... */
static void append_tx(struct store *s, const char *actor, int k, int64_t first, int commit)
{
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    for (int i = 0; i < k; i++) {
        char obj[32];
        snprintf(obj, sizeof obj, "%s-%d", actor, i);
        struct store_call k_call = {.time_ms = 1700000000000 + i,
                                    .request_id = obj,
                                    .consumer = actor,
                                    .method = "GET",
                                    .path = "/x",
                                    .status = 200};
        assert_int_equal(s->call_insert(s->cls, &k_call), STORE_ONE_RESULT);
        struct store_txrec r = {
            .actor = actor, .operation = "call", .package_id = obj, .outcome = "ok"};
        assert_int_equal(s->txlog_append(s->cls, &r), STORE_ONE_RESULT);
        assert_int_equal(r.seq, first + i);
        /* The writer sees its own head, ahead of what meta holds until the commit. */
        int64_t seq = 0;
        char hash[65];
        assert_int_equal(s->txlog_head(s->cls, &seq, hash), STORE_ONE_RESULT);
        assert_int_equal(seq, r.seq);
        assert_string_equal(hash, r.hash);
    }
    if (commit)
        assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);
    else
        s->write_rollback(s->cls);
}

static int count_calls_cb(void *ctx, const struct store_call *c)
{
    (void)c;
    (*(int64_t *)ctx)++;
    return 0;
}

static int64_t count_calls(struct store *s)
{
    int64_t n = 0;
    assert_int_equal(s->call_scan(s->cls, 0, 0, count_calls_cb, &n), STORE_ONE_RESULT);
    return n;
}

static void raw_exec(const char *dir, const char *sql)
{
    char path[600];
    snprintf(path, sizeof path, "%s/lienthong.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void test_txlog_transactions(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *a = open_in(dir);
    struct store *b = open_in(dir); /* like the CLI next to the server */
    check_log(a, 0);

    /* A transaction that writes no record leaves the log (and meta) alone. */
    assert_int_equal(a->write_begin(a->cls), STORE_ONE_RESULT);
    assert_int_equal(a->write_commit(a->cls), STORE_ONE_RESULT);
    check_log(a, 0);

    append_tx(a, "A1", 5, 1, 1);  /* 1..5 */
    append_tx(b, "B1", 2, 6, 1);  /* 6..7: b read the head a committed */
    append_tx(a, "A2", 3, 8, 1);  /* 8..10: a read it again, after b */
    append_tx(a, "A3", 4, 11, 0); /* rolled back: no trace */
    check_log(b, 10);
    append_tx(b, "B2", 1, 11, 1); /* 11: the rolled-back seqs are reused, no gap */
    append_tx(a, "A4", 2, 12, 1); /* 12..13: a forgot the rolled-back head */
    append_tx(a, "A5", 0, 14, 1); /* an empty transaction between */
    append_tx(b, "B3", 3, 14, 0); /* b's rollback */
    append_tx(a, "A6", 1, 14, 1);
    append_tx(b, "B4", 1, 15, 1);
    struct tx_walk w = check_log(a, 15);
    assert_int_equal(w.by_a, 11);
    assert_int_equal(w.by_b, 4);
    check_log(b, 15);
    assert_int_equal(count_calls(a), 15);

    /* While a transaction is open, another store (and the other threads of this one) see the
     * committed head only. */
    assert_int_equal(a->write_begin(a->cls), STORE_ONE_RESULT);
    struct store_txrec r = {.actor = "A7", .operation = "x", .outcome = "ok"};
    assert_int_equal(a->txlog_append(a->cls, &r), STORE_ONE_RESULT);
    assert_int_equal(r.seq, 16);
    int64_t seq = 0;
    char hash[65];
    assert_int_equal(b->txlog_head(b->cls, &seq, hash), STORE_ONE_RESULT);
    assert_int_equal(seq, 15);
    assert_int_equal(a->write_commit(a->cls), STORE_ONE_RESULT);
    assert_int_equal(b->txlog_head(b->cls, &seq, hash), STORE_ONE_RESULT);
    assert_int_equal(seq, 16);
    assert_string_equal(hash, r.hash);

    /* When the head cannot be written at commit, nothing of the transaction is committed. */
    raw_exec(dir, "CREATE TRIGGER no_head BEFORE UPDATE ON meta"
                  " BEGIN SELECT RAISE(ABORT, 'head refused'); END");
    assert_int_equal(a->write_begin(a->cls), STORE_ONE_RESULT);
    struct store_call k = {.request_id = "lost", .method = "GET", .path = "/", .status = 200};
    assert_int_equal(a->call_insert(a->cls, &k), STORE_ONE_RESULT);
    r = (struct store_txrec){.actor = "A8", .operation = "call", .outcome = "ok"};
    assert_int_equal(a->txlog_append(a->cls, &r), STORE_ONE_RESULT);
    assert_int_equal(r.seq, 17);
    assert_int_equal(a->write_commit(a->cls), STORE_HARD_ERROR);
    a->write_rollback(a->cls); /* as the committer does: harmless after a failed commit */
    assert_int_equal(count_calls(a), 15); /* the call went with the record */
    raw_exec(dir, "DROP TRIGGER no_head");
    check_log(a, 16);
    /* The store recovers: the next transaction appends 17. */
    append_tx(a, "A9", 1, 17, 1);
    check_log(b, 17);

    store_close(b);
    store_close(a);
    /* And after reopening. */
    a = open_in(dir);
    append_tx(a, "A10", 2, 18, 1);
    check_log(a, 19);
    store_close(a);
    free(dir);
}

/* The committer logs calls on one store while another store on the same directory (a thread
 * standing for another process) appends in its own transactions, in lockstep: the other's
 * transaction t starts once the committer has finished TW_STEP * t jobs, and jobs from
 * TW_STEP * t on are submitted once the other's transaction t has ended. So the log must read
 * B0, A[0, TW_STEP), B1, A[TW_STEP, 2 TW_STEP), ... (Bt missing when it was rolled back). */
#define TW_OTHER_TX 40
#define TW_STEP 10
#define TW_JOBS (TW_OTHER_TX * TW_STEP)

struct tw_job {
    struct commit_job job;
    int i;
    atomic_int *done, *failed;
};

static enum store_rc tw_execute(struct store *st, struct commit_job *cj)
{
    struct tw_job *j = (struct tw_job *)cj;
    char id[32];
    snprintf(id, sizeof id, "req-%d", j->i);
    struct store_call k = {.time_ms = 1700000000000 + j->i,
                           .request_id = id,
                           .consumer = "A",
                           .method = "GET",
                           .path = "/x",
                           .status = 200};
    enum store_rc rc = st->call_insert(st->cls, &k);
    if (rc != STORE_ONE_RESULT)
        return rc;
    struct store_txrec r = {.actor = "A", .operation = "call", .package_id = id, .outcome = "ok"};
    return st->txlog_append(st->cls, &r);
}

static void tw_done(struct commit_job *cj, int ok)
{
    struct tw_job *j = (struct tw_job *)cj;
    atomic_int *done = j->done;
    if (!ok)
        atomic_fetch_add(j->failed, 1);
    free(j);
    atomic_fetch_add(done, 1);
}

struct tw_other {
    struct store *s;
    atomic_int *done; /* jobs the committer finished */
    atomic_int ended; /* transactions this writer ended */
    int errors;
};

static void tw_wait(atomic_int *v, int at_least)
{
    while (atomic_load(v) < at_least) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

static int tw_rolled_back(int t)
{
    return t % 7 == 3;
}

static void *tw_other_main(void *arg)
{
    struct tw_other *o = arg;
    struct store *s = o->s;
    for (int t = 0; t < TW_OTHER_TX; t++) {
        tw_wait(o->done, TW_STEP * t);
        if (s->write_begin(s->cls) != STORE_ONE_RESULT) {
            o->errors++;
            atomic_fetch_add(&o->ended, 1);
            continue;
        }
        int ok = 1;
        for (int i = 0; i < 1 + t % 3 && ok; i++) {
            struct store_txrec r = {.actor = "B", .operation = "agency.add", .outcome = "ok"};
            ok = s->txlog_append(s->cls, &r) == STORE_ONE_RESULT;
        }
        if (!ok || tw_rolled_back(t)) {
            s->write_rollback(s->cls);
            o->errors += !ok;
        } else if (s->write_commit(s->cls) != STORE_ONE_RESULT) {
            o->errors++;
        }
        atomic_fetch_add(&o->ended, 1);
    }
    return NULL;
}

static void test_txlog_two_writers(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *a = open_in(dir);
    atomic_int done = 0, failed = 0;
    struct tw_other o = {.s = open_in(dir), .done = &done};
    char err[256] = "";
    struct committer *cm = committer_start(a, err, sizeof err);
    assert_non_null(cm);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, tw_other_main, &o), 0);
    for (int i = 0; i < TW_JOBS; i++) {
        if (i % TW_STEP == 0)
            tw_wait(&o.ended, i / TW_STEP + 1);
        struct tw_job *j = calloc(1, sizeof *j);
        assert_non_null(j);
        *j = (struct tw_job){.job = {.execute = tw_execute, .done = tw_done},
                             .i = i,
                             .done = &done,
                             .failed = &failed};
        assert_int_equal(committer_submit(cm, &j->job), 0);
    }
    pthread_join(th, NULL);
    committer_free(cm); /* runs what is still queued */
    assert_int_equal(atomic_load(&done), TW_JOBS);
    assert_int_equal(atomic_load(&failed), 0);
    assert_int_equal(o.errors, 0);

    int64_t by_b = 0, b_tx = 0;
    for (int t = 0; t < TW_OTHER_TX; t++)
        if (!tw_rolled_back(t)) {
            by_b += 1 + t % 3;
            b_tx++;
        }
    struct tx_walk w = check_log(a, TW_JOBS + by_b);
    assert_int_equal(w.by_a, TW_JOBS);
    assert_int_equal(w.by_b, by_b);
    /* B0 first, then every committed Bt between two runs of A (the last record is A's). */
    assert_int_equal(w.switches, 2 * b_tx - 1);
    assert_int_equal(w.last, 'A');
    assert_int_equal(count_calls(a), TW_JOBS);
    check_log(o.s, TW_JOBS + by_b);
    store_close(o.s);
    store_close(a);
    free(dir);
}

/* Lazy jobs: a lone one is committed after about COMMITTER_LAZY_MS, not never; a job someone
 * waits for takes the lazy ones queued before it along at once, in one transaction. */
static int lazy_wait(atomic_int *done, int want, int max_ms)
{
    for (int ms = 0; ms < max_ms; ms++) {
        if (atomic_load(done) >= want)
            return ms;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void test_committer_lazy(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *a = open_in(dir);
    atomic_int done = 0, failed = 0;
    char err[256] = "";
    struct committer *cm = committer_start(a, err, sizeof err);
    assert_non_null(cm);
    struct tw_job *j = calloc(1, sizeof *j);
    assert_non_null(j);
    *j = (struct tw_job){.job = {.execute = tw_execute, .done = tw_done, .lazy = 1},
                         .i = 0,
                         .done = &done,
                         .failed = &failed};
    assert_int_equal(committer_submit(cm, &j->job), 0);
    /* committed by its deadline (bounded wait: 100 times the deadline) */
    assert_true(lazy_wait(&done, 1, 100 * COMMITTER_LAZY_MS) >= 0);

    uint64_t batches0, jobs0;
    committer_counts(cm, &batches0, &jobs0);
    for (int i = 1; i <= 11; i++) {
        j = calloc(1, sizeof *j);
        assert_non_null(j);
        *j = (struct tw_job){.job = {.execute = tw_execute, .done = tw_done, .lazy = i < 11},
                             .i = i,
                             .done = &done,
                             .failed = &failed};
        assert_int_equal(committer_submit(cm, &j->job), 0);
    }
    assert_true(lazy_wait(&done, 12, 100 * COMMITTER_LAZY_MS) >= 0);
    uint64_t batches, jobs;
    committer_counts(cm, &batches, &jobs);
    assert_int_equal(jobs - jobs0, 11);
    assert_true(batches - batches0 <= 3); /* not one per job (slack for a slow machine) */
    committer_free(cm);
    assert_int_equal(atomic_load(&failed), 0);
    assert_int_equal(count_calls(a), 12);
    store_close(a);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_reopen),       cmocka_unit_test(test_registry),
        cmocka_unit_test(test_package_sizes),     cmocka_unit_test(test_package_mismatch),
        cmocka_unit_test(test_find_recent),       cmocka_unit_test(test_inbox),
        cmocka_unit_test(test_sent_list),         cmocka_unit_test(test_stats),
        cmocka_unit_test(test_concurrent),        cmocka_unit_test(test_txlog_transactions),
        cmocka_unit_test(test_txlog_two_writers), cmocka_unit_test(test_committer_lazy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
