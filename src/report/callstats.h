/* callstats — the data-sharing gateway's figures over a period: calls per service, per consumer
 * system, per provider system and per calendar day or month, with their outcome, volume and
 * latency percentiles, plus how many systems are connected (officially, on trial) and how many
 * of them took part in a call. Computed from the store's call log (store->call_scan) and
 * registry (store->system_list), rendered as JSON (HTTP API, `stats --json`) or as a Vietnamese
 * text table (CLI), like src/report/stats.h does for documents.
 *
 * Memory: the call log is streamed, never loaded. Collection keeps one accumulator per group
 * (service, consumer, provider, period), each of fixed size (counters and a latency histogram,
 * about 9 KiB), so memory is O(number of groups) whatever the number of calls.
 *
 * Meaning of the figures of a group over [from, to) (0 = unbounded):
 *   calls          calls logged with a time in the period;
 *   ok             of those, the ones answered with an HTTP status below 400;
 *   client_errors  status 400..499: refusals by the gateway (401, 403, 404, 413, 429...) and
 *                  4xx answers of the upstream;
 *   server_errors  status 500 and above: 502/503/504 from the gateway and upstream 5xx;
 *                  (ok + client_errors + server_errors == calls);
 *   bytes_in/out   request bodies received, response bodies sent;
 *   p50/p90/p99    latency percentiles of duration_us (arrival to last byte sent), nearest-rank
 *                  definition (the smallest logged value v such that at least p% of the calls
 *                  took <= v), from a log-bucketed histogram: see CALLSTATS_REL_ERROR;
 *   max_us         the largest duration_us, exact.
 * Groups: a call with no matched service counts under service "" (and provider ""), one whose
 * consumer was not authenticated under consumer "", so every dimension sums to the total.
 * Periods are local calendar days ("YYYY-MM-DD") or months ("YYYY-MM") of the call's time.
 *
 * Convention: callstats_collect returns 0 on success, -1 on a store error or allocation failure
 * (ret then untouched). Results are owned by the caller: free with callstats_result_clear(). */
#ifndef LT_REPORT_CALLSTATS_H
#define LT_REPORT_CALLSTATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store/store.h"

/* Latency histogram: exact below 32 us, then 32 buckets per power of two. A percentile is
 * reported as the middle of the bucket holding it (clamped to the group's exact min and max),
 * so it differs from the exact nearest-rank percentile by at most 1/64 of it (1.5625%).
 * Durations from 2^40 us (12.7 days) up share the last bucket (max_us stays exact). */
#define CALLSTATS_SUB_BITS 5
#define CALLSTATS_MAX_BITS 40
#define CALLSTATS_BUCKETS ((CALLSTATS_MAX_BITS - CALLSTATS_SUB_BITS + 1) << CALLSTATS_SUB_BITS)
#define CALLSTATS_REL_ERROR (1.0 / (2 << CALLSTATS_SUB_BITS))

enum callstats_period { CALLSTATS_DAY = 0, CALLSTATS_MONTH = 1 };

struct callstats_figures {
    int64_t calls, ok, client_errors, server_errors;
    int64_t bytes_in, bytes_out;
    int64_t p50_us, p90_us, p99_us, max_us; /* 0 when calls == 0 */
};

struct callstats_group {
    char *key;      /* "code/version", consumer, provider or period; "" as described above */
    char *provider; /* service groups: the provider of the service's last call; else NULL */
    struct callstats_figures f;
};

/* One dimension, ordered by key (bytewise; so periods are in time order). */
struct callstats_table {
    struct callstats_group *rows;
    size_t n;
};

/* Registered systems (now, not at the time of the calls) and those that were the consumer or
 * the provider of at least one call in the period. */
struct callstats_systems {
    int64_t total, official, trial;
    int64_t active, active_official, active_trial;
};

struct callstats_result {
    int64_t from_ms, to_ms; /* the period asked for (0 = unbounded) */
    enum callstats_period period;
    struct callstats_table services, consumers, providers, periods;
    struct callstats_figures total;
    struct callstats_systems systems;
};

int callstats_collect(struct store *s, int64_t from_ms, int64_t to_ms, enum callstats_period period,
                      struct callstats_result *ret);
/* Frees the tables; accepts a cleared or zeroed result (idempotent). */
void callstats_result_clear(struct callstats_result *r);

/* "day" / "month"; callstats_period_parse returns 0 and sets *ret, or -1 when s is neither. */
const char *callstats_period_name(enum callstats_period p);
int callstats_period_parse(const char *s, enum callstats_period *ret);

/* {"from","to","period":"day"|"month",
 *  "systems":{"total","official","trial","active","active_official","active_trial"},
 *  "total":F, "services":[{"service":"code/version","code","version","provider",F...}],
 *  "consumers":[{"consumer",F...}], "providers":[{"provider",F...}], "periods":[{"period",F...}]}
 * where F is the members "calls","ok","client_errors","server_errors","bytes_in","bytes_out",
 * "latency_us":{"p50","p90","p99","max"}. Labels are copied as given; NULL gives JSON null.
 * New reference, NULL on allocation failure. */
json_t *callstats_to_json(const struct callstats_result *r, const char *from_label,
                          const char *to_label);

/* The systems line, the total line, then one aligned UTF-8 table (Vietnamese headers) per
 * dimension (the caller prints the period above it). */
void callstats_print_text(const struct callstats_result *r, FILE *f);

#endif
