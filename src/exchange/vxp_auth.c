/* vxp_auth — authentication of a VXP request: the system's secret from the gateway's in-memory
 * view of the systems (every request is authenticated: a database read here cost a read
 * transaction per call), then the signature check of src/util/vxpsig.c. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exchange/vxp.h"
#include "util/crypto.h"

#define PREFIX VXP_HEADER_PREFIX

const char *vxp_param(const struct vxp_call *call, const char *key)
{
    return call->params ? vxp_signed_value(call->params, key) : NULL;
}

enum lt_err vxp_authenticate(struct vxp_call *call)
{
    struct http_request *req = call->req;
    const char *id = http_header(req, PREFIX "systemid");
    const char *sign = http_header(req, PREFIX "sign-header");
    const char *mac = http_header(req, PREFIX "hash-header");
    if (!id || !*id || !sign || !*sign || !mac || !*mac)
        return LT_ERR_AUTH_MISSING;
    if (strlen(id) > STORE_ID_MAX)
        return LT_ERR_AUTH_UNKNOWN_SYSTEM;

    char *secret = NULL;
    int rc = gateway_system_secret(call->app->gateway, id, &secret);
    if (rc == 0)
        return LT_ERR_AUTH_UNKNOWN_SYSTEM;
    if (rc < 0)
        return LT_ERR_STORE_FAILED;
    json_t *params = NULL;
    enum lt_err e = vxp_check_signature(id, secret, sign, mac, &params);
    free(secret);
    if (e != LT_ERR_OK)
        return e;
    snprintf(call->system_id, sizeof call->system_id, "%s", id);
    call->params = params;
    return LT_ERR_OK;
}
