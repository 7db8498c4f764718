/* test_relay_store — the relay's part of the SQLite store against a real database in $LT_TMP:
 * the platform identity (one row, created kept), peers (upsert, list order, the secret stored
 * as given, removal refused while routes name the peer), routes (unknown peer refused, list and
 * its filter, removal), rolled-back writes, the configuration generation, the upgrade of a
 * database written before the relay existed; and the decision against that store
 * (src/relay/which.c): what is local, the routes as loaded, route which. */
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

#include "relay/which.h"
#include "store/sqlite_schema.h"
#include "store/store.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static char *make_tmpdir(void)
{
    const char *base = getenv("LT_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700);
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/storerelay-XXXXXX", base);
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

static void begin(struct store *s)
{
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
}

static void commit(struct store *s)
{
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);
}

static struct store_peer peer(const char *name, const char *endpoint)
{
    return (struct store_peer){
        .name = (char *)name,
        .endpoint = (char *)endpoint,
        .system_id = "000.00.00.H34",
        .secret = "A7TK secret/with+chars=",
        .pull_interval_ms = 2000,
    };
}

static void put_peer(struct store *s, const char *name)
{
    struct store_peer p = peer(name, "https://vdxp.gov.vn/vxp");
    assert_int_equal(s->peer_put(s->cls, &p), STORE_ONE_RESULT);
}

static void put_route(struct store *s, const char *pattern, const char *peer_name)
{
    struct store_relay_route r = {.pattern = (char *)pattern, .peer = (char *)peer_name};
    assert_int_equal(s->relay_route_put(s->cls, &r), STORE_ONE_RESULT);
}

/* Lists collected as "a>b" strings. */
struct seen {
    int n, stop_after;
    char key[16][160];
};

static int peer_cb(void *ctx, const struct store_peer *p)
{
    struct seen *s = ctx;
    if (s->n < 16)
        snprintf(s->key[s->n], sizeof s->key[0], "%s>%s", p->name, p->endpoint);
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static int route_cb(void *ctx, const struct store_relay_route *r)
{
    struct seen *s = ctx;
    if (s->n < 16)
        snprintf(s->key[s->n], sizeof s->key[0], "%s>%s", r->pattern, r->peer);
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

/* ---- platform ------------------------------------------------------------------------------- */

static void test_platform(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    struct store_platform p = {0};
    assert_int_equal(s->platform_get(s->cls, &p), STORE_NO_RESULTS);
    assert_null(p.organ_id);

    uint64_t g = s->config_generation(s->cls);
    begin(s);
    struct store_platform in = {.organ_id = "000.00.00.H34",
                                .name = "UBND tỉnh Kon Tum",
                                .created_ms = 1000,
                                .updated_ms = 1000};
    assert_int_equal(s->platform_put(s->cls, &in), STORE_ONE_RESULT);
    /* seen by the writer inside its transaction */
    assert_int_equal(s->platform_get(s->cls, &p), STORE_ONE_RESULT);
    store_platform_clear(&p);
    commit(s);
    assert_int_equal(s->config_generation(s->cls), g + 1);

    assert_int_equal(s->platform_get(s->cls, &p), STORE_ONE_RESULT);
    assert_string_equal(p.organ_id, "000.00.00.H34");
    assert_string_equal(p.name, "UBND tỉnh Kon Tum");
    assert_int_equal(p.created_ms, 1000);
    store_platform_clear(&p);
    assert_null(p.name);

    /* replaced: still one identity, created kept */
    begin(s);
    in = (struct store_platform){
        .organ_id = "000.00.01.H34", .name = "VP UBND", .created_ms = 5000, .updated_ms = 5000};
    assert_int_equal(s->platform_put(s->cls, &in), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(s->platform_get(s->cls, &p), STORE_ONE_RESULT);
    assert_string_equal(p.organ_id, "000.00.01.H34");
    assert_string_equal(p.name, "VP UBND");
    assert_int_equal(p.created_ms, 1000);
    assert_int_equal(p.updated_ms, 5000);
    store_platform_clear(&p);

    /* rolled back: nothing changes */
    begin(s);
    in.organ_id = "000.00.02.H34";
    assert_int_equal(s->platform_put(s->cls, &in), STORE_ONE_RESULT);
    s->write_rollback(s->cls);
    assert_int_equal(s->platform_get(s->cls, &p), STORE_ONE_RESULT);
    assert_string_equal(p.organ_id, "000.00.01.H34");
    store_platform_clear(&p);

    /* writes outside a transaction and incomplete input are refused */
    assert_int_equal(s->platform_put(s->cls, &in), STORE_HARD_ERROR);
    begin(s);
    struct store_platform half = {.organ_id = "000.00.00.H34"};
    assert_int_equal(s->platform_put(s->cls, &half), STORE_HARD_ERROR);
    s->write_rollback(s->cls);
    store_platform_clear(NULL);

    store_close(s);
    free(dir);
}

/* ---- peers and routes ----------------------------------------------------------------------- */

static void test_peers_routes(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    struct store *other = open_in(dir); /* another process on the same directory */
    uint64_t g = other->config_generation(other->cls);

    begin(s);
    put_peer(s, "ndxp");
    put_peer(s, "hoabinh");
    put_peer(s, "danang");
    commit(s);
    assert_int_equal(other->config_generation(other->cls), ++g);

    struct seen seen = {0};
    assert_int_equal(other->peer_list(other->cls, peer_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.key[0], "danang>https://vdxp.gov.vn/vxp");
    assert_string_equal(seen.key[1], "hoabinh>https://vdxp.gov.vn/vxp");
    assert_string_equal(seen.key[2], "ndxp>https://vdxp.gov.vn/vxp");
    seen = (struct seen){.stop_after = 1};
    assert_int_equal(other->peer_list(other->cls, peer_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);

    /* the secret is stored as given (it signs requests to the peer) */
    struct store_peer p = {0};
    assert_int_equal(other->peer_get(other->cls, "ndxp", &p), STORE_ONE_RESULT);
    assert_string_equal(p.secret, "A7TK secret/with+chars=");
    assert_string_equal(p.system_id, "000.00.00.H34");
    assert_int_equal(p.pull_interval_ms, 2000);
    int64_t created = p.created_ms;
    assert_true(created > 0);
    store_peer_clear(&p);
    assert_null(p.secret);
    assert_int_equal(other->peer_get(other->cls, "nobody", &p), STORE_NO_RESULTS);

    /* update by name keeps created */
    begin(s);
    struct store_peer up = peer("ndxp", "https://ndxp.gov.vn/");
    up.secret = "rotated";
    up.pull_interval_ms = 500;
    up.created_ms = created + 99999;
    assert_int_equal(s->peer_put(s->cls, &up), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(s->peer_get(s->cls, "ndxp", &p), STORE_ONE_RESULT);
    assert_string_equal(p.endpoint, "https://ndxp.gov.vn/");
    assert_string_equal(p.secret, "rotated");
    assert_int_equal(p.pull_interval_ms, 500);
    assert_int_equal(p.created_ms, created);
    store_peer_clear(&p);

    /* routes: an unknown peer stores nothing */
    begin(s);
    struct store_relay_route r = {.pattern = "*.H41", .peer = "nghean"};
    assert_int_equal(s->relay_route_put(s->cls, &r), STORE_NO_RESULTS);
    put_route(s, "*", "ndxp");
    put_route(s, "*.H30", "hoabinh");
    put_route(s, "000.00.*.H30", "ndxp");
    put_route(s, "*.H43", "danang");
    commit(s);
    g = other->config_generation(other->cls);
    struct store_relay_route got = {0};
    assert_int_equal(s->relay_route_get(s->cls, "*.H41", &got), STORE_NO_RESULTS);
    assert_int_equal(s->relay_route_get(s->cls, "*.H30", &got), STORE_ONE_RESULT);
    assert_string_equal(got.peer, "hoabinh");
    assert_true(got.created_ms > 0);
    store_relay_route_clear(&got);

    seen = (struct seen){0};
    assert_int_equal(s->relay_route_list(s->cls, NULL, route_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 4); /* byte order of the patterns */
    assert_string_equal(seen.key[0], "*>ndxp");
    assert_string_equal(seen.key[1], "*.H30>hoabinh");
    assert_string_equal(seen.key[2], "*.H43>danang");
    assert_string_equal(seen.key[3], "000.00.*.H30>ndxp");
    seen = (struct seen){0};
    assert_int_equal(s->relay_route_list(s->cls, "ndxp", route_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.key[0], "*>ndxp");
    assert_string_equal(seen.key[1], "000.00.*.H30>ndxp");
    seen = (struct seen){0};
    assert_int_equal(s->relay_route_list(s->cls, "nobody", route_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 0);

    /* a peer that routes name cannot go; the refusal changes nothing */
    begin(s);
    assert_int_equal(s->peer_remove(s->cls, "ndxp"), STORE_HARD_ERROR);
    assert_int_equal(s->peer_remove(s->cls, "nobody"), STORE_NO_RESULTS);
    assert_int_equal(s->relay_route_remove(s->cls, "nothing*"), STORE_NO_RESULTS);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), g); /* nothing changed */
    assert_int_equal(s->peer_get(s->cls, "ndxp", &p), STORE_ONE_RESULT);
    store_peer_clear(&p);

    /* a route moves to another peer by put */
    begin(s);
    put_route(s, "000.00.*.H30", "hoabinh");
    commit(s);
    assert_int_equal(s->relay_route_get(s->cls, "000.00.*.H30", &got), STORE_ONE_RESULT);
    assert_string_equal(got.peer, "hoabinh");
    store_relay_route_clear(&got);

    /* removing the last route of a peer frees it */
    begin(s);
    assert_int_equal(s->relay_route_remove(s->cls, "*"), STORE_ONE_RESULT);
    assert_int_equal(s->peer_remove(s->cls, "ndxp"), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), g + 2);
    assert_int_equal(other->peer_get(other->cls, "ndxp", &p), STORE_NO_RESULTS);

    /* rolled back: the route and the peer are back */
    begin(s);
    assert_int_equal(s->relay_route_remove(s->cls, "*.H43"), STORE_ONE_RESULT);
    assert_int_equal(s->peer_remove(s->cls, "danang"), STORE_ONE_RESULT);
    s->write_rollback(s->cls);
    assert_int_equal(s->relay_route_get(s->cls, "*.H43", &got), STORE_ONE_RESULT);
    store_relay_route_clear(&got);
    assert_int_equal(s->peer_get(s->cls, "danang", &p), STORE_ONE_RESULT);
    store_peer_clear(&p);
    assert_int_equal(other->config_generation(other->cls), g + 2);

    /* outside a transaction, or incomplete: refused */
    assert_int_equal(s->peer_put(s->cls, &up), STORE_HARD_ERROR);
    assert_int_equal(s->relay_route_remove(s->cls, "*.H43"), STORE_HARD_ERROR);
    begin(s);
    struct store_peer half = {.name = "x", .endpoint = "http://h/"};
    assert_int_equal(s->peer_put(s->cls, &half), STORE_HARD_ERROR);
    struct store_relay_route half_r = {.pattern = "*"};
    assert_int_equal(s->relay_route_put(s->cls, &half_r), STORE_HARD_ERROR);
    s->write_rollback(s->cls);
    store_peer_clear(NULL);
    store_relay_route_clear(NULL);

    store_close(other);
    store_close(s);
    free(dir);
}

/* ---- the decision against the store --------------------------------------------------------- */

static void test_which(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    struct relay_answer a;

    /* empty store: nothing is local, nothing routes */
    assert_int_equal(relay_which(s, "000.00.00.G22", &a), LT_ERR_OK);
    assert_int_equal(a.target, RELAY_NONE);
    assert_string_equal(a.peer, "");
    assert_int_equal(relay_which(s, "a b", &a), LT_ERR_BAD_ORGAN_ID);
    assert_int_equal(relay_which(s, "*", &a), LT_ERR_BAD_ORGAN_ID);

    begin(s);
    struct store_agency ag = {.id = "000.00.00.H34", .name = "UBND tỉnh"};
    assert_int_equal(s->agency_put(s->cls, &ag), STORE_ONE_RESULT);
    ag = (struct store_agency){.id = "000.00.06.H34", .name = "Sở Tư pháp"};
    assert_int_equal(s->agency_put(s->cls, &ag), STORE_ONE_RESULT);
    struct store_system sys = {.id = "000.00.01.H34", .agency_id = "000.00.00.H34", .secret = "k"};
    assert_int_equal(s->system_put(s->cls, &sys), STORE_ONE_RESULT);
    assert_int_equal(s->serves_add(s->cls, "000.00.01.H34", "000.00.01.H34"), STORE_ONE_RESULT);
    assert_int_equal(s->serves_add(s->cls, "000.00.01.H34", "000.00.07.H34"), STORE_ONE_RESULT);
    struct store_platform pl = {.organ_id = "000.00.99.H34", .name = "LGSP Kon Tum"};
    assert_int_equal(s->platform_put(s->cls, &pl), STORE_ONE_RESULT);
    put_peer(s, "ndxp");
    put_peer(s, "hoabinh");
    put_route(s, "*", "ndxp");
    put_route(s, "*.H30", "hoabinh");
    put_route(s, "000.00.*.H30", "ndxp");
    put_route(s, "*.H34", "ndxp"); /* the province itself: only unknown organs take it */
    commit(s);

    /* local: a registered agency (served or not), a served organ, the platform's own id */
    const char *local[] = {"000.00.00.H34", "000.00.06.H34", "000.00.01.H34",
                           "000.00.07.H34", "000.00.99.H34", NULL};
    for (size_t i = 0; local[i]; i++) {
        assert_int_equal(relay_store_is_local(s, local[i]), 1);
        assert_int_equal(relay_which(s, local[i], &a), LT_ERR_OK);
        if (a.target != RELAY_LOCAL)
            fail_msg("%s is not local", local[i]);
        assert_string_equal(a.pattern, "");
    }
    assert_int_equal(relay_store_is_local(s, "000.00.08.H34"), 0);
    assert_int_equal(relay_which(s, "000.00.08.H34", &a), LT_ERR_OK);
    assert_int_equal(a.target, RELAY_PEER);
    assert_string_equal(a.peer, "ndxp");
    assert_string_equal(a.pattern, "*.H34");
    assert_int_equal(relay_which(s, "000.00.00.H30", &a), LT_ERR_OK);
    assert_string_equal(a.peer, "ndxp");
    assert_string_equal(a.pattern, "000.00.*.H30");
    assert_int_equal(relay_which(s, "001.00.00.H30", &a), LT_ERR_OK);
    assert_string_equal(a.peer, "hoabinh");
    assert_string_equal(a.pattern, "*.H30");
    assert_int_equal(relay_which(s, "000.00.00.G22", &a), LT_ERR_OK);
    assert_string_equal(a.pattern, "*");

    /* the table as loaded: most specific first, rows and routes aligned */
    struct relay_table t = {0};
    assert_int_equal(relay_table_load(s, NULL, &t), STORE_ONE_RESULT);
    assert_int_equal(t.n, 4);
    const char *order[] = {"000.00.*.H30", "*.H30", "*.H34", "*"};
    for (size_t i = 0; i < t.n; i++) {
        assert_string_equal(t.routes[i].pattern, order[i]);
        assert_ptr_equal(t.routes[i].pattern, t.rows[i].pattern);
        assert_ptr_equal(t.routes[i].peer, t.rows[i].peer);
    }
    relay_table_free(&t);
    assert_int_equal(relay_table_load(s, "hoabinh", &t), STORE_ONE_RESULT);
    assert_int_equal(t.n, 1);
    relay_table_free(&t);
    assert_int_equal(relay_table_load(s, "nobody", &t), STORE_ONE_RESULT);
    assert_int_equal(t.n, 0);
    assert_null(t.routes);
    relay_table_free(&t);
    relay_table_free(NULL);

    /* the platform's own id is local only while it is the platform's */
    begin(s);
    pl.organ_id = "000.00.98.H34";
    assert_int_equal(s->platform_put(s->cls, &pl), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(relay_which(s, "000.00.99.H34", &a), LT_ERR_OK);
    assert_int_equal(a.target, RELAY_PEER);
    assert_int_equal(relay_store_is_local(s, "000.00.98.H34"), 1);

    store_close(s);
    free(dir);
}

/* ---- upgrade -------------------------------------------------------------------------------- */

/* A database of schema 2 (written before the relay) gains the relay's tables on open and keeps
 * its data. */
static void test_upgrade(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    begin(s);
    struct store_agency ag = {.id = "000.00.00.H34", .name = "UBND"};
    assert_int_equal(s->agency_put(s->cls, &ag), STORE_ONE_RESULT);
    commit(s);
    store_close(s);

    char path[700];
    snprintf(path, sizeof path, "%s/lienthong.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE route; DROP TABLE peer; DROP TABLE platform;"
                                  " DELETE FROM schema_version WHERE version >= 3",
                                  0, 0, 0),
                     SQLITE_OK);
    sqlite3_close(db);

    s = open_in(dir);
    struct store_agency got = {0};
    assert_int_equal(s->agency_get(s->cls, "000.00.00.H34", &got), STORE_ONE_RESULT);
    store_agency_clear(&got);
    begin(s);
    put_peer(s, "ndxp");
    put_route(s, "*", "ndxp");
    commit(s);
    store_close(s);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_version", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), sqlite_schema_current());
    assert_true(sqlite_schema_current() >= 3);
    sqlite3_finalize(st);
    /* the database's own guards: one platform row, routes refer to peers */
    assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON", 0, 0, 0), SQLITE_OK);
    assert_int_not_equal(
        sqlite3_exec(db, "INSERT INTO platform VALUES (2, '000.00.00.H34', 'x', 1, 1)", 0, 0, 0),
        SQLITE_OK);
    assert_int_not_equal(
        sqlite3_exec(db, "INSERT INTO route VALUES ('*.H30', 'nobody', 1)", 0, 0, 0), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM peer WHERE name = 'ndxp'", 0, 0, 0),
                         SQLITE_OK);
    sqlite3_close(db);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_platform),
        cmocka_unit_test(test_peers_routes),
        cmocka_unit_test(test_which),
        cmocka_unit_test(test_upgrade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
