/* op_send — sendEdoc: accept a document or status package, route it, store it durably with one
 * inbox entry per recipient, and answer with its DocId only after the commit.
 *
 * Flow: authenticate (dispatcher) -> from == systemid -> find the document bytes in the body
 * (the SDK appends CRLF; hash-file says which length is the document) -> parse the edXML
 * (streaming, bounded) -> recipients (To/OrganId, or ResponseFor/OrganId for a status, or the
 * explicit "to" parameter) -> a commit job that, inside the group-commit transaction, answers a
 * retried duplicate with the first DocId, refuses an unroutable package without writing it,
 * or writes package, bytes, deliveries and the log record together. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/committer.h"
#include "exchange/vxp.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

struct send_job {
    struct commit_job job; /* first: the committer hands this pointer back */
    struct http_request *req;
    struct app *app;
    char system_id[STORE_ID_MAX + 1];
    uint64_t doc_len;
    char sha256[SHA256_HEX_SIZE];
    struct store_package meta; /* strings owned by the job */
    char **recipients;
    size_t n_recipients;
    /* result */
    enum lt_err err;
    struct buf detail;
    char doc_id[DOCID_HEX_SIZE];
    int duplicate;
};

static void send_job_free(struct send_job *j)
{
    for (size_t i = 0; i < j->n_recipients; i++)
        free(j->recipients[i]);
    free(j->recipients);
    store_package_clear(&j->meta);
    buf_free(&j->detail);
    free(j);
}

/* Reads at most the document's length from the request body (the CRLF is not stored). */
struct doc_reader {
    struct http_request *req;
    uint64_t left;
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

static enum store_rc send_execute(struct store *st, struct commit_job *cj)
{
    struct send_job *j = (struct send_job *)cj;
    int64_t now = now_ms();
    j->err = LT_ERR_OK;
    j->duplicate = 0;
    buf_reset(&j->detail);

    int64_t since = now - (int64_t)j->app->cfg.dedupe_window_s * 1000;
    enum store_rc rc = st->package_find_recent(st->cls, j->system_id, j->sha256, since, j->doc_id);
    if (rc < 0)
        return rc;
    if (rc == STORE_ONE_RESULT) {
        j->duplicate = 1;
        return STORE_ONE_RESULT;
    }

    /* Route every recipient before writing anything: all or nothing. */
    char(*systems)[STORE_ID_MAX + 1] = calloc(j->n_recipients, sizeof *systems);
    if (!systems)
        return STORE_HARD_ERROR;
    for (size_t i = 0; i < j->n_recipients; i++) {
        rc = st->route(st->cls, j->recipients[i], systems[i]);
        if (rc < 0) {
            free(systems);
            return rc;
        }
        if (rc == STORE_NO_RESULTS) {
            buf_printf(&j->detail, "%s%s", j->err == LT_ERR_OK ? "" : ", ", j->recipients[i]);
            j->err = LT_ERR_UNKNOWN_RECIPIENT;
        }
    }
    if (j->err != LT_ERR_OK) {
        free(systems);
        char outcome[32];
        snprintf(outcome, sizeof outcome, "refused:%d", lt_err_code(j->err));
        struct store_txrec rec = {.time_ms = now,
                                  .actor = j->system_id,
                                  .operation = "send",
                                  .package_id = "",
                                  .content_sha256 = j->sha256,
                                  .outcome = outcome};
        return st->txlog_append(st->cls, &rec);
    }

    if (random_docid(j->doc_id) != 0) {
        free(systems);
        return STORE_HARD_ERROR;
    }
    j->meta.id = j->doc_id;
    j->meta.created_ms = now;
    if (http_body_rewind(j->req) != 0) {
        free(systems);
        return STORE_HARD_ERROR;
    }
    struct doc_reader rd = {j->req, j->doc_len};
    rc = st->package_insert(st->cls, &j->meta, read_doc, &rd);
    j->meta.id = NULL;
    for (size_t i = 0; rc >= 0 && i < j->n_recipients; i++) {
        char uuid[UUID_SIZE];
        if (random_uuid(uuid) != 0) {
            rc = STORE_HARD_ERROR;
            break;
        }
        struct store_delivery d = {.id = uuid,
                                   .package_id = j->doc_id,
                                   .recipient_organ = j->recipients[i],
                                   .recipient_system = systems[i],
                                   .messagetype = j->meta.messagetype,
                                   .state = STORE_DELIVERY_INITIAL,
                                   .created_ms = now,
                                   .updated_ms = now};
        rc = st->delivery_insert(st->cls, &d);
    }
    free(systems);
    if (rc < 0)
        return rc;
    struct store_txrec rec = {.time_ms = now,
                              .actor = j->system_id,
                              .operation = j->meta.messagetype == STORE_MSG_STATUS ? "send.status"
                                                                                   : "send.edoc",
                              .package_id = j->doc_id,
                              .content_sha256 = j->sha256,
                              .outcome = "ok"};
    return st->txlog_append(st->cls, &rec);
}

static void send_done(struct commit_job *cj, int ok)
{
    struct send_job *j = (struct send_job *)cj;
    enum lt_err e = ok ? j->err : LT_ERR_STORE_FAILED;
    json_t *extra;
    if (e == LT_ERR_OK) {
        extra = json_pack("{s:s}", "DocId", j->doc_id);
        if (!j->duplicate)
            atomic_fetch_add(j->meta.messagetype == STORE_MSG_STATUS ? &j->app->metrics.sent_status
                                                                     : &j->app->metrics.sent_edoc,
                             1);
    } else {
        extra = vxp_fail_members(VXP_FAIL_DOCID);
        atomic_fetch_add(&j->app->metrics.failures, 1);
        log_info("vxp sendEdoc from %s refused: %s %s", j->system_id, lt_err_name(e),
                 j->detail.data ? j->detail.data : "");
    }
    size_t len;
    char *body = vxp_render(e, j->detail.data, extra, &len);
    vxp_complete(j->req, body, len);
    send_job_free(j);
}

/* --- request checks before the commit --- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

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
    struct doc_reader *r = ctx;
    return read_doc(r, buf, cap);
}

static int add_recipient(struct send_job *j, const char *organ)
{
    for (size_t i = 0; i < j->n_recipients; i++)
        if (strcmp(j->recipients[i], organ) == 0)
            return 0; /* one inbox entry per recipient organ, even if named twice */
    char **r = realloc(j->recipients, (j->n_recipients + 1) * sizeof *r);
    if (!r)
        return -1;
    j->recipients = r;
    if (!(r[j->n_recipients] = strdup(organ)))
        return -1;
    j->n_recipients++;
    return 0;
}

/* The optional "to" parameter: a JSON string, an array of strings, or an array of
 * {"organId": ...} objects (clients differ). */
static enum lt_err explicit_recipients(struct send_job *j, const char *to, struct buf *detail)
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
        } else if (add_recipient(j, organ) != 0) {
            e = LT_ERR_INTERNAL;
        }
    }
    json_decref(v);
    return e;
}

static enum lt_err collect_recipients(struct send_job *j, const struct edxml_package *pkg,
                                      const char *to_param, struct buf *detail)
{
    if (to_param && *to_param && strcmp(to_param, "[]") != 0 && strcmp(to_param, "\"\"") != 0)
        return explicit_recipients(j, to_param, detail);
    if (pkg->kind == EDXML_STATUS || j->meta.messagetype == STORE_MSG_STATUS) {
        const char *t = edxml_status_target(pkg);
        if (!t)
            return LT_ERR_EDXML_NO_RESPONSE_FOR;
        return add_recipient(j, t) ? LT_ERR_INTERNAL : LT_ERR_OK;
    }
    for (size_t i = 0; i < pkg->n_to; i++) {
        const char *organ = pkg->to[i].organ_id;
        if (!organ || !*organ) {
            buf_printf(detail, "To number %zu has no OrganId", i + 1);
            return LT_ERR_EDXML_NO_TO;
        }
        if (!edxml_organ_id_ok(organ)) {
            buf_printf(detail, "To number %zu", i + 1);
            return LT_ERR_BAD_ORGAN_ID;
        }
        if (add_recipient(j, organ) != 0)
            return LT_ERR_INTERNAL;
    }
    return LT_ERR_OK;
}

static void fill_meta(struct send_job *j, const struct edxml_package *pkg)
{
    struct store_package *m = &j->meta;
    m->sender_system = strdup(j->system_id);
    m->from_organ = dup_or_null(pkg->from.organ_id);
    m->sha256 = strdup(j->sha256);
    m->size = (int64_t)j->doc_len;
    m->subject = dup_or_null(pkg->subject);
    m->code_number = dup_or_null(pkg->code_number);
    m->code_notation = dup_or_null(pkg->code_notation);
    m->document_id = dup_or_null(pkg->document_id);
    m->business_doc_type = dup_or_null(pkg->bussiness_doc_type);
    m->status_code = dup_or_null(pkg->status_code);
    m->has_signature = pkg->has_signature;
    m->n_attachments = (int)pkg->n_attachments;
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
    if (!j) {
        vxp_fail(call, LT_ERR_INTERNAL, NULL);
        return;
    }
    j->req = call->req;
    j->app = app;
    j->meta.messagetype = type;
    snprintf(j->system_id, sizeof j->system_id, "%s", call->system_id);
    enum lt_err e = locate_document(call, &j->doc_len, j->sha256);
    if (e != LT_ERR_OK) {
        vxp_fail(call, e, NULL);
        send_job_free(j);
        return;
    }

    struct edxml_package *pkg = NULL;
    struct edxml_error perr = {0};
    struct doc_reader rd = {call->req, j->doc_len};
    if (http_body_rewind(call->req) != 0 ||
        edxml_parse(parse_read, &rd, &app->limits, NULL, &pkg, &perr) != 0) {
        vxp_log_async(app, call->system_id, "send", "", j->sha256, "refused:edxml");
        vxp_fail(call, perr.code, perr.message);
        send_job_free(j);
        return;
    }
    struct buf detail = {0};
    e = edxml_check_routable(pkg, type == STORE_MSG_STATUS ? EDXML_STATUS : EDXML_EDOC, &perr)
            ? perr.code
            : collect_recipients(j, pkg, vxp_param(call, "to"), &detail);
    if (e == LT_ERR_OK)
        fill_meta(j, pkg);
    edxml_package_free(pkg);
    if (e != LT_ERR_OK) {
        vxp_fail(call, e, detail.len ? detail.data : perr.message);
        buf_free(&detail);
        send_job_free(j);
        return;
    }
    buf_free(&detail);

    j->job.execute = send_execute;
    j->job.done = send_done;
    http_suspend(call->req);
    if (committer_submit(app->committer, &j->job) != 0) {
        size_t len;
        char *body = vxp_render(LT_ERR_OVERLOADED, NULL, vxp_fail_members(VXP_FAIL_DOCID), &len);
        vxp_complete(call->req, body, len);
        send_job_free(j);
    }
}
