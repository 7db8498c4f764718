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

struct audit_report {
    int64_t records;      /* records checked */
    int ok;               /* 1 when the whole chain verified */
    int64_t broken_seq;   /* first record whose link is broken (0 when ok) */
    char reason[256];     /* ASCII explanation of the first broken link */
};

/* Walks the whole log. Returns 0 when the walk completed (see report->ok), -1 on a store error. */
int audit_verify(struct store *s, struct audit_report *report);

#endif
