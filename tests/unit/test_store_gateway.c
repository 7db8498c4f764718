/* test_store_gateway — the gateway's part of the SQLite store against a real database in
 * $LT_TMP: the service catalogue and access grants (upserts, lists and their filters, grants
 * removed with their service), tokens (active list, revocation, expiry), the call log (a large
 * batch scanned back by period, page boundaries inside equal times), the configuration
 * generation as a second store on the same directory sees it (the cross-process path), and the
 * upgrade of a database written before the gateway existed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    snprintf(tmpl, sizeof tmpl, "%s/storegw-XXXXXX", base);
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

/* An agency and the given systems, committed. */
static void setup_systems(struct store *s, const char *const *ids, size_t n)
{
    begin(s);
    struct store_agency a = {.id = "000.00.00.H34", .name = "UBND"};
    assert_int_equal(s->agency_put(s->cls, &a), STORE_ONE_RESULT);
    for (size_t i = 0; i < n; i++) {
        struct store_system y = {.id = (char *)ids[i], .agency_id = a.id, .secret = "k"};
        assert_int_equal(s->system_put(s->cls, &y), STORE_ONE_RESULT);
    }
    commit(s);
}

static struct store_service svc(const char *code, const char *version, const char *provider,
                                const char *url)
{
    return (struct store_service){
        .code = (char *)code,
        .version = (char *)version,
        .provider_system = (char *)provider,
        .name = "Tra cứu hộ tịch",
        .url = (char *)url,
        .protocol = STORE_PROTO_REST,
        .timeout_ms = 30000,
        .max_request_bytes = 1 << 20,
        .max_response_bytes = 8 << 20,
        .rate_per_s = 50,
        .burst = 100,
    };
}

static struct store_grant grant(const char *consumer, const char *code, const char *version)
{
    return (struct store_grant){
        .consumer_system = (char *)consumer,
        .service_code = (char *)code,
        .service_version = (char *)version,
        .methods = "GET,POST",
        .path_prefix = "/v1",
    };
}

/* Lists collected as "a/b/c" strings. */
struct seen {
    int n, stop_after;
    char key[16][128];
};

static int service_cb(void *ctx, const struct store_service *v)
{
    struct seen *s = ctx;
    if (s->n < 16)
        snprintf(s->key[s->n], sizeof s->key[0], "%s/%s/%s", v->code, v->version,
                 v->provider_system);
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static int grant_cb(void *ctx, const struct store_grant *g)
{
    struct seen *s = ctx;
    if (s->n < 16)
        snprintf(s->key[s->n], sizeof s->key[0], "%s/%s/%s", g->consumer_system, g->service_code,
                 g->service_version);
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

struct grant_fields {
    int n;
    char methods[32], prefix[32];
    int64_t rate, burst, created, updated;
};

static int grant_fields_cb(void *ctx, const struct store_grant *g)
{
    struct grant_fields *f = ctx;
    f->n++;
    snprintf(f->methods, sizeof f->methods, "%s", g->methods);
    snprintf(f->prefix, sizeof f->prefix, "%s", g->path_prefix);
    f->rate = g->rate_per_s;
    f->burst = g->burst;
    f->created = g->created_ms;
    f->updated = g->updated_ms;
    return 0;
}

static int token_cb(void *ctx, const struct store_token *t)
{
    struct seen *s = ctx;
    assert_int_equal(t->revoked_ms, 0);
    if (s->n < 16)
        snprintf(s->key[s->n], sizeof s->key[0], "%.8s/%s", t->sha256, t->system_id);
    s->n++;
    return 0;
}

static void tok_hash(char out[65], int i)
{
    for (int k = 0; k < 64; k++)
        out[k] = "0123456789abcdef"[(i + k) % 16];
    snprintf(out, 9, "%08x", (unsigned)i); /* distinct prefix */
    out[8] = 'a';
    out[64] = '\0';
}

/* ---- services and grants -------------------------------------------------------------------- */

static void test_services_grants(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    const char *ids[] = {"P1", "P2", "C1"};
    setup_systems(s, ids, 3);

    /* Writes outside a transaction are refused. */
    struct store_service a = svc("hotich", "1.0", "P1", "http://10.0.0.1/hotich");
    assert_int_equal(s->service_put(s->cls, &a), STORE_HARD_ERROR);

    begin(s);
    struct store_service bad = svc("x", "1", "NOBODY", "http://x");
    assert_int_equal(s->service_put(s->cls, &bad), STORE_NO_RESULTS); /* unknown provider */
    a.created_ms = a.updated_ms = 1000;
    assert_int_equal(s->service_put(s->cls, &a), STORE_ONE_RESULT);
    struct store_service b = svc("hotich", "2.0", "P1", "https://10.0.0.1/hotich2");
    b.protocol = STORE_PROTO_SOAP;
    b.description = "SOAP";
    assert_int_equal(s->service_put(s->cls, &b), STORE_ONE_RESULT);
    struct store_service c = svc("dancu", "1", "P2", "http://10.0.0.2/");
    c.name = NULL; /* stored as "" */
    assert_int_equal(s->service_put(s->cls, &c), STORE_ONE_RESULT);
    commit(s);

    struct store_service got = {0};
    assert_int_equal(s->service_get(s->cls, "hotich", "1.0", &got), STORE_ONE_RESULT);
    assert_string_equal(got.provider_system, "P1");
    assert_string_equal(got.name, "Tra cứu hộ tịch");
    assert_string_equal(got.description, "");
    assert_string_equal(got.url, "http://10.0.0.1/hotich");
    assert_int_equal(got.protocol, STORE_PROTO_REST);
    assert_int_equal(got.timeout_ms, 30000);
    assert_int_equal(got.max_request_bytes, 1 << 20);
    assert_int_equal(got.max_response_bytes, 8 << 20);
    assert_int_equal(got.rate_per_s, 50);
    assert_int_equal(got.burst, 100);
    assert_int_equal(got.created_ms, 1000);
    assert_int_equal(got.updated_ms, 1000);
    store_service_clear(&got);
    store_service_clear(NULL);
    assert_int_equal(s->service_get(s->cls, "hotich", "2.0", &got), STORE_ONE_RESULT);
    assert_int_equal(got.protocol, STORE_PROTO_SOAP);
    assert_string_equal(got.description, "SOAP");
    assert_string_equal(store_protocol_name(got.protocol), "soap");
    assert_string_equal(store_protocol_name(STORE_PROTO_REST), "rest");
    store_service_clear(&got);
    assert_int_equal(s->service_get(s->cls, "dancu", "1", &got), STORE_ONE_RESULT);
    assert_string_equal(got.name, "");
    store_service_clear(&got);
    assert_int_equal(s->service_get(s->cls, "hotich", "3.0", &got), STORE_NO_RESULTS);
    assert_null(got.code);

    /* Update: created_ms kept whatever is passed, the rest replaced. */
    begin(s);
    a.url = "http://10.0.0.9/hotich";
    a.provider_system = "P2";
    a.timeout_ms = 5000;
    a.created_ms = 5000;
    a.updated_ms = 2000;
    assert_int_equal(s->service_put(s->cls, &a), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(s->service_get(s->cls, "hotich", "1.0", &got), STORE_ONE_RESULT);
    assert_string_equal(got.url, "http://10.0.0.9/hotich");
    assert_string_equal(got.provider_system, "P2");
    assert_int_equal(got.timeout_ms, 5000);
    assert_int_equal(got.created_ms, 1000);
    assert_int_equal(got.updated_ms, 2000);
    store_service_clear(&got);

    /* Lists: by code then version; a provider filter; early stop. */
    struct seen seen = {0};
    assert_int_equal(s->service_list(s->cls, NULL, service_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.key[0], "dancu/1/P2");
    assert_string_equal(seen.key[1], "hotich/1.0/P2");
    assert_string_equal(seen.key[2], "hotich/2.0/P1");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->service_list(s->cls, "P1", service_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.key[0], "hotich/2.0/P1");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->service_list(s->cls, "NOBODY", service_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 0);
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 1;
    assert_int_equal(s->service_list(s->cls, NULL, service_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);

    /* Grants. */
    begin(s);
    struct store_grant g1 = grant("C1", "hotich", "1.0");
    g1.created_ms = g1.updated_ms = 700;
    assert_int_equal(s->grant_put(s->cls, &g1), STORE_ONE_RESULT);
    struct store_grant g2 = grant("C1", "hotich", "2.0");
    assert_int_equal(s->grant_put(s->cls, &g2), STORE_ONE_RESULT);
    struct store_grant g3 = grant("P1", "hotich", "1.0");
    g3.methods = NULL; /* every method: "" */
    g3.path_prefix = NULL;
    g3.rate_per_s = 5;
    g3.burst = 10;
    assert_int_equal(s->grant_put(s->cls, &g3), STORE_ONE_RESULT);
    struct store_grant g4 = grant("C1", "dancu", "1");
    assert_int_equal(s->grant_put(s->cls, &g4), STORE_ONE_RESULT);
    struct store_grant gbad = grant("C1", "hotich", "9.9");
    assert_int_equal(s->grant_put(s->cls, &gbad), STORE_NO_RESULTS); /* unknown service */
    gbad = grant("NOBODY", "hotich", "1.0");
    assert_int_equal(s->grant_put(s->cls, &gbad), STORE_NO_RESULTS); /* unknown consumer */
    commit(s);

    begin(s);
    g1.methods = "GET";
    g1.created_ms = 9999;
    g1.updated_ms = 800;
    g1.rate_per_s = 3;
    assert_int_equal(s->grant_put(s->cls, &g1), STORE_ONE_RESULT);
    commit(s);

    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->grant_list(s->cls, NULL, NULL, NULL, grant_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 4);
    assert_string_equal(seen.key[0], "C1/dancu/1");
    assert_string_equal(seen.key[1], "C1/hotich/1.0");
    assert_string_equal(seen.key[2], "C1/hotich/2.0");
    assert_string_equal(seen.key[3], "P1/hotich/1.0");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->grant_list(s->cls, "C1", "hotich", NULL, grant_cb, &seen),
                     STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.key[1], "C1/hotich/2.0");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->grant_list(s->cls, NULL, "hotich", "1.0", grant_cb, &seen),
                     STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.key[0], "C1/hotich/1.0");
    assert_string_equal(seen.key[1], "P1/hotich/1.0");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->grant_list(s->cls, "P1", NULL, NULL, grant_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);

    /* The fields of the updated grant and of the one with defaults. */
    struct grant_fields f = {0};
    assert_int_equal(s->grant_list(s->cls, "C1", "hotich", "1.0", grant_fields_cb, &f),
                     STORE_ONE_RESULT);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.methods, "GET");
    assert_string_equal(f.prefix, "/v1");
    assert_int_equal(f.rate, 3);
    assert_int_equal(f.created, 700);
    assert_int_equal(f.updated, 800);
    memset(&f, 0, sizeof f);
    assert_int_equal(s->grant_list(s->cls, "P1", "hotich", "1.0", grant_fields_cb, &f),
                     STORE_ONE_RESULT);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.methods, "");
    assert_string_equal(f.prefix, "");
    assert_int_equal(f.rate, 5);
    assert_int_equal(f.burst, 10);

    /* Remove one grant, then a service with its grants. */
    begin(s);
    assert_int_equal(s->grant_remove(s->cls, "C1", "hotich", "2.0"), STORE_ONE_RESULT);
    assert_int_equal(s->grant_remove(s->cls, "C1", "hotich", "2.0"), STORE_NO_RESULTS);
    assert_int_equal(s->service_remove(s->cls, "hotich", "1.0"), STORE_ONE_RESULT);
    assert_int_equal(s->service_remove(s->cls, "hotich", "1.0"), STORE_NO_RESULTS);
    assert_int_equal(s->service_remove(s->cls, "nothing", "1"), STORE_NO_RESULTS);
    commit(s);
    assert_int_equal(s->service_get(s->cls, "hotich", "1.0", &got), STORE_NO_RESULTS);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->grant_list(s->cls, NULL, NULL, NULL, grant_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.key[0], "C1/dancu/1");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->service_list(s->cls, NULL, service_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);

    /* A removed service can be published again, without its old grants. */
    begin(s);
    a.created_ms = a.updated_ms = 0;
    assert_int_equal(s->service_put(s->cls, &a), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(s->service_get(s->cls, "hotich", "1.0", &got), STORE_ONE_RESULT);
    assert_true(got.created_ms > 1000000000000LL); /* now */
    store_service_clear(&got);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->grant_list(s->cls, NULL, "hotich", "1.0", grant_cb, &seen),
                     STORE_ONE_RESULT);
    assert_int_equal(seen.n, 0);

    store_close(s);
    free(dir);
}

/* ---- tokens --------------------------------------------------------------------------------- */

static void put_token(struct store *s, int i, const char *sys, int64_t issued, int64_t expires)
{
    char h[65];
    tok_hash(h, i);
    struct store_token t = {
        .sha256 = h, .system_id = (char *)sys, .issued_ms = issued, .expires_ms = expires};
    assert_int_equal(s->token_insert(s->cls, &t), STORE_ONE_RESULT);
}

static void test_tokens(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    char h[65];

    tok_hash(h, 1);
    struct store_token t = {.sha256 = h, .system_id = "C1", .issued_ms = 1, .expires_ms = 2};
    assert_int_equal(s->token_insert(s->cls, &t), STORE_HARD_ERROR); /* no transaction */

    begin(s);
    put_token(s, 3, "C1", 300, 2000);
    put_token(s, 1, "C1", 100, 1000);
    put_token(s, 2, "C1", 200, 500); /* expires before 600 */
    put_token(s, 4, "C2", 150, 5000);
    assert_int_equal(s->token_insert(s->cls, &t), STORE_HARD_ERROR); /* the same hash again */
    struct store_token bad = {.sha256 = "ABC", .system_id = "C1", .expires_ms = 9};
    assert_int_equal(s->token_insert(s->cls, &bad), STORE_HARD_ERROR); /* not a hash */
    commit(s);

    /* Active at 600: not the expired one, ordered by issue time. */
    struct seen seen = {0};
    char k1[16], k3[16], k4[16];
    tok_hash(h, 1);
    snprintf(k1, sizeof k1, "%.8s", h);
    tok_hash(h, 3);
    snprintf(k3, sizeof k3, "%.8s", h);
    tok_hash(h, 4);
    snprintf(k4, sizeof k4, "%.8s", h);
    assert_int_equal(s->token_list_active(s->cls, 600, token_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 3);
    assert_non_null(strstr(seen.key[0], k1));
    assert_non_null(strstr(seen.key[1], k4));
    assert_non_null(strstr(seen.key[2], k3));
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->token_list_active(s->cls, 1000, token_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2); /* expires_ms == now is expired */

    /* Revocation: one token, then a system's others; nothing changed is NO_RESULTS. */
    assert_int_equal(s->token_revoke(s->cls, h, 700), STORE_HARD_ERROR); /* no transaction */
    begin(s);
    tok_hash(h, 4);
    assert_int_equal(s->token_revoke(s->cls, h, 700), STORE_ONE_RESULT);
    assert_int_equal(s->token_revoke(s->cls, h, 800), STORE_NO_RESULTS);
    tok_hash(h, 99);
    assert_int_equal(s->token_revoke(s->cls, h, 800), STORE_NO_RESULTS);
    assert_int_equal(s->token_revoke_system(s->cls, "C2", 800), STORE_NO_RESULTS);
    commit(s);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->token_list_active(s->cls, 600, token_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 2);
    assert_non_null(strstr(seen.key[0], k1));
    assert_non_null(strstr(seen.key[1], k3));

    begin(s);
    assert_int_equal(s->token_revoke_system(s->cls, "C1", 0), STORE_ONE_RESULT); /* 0 = now */
    assert_int_equal(s->token_revoke_system(s->cls, "C1", 0), STORE_NO_RESULTS);
    commit(s);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s->token_list_active(s->cls, 0, token_cb, &seen), STORE_ONE_RESULT);
    assert_int_equal(seen.n, 0);

    /* revoked_ms as stored: the given time, or now for 0 (never 0, which means "not"). */
    store_close(s);
    char path[700];
    snprintf(path, sizeof path, "%s/lienthong.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT system_id, revoked_ms FROM access_token"
                                        " ORDER BY issued_ms",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *sys = (const char *)sqlite3_column_text(st, 0);
        int64_t rv = sqlite3_column_int64(st, 1);
        if (strcmp(sys, "C2") == 0)
            assert_int_equal(rv, 700);
        else
            assert_true(rv > 1000000000000LL);
        n++;
    }
    assert_int_equal(n, 4);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(dir);
}

/* ---- call log ------------------------------------------------------------------------------- */

#define N_CALLS 10000
#define CALL_T0 1700000000000LL

/* Three calls a millisecond, so that scan pages end inside runs of equal times. */
static int64_t call_time(int i)
{
    return CALL_T0 + i / 3;
}

struct call_seen {
    int n, next, stop_after;
    int64_t last_time;
};

static int call_cb(void *ctx, const struct store_call *c)
{
    struct call_seen *cs = ctx;
    char want[32];
    snprintf(want, sizeof want, "req-%05d", cs->next);
    assert_string_equal(c->request_id, want);
    assert_int_equal(c->time_ms, call_time(cs->next));
    assert_true(c->time_ms >= cs->last_time);
    cs->last_time = c->time_ms;
    if (cs->next % 2) {
        assert_string_equal(c->consumer, "");
        assert_string_equal(c->error, "AUTH_FAILED");
        assert_string_equal(c->request_sha256, "");
        assert_int_equal(c->status, 401);
    } else {
        assert_string_equal(c->consumer, "C1");
        assert_string_equal(c->provider, "P1");
        assert_string_equal(c->service_code, "hotich");
        assert_string_equal(c->service_version, "1.0");
        assert_string_equal(c->method, "POST");
        assert_string_equal(c->path, "/v1/tra-cuu");
        assert_string_equal(c->error, "");
        assert_int_equal(c->status, 200);
        assert_int_equal(c->duration_us, 1000 + cs->next);
        assert_int_equal(c->upstream_us, 900);
        assert_int_equal(c->bytes_in, 123);
        assert_int_equal(c->bytes_out, 4567);
        assert_int_equal(strlen(c->request_sha256), 64);
        assert_int_equal(strlen(c->response_sha256), 64);
    }
    cs->n++;
    cs->next++;
    return cs->stop_after && cs->n >= cs->stop_after;
}

static void insert_call(struct store *s, int i)
{
    char rid[32];
    snprintf(rid, sizeof rid, "req-%05d", i);
    static const char sha[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    struct store_call c;
    if (i % 2)
        c = (struct store_call){
            .time_ms = call_time(i),
            .request_id = rid,
            .consumer = "",
            .method = "GET",
            .path = "/x",
            .status = 401,
            .error = "AUTH_FAILED",
            .duration_us = 10,
        }; /* the other texts NULL: stored as "" */
    else
        c = (struct store_call){
            .time_ms = call_time(i),
            .request_id = rid,
            .consumer = "C1",
            .provider = "P1",
            .service_code = "hotich",
            .service_version = "1.0",
            .method = "POST",
            .path = "/v1/tra-cuu",
            .status = 200,
            .error = "",
            .duration_us = 1000 + i,
            .upstream_us = 900,
            .bytes_in = 123,
            .bytes_out = 4567,
            .request_sha256 = sha,
            .response_sha256 = sha,
        };
    assert_int_equal(s->call_insert(s->cls, &c), STORE_ONE_RESULT);
}

static void test_calls(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);

    struct call_seen cs = {0};
    assert_int_equal(s->call_scan(s->cls, 0, 0, call_cb, &cs), STORE_ONE_RESULT);
    assert_int_equal(cs.n, 0);

    struct store_call out = {.request_id = "r", .method = "GET", .path = "/"};
    assert_int_equal(s->call_insert(s->cls, &out), STORE_HARD_ERROR); /* no transaction */

    /* One transaction, the later half first: the scan orders by time, not by insertion. The
     * halves split between two milliseconds (5001 = 3 * 1667). */
    begin(s);
    for (int i = 5001; i < N_CALLS; i++)
        insert_call(s, i);
    for (int i = 0; i < 5001; i++)
        insert_call(s, i);
    /* The writer's thread sees its own uncommitted calls. */
    cs = (struct call_seen){.next = 9000};
    assert_int_equal(s->call_scan(s->cls, call_time(9000), 0, call_cb, &cs), STORE_ONE_RESULT);
    assert_int_equal(cs.n, 1000);
    commit(s);

    cs = (struct call_seen){0};
    assert_int_equal(s->call_scan(s->cls, 0, 0, call_cb, &cs), STORE_ONE_RESULT);
    assert_int_equal(cs.n, N_CALLS);

    /* [from, to): from the first call of a millisecond to before another. */
    cs = (struct call_seen){.next = 3 * 400};
    assert_int_equal(s->call_scan(s->cls, call_time(3 * 400), call_time(3 * 2900), call_cb, &cs),
                     STORE_ONE_RESULT);
    assert_int_equal(cs.n, 3 * 2500);
    cs = (struct call_seen){.next = 3 * 3000};
    assert_int_equal(s->call_scan(s->cls, call_time(3 * 3000), 0, call_cb, &cs), STORE_ONE_RESULT);
    assert_int_equal(cs.n, N_CALLS - 3 * 3000);
    cs = (struct call_seen){0};
    assert_int_equal(s->call_scan(s->cls, 0, call_time(3), call_cb, &cs), STORE_ONE_RESULT);
    assert_int_equal(cs.n, 3);
    cs = (struct call_seen){0};
    assert_int_equal(s->call_scan(s->cls, CALL_T0 + 100000, 0, call_cb, &cs), STORE_ONE_RESULT);
    assert_int_equal(cs.n, 0);

    /* A callback stops the scan, beyond the first page. */
    cs = (struct call_seen){.stop_after = 2500};
    assert_int_equal(s->call_scan(s->cls, 0, 0, call_cb, &cs), STORE_ONE_RESULT);
    assert_int_equal(cs.n, 2500);

    store_close(s);
    free(dir);
}

/* ---- configuration generation --------------------------------------------------------------- */

static void test_generation(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    struct store *other = open_in(dir); /* another process's view of the same directory */

    char path[700];
    snprintf(path, sizeof path, "%s/lienthong.gen", dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, 8);

    uint64_t g = s->config_generation(s->cls);
    assert_int_equal(other->config_generation(other->cls), g);

    /* An agency alone is not what the gateway caches. */
    begin(s);
    struct store_agency a = {.id = "A", .name = "A"};
    assert_int_equal(s->agency_put(s->cls, &a), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(s->config_generation(s->cls), g);

    /* system_put bumps, after the commit only, seen by the other store. */
    begin(s);
    struct store_system y = {.id = "P1", .agency_id = "A", .secret = "k"};
    assert_int_equal(s->system_put(s->cls, &y), STORE_ONE_RESULT);
    y.id = "C1";
    assert_int_equal(s->system_put(s->cls, &y), STORE_ONE_RESULT);
    assert_int_equal(s->config_generation(s->cls), g);
    commit(s);
    assert_int_equal(s->config_generation(s->cls), g + 1);
    assert_int_equal(other->config_generation(other->cls), g + 1);
    g++;

    /* A committed service_put bumps once, for however many changes. */
    begin(s);
    struct store_service v = svc("hotich", "1.0", "P1", "http://10.0.0.1/");
    assert_int_equal(s->service_put(s->cls, &v), STORE_ONE_RESULT);
    struct store_grant gr = grant("C1", "hotich", "1.0");
    assert_int_equal(s->grant_put(s->cls, &gr), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), g + 1);
    g++;

    /* A rolled-back service_put does not; nor does the next transaction inherit its flag. */
    begin(s);
    v.version = "2.0";
    assert_int_equal(s->service_put(s->cls, &v), STORE_ONE_RESULT);
    s->write_rollback(s->cls);
    assert_int_equal(s->config_generation(s->cls), g);
    struct store_service got = {0};
    assert_int_equal(s->service_get(s->cls, "hotich", "2.0", &got), STORE_NO_RESULTS);

    /* Tokens issued and calls logged do not bump; nor does a write that changed nothing. */
    begin(s);
    char h[65];
    tok_hash(h, 7);
    struct store_token t = {.sha256 = h, .system_id = "C1", .issued_ms = 1, .expires_ms = 9e12};
    assert_int_equal(s->token_insert(s->cls, &t), STORE_ONE_RESULT);
    struct store_call c = {.request_id = "r1", .method = "GET", .path = "/", .status = 200};
    assert_int_equal(s->call_insert(s->cls, &c), STORE_ONE_RESULT);
    assert_int_equal(s->service_remove(s->cls, "nothing", "1"), STORE_NO_RESULTS);
    assert_int_equal(s->grant_remove(s->cls, "C1", "nothing", "1"), STORE_NO_RESULTS);
    assert_int_equal(s->token_revoke_system(s->cls, "P1", 5), STORE_NO_RESULTS);
    assert_int_equal(s->serves_remove(s->cls, "P1", "X"), STORE_NO_RESULTS);
    assert_int_equal(s->system_remove(s->cls, "NOBODY"), STORE_NO_RESULTS);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), g);

    /* Each kind of configuration change bumps. */
    begin(s);
    assert_int_equal(s->token_revoke(s->cls, h, 5), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), ++g);
    begin(s);
    assert_int_equal(s->serves_add(s->cls, "P1", "A"), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), ++g);
    begin(s);
    assert_int_equal(s->serves_remove(s->cls, "P1", "A"), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), ++g);
    begin(s);
    assert_int_equal(s->grant_remove(s->cls, "C1", "hotich", "1.0"), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), ++g);
    begin(s);
    assert_int_equal(s->service_remove(s->cls, "hotich", "1.0"), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), ++g);
    begin(s);
    tok_hash(h, 8);
    t.sha256 = h;
    assert_int_equal(s->token_insert(s->cls, &t), STORE_ONE_RESULT);
    assert_int_equal(s->token_revoke_system(s->cls, "C1", 5), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), ++g);
    begin(s);
    assert_int_equal(s->system_remove(s->cls, "C1"), STORE_ONE_RESULT);
    commit(s);
    assert_int_equal(other->config_generation(other->cls), ++g);

    /* And the other way round: the second store's commit is seen by the first. */
    begin(other);
    y.id = "P2";
    assert_int_equal(other->system_put(other->cls, &y), STORE_ONE_RESULT);
    commit(other);
    assert_int_equal(s->config_generation(s->cls), ++g);

    /* The counter outlives the stores. */
    store_close(other);
    store_close(s);
    s = open_in(dir);
    assert_int_equal(s->config_generation(s->cls), g);
    store_close(s);
    free(dir);
}

/* ---- upgrade -------------------------------------------------------------------------------- */

/* A database of schema 1 (written before the gateway) gains the gateway's tables (and every
 * later migration's) on open and keeps its data. */
static void test_upgrade(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    const char *ids[] = {"P1"};
    setup_systems(s, ids, 1);
    store_close(s);

    char path[700];
    snprintf(path, sizeof path, "%s/lienthong.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE peer_state; DROP TABLE relay_inbound; DROP TABLE package_trace;"
                                  " DROP TABLE relay_outbox; DROP INDEX delivery_outbox;"
                                  " DROP INDEX package_document;"
                                  " ALTER TABLE package DROP COLUMN origin_peer;"
                                  " ALTER TABLE delivery DROP COLUMN outbox_id;"
                                  " ALTER TABLE delivery DROP COLUMN remote_state;"
                                  " ALTER TABLE delivery DROP COLUMN status_code;"
                                  " ALTER TABLE delivery DROP COLUMN status_ms;"
                                  " DROP TABLE route; DROP TABLE peer; DROP TABLE platform;"
                                  " DROP TABLE gateway_call; DROP TABLE access_token;"
                                  " DROP TABLE access_grant; DROP TABLE service;"
                                  " DELETE FROM schema_version WHERE version >= 2",
                                  0, 0, 0),
                     SQLITE_OK);
    sqlite3_close(db);

    s = open_in(dir);
    struct store_system y = {0};
    assert_int_equal(s->system_get(s->cls, "P1", &y), STORE_ONE_RESULT);
    store_system_clear(&y);
    begin(s);
    struct store_service v = svc("hotich", "1.0", "P1", "http://10.0.0.1/");
    assert_int_equal(s->service_put(s->cls, &v), STORE_ONE_RESULT);
    commit(s);
    store_close(s);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_version", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), sqlite_schema_current());
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_services_grants), cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_calls),           cmocka_unit_test(test_generation),
        cmocka_unit_test(test_upgrade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
