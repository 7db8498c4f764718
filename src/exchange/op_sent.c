/* op_sent — getSentEdocList: the sender's delivery report, one item per (package, recipient),
 * newest packages first. Optional filters: docId (one package), messagetype, fromDate/toDate
 * (YYYY-MM-DD, to inclusive), pageSize (default 500, at most 5000) and pageIndex (from 1). */
#include <stdlib.h>
#include <string.h>

#include "exchange/vxp.h"
#include "util/buf.h"
#include "util/timeutil.h"

static int add_row(void *ctx, const struct store_sent_row *r)
{
    const struct store_package *p = r->pkg;
    const struct store_delivery *d = r->dlv;
    char sent[20], received[20] = "";
    fmt_local_datetime(p->created_ms, sent);
    if (d->state != STORE_DELIVERY_INITIAL)
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
    return item ? json_array_append_new(ctx, item) : 1;
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
    if (st->sent_list(st->cls, &f, add_row, data) < 0) {
        json_decref(data);
        vxp_fail(call, LT_ERR_STORE_FAILED, NULL);
        return;
    }
    vxp_ok(call, json_pack("{s:o}", "data", data));
}
