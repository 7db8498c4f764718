/* vxpsig — see vxpsig.h. */
#include "util/vxpsig.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
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

/* A JSON string as Gson writes it (JsonWriter without HTML escaping). */
static int gson_string(struct buf *b, const char *s)
{
    int rc = buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p && rc == 0; p++) {
        char esc[8];
        const char *e = NULL;
        switch (*p) {
        case '"':
            e = "\\\"";
            break;
        case '\\':
            e = "\\\\";
            break;
        case '\t':
            e = "\\t";
            break;
        case '\b':
            e = "\\b";
            break;
        case '\n':
            e = "\\n";
            break;
        case '\r':
            e = "\\r";
            break;
        case '\f':
            e = "\\f";
            break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                e = esc;
            } else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
                e = p[2] == 0xa8 ? "\\u2028" : "\\u2029";
                p += 2;
            }
        }
        rc = e ? buf_append(b, e, strlen(e)) : buf_append(b, (const char *)p, 1);
    }
    return rc ? rc : buf_append(b, "\"", 1);
}

int vxp_sign(const char *secret, const char *const keys[], const char *const values[], size_t n,
             char **ret_sign, char **ret_keys, char ret_mac[65])
{
    struct buf sign = {0}, list = {0};
    int rc = buf_append(&sign, "{", 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char name[256];
        if ((size_t)snprintf(name, sizeof name, PREFIX "%s", keys[i]) >= sizeof name)
            rc = -1; /* our own keys: never that long */
        rc |= (i ? buf_append(&sign, ",", 1) : 0) | gson_string(&sign, name) |
              buf_append(&sign, ":", 1) | gson_string(&sign, values[i]) |
              (i ? buf_append(&list, ";", 1) : 0) | buf_append(&list, keys[i], strlen(keys[i]));
    }
    rc |= buf_append(&sign, "}", 1) | buf_append(&list, "", 1) | buf_append(&sign, "", 1);
    if (rc == 0 && hmac_sha256_hex(secret, strlen(secret), sign.data, sign.len - 1, ret_mac) == 0) {
        *ret_sign = sign.data;
        *ret_keys = list.data;
        return 0;
    }
    buf_free(&sign);
    buf_free(&list);
    return -1;
}
