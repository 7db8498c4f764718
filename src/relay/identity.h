/* identity — who may speak for an organ on this platform: the rules that hold every identity a
 * request carries (a document's sender, a status's author, an agency's registration) to the
 * system that authenticated it. docs/security.md states them with their error codes.
 *
 * The speaker of an organ is the system that serves it (its own systemId, its --serves list,
 * the agencies it registered); an organ no system serves is spoken for by the speaker of its
 * nearest registered ancestor (the agency's parent chain). So a system speaks for the sub-units
 * registered under what it serves, never for a sub-unit another system serves, and nobody
 * speaks for an organ this platform does not know.
 *
 * Return convention: store codes (store.h) for lookups; LT_ERR_OK or the registry error (with a
 * detail) for checks, LT_ERR_STORE_FAILED when the store failed. */
#ifndef LT_RELAY_IDENTITY_H
#define LT_RELAY_IDENTITY_H

#include "store/store.h"
#include "util/buf.h"
#include "util/errors.h"

/* Parents followed at most when walking up the agency tree (a cycle, which only the operator
 * can create, ends the walk there too). */
#define IDENTITY_MAX_DEPTH 16

/* The speaker of organ into ret_system (STORE_ID_MAX + 1 bytes): ONE_RESULT, NO_RESULTS when
 * nobody speaks for it, or the store's error. *ret_registered (may be NULL) tells whether the
 * organ itself is a registered agency (known when nobody serves it directly). */
enum store_rc identity_speaker(struct store *st, const char *organ, char *ret_system,
                               int *ret_registered);

/* 1 when child's QD20 code lies strictly under parent's (every level the parent names is the
 * child's too, and the child names one more); 0 when it does not. Ids that are not both in
 * the QD20 form have no structure to check: 1. */
int identity_qd20_under(const char *parent, const char *child);

/* The rules of registerAgency from system_id: the parent must be an organ the system speaks
 * for; an existing agency only when the system speaks for it; never an organ another system
 * serves, this platform's own organ id, an id a route with a literal character sends to a peer
 * (the catch-all "*" claims no organ in particular), a QD20 code outside the parent's, or an
 * agency among its own ancestors. */
enum lt_err identity_check_register(struct store *st, const char *system_id, const char *id,
                                    const char *parent_id, struct buf *detail);
/* The rules of deleteAgency from system_id: an agency the system serves itself (not its own
 * id) registered under a parent the system speaks for. */
enum lt_err identity_check_delete(struct store *st, const char *system_id, const char *id,
                                  struct buf *detail);

#endif
