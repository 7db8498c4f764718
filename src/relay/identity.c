/* identity — who may speak for an organ (see identity.h). */
#include "relay/identity.h"

#include <string.h>

#include "edxml/edxml.h"
#include "relay/which.h"

enum store_rc identity_speaker(struct store *st, const char *organ, char *ret_system,
                               int *ret_registered)
{
    char cur[STORE_ID_MAX + 1];
    if (ret_registered)
        *ret_registered = 0;
    snprintf(cur, sizeof cur, "%s", organ);
    for (int depth = 0; depth <= IDENTITY_MAX_DEPTH; depth++) {
        enum store_rc rc = st->route(st->cls, cur, ret_system);
        if (rc != STORE_NO_RESULTS)
            return rc;
        struct store_agency a = {0};
        rc = st->agency_get(st->cls, cur, &a);
        if (depth == 0 && ret_registered)
            *ret_registered = rc == STORE_ONE_RESULT;
        int up = rc == STORE_ONE_RESULT && a.parent_id && *a.parent_id &&
                 strcmp(a.parent_id, cur) != 0 && strcmp(a.parent_id, organ) != 0 &&
                 strlen(a.parent_id) <= STORE_ID_MAX;
        if (up)
            snprintf(cur, sizeof cur, "%s", a.parent_id);
        store_agency_clear(&a);
        if (rc < 0)
            return rc;
        if (!up)
            return STORE_NO_RESULTS;
    }
    return STORE_NO_RESULTS;
}

/* The four levels of a QD20 code, right to left: Lnn, YY, ZZ, VVV. */
static void qd20_levels(const char *id, char lv[4][4])
{
    memcpy(lv[0], id + 10, 3), lv[0][3] = '\0';
    memcpy(lv[1], id + 7, 2), lv[1][2] = '\0';
    memcpy(lv[2], id + 4, 2), lv[2][2] = '\0';
    memcpy(lv[3], id, 3), lv[3][3] = '\0';
}

static int zeros(const char *s)
{
    return strspn(s, "0") == strlen(s);
}

int identity_qd20_under(const char *parent, const char *child)
{
    if (!edxml_organ_id_is_qd20(parent) || !edxml_organ_id_is_qd20(child))
        return 1;
    char p[4][4], c[4][4];
    qd20_levels(parent, p);
    qd20_levels(child, c);
    int deeper = 0;
    for (int i = 0; i < 4; i++) {
        if (i == 0 || !zeros(p[i])) {
            if (strcmp(p[i], c[i]) != 0)
                return 0;
        } else if (!zeros(c[i])) {
            deeper = 1;
        }
    }
    return deeper;
}

/* 1 when organ is start or one of its registered ancestors; 0; -1 on a store error. */
static int is_ancestor(struct store *st, const char *organ, const char *start)
{
    char cur[STORE_ID_MAX + 1];
    snprintf(cur, sizeof cur, "%s", start);
    for (int depth = 0; depth <= IDENTITY_MAX_DEPTH; depth++) {
        if (strcmp(cur, organ) == 0)
            return 1;
        struct store_agency a = {0};
        enum store_rc rc = st->agency_get(st->cls, cur, &a);
        int up = rc == STORE_ONE_RESULT && a.parent_id && *a.parent_id &&
                 strlen(a.parent_id) <= STORE_ID_MAX;
        if (up)
            snprintf(cur, sizeof cur, "%s", a.parent_id);
        store_agency_clear(&a);
        if (rc < 0)
            return -1;
        if (!up)
            return 0;
    }
    return 0;
}

/* 1 when system_id speaks for organ, 0 when not (who does, if anyone, in ret_other), -1. */
static int speaks_for(struct store *st, const char *system_id, const char *organ, char *ret_other)
{
    enum store_rc rc = identity_speaker(st, organ, ret_other, NULL);
    if (rc < 0)
        return -1;
    if (rc == STORE_NO_RESULTS)
        ret_other[0] = '\0';
    return rc == STORE_ONE_RESULT && strcmp(ret_other, system_id) == 0;
}

/* LT_ERR_AGENCY_ROUTED when a route with a literal character sends id to a peer. */
static enum lt_err check_not_routed(struct store *st, const char *id, struct buf *detail)
{
    struct relay_table t = {0};
    if (relay_table_load(st, NULL, &t) != STORE_ONE_RESULT)
        return LT_ERR_STORE_FAILED;
    enum lt_err e = LT_ERR_OK;
    for (size_t i = 0; i < t.n; i++) {
        const char *pat = t.routes[i].pattern;
        if (strspn(pat, "*") == strlen(pat) || !relay_pattern_match(pat, id))
            continue;
        buf_printf(detail, "%s: route %s sends it to peer %s", id, pat, t.routes[i].peer);
        e = LT_ERR_AGENCY_ROUTED;
        break;
    }
    relay_table_free(&t);
    return e;
}

static enum lt_err check_platform(struct store *st, const char *id, struct buf *detail)
{
    struct store_platform p = {0};
    enum store_rc rc = st->platform_get(st->cls, &p);
    int own = rc == STORE_ONE_RESULT && p.organ_id && strcmp(p.organ_id, id) == 0;
    store_platform_clear(&p);
    if (rc < 0)
        return LT_ERR_STORE_FAILED;
    if (own) {
        buf_printf(detail, "%s is this platform's own organ id", id);
        return LT_ERR_AGENCY_ROUTED;
    }
    return LT_ERR_OK;
}

enum lt_err identity_check_register(struct store *st, const char *system_id, const char *id,
                                    const char *parent_id, struct buf *detail)
{
    char who[STORE_ID_MAX + 1];
    struct store_agency parent = {0};
    enum store_rc rc = st->agency_get(st->cls, parent_id, &parent);
    store_agency_clear(&parent);
    if (rc < 0)
        return LT_ERR_STORE_FAILED;
    if (rc == STORE_NO_RESULTS) {
        buf_printf(detail, "%s", parent_id);
        return LT_ERR_UNKNOWN_PARENT;
    }
    int s = speaks_for(st, system_id, parent_id, who);
    if (s < 0)
        return LT_ERR_STORE_FAILED;
    if (!s) {
        buf_printf(detail, "parent %s is not an organ this system serves", parent_id);
        return LT_ERR_AGENCY_NOT_SERVED;
    }
    /* The organ itself: served by another system, or known here but not the caller's. */
    rc = st->route(st->cls, id, who);
    if (rc < 0)
        return LT_ERR_STORE_FAILED;
    if (rc == STORE_ONE_RESULT && strcmp(who, system_id) != 0) {
        buf_printf(detail, "%s", id);
        return LT_ERR_AGENCY_EXISTS;
    }
    struct store_agency old = {0};
    rc = st->agency_get(st->cls, id, &old);
    store_agency_clear(&old);
    if (rc < 0)
        return LT_ERR_STORE_FAILED;
    if (rc == STORE_ONE_RESULT) {
        if ((s = speaks_for(st, system_id, id, who)) < 0)
            return LT_ERR_STORE_FAILED;
        if (!s) {
            buf_printf(detail, "%s is an agency this system does not serve", id);
            return LT_ERR_AGENCY_NOT_SERVED;
        }
    }
    enum lt_err e = check_platform(st, id, detail);
    if (e != LT_ERR_OK)
        return e;
    if (rc == STORE_NO_RESULTS && (e = check_not_routed(st, id, detail)) != LT_ERR_OK)
        return e;
    int cyc = is_ancestor(st, id, parent_id);
    if (cyc < 0)
        return LT_ERR_STORE_FAILED;
    if (cyc) {
        buf_printf(detail, "%s is %s or one of its ancestors", id, parent_id);
        return LT_ERR_AGENCY_CYCLE;
    }
    if (!identity_qd20_under(parent_id, id)) {
        buf_printf(detail, "%s is not a code under %s (QD20)", id, parent_id);
        return LT_ERR_AGENCY_ROUTED;
    }
    return LT_ERR_OK;
}

enum lt_err identity_check_delete(struct store *st, const char *system_id, const char *id,
                                  struct buf *detail)
{
    char who[STORE_ID_MAX + 1];
    enum store_rc rc = st->route(st->cls, id, who);
    if (rc < 0)
        return LT_ERR_STORE_FAILED;
    if (rc == STORE_NO_RESULTS || strcmp(who, system_id) != 0 || strcmp(id, system_id) == 0) {
        buf_printf(detail, "%s is not an agency this system registered", id);
        return LT_ERR_FORBIDDEN;
    }
    struct store_agency a = {0};
    rc = st->agency_get(st->cls, id, &a);
    if (rc < 0) {
        store_agency_clear(&a);
        return LT_ERR_STORE_FAILED;
    }
    int s = 1;
    if (rc == STORE_ONE_RESULT && a.parent_id && *a.parent_id)
        s = speaks_for(st, system_id, a.parent_id, who);
    if (s == 0)
        buf_printf(detail, "parent %s of %s is not an organ this system serves", a.parent_id, id);
    store_agency_clear(&a);
    if (s < 0)
        return LT_ERR_STORE_FAILED;
    return s ? LT_ERR_OK : LT_ERR_AGENCY_NOT_SERVED;
}
