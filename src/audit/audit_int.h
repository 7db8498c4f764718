/* audit_int — what the files of src/audit share: the deep part of verify (contents.c), fed
 * each record of the walk after its link checked out. Return convention: 0, or -1 on a store
 * error; mismatches go into the report. */
#ifndef LT_AUDIT_INT_H
#define LT_AUDIT_INT_H

#include "audit/chain.h"

struct audit_contents;

struct audit_contents *contents_new(struct store *st, struct audit_report *rep);
int contents_record(struct audit_contents *c, const struct store_txrec *r);
/* After the walk: the gateway call rows no record claimed (those older than the last record
 * by a call's longest life, see contents.c). */
int contents_finish(struct audit_contents *c, int64_t last_record_ms);
void contents_free(struct audit_contents *c); /* accepts NULL */

#endif
