/* anchor — signing the transaction log's head (see anchor.h). */
#include "audit/anchor.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/timeutil.h"

#define ANCHOR_CHECK_MS 1000 /* how often the thread looks at the head */

size_t anchor_message(const struct store_anchor *a, char *out, size_t cap)
{
    int n = snprintf(out, cap, "lienthong-anchor/1\n%" PRId64 "\n%s\n%" PRId64 "\n%s\n%s\n", a->seq,
                     a->hash, a->time_ms, a->key_id, a->prev_signature);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

enum store_rc anchor_head(struct store *st, const struct sign_key *k, int64_t now_ms)
{
    struct store_anchor a = {0}, last = {0};
    enum store_rc rc = st->txlog_head(st->cls, &a.seq, a.hash);
    if (rc != STORE_ONE_RESULT)
        return rc; /* an empty log: nothing to sign */
    rc = st->anchor_last(st->cls, &last);
    if (rc < 0)
        return rc;
    if (rc == STORE_ONE_RESULT && last.seq >= a.seq)
        return STORE_NO_RESULTS;
    a.time_ms = now_ms;
    memcpy(a.prev_signature, rc == STORE_ONE_RESULT ? last.signature : "",
           rc == STORE_ONE_RESULT ? sizeof a.prev_signature : 1);
    char msg[512];
    size_t n;
    if (sign_key_id(k, a.key_id) != 0 || !(n = anchor_message(&a, msg, sizeof msg)) ||
        sign_message(k, msg, n, a.signature) != 0)
        return STORE_HARD_ERROR;
    return st->anchor_append(st->cls, &a);
}

struct anchorer {
    struct store *st;
    struct committer *cm;
    const struct sign_key *key;
    int64_t every_records, every_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, job_busy;
    struct anchor_job {
        struct commit_job job;
        struct anchorer *owner;
        int64_t signed_seq; /* the head signed, or -1 */
    } job;
};

static enum store_rc job_execute(struct store *st, struct commit_job *cj)
{
    struct anchor_job *j = (struct anchor_job *)cj;
    enum store_rc rc = anchor_head(st, j->owner->key, now_ms());
    return rc == STORE_NO_RESULTS ? STORE_ONE_RESULT : rc;
}

static void job_done(struct commit_job *cj, int ok)
{
    struct anchor_job *j = (struct anchor_job *)cj;
    struct anchorer *a = j->owner;
    if (!ok)
        log_error("audit: the transaction log's head could not be signed");
    pthread_mutex_lock(&a->mu);
    a->job_busy = 0;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void *anchor_main(void *arg)
{
    struct anchorer *a = arg;
    pthread_setname_np(pthread_self(), "lt-anchor");
    int64_t last_seq = -1, last_ms = 0;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        int64_t seq = 0;
        char hash[65];
        pthread_mutex_unlock(&a->mu);
        enum store_rc rc = a->st->txlog_head(a->st->cls, &seq, hash);
        int64_t now = now_ms();
        int due =
            rc == STORE_ONE_RESULT && seq > last_seq &&
            (last_seq < 0 || seq - last_seq >= a->every_records || now - last_ms >= a->every_ms);
        pthread_mutex_lock(&a->mu);
        if (due && !a->job_busy && !a->stop) {
            a->job.job = (struct commit_job){.execute = job_execute, .done = job_done, .lazy = 1};
            a->job_busy = 1;
            if (committer_submit(a->cm, &a->job.job) != 0) {
                a->job_busy = 0;
            } else {
                last_seq = seq;
                last_ms = now;
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ANCHOR_CHECK_MS / 1000;
        pthread_cond_timedwait(&a->cv, &a->mu, &ts);
    }
    while (a->job_busy) /* the committer still holds our job */
        pthread_cond_wait(&a->cv, &a->mu);
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

struct anchorer *anchorer_start(struct store *st, struct committer *cm, const struct sign_key *k,
                                int64_t every_records, int64_t every_ms, char *err, size_t err_len)
{
    struct anchorer *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    *a = (struct anchorer){.st = st,
                           .cm = cm,
                           .key = k,
                           .every_records = every_records > 0 ? every_records : 1,
                           .every_ms = every_ms > 0 ? every_ms : 1};
    a->job.owner = a;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (pthread_create(&a->thread, NULL, anchor_main, a) != 0) {
        snprintf(err, err_len, "cannot start the anchor thread: %s", strerror(errno));
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->cv);
        free(a);
        return NULL;
    }
    return a;
}

void anchorer_stop(struct anchorer *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}
