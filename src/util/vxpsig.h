/* vxpsig — the VXP signature scheme (protocol section 4.5), shared by the document API and the
 * data-sharing gateway (which accepts the same headers instead of a token).
 *
 * The signature is HMAC-SHA256 over the raw bytes of XroadVnpt-sign-header as received; the
 * string is never rebuilt (its member order is Java HashMap order, which depends on the key set
 * and the client's history). The timestamp is not checked for freshness: the SDK computes it
 * once per service object and reuses it for days. */
#ifndef LT_UTIL_VXPSIG_H
#define LT_UTIL_VXPSIG_H

#include <jansson.h>

#include "util/errors.h"

#define VXP_HEADER_PREFIX "XroadVnpt-"

/* The pure check (no I/O, fuzzed): mac is HMAC-SHA256(secret, sign) in hex (either case), sign
 * is a flat JSON object of strings and its systemid equals id. On success *ret_params gets the
 * parsed object (caller decrefs). */
enum lt_err vxp_check_signature(const char *id, const char *secret, const char *sign,
                                const char *mac, json_t **ret_params);
/* The client side (lienthong calling another platform): builds what the SDK sends (protocol 4.1,
 * 4.2) for the parameters keys[i] = values[i] in the order given — the signed header
 * {"XroadVnpt-<key>":"<value>",...} escaped as Gson writes it (\" \\ and control characters,
 * U+2028/U+2029; other bytes as they are), the key list joined by ';', and the lower-case hex
 * HMAC-SHA256 of the signed header under secret. A server never rebuilds the string, so any
 * order verifies. Returns 0, or -1 when out of memory; the caller frees *ret_sign, *ret_keys. */
int vxp_sign(const char *secret, const char *const keys[], const char *const values[], size_t n,
             char **ret_sign, char **ret_keys, char ret_mac[65]);

/* A signed parameter by key, case-insensitively ("docId" finds XroadVnpt-docid); NULL if absent. */
const char *vxp_signed_value(json_t *params, const char *key);

#endif
