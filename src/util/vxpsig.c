/* vxpsig — see vxpsig.h. */
#include "util/vxpsig.h"

#include <string.h>
#include <strings.h>

#include "util/crypto.h"

#define PREFIX VXP_HEADER_PREFIX
#define PREFIX_LEN (sizeof PREFIX - 1)

const char *vxp_signed_value(json_t *params, const char *key)
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
    const char *signed_id = vxp_signed_value(params, "systemid");
    if (!signed_id || strcmp(signed_id, id) != 0) {
        json_decref(params);
        return LT_ERR_AUTH_SYSTEMID_MISMATCH;
    }
    *ret_params = params;
    return LT_ERR_OK;
}

