/* vxp — the national hub's document API (docs: ../shared vxp-protocol; summary in docs/api.md):
 * authentication of the signed header, parameters, the reply envelope, and the operations.
 *
 * Every operation is one row of the route table in routes.c. The dispatcher authenticates the
 * request (HMAC-SHA256 of the raw XroadVnpt-sign-header with the system's secret), then calls
 * the operation's handler with the verified caller and the SIGNED parameters; unsigned duplicate
 * headers and leftover parameters are ignored. Replies are pure-ASCII JSON with status, ErrorCode
 * and ErrorDesc always present and the operation's own members present even on failure. */
#ifndef LT_EXCHANGE_VXP_H
#define LT_EXCHANGE_VXP_H

#include <jansson.h>

#include "exchange/app.h"
#include "http/http.h"
#include "util/errors.h"
#include "util/vxpsig.h"

/* What the client must find in a failure reply of an operation (section 6 of the protocol). */
enum vxp_fail_shape {
    VXP_FAIL_PLAIN,
    VXP_FAIL_DOCID,
    VXP_FAIL_DATA_STRING,
    VXP_FAIL_DATA_LIST,
    VXP_FAIL_COUNT,
    VXP_FAIL_EMPTY_BODY
};

struct vxp_call {
    struct http_request *req;
    struct app *app;
    const struct vxp_op *op;
    char system_id[STORE_ID_MAX + 1]; /* the authenticated caller */
    json_t *params;                   /* the signed JSON object, owned */
};

struct vxp_op {
    const char *name;
    int allow_get; /* downloadEdoc is a GET; every other operation a POST */
    enum vxp_fail_shape fail_shape;
    void (*handler)(struct vxp_call *call);
};

/* Looks up an operation by the last segment of the request path; NULL when unknown. */
const struct vxp_op *vxp_find_op(const char *url);
/* The HTTP handler behind every VXP operation (authenticates, then op->handler). */
void vxp_dispatch(struct http_request *req);

/* Authentication (vxp_auth.c). Fills call->system_id and call->params; returns LT_ERR_OK or the
 * reason for refusal. */
enum lt_err vxp_authenticate(struct vxp_call *call);
/* A signed parameter by key, case-insensitively ("docId" finds XroadVnpt-docid); NULL if absent. */
const char *vxp_param(const struct vxp_call *call, const char *key);

/* Replies (vxp_reply.c). extra is stolen (may be NULL); detail may be NULL. The synchronous
 * forms queue the reply; the _async forms complete a suspended request from any thread. */
void vxp_ok(struct vxp_call *call, json_t *extra);
void vxp_fail(struct vxp_call *call, enum lt_err e, const char *detail);
char *vxp_render(enum lt_err e, const char *detail, json_t *extra, size_t *ret_len);
/* The same with ErrorDesc given whole (for wording clients already recognise). */
char *vxp_render_desc(enum lt_err e, const char *desc, json_t *extra, size_t *ret_len);
void vxp_complete(struct http_request *req, char *body, size_t len); /* takes body */
/* The failure members an operation must carry (DocId "", data "", count 0...), as a new object. */
json_t *vxp_fail_members(enum vxp_fail_shape shape);

/* The ASCII description of a delivery state in list items (status_desc, receiveStatusDesc). */
const char *vxp_state_desc(enum store_delivery_state st);

/* Operations (one file per resource). */
void op_send_edoc(struct vxp_call *call);         /* op_send.c */
void op_get_received_list(struct vxp_call *call); /* op_inbox.c */
void op_count_receive_edoc(struct vxp_call *call);
void op_count_receive_status(struct vxp_call *call);
void op_update_status(struct vxp_call *call);
void op_get_edoc(struct vxp_call *call); /* op_fetch.c */
void op_download_edoc(struct vxp_call *call);
void op_get_sent_list(struct vxp_call *call); /* op_sent.c */
void op_get_agencies(struct vxp_call *call);  /* op_agency.c */
void op_get_agencies_qd20(struct vxp_call *call);
void op_get_synchronize_unit(struct vxp_call *call);
void op_register_agency(struct vxp_call *call);
void op_delete_agency(struct vxp_call *call);

/* Appends a transaction-log record without waiting for its commit (it rides with the next
 * batch): for events whose reply does not depend on it (a fetch, a refused request). */
void vxp_log_async(struct app *app, const char *actor, const char *operation,
                   const char *package_id, const char *sha256, const char *outcome);

#endif
