/* chain — the hash that links the transaction-log records (see chain.h).
 *
 * Encoding hashed for record r (every field, in this order):
 *
 *     prev_hash, seq, time_ms, actor, operation, package_id, content_sha256, outcome
 *
 * each written as "<decimal byte length>:<bytes>" (a netstring without the trailing comma);
 * seq and time_ms are first rendered as decimal text ("-" sign when negative), a NULL string is
 * the empty string. The length prefix makes the encoding injective: no two different records
 * produce the same byte string, so moving a character from one field to the next changes the
 * hash. hash = lower-case hex of SHA-256 over the concatenation. */
#include "audit/chain.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/crypto.h"

const char AUDIT_GENESIS[65] = "0000000000000000000000000000000000000000000000000000000000000000";

static void put_field(struct sha256_ctx *c, const char *s, size_t len)
{
    char prefix[24];
    int n = snprintf(prefix, sizeof prefix, "%zu:", len);
    sha256_update(c, prefix, (size_t)n);
    if (len)
        sha256_update(c, s, len);
}

static void put_str(struct sha256_ctx *c, const char *s)
{
    if (!s)
        s = "";
    put_field(c, s, strlen(s));
}

static void put_int(struct sha256_ctx *c, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    put_field(c, num, (size_t)n);
}

void audit_chain_hash(const char *prev_hash, const struct store_txrec *r, char out[65])
{
    struct sha256_ctx c;
    uint8_t digest[SHA256_LEN];
    if (sha256_init(&c) != 0) {
        /* Only on allocation failure inside OpenSSL: a value that never verifies. */
        memset(out, 'x', 64);
        out[64] = '\0';
        return;
    }
    put_str(&c, prev_hash);
    put_int(&c, r->seq);
    put_int(&c, r->time_ms);
    put_str(&c, r->actor);
    put_str(&c, r->operation);
    put_str(&c, r->package_id);
    put_str(&c, r->content_sha256);
    put_str(&c, r->outcome);
    if (sha256_final(&c, digest) != 0) {
        memset(out, 'x', 64);
        out[64] = '\0';
        return;
    }
    hex_encode(digest, SHA256_LEN, out);
}

void audit_call_digest(const struct store_call *r, char out[65])
{
    struct buf canon = {0};
    uint8_t d[SHA256_LEN];
    buf_printf(&canon, "%lld|%s|%s|%s|%s|%s|%s|%s|%d|%s|%lld|%lld|%lld|%lld|%s|%s",
               (long long)r->time_ms, r->request_id, r->consumer, r->provider, r->service_code,
               r->service_version, r->method, r->path, r->status, r->error,
               (long long)r->duration_us, (long long)r->upstream_us, (long long)r->bytes_in,
               (long long)r->bytes_out, r->request_sha256, r->response_sha256);
    if (canon.data && sha256(canon.data, canon.len, d) == 0) {
        hex_encode(d, SHA256_LEN, out);
    } else {
        memset(out, 'x', 64); /* out of memory: a value that never verifies */
        out[64] = '\0';
    }
    buf_free(&canon);
}
