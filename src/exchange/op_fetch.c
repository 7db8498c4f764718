/* op_fetch — getEdoc (the package as base64 inside the JSON envelope) and downloadEdoc (the raw
 * bytes). Both stream from the store chunk by chunk, so a 50 MB package costs a few tens of KB
 * of memory per download; both are allowed to the recipient (by its docId) and to the sender
 * (by the DocId sendEdoc returned). Each fetch is recorded in the transaction log.
 *
 * The stored bytes are hashed as they stream and checked against the SHA-256 recorded at
 * acceptance before the last piece leaves: on a mismatch the reply stops short of its
 * Content-Length (the client sees a cut connection, never a complete document), the corruption is
 * logged and counted (lienthong_corruption_total). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "exchange/vxp.h"
#include "util/b64.h"
#include "util/crypto.h"
#include "util/log.h"

#define RAW_CHUNK (48 * 1024) /* a multiple of 3: base64 of each chunk needs no carry */

struct fetch_stream {
    struct store *st;
    struct app *app;
    char package_id[STORE_ID_MAX + 1];
    char sha256[SHA256_HEX_SIZE]; /* as recorded at acceptance */
    struct sha256_ctx hash;       /* of the stored bytes read so far */
    int hashing;
    uint64_t size; /* bytes of the copy handed out (package + trace) */
    /* A peer pulling from its inbound system's inbox gets this platform's TraceHeader spliced in
     * at trace_at (trace_len 0: the package as stored). */
    uint64_t trace_at;
    char *trace;
    size_t trace_len;
    int base64; /* getEdoc: JSON envelope around base64 */
    const char *prefix, *suffix;
    uint64_t emitted; /* bytes of output produced so far */
    uint64_t in_off;  /* package bytes consumed so far */
    size_t out_len, out_pos;
    int stage;                                 /* 0 prefix, 1 body, 2 suffix, 3 end */
    char out[B64_ENCODED_LEN(RAW_CHUNK) + 64]; /* last: not zeroed (see fetch) */
};

static const char JSON_PREFIX[] =
    "{\"status\":\"OK\",\"ErrorCode\":\"0\",\"ErrorDesc\":\"Thanh cong\",\"data\":\"";
static const char JSON_SUFFIX[] = "\"}";

/* The last piece is about to leave: the stored bytes must be what was accepted. */
static int check_hash(struct fetch_stream *f)
{
    uint8_t d[SHA256_LEN];
    char hex[SHA256_HEX_SIZE];
    f->hashing = 0;
    if (sha256_final(&f->hash, d) != 0)
        return -1;
    hex_encode(d, SHA256_LEN, hex);
    if (strcmp(hex, f->sha256) == 0)
        return 0;
    atomic_fetch_add(&f->app->metrics.corruption, 1);
    log_error("store: CORRUPTION: package %s: the stored bytes hash to %s, not to the %s recorded "
              "at acceptance; the download was cut short",
              f->package_id, hex, f->sha256);
    return -1;
}

/* Refills f->out with the next piece of the output; 0 on success, -1 on a store error. */
static int refill(struct fetch_stream *f)
{
    f->out_len = f->out_pos = 0;
    while (f->out_len == 0 && f->stage < 3) {
        if (f->stage == 0) {
            f->out_len = strlen(f->prefix);
            memcpy(f->out, f->prefix, f->out_len);
            f->stage = 1;
        } else if (f->stage == 1) {
            if (f->in_off >= f->size) {
                f->stage = 2;
                continue;
            }
            uint8_t raw[RAW_CHUNK];
            size_t want =
                f->size - f->in_off < RAW_CHUNK ? (size_t)(f->size - f->in_off) : RAW_CHUNK;
            size_t got = 0;
            while (got < want) {
                uint64_t pos = f->in_off + got; /* in the copy */
                size_t n = 0;
                if (f->trace_len && pos >= f->trace_at && pos < f->trace_at + f->trace_len) {
                    n = (size_t)(f->trace_at + f->trace_len - pos);
                    if (n > want - got)
                        n = want - got;
                    memcpy(raw + got, f->trace + (pos - f->trace_at), n);
                } else {
                    uint64_t src = pos < f->trace_at ? pos : pos - f->trace_len;
                    size_t cap = want - got;
                    if (f->trace_len && pos < f->trace_at && f->trace_at - pos < cap)
                        cap = (size_t)(f->trace_at - pos);
                    if (f->st->package_read(f->st->cls, f->package_id, (int64_t)src, raw + got, cap,
                                            &n) != STORE_ONE_RESULT ||
                        n == 0)
                        return -1;
                    if (f->hashing)
                        sha256_update(&f->hash, raw + got, n);
                }
                got += n;
            }
            f->in_off += got;
            if (f->in_off >= f->size && f->hashing && check_hash(f) != 0)
                return -1;
            if (f->base64) {
                f->out_len = b64_encode(raw, got, f->out);
            } else {
                memcpy(f->out, raw, got);
                f->out_len = got;
            }
        } else {
            f->out_len = strlen(f->suffix);
            memcpy(f->out, f->suffix, f->out_len);
            f->stage = 3;
        }
    }
    return 0;
}

static ssize_t fetch_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    struct fetch_stream *f = ctx;
    if (pos != f->emitted)
        return -2; /* MHD reads sequentially; anything else is an error */
    size_t n = 0;
    while (n < max) {
        if (f->out_pos == f->out_len) {
            if (f->stage == 3)
                break;
            if (refill(f) != 0)
                return -2; /* MHD_CONTENT_READER_END_WITH_ERROR: the client sees a short body */
            if (f->out_len == 0)
                break;
        }
        size_t k = f->out_len - f->out_pos;
        if (k > max - n)
            k = max - n;
        memcpy(buf + n, f->out + f->out_pos, k);
        f->out_pos += k;
        n += k;
    }
    f->emitted += n;
    return n ? (ssize_t)n : -1;
}

struct inbound_lookup {
    const char *system;
    int found;
};

static int match_inbound(void *ctx, const struct store_peer *p)
{
    struct inbound_lookup *l = ctx;
    if (p->inbound_system && *p->inbound_system && strcmp(p->inbound_system, l->system) == 0)
        l->found = 1;
    return l->found;
}

/* When the caller is a peer platform pulling its inbox here, the copy it takes carries this
 * platform's TraceHeader, like the copies the relay pushes (the same text, fixed at acceptance):
 * sets f->trace*. Anything missing or not fitting the bytes leaves the package as stored. */
static void trace_for_peer(struct vxp_call *call, struct fetch_stream *f, uint64_t size)
{
    struct store *st = call->app->store;
    struct inbound_lookup l = {call->system_id, 0};
    if (st->peer_list(st->cls, match_inbound, &l) < 0 || !l.found)
        return;
    int64_t off = -1;
    char *text = NULL;
    if (st->package_trace_get(st->cls, f->package_id, &off, &text) != STORE_ONE_RESULT)
        return;
    char before = 0;
    size_t n = 0;
    if (off > 0 && (uint64_t)off <= size &&
        st->package_read(st->cls, f->package_id, off - 1, &before, 1, &n) == STORE_ONE_RESULT &&
        n == 1 && before == '>') {
        f->trace = text;
        f->trace_len = strlen(text);
        f->trace_at = (uint64_t)off;
    } else {
        free(text);
    }
}

static void fetch_free(void *ctx)
{
    struct fetch_stream *f = ctx;
    if (f->hashing)
        sha256_abort(&f->hash);
    free(f->trace);
    free(f);
}

/* Resolves docId to a package the caller may read; fills pkg. */
static enum lt_err resolve(struct vxp_call *call, const char *doc_id, struct store_package *pkg)
{
    struct store *st = call->app->store;
    struct store_delivery d = {0};
    if (strlen(doc_id) > STORE_ID_MAX)
        return LT_ERR_UNKNOWN_DOCUMENT;
    enum store_rc rc = st->delivery_get(st->cls, doc_id, &d);
    if (rc < 0)
        return LT_ERR_STORE_FAILED;
    if (rc == STORE_ONE_RESULT) {
        int mine = strcmp(d.recipient_system, call->system_id) == 0;
        rc = mine ? st->package_get(st->cls, d.package_id, pkg) : STORE_NO_RESULTS;
        store_delivery_clear(&d);
        if (rc < 0)
            return LT_ERR_STORE_FAILED;
        return rc == STORE_ONE_RESULT ? LT_ERR_OK : LT_ERR_UNKNOWN_DOCUMENT;
    }
    rc = st->package_get(st->cls, doc_id, pkg);
    if (rc < 0)
        return LT_ERR_STORE_FAILED;
    if (rc == STORE_NO_RESULTS)
        return LT_ERR_UNKNOWN_DOCUMENT;
    if (strcmp(pkg->sender_system, call->system_id) != 0) {
        store_package_clear(pkg);
        return LT_ERR_UNKNOWN_DOCUMENT;
    }
    return LT_ERR_OK;
}

static void fetch(struct vxp_call *call, int base64)
{
    const char *doc_id = vxp_param(call, "docId");
    if (!doc_id || !*doc_id) {
        vxp_fail(call, LT_ERR_BAD_PARAMETER, "docId");
        return;
    }
    struct store_package pkg = {0};
    enum lt_err e = resolve(call, doc_id, &pkg);
    if (e != LT_ERR_OK) {
        vxp_fail(call, e, doc_id);
        return;
    }
    /* 64 KB of output buffer per call: zero only the fields before it */
    struct fetch_stream *f = malloc(sizeof *f);
    if (f)
        memset(f, 0, offsetof(struct fetch_stream, out));
    if (!f) {
        store_package_clear(&pkg);
        vxp_fail(call, LT_ERR_INTERNAL, NULL);
        return;
    }
    f->st = call->app->store;
    f->app = call->app;
    snprintf(f->package_id, sizeof f->package_id, "%s", pkg.id);
    snprintf(f->sha256, sizeof f->sha256, "%s", pkg.sha256 ? pkg.sha256 : "");
    f->hashing = sha256_init(&f->hash) == 0;
    f->size = (uint64_t)pkg.size;
    trace_for_peer(call, f, f->size);
    f->size += f->trace_len;
    f->base64 = base64;
    f->prefix = base64 ? JSON_PREFIX : "";
    f->suffix = base64 ? JSON_SUFFIX : "";
    uint64_t total =
        base64 ? strlen(JSON_PREFIX) + B64_ENCODED_LEN(f->size) + strlen(JSON_SUFFIX) : f->size;
    vxp_log_async(call->app, call->system_id, "receive", doc_id, pkg.sha256, "ok");
    store_package_clear(&pkg);
    http_reply_stream(call->req, 200,
                      base64 ? "application/json; charset=utf-8" : "application/xml; charset=utf-8",
                      total, fetch_read, f, fetch_free);
}

void op_get_edoc(struct vxp_call *call)
{
    fetch(call, 1);
}

void op_download_edoc(struct vxp_call *call)
{
    fetch(call, 0);
}
