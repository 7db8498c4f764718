/* guard — the two protections of the gateway, both in memory and per process:
 *   a token bucket per (consumer, service): `rate` tokens a second up to `burst`; a call takes
 *   one, and a call finding none is refused with the seconds until one is there (Retry-After);
 *   a circuit breaker per provider system: closed until `failures` consecutive connection
 *   failures or timeouts, then open (fail fast) for `open_ms`, then half-open: one probe call
 *   goes through; its success closes the breaker, its failure opens it again.
 * Entries live in small chained hash tables under one mutex each; the critical sections are a
 * few arithmetic operations. Entries are never removed: there is at most one per grant and one
 * per provider. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_int.h"
#include "util/log.h"

#define BUCKETS 1024

struct rate_entry {
    struct rate_entry *next;
    double tokens;
    int64_t last_ms;
    char key[]; /* consumer "\n" service */
};

enum breaker_state { CLOSED, OPEN, HALF_OPEN };

struct breaker_entry {
    struct breaker_entry *next;
    enum breaker_state state;
    unsigned failures;
    int64_t open_until_ms;
    char provider[];
};

struct gw_guard {
    unsigned breaker_failures;
    int64_t breaker_open_ms;
    pthread_mutex_t rate_mu, breaker_mu;
    struct rate_entry *rates[BUCKETS];
    struct breaker_entry *breakers[BUCKETS];
    unsigned n_open;
};

static size_t bucket_of(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ '\n') * 1099511628211ULL;
    for (const char *p = b; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (size_t)(h % BUCKETS);
}

struct gw_guard *gw_guard_new(unsigned breaker_failures, int64_t breaker_open_ms)
{
    struct gw_guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->breaker_failures = breaker_failures ? breaker_failures : 1;
    g->breaker_open_ms = breaker_open_ms;
    pthread_mutex_init(&g->rate_mu, NULL);
    pthread_mutex_init(&g->breaker_mu, NULL);
    return g;
}

void gw_guard_free(struct gw_guard *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        for (struct rate_entry *e = g->rates[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
        for (struct breaker_entry *e = g->breakers[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&g->rate_mu);
    pthread_mutex_destroy(&g->breaker_mu);
    free(g);
}

int64_t gw_rate_take(struct gw_guard *g, const char *consumer, const char *service_key,
                     int64_t rate_per_s, int64_t burst, int64_t now_ms)
{
    if (rate_per_s <= 0)
        return 0;
    if (burst <= 0)
        burst = rate_per_s;
    size_t b = bucket_of(consumer, service_key);
    size_t cl = strlen(consumer), sl = strlen(service_key);
    int64_t wait_s = 0;
    pthread_mutex_lock(&g->rate_mu);
    struct rate_entry *e = g->rates[b];
    while (e && !(strncmp(e->key, consumer, cl) == 0 && e->key[cl] == '\n' &&
                  strcmp(e->key + cl + 1, service_key) == 0))
        e = e->next;
    if (!e) {
        e = malloc(sizeof *e + cl + sl + 2);
        if (!e) {
            pthread_mutex_unlock(&g->rate_mu);
            return 0; /* no memory for accounting: let the call go rather than refuse it */
        }
        memcpy(e->key, consumer, cl);
        e->key[cl] = '\n';
        memcpy(e->key + cl + 1, service_key, sl + 1);
        e->tokens = (double)burst;
        e->last_ms = now_ms;
        e->next = g->rates[b];
        g->rates[b] = e;
    }
    if (now_ms > e->last_ms) {
        e->tokens += (double)(now_ms - e->last_ms) * (double)rate_per_s / 1000.0;
        e->last_ms = now_ms;
    }
    if (e->tokens > (double)burst)
        e->tokens = (double)burst;
    if (e->tokens >= 1.0)
        e->tokens -= 1.0;
    else
        wait_s = (int64_t)ceil((1.0 - e->tokens) / (double)rate_per_s);
    pthread_mutex_unlock(&g->rate_mu);
    return wait_s;
}

static struct breaker_entry *breaker_find(struct gw_guard *g, const char *provider, int create)
{
    size_t b = bucket_of(provider, NULL);
    struct breaker_entry *e = g->breakers[b];
    while (e && strcmp(e->provider, provider) != 0)
        e = e->next;
    if (!e && create) {
        size_t n = strlen(provider) + 1;
        e = calloc(1, sizeof *e + n);
        if (!e)
            return NULL;
        memcpy(e->provider, provider, n);
        e->next = g->breakers[b];
        g->breakers[b] = e;
    }
    return e;
}

enum gw_breaker_verdict gw_breaker_check(struct gw_guard *g, const char *provider, int64_t now_ms,
                                         int64_t *ret_retry_s)
{
    enum gw_breaker_verdict v = GW_BREAKER_PASS;
    pthread_mutex_lock(&g->breaker_mu);
    struct breaker_entry *e = breaker_find(g, provider, 0);
    if (e && e->state == OPEN) {
        if (now_ms >= e->open_until_ms) {
            e->state = HALF_OPEN; /* this call is the probe; others wait for its outcome */
            v = GW_BREAKER_PROBE;
        } else {
            v = GW_BREAKER_REFUSE;
            *ret_retry_s = (e->open_until_ms - now_ms + 999) / 1000;
        }
    } else if (e && e->state == HALF_OPEN) {
        v = GW_BREAKER_REFUSE;
        *ret_retry_s = 1;
    }
    pthread_mutex_unlock(&g->breaker_mu);
    return v;
}

void gw_breaker_report(struct gw_guard *g, const char *provider, int probe, int failed,
                       int64_t now_ms)
{
    pthread_mutex_lock(&g->breaker_mu);
    struct breaker_entry *e = breaker_find(g, provider, failed);
    if (!e) {
        pthread_mutex_unlock(&g->breaker_mu);
        return;
    }
    if (!failed) {
        if (e->state != CLOSED) {
            log_info("gateway: provider %s answered again: breaker closed", provider);
            g->n_open--;
        }
        e->state = CLOSED;
        e->failures = 0;
    } else if (e->state == HALF_OPEN ? probe : e->state == CLOSED) {
        /* A failure opens a closed breaker once the threshold is reached, or re-opens a
         * half-open one when it is the probe's. Late failures of calls that started before the
         * breaker opened change nothing. */
        if (e->state == HALF_OPEN || ++e->failures >= g->breaker_failures) {
            if (e->state == CLOSED) {
                g->n_open++;
                log_warn("gateway: provider %s failed %u times in a row: breaker open for %lld ms",
                         provider, e->failures, (long long)g->breaker_open_ms);
            }
            e->state = OPEN;
            e->open_until_ms = now_ms + g->breaker_open_ms;
        }
    }
    pthread_mutex_unlock(&g->breaker_mu);
}

unsigned gw_breakers_open(struct gw_guard *g)
{
    pthread_mutex_lock(&g->breaker_mu);
    unsigned n = g->n_open;
    pthread_mutex_unlock(&g->breaker_mu);
    return n;
}
