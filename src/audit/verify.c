/* verify — walks the transaction log and checks every link of the hash chain (see chain.h).
 *
 * For each record, in seq order as stored (txlog_scan, nothing recomputed by the store):
 *   - seq must be the previous seq + 1: a jump means records were removed, a repeat or a step
 *     back means a record was inserted;
 *   - prev_hash must equal the previous record's stored hash (GENESIS for record 1);
 *   - hash must equal audit_chain_hash(prev_hash, record): otherwise the record was altered.
 * Then the head that the store keeps in its metadata (last seq and hash, updated in the same
 * transaction as every append) must match the last record: a log that ends early had its newest
 * records removed, one that runs past the head had records appended by hand.
 *
 * Concurrent appends: the head is read before the walk (records never legitimately disappear, so
 * the walk must reach it) and again after it (records beyond the first head must be covered by
 * the second), so a server appending during the walk causes no false alarm. */
#include "audit/anchor.h"
#include "audit/audit_int.h"
#include <stdlib.h>
#include "util/timeutil.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The anchors, read and checked before the walk: (seq, hash) of each valid one. */
struct anchor_ref {
    int64_t seq;
    char hash[65];
};

struct walk {
    struct audit_report *rep;
    struct anchor_ref *anchors;
    size_t n_anchors, next_anchor;
    const struct audit_options *opts;
    struct audit_contents *contents; /* deep: NULL otherwise */
    int store_failed;
    int64_t last_time_ms;
    int64_t progress_ns;
    int64_t head_seq; /* head before the walk (0 when empty) */
    char head_hash[65];
    int64_t prev_seq;
    char prev_hash[65];
    int broken;
};

static void broken(struct walk *w, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void broken(struct walk *w, int64_t seq, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->rep->reason, sizeof w->rep->reason, fmt, ap);
    va_end(ap);
    w->rep->broken_seq = seq;
    w->rep->ok = 0;
    w->broken = 1;
}

static void anchor_problem(struct audit_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void anchor_problem(struct audit_report *rep, const char *fmt, ...)
{
    rep->anchor_problems++;
    if (rep->first_anchor[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->first_anchor, sizeof rep->first_anchor, fmt, ap);
    va_end(ap);
}

struct anchor_read {
    struct walk *w;
    int64_t expect_seq;
    const char *expect_sig;
    int expect_found;
    const struct sign_key *key;
    char key_id[SIGN_KEY_ID_SIZE];
    char prev_sig[STORE_SIG_SIZE];
    int64_t prev_seq;
    int oom;
};

/* Each anchor: its key, its signature, its link to the one before. */
static int read_anchor(void *ctx, const struct store_anchor *a)
{
    struct anchor_read *ar = ctx;
    struct audit_report *rep = ar->w->rep;
    char msg[512];
    size_t n = anchor_message(a, msg, sizeof msg);
    rep->anchors++;
    if (strcmp(a->key_id, ar->key_id) != 0)
        anchor_problem(rep, "anchor of record %" PRId64 ": signed by key %s, not by %s", a->seq,
                       a->key_id, ar->key_id);
    else if (!n || !sign_verify(ar->key, msg, n, a->signature))
        anchor_problem(rep, "anchor of record %" PRId64 ": its signature does not verify", a->seq);
    else if (strcmp(a->prev_signature, ar->prev_sig) != 0)
        anchor_problem(rep,
                       "anchor of record %" PRId64 ": it does not follow the anchor of record "
                       "%" PRId64 " (an anchor was removed)",
                       a->seq, ar->prev_seq);
    else {
        struct anchor_ref *v =
            realloc(ar->w->anchors, (ar->w->n_anchors + 1) * sizeof *ar->w->anchors);
        if (!v) {
            ar->oom = 1;
            return 1;
        }
        ar->w->anchors = v;
        v[ar->w->n_anchors].seq = a->seq;
        memcpy(v[ar->w->n_anchors].hash, a->hash, 65);
        ar->w->n_anchors++;
    }
    if (ar->expect_sig && a->seq == ar->expect_seq && strcmp(a->signature, ar->expect_sig) == 0)
        ar->expect_found = 1;
    memcpy(ar->prev_sig, a->signature, sizeof ar->prev_sig);
    ar->prev_seq = a->seq;
    return 0;
}

static int read_anchors(struct store *s, struct walk *w, const struct sign_key *key,
                        const char *expect)
{
    struct anchor_read ar = {.w = w, .key = key};
    if (expect) {
        const char *colon = strchr(expect, ':');
        char *end = NULL;
        ar.expect_seq = strtoll(expect, &end, 10);
        ar.expect_sig = colon ? colon + 1 : "";
        if (!colon || end != colon) {
            anchor_problem(w->rep, "the anchor to expect is not SEQ:SIGNATURE");
            ar.expect_sig = NULL;
        }
    }
    if (sign_key_id(key, ar.key_id) != 0)
        return -1;
    if (s->anchor_scan(s->cls, read_anchor, &ar) < 0 || ar.oom)
        return -1;
    if (ar.expect_sig && !ar.expect_found)
        anchor_problem(w->rep,
                       "the anchor of record %lld kept outside the store is not in it (anchors "
                       "removed or rewritten)",
                       (long long)ar.expect_seq);
    return 0;
}

static int check(void *ctx, const struct store_txrec *r)
{
    struct walk *w = ctx;
    if (r->seq <= w->prev_seq) {
        broken(w, r->seq,
               "record %" PRId64 " out of order: it comes after record %" PRId64
               " (record inserted)",
               r->seq, w->prev_seq);
        return 1;
    }
    if (r->seq != w->prev_seq + 1) {
        if (w->prev_seq == 0)
            broken(w, 1,
                   "record 1 missing: the log begins with record %" PRId64 " (record removed)",
                   r->seq);
        else
            broken(w, w->prev_seq + 1,
                   "record %" PRId64 " missing: after record %" PRId64 " comes %" PRId64
                   " (record removed)",
                   w->prev_seq + 1, w->prev_seq, r->seq);
        return 1;
    }
    if (strcmp(r->prev_hash, w->prev_hash) != 0) {
        if (w->prev_seq == 0)
            broken(w, r->seq,
                   "record %" PRId64 ": its previous hash is not the genesis value"
                   " (record altered or inserted)",
                   r->seq);
        else
            broken(w, r->seq,
                   "record %" PRId64 ": its previous hash does not match record %" PRId64
                   " (record %" PRId64 " altered, or record inserted)",
                   r->seq, w->prev_seq, w->prev_seq);
        return 1;
    }
    char h[65];
    audit_chain_hash(r->prev_hash, r, h);
    if (strcmp(h, r->hash) != 0) {
        broken(w, r->seq, "record %" PRId64 ": hash does not match its content (record altered)",
               r->seq);
        return 1;
    }
    if (r->seq == w->head_seq && strcmp(r->hash, w->head_hash) != 0) {
        broken(w, r->seq,
               "record %" PRId64 ": hash differs from the log head kept in the"
               " metadata (record altered)",
               r->seq);
        return 1;
    }
    while (w->next_anchor < w->n_anchors && w->anchors[w->next_anchor].seq <= r->seq) {
        const struct anchor_ref *a = &w->anchors[w->next_anchor++];
        if (a->seq == r->seq && strcmp(a->hash, r->hash) != 0)
            anchor_problem(w->rep,
                           "record %" PRId64 ": its hash is not the one the anchor signed (the "
                           "log was rewritten and its chain recomputed)",
                           r->seq);
    }
    w->rep->records++;
    w->prev_seq = r->seq;
    w->last_time_ms = r->time_ms;
    memcpy(w->prev_hash, r->hash, 65);
    if (w->contents && contents_record(w->contents, r) != 0) {
        w->store_failed = 1;
        return 1;
    }
    if (w->opts && w->opts->progress) {
        int64_t now = mono_ns();
        if (now - w->progress_ns > 500000000LL) {
            w->progress_ns = now;
            w->opts->progress(w->opts->progress_ctx, r->seq, w->head_seq);
        }
    }
    return 0;
}

static int read_head(struct store *s, int64_t *seq, char hash[65])
{
    enum store_rc rc = s->txlog_head(s->cls, seq, hash);
    if (rc < 0)
        return -1;
    if (rc == STORE_NO_RESULTS) {
        *seq = 0;
        memcpy(hash, AUDIT_GENESIS, 65);
    }
    return 0;
}

int audit_verify(struct store *s, struct audit_report *report)
{
    return audit_verify_opts(s, NULL, report);
}

static int walk_chain(struct store *s, struct walk *w);

int audit_verify_opts(struct store *s, const struct audit_options *opts,
                      struct audit_report *report)
{
    memset(report, 0, sizeof *report);
    struct walk w = {.rep = report, .opts = opts};
    memcpy(w.prev_hash, AUDIT_GENESIS, 65);
    if (opts && opts->deep && !(w.contents = contents_new(s, report)))
        return -1;
    int rc = 0;
    if (opts && opts->anchor_key)
        rc = read_anchors(s, &w, opts->anchor_key, opts->expect_anchor);
    if (rc == 0)
        rc = walk_chain(s, &w);
    if (rc == 0 && opts && opts->anchor_key && !report->broken_seq) {
        /* anchors beyond the last record: signed records that are gone */
        for (; w.next_anchor < w.n_anchors; w.next_anchor++)
            anchor_problem(report,
                           "record %" PRId64 " was signed but the log ends at record %" PRId64
                           " (records removed)",
                           w.anchors[w.next_anchor].seq, w.prev_seq);
        int64_t last = w.n_anchors ? w.anchors[w.n_anchors - 1].seq : 0;
        report->unsigned_records = w.prev_seq > last ? w.prev_seq - last : 0;
        /* a key exists, so a server has run and signed the log: no anchor at all is a removal */
        if (!report->anchors && w.prev_seq > 0)
            anchor_problem(report,
                           "the log has %" PRId64 " records and no signed anchor (anchors "
                           "removed?)",
                           w.prev_seq);
        if (report->anchor_problems)
            report->ok = 0;
    }
    free(w.anchors);
    if (rc == 0 && w.contents && !w.store_failed &&
        contents_finish(w.contents, w.last_time_ms) != 0)
        rc = -1;
    contents_free(w.contents);
    if (rc == 0 && opts && opts->progress)
        opts->progress(opts->progress_ctx, w.prev_seq, w.prev_seq);
    /* the chain held, but what it stands for did not */
    if (rc == 0 && report->ok && (report->package_mismatches || report->call_mismatches))
        report->ok = 0;
    return rc;
}

/* The chain itself: every link, then the head. */
static int walk_chain(struct store *s, struct walk *w)
{
    struct audit_report *report = w->rep;
    if (read_head(s, &w->head_seq, w->head_hash) != 0)
        return -1;
    if (s->txlog_scan(s->cls, check, w) < 0 || w->store_failed)
        return -1;
    if (w->broken)
        return 0;
    if (w->prev_seq < w->head_seq && w->prev_seq == 0) {
        broken(w, 1,
               "record 1 missing: the log is empty but its head records %" PRId64
               " (records removed)",
               w->head_seq);
        return 0;
    }
    if (w->prev_seq < w->head_seq) {
        broken(w, w->prev_seq + 1,
               "record %" PRId64 " missing: the log ends at record %" PRId64
               " but its head records %" PRId64 " (newest records removed)",
               w->prev_seq + 1, w->prev_seq, w->head_seq);
        return 0;
    }
    if (w->prev_seq > w->head_seq) {
        int64_t seq2;
        char hash2[65];
        if (read_head(s, &seq2, hash2) != 0)
            return -1;
        if (seq2 < w->prev_seq) {
            broken(w, seq2 + 1,
                   "record %" PRId64 " is beyond the log head kept in the metadata (record %" PRId64
                   ") (record inserted)",
                   seq2 + 1, seq2);
            return 0;
        }
        if (seq2 == w->prev_seq && strcmp(hash2, w->prev_hash) != 0) {
            broken(w, seq2,
                   "record %" PRId64 ": hash differs from the log head kept in the metadata"
                   " (record altered)",
                   seq2);
            return 0;
        }
    }
    report->ok = 1;
    report->broken_seq = 0;
    snprintf(report->reason, sizeof report->reason, "%" PRId64 " records verified",
             report->records);
    return 0;
}
