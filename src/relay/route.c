/* route — the relay's routing rules (see route.h). The organ-id rule is edxml_organ_id_ok(),
 * the one the registry and the document API use: a pattern is checked by replacing each '*'
 * with a letter and asking it, so patterns and organ ids cannot drift apart. */
#include "relay/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edxml/edxml.h"

int relay_pattern_ok(const char *p)
{
    if (!p)
        return 0;
    size_t n = strlen(p);
    if (n == 0 || n > RELAY_PATTERN_MAX)
        return 0;
    char probe[RELAY_PATTERN_MAX + 1];
    for (size_t i = 0; i <= n; i++)
        probe[i] = p[i] == '*' ? 'x' : p[i];
    return edxml_organ_id_ok(probe);
}

enum lt_err relay_pattern_check(const char *p, char *detail, size_t detail_len)
{
    const char *why = NULL;
    if (!p || !*p)
        why = "pattern is required";
    else if (strlen(p) > RELAY_PATTERN_MAX)
        why = "pattern is longer than 64 bytes";
    else if (!relay_pattern_ok(p))
        why = "pattern may hold only letters, digits, '.', '_', '-' and '*' (one or more "
              "characters)";
    if (!why) {
        if (detail && detail_len)
            detail[0] = '\0';
        return LT_ERR_OK;
    }
    if (detail && detail_len)
        snprintf(detail, detail_len, "%s", why);
    return LT_ERR_BAD_PARAMETER;
}

/* The leftmost position >= from where the n bytes of piece occur in s[0, len), or -1. */
static long find_piece(const char *s, size_t len, size_t from, const char *piece, size_t n)
{
    for (size_t pos = from; pos + n <= len; pos++)
        if (memcmp(s + pos, piece, n) == 0)
            return (long)pos;
    return -1;
}

int relay_pattern_match(const char *pattern, const char *organ_id)
{
    if (!pattern || !organ_id)
        return 0;
    size_t on = strlen(organ_id);
    /* The literal head: up to the first '*'. */
    size_t head = strcspn(pattern, "*");
    if (!pattern[head])
        return strcmp(pattern, organ_id) == 0;
    if (on < head || memcmp(pattern, organ_id, head) != 0)
        return 0;
    const char *p = pattern + head;
    size_t at = head; /* organ_id[0, at) is matched */
    for (;;) {
        size_t stars = 0; /* this run of '*' takes at least this many characters */
        while (*p == '*') {
            stars++;
            p++;
        }
        size_t n = strcspn(p, "*"); /* the literal piece after the run */
        if (!p[n]) {
            /* The last piece ends the organ id, after at least `stars` characters. */
            return on >= at + stars + n && memcmp(organ_id + on - n, p, n) == 0;
        }
        long pos = find_piece(organ_id, on, at + stars, p, n);
        if (pos < 0)
            return 0;
        at = (size_t)pos + n;
        p += n;
    }
}

static void count(const char *p, size_t *ret_literals, size_t *ret_stars)
{
    size_t lit = 0, stars = 0;
    for (; *p; p++) {
        if (*p == '*')
            stars++;
        else
            lit++;
    }
    *ret_literals = lit;
    *ret_stars = stars;
}

int relay_pattern_cmp(const char *a, const char *b)
{
    size_t la, sa, lb, sb;
    count(a, &la, &sa);
    count(b, &lb, &sb);
    if (la != lb)
        return la > lb ? -1 : 1;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    int c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}

static int route_cmp(const void *x, const void *y)
{
    const struct relay_route *a = x, *b = y;
    return relay_pattern_cmp(a->pattern, b->pattern);
}

void relay_routes_sort(struct relay_route *routes, size_t n)
{
    if (n > 1)
        qsort(routes, n, sizeof *routes, route_cmp);
}

const char *relay_target_name(enum relay_target t)
{
    switch (t) {
    case RELAY_LOCAL:
        return "local";
    case RELAY_PEER:
        return "peer";
    case RELAY_NONE:
        break;
    }
    return "none";
}

enum lt_err relay_decide(const char *organ_id, const struct relay_route *routes, size_t n,
                         relay_is_local_fn is_local, void *ctx, struct relay_decision *ret)
{
    if (!edxml_organ_id_ok(organ_id))
        return LT_ERR_BAD_ORGAN_ID;
    int local = is_local ? is_local(ctx, organ_id) : 0;
    if (local < 0)
        return LT_ERR_STORE_FAILED;
    if (local) {
        *ret = (struct relay_decision){.target = RELAY_LOCAL, .route = NULL};
        return LT_ERR_OK;
    }
    const struct relay_route *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct relay_route *r = &routes[i];
        if (!r->peer || !relay_pattern_ok(r->pattern) || !relay_pattern_match(r->pattern, organ_id))
            continue;
        if (!best || relay_pattern_cmp(r->pattern, best->pattern) < 0)
            best = r;
    }
    *ret = (struct relay_decision){.target = best ? RELAY_PEER : RELAY_NONE, .route = best};
    return LT_ERR_OK;
}
