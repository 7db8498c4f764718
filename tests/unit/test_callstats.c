/* test_callstats — the gateway's call statistics (src/report/callstats.c): every figure of
 * 100,000 calls logged in a real SQLite store over six local days across a month boundary, the
 * percentiles against the exact nearest-rank values within the documented error bound, the
 * registry's system counts, the JSON and text renderings, and (with a synthetic store that
 * generates its calls on the fly) that memory does not grow with the number of calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "report/callstats.h"
#include "store/store.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static char *make_tmpdir(void)
{
    const char *base = getenv("LT_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700);
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/callstats-XXXXXX", base);
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

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int64_t local_ms(int year, int mon, int mday, int hour)
{
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = mday,
                    .tm_hour = hour,
                    .tm_isdst = -1};
    time_t t = mktime(&tm);
    assert_true(t != (time_t)-1);
    return (int64_t)t * 1000;
}

static const struct callstats_group *find_group(const struct callstats_table *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->rows[i].key, key) == 0)
            return &t->rows[i];
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Exact nearest-rank percentile of v[0..n) (sorts v). */
static int64_t exact_pct(int64_t *v, size_t n, int pct)
{
    qsort(v, n, sizeof *v, cmp_i64);
    size_t rank = (n * (size_t)pct + 99) / 100;
    return v[rank ? rank - 1 : 0];
}

/* |got - want| <= want * CALLSTATS_REL_ERROR, in integers (the bound is 1/64). */
static void assert_close(int64_t got, int64_t want, const char *what)
{
    int64_t diff = got > want ? got - want : want - got;
    if (diff * (int64_t)(1.0 / CALLSTATS_REL_ERROR) > want)
        fail_msg("%s: got %lld, exact %lld (off by %lld)", what, (long long)got, (long long)want,
                 (long long)diff);
}

/* ---- the generated call log ----------------------------------------------------------------- */

#define N_CALLS 100000
#define N_DAYS 6
#define N_SYSTEMS 17 /* SYS.01..SYS.09 official, SYS.10..SYS.17 on trial */
#define N_CONSUMERS 5
#define N_SERVICES 3

static const char *const svc_code[N_SERVICES] = {"HOTICH", "LLTP", "DKKD"};
static const char *const svc_version[N_SERVICES] = {"1.0", "2", "1.0"};
static const char *const svc_key[N_SERVICES] = {"HOTICH/1.0", "LLTP/2", "DKKD/1.0"};
static const char *const svc_provider[N_SERVICES] = {"SYS.10", "SYS.11", "SYS.12"};
static const char *const consumer_id[N_CONSUMERS] = {"SYS.01", "SYS.02", "SYS.03", "SYS.04",
                                                     "SYS.05"};
/* 2026-01-29 .. 2026-02-03, local days. */
static const char *const day_key[N_DAYS] = {"2026-01-29", "2026-01-30", "2026-01-31",
                                            "2026-02-01", "2026-02-02", "2026-02-03"};

static int64_t day_start[N_DAYS + 1];

static void init_days(void)
{
    static const int md[N_DAYS + 1][2] = {{1, 29}, {1, 30}, {1, 31}, {2, 1},
                                          {2, 2},  {2, 3},  {2, 4}};
    for (int d = 0; d <= N_DAYS; d++)
        day_start[d] = local_ms(2026, md[d][0], md[d][1], 0);
}

/* Log-uniform-ish durations from 1 us to about 17 s: every histogram range gets used. */
static int64_t gen_duration(uint64_t *rng)
{
    *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    unsigned bits = (unsigned)(*rng >> 59) % 25;       /* 0..24 */
    uint64_t mant = (*rng >> 20) & ((1ULL << 24) - 1); /* 24 random bits */
    return (int64_t)(((1ULL << bits) | (mant & ((1ULL << bits) - 1))));
}

/* Call i: day i % 6; one in 97 unauthenticated (401, no consumer, no service); otherwise
 * consumer i % 5 calling service i % 3 with status 503, 404, 429 or 200 by i % 20. */
static void gen_call(int i, uint64_t *rng, struct store_call *c, int *ret_day, int *ret_cons,
                     int *ret_svc)
{
    int day = i % N_DAYS;
    memset(c, 0, sizeof *c);
    c->time_ms = day_start[day] + (int64_t)(i / N_DAYS) * 5000 + i % 1000;
    c->request_id = "req";
    c->method = "GET";
    c->path = "/x";
    c->duration_us = gen_duration(rng);
    c->bytes_in = i % 1000;
    c->bytes_out = (int64_t)(i * 7) % 5000;
    c->request_sha256 = c->response_sha256 = "";
    *ret_day = day;
    if (i % 97 == 0) {
        c->consumer = c->provider = c->service_code = c->service_version = "";
        c->status = 401;
        c->error = "UNAUTHORIZED";
        c->upstream_us = 0;
        *ret_cons = *ret_svc = -1;
        return;
    }
    int k = i % N_CONSUMERS, s = i % N_SERVICES;
    c->consumer = consumer_id[k];
    c->provider = svc_provider[s];
    c->service_code = svc_code[s];
    c->service_version = svc_version[s];
    static const int statuses[4] = {503, 404, 429, 200};
    c->status = statuses[i % 20 < 3 ? i % 20 : 3];
    c->error = c->status == 200 ? "" : "X";
    c->upstream_us = c->duration_us / 2;
    *ret_cons = k;
    *ret_svc = s;
}

/* What the test expects of one group. */
struct want {
    int64_t calls, ok, client, server, bytes_in, bytes_out, max;
    int64_t *durs;
    size_t n;
};

static void want_add(struct want *w, const struct store_call *c)
{
    w->calls++;
    if (c->status >= 500)
        w->server++;
    else if (c->status >= 400)
        w->client++;
    else
        w->ok++;
    w->bytes_in += c->bytes_in;
    w->bytes_out += c->bytes_out;
    if (c->duration_us > w->max)
        w->max = c->duration_us;
    if (!w->durs) {
        w->durs = malloc(N_CALLS * sizeof *w->durs);
        assert_non_null(w->durs);
    }
    w->durs[w->n++] = c->duration_us;
}

static void check_group(const struct callstats_figures *f, struct want *w, const char *name)
{
    char what[96];
    assert_int_equal(f->calls, w->calls);
    assert_int_equal(f->ok, w->ok);
    assert_int_equal(f->client_errors, w->client);
    assert_int_equal(f->server_errors, w->server);
    assert_int_equal(f->ok + f->client_errors + f->server_errors, f->calls);
    assert_int_equal(f->bytes_in, w->bytes_in);
    assert_int_equal(f->bytes_out, w->bytes_out);
    assert_int_equal(f->max_us, w->max);
    snprintf(what, sizeof what, "%s p50", name);
    assert_close(f->p50_us, exact_pct(w->durs, w->n, 50), what);
    snprintf(what, sizeof what, "%s p90", name);
    assert_close(f->p90_us, exact_pct(w->durs, w->n, 90), what);
    snprintf(what, sizeof what, "%s p99", name);
    assert_close(f->p99_us, exact_pct(w->durs, w->n, 99), what);
    free(w->durs);
    memset(w, 0, sizeof *w);
}

static void put_registry(struct store *s)
{
    struct store_agency root = {.id = "000.00.00.H34", .name = "UBND tỉnh"};
    assert_int_equal(s->agency_put(s->cls, &root), STORE_ONE_RESULT);
    for (int i = 1; i <= N_SYSTEMS; i++) {
        char aid[32], sid[16];
        snprintf(aid, sizeof aid, "000.00.%02d.H34", i);
        snprintf(sid, sizeof sid, "SYS.%02d", i);
        struct store_agency a = {.id = aid, .name = "Sở", .parent_id = "000.00.00.H34"};
        assert_int_equal(s->agency_put(s->cls, &a), STORE_ONE_RESULT);
        struct store_system y = {.id = sid,
                                 .agency_id = aid,
                                 .secret = "k",
                                 .status = i <= 9 ? STORE_SYSTEM_OFFICIAL : STORE_SYSTEM_TRIAL};
        assert_int_equal(s->system_put(s->cls, &y), STORE_ONE_RESULT);
    }
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_empty_store(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);
    struct callstats_result r;
    assert_int_equal(callstats_collect(s, 0, 0, CALLSTATS_DAY, &r), 0);
    assert_int_equal(r.total.calls, 0);
    assert_int_equal(r.total.p50_us, 0);
    assert_int_equal(r.total.max_us, 0);
    assert_int_equal(r.services.n + r.consumers.n + r.providers.n + r.periods.n, 0);
    assert_int_equal(r.systems.total, 0);
    json_t *j = callstats_to_json(&r, NULL, NULL);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "from")));
    assert_string_equal(json_string_value(json_object_get(j, "period")), "day");
    assert_int_equal(json_array_size(json_object_get(j, "services")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "total"), "calls")), 0);
    json_decref(j);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    callstats_print_text(&r, f);
    fclose(f);
    assert_non_null(strstr(text, "Hệ thống kết nối: 0 (chính thức 0, thử nghiệm 0)"));
    free(text);
    callstats_result_clear(&r);
    callstats_result_clear(&r); /* idempotent */
    store_close(s);
    rm_rf(dir);
    free(dir);
}

static void test_figures(void **state)
{
    (void)state;
    init_days();
    char *dir = make_tmpdir();
    struct store *s = open_in(dir);

    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    put_registry(s);
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);

    /* Two calls just outside [day 0, day 6): never counted. */
    struct store_call out = {.time_ms = day_start[0] - 1,
                             .request_id = "r",
                             .consumer = "SYS.06",
                             .provider = "SYS.13",
                             .service_code = "OUT",
                             .service_version = "1",
                             .method = "GET",
                             .path = "/",
                             .status = 200,
                             .error = "",
                             .duration_us = 99999999,
                             .bytes_in = 1,
                             .bytes_out = 1,
                             .request_sha256 = "",
                             .response_sha256 = ""};
    assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
    assert_int_equal(s->call_insert(s->cls, &out), STORE_ONE_RESULT);
    out.time_ms = day_start[N_DAYS];
    assert_int_equal(s->call_insert(s->cls, &out), STORE_ONE_RESULT);

    static struct want total, per_day[N_DAYS], per_month[2], per_cons[N_CONSUMERS + 1],
        per_svc[N_SERVICES + 1], per_prov[N_SERVICES + 1];
    uint64_t rng = 42;
    for (int i = 0; i < N_CALLS; i++) {
        struct store_call c;
        int day, k, sv;
        gen_call(i, &rng, &c, &day, &k, &sv);
        assert_int_equal(s->call_insert(s->cls, &c), STORE_ONE_RESULT);
        want_add(&total, &c);
        want_add(&per_day[day], &c);
        want_add(&per_month[day < 3 ? 0 : 1], &c);
        want_add(&per_cons[k + 1], &c); /* [0] = unauthenticated */
        want_add(&per_svc[sv + 1], &c); /* [0] = no service */
        want_add(&per_prov[sv + 1], &c);
        if (i % 20000 == 19999) {
            assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);
            assert_int_equal(s->write_begin(s->cls), STORE_ONE_RESULT);
        }
    }
    assert_int_equal(s->write_commit(s->cls), STORE_ONE_RESULT);

    /* Per day. */
    struct callstats_result r;
    assert_int_equal(callstats_collect(s, day_start[0], day_start[N_DAYS], CALLSTATS_DAY, &r), 0);
    assert_int_equal(r.period, CALLSTATS_DAY);
    assert_int_equal(r.from_ms, day_start[0]);
    assert_int_equal(r.to_ms, day_start[N_DAYS]);
    assert_int_equal(r.total.calls, N_CALLS);
    /* The unauthenticated calls: i % 97 == 0 for i < N_CALLS. */
    assert_int_equal(per_cons[0].calls, (N_CALLS + 96) / 97);

    assert_int_equal(r.periods.n, N_DAYS);
    for (int d = 0; d < N_DAYS; d++) {
        assert_string_equal(r.periods.rows[d].key, day_key[d]); /* in time order */
        assert_null(r.periods.rows[d].provider);
        check_group(&r.periods.rows[d].f, &per_day[d], day_key[d]);
    }
    assert_int_equal(r.consumers.n, N_CONSUMERS + 1);
    assert_string_equal(r.consumers.rows[0].key, "");
    check_group(&r.consumers.rows[0].f, &per_cons[0], "unauthenticated");
    for (int k = 0; k < N_CONSUMERS; k++) {
        const struct callstats_group *g = find_group(&r.consumers, consumer_id[k]);
        assert_non_null(g);
        check_group(&g->f, &per_cons[k + 1], consumer_id[k]);
    }
    assert_int_equal(r.services.n, N_SERVICES + 1);
    assert_int_equal(r.providers.n, N_SERVICES + 1);
    const struct callstats_group *none = find_group(&r.services, "");
    assert_non_null(none);
    assert_null(none->provider);
    assert_int_equal(none->f.calls, per_svc[0].calls);
    assert_int_equal(none->f.client_errors, per_svc[0].calls); /* all 401 */
    check_group(&none->f, &per_svc[0], "no service");
    check_group(&find_group(&r.providers, "")->f, &per_prov[0], "no provider");
    for (int k = 0; k < N_SERVICES; k++) {
        const struct callstats_group *g = find_group(&r.services, svc_key[k]);
        assert_non_null(g);
        assert_string_equal(g->provider, svc_provider[k]);
        check_group(&g->f, &per_svc[k + 1], svc_key[k]);
        g = find_group(&r.providers, svc_provider[k]);
        assert_non_null(g);
        assert_null(g->provider);
        check_group(&g->f, &per_prov[k + 1], svc_provider[k]);
    }
    /* Ordered by key. */
    for (size_t i = 1; i < r.services.n; i++)
        assert_true(strcmp(r.services.rows[i - 1].key, r.services.rows[i].key) < 0);

    /* 17 systems, 9 official and 8 on trial; active: 5 official consumers, 3 trial providers
     * (SYS.06 and SYS.13 only called outside the period). */
    assert_int_equal(r.systems.total, N_SYSTEMS);
    assert_int_equal(r.systems.official, 9);
    assert_int_equal(r.systems.trial, 8);
    assert_int_equal(r.systems.active, 8);
    assert_int_equal(r.systems.active_official, 5);
    assert_int_equal(r.systems.active_trial, 3);

    /* JSON. */
    json_t *j = callstats_to_json(&r, "2026-01-29", "2026-02-03");
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "from")), "2026-01-29");
    json_t *sys = json_object_get(j, "systems");
    assert_int_equal(json_integer_value(json_object_get(sys, "total")), 17);
    assert_int_equal(json_integer_value(json_object_get(sys, "official")), 9);
    assert_int_equal(json_integer_value(json_object_get(sys, "trial")), 8);
    assert_int_equal(json_integer_value(json_object_get(sys, "active")), 8);
    json_t *jt = json_object_get(j, "total");
    assert_int_equal(json_integer_value(json_object_get(jt, "calls")), N_CALLS);
    assert_int_equal(json_integer_value(json_object_get(jt, "ok")), r.total.ok);
    assert_int_equal(json_integer_value(json_object_get(jt, "server_errors")),
                     r.total.server_errors);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(jt, "latency_us"), "p99")),
                     r.total.p99_us);
    json_t *svcs = json_object_get(j, "services");
    assert_int_equal(json_array_size(svcs), N_SERVICES + 1);
    int seen = 0;
    for (size_t i = 0; i < json_array_size(svcs); i++) {
        json_t *o = json_array_get(svcs, i);
        if (strcmp(json_string_value(json_object_get(o, "service")), "LLTP/2") != 0)
            continue;
        assert_string_equal(json_string_value(json_object_get(o, "code")), "LLTP");
        assert_string_equal(json_string_value(json_object_get(o, "version")), "2");
        assert_string_equal(json_string_value(json_object_get(o, "provider")), "SYS.11");
        assert_int_equal(json_integer_value(json_object_get(o, "calls")),
                         find_group(&r.services, "LLTP/2")->f.calls);
        seen = 1;
    }
    assert_true(seen);
    json_t *per = json_object_get(j, "periods");
    assert_int_equal(json_array_size(per), N_DAYS);
    assert_string_equal(json_string_value(json_object_get(json_array_get(per, 0), "period")),
                        "2026-01-29");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "consumers"), 1), "consumer")),
                        "SYS.01");
    json_decref(j);

    /* Text. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    callstats_print_text(&r, f);
    fclose(f);
    assert_non_null(strstr(text, "Hệ thống kết nối: 17 (chính thức 9, thử nghiệm 8)"));
    assert_non_null(strstr(text, "Dịch vụ"));
    assert_non_null(strstr(text, "Hệ thống khai thác"));
    assert_non_null(strstr(text, "Hệ thống cung cấp"));
    assert_non_null(strstr(text, "p99 (ms)"));
    assert_non_null(strstr(text, "LLTP/2"));
    assert_non_null(strstr(text, "2026-02-03"));
    assert_non_null(strstr(text, "(chưa xác thực)"));
    char line[64];
    snprintf(line, sizeof line, "Số lượt gọi: %d (", N_CALLS);
    assert_non_null(strstr(text, line));
    free(text);
    callstats_result_clear(&r);

    /* Per month over the same calls: 2026-01 holds days 0..2, 2026-02 days 3..5. */
    assert_int_equal(callstats_collect(s, day_start[0], day_start[N_DAYS], CALLSTATS_MONTH, &r), 0);
    assert_int_equal(r.period, CALLSTATS_MONTH);
    assert_int_equal(r.periods.n, 2);
    assert_string_equal(r.periods.rows[0].key, "2026-01");
    assert_string_equal(r.periods.rows[1].key, "2026-02");
    check_group(&r.periods.rows[0].f, &per_month[0], "2026-01");
    check_group(&r.periods.rows[1].f, &per_month[1], "2026-02");
    check_group(&r.total, &total, "total");
    callstats_result_clear(&r);

    /* Unbounded: the two outside calls too, each its own service, consumer and provider. */
    assert_int_equal(callstats_collect(s, 0, 0, CALLSTATS_DAY, &r), 0);
    assert_int_equal(r.total.calls, N_CALLS + 2);
    assert_int_equal(r.periods.n, N_DAYS + 2);
    assert_string_equal(r.periods.rows[0].key, "2026-01-28");
    assert_string_equal(r.periods.rows[N_DAYS + 1].key, "2026-02-04");
    assert_int_equal(find_group(&r.services, "OUT/1")->f.calls, 2);
    assert_int_equal(r.total.max_us, 99999999);
    assert_int_equal(r.systems.active, 10);
    assert_int_equal(r.systems.active_official, 6);
    assert_int_equal(r.systems.active_trial, 4);
    callstats_result_clear(&r);

    /* One day only. */
    assert_int_equal(callstats_collect(s, day_start[2], day_start[3], CALLSTATS_DAY, &r), 0);
    assert_int_equal(r.periods.n, 1);
    assert_string_equal(r.periods.rows[0].key, "2026-01-31");
    assert_int_equal(r.total.calls, r.periods.rows[0].f.calls);
    callstats_result_clear(&r);

    store_close(s);
    rm_rf(dir);
    free(dir);
}

/* ---- bounded memory: a store that invents its calls ----------------------------------------- */

struct fake {
    int64_t n_calls;
    size_t heap_at_start, heap_max;
};

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static enum store_rc fake_call_scan(void *cls, int64_t from_ms, int64_t to_ms, store_call_cb cb,
                                    void *ctx)
{
    (void)from_ms;
    (void)to_ms;
    struct fake *fk = cls;
    fk->heap_at_start = heap_in_use();
    uint64_t rng = 7;
    int64_t base = local_ms(2026, 3, 1, 0);
    char consumer[16];
    for (int64_t i = 0; i < fk->n_calls; i++) {
        snprintf(consumer, sizeof consumer, "C%02d", (int)(i % 50));
        struct store_call c = {.time_ms = base + i * 100,
                               .consumer = consumer,
                               .provider = "P",
                               .service_code = "S",
                               .service_version = "1",
                               .status = i % 10 == 0 ? 500 : 200,
                               .duration_us = gen_duration(&rng),
                               .bytes_in = 1,
                               .bytes_out = 2};
        if (cb(ctx, &c) != 0)
            break;
        if (i % 4096 == 0) {
            size_t h = heap_in_use();
            if (h > fk->heap_max)
                fk->heap_max = h;
        }
    }
    return STORE_ONE_RESULT;
}

static enum store_rc fake_system_list(void *cls, store_system_cb cb, void *ctx)
{
    (void)cls;
    struct store_system y = {.id = "C01", .agency_id = "A", .status = STORE_SYSTEM_TRIAL};
    cb(ctx, &y, NULL, 0);
    return STORE_ONE_RESULT;
}

static void test_bounded_memory(void **state)
{
    (void)state;
    /* 2,000,000 calls over 2.3 days (one every 100 ms), 50 consumers, one service: 56 groups.
     * Holding the calls would take tens of megabytes; the accumulators take about 0.5 MB. */
    struct fake fk = {.n_calls = 2000000};
    struct store st = {.cls = &fk, .call_scan = fake_call_scan, .system_list = fake_system_list};
    struct callstats_result r;
    assert_int_equal(callstats_collect(&st, 0, 0, CALLSTATS_DAY, &r), 0);
    assert_int_equal(r.total.calls, 2000000);
    assert_int_equal(r.total.server_errors, 200000);
    assert_int_equal(r.total.bytes_out, 4000000);
    assert_int_equal(r.consumers.n, 50);
    assert_int_equal(r.services.n, 1);
    assert_int_equal(r.periods.n, 3);
    assert_int_equal(r.systems.total, 1);
    assert_int_equal(r.systems.active, 1);
    if (fk.heap_max > fk.heap_at_start) /* 0 when a sanitizer replaces malloc */
        assert_true(fk.heap_max - fk.heap_at_start < 2u * 1024 * 1024);
    callstats_result_clear(&r);
}

/* ---- percentiles alone ---------------------------------------------------------------------- */

struct list_store {
    const int64_t *durs;
    size_t n;
};

static enum store_rc list_call_scan(void *cls, int64_t from_ms, int64_t to_ms, store_call_cb cb,
                                    void *ctx)
{
    (void)from_ms;
    (void)to_ms;
    const struct list_store *ls = cls;
    for (size_t i = 0; i < ls->n; i++) {
        struct store_call c = {.time_ms = 1000,
                               .consumer = "A",
                               .provider = "B",
                               .service_code = "S",
                               .service_version = "1",
                               .status = 200,
                               .duration_us = ls->durs[i]};
        cb(ctx, &c);
    }
    return STORE_ONE_RESULT;
}

static enum store_rc no_systems(void *cls, store_system_cb cb, void *ctx)
{
    (void)cls;
    (void)cb;
    (void)ctx;
    return STORE_ONE_RESULT;
}

static void pct_case(const int64_t *durs, size_t n)
{
    struct list_store ls = {.durs = durs, .n = n};
    struct store st = {.cls = &ls, .call_scan = list_call_scan, .system_list = no_systems};
    struct callstats_result r;
    assert_int_equal(callstats_collect(&st, 0, 0, CALLSTATS_DAY, &r), 0);
    int64_t *copy = malloc(n * sizeof *copy);
    assert_non_null(copy);
    memcpy(copy, durs, n * sizeof *copy);
    assert_close(r.total.p50_us, exact_pct(copy, n, 50), "p50");
    assert_close(r.total.p90_us, exact_pct(copy, n, 90), "p90");
    assert_close(r.total.p99_us, exact_pct(copy, n, 99), "p99");
    assert_int_equal(r.total.max_us, copy[n - 1]);
    free(copy);
    callstats_result_clear(&r);
}

static void test_percentiles(void **state)
{
    (void)state;
    /* One value: every percentile is it, exactly (clamped to min and max). */
    const int64_t one[] = {123456789};
    struct list_store ls = {.durs = one, .n = 1};
    struct store st = {.cls = &ls, .call_scan = list_call_scan, .system_list = no_systems};
    struct callstats_result r;
    assert_int_equal(callstats_collect(&st, 0, 0, CALLSTATS_DAY, &r), 0);
    assert_int_equal(r.total.p50_us, 123456789);
    assert_int_equal(r.total.p99_us, 123456789);
    callstats_result_clear(&r);
    /* Small values are exact. */
    int64_t small[100];
    for (int i = 0; i < 100; i++)
        small[i] = 100 - i - 37 > 0 ? 100 - i - 37 : 0;
    pct_case(small, 100);
    /* 1..100000 in order: p50 = 50000, p90 = 90000, p99 = 99000 within 1/64. */
    static int64_t seq[100000];
    for (int i = 0; i < 100000; i++)
        seq[i] = i + 1;
    pct_case(seq, 100000);
    /* Values at bucket edges (powers of two and their neighbours) up to 2^40. */
    static int64_t edges[3 * CALLSTATS_MAX_BITS];
    size_t n = 0;
    for (int b = 0; b < CALLSTATS_MAX_BITS; b++) {
        edges[n++] = ((int64_t)1 << b) - 1;
        edges[n++] = (int64_t)1 << b;
        edges[n++] = ((int64_t)1 << b) + 1;
    }
    pct_case(edges, n);
    /* Negative durations count as 0. */
    const int64_t neg[] = {-5, -5, -5};
    ls.durs = neg;
    ls.n = 3;
    assert_int_equal(callstats_collect(&st, 0, 0, CALLSTATS_DAY, &r), 0);
    assert_int_equal(r.total.p50_us, 0);
    assert_int_equal(r.total.max_us, 0);
    callstats_result_clear(&r);
}

static void test_period_names(void **state)
{
    (void)state;
    enum callstats_period p = CALLSTATS_DAY;
    assert_int_equal(callstats_period_parse("month", &p), 0);
    assert_int_equal(p, CALLSTATS_MONTH);
    assert_int_equal(callstats_period_parse("day", &p), 0);
    assert_int_equal(p, CALLSTATS_DAY);
    assert_int_equal(callstats_period_parse("week", &p), -1);
    assert_int_equal(callstats_period_parse(NULL, &p), -1);
    assert_string_equal(callstats_period_name(CALLSTATS_MONTH), "month");
    assert_string_equal(callstats_period_name(CALLSTATS_DAY), "day");
}

int main(void)
{
    /* Vietnam's zone (no daylight saving); falls back to UTC without tzdata: the test computes
     * its day boundaries with the same rules as the code under test either way. */
    setenv("TZ", "Asia/Ho_Chi_Minh", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_period_names),   cmocka_unit_test(test_percentiles),
        cmocka_unit_test(test_bounded_memory), cmocka_unit_test(test_empty_store),
        cmocka_unit_test(test_figures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
