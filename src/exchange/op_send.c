/* op_send — sendEdoc: accept a document or status package, route it, store it durably with one
 * inbox entry per recipient, and answer with its DocId only after the commit.
 *
 * Flow: authenticate (dispatcher) -> from == systemid -> find the document bytes in the body
 * (the SDK appends CRLF; hash-file says which length is the document) -> parse the edXML
 * (streaming, bounded) -> recipients (To/OrganId, or ResponseFor/OrganId for a status, or the
 * explicit "to" parameter) -> the acceptance job of relay/accept.h, which, inside the
 * group-commit transaction, answers a retried duplicate with the first DocId, refuses an
 * unroutable package without writing it, or writes package, bytes, inbox entries, the outbox
 * rows of recipients on other platforms and the log record together. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exchange/vxp.h"
#include "exchange/sigcheck.h"
#include "relay/accept.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/log.h"

struct send_job {
    struct accept_job a; /* first: the committer hands this pointer back */
    struct http_request *req;
    struct app *app;
    char client[64]; /* the caller's address, for the log */
};

static void send_job_free(struct send_job *j)
{
    free(j->a.read_ctx);
    accept_job_clear(&j->a);
    free(j);
}

/* Reads at most the document's length from the request body (the CRLF is not stored). */
struct doc_reader {
    struct http_request *req;
    uint64_t len, left;
};

static long read_doc(void *ctx, void *buf, size_t cap)
{
    struct doc_reader *r = ctx;
    if (r->left == 0)
        return 0;
    if (cap > r->left)
        cap = (size_t)r->left;
    long n = http_body_read(r->req, buf, cap);
    if (n > 0)
        r->left -= (uint64_t)n;
    return n;
}

static int rewind_doc(void *ctx)
{
    struct doc_reader *r = ctx;
    r->left = r->len;
    return http_body_rewind(r->req);
}

static void send_done(struct commit_job *cj, int ok)
{
    struct send_job *j = (struct send_job *)cj;
    struct accept_job *a = &j->a;
    enum lt_err e = ok ? a->err : LT_ERR_STORE_FAILED;
    json_t *extra;
    if (e == LT_ERR_OK) {
        extra = json_pack("{s:s}", "DocId", a->doc_id);
        if (!a->duplicate) {
            if (a->meta.signature == EDXML_SIG_PENDING)
                sigcheck_kick(j->app->sigcheck);
            atomic_fetch_add(a->meta.messagetype == STORE_MSG_STATUS ? &j->app->metrics.sent_status
                                                                     : &j->app->metrics.sent_edoc,
                             1);
            accept_after_commit(a);
        }
    } else {
        extra = vxp_fail_members(VXP_FAIL_DOCID);
        atomic_fetch_add(&j->app->metrics.failures, 1);
        log_info("vxp sendEdoc refused client=%s system=%s: %s %s", j->client,
                 a->meta.sender_system, lt_err_name(e), a->detail.data ? a->detail.data : "");
    }
    size_t len;
    char *body = vxp_render(e, a->detail.data, extra, &len);
    vxp_complete(j->req, body, len);
    send_job_free(j);
}

/* --- request checks before the commit --- */

/* Finds the document inside the body: SHA-256 of (body minus a final CRLF) or of the whole body
 * must equal hash-file (unpadded hex, as the SDK renders it). Without hash-file, one trailing
 * CRLF is dropped. */
static enum lt_err locate_document(struct vxp_call *call, uint64_t *ret_len, char *ret_sha)
{
    struct http_request *req = call->req;
    uint64_t len = http_body_len(req);
    const char *hash_file = vxp_param(call, "hash-file");
    char tail[2] = {0, 0};
    int crlf = 0;
    if (len >= 2) {
        const char *mem = http_body_mem(req);
        if (mem) {
            tail[0] = mem[len - 2];
            tail[1] = mem[len - 1];
        } else {
            int fd = http_body_fd(req);
            if (fd < 0 || pread(fd, tail, 2, (off_t)(len - 2)) != 2)
                return LT_ERR_INTERNAL;
        }
        crlf = tail[0] == '\r' && tail[1] == '\n';
    }
    uint64_t short_len = crlf ? len - 2 : len;

    struct sha256_ctx c, whole;
    uint8_t d_short[SHA256_LEN], d_whole[SHA256_LEN];
    char buf[65536];
    uint64_t pos = 0;
    if (http_body_rewind(req) != 0 || sha256_init(&c) != 0)
        return LT_ERR_INTERNAL;
    while (pos < short_len) {
        size_t want = short_len - pos < sizeof buf ? (size_t)(short_len - pos) : sizeof buf;
        long n = http_body_read(req, buf, want);
        if (n <= 0) {
            sha256_abort(&c);
            return LT_ERR_INTERNAL;
        }
        sha256_update(&c, buf, (size_t)n);
        pos += (uint64_t)n;
    }
    if (sha256_copy(&whole, &c) != 0) {
        sha256_abort(&c);
        return LT_ERR_INTERNAL;
    }
    if (crlf)
        sha256_update(&whole, "\r\n", 2);
    if (sha256_final(&c, d_short) != 0 || sha256_final(&whole, d_whole) != 0)
        return LT_ERR_INTERNAL;

    char unpadded[SHA256_HEX_SIZE];
    const uint8_t *chosen = d_short;
    *ret_len = short_len;
    if (hash_file && *hash_file) {
        hex_unpadded(d_short, unpadded);
        if (strcmp(unpadded, hash_file) != 0) {
            hex_unpadded(d_whole, unpadded);
            if (strcmp(unpadded, hash_file) != 0)
                return LT_ERR_HASH_FILE_MISMATCH;
            chosen = d_whole;
            *ret_len = len;
        }
    }
    hex_encode(chosen, SHA256_LEN, ret_sha);
    return LT_ERR_OK;
}

static long parse_read(void *ctx, char *buf, size_t cap)
{
    return read_doc(ctx, buf, cap);
}

/* The optional "to" parameter: a JSON string, an array of strings, or an array of
 * {"organId": ...} objects (clients differ). A peer platform relaying a package names here the
 * recipients it routed to us (the document's To lists them all). */
static enum lt_err explicit_recipients(struct accept_job *a, const char *to, struct buf *detail)
{
    json_error_t jerr;
    json_t *v = json_loads(to, JSON_DECODE_ANY, &jerr);
    if (!v) {
        buf_printf(detail, "to is not JSON");
        return LT_ERR_BAD_PARAMETER;
    }
    enum lt_err e = LT_ERR_OK;
    json_t *items = json_is_array(v) ? v : NULL;
    size_t n = items ? json_array_size(items) : 1;
    for (size_t i = 0; i < n && e == LT_ERR_OK; i++) {
        json_t *it = items ? json_array_get(items, i) : v;
        if (json_is_object(it))
            it = json_object_get(it, "organId") ? json_object_get(it, "organId")
                                                : json_object_get(it, "OrganId");
        const char *organ = json_string_value(it);
        if (!organ || !edxml_organ_id_ok(organ)) {
            buf_printf(detail, "to[%zu] is not an organ id", i);
            e = LT_ERR_BAD_PARAMETER;
        } else if (accept_add_recipient(a, organ) != 0) {
            e = LT_ERR_INTERNAL;
        }
    }
    json_decref(v);
    return e;
}

void op_send_edoc(struct vxp_call *call)
{
    struct app *app = call->app;
    const char *from = vxp_param(call, "from");
    if (!from || strcmp(from, call->system_id) != 0) {
        /* The national hub's own wording, which integrators already recognise. */
        struct buf d = {0};
        buf_printf(&d, "Don vi gui %s khong dung voi ma da dang ky: %s", from ? from : "",
                   call->system_id);
        size_t len;
        atomic_fetch_add(&app->metrics.failures, 1);
        char *body =
            vxp_render_desc(LT_ERR_FROM_MISMATCH, d.data, vxp_fail_members(VXP_FAIL_DOCID), &len);
        buf_free(&d);
        http_reply(call->req, 200, "application/json; charset=utf-8", body, len);
        free(body);
        return;
    }
    const char *mt = vxp_param(call, "messagetype");
    enum store_msgtype type = STORE_MSG_EDOC;
    if (mt && strcmp(mt, "status") == 0)
        type = STORE_MSG_STATUS;
    else if (mt && *mt && strcmp(mt, "edoc") != 0) {
        vxp_fail(call, LT_ERR_BAD_MESSAGETYPE, mt);
        return;
    }

    struct send_job *j = calloc(1, sizeof *j);
    struct doc_reader *rd = calloc(1, sizeof *rd);
    if (!j || !rd) {
        free(j);
        free(rd);
        vxp_fail(call, LT_ERR_INTERNAL, NULL);
        return;
    }
    struct accept_job *a = &j->a;
    j->req = call->req;
    j->app = app;
    if (http_client_ip(call->req, j->client, sizeof j->client) != 0)
        snprintf(j->client, sizeof j->client, "?");
    a->relay = app->relay;
    a->read_ctx = rd;
    a->read = read_doc;
    a->rewind = rewind_doc;
    a->operation_prefix = "send";
    a->dedupe_window_ms = (int64_t)app->cfg.dedupe_window_s * 1000;
    a->meta.messagetype = type;
    snprintf(a->actor, sizeof a->actor, "%s", call->system_id);
    char sha[SHA256_HEX_SIZE];
    uint64_t doc_len = 0;
    enum lt_err e = locate_document(call, &doc_len, sha);
    a->meta.sender_system = strdup(call->system_id);
    a->meta.sha256 = strdup(sha);
    a->meta.size = (int64_t)doc_len;
    *rd = (struct doc_reader){call->req, doc_len, doc_len};
    if (e == LT_ERR_OK && (!a->meta.sender_system || !a->meta.sha256))
        e = LT_ERR_INTERNAL;
    if (e != LT_ERR_OK) {
        vxp_fail(call, e, NULL);
        send_job_free(j);
        return;
    }

    struct edxml_package *pkg = NULL;
    struct edxml_error perr = {0};
    if (rewind_doc(rd) != 0 || edxml_parse(parse_read, rd, &app->limits, NULL, &pkg, &perr) != 0) {
        vxp_log_async(app, call->system_id, "send", "", sha, "refused:edxml");
        vxp_fail(call, perr.code, perr.message);
        send_job_free(j);
        return;
    }
    struct buf detail = {0};
    const char *to = vxp_param(call, "to");
    if (edxml_check_routable(pkg, type == STORE_MSG_STATUS ? EDXML_STATUS : EDXML_EDOC, &perr))
        e = perr.code;
    else if (to && *to && strcmp(to, "[]") != 0 && strcmp(to, "\"\"") != 0)
        e = explicit_recipients(a, to, &detail);
    else
        e = accept_package_recipients(a, pkg, type, &detail);
    if (e == LT_ERR_OK && accept_take_package(a, pkg) != 0)
        e = LT_ERR_INTERNAL;
    edxml_package_free(pkg);
    if (e != LT_ERR_OK) {
        vxp_fail(call, e, detail.len ? detail.data : perr.message);
        buf_free(&detail);
        send_job_free(j);
        return;
    }
    buf_free(&detail);

    a->job.execute = accept_execute;
    a->job.done = send_done;
    http_suspend(call->req);
    if (committer_submit(app->committer, &a->job) != 0) {
        size_t len;
        char *body = vxp_render(LT_ERR_OVERLOADED, NULL, vxp_fail_members(VXP_FAIL_DOCID), &len);
        vxp_complete(call->req, body, len);
        send_job_free(j);
    }
}
