/* callstats — collecting and rendering the gateway's figures of a period (see callstats.h).
 *
 * Design: one pass over store->call_scan. Each call is added to five accumulators (its service,
 * consumer, provider, period and the total), found through one small open-addressing hash table
 * per dimension. An accumulator is a fixed-size set of counters plus a latency histogram, so
 * the memory used depends on the number of groups only; nothing of a call is kept after its
 * callback returns. The percentiles are read off the histograms at the end and the histograms
 * freed: a result holds figures only. */
#include "report/callstats.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/table.h"

/* ---- latency histogram ---------------------------------------------------------------------- */

#define SUB (1 << CALLSTATS_SUB_BITS)

/* Bucket of a duration: v itself below 2 * SUB, else SUB buckets per power of two. */
static size_t bucket_of(int64_t v)
{
    if (v < 0)
        v = 0;
    if (v >= ((int64_t)1 << CALLSTATS_MAX_BITS))
        return CALLSTATS_BUCKETS - 1;
    if (v < 2 * SUB)
        return (size_t)v;
    int e = 63 - __builtin_clzll((unsigned long long)v); /* 2^e <= v < 2^(e+1), e > SUB_BITS */
    int shift = e - CALLSTATS_SUB_BITS;
    return ((size_t)(shift + 1) << CALLSTATS_SUB_BITS) + (size_t)((v >> shift) - SUB);
}

/* The middle of bucket i: within 1/(2 SUB) of any value the bucket holds. */
static int64_t bucket_mid(size_t i)
{
    if (i < 2 * SUB)
        return (int64_t)i;
    int shift = (int)(i >> CALLSTATS_SUB_BITS) - 1;
    int64_t low = (int64_t)(SUB + (i & (SUB - 1))) << shift, width = (int64_t)1 << shift;
    return low + (width - 1) / 2;
}

/* ---- accumulators ---------------------------------------------------------------------------- */

struct acc {
    char *key;
    char *provider; /* service groups only */
    uint64_t *hist; /* CALLSTATS_BUCKETS counters */
    int64_t min_us; /* exact, for clamping the percentiles */
    struct callstats_figures f;
};

struct dim {
    struct acc *accs;
    size_t n, cap;
    uint32_t *slots; /* index + 1 into accs, 0 = empty; nslots is a power of two */
    size_t nslots;
};

static uint64_t hash_str(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int acc_init(struct acc *a, const char *key, size_t len)
{
    memset(a, 0, sizeof *a);
    a->key = malloc(len + 1);
    a->hist = calloc(CALLSTATS_BUCKETS, sizeof *a->hist);
    if (!a->key || !a->hist) {
        free(a->key);
        free(a->hist);
        memset(a, 0, sizeof *a);
        return -1;
    }
    memcpy(a->key, key, len);
    a->key[len] = '\0';
    return 0;
}

static void acc_free(struct acc *a)
{
    free(a->key);
    free(a->provider);
    free(a->hist);
}

static void acc_add(struct acc *a, const struct store_call *c)
{
    struct callstats_figures *f = &a->f;
    int64_t d = c->duration_us > 0 ? c->duration_us : 0;
    if (f->calls == 0 || d < a->min_us)
        a->min_us = d;
    if (d > f->max_us)
        f->max_us = d;
    f->calls++;
    if (c->status >= 500)
        f->server_errors++;
    else if (c->status >= 400)
        f->client_errors++;
    else
        f->ok++;
    f->bytes_in += c->bytes_in > 0 ? c->bytes_in : 0;
    f->bytes_out += c->bytes_out > 0 ? c->bytes_out : 0;
    a->hist[bucket_of(d)]++;
}

/* Nearest-rank percentile pct (1..100) from the histogram, clamped to [min, max]. */
static int64_t acc_percentile(const struct acc *a, int pct)
{
    if (a->f.calls == 0)
        return 0;
    uint64_t rank = ((uint64_t)a->f.calls * (uint64_t)pct + 99) / 100, seen = 0;
    if (rank == 0)
        rank = 1;
    for (size_t i = 0; i < CALLSTATS_BUCKETS; i++) {
        seen += a->hist[i];
        if (seen >= rank) {
            int64_t v = bucket_mid(i);
            if (v < a->min_us)
                v = a->min_us;
            if (v > a->f.max_us)
                v = a->f.max_us;
            return v;
        }
    }
    return a->f.max_us; /* not reached: the counts sum to calls */
}

static void acc_finish(struct acc *a)
{
    a->f.p50_us = acc_percentile(a, 50);
    a->f.p90_us = acc_percentile(a, 90);
    a->f.p99_us = acc_percentile(a, 99);
}

static void dim_free(struct dim *d)
{
    for (size_t i = 0; i < d->n; i++)
        acc_free(&d->accs[i]);
    free(d->accs);
    free(d->slots);
    memset(d, 0, sizeof *d);
}

static int dim_rehash(struct dim *d, size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < d->n; i++) {
        const char *k = d->accs[i].key;
        size_t j = (size_t)hash_str(k, strlen(k)) & (nslots - 1);
        while (slots[j])
            j = (j + 1) & (nslots - 1);
        slots[j] = (uint32_t)(i + 1);
    }
    free(d->slots);
    d->slots = slots;
    d->nslots = nslots;
    return 0;
}

/* The accumulator of key (len bytes, not NUL-terminated), created when new; NULL when out of
 * memory. */
static struct acc *dim_get(struct dim *d, const char *key, size_t len)
{
    if (d->nslots == 0 && dim_rehash(d, 64) != 0)
        return NULL;
    size_t mask = d->nslots - 1, j = (size_t)hash_str(key, len) & mask;
    for (; d->slots[j]; j = (j + 1) & mask) {
        struct acc *a = &d->accs[d->slots[j] - 1];
        if (strncmp(a->key, key, len) == 0 && a->key[len] == '\0')
            return a;
    }
    if (d->n >= UINT32_MAX - 1)
        return NULL;
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 16;
        struct acc *na = realloc(d->accs, ncap * sizeof *na);
        if (!na)
            return NULL;
        d->accs = na;
        d->cap = ncap;
    }
    struct acc *a = &d->accs[d->n];
    if (acc_init(a, key, len) != 0)
        return NULL;
    d->slots[j] = (uint32_t)(++d->n);
    if (d->n * 10 > d->nslots * 7 && dim_rehash(d, d->nslots * 2) != 0)
        return NULL; /* the new entry stays reachable by index; the caller gives up anyway */
    return a;
}

static struct acc *dim_find(const struct dim *d, const char *key)
{
    if (d->nslots == 0)
        return NULL;
    size_t len = strlen(key), mask = d->nslots - 1, j = (size_t)hash_str(key, len) & mask;
    for (; d->slots[j]; j = (j + 1) & mask)
        if (strcmp(d->accs[d->slots[j] - 1].key, key) == 0)
            return &d->accs[d->slots[j] - 1];
    return NULL;
}

/* ---- collection ------------------------------------------------------------------------------ */

struct collect {
    enum callstats_period period;
    struct dim services, consumers, providers, periods;
    struct acc total;
    /* The period of the previous call: calls come in time order, so localtime runs once per
     * period rather than once per call. */
    int64_t cur_start_ms, cur_end_ms;
    char cur_key[40]; /* "YYYY-MM-DD" (room for any int year) */
    int have_cur;
    int oom;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Finds the local day or month holding t_ms: its key and [start, end). */
static int period_of(struct collect *c, int64_t t_ms)
{
    if (c->have_cur && t_ms >= c->cur_start_ms && t_ms < c->cur_end_ms)
        return 0;
    time_t t = (time_t)floor_div(t_ms, 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return -1;
    struct tm start = tm, end;
    start.tm_hour = start.tm_min = start.tm_sec = 0;
    start.tm_isdst = -1;
    if (c->period == CALLSTATS_MONTH) {
        start.tm_mday = 1;
        snprintf(c->cur_key, sizeof c->cur_key, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
    } else {
        snprintf(c->cur_key, sizeof c->cur_key, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday);
    }
    end = start;
    if (c->period == CALLSTATS_MONTH)
        end.tm_mon++;
    else
        end.tm_mday++;
    time_t s = mktime(&start), e = mktime(&end);
    if (s == (time_t)-1 || e == (time_t)-1 || (int64_t)s * 1000 > t_ms ||
        (int64_t)e * 1000 <= t_ms) {
        c->have_cur = 0; /* odd time zone rules: recompute for the next call */
        return 0;
    }
    c->cur_start_ms = (int64_t)s * 1000;
    c->cur_end_ms = (int64_t)e * 1000;
    c->have_cur = 1;
    return 0;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

static int add_to(struct dim *d, const char *key, size_t len, const struct store_call *call)
{
    struct acc *a = dim_get(d, key, len);
    if (!a)
        return -1;
    acc_add(a, call);
    return 0;
}

static int collect_cb(void *ctx, const struct store_call *call)
{
    struct collect *c = ctx;
    const char *code = nz(call->service_code), *version = nz(call->service_version);
    const char *consumer = nz(call->consumer), *provider = nz(call->provider);

    /* "code/version", or "" when no service matched. */
    size_t lc = strlen(code), lv = strlen(version), ls = *code ? lc + 1 + lv : 0;
    char small[192], *skey = ls < sizeof small ? small : malloc(ls + 1);
    if (!skey)
        goto oom;
    if (*code) {
        memcpy(skey, code, lc);
        skey[lc] = '/';
        memcpy(skey + lc + 1, version, lv);
    }
    skey[ls] = '\0';
    struct acc *svc = dim_get(&c->services, skey, ls);
    if (skey != small)
        free(skey);
    if (!svc)
        goto oom;
    acc_add(svc, call);
    if (*provider && (!svc->provider || strcmp(svc->provider, provider) != 0)) {
        char *p = strdup(provider);
        if (!p)
            goto oom;
        free(svc->provider);
        svc->provider = p;
    }

    if (period_of(c, call->time_ms) != 0)
        goto oom; /* localtime failed: the only cause left is a time out of range */
    if (add_to(&c->consumers, consumer, strlen(consumer), call) != 0 ||
        add_to(&c->providers, provider, strlen(provider), call) != 0 ||
        add_to(&c->periods, c->cur_key, strlen(c->cur_key), call) != 0)
        goto oom;
    acc_add(&c->total, call);
    return 0;
oom:
    c->oom = 1;
    return 1;
}

struct sys_ctx {
    const struct collect *c;
    struct callstats_systems *out;
};

static int system_cb(void *ctx, const struct store_system *s, char *const *serves, size_t n_serves)
{
    (void)serves;
    (void)n_serves;
    struct sys_ctx *x = ctx;
    int official = s->status == STORE_SYSTEM_OFFICIAL;
    x->out->total++;
    if (official)
        x->out->official++;
    else
        x->out->trial++;
    if (dim_find(&x->c->consumers, s->id) || dim_find(&x->c->providers, s->id)) {
        x->out->active++;
        if (official)
            x->out->active_official++;
        else
            x->out->active_trial++;
    }
    return 0;
}

static int group_cmp(const void *a, const void *b)
{
    return strcmp(((const struct callstats_group *)a)->key,
                  ((const struct callstats_group *)b)->key);
}

static void table_free(struct callstats_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->rows[i].key);
        free(t->rows[i].provider);
    }
    free(t->rows);
    memset(t, 0, sizeof *t);
}

/* Moves the finished figures of d into t (sorted by key); d keeps only what is left to free. */
static int dim_to_table(struct dim *d, struct callstats_table *t)
{
    memset(t, 0, sizeof *t);
    if (d->n == 0)
        return 0;
    t->rows = calloc(d->n, sizeof *t->rows);
    if (!t->rows)
        return -1;
    for (size_t i = 0; i < d->n; i++) {
        struct acc *a = &d->accs[i];
        acc_finish(a);
        t->rows[i].key = a->key;
        t->rows[i].provider = a->provider;
        t->rows[i].f = a->f;
        a->key = a->provider = NULL;
    }
    t->n = d->n;
    qsort(t->rows, t->n, sizeof *t->rows, group_cmp);
    return 0;
}

int callstats_collect(struct store *s, int64_t from_ms, int64_t to_ms, enum callstats_period period,
                      struct callstats_result *ret)
{
    struct collect c;
    memset(&c, 0, sizeof c);
    c.period = period == CALLSTATS_MONTH ? CALLSTATS_MONTH : CALLSTATS_DAY;
    struct callstats_result r;
    memset(&r, 0, sizeof r);
    struct sys_ctx sx = {.c = &c, .out = &r.systems};
    enum store_rc rc;
    int rv = -1;
    if (acc_init(&c.total, "", 0) != 0)
        goto out;
    rc = s->call_scan(s->cls, from_ms, to_ms, collect_cb, &c);
    if (rc < 0 || c.oom)
        goto out;
    rc = s->system_list(s->cls, system_cb, &sx);
    if (rc < 0)
        goto out;
    if (dim_to_table(&c.services, &r.services) != 0 ||
        dim_to_table(&c.consumers, &r.consumers) != 0 ||
        dim_to_table(&c.providers, &r.providers) != 0 || dim_to_table(&c.periods, &r.periods) != 0)
        goto out;
    acc_finish(&c.total);
    r.total = c.total.f;
    r.from_ms = from_ms;
    r.to_ms = to_ms;
    r.period = c.period;
    *ret = r;
    memset(&r, 0, sizeof r);
    rv = 0;
out:
    callstats_result_clear(&r);
    dim_free(&c.services);
    dim_free(&c.consumers);
    dim_free(&c.providers);
    dim_free(&c.periods);
    acc_free(&c.total);
    return rv;
}

void callstats_result_clear(struct callstats_result *r)
{
    if (!r)
        return;
    table_free(&r->services);
    table_free(&r->consumers);
    table_free(&r->providers);
    table_free(&r->periods);
    memset(r, 0, sizeof *r);
}

const char *callstats_period_name(enum callstats_period p)
{
    return p == CALLSTATS_MONTH ? "month" : "day";
}

int callstats_period_parse(const char *s, enum callstats_period *ret)
{
    if (s && strcmp(s, "day") == 0)
        *ret = CALLSTATS_DAY;
    else if (s && strcmp(s, "month") == 0)
        *ret = CALLSTATS_MONTH;
    else
        return -1;
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static json_t *str_or_null(const char *s)
{
    json_t *j = s ? json_string(s) : NULL; /* NULL also for invalid UTF-8 */
    return j ? j : json_null();
}

/* The figures as members of o (consumed on failure: returns NULL). */
static json_t *add_figures(json_t *o, const struct callstats_figures *f)
{
    if (!o)
        return NULL;
    json_t *lat =
        json_pack("{s:I,s:I,s:I,s:I}", "p50", (json_int_t)f->p50_us, "p90", (json_int_t)f->p90_us,
                  "p99", (json_int_t)f->p99_us, "max", (json_int_t)f->max_us);
    json_t *fig =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "calls", (json_int_t)f->calls, "ok",
                  (json_int_t)f->ok, "client_errors", (json_int_t)f->client_errors, "server_errors",
                  (json_int_t)f->server_errors, "bytes_in", (json_int_t)f->bytes_in, "bytes_out",
                  (json_int_t)f->bytes_out, "latency_us", lat);
    if (!fig || json_object_update(o, fig) != 0) {
        json_decref(fig);
        json_decref(o);
        return NULL;
    }
    json_decref(fig);
    return o;
}

static json_t *group_json(const char *member, const struct callstats_group *g)
{
    json_t *o;
    if (strcmp(member, "service") == 0) {
        const char *slash = strchr(g->key, '/');
        size_t lc = slash ? (size_t)(slash - g->key) : strlen(g->key);
        json_t *code = json_stringn(g->key, lc);
        o = json_pack("{s:o,s:o,s:o,s:o}", "service", str_or_null(g->key), "code",
                      code ? code : json_null(), "version", str_or_null(slash ? slash + 1 : ""),
                      "provider", str_or_null(g->provider ? g->provider : ""));
    } else {
        o = json_pack("{s:o}", member, str_or_null(g->key));
    }
    return add_figures(o, &g->f);
}

static json_t *table_json(const char *member, const struct callstats_table *t)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        json_t *row = group_json(member, &t->rows[i]);
        if (!row || json_array_append_new(a, row) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *callstats_to_json(const struct callstats_result *r, const char *from_label,
                          const char *to_label)
{
    const struct callstats_systems *y = &r->systems;
    json_t *systems =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "total", (json_int_t)y->total, "official",
                  (json_int_t)y->official, "trial", (json_int_t)y->trial, "active",
                  (json_int_t)y->active, "active_official", (json_int_t)y->active_official,
                  "active_trial", (json_int_t)y->active_trial);
    json_t *total = add_figures(json_object(), &r->total);
    json_t *services = table_json("service", &r->services);
    json_t *consumers = table_json("consumer", &r->consumers);
    json_t *providers = table_json("provider", &r->providers);
    json_t *periods = table_json("period", &r->periods);
    /* "o" steals every reference, also on failure; a NULL member fails the pack. */
    return json_pack("{s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "from", str_or_null(from_label), "to",
                     str_or_null(to_label), "period", callstats_period_name(r->period), "systems",
                     systems, "total", total, "services", services, "consumers", consumers,
                     "providers", providers, "periods", periods);
}

/* ---- text ------------------------------------------------------------------------------------ */

static size_t swidth(const char *s)
{
    return utf8_width(s, strlen(s));
}

#define N_NUM 10
#define NAME_MAX_COLS 40

static const char *const num_headers[N_NUM] = {
    "Số lượt gọi", "Thành công", "Lỗi 4xx",     "Lỗi 5xx",     "p50 (ms)",
    "p90 (ms)",    "p99 (ms)",   "Tối đa (ms)", "Nhận (byte)", "Gửi (byte)",
};

/* Microseconds as milliseconds with one decimal, rounded. */
static void fmt_ms(char *out, size_t cap, int64_t us)
{
    int64_t tenths = (us + 50) / 100;
    snprintf(out, cap, "%" PRId64 ".%d", tenths / 10, (int)(tenths % 10));
}

static void fig_cells(const struct callstats_figures *f, char out[N_NUM][24])
{
    const int64_t counts[4] = {f->calls, f->ok, f->client_errors, f->server_errors};
    for (int i = 0; i < 4; i++)
        snprintf(out[i], 24, "%" PRId64, counts[i]);
    const int64_t lat[4] = {f->p50_us, f->p90_us, f->p99_us, f->max_us};
    for (int i = 0; i < 4; i++)
        fmt_ms(out[4 + i], 24, lat[i]);
    snprintf(out[8], 24, "%" PRId64, f->bytes_in);
    snprintf(out[9], 24, "%" PRId64, f->bytes_out);
}

static void put_line(FILE *f, const char *a, size_t wa, const char *b, size_t wb,
                     char cells[N_NUM][24], const size_t w_num[N_NUM])
{
    table_cell(f, a, wa, 0);
    if (wb) {
        fputs("  ", f);
        table_cell(f, b, wb, 0);
    }
    for (int i = 0; i < N_NUM; i++) {
        fputs("  ", f);
        table_cell(f, cells[i], w_num[i], 1);
    }
    fputc('\n', f);
}

static void rule(FILE *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fputc('-', f);
    fputc('\n', f);
}

/* One dimension as a table: key column (empty key shown as empty_label), for services the
 * provider column, the figures, then the total line. */
static void print_table(FILE *f, const char *h_key, const char *h_provider,
                        const struct callstats_table *t, const char *empty_label,
                        const struct callstats_figures *total)
{
    static const char total_label[] = "Tổng cộng";
    size_t wa = swidth(h_key), wb = h_provider ? swidth(h_provider) : 0, w_num[N_NUM];
    char cells[N_NUM][24];
    if (swidth(total_label) > wa)
        wa = swidth(total_label);
    for (int i = 0; i < N_NUM; i++)
        w_num[i] = swidth(num_headers[i]);
    for (size_t k = 0; k <= t->n; k++) {
        const struct callstats_figures *fig = k < t->n ? &t->rows[k].f : total;
        if (k < t->n) {
            size_t w = swidth(*t->rows[k].key ? t->rows[k].key : empty_label);
            w = w < NAME_MAX_COLS ? w : NAME_MAX_COLS;
            wa = w > wa ? w : wa;
            if (h_provider) {
                w = swidth(t->rows[k].provider ? t->rows[k].provider : "");
                w = w < NAME_MAX_COLS ? w : NAME_MAX_COLS;
                wb = w > wb ? w : wb;
            }
        }
        fig_cells(fig, cells);
        for (int i = 0; i < N_NUM; i++)
            if (strlen(cells[i]) > w_num[i])
                w_num[i] = strlen(cells[i]);
    }
    size_t total_w = wa + (h_provider ? 2 + wb : 0);
    for (int i = 0; i < N_NUM; i++)
        total_w += 2 + w_num[i];

    table_cell(f, h_key, wa, 0);
    if (h_provider) {
        fputs("  ", f);
        table_cell(f, h_provider, wb, 0);
    }
    for (int i = 0; i < N_NUM; i++) {
        fputs("  ", f);
        table_cell(f, num_headers[i], w_num[i], 1);
    }
    fputc('\n', f);
    rule(f, total_w);
    for (size_t k = 0; k < t->n; k++) {
        const struct callstats_group *g = &t->rows[k];
        fig_cells(&g->f, cells);
        put_line(f, *g->key ? g->key : empty_label, wa, g->provider ? g->provider : "", wb, cells,
                 w_num);
    }
    rule(f, total_w);
    fig_cells(total, cells);
    put_line(f, total_label, wa, "", wb, cells, w_num);
}

void callstats_print_text(const struct callstats_result *r, FILE *f)
{
    const struct callstats_systems *y = &r->systems;
    const struct callstats_figures *t = &r->total;
    char ms[4][24];
    fmt_ms(ms[0], sizeof ms[0], t->p50_us);
    fmt_ms(ms[1], sizeof ms[1], t->p90_us);
    fmt_ms(ms[2], sizeof ms[2], t->p99_us);
    fmt_ms(ms[3], sizeof ms[3], t->max_us);
    fprintf(f,
            "Hệ thống kết nối: %" PRId64 " (chính thức %" PRId64 ", thử nghiệm %" PRId64
            "); có giao dịch trong kỳ: %" PRId64 " (chính thức %" PRId64 ", thử nghiệm %" PRId64
            ")\n",
            y->total, y->official, y->trial, y->active, y->active_official, y->active_trial);
    fprintf(f,
            "Số lượt gọi: %" PRId64 " (thành công %" PRId64 ", lỗi 4xx %" PRId64
            ", lỗi 5xx %" PRId64 "); thời gian xử lý p50 %s ms, p90 %s ms, p99 %s ms, "
            "tối đa %s ms\n",
            t->calls, t->ok, t->client_errors, t->server_errors, ms[0], ms[1], ms[2], ms[3]);
    fputc('\n', f);
    print_table(f, "Dịch vụ", "Hệ thống cung cấp", &r->services, "(không khớp dịch vụ)", t);
    fputc('\n', f);
    print_table(f, "Hệ thống khai thác", NULL, &r->consumers, "(chưa xác thực)", t);
    fputc('\n', f);
    print_table(f, "Hệ thống cung cấp", NULL, &r->providers, "(không có)", t);
    fputc('\n', f);
    print_table(f, r->period == CALLSTATS_MONTH ? "Tháng" : "Ngày", NULL, &r->periods, "", t);
}
