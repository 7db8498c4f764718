/* view — what the gateway needs on every request, in memory: systems (secret, status), services,
 * access rights and live tokens. Sorted arrays searched by bisection (and an open-addressing
 * table for tokens), rebuilt whole when the store's configuration generation moves, so a request
 * never touches the database and a change made by the CLI or the API applies to the next
 * request. The generation is read BEFORE the rows, so a change committed during a reload leaves
 * the view one generation behind and the next request reloads again. */
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_int.h"
#include "util/log.h"
#include "util/timeutil.h"

struct token_slot {
    char sha256[SHA256_HEX_SIZE]; /* "" = empty slot */
    char system_id[STORE_ID_MAX + 1];
    int64_t expires_ms;
};

struct gw_view {
    struct store *st;
    pthread_rwlock_t lock;
    pthread_mutex_t reload_mu; /* one reload at a time */
    atomic_uint_fast64_t generation;
    int loaded;
    struct gw_system *systems;
    size_t n_systems;
    struct store_service *services;
    size_t n_services;
    struct store_grant *grants;
    size_t n_grants;
    struct token_slot *tokens; /* capacity a power of two, at most half full */
    size_t token_cap, n_tokens;
};

struct rows {
    void *items;
    size_t n, cap, size;
    int failed; /* an allocation failed: the list is incomplete and must not be installed */
};

static int rows_check(struct rows *r, int bad)
{
    if (bad)
        r->failed = 1;
    return bad;
}

static void *rows_push(struct rows *r)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        void *grown = realloc(r->items, cap * r->size);
        if (!grown) {
            r->failed = 1;
            return NULL;
        }
        r->items = grown;
        r->cap = cap;
    }
    void *slot = (char *)r->items + r->n++ * r->size;
    memset(slot, 0, r->size);
    return slot;
}

static int dup_into(char **dst, const char *src)
{
    *dst = strdup(src ? src : "");
    return *dst ? 0 : -1;
}

static int collect_system(void *ctx, const struct store_system *s, char *const *serves,
                          size_t n_serves)
{
    struct gw_system *g = rows_push(ctx);
    if (!g)
        return 1;
    g->status = s->status;
    return rows_check(ctx, dup_into(&g->id, s->id) || dup_into(&g->secret, s->secret));
}

static int collect_service(void *ctx, const struct store_service *s)
{
    struct store_service *d = rows_push(ctx);
    if (!d)
        return 1;
    *d = *s;
    d->code = d->version = d->provider_system = d->name = d->description = d->url = NULL;
    return rows_check(ctx, dup_into(&d->code, s->code) || dup_into(&d->version, s->version) ||
                               dup_into(&d->provider_system, s->provider_system) ||
                               dup_into(&d->url, s->url) || dup_into(&d->name, s->name) ||
                               dup_into(&d->description, s->description));
}

static int collect_grant(void *ctx, const struct store_grant *g)
{
    struct store_grant *d = rows_push(ctx);
    if (!d)
        return 1;
    *d = *g;
    d->consumer_system = d->service_code = d->service_version = d->methods = d->path_prefix = NULL;
    return rows_check(ctx, dup_into(&d->consumer_system, g->consumer_system) ||
                               dup_into(&d->service_code, g->service_code) ||
                               dup_into(&d->service_version, g->service_version) ||
                               dup_into(&d->methods, g->methods) ||
                               dup_into(&d->path_prefix, g->path_prefix));
}

static int collect_token(void *ctx, const struct store_token *t)
{
    struct token_slot *d = rows_push(ctx);
    if (!d)
        return 1;
    snprintf(d->sha256, sizeof d->sha256, "%s", t->sha256);
    snprintf(d->system_id, sizeof d->system_id, "%s", t->system_id);
    d->expires_ms = t->expires_ms;
    return 0;
}

static int cmp_system(const void *a, const void *b)
{
    return strcmp(((const struct gw_system *)a)->id, ((const struct gw_system *)b)->id);
}

static int cmp_service(const void *a, const void *b)
{
    const struct store_service *x = a, *y = b;
    int c = strcmp(x->code, y->code);
    return c ? c : strcmp(x->version, y->version);
}

static int cmp_grant(const void *a, const void *b)
{
    const struct store_grant *x = a, *y = b;
    int c = strcmp(x->consumer_system, y->consumer_system);
    if (!c)
        c = strcmp(x->service_code, y->service_code);
    return c ? c : strcmp(x->service_version, y->service_version);
}

static void free_systems(struct gw_system *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].id);
        free(s[i].secret);
    }
    free(s);
}

static void free_services(struct store_service *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_service_clear(&s[i]);
    free(s);
}

static void free_grants(struct store_grant *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_grant_clear(&g[i]);
    free(g);
}

static uint64_t token_hash(const char *sha256)
{
    /* The key is already a uniform hash: its first 16 hex digits are enough. */
    uint64_t h = 0;
    for (int i = 0; i < 16 && sha256[i]; i++)
        h = h * 16 + (uint64_t)(sha256[i] <= '9' ? sha256[i] - '0' : (sha256[i] | 32) - 'a' + 10);
    return h;
}

static void token_put(struct token_slot *table, size_t cap, const struct token_slot *t)
{
    size_t i = (size_t)token_hash(t->sha256) & (cap - 1);
    while (table[i].sha256[0] && strcmp(table[i].sha256, t->sha256) != 0)
        i = (i + 1) & (cap - 1);
    table[i] = *t;
}

/* A table holding at least want entries at most half full; NULL on allocation failure. */
static struct token_slot *token_table(size_t want, size_t *ret_cap)
{
    size_t cap = 64;
    while (cap < want * 2)
        cap *= 2;
    *ret_cap = cap;
    return calloc(cap, sizeof(struct token_slot));
}

struct gw_view *gw_view_new(struct store *st)
{
    struct gw_view *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->st = st;
    pthread_rwlock_init(&v->lock, NULL);
    pthread_mutex_init(&v->reload_mu, NULL);
    return v;
}

void gw_view_free(struct gw_view *v)
{
    if (!v)
        return;
    free_systems(v->systems, v->n_systems);
    free_services(v->services, v->n_services);
    free_grants(v->grants, v->n_grants);
    free(v->tokens);
    pthread_rwlock_destroy(&v->lock);
    pthread_mutex_destroy(&v->reload_mu);
    free(v);
}

static int reload(struct gw_view *v, uint64_t gen)
{
    struct store *st = v->st;
    struct rows sys = {.size = sizeof(struct gw_system)};
    struct rows svc = {.size = sizeof(struct store_service)};
    struct rows gr = {.size = sizeof(struct store_grant)};
    struct rows tok = {.size = sizeof(struct token_slot)};
    int64_t now = now_ms();
    int ok = st->system_list(st->cls, collect_system, &sys) == STORE_ONE_RESULT &&
             st->service_list(st->cls, NULL, collect_service, &svc) == STORE_ONE_RESULT &&
             st->grant_list(st->cls, NULL, NULL, NULL, collect_grant, &gr) == STORE_ONE_RESULT &&
             st->token_list_active(st->cls, now, collect_token, &tok) == STORE_ONE_RESULT &&
             !sys.failed && !svc.failed && !gr.failed && !tok.failed;
    size_t cap = 0;
    struct token_slot *table = ok ? token_table(tok.n, &cap) : NULL;
    if (!table) {
        free_systems(sys.items, sys.n);
        free_services(svc.items, svc.n);
        free_grants(gr.items, gr.n);
        free(tok.items);
        log_error("gateway: cannot load the catalogue from the store");
        return -1;
    }
    const struct token_slot *t = tok.items;
    for (size_t i = 0; i < tok.n; i++)
        token_put(table, cap, &t[i]);
    free(tok.items);
    if (sys.n) /* qsort must not be given NULL, even for zero items */
        qsort(sys.items, sys.n, sys.size, cmp_system);
    if (svc.n)
        qsort(svc.items, svc.n, svc.size, cmp_service);
    if (gr.n)
        qsort(gr.items, gr.n, gr.size, cmp_grant);

    pthread_rwlock_wrlock(&v->lock);
    free_systems(v->systems, v->n_systems);
    free_services(v->services, v->n_services);
    free_grants(v->grants, v->n_grants);
    free(v->tokens);
    v->systems = sys.items;
    v->n_systems = sys.n;
    v->services = svc.items;
    v->n_services = svc.n;
    v->grants = gr.items;
    v->n_grants = gr.n;
    v->tokens = table;
    v->token_cap = cap;
    v->n_tokens = tok.n;
    v->loaded = 1;
    atomic_store(&v->generation, gen);
    pthread_rwlock_unlock(&v->lock);
    log_debug("gateway: view loaded (generation %llu: %zu systems, %zu services, %zu grants, "
              "%zu tokens)",
              (unsigned long long)gen, sys.n, svc.n, gr.n, tok.n);
    return 0;
}

int gw_view_refresh(struct gw_view *v)
{
    uint64_t gen = v->st->config_generation(v->st->cls);
    if (v->loaded && atomic_load(&v->generation) == gen)
        return 0;
    pthread_mutex_lock(&v->reload_mu);
    int rc = 0;
    gen = v->st->config_generation(v->st->cls);
    if (!v->loaded || atomic_load(&v->generation) != gen)
        rc = reload(v, gen);
    pthread_mutex_unlock(&v->reload_mu);
    return rc;
}

void gw_view_rdlock(struct gw_view *v)
{
    pthread_rwlock_rdlock(&v->lock);
}

void gw_view_unlock(struct gw_view *v)
{
    pthread_rwlock_unlock(&v->lock);
}

const struct gw_system *gw_view_system(const struct gw_view *v, const char *id)
{
    struct gw_system key = {.id = (char *)id};
    /* bsearch on an empty (NULL) array is undefined behaviour */
    return v->n_systems ? bsearch(&key, v->systems, v->n_systems, sizeof key, cmp_system) : NULL;
}

const struct store_service *gw_view_service(const struct gw_view *v, const char *code,
                                            const char *version)
{
    struct store_service key = {.code = (char *)code, .version = (char *)version};
    return v->n_services ? bsearch(&key, v->services, v->n_services, sizeof key, cmp_service)
                         : NULL;
}

const struct store_grant *gw_view_grant(const struct gw_view *v, const char *consumer,
                                        const char *code, const char *version)
{
    struct store_grant key = {.consumer_system = (char *)consumer,
                              .service_code = (char *)code,
                              .service_version = (char *)version};
    return v->n_grants ? bsearch(&key, v->grants, v->n_grants, sizeof key, cmp_grant) : NULL;
}

const char *gw_view_token(const struct gw_view *v, const char *sha256, int64_t now_ms)
{
    if (!v->tokens)
        return NULL;
    size_t i = (size_t)token_hash(sha256) & (v->token_cap - 1);
    while (v->tokens[i].sha256[0]) {
        const struct token_slot *t = &v->tokens[i];
        if (strcmp(t->sha256, sha256) == 0)
            return t->expires_ms > now_ms && gw_view_system(v, t->system_id) ? t->system_id : NULL;
        i = (i + 1) & (v->token_cap - 1);
    }
    return NULL;
}

int gw_view_add_token(struct gw_view *v, const char *sha256, const char *system_id,
                      int64_t expires_ms)
{
    struct token_slot t = {.expires_ms = expires_ms};
    snprintf(t.sha256, sizeof t.sha256, "%s", sha256);
    snprintf(t.system_id, sizeof t.system_id, "%s", system_id);
    pthread_rwlock_wrlock(&v->lock);
    int rc = 0;
    if (!v->tokens || (v->n_tokens + 1) * 2 > v->token_cap) {
        /* Grow, dropping expired entries on the way. */
        int64_t now = now_ms();
        size_t cap = 0;
        struct token_slot *table = token_table(v->n_tokens + 1, &cap);
        if (!table) {
            rc = -1;
            goto out;
        }
        size_t n = 0;
        for (size_t i = 0; v->tokens && i < v->token_cap; i++) {
            if (v->tokens[i].sha256[0] && v->tokens[i].expires_ms > now) {
                token_put(table, cap, &v->tokens[i]);
                n++;
            }
        }
        free(v->tokens);
        v->tokens = table;
        v->token_cap = cap;
        v->n_tokens = n;
    }
    token_put(v->tokens, v->token_cap, &t);
    v->n_tokens++;
out:
    pthread_rwlock_unlock(&v->lock);
    return rc;
}
