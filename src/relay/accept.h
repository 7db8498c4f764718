/* accept — what happens to a package this platform accepts, whoever hands it over: an agency's
 * sendEdoc, a peer platform's push (the same sendEdoc), or a package pulled from a peer. One
 * committer job, so inside one durable transaction:
 *   1. a retried duplicate gets the first DocId back (sendEdoc: same sender and bytes within the
 *      dedupe window; pulled: the same peer docId, for ever) and nothing is written;
 *   2. every recipient is routed: the inbox of the local system that serves it, or the outbox of
 *      the peer its most specific route names (relay/route.h); a recipient with neither, a
 *      relay without this platform's identity, or a relay of a package that already passed
 *      through this platform (a routing loop) refuses the whole package, writing nothing but
 *      the log record;
 *   3. package, bytes, inbox entries, ONE outbox row per peer (with this hop's TraceHeader fixed
 *      now), the status bookkeeping (a status package marks the document it answers) and the
 *      log record are written together.
 * The caller owns the job (embeds it first in its own struct), fills the inputs, sets job.done
 * and submits it; after the commit, accept_after_commit() hands the outbox rows it wrote to
 * their peers' senders. */
#ifndef LT_RELAY_ACCEPT_H
#define LT_RELAY_ACCEPT_H

#include <stdint.h>

#include "edxml/edxml.h"
#include "store/committer.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/errors.h"

struct relay;

struct accept_job {
    struct commit_job job; /* first: the committer hands this pointer back */
    struct relay *relay;

    /* --- inputs (strings owned by the job) --- */
    char actor[STORE_ID_MAX + 8]; /* txlog actor: the sender system, or "peer:NAME" */
    const char *operation_prefix; /* txlog operation: "send" or "relay.in" (+ ".edoc"/".status") */
    struct store_package meta;    /* sender_system, messagetype, sha256, size and the fields */
    char **recipients;
    size_t n_recipients;
    /* Where the bytes come from (read from the start after rewind; meta.size bytes). */
    store_read_fn read;
    void *read_ctx;
    int (*rewind)(void *read_ctx);
    int64_t dedupe_window_ms; /* > 0: (sender_system, sha256) duplicate check */
    char *pulled_peer;        /* pulled: the peer and its docId (duplicate check, record) */
    char *pulled_doc_id;
    /* From the parse: where this hop's TraceHeader goes, and the hops already passed. */
    int64_t trace_offset;
    int trace_new_list;
    char *trace_prefix;
    char **trace_organs;
    size_t n_trace_organs;
    /* Status packages: what they answer (ResponseFor) and their code. */
    char *resp_document_id, *resp_organ;

    /* --- results --- */
    enum lt_err err;
    struct buf detail;
    char doc_id[DOCID_HEX_SIZE];
    int duplicate;
    struct store_outbox *rows; /* the outbox rows of the transaction (offered after commit) */
    size_t n_rows;
};

/* Copies what accept needs from a parsed package (descriptive fields, trace position and hops,
 * status target) into the job. Recipients are not touched. 0, or -1 when out of memory. */
int accept_take_package(struct accept_job *j, const struct edxml_package *pkg);
/* Adds a recipient organ (a second mention of the same organ is ignored). 0 or -1 (memory). */
int accept_add_recipient(struct accept_job *j, const char *organ);
/* The recipients of a parsed package: an edoc's To/OrganId (each checked), a status package's
 * ResponseFor/OrganId. LT_ERR_OK or the error, with a detail in *detail. */
enum lt_err accept_package_recipients(struct accept_job *j, const struct edxml_package *pkg,
                                      enum store_msgtype type, struct buf *detail);

/* The committer's execute() for an accept job. */
enum store_rc accept_execute(struct store *st, struct commit_job *cj);
/* After a successful commit (from done()): offers the rows to their peers' senders. */
void accept_after_commit(struct accept_job *j);
/* Frees what the job owns (not the job itself). */
void accept_job_clear(struct accept_job *j);

#endif
