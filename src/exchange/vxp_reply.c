/* vxp_reply — the reply envelope every VXP operation answers with.
 *
 * Always HTTP 200 with a JSON object holding status ("OK"/"FAIL"), ErrorCode (a string: "0" or
 * the registry code) and ErrorDesc, never a null, and every non-ASCII character escaped as
 * \uXXXX: the SDK decodes sendEdoc replies as US-ASCII and gives up on missing members. */
#include <stdlib.h>
#include <string.h>

#include "exchange/vxp.h"
#include "util/buf.h"
#include "util/log.h"

#define JSON_CT "application/json; charset=utf-8"

json_t *vxp_fail_members(enum vxp_fail_shape shape)
{
    switch (shape) {
    case VXP_FAIL_DOCID:
        return json_pack("{s:s}", "DocId", "");
    case VXP_FAIL_DATA_STRING:
        return json_pack("{s:s}", "data", "");
    case VXP_FAIL_DATA_LIST:
        return json_pack("{s:[]}", "data");
    case VXP_FAIL_COUNT:
        return json_pack("{s:i}", "count", 0);
    default:
        return json_object();
    }
}

char *vxp_render_desc(enum lt_err e, const char *desc, json_t *extra, size_t *ret_len)
{
    char code[16];
    snprintf(code, sizeof code, "%d", lt_err_code(e));
    json_t *o = json_pack("{s:s,s:s,s:s}", "status", e == LT_ERR_OK ? "OK" : "FAIL", "ErrorCode",
                          code, "ErrorDesc", desc);
    if (o && extra)
        json_object_update(o, extra);
    json_decref(extra);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    if (!s) {
        static const char oom[] =
            "{\"status\":\"FAIL\",\"ErrorCode\":\"501\",\"ErrorDesc\":\"Internal server error\"}";
        s = strdup(oom);
    }
    *ret_len = s ? strlen(s) : 0;
    return s;
}

char *vxp_render(enum lt_err e, const char *detail, json_t *extra, size_t *ret_len)
{
    struct buf desc = {0};
    buf_puts(&desc, lt_err_msg(e));
    if (detail && *detail)
        buf_printf(&desc, ": %s", detail);
    char *s = vxp_render_desc(e, desc.data ? desc.data : "", extra, ret_len);
    buf_free(&desc);
    return s;
}

static void reply_now(struct http_request *req, char *body, size_t len)
{
    if (body)
        http_reply(req, 200, JSON_CT, body, len);
    free(body);
}

void vxp_ok(struct vxp_call *call, json_t *extra)
{
    size_t len;
    char *body = vxp_render(LT_ERR_OK, NULL, extra, &len);
    reply_now(call->req, body, len);
}

void vxp_fail(struct vxp_call *call, enum lt_err e, const char *detail)
{
    atomic_fetch_add(&call->app->metrics.failures, 1);
    char ip[64];
    if (http_client_ip(call->req, ip, sizeof ip) != 0)
        snprintf(ip, sizeof ip, "?");
    /* before authentication, the systemId the caller claimed (not to be trusted, but what an
     * operator looks for when a system cannot connect) */
    const char *claimed =
        call->system_id[0] ? NULL : http_header(call->req, VXP_HEADER_PREFIX "systemid");
    if (lt_err_is_server(e))
        log_error("vxp %s client=%s system=%s: %s %s", call->op ? call->op->name : "?", ip,
                  call->system_id[0] ? call->system_id : "-", lt_err_name(e), detail ? detail : "");
    else
        log_info("vxp %s refused client=%s system=%s%s%.64s: %s %s",
                 call->op ? call->op->name : "?", ip, call->system_id[0] ? call->system_id : "-",
                 claimed ? " claimed=" : "", claimed ? claimed : "", lt_err_name(e),
                 detail ? detail : "");
    enum vxp_fail_shape shape = call->op ? call->op->fail_shape : VXP_FAIL_PLAIN;
    if (shape == VXP_FAIL_EMPTY_BODY) {
        /* downloadEdoc: the SDK saves whatever body it gets as the document. */
        http_reply(call->req, 404, NULL, "", 0);
        return;
    }
    size_t len;
    char *body = vxp_render(e, detail, vxp_fail_members(shape), &len);
    reply_now(call->req, body, len);
}

void vxp_complete(struct http_request *req, char *body, size_t len)
{
    http_complete(req, 200, JSON_CT, body ? body : "", body ? len : 0);
    free(body);
}

const char *vxp_state_desc(enum store_delivery_state st)
{
    switch (st) {
    case STORE_DELIVERY_INITIAL:
        return "Cho nhan";
    case STORE_DELIVERY_PROCESSING:
        return "Dang xu ly";
    case STORE_DELIVERY_DONE:
        return "Da nhan";
    default:
        return "Nhan loi";
    }
}
