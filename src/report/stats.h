/* stats — the exchange figures of a period, per organ and in total, computed by the store from
 * its own records (store->stats) and rendered as JSON (HTTP API, exports) or as a Vietnamese text
 * table (CLI). Numbers come straight from the platform's data, so two reports of the same period
 * cannot disagree.
 *
 * Meaning of the figures for organ X over [from, to) (0 = unbounded):
 *   edoc_sent        edoc packages whose edXML From/OrganId is X, created in the period;
 *   status_sent      status packages from X, created in the period;
 *   signed_sent      of edoc_sent, those carrying an XML digital signature;
 *   edoc_received    edoc deliveries to X (one per recipient), created in the period;
 *   status_received  status deliveries to X, created in the period;
 *   state[]          the received deliveries (both kinds) by their current state
 *                    (enum store_delivery_state: initial, processing, done, fail).
 * The total row counts every package once (not once per recipient) for *_sent, and every
 * delivery for *_received.
 *
 * Convention: stats_collect returns 0 on success, -1 on a store error or allocation failure
 * (ret then untouched). Results are owned by the caller: free with stats_result_clear(). */
#ifndef LT_REPORT_STATS_H
#define LT_REPORT_STATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store/store.h"

struct stats_row {
    char *organ_id;    /* "" for the total row */
    char *agency_name; /* NULL when the organ is not a registered agency */
    int64_t edoc_sent, status_sent;
    int64_t edoc_received, status_received;
    int64_t signed_sent;
    int64_t state[4]; /* received deliveries by enum store_delivery_state */
};

struct stats_result {
    int64_t from_ms, to_ms; /* the period asked for (0 = unbounded) */
    struct stats_row *rows; /* per organ, ordered by organ id */
    size_t n;
    struct stats_row total;
};

int stats_collect(struct store *s, int64_t from_ms, int64_t to_ms, struct stats_result *ret);
/* Frees the rows; accepts a cleared or zeroed result (idempotent). */
void stats_result_clear(struct stats_result *r);

/* {"from","to","agencies":[{"organ_id","name","documents_sent","status_sent",
 *  "documents_received","status_received","signed_sent",
 *  "deliveries":{"initial","processing","done","fail"}}],"total":{same members}}.
 * The labels (e.g. "2026-01-01") are copied as given; NULL gives JSON null. New reference, NULL
 * on allocation failure. */
json_t *stats_to_json(const struct stats_result *r, const char *from_label, const char *to_label);

/* An aligned UTF-8 table with Vietnamese headers, one line per organ, then the total line (the
 * caller prints the period above it). */
void stats_print_text(const struct stats_result *r, FILE *f);

#endif
