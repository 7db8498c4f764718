/* relaystats — the relay's figures over a period: per peer platform, the packages sent to it
 * (the national axis in particular) and received from it, and the packages internal to this
 * platform; computed by the store from its own records (store->relay_stats), rendered as JSON
 * (HTTP API, `stats --json`) or as a Vietnamese text table (CLI).
 *
 * Meaning over [from, to) (0 = unbounded), packages created here in the period:
 *   sent_edoc/sent_status      packages forwarded to the peer (one per package and peer,
 *                              whatever the number of recipients there), plus those left for
 *                              the peer to pull from its inbound system's inbox here;
 *   pending/undeliverable      of the forwarded ones, those not yet taken by the peer, and
 *                              those given up after the last attempt;
 *   received_edoc/_status      packages that came from the peer (pushed or pulled);
 *   internal                   packages a system here sent with at least one recipient here.
 * Two platforms that relay to each other therefore agree: what one counts as sent to the
 * other, the other counts as received from the first.
 *
 * Convention as in stats.h: relaystats_collect returns 0, or -1 (ret untouched). */
#ifndef LT_REPORT_RELAYSTATS_H
#define LT_REPORT_RELAYSTATS_H

#include <jansson.h>
#include <stdio.h>

#include "store/store.h"

struct relaystats_row {
    char *peer;
    int64_t sent_edoc, sent_status, pending, undeliverable, received_edoc, received_status;
};

struct relaystats_result {
    struct relaystats_row *rows; /* per peer, by name */
    size_t n;
    int64_t internal_edoc, internal_status;
};

int relaystats_collect(struct store *s, int64_t from_ms, int64_t to_ms,
                       struct relaystats_result *ret);
void relaystats_result_clear(struct relaystats_result *r); /* idempotent */

/* {"peers":[{"peer","documents_sent","status_sent","pending","undeliverable",
 *  "documents_received","status_received"}],"internal":{"documents","status"}} */
json_t *relaystats_to_json(const struct relaystats_result *r);
void relaystats_print_text(const struct relaystats_result *r, FILE *f);

#endif
