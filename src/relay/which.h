/* which — the relay's routing decision against a store: the routes as stored, and the lookup
 * of what is local to this platform. Used by "lienthong route which", GET
 * /api/v1/routes/which and (later) the relay itself, so that all three decide alike.
 *
 * Local (relay_store_is_local): an organ id is local when this platform's registry knows it:
 *  - a registered agency (even one no system serves yet: its documents must fail here, loudly,
 *    rather than leave the province), or
 *  - an organ a connected system serves (a system's own id included), or
 *  - this platform's own organ id (platform set), so that a catch-all route never sends back
 *    out what is addressed to the platform itself.
 *
 * Return convention: store codes (store.h) for the loaders, registry errors for the decision. */
#ifndef LT_RELAY_WHICH_H
#define LT_RELAY_WHICH_H

#include <stddef.h>

#include "relay/peer.h"
#include "relay/route.h"
#include "store/store.h"
#include "util/errors.h"

/* The stored routes, sorted by specificity (most specific first), owning their strings:
 * rows[i] is the stored route, routes[i] the same route as relay_decide() takes it. */
struct relay_table {
    struct relay_route *routes;
    struct store_relay_route *rows;
    size_t n, cap;
};

/* Loads the routes of peer (NULL = every route). Returns STORE_ONE_RESULT, or the store's
 * error / STORE_HARD_ERROR on allocation failure with *ret empty. Free with relay_table_free. */
enum store_rc relay_table_load(struct store *st, const char *peer, struct relay_table *ret);
void relay_table_free(struct relay_table *t); /* accepts an empty table */

/* relay_is_local_fn over a store (ctx is the struct store *): 1, 0, or -1 on a store error. */
int relay_store_is_local(void *store, const char *organ_id);

/* A decision with its strings copied, for replies. */
struct relay_answer {
    enum relay_target target;
    char peer[RELAY_PEER_NAME_MAX + 1];  /* RELAY_PEER only, else "" */
    char pattern[RELAY_PATTERN_MAX + 1]; /* RELAY_PEER only, else "" */
};

/* Where a document for organ_id would go now. LT_ERR_OK, LT_ERR_BAD_ORGAN_ID, or
 * LT_ERR_STORE_FAILED (logged by the store). */
enum lt_err relay_which(struct store *st, const char *organ_id, struct relay_answer *ret);

#endif
