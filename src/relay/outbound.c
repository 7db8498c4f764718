/* outbound — the peer's outbox on its way out (see relay.h): a scheduler claims due rows, the
 * workers send them, outcomes go through the committer. A row is "in flight" from its claim
 * until the scan after its outcome was committed, so that no scan claims it twice (a scan whose
 * read began before that commit still sees the row due). Once sent, a row no longer takes the
 * room of a row to send: its outcome only waits for the committer. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relay/relay_int.h"
#include "relay/vxpclient.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SCAN_MS 250 /* due rows of retries and rows a kick missed are found within this */

static struct relay_inflight *inflight_find(struct peer_rt *p, const char *id)
{
    for (size_t i = 0; i < p->n_inflight; i++)
        if (strcmp(p->inflight[i].id, id) == 0)
            return &p->inflight[i];
    return NULL;
}

static void inflight_remove(struct peer_rt *p, const char *id)
{
    struct relay_inflight *f = inflight_find(p, id);
    if (f)
        *f = p->inflight[--p->n_inflight];
}

/* Before a scan reads the store: rows whose outcome is committed are seen there as they are. */
static void inflight_purge(struct peer_rt *p)
{
    for (size_t i = 0; i < p->n_inflight;)
        if (p->inflight[i].state == RELAY_ROW_SETTLED)
            p->inflight[i] = p->inflight[--p->n_inflight];
        else
            i++;
    p->n_settled = 0;
}

static void inflight_set(struct peer_rt *p, const char *id, enum relay_row_state from,
                         enum relay_row_state to)
{
    struct relay_inflight *f = inflight_find(p, id);
    if (f && f->state == from)
        f->state = to;
}

/* --- outcomes ----------------------------------------------------------------------------------
 */

struct outcome_job {
    struct commit_job job;
    struct peer_rt *p;
    struct store_outbox row; /* owned */
    const char *record;      /* txlog outcome to write ("ok", "undeliverable"), NULL = none */
};

static enum store_rc outcome_execute(struct store *st, struct commit_job *cj)
{
    struct outcome_job *j = (struct outcome_job *)cj;
    enum store_rc rc = st->outbox_update(st->cls, &j->row);
    if (rc < 0 || !j->record)
        return rc;
    char actor[STORE_ID_MAX + 8], op[32];
    snprintf(actor, sizeof actor, "peer:%s", j->p->cfg.name);
    snprintf(op, sizeof op, "relay.out.%s", store_msgtype_name(j->row.messagetype));
    struct store_txrec rec = {.time_ms = j->row.updated_ms,
                              .actor = actor,
                              .operation = op,
                              .package_id = j->row.package_id,
                              .content_sha256 = "",
                              .outcome = j->record};
    return st->txlog_append(st->cls, &rec);
}

static void outcome_done(struct commit_job *cj, int ok)
{
    struct outcome_job *j = (struct outcome_job *)cj;
    struct peer_rt *p = j->p;
    if (!ok)
        log_error("relay: the outcome of outbox row %s (peer %s) was not stored; it is sent again",
                  j->row.id, p->cfg.name);
    pthread_mutex_lock(&p->mu);
    if (ok) {
        inflight_set(p, j->row.id, RELAY_ROW_SENT, RELAY_ROW_SETTLED);
        p->n_settled++;
    } else {
        inflight_remove(p, j->row.id); /* as it is in the store: due */
    }
    p->n_sent--;
    pthread_mutex_unlock(&p->mu);
    store_outbox_clear(&j->row);
    free(j);
    relay_job_over(p);
}

static char *set_str(char **dst, const char *v)
{
    char *n = strdup(v ? v : "");
    if (n) {
        free(*dst);
        *dst = n;
    }
    return n;
}

/* --- one attempt -------------------------------------------------------------------------------
 */

#define READ_STEP (64 * 1024)
#define KEEP_BYTES (1024 * 1024) /* a worker keeps buffers up to this between attempts */

/* The package's bytes, read straight into out (which a worker reuses from one row to the
 * next, so that sending allocates nothing in the common case). */
static int read_package(struct store *st, const char *id, struct buf *out)
{
    int64_t off = 0;
    for (;;) {
        if (buf_reserve(out, READ_STEP) != 0)
            return -1;
        size_t n = 0;
        if (st->package_read(st->cls, id, off, out->data + out->len, out->cap - out->len - 1, &n) !=
            STORE_ONE_RESULT)
            return -1;
        out->len += n;
        out->data[out->len] = '\0';
        if (n == 0)
            return 0;
        off += (int64_t)n;
    }
}

/* Empties a worker's buffer for the next row; one grown by a big package is given back. */
static void recycle(struct buf *b)
{
    if (b->cap > KEEP_BYTES)
        buf_free(b);
    else
        buf_reset(b);
}

/* Sends one row and hands its outcome to the committer. Called without p->mu. raw and traced:
 * the worker's buffers. */
static void attempt(struct peer_rt *p, struct vxp_client *c, struct store_outbox *row,
                    struct buf *raw, struct buf *traced)
{
    struct relay *r = p->relay;
    const struct buf *doc = raw;
    char remote_id[128] = "", error[600] = "";
    enum vxp_result res;
    if (read_package(r->st, row->package_id, raw) != 0) {
        res = VXP_FAILED;
        snprintf(error, sizeof error, "package %s cannot be read here", row->package_id);
    } else {
        if (row->insert_offset >= 0) {
            if (edxml_trace_splice(raw->data, raw->len, row->insert_offset, row->insert_text,
                                   traced) == 0)
                doc = traced;
            else
                log_warn("relay: package %s: the TraceHeader does not fit the stored bytes; sent "
                         "unchanged",
                         row->package_id);
        }
        res = vxp_send_edoc(c, store_msgtype_name(row->messagetype), row->recipients,
                            doc->data ? doc->data : "", doc->len, remote_id, sizeof remote_id);
        if (res == VXP_FAILED)
            snprintf(error, sizeof error, "%s: %s", vxp_client_error_code(c), vxp_client_error(c));
        else if (res == VXP_UNREACHABLE)
            snprintf(error, sizeof error, "%s", vxp_client_error(c));
    }
    recycle(raw);
    recycle(traced);

    int64_t now = now_ms();
    struct outcome_job *j = calloc(1, sizeof *j);
    if (!j) {
        pthread_mutex_lock(&p->mu);
        inflight_remove(p, row->id);
        pthread_mutex_unlock(&p->mu);
        store_outbox_clear(row);
        return;
    }
    j->job.execute = outcome_execute;
    j->job.done = outcome_done;
    j->job.lazy = 1; /* a lost outcome only means the same bytes again, which the peer dedupes */
    j->p = p;
    j->row = *row; /* takes the strings */
    memset(row, 0, sizeof *row);
    struct store_outbox *o = &j->row;
    o->attempts++;
    o->updated_ms = now;
    if (res == VXP_OK) {
        o->state = STORE_RELAY_SENT;
        set_str(&o->remote_doc_id, remote_id);
        set_str(&o->last_error, "");
        o->track_next_ms = now + 1000;
        o->track_count = 0;
        j->record = "ok";
    } else if (o->attempts >= (int)r->cfg.max_attempts) {
        o->state = STORE_RELAY_UNDELIVERABLE;
        set_str(&o->last_error, error);
        j->record = "undeliverable";
        log_warn("relay: package %s undeliverable to %s after %d attempts: %s", o->package_id,
                 p->cfg.name, o->attempts, error);
    } else {
        o->next_ms = now + relay_backoff_ms(&r->cfg, o->attempts);
        set_str(&o->last_error, error);
    }
    pthread_mutex_lock(&p->mu);
    relay_note_call(p, res != VXP_UNREACHABLE, error);
    if (res == VXP_OK && !p->pull_soon) {
        p->pull_soon = 1; /* answers (status packages) may follow */
        pthread_cond_signal(&p->pull);
    }
    inflight_set(p, j->row.id, RELAY_ROW_SENDING, RELAY_ROW_SENT);
    p->n_sent++;
    if (p->backlog) /* room for another row */
        pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->mu);
    relay_submit(p, &j->job);
}

void *relay_worker_main(void *arg)
{
    struct peer_rt *p = arg;
    pthread_setname_np(pthread_self(), "lt-relay-send");
    struct vxp_client *c = vxp_client_new(p->cfg.endpoint, p->cfg.system_id, p->cfg.secret,
                                          p->relay->cfg.call_timeout_ms);
    if (!c) {
        log_error("relay: peer %s: cannot create a client", p->cfg.name);
        return NULL;
    }
    struct buf raw = {0}, traced = {0};
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (p->q_len == 0) {
            pthread_cond_wait(&p->work, &p->mu);
            continue;
        }
        int probe = 0;
        if (p->health != STORE_PEER_UP) {
            int64_t now = now_ms();
            if (now < p->next_ms) {
                struct timespec ts;
                relay_deadline(&ts, p->next_ms - now);
                pthread_cond_timedwait(&p->work, &p->mu, &ts);
                continue;
            }
            if (p->probing) {
                pthread_cond_wait(&p->work, &p->mu);
                continue;
            }
            p->probing = probe = 1;
        }
        struct store_outbox row = p->queue[0];
        memmove(p->queue, p->queue + 1, (p->q_len - 1) * sizeof *p->queue);
        p->q_len--;
        pthread_mutex_unlock(&p->mu);
        attempt(p, c, &row, &raw, &traced);
        pthread_mutex_lock(&p->mu);
        if (probe) {
            p->probing = 0;
            pthread_cond_broadcast(&p->work);
        }
    }
    pthread_mutex_unlock(&p->mu);
    buf_free(&raw);
    buf_free(&traced);
    vxp_client_free(c);
    return NULL;
}

/* --- the scheduler -----------------------------------------------------------------------------
 */

struct due_list {
    struct peer_rt *p;
    size_t want; /* rows not in flight to collect; then the scan stops */
    struct store_outbox *v;
    size_t n, cap;
    int oom;
};

static int collect_due(void *ctx, const struct store_outbox *o)
{
    struct due_list *l = ctx;
    pthread_mutex_lock(&l->p->mu);
    int claimed = inflight_find(l->p, o->id) != NULL;
    pthread_mutex_unlock(&l->p->mu);
    if (claimed)
        return 0; /* claimed rows stay in flight until the scan after their outcome */
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct store_outbox *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) {
            l->oom = 1;
            return 1;
        }
        l->v = nv;
        l->cap = cap;
    }
    if (store_outbox_copy(&l->v[l->n], o) != 0)
        l->oom = 1;
    else
        l->n++;
    return l->oom || l->n == l->want;
}

/* Under p->mu: queues o for a worker (taking its strings) unless it is in flight already or
 * there is no room. 1 when queued. */
static int claim(struct peer_rt *p, struct store_outbox *o)
{
    if (inflight_find(p, o->id) || p->q_len >= p->q_cap || p->n_inflight >= p->inflight_cap)
        return 0;
    struct relay_inflight *f = &p->inflight[p->n_inflight++];
    memcpy(f->id, o->id, UUID_SIZE);
    f->state = RELAY_ROW_SENDING;
    p->queue[p->q_len++] = *o;
    memset(o, 0, sizeof *o);
    return 1;
}

/* Room for rows to send (queued or being sent), under p->mu. */
static size_t room_of(const struct peer_rt *p)
{
    size_t active = p->n_inflight - p->n_sent - p->n_settled;
    size_t room = active < p->q_cap ? p->q_cap - active : 0;
    size_t held = p->n_inflight - p->n_settled; /* what the next purge leaves */
    size_t free_slots = p->inflight_cap > held ? p->inflight_cap - held : 0;
    return room < free_slots ? room : free_slots;
}

int relay_outbound_offer(struct peer_rt *p, struct store_outbox *row)
{
    /* a peer backing off takes rows one probe at a time, from the scheduler's scans */
    if (p->stop || p->health != STORE_PEER_UP || p->n_inflight >= p->inflight_cap ||
        room_of(p) == 0 || !claim(p, row)) {
        p->kicked = 1;
        pthread_cond_broadcast(&p->wake);
        return 0;
    }
    pthread_cond_signal(&p->work);
    return 1;
}

static void *scheduler_main(void *arg)
{
    struct peer_rt *p = arg;
    pthread_setname_np(pthread_self(), "lt-relay-sched");
    struct store *st = p->relay->st;
    int64_t next_scan = 0;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        int64_t now = now_ms();
        size_t room = room_of(p);
        if ((p->kicked || p->backlog || now >= next_scan) && room > 0) {
            p->kicked = 0;
            inflight_purge(p);
            /* rows in flight are still due in the store: ask for them too, and skip them */
            size_t skip = p->n_inflight, asked = skip + room;
            pthread_mutex_unlock(&p->mu);
            struct due_list l = {.p = p, .want = room};
            enum store_rc rc =
                st->outbox_due(st->cls, p->cfg.name, now, (unsigned)asked, collect_due, &l);
            pthread_mutex_lock(&p->mu);
            size_t claimed = 0;
            for (size_t i = 0; i < l.n; i++) {
                /* a row offered during the scan is in flight already: claim() refuses it */
                if (rc >= 0 && !l.oom && room > 0 && claim(p, &l.v[i])) {
                    room--;
                    claimed++;
                } else {
                    store_outbox_clear(&l.v[i]);
                }
            }
            p->backlog = rc >= 0 && !l.oom && l.n == l.want;
            free(l.v);
            if (rc < 0 || l.oom)
                log_error("relay: peer %s: cannot read the outbox", p->cfg.name);
            if (claimed == 1)
                pthread_cond_signal(&p->work);
            else if (claimed > 1)
                pthread_cond_broadcast(&p->work);
            next_scan = now + SCAN_MS;
            continue;
        }
        struct timespec ts;
        relay_deadline(&ts, next_scan > now ? next_scan - now : SCAN_MS);
        pthread_cond_timedwait(&p->wake, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int relay_outbound_start(struct peer_rt *p)
{
    unsigned n = p->relay->cfg.workers;
    p->q_cap = 2 * (size_t)n;
    p->queue = calloc(p->q_cap, sizeof *p->queue);
    /* the in-flight set also holds the settling rows: a committer batch of outcomes per worker */
    p->inflight_cap = 4 * p->q_cap + n;
    p->inflight = calloc(p->inflight_cap, sizeof *p->inflight);
    p->workers = calloc(n, sizeof *p->workers);
    if (!p->queue || !p->inflight || !p->workers)
        return -1;
    int fail = 0;
    for (unsigned i = 0; i < n && !fail; i++) {
        fail = pthread_create(&p->workers[i], NULL, relay_worker_main, p) != 0;
        if (!fail)
            p->n_workers++;
    }
    if (!fail)
        fail = pthread_create(&p->scheduler, NULL, scheduler_main, p) != 0;
    if (!fail)
        p->started_scheduler = 1;
    if (!fail)
        fail = pthread_create(&p->puller, NULL, relay_puller_main, p) != 0;
    if (!fail)
        p->started_puller = 1;
    if (fail) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->work);
        pthread_cond_broadcast(&p->wake);
        pthread_cond_broadcast(&p->pull);
        pthread_mutex_unlock(&p->mu);
        for (unsigned i = 0; i < p->n_workers; i++)
            pthread_join(p->workers[i], NULL);
        if (p->started_scheduler)
            pthread_join(p->scheduler, NULL);
        return -1;
    }
    return 0;
}
