/* committer — group commit on one writer thread (see committer.h for the contract). */
#include "store/committer.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util/log.h"
#include "util/timeutil.h"

#define MAX_BATCH 512  /* jobs in one transaction */
#define LAZY_BATCH 256 /* lazy jobs that are worth a commit without waiting longer */
#define MAX_RETRIES 8  /* soft errors (busy database) before failing the batch */

struct committer {
    struct store *st;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct commit_job *head, *tail;
    unsigned n_queued, n_eager; /* jobs queued; those someone waits for */
    int64_t first_ns;           /* when the oldest queued job arrived (about) */
    int stopping;
    uint64_t batches, jobs;
    struct committer_health health;
    int probe_queued;
    struct commit_job probe;
};

static struct commit_job *take_batch(struct committer *c)
{
    struct commit_job *first = c->head, *last = c->head;
    unsigned n = 1, eager = !first->lazy;
    while (last->next && n < MAX_BATCH) {
        last = last->next;
        n++;
        eager += !last->lazy;
    }
    c->head = last->next;
    if (!c->head)
        c->tail = NULL;
    last->next = NULL;
    c->n_queued -= n;
    c->n_eager -= eager;
    c->first_ns = c->head ? mono_ns() : 0;
    return first;
}

/* Runs the batch in one transaction. Returns 1 when committed, 0 when it failed for good. */
static int run_batch(struct committer *c, struct commit_job *batch)
{
    struct store *st = c->st;
    for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
        if (attempt) {
            struct timespec ts = {0, 1000000L << (attempt < 6 ? attempt : 6)};
            nanosleep(&ts, NULL);
        }
        enum store_rc rc = st->write_begin(st->cls);
        if (rc == STORE_SOFT_ERROR)
            continue;
        if (rc == STORE_HARD_ERROR)
            return 0;
        for (struct commit_job *j = batch; j; j = j->next) {
            rc = j->execute(st, j);
            if (rc < 0)
                break;
        }
        if (rc < 0) {
            st->write_rollback(st->cls);
            if (rc == STORE_SOFT_ERROR)
                continue;
            log_error("committer: batch failed in a job, rolled back");
            return 0;
        }
        rc = st->write_commit(st->cls);
        if (rc == STORE_ONE_RESULT || rc == STORE_NO_RESULTS)
            return 1;
        st->write_rollback(st->cls);
        if (rc == STORE_HARD_ERROR) {
            log_error("committer: commit failed");
            return 0;
        }
    }
    log_error("committer: database busy, batch failed after %d attempts", MAX_RETRIES);
    return 0;
}

static void *committer_main(void *arg)
{
    struct committer *c = arg;
    pthread_setname_np(pthread_self(), "lt-commit");
    pthread_mutex_lock(&c->mu);
    for (;;) {
        /* Wait for a job someone waits for, enough lazy ones, or the oldest lazy one's time. */
        while (!c->stopping) {
            if (!c->head) {
                pthread_cond_wait(&c->cv, &c->mu);
                continue;
            }
            if (c->n_eager || c->n_queued >= LAZY_BATCH)
                break;
            int64_t due = c->first_ns + (int64_t)COMMITTER_LAZY_MS * 1000000;
            if (mono_ns() >= due)
                break;
            struct timespec ts = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        }
        if (!c->head)
            break;
        struct commit_job *batch = take_batch(c);
        pthread_mutex_unlock(&c->mu);

        int ok = run_batch(c, batch);
        char reason[200] = "";
        if (!ok)
            c->st->last_error(c->st->cls, reason, sizeof reason);
        pthread_mutex_lock(&c->mu);
        if (!ok) {
            c->health.failures++;
            if (!c->health.failing) {
                c->health.failing = 1;
                c->health.since_ms = now_ms();
                log_error("committer: the store cannot commit: %s", *reason ? reason : "unknown");
            }
            snprintf(c->health.reason, sizeof c->health.reason, "the store cannot commit: %s",
                     *reason ? reason : "see the log");
        } else if (c->health.failing) {
            c->health.failing = 0;
            c->health.reason[0] = '\0';
            log_warn("committer: the store commits again");
        }
        pthread_mutex_unlock(&c->mu);
        uint64_t n = 0;
        while (batch) {
            struct commit_job *next = batch->next;
            batch->next = NULL;
            batch->done(batch, ok);
            batch = next;
            n++;
        }
        pthread_mutex_lock(&c->mu);
        c->batches++;
        c->jobs += n;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

void committer_health(struct committer *c, struct committer_health *ret)
{
    pthread_mutex_lock(&c->mu);
    *ret = c->health;
    pthread_mutex_unlock(&c->mu);
}

static enum store_rc probe_execute(struct store *st, struct commit_job *j)
{
    (void)j;
    return st->probe_write(st->cls, now_ms());
}

static void probe_done(struct commit_job *j, int ok)
{
    struct committer *c = (struct committer *)((char *)j - offsetof(struct committer, probe));
    (void)ok;
    pthread_mutex_lock(&c->mu);
    c->probe_queued = 0;
    pthread_mutex_unlock(&c->mu);
}

void committer_probe(struct committer *c)
{
    pthread_mutex_lock(&c->mu);
    int go = c->health.failing && !c->probe_queued && !c->stopping;
    if (go) {
        c->probe_queued = 1;
        c->probe = (struct commit_job){.execute = probe_execute, .done = probe_done};
    }
    pthread_mutex_unlock(&c->mu);
    if (go && committer_submit(c, &c->probe) != 0) {
        pthread_mutex_lock(&c->mu);
        c->probe_queued = 0;
        pthread_mutex_unlock(&c->mu);
    }
}

struct committer *committer_start(struct store *st, char *err, size_t err_len)
{
    struct committer *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    c->st = st;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the lazy deadline is monotonic */
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        snprintf(err, err_len, "cannot start the committer thread");
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c);
        return NULL;
    }
    return c;
}

int committer_submit(struct committer *c, struct commit_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->stopping) {
        pthread_mutex_unlock(&c->mu);
        return -1;
    }
    int was_empty = !c->head;
    if (c->tail)
        c->tail->next = job;
    else
        c->head = job;
    c->tail = job;
    c->n_queued++;
    if (!job->lazy)
        c->n_eager++;
    if (was_empty)
        c->first_ns = mono_ns();
    /* A lazy job wakes the thread only to start its clock or when the batch is full: under load
     * the call log costs no wake-up per call. */
    if (!job->lazy || was_empty || c->n_queued == LAZY_BATCH)
        pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void committer_counts(struct committer *c, uint64_t *ret_batches, uint64_t *ret_jobs)
{
    pthread_mutex_lock(&c->mu);
    *ret_batches = c->batches;
    *ret_jobs = c->jobs;
    pthread_mutex_unlock(&c->mu);
}

void committer_stop(struct committer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    int was = c->stopping;
    c->stopping = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (!was)
        pthread_join(c->thread, NULL);
}

void committer_free(struct committer *c)
{
    if (!c)
        return;
    committer_stop(c);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
