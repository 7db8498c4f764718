/* committer — group commit. Every state change of the exchange goes through one writer thread
 * that takes all jobs queued since its last commit, runs them in ONE write transaction and makes
 * it durable with ONE fsync, then reports to each job. Under load, many requests share each
 * fsync, so durability does not cost throughput; a lone request waits for one fsync only.
 *
 * A job's execute() runs inside the transaction on the committer thread; it must check before
 * it writes and leave nothing half-written when it refuses (set its own result and return
 * STORE_ONE_RESULT or STORE_NO_RESULTS). A HARD error aborts the whole batch (every job's done()
 * gets ok = 0); a SOFT error retries the batch. execute() may run more than once, so it must
 * derive everything afresh from its inputs. done() runs after the commit, on the committer
 * thread, and owns the job from then on (it frees it or hands it on). */
#ifndef LT_STORE_COMMITTER_H
#define LT_STORE_COMMITTER_H

#include "store/store.h"

struct commit_job {
    enum store_rc (*execute)(struct store *st, struct commit_job *job);
    void (*done)(struct commit_job *job, int ok);
    /* Nobody waits for this job (e.g. the record of a call already answered): the committer may
     * hold it back up to COMMITTER_LAZY_MS to commit it with others. */
    int lazy;
    struct commit_job *next; /* queue link, owned by the committer */
};

#define COMMITTER_LAZY_MS 20

struct committer;

struct committer *committer_start(struct store *st, char *err, size_t err_len);
/* Queues a job. Returns 0, or -1 when the committer is stopping (the job is untouched). */
int committer_submit(struct committer *c, struct commit_job *job);
/* Runs the jobs still queued, then stops the thread; later submissions return -1 (the object
 * stays valid for them until committer_free). Idempotent; accepts NULL. */
void committer_stop(struct committer *c);
void committer_free(struct committer *c); /* stops first if needed; accepts NULL */
/* Batches committed and jobs run since start (for /metrics). */
void committer_counts(struct committer *c, uint64_t *ret_batches, uint64_t *ret_jobs);

/* Whether the store commits: failing from the first batch that could not be committed until one
 * is again (a probe counts). */
struct committer_health {
    int failing;
    int64_t since_ms;  /* failing: since when (wall clock) */
    uint64_t failures; /* batches that could not be committed, since start */
    char reason[240];  /* failing: the store's last error */
};
void committer_health(struct committer *c, struct committer_health *ret);
/* While failing, queues one probe (a small write) unless one is queued already, so that health
 * comes back by itself once the store commits again, traffic or not. Any thread. */
void committer_probe(struct committer *c);

#endif
