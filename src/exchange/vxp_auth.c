/* vxp_auth — verification of the SDK's signed header (protocol section 4.5).
 *
 * The signature is HMAC-SHA256 over the raw bytes of XroadVnpt-sign-header as received; the
 * string is never rebuilt (its member order is Java HashMap order, which depends on the key set
 * and the client's history). The timestamp is not checked for freshness: the SDK computes it
 * once per service object and reuses it for days. */
#include <string.h>
#include <strings.h>

#include "exchange/vxp.h"
#include "util/crypto.h"

#define PREFIX "XroadVnpt-"
#define PREFIX_LEN (sizeof PREFIX - 1)

static const char *signed_value(json_t *params, const char *key)
{
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v)
    {
        if (strncasecmp(k, PREFIX, PREFIX_LEN) == 0 && strcasecmp(k + PREFIX_LEN, key) == 0)
            return json_string_value(v);
    }
    return NULL;
}

const char *vxp_param(const struct vxp_call *call, const char *key)
{
    return call->params ? signed_value(call->params, key) : NULL;
}

/* The signed header must be a flat object of strings (the SDK writes only strings). */
static int flat_strings(json_t *o)
{
    const char *k;
    json_t *v;
    if (!json_is_object(o))
        return 0;
    json_object_foreach(o, k, v)
    {
        if (!json_is_string(v))
            return 0;
    }
    return 1;
}

enum lt_err vxp_check_signature(const char *id, const char *secret, const char *sign,
                                const char *mac, json_t **ret_params)
{
    char expect[SHA256_HEX_SIZE];
    if (hmac_sha256_hex(secret, strlen(secret), sign, strlen(sign), expect) != 0)
        return LT_ERR_INTERNAL;
    /* Clients send lower-case hex; accept upper case too by folding before comparing. */
    char got[SHA256_HEX_SIZE] = {0};
    size_t mac_len = strlen(mac);
    if (mac_len != SHA256_HEX_SIZE - 1)
        return LT_ERR_AUTH_BAD_SIGNATURE;
    for (size_t i = 0; i < mac_len; i++)
        got[i] = (char)((mac[i] >= 'A' && mac[i] <= 'F') ? mac[i] + 32 : mac[i]);
    if (!ct_equal(expect, SHA256_HEX_SIZE - 1, got, mac_len))
        return LT_ERR_AUTH_BAD_SIGNATURE;

    json_error_t jerr;
    json_t *params = json_loads(sign, JSON_REJECT_DUPLICATES, &jerr);
    if (!params || !flat_strings(params)) {
        json_decref(params);
        return LT_ERR_AUTH_BAD_SIGN_HEADER;
    }
    const char *signed_id = signed_value(params, "systemid");
    if (!signed_id || strcmp(signed_id, id) != 0) {
        json_decref(params);
        return LT_ERR_AUTH_SYSTEMID_MISMATCH;
    }
    *ret_params = params;
    return LT_ERR_OK;
}

enum lt_err vxp_authenticate(struct vxp_call *call)
{
    struct http_request *req = call->req;
    struct store *st = call->app->store;
    const char *id = http_header(req, PREFIX "systemid");
    const char *sign = http_header(req, PREFIX "sign-header");
    const char *mac = http_header(req, PREFIX "hash-header");
    if (!id || !*id || !sign || !*sign || !mac || !*mac)
        return LT_ERR_AUTH_MISSING;
    if (strlen(id) > STORE_ID_MAX)
        return LT_ERR_AUTH_UNKNOWN_SYSTEM;

    struct store_system sys = {0};
    enum store_rc rc = st->system_get(st->cls, id, &sys);
    if (rc == STORE_NO_RESULTS)
        return LT_ERR_AUTH_UNKNOWN_SYSTEM;
    if (rc < 0)
        return LT_ERR_STORE_FAILED;
    json_t *params = NULL;
    enum lt_err e = vxp_check_signature(id, sys.secret, sign, mac, &params);
    store_system_clear(&sys);
    if (e != LT_ERR_OK)
        return e;
    snprintf(call->system_id, sizeof call->system_id, "%s", id);
    call->params = params;
    return LT_ERR_OK;
}
