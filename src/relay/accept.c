/* accept — routing and storing an accepted package (see accept.h). */
#include "relay/accept.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/identity.h"
#include "relay/relay.h"
#include "util/log.h"
#include "util/timeutil.h"

/* A package that already carries this many hops is looping, whatever the organ ids say. */
#define ACCEPT_MAX_HOPS 16

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void clear_rows(struct accept_job *j)
{
    for (size_t i = 0; i < j->n_rows; i++)
        store_outbox_clear(&j->rows[i]);
    free(j->rows);
    j->rows = NULL;
    j->n_rows = 0;
}

void accept_job_clear(struct accept_job *j)
{
    free_strv(j->recipients, j->n_recipients);
    free_strv(j->trace_organs, j->n_trace_organs);
    clear_rows(j);
    j->recipients = j->trace_organs = NULL;
    j->n_recipients = j->n_trace_organs = 0;
    store_package_clear(&j->meta);
    free(j->pulled_peer);
    free(j->pulled_doc_id);
    free(j->trace_prefix);
    free(j->resp_document_id);
    free(j->resp_organ);
    j->pulled_peer = j->pulled_doc_id = j->trace_prefix = NULL;
    j->resp_document_id = j->resp_organ = NULL;
    buf_free(&j->detail);
}

static int strv_add(char ***v, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0)
            return 0;
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return -1;
    (*n)++;
    return 0;
}

int accept_add_recipient(struct accept_job *j, const char *organ)
{
    /* one inbox entry per recipient organ, even if named twice */
    return strv_add(&j->recipients, &j->n_recipients, organ);
}

int accept_take_package(struct accept_job *j, const struct edxml_package *pkg)
{
    struct store_package *m = &j->meta;
    m->from_organ = dup_or_null(pkg->from.organ_id);
    m->subject = dup_or_null(pkg->subject);
    m->code_number = dup_or_null(pkg->code_number);
    m->code_notation = dup_or_null(pkg->code_notation);
    m->document_id = dup_or_null(pkg->document_id);
    m->business_doc_type = dup_or_null(pkg->bussiness_doc_type);
    m->status_code = dup_or_null(pkg->status_code);
    /* verified after the commit, off the request path (src/exchange/sigcheck.c) */
    m->signature = pkg->has_signature ? EDXML_SIG_PENDING : EDXML_SIG_NONE;
    m->n_attachments = (int)pkg->n_attachments;
    j->trace_offset = pkg->trace_offset;
    j->trace_new_list = pkg->trace_new_list;
    j->trace_prefix = dup_or_null(pkg->trace_prefix ? pkg->trace_prefix : "");
    if (!j->trace_prefix)
        return -1;
    for (size_t i = 0; i < pkg->n_traces; i++)
        if (pkg->traces[i].organ_id &&
            strv_add(&j->trace_organs, &j->n_trace_organs, pkg->traces[i].organ_id) != 0)
            return -1;
    if (pkg->n_traces >= ACCEPT_MAX_HOPS &&
        strv_add(&j->trace_organs, &j->n_trace_organs, "*") != 0)
        return -1;
    for (size_t i = 0; i < pkg->n_response_for; i++) {
        const struct edxml_response_for *r = &pkg->response_for[i];
        if (r->organ_id && *r->organ_id) {
            j->resp_organ = strdup(r->organ_id);
            j->resp_document_id = dup_or_null(r->document_id);
            if (!j->resp_organ || (r->document_id && !j->resp_document_id))
                return -1;
            break;
        }
    }
    return 0;
}

enum lt_err accept_package_recipients(struct accept_job *j, const struct edxml_package *pkg,
                                      enum store_msgtype type, struct buf *detail)
{
    if (pkg->kind == EDXML_STATUS || type == STORE_MSG_STATUS) {
        const char *t = edxml_status_target(pkg);
        if (!t)
            return LT_ERR_EDXML_NO_RESPONSE_FOR;
        return accept_add_recipient(j, t) ? LT_ERR_INTERNAL : LT_ERR_OK;
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
        if (accept_add_recipient(j, organ) != 0)
            return LT_ERR_INTERNAL;
    }
    return LT_ERR_OK;
}

/* One recipient's route, decided before anything is written. */
struct routed {
    enum relay_route_kind kind;
    char system[STORE_ID_MAX + 1];
    char peer[STORE_ID_MAX + 1];
};

static int passed_here(const struct accept_job *j, const char *platform)
{
    for (size_t i = 0; i < j->n_trace_organs; i++)
        if (strcmp(j->trace_organs[i], "*") == 0 || strcmp(j->trace_organs[i], platform) == 0)
            return 1;
    return 0;
}

/* Routes every recipient (all or nothing): sets j->err and j->detail when one cannot go. */
static enum store_rc route_all(struct accept_job *j, struct store *st, struct routed *out)
{
    enum store_rc rc = relay_router_refresh(j->relay, st);
    if (rc < 0)
        return rc;
    const char *platform = relay_router_platform(j->relay);
    for (size_t i = 0; i < j->n_recipients; i++) {
        enum lt_err e = relay_router_decide(j->relay, st, j->recipients[i], &out[i].kind,
                                            out[i].system, out[i].peer);
        if (e == LT_ERR_STORE_FAILED)
            return STORE_HARD_ERROR;
        if (e == LT_ERR_OK && out[i].kind == RELAY_TO_PEER) {
            if (!*platform)
                e = LT_ERR_PLATFORM_NOT_SET;
            else if (passed_here(j, platform))
                e = LT_ERR_ROUTING_LOOP;
        }
        if (e != LT_ERR_OK) {
            if (j->err == LT_ERR_OK || j->err == e) {
                buf_printf(&j->detail, "%s%s", j->err == LT_ERR_OK ? "" : ", ", j->recipients[i]);
                j->err = e;
            }
        }
    }
    return STORE_ONE_RESULT;
}

/* Every identity the package carries, against who handed it over (relay/identity.h): From is
 * an organ the sending system speaks for, or, from a peer platform, an organ that is not this
 * platform's (unless this platform reaches it through that peer's own system); a status answers
 * a document delivered here to its From organ through the same caller. Sets j->err and
 * j->detail on a refusal; STORE_ONE_RESULT or the store's error. */
static enum store_rc check_identity(struct accept_job *j, struct store *st)
{
    enum store_rc rc = relay_router_refresh(j->relay, st);
    if (rc < 0)
        return rc;
    const char *from = j->meta.from_organ ? j->meta.from_organ : "";
    const char *peer = j->pulled_peer
                           ? j->pulled_peer
                           : relay_router_peer_of_system(j->relay, j->meta.sender_system);
    const char *peer_system = peer ? relay_router_inbound_system(j->relay, peer) : NULL;
    char speaker[STORE_ID_MAX + 1];
    int registered = 0;
    rc = identity_speaker(st, from, speaker, &registered);
    if (rc < 0)
        return rc;
    int found = rc == STORE_ONE_RESULT;
    if (peer) {
        /* local: someone here speaks for it (other than the peer's own system), or it is a
         * registered agency, or this platform itself (relay/which.h's definition, from what the
         * walk and the router's cache already know) */
        int local = found ? !(peer_system && strcmp(speaker, peer_system) == 0)
                          : registered || strcmp(from, relay_router_platform(j->relay)) == 0;
        if (local) {
            j->err = LT_ERR_PEER_SPEAKS_LOCAL;
            buf_printf(&j->detail, "From %s is an organ of this platform, not of peer %s", from,
                       peer);
            return STORE_ONE_RESULT;
        }
    } else if (!found || strcmp(speaker, j->meta.sender_system) != 0) {
        j->err = LT_ERR_FROM_NOT_SERVED;
        buf_printf(&j->detail, "From %s is not served by system %s", from, j->meta.sender_system);
        return STORE_ONE_RESULT;
    }
    if (j->meta.messagetype != STORE_MSG_STATUS)
        return STORE_ONE_RESULT;
    if (!j->resp_document_id || !*j->resp_document_id || !j->resp_organ) {
        j->err = LT_ERR_STATUS_NOT_RECIPIENT;
        buf_printf(&j->detail, "ResponseFor has no DocumentId");
        return STORE_ONE_RESULT;
    }
    struct store_status_claim c = {.document_id = j->resp_document_id,
                                   .issuer_organ = j->resp_organ,
                                   .recipient_organ = from,
                                   .system_a = j->meta.sender_system,
                                   .system_b = peer_system,
                                   .peer = peer};
    rc = st->delivery_answerable(st->cls, &c);
    if (rc == STORE_NO_RESULTS) {
        j->err = LT_ERR_STATUS_NOT_RECIPIENT;
        buf_printf(&j->detail, "no document %s of %s was delivered to %s through %s",
                   j->resp_document_id, j->resp_organ, from, peer ? peer : j->meta.sender_system);
        return STORE_ONE_RESULT;
    }
    return rc;
}

static enum store_rc log_refusal(struct accept_job *j, struct store *st, int64_t now)
{
    char outcome[32];
    snprintf(outcome, sizeof outcome, "refused:%d", lt_err_code(j->err));
    struct store_txrec rec = {.time_ms = now,
                              .actor = j->actor,
                              .operation = j->operation_prefix,
                              .package_id = "",
                              .content_sha256 = j->meta.sha256,
                              .outcome = outcome};
    return st->txlog_append(st->cls, &rec);
}

/* This hop's TraceHeader (this platform and the acceptance time), fixed now so that every copy
 * that leaves, whenever and however often, is the same bytes. trace->data NULL: none. */
static void hop_trace(struct accept_job *j, int64_t now, struct buf *trace)
{
    if (j->trace_offset < 0 || !*relay_router_platform(j->relay))
        return;
    char ts[20];
    fmt_edxml_timestamp(now, ts);
    struct edxml_package where = {.trace_offset = j->trace_offset,
                                  .trace_new_list = j->trace_new_list,
                                  .trace_prefix = j->trace_prefix};
    if (edxml_trace_text(&where, relay_router_platform(j->relay), ts, trace) != 0) {
        log_warn("relay: package %s leaves without this hop's TraceHeader", j->doc_id);
        buf_free(trace);
    }
}

/* The outbox row of one peer: its recipients and this hop's TraceHeader. */
static enum store_rc write_outbox(struct accept_job *j, struct store *st, const char *peer,
                                  const struct routed *r, const struct buf *trace, int64_t now,
                                  char *ret_id)
{
    json_t *to = json_array();
    for (size_t i = 0; to && i < j->n_recipients; i++)
        if (r[i].kind == RELAY_TO_PEER && strcmp(r[i].peer, peer) == 0)
            json_array_append_new(to, json_string(j->recipients[i]));
    char *to_text = to ? json_dumps(to, JSON_COMPACT) : NULL;
    json_decref(to);
    enum store_rc rc = STORE_HARD_ERROR;
    if (to_text && time_uuid(ret_id) == 0) {
        struct store_outbox o = {.id = ret_id,
                                 .package_id = j->doc_id,
                                 .peer = (char *)peer,
                                 .messagetype = j->meta.messagetype,
                                 .recipients = to_text,
                                 .insert_offset = trace->data ? j->trace_offset : -1,
                                 .insert_text = trace->data ? trace->data : "",
                                 .state = STORE_RELAY_PENDING,
                                 .attempts = 0,
                                 .next_ms = now,
                                 .last_error = "",
                                 .remote_doc_id = "",
                                 .track_next_ms = 0,
                                 .track_count = 0,
                                 .created_ms = now,
                                 .updated_ms = now};
        rc = st->outbox_insert(st->cls, &o);
        struct store_outbox *nv = rc >= 0 ? realloc(j->rows, (j->n_rows + 1) * sizeof *nv) : NULL;
        if (nv)
            j->rows = nv;
        if (rc >= 0 && (!nv || store_outbox_copy(&j->rows[j->n_rows], &o) != 0))
            rc = STORE_HARD_ERROR;
        else if (rc >= 0)
            j->n_rows++;
    }
    free(to_text);
    return rc;
}

static enum store_rc write_all(struct accept_job *j, struct store *st, const struct routed *r,
                               int64_t now)
{
    j->meta.id = j->doc_id;
    j->meta.created_ms = now;
    if (j->rewind(j->read_ctx) != 0) {
        j->meta.id = NULL;
        return STORE_HARD_ERROR;
    }
    enum store_rc rc = st->package_insert(st->cls, &j->meta, j->read, j->read_ctx);
    j->meta.id = NULL;
    if (rc < 0)
        return rc;

    struct buf trace = {0};
    hop_trace(j, now, &trace);
    if (trace.data)
        rc = st->package_trace_put(st->cls, j->doc_id, j->trace_offset, trace.data);
    /* Outbox rows first (one per peer), so that each relayed delivery can name its row. */
    char(*row_ids)[UUID_SIZE] = calloc(j->n_recipients ? j->n_recipients : 1, sizeof *row_ids);
    if (!row_ids || rc < 0) {
        free(row_ids);
        buf_free(&trace);
        return rc < 0 ? rc : STORE_HARD_ERROR;
    }
    for (size_t i = 0; rc >= 0 && i < j->n_recipients; i++) {
        if (r[i].kind != RELAY_TO_PEER)
            continue;
        size_t first = i;
        for (size_t k = 0; k < i; k++)
            if (r[k].kind == RELAY_TO_PEER && strcmp(r[k].peer, r[i].peer) == 0) {
                first = k;
                break;
            }
        if (first != i) {
            memcpy(row_ids[i], row_ids[first], UUID_SIZE);
            continue;
        }
        rc = write_outbox(j, st, r[i].peer, r, &trace, now, row_ids[i]);
    }
    for (size_t i = 0; rc >= 0 && i < j->n_recipients; i++) {
        char uuid[UUID_SIZE];
        if (time_uuid(uuid) != 0) {
            rc = STORE_HARD_ERROR;
            break;
        }
        int relayed = r[i].kind == RELAY_TO_PEER;
        struct store_delivery d = {.id = uuid,
                                   .package_id = j->doc_id,
                                   .recipient_organ = j->recipients[i],
                                   .recipient_system = relayed ? "" : (char *)r[i].system,
                                   .messagetype = j->meta.messagetype,
                                   .state = STORE_DELIVERY_INITIAL,
                                   .created_ms = now,
                                   .updated_ms = now,
                                   .outbox_id = relayed ? row_ids[i] : NULL};
        rc = st->delivery_insert(st->cls, &d);
    }
    free(row_ids);
    buf_free(&trace);
    if (rc < 0)
        return rc;

    /* A status package tells the document's sender what became of it at this recipient. */
    if (j->meta.messagetype == STORE_MSG_STATUS && j->resp_document_id && *j->resp_document_id &&
        j->meta.status_code && j->meta.from_organ) {
        rc = st->delivery_set_status(st->cls, j->resp_document_id, j->resp_organ,
                                     j->meta.from_organ, j->meta.status_code, now);
        if (rc < 0)
            return rc;
    }
    if (j->pulled_peer) {
        rc = st->inbound_insert(st->cls, j->pulled_peer, j->pulled_doc_id, j->doc_id, now);
        if (rc < 0)
            return rc;
    }
    char op[48];
    snprintf(op, sizeof op, "%s.%s", j->operation_prefix,
             j->meta.messagetype == STORE_MSG_STATUS ? "status" : "edoc");
    struct store_txrec rec = {.time_ms = now,
                              .actor = j->actor,
                              .operation = op,
                              .package_id = j->doc_id,
                              .content_sha256 = j->meta.sha256,
                              .outcome = "ok"};
    return st->txlog_append(st->cls, &rec);
}

enum store_rc accept_execute(struct store *st, struct commit_job *cj)
{
    struct accept_job *j = (struct accept_job *)cj;
    int64_t now = now_ms();
    /* execute() may run again after a soft error: derive everything afresh */
    j->err = LT_ERR_OK;
    j->duplicate = 0;
    buf_reset(&j->detail);
    clear_rows(j);
    free(j->meta.origin_peer);
    j->meta.origin_peer = NULL;

    enum store_rc rc;
    if (j->pulled_peer)
        rc = st->inbound_find(st->cls, j->pulled_peer, j->pulled_doc_id, j->doc_id);
    else if (j->dedupe_window_ms > 0)
        rc = st->package_find_recent(st->cls, j->meta.sender_system, j->meta.sha256,
                                     now - j->dedupe_window_ms, j->doc_id);
    else
        rc = STORE_NO_RESULTS;
    if (rc < 0)
        return rc;
    if (rc == STORE_ONE_RESULT) {
        j->duplicate = 1;
        return STORE_ONE_RESULT;
    }

    struct routed *r = calloc(j->n_recipients ? j->n_recipients : 1, sizeof *r);
    if (!r)
        return STORE_HARD_ERROR;
    rc = check_identity(j, st);
    if (rc >= 0 && j->err == LT_ERR_OK)
        rc = route_all(j, st, r);
    if (rc >= 0 && j->err != LT_ERR_OK) {
        free(r);
        return log_refusal(j, st, now);
    }
    if (rc >= 0) {
        const char *origin = j->pulled_peer
                                 ? j->pulled_peer
                                 : relay_router_peer_of_system(j->relay, j->meta.sender_system);
        if (origin && !(j->meta.origin_peer = strdup(origin)))
            rc = STORE_HARD_ERROR;
        /* A package that only passes through (from a peer, to peers) is neither sent nor
         * delivered here: its signature is verified where it is (src/exchange/sigcheck.c) */
        int local = 0;
        for (size_t i = 0; i < j->n_recipients; i++)
            local |= r[i].kind == RELAY_TO_LOCAL;
        if (origin && !local && j->meta.signature == EDXML_SIG_PENDING)
            j->meta.signature = EDXML_SIG_UNCHECKED;
    }
    if (rc >= 0 && random_docid(j->doc_id) != 0)
        rc = STORE_HARD_ERROR;
    if (rc >= 0)
        rc = write_all(j, st, r, now);
    free(r);
    return rc;
}

void accept_after_commit(struct accept_job *j)
{
    for (size_t i = 0; i < j->n_rows; i++)
        relay_offer(j->relay, &j->rows[i]);
    clear_rows(j);
}
