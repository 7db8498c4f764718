/* sigcheck — background verification of packages' XML signatures (see sigcheck.h). */
#include "exchange/sigcheck.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define BATCH 32
#define IDLE_MS 500

struct verdict {
    char id[STORE_ID_MAX + 1];
    int state;
};

struct sigcheck {
    struct store *st;
    struct committer *cm;
    const struct edxml_sig_config *cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, kicked, job_busy, job_ok;
    struct sig_job {
        struct commit_job job;
        struct sigcheck *owner;
        struct verdict v[BATCH];
        unsigned n;
    } job;
};

static enum store_rc job_execute(struct store *st, struct commit_job *cj)
{
    struct sig_job *j = (struct sig_job *)cj;
    for (unsigned i = 0; i < j->n; i++) {
        enum store_rc rc = st->package_set_signature(st->cls, j->v[i].id, j->v[i].state);
        if (rc < 0)
            return rc;
    }
    return STORE_ONE_RESULT;
}

static void job_done(struct commit_job *cj, int ok)
{
    struct sig_job *j = (struct sig_job *)cj;
    struct sigcheck *s = j->owner;
    pthread_mutex_lock(&s->mu);
    s->job_busy = 0;
    s->job_ok = ok;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* The verdict on one stored package; -1 when the store could not give it (it stays pending and
 * is taken again later). */
static int verdict(struct sigcheck *s, const char *id)
{
    struct store_package p = {0};
    enum store_rc rc = s->st->package_get(s->st->cls, id, &p);
    int state = -1;
    char *buf = NULL;
    if (rc == STORE_ONE_RESULT && (p.size < 0 || (uint64_t)p.size > s->cfg->max_bytes)) {
        state = EDXML_SIG_UNCHECKED;
    } else if (rc == STORE_ONE_RESULT && (buf = malloc(p.size ? (size_t)p.size : 1)) != NULL) {
        int64_t off = 0;
        size_t n = 0;
        while (off < p.size &&
               s->st->package_read(s->st->cls, id, off, buf + off, (size_t)(p.size - off), &n) ==
                   STORE_ONE_RESULT &&
               n > 0)
            off += (int64_t)n;
        char detail[160];
        if (off == p.size) {
            state = edxml_signature_verify(buf, (size_t)p.size, s->cfg, p.created_ms, detail,
                                           sizeof detail);
            if (state != EDXML_SIG_VALID)
                log_debug("sigcheck: package %s: signature %s: %s", id, edxml_signature_name(state),
                          detail);
        }
    }
    free(buf);
    store_package_clear(&p);
    return state;
}

static void *sigcheck_main(void *arg)
{
    struct sigcheck *s = arg;
    pthread_setname_np(pthread_self(), "lt-sigcheck");
    /* verdicts can wait; acceptances cannot. The lowest nice value, not SCHED_IDLE: this thread
     * takes locks others need (the store's pool, OpenSSL's), and a thread that never runs while
     * the machine is busy would hold them for as long */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    char ids[BATCH][STORE_ID_MAX + 1];
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        s->kicked = 0;
        pthread_mutex_unlock(&s->mu);
        unsigned n = 0;
        enum store_rc rc = s->st->signature_pending(s->st->cls, BATCH, ids, &n);
        struct sig_job *j = &s->job;
        j->n = 0;
        int stalled = 0;
        for (unsigned i = 0; rc == STORE_ONE_RESULT && i < n; i++) {
            int v = verdict(s, ids[i]);
            if (v < 0) {
                stalled = 1; /* the store failed: try these again later */
                continue;
            }
            snprintf(j->v[j->n].id, sizeof j->v[j->n].id, "%s", ids[i]);
            j->v[j->n++].state = v;
        }
        pthread_mutex_lock(&s->mu);
        if (j->n && !s->stop) {
            j->job = (struct commit_job){.execute = job_execute, .done = job_done, .lazy = 1};
            s->job_busy = 1;
            if (committer_submit(s->cm, &j->job) != 0)
                s->job_busy = 0;
            while (s->job_busy)
                pthread_cond_wait(&s->cv, &s->mu);
            if (s->job_ok && n == BATCH && !stalled)
                continue; /* more may be waiting */
        }
        if (!s->kicked && !s->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += IDLE_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

struct sigcheck *sigcheck_start(struct store *st, struct committer *cm,
                                const struct edxml_sig_config *cfg, char *err, size_t err_len)
{
    struct sigcheck *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->st = st;
    s->cm = cm;
    s->cfg = cfg;
    s->job.owner = s;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, sigcheck_main, s) != 0) {
        snprintf(err, err_len, "cannot start the signature thread: %s", strerror(errno));
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return NULL;
    }
    return s;
}

void sigcheck_kick(struct sigcheck *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->kicked = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void sigcheck_stop(struct sigcheck *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
