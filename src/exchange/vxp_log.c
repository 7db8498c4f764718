/* vxp_log — transaction-log records that need no reply: queued to the committer and written
 * with its next batch (see vxp_log_async in vxp.h). */
#include <stdlib.h>
#include <string.h>

#include "store/committer.h"
#include "exchange/vxp.h"
#include "util/log.h"
#include "util/timeutil.h"

struct log_job {
    struct commit_job job;
    int64_t time_ms;
    char actor[STORE_ID_MAX + 1];
    char operation[32];
    char package_id[STORE_ID_MAX + 1];
    char sha256[65];
    char outcome[48];
};

static enum store_rc log_execute(struct store *st, struct commit_job *cj)
{
    struct log_job *j = (struct log_job *)cj;
    struct store_txrec rec = {.time_ms = j->time_ms,
                              .actor = j->actor,
                              .operation = j->operation,
                              .package_id = j->package_id,
                              .content_sha256 = j->sha256,
                              .outcome = j->outcome};
    return st->txlog_append(st->cls, &rec);
}

static void log_done(struct commit_job *cj, int ok)
{
    if (!ok)
        log_error("transaction log: a record could not be written");
    free(cj);
}

void vxp_log_async(struct app *app, const char *actor, const char *operation,
                   const char *package_id, const char *sha256, const char *outcome)
{
    struct log_job *j = calloc(1, sizeof *j);
    if (!j) {
        log_error("transaction log: out of memory");
        return;
    }
    j->time_ms = now_ms();
    snprintf(j->actor, sizeof j->actor, "%s", actor);
    snprintf(j->operation, sizeof j->operation, "%s", operation);
    snprintf(j->package_id, sizeof j->package_id, "%s", package_id ? package_id : "");
    snprintf(j->sha256, sizeof j->sha256, "%s", sha256 ? sha256 : "");
    snprintf(j->outcome, sizeof j->outcome, "%s", outcome);
    j->job.execute = log_execute;
    j->job.done = log_done;
    j->job.lazy = 1; /* nobody waits for it */
    if (committer_submit(app->committer, &j->job) != 0)
        free(j);
}
