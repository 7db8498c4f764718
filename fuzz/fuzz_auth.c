/* fuzz_auth — libFuzzer target for the request authentication of the VXP API
 * (vxp_check_signature: HMAC check, signed-header JSON, systemid binding, parameter lookup).
 *
 * Input layout: the bytes are split at the first two NUL bytes into systemid, secret and the
 * signed header; the MAC is computed over the header with the secret half of the time (so the
 * JSON and parameter code is reached) and taken from the input's tail otherwise. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exchange/vxp.h"
#include "util/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 65536)
        return 0;
    char *copy = malloc(size + 3);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, size - 1);
    memset(copy + size - 1, 0, 4);
    const char *id = copy;
    const char *secret = id + strlen(id) + 1;
    const char *sign = secret + strlen(secret) + 1;
    char mac[SHA256_HEX_SIZE];
    if (data[0] & 1) {
        if (hmac_sha256_hex(secret, strlen(secret), sign, strlen(sign), mac) != 0)
            mac[0] = '\0';
    } else {
        size_t n = strlen(sign);
        snprintf(mac, sizeof mac, "%s", n > 64 ? sign + n - 64 : sign);
    }
    json_t *params = NULL;
    if (vxp_check_signature(id, secret, sign, mac, &params) == LT_ERR_OK) {
        struct vxp_call call = {.params = params};
        (void)vxp_param(&call, "systemid");
        (void)vxp_param(&call, "docId");
        (void)vxp_param(&call, "hash-file");
        json_decref(params);
    }
    free(copy);
    return 0;
}
