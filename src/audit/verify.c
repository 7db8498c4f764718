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
#include "audit/chain.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct walk {
    struct audit_report *rep;
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
    w->rep->records++;
    w->prev_seq = r->seq;
    memcpy(w->prev_hash, r->hash, 65);
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
    memset(report, 0, sizeof *report);
    struct walk w = {.rep = report};
    memcpy(w.prev_hash, AUDIT_GENESIS, 65);
    if (read_head(s, &w.head_seq, w.head_hash) != 0)
        return -1;
    if (s->txlog_scan(s->cls, check, &w) < 0)
        return -1;
    if (w.broken)
        return 0;
    if (w.prev_seq < w.head_seq && w.prev_seq == 0) {
        broken(&w, 1,
               "record 1 missing: the log is empty but its head records %" PRId64
               " (records removed)",
               w.head_seq);
        return 0;
    }
    if (w.prev_seq < w.head_seq) {
        broken(&w, w.prev_seq + 1,
               "record %" PRId64 " missing: the log ends at record %" PRId64
               " but its head records %" PRId64 " (newest records removed)",
               w.prev_seq + 1, w.prev_seq, w.head_seq);
        return 0;
    }
    if (w.prev_seq > w.head_seq) {
        int64_t seq2;
        char hash2[65];
        if (read_head(s, &seq2, hash2) != 0)
            return -1;
        if (seq2 < w.prev_seq) {
            broken(&w, seq2 + 1,
                   "record %" PRId64 " is beyond the log head kept in the metadata (record %" PRId64
                   ") (record inserted)",
                   seq2 + 1, seq2);
            return 0;
        }
        if (seq2 == w.prev_seq && strcmp(hash2, w.prev_hash) != 0) {
            broken(&w, seq2,
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
