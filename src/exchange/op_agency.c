/* op_agency — the agency operations of the SDK's AgencyServiceImp, backed by the registry:
 * the three list forms, registerAgency (create or update an agency under a parent the caller
 * speaks for; the calling system then serves it) and deleteAgency (only an agency the caller
 * registered, never the caller's own id, never one that still has children or systems). The
 * identity rules are relay/identity.h's; the operator's CLI and admin API are not bound by
 * them, and agency_self_registration = off turns both operations off for systems. */
#include <stdlib.h>
#include <string.h>

#include "store/committer.h"
#include "exchange/vxp.h"
#include "relay/identity.h"
#include "util/buf.h"
#include "util/timeutil.h"

enum list_form { FORM_PLAIN, FORM_QD20, FORM_SYNC };

struct list_ctx {
    json_t *data;
    enum list_form form;
    int level; /* QD20 level filter, 0 = none */
};

/* QD20 level of a standard id: 1 for 000.00.00.Lnn, 2 for 000.00.Y.Lnn, 3, 4; 0 otherwise. */
static int qd20_level(const char *id)
{
    if (!edxml_organ_id_is_qd20(id))
        return 0;
    if (strncmp(id, "000.00.00.", 10) == 0)
        return 1;
    if (strncmp(id, "000.00.", 7) == 0)
        return 2;
    if (strncmp(id, "000.", 4) == 0)
        return 3;
    return 4;
}

static int add_agency(void *ctx, const struct store_agency *a)
{
    struct list_ctx *l = ctx;
    const char *pid = a->parent_id ? a->parent_id : "";
    const char *mail = a->mail ? a->mail : "";
    json_t *item;
    if (l->form == FORM_QD20) {
        if (l->level && qd20_level(a->id) != l->level)
            return 0;
        item = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", a->id, "code", a->id, "name", a->name,
                         "mail", mail, "code102", a->id);
    } else if (l->form == FORM_SYNC) {
        char modified[20];
        fmt_local_datetime(a->updated_ms, modified);
        item = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:b,s:b}", "id", a->id, "pid", pid,
                         "code", a->id, "name", a->name, "mail", mail, "centerCode", "",
                         "modifyDate", modified, "version", (json_int_t)(a->updated_ms / 1000),
                         "deleted", 0, "isAgency", 1);
    } else {
        item = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", a->id, "pid", pid, "code", a->id,
                         "name", a->name, "mail", mail, "oldCode", "");
    }
    return item ? json_array_append_new(l->data, item) : 1;
}

static void list(struct vxp_call *call, enum list_form form)
{
    struct store *st = call->app->store;
    struct list_ctx l = {json_array(), form, 0};
    const char *level = vxp_param(call, "level");
    if (form == FORM_QD20 && level && *level) {
        l.level = atoi(level);
        if (l.level < 1 || l.level > 4) {
            json_decref(l.data);
            vxp_fail(call, LT_ERR_BAD_PARAMETER, "level must be 1..4");
            return;
        }
    }
    if (st->agency_list(st->cls, add_agency, &l) < 0) {
        json_decref(l.data);
        vxp_fail(call, LT_ERR_STORE_FAILED, NULL);
        return;
    }
    vxp_ok(call, json_pack("{s:o}", "data", l.data));
}

void op_get_agencies(struct vxp_call *call)
{
    list(call, FORM_PLAIN);
}

void op_get_agencies_qd20(struct vxp_call *call)
{
    list(call, FORM_QD20);
}

void op_get_synchronize_unit(struct vxp_call *call)
{
    list(call, FORM_SYNC);
}

/* --- registerAgency / deleteAgency: one commit job type for both --- */

struct agency_job {
    struct commit_job job;
    struct http_request *req;
    char system_id[STORE_ID_MAX + 1];
    int remove;
    struct store_agency a; /* owned strings */
    enum lt_err err;
    char detail[256];
};

struct refs {
    const char *id;
    int children, systems;
};

static int count_children(void *ctx, const struct store_agency *a)
{
    struct refs *r = ctx;
    r->children += a->parent_id && strcmp(a->parent_id, r->id) == 0;
    return 0;
}

static int count_systems(void *ctx, const struct store_system *s, char *const *serves, size_t n)
{
    struct refs *r = ctx;
    r->systems += strcmp(s->agency_id, r->id) == 0;
    return 0;
}

/* The identity rule's refusal: logged (the attempt is on the record) and answered. */
static enum store_rc refuse(struct store *st, struct agency_job *j, enum lt_err e,
                            const struct buf *detail, const char *operation)
{
    if (e == LT_ERR_STORE_FAILED)
        return STORE_HARD_ERROR;
    j->err = e;
    snprintf(j->detail, sizeof j->detail, "%s", detail->data ? detail->data : "");
    char outcome[32];
    snprintf(outcome, sizeof outcome, "refused:%d", lt_err_code(e));
    struct store_txrec rec = {.time_ms = now_ms(),
                              .actor = j->system_id,
                              .operation = operation,
                              .package_id = j->a.id,
                              .content_sha256 = "",
                              .outcome = outcome};
    return st->txlog_append(st->cls, &rec);
}

static enum store_rc register_execute(struct store *st, struct agency_job *j)
{
    struct buf detail = {0};
    enum lt_err e = identity_check_register(st, j->system_id, j->a.id, j->a.parent_id, &detail);
    if (e != LT_ERR_OK) {
        enum store_rc rc = refuse(st, j, e, &detail, "agency.register");
        buf_free(&detail);
        return rc;
    }
    buf_free(&detail);
    int64_t now = now_ms();
    struct store_agency old = {0};
    enum store_rc rc = st->agency_get(st->cls, j->a.id, &old);
    if (rc < 0)
        return rc;
    j->a.created_ms = rc == STORE_ONE_RESULT ? old.created_ms : now;
    j->a.updated_ms = now;
    store_agency_clear(&old);
    if ((rc = st->agency_put(st->cls, &j->a)) < 0 ||
        (rc = st->serves_add(st->cls, j->system_id, j->a.id)) < 0)
        return rc;
    struct store_txrec rec = {.time_ms = now,
                              .actor = j->system_id,
                              .operation = "agency.register",
                              .package_id = j->a.id,
                              .content_sha256 = "",
                              .outcome = "ok"};
    return st->txlog_append(st->cls, &rec);
}

static enum store_rc delete_execute(struct store *st, struct agency_job *j)
{
    struct buf detail = {0};
    enum lt_err e = identity_check_delete(st, j->system_id, j->a.id, &detail);
    if (e != LT_ERR_OK) {
        enum store_rc rc = refuse(st, j, e, &detail, "agency.delete");
        buf_free(&detail);
        return rc;
    }
    buf_free(&detail);
    struct refs r = {j->a.id, 0, 0};
    enum store_rc rc;
    if ((rc = st->agency_list(st->cls, count_children, &r)) < 0 ||
        (rc = st->system_list(st->cls, count_systems, &r)) < 0)
        return rc;
    if (r.children || r.systems) {
        j->err = LT_ERR_FORBIDDEN;
        snprintf(j->detail, sizeof j->detail, "%s still has %d child agencies and %d systems",
                 j->a.id, r.children, r.systems);
        return STORE_ONE_RESULT;
    }
    if ((rc = st->serves_remove(st->cls, j->system_id, j->a.id)) < 0 ||
        (rc = st->agency_remove(st->cls, j->a.id)) < 0)
        return rc;
    struct store_txrec rec = {.time_ms = now_ms(),
                              .actor = j->system_id,
                              .operation = "agency.delete",
                              .package_id = j->a.id,
                              .content_sha256 = "",
                              .outcome = "ok"};
    return st->txlog_append(st->cls, &rec);
}

static enum store_rc agency_execute(struct store *st, struct commit_job *cj)
{
    struct agency_job *j = (struct agency_job *)cj;
    j->err = LT_ERR_OK;
    j->detail[0] = '\0';
    return j->remove ? delete_execute(st, j) : register_execute(st, j);
}

static void agency_done(struct commit_job *cj, int ok)
{
    struct agency_job *j = (struct agency_job *)cj;
    size_t len;
    char *body = vxp_render(ok ? j->err : LT_ERR_STORE_FAILED, j->detail, NULL, &len);
    vxp_complete(j->req, body, len);
    store_agency_clear(&j->a);
    free(j);
}

static void submit(struct vxp_call *call, struct agency_job *j)
{
    if (!call->app->cfg.agency_self_registration) {
        store_agency_clear(&j->a);
        free(j);
        vxp_fail(call, LT_ERR_SELF_REGISTRATION_OFF, NULL);
        return;
    }
    j->req = call->req;
    snprintf(j->system_id, sizeof j->system_id, "%s", call->system_id);
    j->job.execute = agency_execute;
    j->job.done = agency_done;
    http_suspend(call->req);
    if (committer_submit(call->app->committer, &j->job) != 0) {
        size_t len;
        char *body = vxp_render(LT_ERR_OVERLOADED, NULL, NULL, &len);
        vxp_complete(call->req, body, len);
        store_agency_clear(&j->a);
        free(j);
    }
}

static char *member(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? strdup(s) : NULL;
}

void op_register_agency(struct vxp_call *call)
{
    const char *body = http_body_mem(call->req);
    json_t *o = body ? json_loads(body, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        vxp_fail(call, LT_ERR_BAD_PARAMETER,
                 "the body must be a JSON object with pcode, code, name");
        return;
    }
    struct agency_job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(o);
        vxp_fail(call, LT_ERR_INTERNAL, NULL);
        return;
    }
    j->a.id = member(o, "code");
    j->a.parent_id = member(o, "pcode");
    j->a.name = member(o, "name");
    j->a.mail = member(o, "mail");
    j->a.mobile = member(o, "mobile");
    j->a.fax = member(o, "fax");
    json_decref(o);
    const char *bad = !j->a.id || !edxml_organ_id_ok(j->a.id)                 ? "code"
                      : !j->a.parent_id || !edxml_organ_id_ok(j->a.parent_id) ? "pcode"
                      : !j->a.name                                            ? "name"
                                                                              : NULL;
    if (bad) {
        store_agency_clear(&j->a);
        free(j);
        vxp_fail(call, LT_ERR_BAD_PARAMETER, bad);
        return;
    }
    submit(call, j);
}

void op_delete_agency(struct vxp_call *call)
{
    const char *code = vxp_param(call, "AgencyCode");
    if (!code || !edxml_organ_id_ok(code)) {
        vxp_fail(call, LT_ERR_BAD_PARAMETER, "AgencyCode");
        return;
    }
    struct agency_job *j = calloc(1, sizeof *j);
    if (!j || !(j->a.id = strdup(code))) {
        free(j);
        vxp_fail(call, LT_ERR_INTERNAL, NULL);
        return;
    }
    j->remove = 1;
    submit(call, j);
}
