/* sigcheck — the XML signatures of accepted packages, verified off the request path.
 *
 * A package that carries a Signature is stored "pending" (the SDK's sendEdoc does not wait for
 * a verdict only statistics use: verifying one costs about half a millisecond of CPU, as much as
 * the rest of its acceptance). A background thread (lt-sigcheck, at the lowest CPU priority) takes
 * the pending packages oldest first, reads each back from the store (up to the configured size;
 * a larger one is "not checked"), verifies it (edxml_signature_verify) and records the verdicts
 * in one lazy committer job a batch. It is woken when sendEdoc commits a signed package and
 * looks again every half second, so pulled packages and those pending at a restart (or left by
 * an older version) are verified too. */
#ifndef LT_EXCHANGE_SIGCHECK_H
#define LT_EXCHANGE_SIGCHECK_H

#include <stddef.h>

#include "edxml/edxml.h"
#include "store/committer.h"

struct sigcheck;

/* cfg must outlive the checker. NULL on failure (reason in err). */
struct sigcheck *sigcheck_start(struct store *st, struct committer *cm,
                                const struct edxml_sig_config *cfg, char *err, size_t err_len);
void sigcheck_kick(struct sigcheck *s); /* any thread; accepts NULL */
/* Stops the thread, after its last batch committed (call before the committer stops). */
void sigcheck_stop(struct sigcheck *s); /* accepts NULL */

#endif
