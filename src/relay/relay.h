/* relay — the running relay between platforms.
 *
 * For every configured peer, while the server runs:
 *  - outbound: a scheduler takes the peer's due outbox rows (in order of due time) and hands
 *    them to RELAY_WORKERS threads, each with its own keep-alive VXP client, which send the
 *    stored bytes plus this hop's TraceHeader with sendEdoc ("to" = the recipients routed to the
 *    peer). Outcomes are committed through the committer: SENT with the peer's DocId; a failure
 *    backs the row off exponentially with jitter, and after max_attempts marks it UNDELIVERABLE.
 *    A peer that cannot be reached is backed off as a whole (one probe at a time) so that a dead
 *    peer costs one call per backoff period, not one per package; its health (up, backing off,
 *    failing since) is written to the store on every change.
 *  - inbound: a puller polls the peer's inbox (getReceivedEdocList, edoc then status) every
 *    pull interval, and at once again while it finds packages or after we pushed to the peer;
 *    each package is fetched (getEdoc), accepted here like any other (accept.h) and
 *    acknowledged "done" at the peer only after our commit is durable. A package fetched twice
 *    (crash between the two) is recognised by the peer's docId and acknowledged again.
 *  - tracking: for SENT rows, the puller asks the peer's getSentEdocList what became of the
 *    recipients (initial, processing, done, fail), with a growing interval, so the original
 *    sender's getSentEdocList shows the state across hops.
 * The set of peers follows the configuration: a peer added, changed or removed with the CLI is
 * started, restarted or stopped within a second.
 *
 * The routing cache (relay_router_*) belongs to the committer thread: accept_execute() is its
 * only caller. */
#ifndef LT_RELAY_RELAY_H
#define LT_RELAY_RELAY_H

#include <stdint.h>

#include "edxml/edxml.h"
#include "store/committer.h"
#include "util/errors.h"

struct relay_config {
    unsigned workers;         /* sendEdoc calls in flight per peer */
    int64_t backoff_base_ms;  /* first retry delay; doubles per attempt */
    int64_t backoff_max_ms;   /* cap of the retry delay */
    unsigned max_attempts;    /* then UNDELIVERABLE */
    int64_t call_timeout_ms;  /* one VXP call to a peer */
    unsigned pull_batch;      /* packages fetched before their commit is awaited */
    unsigned track_per_round; /* rows asked about per peer and pull round */
};

void relay_config_defaults(struct relay_config *c);

struct relay;

/* Starts the peers' threads (none when no peer is configured; they follow the configuration
 * afterwards). NULL with a reason in err on failure. */
struct relay *relay_start(struct store *st, struct committer *cm, const struct edxml_limits *lim,
                          const struct relay_config *cfg, char *err, size_t err_len);
/* Stops every thread; waits for the outcomes already handed to the committer (which must still
 * run). The routing cache stays usable (jobs still queued in the committer may accept packages:
 * their rows wait in the outbox for the next start). Accepts NULL. */
void relay_stop(struct relay *r);
/* Frees the relay, after relay_stop() and once the committer has stopped. Accepts NULL. */
void relay_free(struct relay *r);

/* An outbox row became due now (its acceptance committed). Any thread. Queued at once for the
 * peer's workers when they have room (taking the row's strings), else the peer's scheduler is
 * woken to find it in the store. */
void relay_offer(struct relay *r, struct store_outbox *row);

/* --- routing, committer thread only --- */

enum relay_route_kind { RELAY_TO_LOCAL = 0, RELAY_TO_PEER = 1 };

/* Refreshes the cached routes, peers and platform identity when the store's configuration
 * generation moved. STORE_ONE_RESULT or the store's error. */
enum store_rc relay_router_refresh(struct relay *r, struct store *st);
/* Where a recipient goes: LT_ERR_OK with *kind and the local system (ret_system) or the peer
 * name (ret_peer, both STORE_ID_MAX + 1 bytes); LT_ERR_UNKNOWN_RECIPIENT when nothing routes
 * it (detail explains); LT_ERR_STORE_FAILED. */
enum lt_err relay_router_decide(struct relay *r, struct store *st, const char *organ,
                                enum relay_route_kind *kind, char *ret_system, char *ret_peer);
/* This platform's organ id, "" when not set. */
const char *relay_router_platform(const struct relay *r);
/* The inbound system of peer (the system here it sends packages with), NULL when none. */
const char *relay_router_inbound_system(const struct relay *r, const char *peer);
/* The peer whose inbound system is system_id, NULL when none. */
const char *relay_router_peer_of_system(const struct relay *r, const char *system_id);

#endif
