/* anchor — signed anchors of the transaction log: the head (last seq and its hash) signed with
 * this platform's Ed25519 key (DATA/audit.key, created 0600 at the server's first start), each
 * anchor also signing the previous one's signature. The chain alone proves that the log was not
 * changed *unless* whoever changed it recomputed every hash after the change; an anchor is a
 * signature that person cannot make without the key, so rewriting the database and the chain
 * is detected at the first anchor after the change (audit verify). The public key
 * ("lienthong audit key") lets a third party check an exported copy.
 *
 * The running server signs the head at start and then whenever anchor_every_records records
 * were appended or anchor_every_ms passed with new records, as a lazy committer job (in the
 * transaction that reads the head, so the anchor signs exactly what is stored). */
#ifndef LT_AUDIT_ANCHOR_H
#define LT_AUDIT_ANCHOR_H

#include <stddef.h>
#include <stdint.h>

#include "store/committer.h"
#include "util/sign.h"

#define ANCHOR_KEY_FILE "audit.key"

/* The text an anchor's signature covers. Returns its length, or 0 if it does not fit. */
size_t anchor_message(const struct store_anchor *a, char *out, size_t cap);

/* Inside a write transaction: signs the head if it moved since the newest anchor. ONE_RESULT
 * (an anchor appended), NO_RESULTS (nothing new to sign) or the store's error. */
enum store_rc anchor_head(struct store *st, const struct sign_key *k, int64_t now_ms);

struct anchorer;
/* A thread (lt-anchor) that submits anchor jobs: one at once, then as said above. The key stays
 * the caller's and must outlive the anchorer. NULL on failure (reason in err). */
struct anchorer *anchorer_start(struct store *st, struct committer *cm, const struct sign_key *k,
                                int64_t every_records, int64_t every_ms, char *err, size_t err_len);
/* Stops the thread (before the committer stops: its last job is waited for). Accepts NULL. */
void anchorer_stop(struct anchorer *a);

#endif
