/* which — the routing decision against a store (see which.h): load the routes, look up what is
 * local, and hand both to the pure relay_decide(). */
#include "relay/which.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edxml/edxml.h"

struct load_ctx {
    struct relay_table *t;
    int oom;
};

static int load_cb(void *vctx, const struct store_relay_route *r)
{
    struct load_ctx *c = vctx;
    struct relay_table *t = c->t;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct store_relay_route *rows = realloc(t->rows, cap * sizeof *rows);
        if (!rows) {
            c->oom = 1;
            return 1;
        }
        t->rows = rows;
        t->cap = cap;
    }
    struct store_relay_route *dst = &t->rows[t->n];
    *dst = (struct store_relay_route){
        .pattern = strdup(r->pattern),
        .peer = strdup(r->peer),
        .created_ms = r->created_ms,
    };
    t->n++; /* counted even when a copy failed, so that relay_table_free frees the other */
    if (!dst->pattern || !dst->peer)
        c->oom = 1;
    return c->oom;
}

void relay_table_free(struct relay_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; t->rows && i < t->n; i++)
        store_relay_route_clear(&t->rows[i]);
    free(t->rows);
    free(t->routes);
    memset(t, 0, sizeof *t);
}

static int row_cmp(const void *x, const void *y)
{
    const struct store_relay_route *a = x, *b = y;
    return relay_pattern_cmp(a->pattern, b->pattern);
}

enum store_rc relay_table_load(struct store *st, const char *peer, struct relay_table *ret)
{
    struct relay_table t = {0};
    struct load_ctx c = {&t, 0};
    enum store_rc rc = st->relay_route_list(st->cls, peer, load_cb, &c);
    if (rc >= 0 && !c.oom && t.n > 0) {
        qsort(t.rows, t.n, sizeof *t.rows, row_cmp);
        /* Built once every row is in place: the rows array no longer moves. */
        t.routes = malloc(t.n * sizeof *t.routes);
        if (!t.routes)
            c.oom = 1;
        for (size_t i = 0; t.routes && i < t.n; i++)
            t.routes[i] = (struct relay_route){t.rows[i].pattern, t.rows[i].peer};
    }
    if (rc < 0 || c.oom) {
        relay_table_free(&t);
        return rc < 0 ? rc : STORE_HARD_ERROR;
    }
    *ret = t;
    return STORE_ONE_RESULT;
}

int relay_store_is_local(void *store, const char *organ_id)
{
    struct store *st = store;
    char system[STORE_ID_MAX + 1];
    enum store_rc rc = st->route(st->cls, organ_id, system);
    if (rc != STORE_NO_RESULTS)
        return rc == STORE_ONE_RESULT ? 1 : -1;
    struct store_agency a = {0};
    rc = st->agency_get(st->cls, organ_id, &a);
    store_agency_clear(&a);
    if (rc != STORE_NO_RESULTS)
        return rc == STORE_ONE_RESULT ? 1 : -1;
    struct store_platform p = {0};
    rc = st->platform_get(st->cls, &p);
    int own = rc == STORE_ONE_RESULT && p.organ_id && strcmp(p.organ_id, organ_id) == 0;
    store_platform_clear(&p);
    if (rc < 0)
        return -1;
    return own;
}

enum lt_err relay_which(struct store *st, const char *organ_id, struct relay_answer *ret)
{
    if (!edxml_organ_id_ok(organ_id))
        return LT_ERR_BAD_ORGAN_ID;
    struct relay_table t = {0};
    if (relay_table_load(st, NULL, &t) != STORE_ONE_RESULT)
        return LT_ERR_STORE_FAILED;
    struct relay_decision d;
    enum lt_err e = relay_decide(organ_id, t.routes, t.n, relay_store_is_local, st, &d);
    if (e == LT_ERR_OK) {
        struct relay_answer a = {.target = d.target};
        if (d.route) {
            snprintf(a.peer, sizeof a.peer, "%s", d.route->peer);
            snprintf(a.pattern, sizeof a.pattern, "%s", d.route->pattern);
        }
        *ret = a;
    }
    relay_table_free(&t);
    return e;
}
