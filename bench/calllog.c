/* calllog — the cost of recording gateway calls through the committer, without HTTP.
 *
 * Opens a store in a fresh temporary directory (or -d DIR), starts a committer and submits N
 * jobs shaped like the gateway's call record (src/gateway/gateway.c log_execute: one
 * call_insert and one txlog_append each) from T threads. Each thread keeps at most W jobs in
 * flight (when full, it waits until half of them completed), so batches form as they do under a
 * steady request stream rather than from one queue of N jobs.
 *
 * Reported: jobs per second (wall time from the first submission to the last completion), the
 * committer thread's CPU time per job (RUSAGE_THREAD read on that thread by a probe job before
 * and after the run: the figure the writer's throughput depends on), the whole process's CPU
 * time per job (RUSAGE_SELF, submitters included), and batches. Then the chain is verified
 * (audit_verify, not timed). CPU time excludes waiting for fsync; jobs/s includes it.
 *
 * Usage: calllog [-n jobs] [-t threads] [-w window] [-d dir] [-k]
 *   -n 200000  -t 2  -w 256; -d: data directory to use (default: a new one under $TMPDIR or
 *   /tmp, removed afterwards unless -k). Exit status 0, 1 when a job failed or the chain does
 *   not verify, 2 on bad usage.
 * Output ends with one line: RESULT jobs=.. threads=.. jobs_per_s=.. committer_cpu_us_per_job=..
 * process_cpu_us_per_job=.. batches=.. elapsed_s=.. */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/chain.h"
#include "store/committer.h"
#include "store/store.h"
#include "util/timeutil.h"

#define MAX_THREADS 64

struct bench {
    struct committer *cm;
    long per_thread;
    long window;
    long total;
    pthread_mutex_t mu;
    pthread_cond_t all_done; /* done == total */
    long done;               /* jobs completed (all threads) */
    long failed;
    struct {
        long inflight;
        int waiting; /* the submitter waits for inflight to fall to window / 2 */
        pthread_cond_t cv;
    } th[MAX_THREADS];
};

struct call_job {
    struct commit_job job;
    struct bench *b;
    int thread;
    struct store_call call;
    int64_t time_ms;
    char request_id[48];
    char digest[65];
    char path[48];
};

static const char resp_sha[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

static enum store_rc call_execute(struct store *st, struct commit_job *cj)
{
    struct call_job *j = (struct call_job *)cj;
    enum store_rc rc = st->call_insert(st->cls, &j->call);
    if (rc != STORE_ONE_RESULT)
        return rc;
    struct store_txrec rec = {.time_ms = j->time_ms,
                              .actor = j->call.consumer,
                              .operation = "call",
                              .package_id = j->request_id,
                              .content_sha256 = j->digest,
                              .outcome = "ok"};
    return st->txlog_append(st->cls, &rec);
}

static void call_done(struct commit_job *cj, int ok)
{
    struct call_job *j = (struct call_job *)cj;
    struct bench *b = j->b;
    int t = j->thread;
    free(j);
    /* Wakes a submitter only once half its window has drained, so that waking costs the
     * committer thread little next to the work measured. */
    pthread_mutex_lock(&b->mu);
    b->done++;
    if (!ok)
        b->failed++;
    b->th[t].inflight--;
    if (b->th[t].waiting && b->th[t].inflight <= b->window / 2)
        pthread_cond_signal(&b->th[t].cv);
    if (b->done == b->total)
        pthread_cond_signal(&b->all_done);
    pthread_mutex_unlock(&b->mu);
}

/* A job that writes nothing and, in done() (on the committer thread), reads that thread's CPU
 * time. */
struct probe_job {
    struct commit_job job;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished;
    double cpu_s;
};

static enum store_rc probe_execute(struct store *st, struct commit_job *cj)
{
    (void)st;
    (void)cj;
    return STORE_NO_RESULTS;
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void probe_done(struct commit_job *cj, int ok)
{
    struct probe_job *p = (struct probe_job *)cj;
    (void)ok;
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    pthread_mutex_lock(&p->mu);
    p->cpu_s = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
    p->finished = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int probe(struct committer *cm, double *ret_cpu_s)
{
    struct probe_job p = {.job = {.execute = probe_execute, .done = probe_done}};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    if (committer_submit(cm, &p.job) != 0)
        return -1;
    pthread_mutex_lock(&p.mu);
    while (!p.finished)
        pthread_cond_wait(&p.cv, &p.mu);
    pthread_mutex_unlock(&p.mu);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    *ret_cpu_s = p.cpu_s;
    return 0;
}

struct submitter {
    struct bench *b;
    int id;
    long submitted;
};

static void *submit_main(void *arg)
{
    struct submitter *s = arg;
    struct bench *b = s->b;
    for (long i = 0; i < b->per_thread; i++) {
        pthread_mutex_lock(&b->mu);
        if (b->th[s->id].inflight >= b->window) {
            b->th[s->id].waiting = 1;
            while (b->th[s->id].inflight > b->window / 2)
                pthread_cond_wait(&b->th[s->id].cv, &b->mu);
            b->th[s->id].waiting = 0;
        }
        b->th[s->id].inflight++;
        pthread_mutex_unlock(&b->mu);

        struct call_job *j = calloc(1, sizeof *j);
        if (!j) {
            fprintf(stderr, "calllog: out of memory\n");
            exit(1);
        }
        j->b = b;
        j->thread = s->id;
        j->time_ms = now_ms();
        snprintf(j->request_id, sizeof j->request_id, "%08x-0000-4000-8000-%012lx", (unsigned)s->id,
                 (unsigned long)i);
        snprintf(j->path, sizeof j->path, "/citizens/%ld", i % 100000);
        /* Stands for the digest of the call's fields that the gateway computes on its own
         * threads (not the committer's work). */
        snprintf(j->digest, sizeof j->digest, "%016lx%016x%032d", (unsigned long)i, (unsigned)s->id,
                 7);
        j->call = (struct store_call){
            .time_ms = j->time_ms,
            .request_id = j->request_id,
            .consumer = "000.00.01.H34",
            .provider = "000.00.13.H34",
            .service_code = "hotich",
            .service_version = "v1",
            .method = "GET",
            .path = j->path,
            .status = 200,
            .error = "",
            .duration_us = 850 + i % 300,
            .upstream_us = 600 + i % 200,
            .bytes_in = 0,
            .bytes_out = 512 + i % 64,
            .request_sha256 = "",
            .response_sha256 = resp_sha,
        };
        j->job.execute = call_execute;
        j->job.done = call_done;
        if (committer_submit(b->cm, &j->job) != 0) {
            fprintf(stderr, "calllog: committer stopped\n");
            exit(1);
        }
        s->submitted++;
    }
    return NULL;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_store_dir(const char *dir)
{
    static const char *const files[] = {"lienthong.db", "lienthong.db-wal", "lienthong.db-shm",
                                        "lienthong.gen"};
    char path[4200];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    return rmdir(dir);
}

int main(int argc, char **argv)
{
    long n = 200000, window = 256;
    int threads = 2, keep = 0;
    const char *dir_arg = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:t:w:d:k")) != -1) {
        switch (opt) {
        case 'n':
            n = atol(optarg);
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'w':
            window = atol(optarg);
            break;
        case 'd':
            dir_arg = optarg;
            break;
        case 'k':
            keep = 1;
            break;
        default:
            fprintf(stderr, "usage: calllog [-n jobs] [-t threads] [-w window] [-d dir] [-k]\n");
            return 2;
        }
    }
    if (n < 1 || threads < 1 || threads > MAX_THREADS || window < 1) {
        fprintf(stderr, "calllog: -n >= 1, 1 <= -t <= 64, -w >= 1\n");
        return 2;
    }

    char tmpl[4096];
    const char *dir = dir_arg;
    if (!dir) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpl, sizeof tmpl, "%s/calllog-XXXXXX", base && *base ? base : "/tmp");
        dir = mkdtemp(tmpl);
        if (!dir) {
            perror("calllog: mkdtemp");
            return 1;
        }
    }
    char err[256] = "";
    struct store *st = store_sqlite_open(dir, err, sizeof err);
    if (!st) {
        fprintf(stderr, "calllog: %s\n", err);
        return 1;
    }
    static struct bench b;
    b.per_thread = n / threads;
    b.window = window;
    n = b.total = b.per_thread * threads;
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.all_done, NULL);
    for (int i = 0; i < threads; i++)
        pthread_cond_init(&b.th[i].cv, NULL);
    b.cm = committer_start(st, err, sizeof err);
    if (!b.cm) {
        fprintf(stderr, "calllog: %s\n", err);
        return 1;
    }

    double cpu0 = 0, cpu1 = 0;
    if (probe(b.cm, &cpu0) != 0)
        return 1;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = mono_s();

    pthread_t th[MAX_THREADS];
    struct submitter subs[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        subs[i] = (struct submitter){.b = &b, .id = i};
        if (pthread_create(&th[i], NULL, submit_main, &subs[i]) != 0) {
            fprintf(stderr, "calllog: cannot start a thread\n");
            return 1;
        }
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_lock(&b.mu);
    while (b.done < n)
        pthread_cond_wait(&b.all_done, &b.mu);
    pthread_mutex_unlock(&b.mu);

    double t1 = mono_s();
    getrusage(RUSAGE_SELF, &ru1);
    if (probe(b.cm, &cpu1) != 0)
        return 1;
    committer_stop(b.cm);
    uint64_t batches_all, jobs_all;
    committer_counts(b.cm, &batches_all, &jobs_all);
    committer_free(b.cm);

    double elapsed = t1 - t0;
    double proc_cpu =
        tv_s(ru1.ru_utime) + tv_s(ru1.ru_stime) - tv_s(ru0.ru_utime) - tv_s(ru0.ru_stime);
    /* Each probe ran alone in its batch (nothing else was queued). */
    uint64_t batches = batches_all - 2;
    printf("jobs %ld from %d threads (window %ld each), %" PRIu64 " batches (%.1f jobs/batch)\n", n,
           threads, window, batches, batches ? (double)n / (double)batches : 0.0);
    printf("elapsed %.3f s: %.0f jobs/s\n", elapsed, (double)n / elapsed);
    printf("committer thread CPU %.3f s: %.2f us/job\n", cpu1 - cpu0,
           (cpu1 - cpu0) * 1e6 / (double)n);
    printf("process CPU %.3f s: %.2f us/job\n", proc_cpu, proc_cpu * 1e6 / (double)n);

    int status = 0;
    if (b.failed) {
        fprintf(stderr, "calllog: %ld jobs failed\n", b.failed);
        status = 1;
    }
    struct audit_report rep;
    if (audit_verify(st, &rep) != 0 || !rep.ok || rep.records < n) {
        fprintf(stderr, "calllog: chain does not verify: %s\n", rep.reason);
        status = 1;
    } else {
        printf("chain: %s\n", rep.reason);
    }
    printf("RESULT jobs=%ld threads=%d jobs_per_s=%.0f committer_cpu_us_per_job=%.2f"
           " process_cpu_us_per_job=%.2f batches=%" PRIu64 " elapsed_s=%.3f\n",
           n, threads, (double)n / elapsed, (cpu1 - cpu0) * 1e6 / (double)n,
           proc_cpu * 1e6 / (double)n, batches, elapsed);

    store_close(st);
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.all_done);
    for (int i = 0; i < threads; i++)
        pthread_cond_destroy(&b.th[i].cv);
    if (!dir_arg && !keep && rm_store_dir(dir) != 0)
        fprintf(stderr, "calllog: could not remove %s\n", dir);
    else if (!dir_arg && keep)
        printf("data directory kept: %s\n", dir);
    return status;
}
