/* relay_int — the relay's runtime state, shared by relay.c (the set of peers, the routing
 * cache), outbound.c (sendEdoc to a peer) and inbound.c (pull and tracking). */
#ifndef LT_RELAY_RELAY_INT_H
#define LT_RELAY_RELAY_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "relay/relay.h"
#include "relay/which.h"
#include "store/store.h"
#include "util/crypto.h"

/* An outbox row claimed by the scheduler: queued or being sent; sent, its outcome waiting for
 * the committer; settled, its outcome committed (dropped at the next scan). */
enum relay_row_state { RELAY_ROW_SENDING, RELAY_ROW_SENT, RELAY_ROW_SETTLED };

struct relay_inflight {
    char id[UUID_SIZE];
    enum relay_row_state state;
};

#define REMOTE_ID_MAX 128 /* a peer's docId, NUL included */
#define REFUSED_MAX 1024

/* One configured peer while the server runs. mu guards everything below it. */
struct peer_rt {
    struct relay *relay;
    struct store_peer cfg; /* a copy, owned */
    struct peer_rt *next;  /* in relay->peers */

    pthread_t scheduler, puller, *workers;
    unsigned n_workers;
    int started_scheduler, started_puller;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* scheduler: kicked, room while backlog, stop */
    pthread_cond_t work; /* workers: a row is queued, health changed, stop */
    pthread_cond_t pull; /* puller: pull soon, health changed, stop */
    pthread_cond_t idle; /* stop: the last outcome job is done */
    int stop;
    int kicked;    /* a row became due */
    int backlog;   /* the scheduler's last scan was cut by the room: more rows are due */
    int pull_soon; /* we pushed to the peer: replies may wait there */

    struct store_outbox *queue; /* claimed rows waiting for a worker (owned) */
    size_t q_len, q_cap;
    struct relay_inflight *inflight; /* claimed rows, see outbound.c */
    size_t n_inflight, inflight_cap;
    size_t n_sent, n_settled; /* of those, in each state (the rest: queued or being sent) */
    unsigned jobs;            /* committer jobs of this peer not yet done */

    /* packages the puller refused (inbound.c), puller thread only */
    char (*refused)[REMOTE_ID_MAX];
    size_t n_refused, refused_next;

    /* health */
    enum store_peer_health health;
    int failures;
    int64_t since_ms, next_ms;
    int probing; /* not up: one call at a time */
    char last_error[256];
};

struct relay {
    struct store *st;
    struct committer *cm;
    const struct edxml_limits *lim;
    struct relay_config cfg;

    pthread_mutex_t mu; /* guards peers, stop */
    pthread_cond_t wake;
    struct peer_rt *peers;
    int stop;
    pthread_t manager;
    int started_manager;

    /* routing cache: committer thread only */
    int router_loaded;
    uint64_t router_gen;
    struct relay_table routes;
    char platform[STORE_ID_MAX + 1];
    struct store_peer *router_peers;
    size_t n_router_peers;
};

/* An absolute CLOCK_REALTIME deadline ms from now (for pthread_cond_timedwait). */
void relay_deadline(struct timespec *ts, int64_t ms);

/* Jittered exponential delay for the n-th consecutive failure (n >= 1). */
int64_t relay_backoff_ms(const struct relay_config *cfg, int n);

/* outbound.c */
int relay_outbound_start(struct peer_rt *p);
void *relay_worker_main(void *arg);

/* Under p->mu: queues row for a worker when the peer is up and has room (1, the row's strings
 * taken), else wakes the scheduler (0). */
int relay_outbound_offer(struct peer_rt *p, struct store_outbox *row);

/* inbound.c */
void *relay_puller_main(void *arg);

/* Counts a committer job of p (under p->mu) and submits it; when the committer refuses it (it is
 * stopping), the job's done() is called with ok = 0 right away. */
void relay_submit(struct peer_rt *p, struct commit_job *job);
/* From a job's done(): the job is over (under no lock). */
void relay_job_over(struct peer_rt *p);

/* Records a call's outcome in the peer's health (under p->mu); writes the health to the store
 * when it changed. ok: the peer answered (OK or FAIL); else the error text. */
void relay_note_call(struct peer_rt *p, int answered, const char *error);

#endif
