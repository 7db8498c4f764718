/* op_inbox — the recipient's side: getReceivedEdocList, countReceiveEdoc/Status and
 * updateStatus (the transport acknowledgement: done removes the entry from the list, fail and
 * processing keep it listed so the package is retried, and the sender sees every state). */
#include <stdlib.h>
#include <string.h>

#include "store/committer.h"
#include "exchange/vxp.h"
#include "util/log.h"
#include "util/timeutil.h"

/* messagetype parameter: "edoc", "status", or absent (both); -2 when invalid. */
static int msgtype_param(struct vxp_call *call)
{
    const char *mt = vxp_param(call, "messagetype");
    if (!mt || !*mt)
        return -1;
    if (strcmp(mt, "edoc") == 0)
        return STORE_MSG_EDOC;
    if (strcmp(mt, "status") == 0)
        return STORE_MSG_STATUS;
    return -2;
}

static int add_item(void *ctx, const struct store_delivery *d, const struct store_package *p)
{
    char created[20], updated[20];
    fmt_local_datetime(d->created_ms, created);
    fmt_local_datetime(d->updated_ms, updated);
    json_t *item = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "docId", d->id, "serviceType", "eDoc",
        "messageType", store_msgtype_name(d->messagetype), "created_time", created, "updated_time",
        updated, "from", p && p->from_organ ? p->from_organ : "", "to", d->recipient_organ,
        "status", store_state_name(d->state), "status_desc", vxp_state_desc(d->state));
    return item ? json_array_append_new(ctx, item) : 1;
}

void op_get_received_list(struct vxp_call *call)
{
    struct store *st = call->app->store;
    int type = msgtype_param(call);
    if (type == -2) {
        vxp_fail(call, LT_ERR_BAD_MESSAGETYPE, vxp_param(call, "messagetype"));
        return;
    }
    json_t *data = json_array();
    enum store_rc rc =
        st->inbox_list(st->cls, call->system_id, type, call->app->cfg.list_limit, add_item, data);
    if (rc < 0) {
        json_decref(data);
        vxp_fail(call, LT_ERR_STORE_FAILED, NULL);
        return;
    }
    vxp_ok(call, json_pack("{s:o}", "data", data));
}

static void count(struct vxp_call *call, int type)
{
    struct store *st = call->app->store;
    int64_t n = 0;
    if (st->inbox_count(st->cls, call->system_id, type, &n) < 0) {
        vxp_fail(call, LT_ERR_STORE_FAILED, NULL);
        return;
    }
    vxp_ok(call, json_pack("{s:I}", "count", (json_int_t)n));
}

void op_count_receive_edoc(struct vxp_call *call)
{
    count(call, STORE_MSG_EDOC);
}

void op_count_receive_status(struct vxp_call *call)
{
    count(call, STORE_MSG_STATUS);
}

/* --- updateStatus --- */

struct ack_job {
    struct commit_job job;
    struct http_request *req;
    struct app *app;
    char system_id[STORE_ID_MAX + 1];
    char doc_id[STORE_ID_MAX + 1];
    enum store_delivery_state state;
    enum lt_err err;
};

static enum store_rc ack_execute(struct store *st, struct commit_job *cj)
{
    struct ack_job *j = (struct ack_job *)cj;
    struct store_delivery d = {0};
    j->err = LT_ERR_OK;
    enum store_rc rc = st->delivery_get(st->cls, j->doc_id, &d);
    if (rc < 0)
        return rc;
    int mine = rc == STORE_ONE_RESULT && strcmp(d.recipient_system, j->system_id) == 0;
    int unchanged = mine && d.state == j->state;
    store_delivery_clear(&d);
    if (!mine) {
        j->err = LT_ERR_UNKNOWN_DOCUMENT;
        return STORE_ONE_RESULT;
    }
    if (unchanged)
        return STORE_ONE_RESULT; /* a retried acknowledgement: nothing to change or log */
    int64_t now = now_ms();
    rc = st->delivery_set_state(st->cls, j->doc_id, j->state, now);
    if (rc < 0)
        return rc;
    char outcome[32];
    snprintf(outcome, sizeof outcome, "ok:%s", store_state_name(j->state));
    struct store_txrec rec = {.time_ms = now,
                              .actor = j->system_id,
                              .operation = "ack",
                              .package_id = j->doc_id,
                              .content_sha256 = "",
                              .outcome = outcome};
    return st->txlog_append(st->cls, &rec);
}

static void ack_done(struct commit_job *cj, int ok)
{
    struct ack_job *j = (struct ack_job *)cj;
    enum lt_err e = ok ? j->err : LT_ERR_STORE_FAILED;
    if (e == LT_ERR_OK)
        atomic_fetch_add(&j->app->metrics.acks, 1);
    else
        atomic_fetch_add(&j->app->metrics.failures, 1);
    size_t len;
    char *body = vxp_render(e, e == LT_ERR_UNKNOWN_DOCUMENT ? j->doc_id : NULL, NULL, &len);
    vxp_complete(j->req, body, len);
    free(j);
}

void op_update_status(struct vxp_call *call)
{
    const char *doc_id = vxp_param(call, "docId");
    const char *status = vxp_param(call, "status");
    if (!doc_id || !*doc_id || strlen(doc_id) > STORE_ID_MAX) {
        vxp_fail(call, LT_ERR_BAD_PARAMETER, "docId");
        return;
    }
    enum store_delivery_state state;
    if (status && strcmp(status, "done") == 0)
        state = STORE_DELIVERY_DONE;
    else if (status && strcmp(status, "fail") == 0)
        state = STORE_DELIVERY_FAIL;
    else if (status && strcmp(status, "processing") == 0)
        state = STORE_DELIVERY_PROCESSING;
    else {
        vxp_fail(call, LT_ERR_BAD_STATUS_VALUE, status);
        return;
    }
    struct ack_job *j = calloc(1, sizeof *j);
    if (!j) {
        vxp_fail(call, LT_ERR_INTERNAL, NULL);
        return;
    }
    j->req = call->req;
    j->app = call->app;
    j->state = state;
    snprintf(j->system_id, sizeof j->system_id, "%s", call->system_id);
    snprintf(j->doc_id, sizeof j->doc_id, "%s", doc_id);
    j->job.execute = ack_execute;
    j->job.done = ack_done;
    http_suspend(call->req);
    if (committer_submit(call->app->committer, &j->job) != 0) {
        size_t len;
        char *body = vxp_render(LT_ERR_OVERLOADED, NULL, NULL, &len);
        vxp_complete(call->req, body, len);
        free(j);
    }
}
