/* audit — the hash chain of the transaction log and its verification.
 *
 * Each record's hash is SHA-256 over the previous record's hash and the record's fields in a
 * fixed, length-prefixed encoding, so altering, inserting or removing any record breaks every
 * later link; the store also keeps the head (last seq and hash) in its metadata so that removing
 * the newest records is detected too. */
#ifndef LT_AUDIT_CHAIN_H
#define LT_AUDIT_CHAIN_H

#include "store/store.h"

/* The hash of the record before the first one: 64 zeros. */
extern const char AUDIT_GENESIS[65];

/* hash = hex(SHA-256(prev_hash || seq || time_ms || actor || operation || package_id ||
 * content_sha256 || outcome)), every field length-prefixed. out holds 65 bytes. */
void audit_chain_hash(const char *prev_hash, const struct store_txrec *r, char out[65]);

/* The digest a gateway call's log record carries (content_sha256): SHA-256 of every field of
 * the call row in a fixed text form. out holds 65 bytes. */
void audit_call_digest(const struct store_call *r, char out[65]);

struct audit_report {
    int64_t records;    /* records checked */
    int ok;             /* 1 when the whole chain verified (and, deep, every content) */
    int64_t broken_seq; /* first record whose link is broken (0 when ok) */
    char reason[256];   /* ASCII explanation of the first broken link */
    /* deep: what the records stand for */
    int64_t packages, package_mismatches; /* package bytes re-read and hashed */
    char first_package[320];              /* the first mismatch, "" when none */
    int64_t calls, call_mismatches;       /* gateway call rows against their records */
    char first_call[320];
    /* signed anchors (when a key was given) */
    int64_t anchors, anchor_problems;
    char first_anchor[320];
    int64_t unsigned_records; /* records after the newest anchor */
};

/* progress(ctx, records walked, records in the log) every so often during a walk. */
typedef void (*audit_progress_fn)(void *ctx, int64_t done, int64_t total);

struct sign_key;

struct audit_options {
    int deep; /* also re-read every package and call row the log records */
    /* the key whose anchors are checked (NULL: anchors not checked) */
    const struct sign_key *anchor_key;
    /* an anchor kept outside the store ("SEQ:SIGNATURE" of `audit anchor`), which must still be
     * there (NULL: none) */
    const char *expect_anchor;
    audit_progress_fn progress;
    void *progress_ctx;
};

/* Walks the whole log. Returns 0 when the walk completed (see report->ok), -1 on a store error. */
int audit_verify(struct store *s, struct audit_report *report);
int audit_verify_opts(struct store *s, const struct audit_options *opts,
                      struct audit_report *report);

#endif
