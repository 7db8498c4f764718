/* op_sent — getSentEdocList: the sender's delivery report, one item per (package, recipient),
 * newest packages first. Besides the protocol's members, each item carries statusCode,
 * statusDesc and statusTime (the last edXML StatusCode the recipient sent back, "" when none),
 * and a recipient on another platform relayPeer, relayAttempts and relayDocId (extra members:
 * the SDK ignores them). Optional filters: docId (one package), messagetype, fromDate/toDate
 * (YYYY-MM-DD, to inclusive), pageSize (default 500, at most 5000) and pageIndex (from 1).
 * docId may also list up to SENT_IDS_MAX ids separated by commas: the packages named, in that
 * order, an unknown one left out. A relaying platform tracks many rows in one call that way; a
 * hub that knows only the one-id form finds no such package, and the relay asks per id. */
#include <stdlib.h>
#include <string.h>

#include "exchange/vxp.h"
#include "util/buf.h"
#include "util/timeutil.h"

#define SENT_IDS_MAX 100 /* ids in one docId list: its header stays well inside the limits */

/* The VXP state names of a receiveStatus reported by a peer, and their descriptions. */
static const char *remote_desc(const char *state)
{
    static const struct {
        const char *name;
        enum store_delivery_state st;
    } names[] = {{"initial", STORE_DELIVERY_INITIAL},
                 {"processing", STORE_DELIVERY_PROCESSING},
                 {"done", STORE_DELIVERY_DONE},
                 {"fail", STORE_DELIVERY_FAIL}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(state, names[i].name) == 0)
            return vxp_state_desc(names[i].st);
    return "";
}

/* A recipient on another platform: sendStatus is the relay's (pending, sent, undeliverable:
 * "sent" = the peer took it), receiveStatus what the peer last reported of the recipient. */
static int relayed_fields(json_t *item, const struct store_outbox *o,
                          const struct store_delivery *d)
{
    struct buf desc = {0};
    const char *state = store_relay_state_name(o->state);
    if (o->state == STORE_RELAY_SENT)
        buf_printf(&desc, "Da chuyen den %s", o->peer);
    else if (o->state == STORE_RELAY_PENDING)
        buf_printf(&desc, "Dang chuyen den %s (lan %d)%s%s", o->peer, o->attempts + 1,
                   *o->last_error ? ": " : "", o->last_error);
    else
        buf_printf(&desc, "Khong chuyen duoc den %s: %s", o->peer, o->last_error);
    const char *rs = d->remote_state ? d->remote_state : "";
    int rc = json_object_set_new(item, "sendStatus", json_string(state)) ||
             json_object_set_new(item, "sendStatusDesc", json_string(desc.data ? desc.data : "")) ||
             json_object_set_new(item, "receiveStatus", json_string(rs)) ||
             json_object_set_new(item, "receiveStatusDesc", json_string(remote_desc(rs))) ||
             json_object_set_new(item, "relayPeer", json_string(o->peer)) ||
             json_object_set_new(item, "relayAttempts", json_integer(o->attempts)) ||
             json_object_set_new(item, "relayDocId", json_string(o->remote_doc_id));
    buf_free(&desc);
    return rc;
}

static int add_row(void *ctx, const struct store_sent_row *r)
{
    const struct store_package *p = r->pkg;
    const struct store_delivery *d = r->dlv;
    char sent[20], received[20] = "", status_time[20] = "";
    fmt_local_datetime(p->created_ms, sent);
    if (d->state != STORE_DELIVERY_INITIAL || (r->out && d->remote_state && *d->remote_state))
        fmt_local_datetime(d->updated_ms, received);
    struct buf notation = {0};
    if (p->code_number && *p->code_number)
        buf_puts(&notation, p->code_number);
    if (p->code_notation && *p->code_notation)
        buf_printf(&notation, "%s%s", notation.len ? "/" : "", p->code_notation);
    json_t *item =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "serviceType",
                  "eDoc", "messageType", store_msgtype_name(p->messagetype), "senderDocId", p->id,
                  "receiverDocId", d->id, "fromCode", p->from_organ ? p->from_organ : "", "toCode",
                  d->recipient_organ, "title", p->subject ? p->subject : "", "notation",
                  notation.data ? notation.data : "", "sentTime", sent, "receivedTime", received,
                  "sendStatus", "sent", "sendStatusDesc", "Da gui", "receiveStatus",
                  store_state_name(d->state), "receiveStatusDesc", vxp_state_desc(d->state));
    buf_free(&notation);
    if (!item)
        return 1;
    /* The business state the recipient sent back (a status package), whatever the path. */
    const char *code = d->status_code ? d->status_code : "";
    const char *code_name = *code ? edxml_status_code_name(code) : NULL;
    if (*code)
        fmt_local_datetime(d->status_ms, status_time);
    if ((r->out && relayed_fields(item, r->out, d)) ||
        json_object_set_new(item, "statusCode", json_string(code)) ||
        json_object_set_new(item, "statusDesc", json_string(code_name ? code_name : "")) ||
        json_object_set_new(item, "statusTime", json_string(status_time))) {
        json_decref(item);
        return 1;
    }
    return json_array_append_new(ctx, item);
}

static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v > max)
        return -1;
    *ret = (unsigned)v;
    return 0;
}

/* docId "a,b,c": each package in turn, with the other filters of f. */
static enum lt_err sent_ids(struct store *st, struct store_sent_filter *f, json_t *data)
{
    char *list = strdup(f->package_id), *save = NULL;
    if (!list)
        return LT_ERR_INTERNAL;
    size_t n = 1;
    for (const char *c = list; *c; c++)
        n += *c == ',';
    enum lt_err e = n > SENT_IDS_MAX ? LT_ERR_BAD_PARAMETER : LT_ERR_OK;
    for (char *id = strtok_r(list, ",", &save); id && e == LT_ERR_OK;
         id = strtok_r(NULL, ",", &save)) {
        f->package_id = id;
        f->limit = 1;
        f->offset = 0;
        if (st->sent_list(st->cls, f, add_row, data) < 0)
            e = LT_ERR_STORE_FAILED;
    }
    free(list);
    return e;
}

void op_get_sent_list(struct vxp_call *call)
{
    struct store *st = call->app->store;
    struct store_sent_filter f = {.sender_system = call->system_id, .messagetype = -1};
    const char *mt = vxp_param(call, "messagetype");
    if (mt && strcmp(mt, "edoc") == 0)
        f.messagetype = STORE_MSG_EDOC;
    else if (mt && strcmp(mt, "status") == 0)
        f.messagetype = STORE_MSG_STATUS;
    else if (mt && *mt) {
        vxp_fail(call, LT_ERR_BAD_MESSAGETYPE, mt);
        return;
    }
    const char *doc_id = vxp_param(call, "docId");
    if (doc_id && *doc_id)
        f.package_id = doc_id;
    const char *from = vxp_param(call, "fromDate"), *to = vxp_param(call, "toDate");
    if (from && *from && parse_local_date(from, &f.from_ms) != 0) {
        vxp_fail(call, LT_ERR_BAD_PARAMETER, "fromDate must be YYYY-MM-DD");
        return;
    }
    if (to && *to) {
        if (parse_local_date(to, &f.to_ms) != 0) {
            vxp_fail(call, LT_ERR_BAD_PARAMETER, "toDate must be YYYY-MM-DD");
            return;
        }
        f.to_ms += 24LL * 3600 * 1000;
    }
    unsigned size = 500, index = 1;
    const char *ps = vxp_param(call, "pageSize"), *pi = vxp_param(call, "pageIndex");
    if ((ps && *ps && (parse_uint(ps, 5000, &size) != 0 || size == 0)) ||
        (pi && *pi && (parse_uint(pi, 1000000, &index) != 0 || index == 0))) {
        vxp_fail(call, LT_ERR_BAD_PARAMETER, "pageSize 1..5000, pageIndex from 1");
        return;
    }
    f.limit = size;
    f.offset = (index - 1) * size;
    json_t *data = json_array();
    enum lt_err e = f.package_id && strchr(f.package_id, ',')       ? sent_ids(st, &f, data)
                    : st->sent_list(st->cls, &f, add_row, data) < 0 ? LT_ERR_STORE_FAILED
                                                                    : LT_ERR_OK;
    if (e != LT_ERR_OK) {
        json_decref(data);
        vxp_fail(call, e, e == LT_ERR_BAD_PARAMETER ? "docId lists at most 100 ids" : NULL);
        return;
    }
    vxp_ok(call, json_pack("{s:o}", "data", data));
}
