/* crypto — thin wrapper over OpenSSL for the hashes and identifiers lienthong uses. */
#include "util/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int sha256_init(struct sha256_ctx *c)
{
    c->md = EVP_MD_CTX_new();
    if (!c->md)
        return -1;
    if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
        sha256_abort(c);
        return -1;
    }
    return 0;
}

int sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
    if (!c->md)
        return -1;
    return EVP_DigestUpdate(c->md, data, len) == 1 ? 0 : -1;
}

int sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN])
{
    if (!c->md)
        return -1;
    unsigned int n = 0;
    int ok = EVP_DigestFinal_ex(c->md, out, &n) == 1 && n == SHA256_LEN;
    sha256_abort(c);
    return ok ? 0 : -1;
}

void sha256_abort(struct sha256_ctx *c)
{
    if (c->md)
        EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

int sha256_copy(struct sha256_ctx *dst, const struct sha256_ctx *src)
{
    dst->md = EVP_MD_CTX_new();
    if (!dst->md)
        return -1;
    if (EVP_MD_CTX_copy_ex(dst->md, src->md) != 1) {
        sha256_abort(dst);
        return -1;
    }
    return 0;
}

int sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == SHA256_LEN ? 0 : -1;
}

void hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void hex_unpadded(const uint8_t digest[SHA256_LEN], char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < SHA256_LEN; i++) {
        if (digest[i] >> 4)
            out[o++] = digits[digest[i] >> 4];
        out[o++] = digits[digest[i] & 15];
    }
    out[o] = '\0';
}

int hmac_sha256_hex(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    char out[SHA256_HEX_SIZE])
{
    uint8_t mac[SHA256_LEN];
    unsigned int n = 0;
    if (key_len > 0x7fffffff)
        return -1;
    if (!HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, mac, &n) || n != SHA256_LEN)
        return -1;
    hex_encode(mac, SHA256_LEN, out);
    return 0;
}

int ct_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
    if (a_len != b_len)
        return 0;
    return CRYPTO_memcmp(a, b, a_len) == 0;
}

int random_docid(char out[DOCID_HEX_SIZE])
{
    uint8_t raw[12];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint32_t t = (uint32_t)ts.tv_sec;
    unsigned ms = (unsigned)(ts.tv_nsec / 1000000);
    raw[0] = (uint8_t)(t >> 24);
    raw[1] = (uint8_t)(t >> 16);
    raw[2] = (uint8_t)(t >> 8);
    raw[3] = (uint8_t)t;
    raw[4] = (uint8_t)(ms >> 8);
    raw[5] = (uint8_t)ms;
    if (RAND_bytes(raw + 6, 6) != 1)
        return -1;
    hex_encode(raw, sizeof raw, out);
    return 0;
}

/* 16 random bytes as a UUID of the given version; for version 7 the first 48 bits are the
 * milliseconds since the epoch. */
static int make_uuid(char out[UUID_SIZE], int version)
{
    /* Drawn from a per-thread pool: one RAND_bytes call (and its fork check, a system call)
     * per 32 identifiers instead of one each; the gateway makes one per call. */
    static __thread uint8_t pool[512];
    static __thread size_t pool_left;
    if (pool_left < 16) {
        if (RAND_bytes(pool, sizeof pool) != 1)
            return -1;
        pool_left = sizeof pool;
    }
    uint8_t r[16];
    memcpy(r, pool + sizeof pool - pool_left, sizeof r);
    OPENSSL_cleanse(pool + sizeof pool - pool_left, sizeof r);
    pool_left -= sizeof r;
    if (version == 7) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
        for (int i = 0; i < 6; i++)
            r[i] = (uint8_t)(ms >> (40 - 8 * i));
    }
    r[6] = (uint8_t)((r[6] & 0x0f) | (version << 4));
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char h[33];
    hex_encode(r, sizeof r, h);
    snprintf(out, UUID_SIZE, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
    return 0;
}

int random_uuid(char out[UUID_SIZE])
{
    return make_uuid(out, 4);
}

int time_uuid(char out[UUID_SIZE])
{
    return make_uuid(out, 7);
}

int random_secret(char out[45])
{
    uint8_t r[32];
    if (RAND_bytes(r, sizeof r) != 1)
        return -1;
    return EVP_EncodeBlock((unsigned char *)out, r, sizeof r) == 44 ? 0 : -1;
}
