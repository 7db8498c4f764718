/* test_relay_store — the relay's part of the SQLite store against a real database in $LT_TMP:
 * the platform identity (one row, created kept), peers (upsert, list order, the secret stored
 * as given, removal refused while routes name the peer), routes (unknown peer refused, list and
 * its filter, removal), rolled-back writes, the configuration generation; the decision against
 * that store (src/relay/which.c): what is local, the routes as loaded, route which; the relay's
 * traffic: outbox rows (every field, due and tracking order, limits, the time boundary), relayed
 * and status fields of deliveries, the origin of packages, the sender's report with its outbox
 * rows, inbound records, peer health (not configuration) and the inbound system (configuration),
 * the per-peer figures; and the upgrade of databases written before the relay (schema 2) and
 * before its traffic (schema 3). */
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
#include "util/crypto.h"

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

/* ---- relay traffic: helpers ----------------------------------------------------------------- */

static long one_shot_read(void *ctx, void *buf, size_t cap)
{
    const char **src = ctx;
    size_t n = strlen(*src);
    if (n > cap)
        n = cap;
    memcpy(buf, *src, n);
    *src += n;
    return (long)n;
}

/* A package of a few bytes (its id as content), inside the caller's transaction. */
static void put_pkg(struct store *s, const char *id, enum store_msgtype type, const char *from,
                    const char *document_id, const char *origin_peer, int64_t created)
{
    uint8_t d[SHA256_LEN];
    char sha[SHA256_HEX_SIZE];
    assert_int_equal(sha256(id, strlen(id), d), 0);
    hex_encode(d, SHA256_LEN, sha);
    struct store_package p = {
        .id = (char *)id,
        .sender_system = origin_peer ? "SYS.NDXP" : "SYS.A",
        .messagetype = type,
        .from_organ = (char *)from,
        .sha256 = sha,
        .size = (int64_t)strlen(id),
        .created_ms = created,
        .document_id = (char *)document_id,
        .origin_peer = (char *)origin_peer,
    };
    const char *src = id;
    assert_int_equal(s->package_insert(s->cls, &p, one_shot_read, &src), STORE_ONE_RESULT);
}

static void put_dlv(struct store *s, const char *id, const char *pkg, const char *organ,
                    const char *sys, enum store_msgtype type, const char *outbox_id,
                    int64_t created)
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
        .outbox_id = (char *)outbox_id,
    };
    assert_int_equal(s->delivery_insert(s->cls, &d), STORE_ONE_RESULT);
}

static struct store_outbox outbox(const char *id, const char *pkg, const char *peer_name,
                                  enum store_msgtype type, enum store_relay_state state,
                                  int64_t next, int64_t created)
{
    return (struct store_outbox){
        .id = (char *)id,
        .package_id = (char *)pkg,
        .peer = (char *)peer_name,
        .messagetype = type,
        .recipients = "[\"000.00.00.G22\"]",
        .insert_offset = -1,
        .state = state,
        .next_ms = next,
        .created_ms = created,
        .updated_ms = created,
    };
}

static void put_outbox(struct store *s, const char *id, const char *pkg, const char *peer_name,
                       enum store_msgtype type, enum store_relay_state state, int64_t next,
                       int64_t track_next, int64_t created)
{
    struct store_outbox o = outbox(id, pkg, peer_name, type, state, next, created);
    o.track_next_ms = track_next;
    assert_int_equal(s->outbox_insert(s->cls, &o), STORE_ONE_RESULT);
}

static int outbox_cb(void *ctx, const struct store_outbox *o)
{
    struct seen *s = ctx;
    if (s->n < 16)
        snprintf(s->key[s->n], sizeof s->key[0], "%s", o->id);
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

#define PKG1 "00000000000000000000aa01"
#define PKG2 "00000000000000000000aa02"
#define PKG3 "00000000000000000000aa03"
#define PKG4 "00000000000000000000aa04"
#define PKG5 "00000000000000000000aa05"
#define PKG6 "00000000000000000000aa06"

/* ---- outbox --------------------------------------------------------------------------------- */

static void test_outbox(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    begin(s);
    put_pkg(s, PKG1, STORE_MSG_EDOC, "000.00.01.H34", "12/QD", NULL, 1000);
    struct store_outbox in = {
        .id = "5f0c7a52-8a8e-4c39-9d76-0b6f6f1c2d01",
        .package_id = PKG1,
        .peer = "ndxp",
        .messagetype = STORE_MSG_STATUS,
        .recipients = "[\"000.00.00.G22\",\"000.00.01.G22\"]",
        .insert_offset = 1234567890123,
        .insert_text = "<edXML:TraceHeader>Kon Tum</edXML:TraceHeader>",
        .state = STORE_RELAY_SENT,
        .attempts = 3,
        .next_ms = 7001,
        .last_error = "HTTP 503",
        .remote_doc_id = "65a1b2c3d4e5f60718293a4b",
        .track_next_ms = 9001,
        .track_count = 4,
        .created_ms = 1500,
        .updated_ms = 2500,
    };
    assert_int_equal(s->outbox_insert(s->cls, &in), STORE_ONE_RESULT);
    /* seen by the writer inside its transaction */
    struct store_outbox o = {0};
    assert_int_equal(s->outbox_get(s->cls, in.id, &o), STORE_ONE_RESULT);
    store_outbox_clear(&o);
    /* the same id twice, an unknown package, incomplete rows: refused */
    assert_int_equal(s->outbox_insert(s->cls, &in), STORE_HARD_ERROR);
    struct store_outbox bad =
        outbox("x1", "00000000000000000000ffff", "ndxp", STORE_MSG_EDOC, STORE_RELAY_PENDING, 0, 1);
    assert_int_equal(s->outbox_insert(s->cls, &bad), STORE_HARD_ERROR);
    bad.package_id = PKG1;
    bad.recipients = NULL;
    assert_int_equal(s->outbox_insert(s->cls, &bad), STORE_HARD_ERROR);
    /* NULL optional texts are stored as "" */
    struct store_outbox plain =
        outbox("x2", PKG1, "hoabinh", STORE_MSG_EDOC, STORE_RELAY_PENDING, 0, 0);
    assert_int_equal(s->outbox_insert(s->cls, &plain), STORE_ONE_RESULT);
    commit(s);

    assert_int_equal(s->outbox_get(s->cls, in.id, &o), STORE_ONE_RESULT);
    assert_string_equal(o.id, in.id);
    assert_string_equal(o.package_id, PKG1);
    assert_string_equal(o.peer, "ndxp");
    assert_int_equal(o.messagetype, STORE_MSG_STATUS);
    assert_string_equal(o.recipients, in.recipients);
    assert_int_equal(o.insert_offset, 1234567890123);
    assert_string_equal(o.insert_text, in.insert_text);
    assert_int_equal(o.state, STORE_RELAY_SENT);
    assert_int_equal(o.attempts, 3);
    assert_int_equal(o.next_ms, 7001);
    assert_string_equal(o.last_error, "HTTP 503");
    assert_string_equal(o.remote_doc_id, in.remote_doc_id);
    assert_int_equal(o.track_next_ms, 9001);
    assert_int_equal(o.track_count, 4);
    assert_int_equal(o.created_ms, 1500);
    assert_int_equal(o.updated_ms, 2500);
    store_outbox_clear(&o);
    assert_null(o.id);
    store_outbox_clear(NULL);

    assert_int_equal(s->outbox_get(s->cls, "x2", &o), STORE_ONE_RESULT);
    assert_int_equal(o.insert_offset, -1);
    assert_string_equal(o.insert_text, "");
    assert_string_equal(o.last_error, "");
    assert_string_equal(o.remote_doc_id, "");
    assert_true(o.created_ms > 0 && o.updated_ms == o.created_ms); /* 0 = now */
    store_outbox_clear(&o);
    assert_int_equal(s->outbox_get(s->cls, "x1", &o), STORE_NO_RESULTS);

    /* update writes the attempt's fields only */
    struct store_outbox up = {
        .id = in.id,
        .package_id = "ignored",
        .peer = "ignored",
        .recipients = "ignored",
        .insert_offset = 5,
        .insert_text = "ignored",
        .state = STORE_RELAY_UNDELIVERABLE,
        .attempts = 9,
        .next_ms = 8002,
        .last_error = "gave up: HTTP 500",
        .remote_doc_id = NULL,
        .track_next_ms = 0,
        .track_count = 5,
        .created_ms = 1,
        .updated_ms = 3500,
    };
    assert_int_equal(s->outbox_update(s->cls, &up), STORE_HARD_ERROR); /* no transaction */
    begin(s);
    assert_int_equal(s->outbox_update(s->cls, &up), STORE_ONE_RESULT);
    struct store_outbox nobody = {.id = "nobody"};
    assert_int_equal(s->outbox_update(s->cls, &nobody), STORE_NO_RESULTS);
    commit(s);
    assert_int_equal(s->outbox_get(s->cls, in.id, &o), STORE_ONE_RESULT);
    assert_string_equal(o.package_id, PKG1);
    assert_string_equal(o.peer, "ndxp");
    assert_int_equal(o.messagetype, STORE_MSG_STATUS);
    assert_string_equal(o.recipients, in.recipients);
    assert_int_equal(o.insert_offset, 1234567890123);
    assert_string_equal(o.insert_text, in.insert_text);
    assert_int_equal(o.state, STORE_RELAY_UNDELIVERABLE);
    assert_int_equal(o.attempts, 9);
    assert_int_equal(o.next_ms, 8002);
    assert_string_equal(o.last_error, "gave up: HTTP 500");
    assert_string_equal(o.remote_doc_id, "");
    assert_int_equal(o.track_next_ms, 0);
    assert_int_equal(o.track_count, 5);
    assert_int_equal(o.created_ms, 1500);
    assert_int_equal(o.updated_ms, 3500);
    store_outbox_clear(&o);

    /* rolled back: unchanged */
    begin(s);
    up.attempts = 10;
    assert_int_equal(s->outbox_update(s->cls, &up), STORE_ONE_RESULT);
    s->write_rollback(s->cls);
    assert_int_equal(s->outbox_get(s->cls, in.id, &o), STORE_ONE_RESULT);
    assert_int_equal(o.attempts, 9);
    store_outbox_clear(&o);

    assert_string_equal(store_relay_state_name(STORE_RELAY_PENDING), "pending");
    assert_string_equal(store_relay_state_name(STORE_RELAY_SENT), "sent");
    assert_string_equal(store_relay_state_name(STORE_RELAY_UNDELIVERABLE), "undeliverable");
    assert_string_equal(store_relay_state_name((enum store_relay_state)7), "unknown");
    store_close(s);
    free(dir);
}

static void test_outbox_due(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    begin(s);
    put_pkg(s, PKG1, STORE_MSG_EDOC, "000.00.01.H34", NULL, NULL, 1000);
    /* pending rows of ndxp: due at 100, 200 (two, created 20 and 10), 300 */
    put_outbox(s, "p300", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_PENDING, 300, 0, 5);
    put_outbox(s, "p200b", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_PENDING, 200, 0, 20);
    put_outbox(s, "p100", PKG1, "ndxp", STORE_MSG_STATUS, STORE_RELAY_PENDING, 100, 0, 30);
    put_outbox(s, "p200a", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_PENDING, 200, 0, 10);
    /* not pending, or another peer's */
    put_outbox(s, "sent", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_SENT, 50, 0, 1);
    put_outbox(s, "gone", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_UNDELIVERABLE, 50, 0, 1);
    put_outbox(s, "other", PKG1, "hoabinh", STORE_MSG_EDOC, STORE_RELAY_PENDING, 50, 0, 1);
    /* tracking: sent rows of ndxp due at 400, 500, 600; 0 = done tracking */
    put_outbox(s, "t500", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_SENT, 0, 500, 1);
    put_outbox(s, "t400", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_SENT, 0, 400, 2);
    put_outbox(s, "t600", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_SENT, 0, 600, 3);
    put_outbox(s, "tdone", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_SENT, 0, 0, 4);
    put_outbox(s, "tpend", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_PENDING, 999, 100, 5);
    put_outbox(s, "tgone", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_UNDELIVERABLE, 0, 100, 6);
    put_outbox(s, "tother", PKG1, "hoabinh", STORE_MSG_EDOC, STORE_RELAY_SENT, 0, 100, 7);
    /* seen by the writer inside its transaction */
    struct seen seen = {0};
    assert_int_equal(s->outbox_due(s->cls, "ndxp", 100, 10, outbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);
    commit(s);

    seen = (struct seen){0};
    assert_int_equal(s->outbox_due(s->cls, "ndxp", 200, 10, outbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 3); /* next_ms <= now, by next_ms then created */
    assert_string_equal(seen.key[0], "p100");
    assert_string_equal(seen.key[1], "p200a");
    assert_string_equal(seen.key[2], "p200b");
    seen = (struct seen){0};
    assert_int_equal(s->outbox_due(s->cls, "ndxp", 199, 10, outbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);
    seen = (struct seen){0};
    assert_int_equal(s->outbox_due(s->cls, "ndxp", 99, 10, outbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 0);
    seen = (struct seen){0};
    assert_int_equal(s->outbox_due(s->cls, "ndxp", 1000, 2, outbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.key[1], "p200a");
    seen = (struct seen){0};
    assert_int_equal(s->outbox_due(s->cls, "ndxp", 1000, 0, outbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 5); /* limit 0: the default, more than there are */
    assert_string_equal(seen.key[3], "p300");
    assert_string_equal(seen.key[4], "tpend");
    seen = (struct seen){.stop_after = 1};
    assert_int_equal(s->outbox_due(s->cls, "ndxp", 1000, 10, outbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);
    seen = (struct seen){0};
    assert_int_equal(s->outbox_due(s->cls, "hoabinh", 1000, 10, outbox_cb, &seen),
                     STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.key[0], "other");
    seen = (struct seen){0};
    assert_int_equal(s->outbox_due(s->cls, "nobody", 1000, 10, outbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 0);

    seen = (struct seen){0};
    assert_int_equal(s->outbox_track_due(s->cls, "ndxp", 500, 10, outbox_cb, &seen),
                     STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.key[0], "t400");
    assert_string_equal(seen.key[1], "t500");
    seen = (struct seen){0};
    assert_int_equal(s->outbox_track_due(s->cls, "ndxp", 499, 10, outbox_cb, &seen),
                     STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);
    seen = (struct seen){0};
    assert_int_equal(s->outbox_track_due(s->cls, "ndxp", 10000, 1, outbox_cb, &seen),
                     STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.key[0], "t400");
    seen = (struct seen){0};
    assert_int_equal(s->outbox_track_due(s->cls, "ndxp", 10000, 0, outbox_cb, &seen),
                     STORE_ONE_RESULT);
    assert_int_equal(seen.n, 3); /* never tdone (0), tpend, tgone nor tother */
    assert_string_equal(seen.key[2], "t600");
    seen = (struct seen){0};
    assert_int_equal(s->outbox_track_due(s->cls, "ndxp", 0, 10, outbox_cb, &seen),
                     STORE_ONE_RESULT);
    assert_int_equal(seen.n, 0);

    /* a row leaves the due list once updated */
    begin(s);
    struct store_outbox o = {0};
    assert_int_equal(s->outbox_get(s->cls, "p100", &o), STORE_ONE_RESULT);
    o.state = STORE_RELAY_SENT;
    o.attempts = 1;
    o.track_next_ms = 450;
    o.updated_ms = 0;
    assert_int_equal(s->outbox_update(s->cls, &o), STORE_ONE_RESULT);
    store_outbox_clear(&o);
    commit(s);
    seen = (struct seen){0};
    assert_int_equal(s->outbox_due(s->cls, "ndxp", 200, 10, outbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.key[0], "p200a");
    seen = (struct seen){0};
    assert_int_equal(s->outbox_track_due(s->cls, "ndxp", 500, 10, outbox_cb, &seen),
                     STORE_ONE_RESULT);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.key[1], "p100");
    store_close(s);
    free(dir);
}

/* ---- deliveries: relayed recipients and statuses -------------------------------------------- */

static void get_dlv(struct store *s, const char *id, struct store_delivery *d)
{
    assert_int_equal(s->delivery_get(s->cls, id, d), STORE_ONE_RESULT);
}

static void test_delivery_relay(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    begin(s);
    const char *doc = "123/QD-UBND";
    put_pkg(s, PKG1, STORE_MSG_EDOC, "O1", doc, NULL, 1000);
    put_pkg(s, PKG2, STORE_MSG_EDOC, "O2", doc, NULL, 1000);   /* same number, other organ */
    put_pkg(s, PKG3, STORE_MSG_STATUS, "O1", doc, NULL, 1000); /* a status, not a document */
    put_pkg(s, PKG4, STORE_MSG_EDOC, "O1", doc, NULL, 1000);   /* the document sent again */
    put_pkg(s, PKG5, STORE_MSG_EDOC, "O1", "124/QD-UBND", NULL, 1000);
    put_outbox(s, "ob1", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_SENT, 0, 0, 1000);
    put_dlv(s, "d1", PKG1, "R1", "SYS.R1", STORE_MSG_EDOC, NULL, 1000);
    put_dlv(s, "d2", PKG1, "R2", "SYS.R2", STORE_MSG_EDOC, NULL, 1000);
    put_dlv(s, "d3", PKG1, "G1", "", STORE_MSG_EDOC, "ob1", 1000); /* relayed */
    put_dlv(s, "d4", PKG1, "G2", "", STORE_MSG_EDOC, "ob1", 1000); /* relayed */
    put_dlv(s, "d5", PKG2, "R1", "SYS.R1", STORE_MSG_EDOC, NULL, 1000);
    put_dlv(s, "d6", PKG3, "R1", "SYS.R1", STORE_MSG_STATUS, NULL, 1000);
    put_dlv(s, "d7", PKG4, "R1", "SYS.R1", STORE_MSG_EDOC, NULL, 1000);
    put_dlv(s, "d8", PKG5, "R1", "SYS.R1", STORE_MSG_EDOC, NULL, 1000);
    /* given values are stored as given */
    struct store_delivery full = {
        .id = "d9",
        .package_id = PKG5,
        .recipient_organ = "R9",
        .recipient_system = "",
        .outbox_id = "ob1",
        .remote_state = "processing",
        .status_code = "03",
        .status_ms = 4242,
        .created_ms = 1000,
        .updated_ms = 1000,
    };
    assert_int_equal(s->delivery_insert(s->cls, &full), STORE_ONE_RESULT);
    commit(s);

    /* NULL on insert is "" (and no outbox for a local recipient) */
    struct store_delivery d = {0};
    get_dlv(s, "d1", &d);
    assert_null(d.outbox_id);
    assert_string_equal(d.remote_state, "");
    assert_string_equal(d.status_code, "");
    assert_int_equal(d.status_ms, 0);
    store_delivery_clear(&d);
    assert_null(d.remote_state);
    get_dlv(s, "d3", &d);
    assert_string_equal(d.outbox_id, "ob1");
    assert_string_equal(d.recipient_system, "");
    store_delivery_clear(&d);
    get_dlv(s, "d9", &d);
    assert_string_equal(d.outbox_id, "ob1");
    assert_string_equal(d.remote_state, "processing");
    assert_string_equal(d.status_code, "03");
    assert_int_equal(d.status_ms, 4242);
    store_delivery_clear(&d);

    /* the peer's report about one relayed recipient */
    assert_int_equal(s->delivery_set_remote(s->cls, "ob1", "G1", "done", 5000), STORE_HARD_ERROR);
    begin(s);
    assert_int_equal(s->delivery_set_remote(s->cls, "ob1", "G1", "done", 5000), STORE_ONE_RESULT);
    assert_int_equal(s->delivery_set_remote(s->cls, "ob1", "G9", "done", 5000), STORE_NO_RESULTS);
    assert_int_equal(s->delivery_set_remote(s->cls, "ob9", "G1", "done", 5000), STORE_NO_RESULTS);
    assert_int_equal(s->delivery_set_remote(s->cls, "ob1", "R1", "done", 5000), STORE_NO_RESULTS);
    commit(s);
    get_dlv(s, "d3", &d);
    assert_string_equal(d.remote_state, "done");
    assert_int_equal(d.updated_ms, 5000);
    assert_int_equal(d.state, STORE_DELIVERY_INITIAL);
    store_delivery_clear(&d);
    get_dlv(s, "d4", &d);
    assert_string_equal(d.remote_state, "");
    assert_int_equal(d.updated_ms, 1000);
    store_delivery_clear(&d);

    /* a status about document 123/QD-UBND of O1, from R1: both sendings of the document, never
     * the other organ's document of the same number, the status package or the other number */
    assert_int_equal(s->delivery_set_status(s->cls, doc, "O1", "R1", "05", 6000), STORE_HARD_ERROR);
    begin(s);
    assert_int_equal(s->delivery_set_status(s->cls, doc, "O1", "R1", "05", 6000), STORE_ONE_RESULT);
    assert_int_equal(s->delivery_set_status(s->cls, doc, "O1", "R7", "05", 6000), STORE_NO_RESULTS);
    assert_int_equal(s->delivery_set_status(s->cls, doc, "O3", "R1", "05", 6000), STORE_NO_RESULTS);
    assert_int_equal(s->delivery_set_status(s->cls, "999/QD", "O1", "R1", "05", 6000),
                     STORE_NO_RESULTS);
    /* a relayed recipient answers the same way */
    assert_int_equal(s->delivery_set_status(s->cls, doc, "O1", "G2", "03", 6500), STORE_ONE_RESULT);
    commit(s);
    const char *changed[] = {"d1", "d7"}, *unchanged[] = {"d2", "d3", "d5", "d6", "d8"};
    for (size_t i = 0; i < 2; i++) {
        get_dlv(s, changed[i], &d);
        assert_string_equal(d.status_code, "05");
        assert_int_equal(d.status_ms, 6000);
        assert_int_equal(d.state, STORE_DELIVERY_INITIAL);
        store_delivery_clear(&d);
    }
    for (size_t i = 0; i < 5; i++) {
        get_dlv(s, unchanged[i], &d);
        assert_string_equal(d.status_code, "");
        assert_int_equal(d.status_ms, 0);
        store_delivery_clear(&d);
    }
    get_dlv(s, "d4", &d);
    assert_string_equal(d.status_code, "03");
    assert_int_equal(d.status_ms, 6500);
    store_delivery_clear(&d);

    /* the package's origin: NULL for a local sender, the peer for one that came from it */
    begin(s);
    put_pkg(s, PKG6, STORE_MSG_EDOC, "000.00.00.G22", NULL, "ndxp", 2000);
    commit(s);
    struct store_package p = {0};
    assert_int_equal(s->package_get(s->cls, PKG1, &p), STORE_ONE_RESULT);
    assert_null(p.origin_peer);
    store_package_clear(&p);
    assert_int_equal(s->package_get(s->cls, PKG6, &p), STORE_ONE_RESULT);
    assert_string_equal(p.origin_peer, "ndxp");
    store_package_clear(&p);
    assert_null(p.origin_peer);
    store_close(s);
    free(dir);
}

/* The inbox hands the new fields too. */
struct inbox_seen {
    int n;
    char key[8][96];
};

static int inbox_cb(void *ctx, const struct store_delivery *d, const struct store_package *p)
{
    struct inbox_seen *s = ctx;
    if (s->n < 8)
        snprintf(s->key[s->n], sizeof s->key[0], "%s:%s:%s:%s:%lld:%s", d->id,
                 d->outbox_id ? d->outbox_id : "-", d->remote_state, d->status_code,
                 (long long)d->status_ms, p->origin_peer ? p->origin_peer : "-");
    s->n++;
    return 0;
}

static void test_inbox_fields(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    begin(s);
    put_pkg(s, PKG1, STORE_MSG_EDOC, "000.00.00.G22", "1/CV", "ndxp", 1000);
    put_pkg(s, PKG2, STORE_MSG_EDOC, "000.00.01.H34", "2/CV", NULL, 2000);
    put_dlv(s, "d1", PKG1, "000.00.01.H34", "SYS.A", STORE_MSG_EDOC, NULL, 1000);
    put_dlv(s, "d2", PKG2, "000.00.01.H34", "SYS.A", STORE_MSG_EDOC, NULL, 2000);
    assert_int_equal(
        s->delivery_set_status(s->cls, "2/CV", "000.00.01.H34", "000.00.01.H34", "02", 3000),
        STORE_ONE_RESULT);
    commit(s);
    struct inbox_seen seen = {0};
    assert_int_equal(s->inbox_list(s->cls, "SYS.A", -1, 0, inbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.key[0], "d1:-:::0:ndxp");
    assert_string_equal(seen.key[1], "d2:-::02:3000:-");
    store_close(s);
    free(dir);
}

/* ---- sender's report ------------------------------------------------------------------------ */

struct sent_seen {
    int n;
    char key[8][160];
};

static int sent_cb(void *ctx, const struct store_sent_row *row)
{
    struct sent_seen *s = ctx;
    assert_non_null(row->pkg);
    assert_non_null(row->dlv);
    if (s->n < 8) {
        const struct store_outbox *o = row->out;
        if (!o)
            snprintf(s->key[s->n], sizeof s->key[0], "%s:local:%s:%s", row->dlv->recipient_organ,
                     row->dlv->outbox_id ? row->dlv->outbox_id : "-",
                     row->pkg->origin_peer ? row->pkg->origin_peer : "-");
        else
            snprintf(s->key[s->n], sizeof s->key[0],
                     "%s:%s:%s:%s:%d:%s:%lld:%s:%d:%lld:%s:%s:%lld:%d:%lld:%lld:%s",
                     row->dlv->recipient_organ, o->id, o->package_id, o->peer, (int)o->messagetype,
                     o->recipients, (long long)o->insert_offset, o->insert_text, o->attempts,
                     (long long)o->next_ms, o->last_error, o->remote_doc_id,
                     (long long)o->track_next_ms, o->track_count, (long long)o->created_ms,
                     (long long)o->updated_ms, store_relay_state_name(o->state));
    }
    s->n++;
    return 0;
}

static void test_sent_list_relayed(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    begin(s);
    put_pkg(s, PKG1, STORE_MSG_EDOC, "000.00.01.H34", "1/CV", NULL, 1000);
    struct store_outbox o = {
        .id = "ob1",
        .package_id = PKG1,
        .peer = "ndxp",
        .messagetype = STORE_MSG_EDOC,
        .recipients = "[\"G1\",\"G2\"]",
        .insert_offset = 77,
        .insert_text = "<t/>",
        .state = STORE_RELAY_SENT,
        .attempts = 2,
        .next_ms = 1100,
        .last_error = "timeout",
        .remote_doc_id = "rd1",
        .track_next_ms = 1200,
        .track_count = 1,
        .created_ms = 1000,
        .updated_ms = 1050,
    };
    assert_int_equal(s->outbox_insert(s->cls, &o), STORE_ONE_RESULT);
    put_dlv(s, "d1", PKG1, "A1", "SYS.B", STORE_MSG_EDOC, NULL, 1000);
    put_dlv(s, "d2", PKG1, "G1", "", STORE_MSG_EDOC, "ob1", 1000);
    put_dlv(s, "d3", PKG1, "G2", "", STORE_MSG_EDOC, "ob1", 1000);
    /* an outbox id that names no row: reported as a local row would be, never invented */
    put_dlv(s, "d4", PKG1, "G3", "", STORE_MSG_EDOC, "ob-missing", 1000);
    commit(s);
    struct sent_seen seen = {0};
    struct store_sent_filter f = {.sender_system = "SYS.A", .messagetype = -1};
    assert_int_equal(s->sent_list(s->cls, &f, sent_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 4);
    assert_string_equal(seen.key[0], "A1:local:-:-");
    const char *rest = "ob1:" PKG1 ":ndxp:0:[\"G1\",\"G2\"]:77:<t/>:2:1100:timeout:rd1:1200:1:"
                       "1000:1050:sent";
    char want[200];
    snprintf(want, sizeof want, "G1:%s", rest);
    assert_string_equal(seen.key[1], want);
    snprintf(want, sizeof want, "G2:%s", rest);
    assert_string_equal(seen.key[2], want);
    assert_string_equal(seen.key[3], "G3:local:ob-missing:-");

    /* a package that came from a peer, as its inbound system's report shows it */
    begin(s);
    put_pkg(s, PKG2, STORE_MSG_EDOC, "000.00.00.G22", "9/CV", "ndxp", 2000);
    put_dlv(s, "d5", PKG2, "A1", "SYS.B", STORE_MSG_EDOC, NULL, 2000);
    commit(s);
    seen = (struct sent_seen){0};
    f.sender_system = "SYS.NDXP";
    assert_int_equal(s->sent_list(s->cls, &f, sent_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.key[0], "A1:local:-:ndxp");
    store_close(s);
    free(dir);
}

/* ---- inbound records ------------------------------------------------------------------------ */

static void test_inbound(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    char id[DOCID_HEX_SIZE] = "";
    assert_int_equal(s->inbound_find(s->cls, "ndxp", "65a1", id), STORE_NO_RESULTS);
    assert_int_equal(s->inbound_insert(s->cls, "ndxp", "65a1", PKG1, 1000), STORE_HARD_ERROR);
    begin(s);
    put_pkg(s, PKG1, STORE_MSG_EDOC, "000.00.00.G22", NULL, "ndxp", 1000);
    put_pkg(s, PKG2, STORE_MSG_EDOC, "000.00.00.H30", NULL, "hoabinh", 1000);
    assert_int_equal(s->inbound_insert(s->cls, "ndxp", "65a1", PKG1, 1000), STORE_ONE_RESULT);
    /* seen by the writer inside its transaction (a fetch in the same batch) */
    assert_int_equal(s->inbound_find(s->cls, "ndxp", "65a1", id), STORE_ONE_RESULT);
    assert_string_equal(id, PKG1);
    /* the same docId at another peer is another document */
    assert_int_equal(s->inbound_insert(s->cls, "hoabinh", "65a1", PKG2, 1000), STORE_ONE_RESULT);
    /* a second record for (peer, docId) is refused; the transaction goes on */
    assert_int_equal(s->inbound_insert(s->cls, "ndxp", "65a1", PKG2, 1000), STORE_HARD_ERROR);
    /* it refers to a stored package */
    assert_int_equal(s->inbound_insert(s->cls, "ndxp", "65a2", "00000000000000000000ffff", 1000),
                     STORE_HARD_ERROR);
    assert_int_equal(s->inbound_insert(s->cls, "ndxp", NULL, PKG1, 1000), STORE_HARD_ERROR);
    commit(s);
    memset(id, 0, sizeof id);
    assert_int_equal(s->inbound_find(s->cls, "ndxp", "65a1", id), STORE_ONE_RESULT);
    assert_string_equal(id, PKG1);
    assert_int_equal(s->inbound_find(s->cls, "hoabinh", "65a1", id), STORE_ONE_RESULT);
    assert_string_equal(id, PKG2);
    assert_int_equal(s->inbound_find(s->cls, "ndxp", "65a2", id), STORE_NO_RESULTS);
    assert_int_equal(s->inbound_find(s->cls, "danang", "65a1", id), STORE_NO_RESULTS);

    /* rolled back: forgotten */
    begin(s);
    assert_int_equal(s->inbound_insert(s->cls, "ndxp", "65a3", PKG1, 1000), STORE_ONE_RESULT);
    s->write_rollback(s->cls);
    assert_int_equal(s->inbound_find(s->cls, "ndxp", "65a3", id), STORE_NO_RESULTS);
    store_close(s);
    free(dir);
}

/* ---- peer health and inbound system --------------------------------------------------------- */

static void test_peer_state(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    struct store *other = open_in(dir);
    begin(s);
    put_peer(s, "ndxp");
    put_peer(s, "hoabinh");
    commit(s);
    uint64_t g = other->config_generation(other->cls);

    struct store_peer_state ps = {0};
    assert_int_equal(s->peer_state_get(s->cls, "ndxp", &ps), STORE_NO_RESULTS);
    assert_null(ps.peer);
    struct store_peer_state in = {
        .peer = "ndxp",
        .health = STORE_PEER_BACKING_OFF,
        .since_ms = 1000,
        .failures = 2,
        .last_error = "connect: connection refused",
        .next_ms = 4000,
        .updated_ms = 2000,
    };
    assert_int_equal(s->peer_state_put(s->cls, &in), STORE_HARD_ERROR); /* no transaction */
    begin(s);
    assert_int_equal(s->peer_state_put(s->cls, &in), STORE_ONE_RESULT);
    struct store_peer_state hb = {.peer = "hoabinh", .health = STORE_PEER_UP};
    assert_int_equal(s->peer_state_put(s->cls, &hb), STORE_ONE_RESULT);
    struct store_peer_state none = {.health = STORE_PEER_UP};
    assert_int_equal(s->peer_state_put(s->cls, &none), STORE_HARD_ERROR);
    commit(s);
    /* health is not configuration: nothing reloads */
    assert_int_equal(other->config_generation(other->cls), g);

    assert_int_equal(other->peer_state_get(other->cls, "ndxp", &ps), STORE_ONE_RESULT);
    assert_string_equal(ps.peer, "ndxp");
    assert_int_equal(ps.health, STORE_PEER_BACKING_OFF);
    assert_int_equal(ps.since_ms, 1000);
    assert_int_equal(ps.failures, 2);
    assert_string_equal(ps.last_error, "connect: connection refused");
    assert_int_equal(ps.next_ms, 4000);
    assert_int_equal(ps.updated_ms, 2000);
    store_peer_state_clear(&ps);
    assert_null(ps.last_error);
    store_peer_state_clear(NULL);
    assert_int_equal(s->peer_state_get(s->cls, "hoabinh", &ps), STORE_ONE_RESULT);
    assert_string_equal(ps.last_error, "");
    assert_true(ps.updated_ms > 0); /* 0 = now */
    store_peer_state_clear(&ps);

    /* replaced */
    begin(s);
    in = (struct store_peer_state){.peer = "ndxp",
                                   .health = STORE_PEER_FAILING,
                                   .since_ms = 1000,
                                   .failures = 7,
                                   .last_error = "HTTP 502",
                                   .next_ms = 64000,
                                   .updated_ms = 30000};
    assert_int_equal(s->peer_state_put(s->cls, &in), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), g);
    assert_int_equal(s->peer_state_get(s->cls, "ndxp", &ps), STORE_ONE_RESULT);
    assert_int_equal(ps.health, STORE_PEER_FAILING);
    assert_int_equal(ps.failures, 7);
    assert_string_equal(ps.last_error, "HTTP 502");
    assert_int_equal(ps.next_ms, 64000);
    assert_int_equal(ps.updated_ms, 30000);
    store_peer_state_clear(&ps);

    /* the inbound system is configuration */
    struct store_peer p = {0};
    assert_int_equal(s->peer_get(s->cls, "ndxp", &p), STORE_ONE_RESULT);
    assert_string_equal(p.inbound_system, ""); /* NULL on put */
    store_peer_clear(&p);
    begin(s);
    struct store_peer up = peer("ndxp", "https://vdxp.gov.vn/vxp");
    up.inbound_system = "000.00.00.G22";
    assert_int_equal(s->peer_put(s->cls, &up), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), g + 1);
    assert_int_equal(other->peer_get(other->cls, "ndxp", &p), STORE_ONE_RESULT);
    assert_string_equal(p.inbound_system, "000.00.00.G22");
    store_peer_clear(&p);
    assert_null(p.inbound_system);
    struct seen seen = {0};
    assert_int_equal(s->peer_list(s->cls, peer_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);

    /* removing a peer removes its health, not another's */
    begin(s);
    assert_int_equal(s->peer_remove(s->cls, "ndxp"), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(s->peer_state_get(s->cls, "ndxp", &ps), STORE_NO_RESULTS);
    assert_int_equal(s->peer_state_get(s->cls, "hoabinh", &ps), STORE_ONE_RESULT);
    store_peer_state_clear(&ps);
    /* ... in the same transaction: rolled back, both are back */
    begin(s);
    assert_int_equal(s->peer_remove(s->cls, "hoabinh"), STORE_ONE_RESULT);
    s->write_rollback(s->cls);
    assert_int_equal(s->peer_state_get(s->cls, "hoabinh", &ps), STORE_ONE_RESULT);
    store_peer_state_clear(&ps);
    assert_int_equal(s->peer_get(s->cls, "hoabinh", &p), STORE_ONE_RESULT);
    store_peer_clear(&p);

    assert_string_equal(store_peer_health_name(STORE_PEER_UP), "up");
    assert_string_equal(store_peer_health_name(STORE_PEER_BACKING_OFF), "backing-off");
    assert_string_equal(store_peer_health_name(STORE_PEER_FAILING), "failing");
    assert_string_equal(store_peer_health_name((enum store_peer_health)9), "unknown");
    store_close(other);
    store_close(s);
    free(dir);
}

/* ---- relay figures -------------------------------------------------------------------------- */

struct rstats_seen {
    int n, stop_after;
    char peer[8][16];
    int64_t v[8][6];
};

static int rstats_cb(void *ctx, const struct store_relay_stats_row *row)
{
    struct rstats_seen *s = ctx;
    if (s->n < 8) {
        snprintf(s->peer[s->n], sizeof s->peer[0], "%s", row->peer);
        int64_t v[6] = {row->sent_edoc,     row->sent_status,   row->pending,
                        row->undeliverable, row->received_edoc, row->received_status};
        memcpy(s->v[s->n], v, sizeof v);
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static void check_rstats(const struct rstats_seen *s, int i, const char *peer_name, int64_t se,
                         int64_t ss, int64_t pe, int64_t un, int64_t re, int64_t rs)
{
    assert_string_equal(s->peer[i], peer_name);
    int64_t want[6] = {se, ss, pe, un, re, rs};
    for (int k = 0; k < 6; k++)
        if (s->v[i][k] != want[k])
            fail_msg("%s: figure %d is %lld, expected %lld", peer_name, k, (long long)s->v[i][k],
                     (long long)want[k]);
}

static void test_relay_stats(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    struct rstats_seen seen = {0};
    assert_int_equal(s->relay_stats(s->cls, 0, 0, rstats_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1); /* no peer: only the internal row */
    check_rstats(&seen, 0, "", 0, 0, 0, 0, 0, 0);

    begin(s);
    put_peer(s, "quiet");
    put_peer(s, "hoabinh");
    struct store_peer nd = peer("ndxp", "https://vdxp.gov.vn/vxp");
    nd.inbound_system = "SYS.NDXP";
    assert_int_equal(s->peer_put(s->cls, &nd), STORE_ONE_RESULT);
    /* local packages and their forwards */
    put_pkg(s, PKG1, STORE_MSG_EDOC, "O1", NULL, NULL, 1000);
    put_pkg(s, PKG2, STORE_MSG_STATUS, "O1", NULL, NULL, 1500);
    put_pkg(s, PKG3, STORE_MSG_EDOC, "O1", NULL, NULL, 5000);
    put_pkg(s, PKG4, STORE_MSG_EDOC, "O1", NULL, NULL, 1200);
    put_outbox(s, "n1", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_PENDING, 0, 0, 1000);
    put_outbox(s, "n2", PKG2, "ndxp", STORE_MSG_STATUS, STORE_RELAY_SENT, 0, 0, 1500);
    put_outbox(s, "n3", PKG3, "ndxp", STORE_MSG_EDOC, STORE_RELAY_UNDELIVERABLE, 0, 0, 5000);
    put_outbox(s, "h1", PKG1, "hoabinh", STORE_MSG_EDOC, STORE_RELAY_UNDELIVERABLE, 0, 0, 1000);
    put_outbox(s, "h2", PKG4, "hoabinh", STORE_MSG_EDOC, STORE_RELAY_PENDING, 0, 0, 1200);
    put_outbox(s, "h3", PKG4, "hoabinh", STORE_MSG_EDOC, STORE_RELAY_SENT, 0, 0, 3999);
    /* a removed peer's rows stay, in no row */
    put_outbox(s, "g1", PKG4, "gone", STORE_MSG_EDOC, STORE_RELAY_PENDING, 0, 0, 1200);
    /* entries in the inbox of ndxp's inbound system (ndxp pulls each as a package) */
    put_dlv(s, "i1", PKG4, "X1", "SYS.NDXP", STORE_MSG_EDOC, NULL, 1200);
    put_dlv(s, "i2", PKG4, "X2", "SYS.NDXP", STORE_MSG_EDOC, NULL, 1200);
    put_dlv(s, "i3", PKG2, "X1", "SYS.NDXP", STORE_MSG_STATUS, NULL, 1500);
    put_dlv(s, "i4", PKG3, "X1", "SYS.NDXP", STORE_MSG_EDOC, NULL, 5000);
    put_dlv(s, "i5", PKG1, "Y1", "SYS.OTHER", STORE_MSG_EDOC, NULL, 1000);
    put_dlv(s, "i6", PKG1, "Z1", "", STORE_MSG_EDOC, "n1", 1000); /* relayed: not an inbox */
    /* packages that came from the peers */
    put_pkg(s, "00000000000000000000bb01", STORE_MSG_EDOC, "G1", NULL, "ndxp", 2000);
    put_pkg(s, "00000000000000000000bb02", STORE_MSG_STATUS, "G1", NULL, "ndxp", 2500);
    put_pkg(s, "00000000000000000000bb03", STORE_MSG_EDOC, "G1", NULL, "ndxp", 4000);
    put_pkg(s, "00000000000000000000bb04", STORE_MSG_EDOC, "H1", NULL, "hoabinh", 1000);
    put_pkg(s, "00000000000000000000bb05", STORE_MSG_EDOC, "H1", NULL, "gone", 1000);
    commit(s);

    /* [1000, 4000): the start counts, the end does not */
    seen = (struct rstats_seen){0};
    assert_int_equal(s->relay_stats(s->cls, 1000, 4000, rstats_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 4);
    check_rstats(&seen, 0, "hoabinh", 3, 0, 1, 1, 1, 0);
    check_rstats(&seen, 1, "ndxp", 3, 2, 1, 0, 1, 1);
    check_rstats(&seen, 2, "quiet", 0, 0, 0, 0, 0, 0);
    /* internal: PKG1 has a recipient served here (PKG4 and PKG2 only go to ndxp's inbox) */
    check_rstats(&seen, 3, "", 1, 0, 0, 0, 0, 0);

    /* unbounded */
    seen = (struct rstats_seen){0};
    assert_int_equal(s->relay_stats(s->cls, 0, 0, rstats_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 4);
    check_rstats(&seen, 0, "hoabinh", 3, 0, 1, 1, 1, 0);
    check_rstats(&seen, 1, "ndxp", 5, 2, 1, 1, 2, 1);
    check_rstats(&seen, 2, "quiet", 0, 0, 0, 0, 0, 0);
    check_rstats(&seen, 3, "", 1, 0, 0, 0, 0, 0);

    /* one side open */
    seen = (struct rstats_seen){0};
    assert_int_equal(s->relay_stats(s->cls, 2000, 0, rstats_cb, &seen), STORE_ONE_RESULT);
    check_rstats(&seen, 0, "hoabinh", 1, 0, 0, 0, 0, 0);
    check_rstats(&seen, 1, "ndxp", 2, 0, 0, 1, 2, 1);
    check_rstats(&seen, 3, "", 0, 0, 0, 0, 0, 0);
    seen = (struct rstats_seen){0};
    assert_int_equal(s->relay_stats(s->cls, 0, 1001, rstats_cb, &seen), STORE_ONE_RESULT);
    check_rstats(&seen, 0, "hoabinh", 1, 0, 0, 1, 1, 0);
    check_rstats(&seen, 1, "ndxp", 1, 0, 1, 0, 0, 0);
    check_rstats(&seen, 3, "", 1, 0, 0, 0, 0, 0);

    /* an empty period still gives every peer */
    seen = (struct rstats_seen){0};
    assert_int_equal(s->relay_stats(s->cls, 100000, 200000, rstats_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 4);
    check_rstats(&seen, 1, "ndxp", 0, 0, 0, 0, 0, 0);

    seen = (struct rstats_seen){.stop_after = 1};
    assert_int_equal(s->relay_stats(s->cls, 0, 0, rstats_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);

    /* without an inbound system, its inbox counts for nobody */
    begin(s);
    nd.inbound_system = NULL;
    assert_int_equal(s->peer_put(s->cls, &nd), STORE_ONE_RESULT);
    commit(s);
    seen = (struct rstats_seen){0};
    assert_int_equal(s->relay_stats(s->cls, 1000, 4000, rstats_cb, &seen), STORE_ONE_RESULT);
    check_rstats(&seen, 1, "ndxp", 1, 1, 1, 0, 1, 1);
    check_rstats(&seen, 3, "", 2, 1, 0, 0, 0, 0); /* PKG4 and PKG2 are now internal */
    store_close(s);
    free(dir);
}

/* ---- upgrade -------------------------------------------------------------------------------- */

/* Undoes migration 4 on a database file (the peer's column apart, see undo_4_peer): what a
 * database of schema 3 holds. */
static const char undo_4[] =
    "DROP TABLE peer_state; DROP TABLE relay_inbound; DROP TABLE package_trace; DROP TABLE "
    "relay_outbox;"
    " DROP INDEX delivery_outbox; DROP INDEX package_document;"
    " ALTER TABLE package DROP COLUMN origin_peer;"
    " ALTER TABLE delivery DROP COLUMN outbox_id; ALTER TABLE delivery DROP COLUMN remote_state;"
    " ALTER TABLE delivery DROP COLUMN status_code; ALTER TABLE delivery DROP COLUMN status_ms;"
    " DELETE FROM schema_version WHERE version >= 4;";
static const char undo_4_peer[] = "ALTER TABLE peer DROP COLUMN inbound_system;";

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, 0, 0, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static const char count_new_cols[] =
    "SELECT (SELECT COUNT(*) FROM pragma_table_info('package') WHERE name = 'origin_peer')"
    " + (SELECT COUNT(*) FROM pragma_table_info('delivery')"
    "    WHERE name IN ('outbox_id', 'remote_state', 'status_code', 'status_ms'))"
    " + (SELECT COUNT(*) FROM pragma_table_info('peer') WHERE name = 'inbound_system')"
    " + (SELECT COUNT(*) FROM sqlite_master"
    "    WHERE name IN ('relay_outbox', 'relay_inbound', 'package_trace', 'peer_state'))";

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
    raw_exec(path, undo_4);
    raw_exec(path, "DROP TABLE route; DROP TABLE peer; DROP TABLE platform;"
                   " DELETE FROM schema_version WHERE version >= 3");

    s = open_in(dir);
    struct store_agency got = {0};
    assert_int_equal(s->agency_get(s->cls, "000.00.00.H34", &got), STORE_ONE_RESULT);
    store_agency_clear(&got);
    begin(s);
    put_peer(s, "ndxp");
    put_route(s, "*", "ndxp");
    commit(s);
    store_close(s);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_version", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), sqlite_schema_current());
    assert_true(sqlite_schema_current() >= 4);
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

/* A database of schema 3 (the relay's configuration, not its traffic) holding a package, a
 * delivery and a peer gains the new columns with their defaults and the new tables. */
static void test_upgrade_3(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    begin(s);
    put_pkg(s, PKG1, STORE_MSG_EDOC, "000.00.01.H34", "7/CV", NULL, 1000);
    put_dlv(s, "d1", PKG1, "000.00.06.H34", "SYS.B", STORE_MSG_EDOC, NULL, 1000);
    put_peer(s, "ndxp");
    commit(s);
    store_close(s);

    char path[700];
    snprintf(path, sizeof path, "%s/lienthong.db", dir);
    assert_int_equal(raw_int(path, count_new_cols), 10);
    raw_exec(path, undo_4);
    raw_exec(path, undo_4_peer);
    assert_int_equal(raw_int(path, count_new_cols), 0);
    assert_int_equal(raw_int(path, "SELECT MAX(version) FROM schema_version"), 3);

    s = open_in(dir);
    assert_int_equal(raw_int(path, count_new_cols), 10);
    assert_int_equal(raw_int(path, "SELECT MAX(version) FROM schema_version"),
                     sqlite_schema_current());
    struct store_package p = {0};
    assert_int_equal(s->package_get(s->cls, PKG1, &p), STORE_ONE_RESULT);
    assert_string_equal(p.document_id, "7/CV");
    assert_null(p.origin_peer);
    store_package_clear(&p);
    struct store_delivery d = {0};
    assert_int_equal(s->delivery_get(s->cls, "d1", &d), STORE_ONE_RESULT);
    assert_string_equal(d.recipient_system, "SYS.B");
    assert_null(d.outbox_id);
    assert_string_equal(d.remote_state, "");
    assert_string_equal(d.status_code, "");
    assert_int_equal(d.status_ms, 0);
    store_delivery_clear(&d);
    struct store_peer pe = {0};
    assert_int_equal(s->peer_get(s->cls, "ndxp", &pe), STORE_ONE_RESULT);
    assert_string_equal(pe.secret, "A7TK secret/with+chars=");
    assert_string_equal(pe.inbound_system, "");
    store_peer_clear(&pe);

    /* the new tables work with the old rows */
    begin(s);
    put_outbox(s, "ob1", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_PENDING, 0, 0, 2000);
    assert_int_equal(
        s->delivery_set_status(s->cls, "7/CV", "000.00.01.H34", "000.00.06.H34", "02", 3000),
        STORE_ONE_RESULT);
    assert_int_equal(s->inbound_insert(s->cls, "ndxp", "65a1", PKG1, 2000), STORE_ONE_RESULT);
    struct store_peer_state ps = {.peer = "ndxp", .health = STORE_PEER_UP};
    assert_int_equal(s->peer_state_put(s->cls, &ps), STORE_ONE_RESULT);
    commit(s);
    struct rstats_seen seen = {0};
    assert_int_equal(s->relay_stats(s->cls, 0, 0, rstats_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    check_rstats(&seen, 0, "ndxp", 1, 0, 1, 0, 0, 0);
    store_close(s);
    free(dir);
}

/* A database of schema 4 (the outbox's due and tracking indexes over every row) gets them
 * partial: only the rows their queries look for, which are still found in the same order. */
static const char undo_5[] =
    "DROP INDEX relay_outbox_due; DROP INDEX relay_outbox_track;"
    " CREATE INDEX relay_outbox_due ON relay_outbox (peer, state, next_ms);"
    " CREATE INDEX relay_outbox_track ON relay_outbox (peer, state, track_next_ms);"
    " DELETE FROM schema_version WHERE version >= 5;";
static const char count_partial[] =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'"
    " AND ((name = 'relay_outbox_due' AND sql LIKE '%WHERE state = 0')"
    "  OR (name = 'relay_outbox_track' AND sql LIKE '%WHERE state = 1 AND track_next_ms > 0'))";

static void test_upgrade_4(void **state)
{
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    begin(s);
    put_pkg(s, PKG1, STORE_MSG_EDOC, "000.00.01.H34", NULL, NULL, 1000);
    put_outbox(s, "p2", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_PENDING, 200, 0, 1);
    put_outbox(s, "p1", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_PENDING, 100, 0, 2);
    put_outbox(s, "t1", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_SENT, 0, 300, 3);
    put_outbox(s, "tdone", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_SENT, 0, 0, 4);
    put_outbox(s, "gone", PKG1, "ndxp", STORE_MSG_EDOC, STORE_RELAY_UNDELIVERABLE, 50, 50, 5);
    commit(s);
    store_close(s);

    char path[700];
    snprintf(path, sizeof path, "%s/lienthong.db", dir);
    assert_int_equal(raw_int(path, count_partial), 2);
    raw_exec(path, undo_5);
    assert_int_equal(raw_int(path, count_partial), 0);
    assert_int_equal(raw_int(path, "SELECT MAX(version) FROM schema_version"), 4);

    s = open_in(dir);
    assert_int_equal(raw_int(path, count_partial), 2);
    assert_int_equal(raw_int(path, "SELECT MAX(version) FROM schema_version"),
                     sqlite_schema_current());
    struct seen seen = {0};
    assert_int_equal(s->outbox_due(s->cls, "ndxp", 1000, 10, outbox_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.key[0], "p1");
    assert_string_equal(seen.key[1], "p2");
    seen = (struct seen){0};
    assert_int_equal(s->outbox_track_due(s->cls, "ndxp", 1000, 10, outbox_cb, &seen),
                     STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.key[0], "t1");
    store_close(s);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_platform),     cmocka_unit_test(test_peers_routes),
        cmocka_unit_test(test_which),        cmocka_unit_test(test_outbox),
        cmocka_unit_test(test_outbox_due),   cmocka_unit_test(test_delivery_relay),
        cmocka_unit_test(test_inbox_fields), cmocka_unit_test(test_sent_list_relayed),
        cmocka_unit_test(test_inbound),      cmocka_unit_test(test_peer_state),
        cmocka_unit_test(test_relay_stats),  cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_upgrade_3),    cmocka_unit_test(test_upgrade_4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
