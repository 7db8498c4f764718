/* relay — the set of running peers, following the configuration, and the routing cache of the
 * committer thread (see relay.h). */
#include "relay/relay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relay/relay_int.h"
#include "util/log.h"
#include "util/timeutil.h"

#define MANAGER_PERIOD_MS 500

void relay_config_defaults(struct relay_config *c)
{
    /* the longest retry delay plus a call's timeout stays well inside a peer's de-duplication
     * window (600 s by default): a resend after a lost answer is recognised there */
    *c = (struct relay_config){.workers = 8,
                               .backoff_base_ms = 1000,
                               .backoff_max_ms = 300000,
                               .max_attempts = 20,
                               .call_timeout_ms = 60000,
                               .pull_batch = 64,
                               .track_per_round = 1024};
}

void relay_deadline(struct timespec *ts, int64_t ms)
{
    if (ms < 1)
        ms = 1;
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* xorshift per thread: jitter needs no cryptographic quality, only threads that differ. */
static uint64_t jitter_rand(void)
{
    static _Thread_local uint64_t s;
    if (!s)
        s = (uint64_t)mono_ns() ^ ((uint64_t)(uintptr_t)&s << 17) ^ 0x9e3779b97f4a7c15ull;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

int64_t relay_backoff_ms(const struct relay_config *cfg, int n)
{
    int64_t d = cfg->backoff_base_ms > 0 ? cfg->backoff_base_ms : 1;
    for (int i = 1; i < n && d < cfg->backoff_max_ms; i++)
        d *= 2;
    if (d > cfg->backoff_max_ms)
        d = cfg->backoff_max_ms;
    /* "equal jitter": half fixed, half random, so that retries neither bunch nor shrink to 0 */
    int64_t half = d / 2;
    return half + (half > 0 ? (int64_t)(jitter_rand() % (uint64_t)(half + 1)) : 0);
}

/* --- committer jobs of a peer ---------------------------------------------------------------- */

void relay_submit(struct peer_rt *p, struct commit_job *job)
{
    pthread_mutex_lock(&p->mu);
    p->jobs++;
    pthread_mutex_unlock(&p->mu);
    if (committer_submit(p->relay->cm, job) != 0)
        job->done(job, 0);
}

void relay_job_over(struct peer_rt *p)
{
    pthread_mutex_lock(&p->mu);
    if (--p->jobs == 0)
        pthread_cond_broadcast(&p->idle);
    if (p->backlog) /* a settled row may free room in flight */
        pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->mu);
}

struct health_job {
    struct commit_job job;
    struct peer_rt *p;
    struct store_peer_state s; /* strings owned */
};

static enum store_rc health_execute(struct store *st, struct commit_job *cj)
{
    struct health_job *j = (struct health_job *)cj;
    return st->peer_state_put(st->cls, &j->s);
}

static void health_done(struct commit_job *cj, int ok)
{
    struct health_job *j = (struct health_job *)cj;
    struct peer_rt *p = j->p;
    store_peer_state_clear(&j->s);
    free(j);
    relay_job_over(p);
}

/* Under p->mu. */
static void write_health(struct peer_rt *p)
{
    struct health_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->job.execute = health_execute;
    j->job.done = health_done;
    j->job.lazy = 1;
    j->p = p;
    j->s = (struct store_peer_state){.peer = strdup(p->cfg.name),
                                     .health = p->health,
                                     .since_ms = p->since_ms,
                                     .failures = p->failures,
                                     .last_error = strdup(p->last_error),
                                     .next_ms = p->next_ms,
                                     .updated_ms = now_ms()};
    if (!j->s.peer || !j->s.last_error) {
        store_peer_state_clear(&j->s);
        free(j);
        return;
    }
    p->jobs++;
    if (committer_submit(p->relay->cm, &j->job) != 0) {
        p->jobs--;
        store_peer_state_clear(&j->s);
        free(j);
    }
}

void relay_note_call(struct peer_rt *p, int answered, const char *error)
{
    int64_t now = now_ms();
    enum store_peer_health before = p->health;
    if (answered) {
        p->failures = 0;
        p->health = STORE_PEER_UP;
        p->next_ms = 0;
        if (before != STORE_PEER_UP) {
            p->since_ms = now;
            log_info("relay: peer %s answers again", p->cfg.name);
        }
    } else {
        if (p->failures++ == 0)
            p->since_ms = now;
        p->health = p->failures >= 3 ? STORE_PEER_FAILING : STORE_PEER_BACKING_OFF;
        p->next_ms = now + relay_backoff_ms(&p->relay->cfg, p->failures);
        snprintf(p->last_error, sizeof p->last_error, "%s", error ? error : "");
        if (before == STORE_PEER_UP)
            log_warn("relay: peer %s unreachable (%s): backing off", p->cfg.name, p->last_error);
    }
    if (before != p->health || !answered)
        write_health(p);
    if (before != p->health) { /* workers and puller wait by the health (backoff, probes) */
        pthread_cond_broadcast(&p->work);
        pthread_cond_signal(&p->pull);
    }
}

/* --- the set of peers --------------------------------------------------------------------------
 */

static int copy_peer(struct store_peer *dst, const struct store_peer *src)
{
    *dst = (struct store_peer){.name = strdup(src->name),
                               .endpoint = strdup(src->endpoint),
                               .system_id = strdup(src->system_id),
                               .secret = strdup(src->secret),
                               .inbound_system =
                                   strdup(src->inbound_system ? src->inbound_system : ""),
                               .pull_interval_ms = src->pull_interval_ms,
                               .created_ms = src->created_ms,
                               .updated_ms = src->updated_ms};
    return dst->name && dst->endpoint && dst->system_id && dst->secret && dst->inbound_system ? 0
                                                                                              : -1;
}

static void peer_free(struct peer_rt *p)
{
    free(p->queue);
    free(p->inflight);
    free(p->refused);
    free(p->workers);
    store_peer_clear(&p->cfg);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->pull);
    pthread_cond_destroy(&p->idle);
    free(p);
}

static struct peer_rt *peer_start(struct relay *r, const struct store_peer *cfg)
{
    struct peer_rt *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->relay = r;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->pull, NULL);
    pthread_cond_init(&p->idle, NULL);
    if (copy_peer(&p->cfg, cfg) != 0) {
        peer_free(p);
        return NULL;
    }
    /* Resume from the health last written (a peer down before a restart stays backed off). */
    struct store_peer_state s = {0};
    if (r->st->peer_state_get(r->st->cls, cfg->name, &s) == STORE_ONE_RESULT) {
        p->health = s.health;
        p->failures = s.failures;
        p->since_ms = s.since_ms;
        p->next_ms = s.next_ms;
        snprintf(p->last_error, sizeof p->last_error, "%s", s.last_error ? s.last_error : "");
    }
    store_peer_state_clear(&s);
    if (relay_outbound_start(p) != 0) {
        peer_free(p);
        return NULL;
    }
    log_info("relay: peer %s started (%s as %s)", p->cfg.name, p->cfg.endpoint, p->cfg.system_id);
    return p;
}

static void peer_stop(struct peer_rt *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_cond_broadcast(&p->work);
    pthread_cond_broadcast(&p->pull);
    pthread_mutex_unlock(&p->mu);
    if (p->started_scheduler)
        pthread_join(p->scheduler, NULL);
    if (p->started_puller)
        pthread_join(p->puller, NULL);
    for (unsigned i = 0; i < p->n_workers; i++)
        pthread_join(p->workers[i], NULL);
    /* Outcomes already handed to the committer refer to p: wait for them (the committer runs). */
    pthread_mutex_lock(&p->mu);
    while (p->jobs > 0)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->q_len; i++)
        store_outbox_clear(&p->queue[i]);
    log_info("relay: peer %s stopped", p->cfg.name);
    peer_free(p);
}

static int same_peer(const struct store_peer *a, const struct store_peer *b)
{
    return strcmp(a->endpoint, b->endpoint) == 0 && strcmp(a->system_id, b->system_id) == 0 &&
           strcmp(a->secret, b->secret) == 0 && a->pull_interval_ms == b->pull_interval_ms;
}

struct peer_list {
    struct store_peer *v;
    size_t n;
    int oom;
};

static int collect_peer(void *ctx, const struct store_peer *sp)
{
    struct peer_list *l = ctx;
    struct store_peer *nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv) {
        l->oom = 1;
        return 1;
    }
    l->v = nv;
    if (copy_peer(&l->v[l->n], sp) != 0) {
        store_peer_clear(&l->v[l->n]);
        l->oom = 1;
        return 1;
    }
    l->n++;
    return 0;
}

static void peer_list_free(struct peer_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        store_peer_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Makes the running peers those of the store: starts new ones, restarts changed ones, stops
 * removed ones. Peers are started and stopped outside r->mu (joins take time); only the list
 * changes under it. */
static int reconcile(struct relay *r)
{
    struct peer_list l = {0};
    if (r->st->peer_list(r->st->cls, collect_peer, &l) < 0 || l.oom) {
        peer_list_free(&l);
        return -1;
    }
    struct peer_rt *old = NULL, **pp;
    pthread_mutex_lock(&r->mu);
    /* take out the peers that are gone or changed */
    pp = &r->peers;
    while (*pp) {
        struct peer_rt *p = *pp;
        int keep = 0;
        for (size_t i = 0; i < l.n; i++)
            if (strcmp(l.v[i].name, p->cfg.name) == 0 && same_peer(&l.v[i], &p->cfg))
                keep = 1;
        if (keep) {
            pp = &p->next;
        } else {
            *pp = p->next;
            p->next = old;
            old = p;
        }
    }
    pthread_mutex_unlock(&r->mu);
    while (old) {
        struct peer_rt *p = old;
        old = p->next;
        peer_stop(p);
    }
    for (size_t i = 0; i < l.n; i++) {
        pthread_mutex_lock(&r->mu);
        int running = 0;
        for (struct peer_rt *p = r->peers; p; p = p->next)
            running |= strcmp(p->cfg.name, l.v[i].name) == 0;
        pthread_mutex_unlock(&r->mu);
        if (running)
            continue;
        struct peer_rt *p = peer_start(r, &l.v[i]);
        if (!p) {
            log_error("relay: cannot start peer %s", l.v[i].name);
            continue;
        }
        pthread_mutex_lock(&r->mu);
        p->next = r->peers;
        r->peers = p;
        pthread_mutex_unlock(&r->mu);
    }
    peer_list_free(&l);
    return 0;
}

static void *manager_main(void *arg)
{
    struct relay *r = arg;
    pthread_setname_np(pthread_self(), "lt-relay");
    uint64_t seen = 0;
    int first = 1;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        uint64_t gen = r->st->config_generation(r->st->cls);
        if (first || gen != seen) {
            pthread_mutex_unlock(&r->mu);
            /* read the generation before the load: a change during it reloads again */
            if (reconcile(r) == 0) {
                seen = gen;
                first = 0;
            }
            pthread_mutex_lock(&r->mu);
            continue;
        }
        struct timespec ts;
        relay_deadline(&ts, MANAGER_PERIOD_MS);
        pthread_cond_timedwait(&r->wake, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

struct relay *relay_start(struct store *st, struct committer *cm, const struct edxml_limits *lim,
                          const struct relay_config *cfg, char *err, size_t err_len)
{
    struct relay *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    r->st = st;
    r->cm = cm;
    r->lim = lim;
    r->cfg = *cfg;
    if (r->cfg.workers == 0)
        r->cfg.workers = 1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (pthread_create(&r->manager, NULL, manager_main, r) != 0) {
        snprintf(err, err_len, "cannot start the relay's thread");
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->wake);
        free(r);
        return NULL;
    }
    r->started_manager = 1;
    return r;
}

void relay_stop(struct relay *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->mu);
    if (r->started_manager)
        pthread_join(r->manager, NULL);
    r->started_manager = 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        struct peer_rt *p = r->peers;
        if (p)
            r->peers = p->next;
        pthread_mutex_unlock(&r->mu);
        if (!p)
            break;
        peer_stop(p);
    }
}

void relay_free(struct relay *r)
{
    if (!r)
        return;
    relay_table_free(&r->routes);
    for (size_t i = 0; i < r->n_router_peers; i++)
        store_peer_clear(&r->router_peers[i]);
    free(r->router_peers);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->wake);
    free(r);
}

void relay_offer(struct relay *r, struct store_outbox *row)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    for (struct peer_rt *p = r->peers; p; p = p->next)
        if (strcmp(p->cfg.name, row->peer) == 0) {
            pthread_mutex_lock(&p->mu);
            relay_outbound_offer(p, row);
            pthread_mutex_unlock(&p->mu);
            break;
        }
    pthread_mutex_unlock(&r->mu);
}

/* --- routing cache (committer thread) -------------------------------------------------------- */

enum store_rc relay_router_refresh(struct relay *r, struct store *st)
{
    uint64_t gen = st->config_generation(st->cls);
    if (r->router_loaded && gen == r->router_gen)
        return STORE_ONE_RESULT;
    struct relay_table t = {0};
    enum store_rc rc = relay_table_load(st, NULL, &t);
    if (rc < 0)
        return rc;
    struct store_platform pf = {0};
    rc = st->platform_get(st->cls, &pf);
    if (rc < 0) {
        relay_table_free(&t);
        return rc;
    }
    struct peer_list l = {0};
    if (st->peer_list(st->cls, collect_peer, &l) < 0 || l.oom) {
        peer_list_free(&l);
        relay_table_free(&t);
        store_platform_clear(&pf);
        return STORE_HARD_ERROR;
    }
    relay_table_free(&r->routes);
    r->routes = t;
    snprintf(r->platform, sizeof r->platform, "%s",
             rc == STORE_ONE_RESULT && pf.organ_id ? pf.organ_id : "");
    store_platform_clear(&pf);
    for (size_t i = 0; i < r->n_router_peers; i++)
        store_peer_clear(&r->router_peers[i]);
    free(r->router_peers);
    r->router_peers = l.v;
    r->n_router_peers = l.n;
    r->router_gen = gen;
    r->router_loaded = 1;
    return STORE_ONE_RESULT;
}

static int not_local(void *ctx, const char *organ_id)
{
    return 0;
}

enum lt_err relay_router_decide(struct relay *r, struct store *st, const char *organ,
                                enum relay_route_kind *kind, char *ret_system, char *ret_peer)
{
    enum store_rc rc = st->route(st->cls, organ, ret_system);
    if (rc < 0)
        return LT_ERR_STORE_FAILED;
    if (rc == STORE_ONE_RESULT) {
        *kind = RELAY_TO_LOCAL;
        return LT_ERR_OK;
    }
    /* Known here but served by no system (or the platform itself): it must fail here, loudly,
     * rather than leave the province. */
    int local = relay_store_is_local(st, organ);
    if (local < 0)
        return LT_ERR_STORE_FAILED;
    if (local)
        return LT_ERR_UNKNOWN_RECIPIENT;
    struct relay_decision d;
    enum lt_err e = relay_decide(organ, r->routes.routes, r->routes.n, not_local, NULL, &d);
    if (e != LT_ERR_OK)
        return e == LT_ERR_STORE_FAILED ? e : LT_ERR_UNKNOWN_RECIPIENT;
    if (d.target != RELAY_PEER)
        return LT_ERR_UNKNOWN_RECIPIENT;
    *kind = RELAY_TO_PEER;
    snprintf(ret_peer, STORE_ID_MAX + 1, "%s", d.route->peer);
    return LT_ERR_OK;
}

const char *relay_router_platform(const struct relay *r)
{
    return r->platform;
}

const char *relay_router_inbound_system(const struct relay *r, const char *peer)
{
    for (size_t i = 0; i < r->n_router_peers; i++)
        if (strcmp(r->router_peers[i].name, peer) == 0)
            return r->router_peers[i].inbound_system && *r->router_peers[i].inbound_system
                       ? r->router_peers[i].inbound_system
                       : NULL;
    return NULL;
}

const char *relay_router_peer_of_system(const struct relay *r, const char *system_id)
{
    for (size_t i = 0; i < r->n_router_peers; i++)
        if (r->router_peers[i].inbound_system && *r->router_peers[i].inbound_system &&
            strcmp(r->router_peers[i].inbound_system, system_id) == 0)
            return r->router_peers[i].name;
    return NULL;
}
