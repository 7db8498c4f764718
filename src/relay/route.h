/* route — the routing rules of the relay between platforms, in one place and pure (no store, no
 * I/O, no allocation): the CLI, the JSON API and the running relay use these functions, and the
 * unit tests exercise them alone.
 *
 * Patterns. A route pattern is an organ id in which '*' stands for ONE OR MORE characters:
 * "*.H34" (every organ ending in ".H34", but not ".H34" itself), "000.00.*.H30", "*" (every
 * organ). A pattern may hold any number of '*'; "**" stands for two or more characters. Apart
 * from '*', a pattern has the characters and the length bound of an organ id (those of
 * edxml_organ_id_ok(): letters, digits, '.', '_', '-'; 1 to RELAY_PATTERN_MAX bytes). Matching
 * compares bytes (case-sensitive), as organ ids are compared everywhere else.
 *
 * Matching cost. relay_pattern_match() never backtracks more than one piece at a time: the
 * literal pieces between the runs of '*' are placed left to right at their leftmost possible
 * position (which is optimal: it leaves the most room for what follows), the last piece is
 * anchored at the end. At most strlen(pattern) * strlen(organ_id) byte comparisons, i.e. 64 x 64
 * for valid inputs, whatever the pattern ("*a*a*a*a*b" included).
 *
 * Specificity: when several patterns match, the most specific one wins, where pattern A is
 * more specific than pattern B when, in this order,
 *   1. A has more literal (non-'*') characters than B;
 *   2. they have as many, and A has fewer '*' than B;
 *   3. they have as many of both, and A is smaller than B in byte order (strcmp).
 * Patterns are unique, so this is a total order: the choice never depends on the order in which
 * routes were added or loaded. An exact organ id (no '*') beats every pattern with a '*' that
 * matches it, since such a pattern has fewer literal characters.
 *
 * Decision for a recipient organ id (relay_decide):
 *   RELAY_LOCAL  the organ is local (the caller's lookup says so: see relay/which.h for the one
 *                the CLI, the API and the server use): local agencies always win, whatever the
 *                routes say, so a route can never take a province's own mail out of it;
 *   RELAY_PEER   otherwise, the peer of the most specific route whose pattern matches;
 *   RELAY_NONE   otherwise: no route, the document cannot be delivered.
 *
 * Return convention: predicates return 1 or 0; checks and the decision return LT_ERR_OK or the
 * registry error, with an ASCII detail naming what is wrong. */
#ifndef LT_RELAY_ROUTE_H
#define LT_RELAY_ROUTE_H

#include <stddef.h>

#include "store/store.h"
#include "util/errors.h"

#define RELAY_PATTERN_MAX STORE_ID_MAX /* bytes, like an organ id */

/* 1 when p is a valid pattern (see above). */
int relay_pattern_ok(const char *p);
/* The same as an error: LT_ERR_BAD_PARAMETER with a detail starting with "pattern". */
enum lt_err relay_pattern_check(const char *p, char *detail, size_t detail_len);

/* 1 when organ_id matches pattern ('*' = one or more characters). Works on any two strings
 * (validity is not checked here); cost bounded as said above. */
int relay_pattern_match(const char *pattern, const char *organ_id);

/* The specificity order: < 0 when a is more specific than b (a wins), > 0 when b is, 0 only
 * when a and b are the same pattern. */
int relay_pattern_cmp(const char *a, const char *b);

/* One route as the decision sees it (strings borrowed from the caller). */
struct relay_route {
    const char *pattern;
    const char *peer;
};

/* Sorts routes by specificity, most specific first: the order in which they are tried, and the
 * order in which lists show them. */
void relay_routes_sort(struct relay_route *routes, size_t n);

enum relay_target {
    RELAY_NONE = 0,
    RELAY_LOCAL = 1,
    RELAY_PEER = 2,
};

/* "none", "local", "peer". */
const char *relay_target_name(enum relay_target t);

/* Whether organ_id is local to this platform: 1 yes, 0 no, -1 the lookup failed. */
typedef int (*relay_is_local_fn)(void *ctx, const char *organ_id);

struct relay_decision {
    enum relay_target target;
    const struct relay_route *route; /* RELAY_PEER: the winning route (an element of routes);
                                        NULL otherwise */
};

/* Decides where a document for organ_id goes, given the routes (any order; entries whose
 * pattern is not valid are ignored) and the local lookup. Returns LT_ERR_OK with *ret filled,
 * LT_ERR_BAD_ORGAN_ID when organ_id is not an organ id (edxml_organ_id_ok), or
 * LT_ERR_STORE_FAILED when is_local failed; *ret is untouched on failure. */
enum lt_err relay_decide(const char *organ_id, const struct relay_route *routes, size_t n,
                         relay_is_local_fn is_local, void *ctx, struct relay_decision *ret);

#endif
