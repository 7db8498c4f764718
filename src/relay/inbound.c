/* inbound — pulling the peer's inbox and tracking what became of the packages we sent it (see
 * relay.h). One thread per peer; every call to the peer is bounded by the call timeout. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relay/accept.h"
#include "relay/relay_int.h"
#include "relay/vxpclient.h"
#include "util/log.h"
#include "util/timeutil.h"

#define PROMPT_GAP_MS 200 /* a pull prompted by activity waits at least this after the last */
#define TRACK_MAX 24      /* getSentEdocList asks per row: 1 s doubling to 10 min, ~3 hours */
#define TRACK_CAP_MS 600000
#define TRACK_BATCH 64   /* rows asked about in one getSentEdocList: its headers stay under 8 KB */
#define TRACK_SINGLES 32 /* rows asked about alone per round (a peer without the list form) */

/* Packages this puller refused (acknowledged "fail"): a peer may keep listing them, and they
 * must not take the room of the packages behind them. The newest REFUSED_MAX are kept, in
 * memory: after a restart each is fetched and refused once more. Puller thread only. */
static int refused_has(const struct peer_rt *p, const char *id)
{
    for (size_t i = 0; i < p->n_refused; i++)
        if (strcmp(p->refused[i], id) == 0)
            return 1;
    return 0;
}

static void refused_add(struct peer_rt *p, const char *id)
{
    if (!p->refused && !(p->refused = calloc(REFUSED_MAX, sizeof *p->refused)))
        return;
    snprintf(p->refused[p->refused_next], REMOTE_ID_MAX, "%s", id);
    p->refused_next = (p->refused_next + 1) % REFUSED_MAX;
    if (p->n_refused < REFUSED_MAX)
        p->n_refused++;
}

/* --- pulled packages ---------------------------------------------------------------------------
 */

struct pull_batch {
    pthread_mutex_t mu;
    pthread_cond_t done;
    unsigned pending;
};

struct pull_job {
    struct accept_job a; /* first */
    struct pull_batch *batch;
    struct buf bytes;
    size_t pos;
    char remote_id[REMOTE_ID_MAX];
    int committed; /* done() with ok */
};

static long mem_read(void *ctx, void *out, size_t cap)
{
    struct pull_job *j = ctx;
    size_t left = j->bytes.len - j->pos;
    if (cap > left)
        cap = left;
    memcpy(out, j->bytes.data + j->pos, cap);
    j->pos += cap;
    return (long)cap;
}

static int mem_rewind(void *ctx)
{
    ((struct pull_job *)ctx)->pos = 0;
    return 0;
}

static void pull_done(struct commit_job *cj, int ok)
{
    struct pull_job *j = (struct pull_job *)cj;
    j->committed = ok;
    if (ok && !j->a.duplicate && j->a.err == LT_ERR_OK)
        accept_after_commit(&j->a);
    pthread_mutex_lock(&j->batch->mu);
    if (--j->batch->pending == 0)
        pthread_cond_signal(&j->batch->done);
    pthread_mutex_unlock(&j->batch->mu);
}

static void pull_job_free(struct pull_job *j)
{
    if (!j)
        return;
    accept_job_clear(&j->a);
    buf_free(&j->bytes);
    free(j);
}

/* Builds the accept job of a fetched package: its recipient is the organ the peer's inbox entry
 * was routed for ("to"), else what the package names. LT_ERR_OK or why it cannot be taken. */
static enum lt_err prepare(struct peer_rt *p, struct pull_job *j, const char *mt, const char *to,
                           struct buf *detail)
{
    struct accept_job *a = &j->a;
    enum store_msgtype type = strcmp(mt, "status") == 0 ? STORE_MSG_STATUS : STORE_MSG_EDOC;
    struct edxml_package *pkg = NULL;
    struct edxml_error perr = {0};
    if (edxml_parse_memory(j->bytes.data ? j->bytes.data : "", j->bytes.len, p->relay->lim, NULL,
                           &pkg, &perr) != 0) {
        buf_printf(detail, "%s", perr.message);
        return perr.code;
    }
    enum lt_err e = LT_ERR_OK;
    if (edxml_check_routable(pkg, type == STORE_MSG_STATUS ? EDXML_STATUS : EDXML_EDOC, &perr)) {
        buf_printf(detail, "%s", perr.message);
        e = perr.code;
    } else if (to && *to && edxml_organ_id_ok(to)) {
        e = accept_add_recipient(a, to) ? LT_ERR_INTERNAL : LT_ERR_OK;
    } else {
        e = accept_package_recipients(a, pkg, type, detail);
    }
    if (e == LT_ERR_OK && accept_take_package(a, pkg) != 0)
        e = LT_ERR_INTERNAL;
    edxml_package_free(pkg);
    if (e != LT_ERR_OK)
        return e;

    uint8_t d[SHA256_LEN];
    char sha[SHA256_HEX_SIZE];
    if (sha256(j->bytes.data ? j->bytes.data : "", j->bytes.len, d) != 0)
        return LT_ERR_INTERNAL;
    hex_encode(d, SHA256_LEN, sha);
    snprintf(a->actor, sizeof a->actor, "peer:%s", p->cfg.name);
    a->operation_prefix = "relay.in";
    a->relay = p->relay;
    a->meta.messagetype = type;
    a->meta.sender_system = strdup(a->actor);
    a->meta.sha256 = strdup(sha);
    a->meta.size = (int64_t)j->bytes.len;
    a->read = mem_read;
    a->rewind = mem_rewind;
    a->read_ctx = j;
    a->pulled_peer = strdup(p->cfg.name);
    a->pulled_doc_id = strdup(j->remote_id);
    a->job.execute = accept_execute;
    a->job.done = pull_done;
    if (!a->meta.sender_system || !a->meta.sha256 || !a->pulled_peer || !a->pulled_doc_id)
        return LT_ERR_INTERNAL;
    return LT_ERR_OK;
}

/* Acknowledges one package at the peer; an unreachable peer is noted (the next round retries,
 * and the package, already here, is then recognised by its docId). */
static void ack(struct peer_rt *p, struct vxp_client *c, const char *id, const char *status)
{
    enum vxp_result r = vxp_update_status(c, id, status);
    if (r == VXP_FAILED)
        log_warn("relay: peer %s refused updateStatus %s of %s: %s %s", p->cfg.name, status, id,
                 vxp_client_error_code(c), vxp_client_error(c));
    pthread_mutex_lock(&p->mu);
    relay_note_call(p, r != VXP_UNREACHABLE, vxp_client_error(c));
    pthread_mutex_unlock(&p->mu);
}

/* One inbox listing of the peer, handled: the number of packages taken, or -1 when the peer
 * could not be reached. */
static int pull_list(struct peer_rt *p, struct vxp_client *c, const char *mt)
{
    struct store *st = p->relay->st;
    json_t *items = NULL;
    enum vxp_result r = vxp_received_list(c, mt, &items);
    pthread_mutex_lock(&p->mu);
    relay_note_call(p, r != VXP_UNREACHABLE, vxp_client_error(c));
    pthread_mutex_unlock(&p->mu);
    if (r != VXP_OK) {
        if (r == VXP_FAILED)
            log_warn("relay: peer %s refused getReceivedEdocList: %s %s", p->cfg.name,
                     vxp_client_error_code(c), vxp_client_error(c));
        return r == VXP_UNREACHABLE ? -1 : 0;
    }
    size_t total = json_array_size(items), n = total;
    if (n > p->relay->cfg.pull_batch)
        n = p->relay->cfg.pull_batch;
    struct pull_job **jobs = calloc(n ? n : 1, sizeof *jobs);
    struct pull_batch batch = {.pending = 0};
    pthread_mutex_init(&batch.mu, NULL);
    pthread_cond_init(&batch.done, NULL);
    int taken = 0, unreachable = 0;
    size_t used = 0; /* items considered this round, at most n */
    for (size_t k = 0; jobs && k < total && used < n && !unreachable; k++) {
        json_t *it = json_array_get(items, k);
        const char *id = json_string_value(json_object_get(it, "docId"));
        const char *to = json_string_value(json_object_get(it, "to"));
        if (!id || !*id || strlen(id) >= REMOTE_ID_MAX || refused_has(p, id))
            continue; /* refused before: a peer that keeps failed entries lists it again */
        size_t i = used++;
        char local[DOCID_HEX_SIZE];
        enum store_rc rc = st->inbound_find(st->cls, p->cfg.name, id, local);
        if (rc == STORE_ONE_RESULT) { /* taken before a crash, not acknowledged: now */
            ack(p, c, id, "done");
            taken++;
            continue;
        }
        if (rc < 0)
            break;
        struct pull_job *j = calloc(1, sizeof *j);
        if (!j)
            break;
        j->batch = &batch;
        snprintf(j->remote_id, sizeof j->remote_id, "%s", id);
        r = vxp_get_edoc(c, id, &j->bytes);
        if (r != VXP_OK) {
            unreachable = r == VXP_UNREACHABLE;
            if (r == VXP_FAILED)
                log_warn("relay: peer %s refused getEdoc %s: %s %s", p->cfg.name, id,
                         vxp_client_error_code(c), vxp_client_error(c));
            pthread_mutex_lock(&p->mu);
            relay_note_call(p, !unreachable, vxp_client_error(c));
            pthread_mutex_unlock(&p->mu);
            pull_job_free(j);
            continue;
        }
        struct buf detail = {0};
        enum lt_err e = prepare(p, j, mt, to, &detail);
        if (e != LT_ERR_OK) {
            /* Never acceptable here: say so at the peer, where its sender sees it. */
            log_warn("relay: package %s from peer %s refused: %s %s", id, p->cfg.name,
                     lt_err_name(e), detail.data ? detail.data : "");
            buf_free(&detail);
            pull_job_free(j);
            ack(p, c, id, "fail");
            refused_add(p, id);
            continue;
        }
        buf_free(&detail);
        jobs[i] = j;
        pthread_mutex_lock(&batch.mu);
        batch.pending++;
        pthread_mutex_unlock(&batch.mu);
        if (committer_submit(p->relay->cm, &j->a.job) != 0)
            pull_done(&j->a.job, 0);
    }
    pthread_mutex_lock(&batch.mu);
    while (batch.pending > 0)
        pthread_cond_wait(&batch.done, &batch.mu);
    pthread_mutex_unlock(&batch.mu);
    for (size_t i = 0; jobs && i < n; i++) {
        struct pull_job *j = jobs[i];
        if (!j)
            continue;
        if (j->committed && j->a.err == LT_ERR_OK) {
            ack(p, c, j->remote_id, "done");
            taken++;
        } else if (j->committed) {
            log_warn("relay: package %s from peer %s refused: %s %s", j->remote_id, p->cfg.name,
                     lt_err_name(j->a.err), j->a.detail.data ? j->a.detail.data : "");
            ack(p, c, j->remote_id, "fail");
            refused_add(p, j->remote_id);
        } /* not committed: left at the peer for the next round */
        pull_job_free(j);
    }
    free(jobs);
    pthread_mutex_destroy(&batch.mu);
    pthread_cond_destroy(&batch.done);
    json_decref(items);
    return unreachable ? -1 : taken;
}

/* --- tracking ----------------------------------------------------------------------------------
 */

/* The outcome of one page of tracked rows, written in one transaction. */
struct track_job {
    struct commit_job job;
    struct peer_rt *p;
    size_t n;
    struct store_outbox *rows; /* owned, n of them */
    json_t **states;           /* per row {organ: receiveStatus} */
    struct pull_batch *wait;   /* the puller waits for the commit */
};

static enum store_rc track_execute(struct store *st, struct commit_job *cj)
{
    struct track_job *j = (struct track_job *)cj;
    int64_t now = now_ms();
    enum store_rc rc = STORE_NO_RESULTS;
    for (size_t i = 0; i < j->n && rc >= 0; i++) {
        const char *organ;
        json_t *v;
        json_object_foreach(j->states[i], organ, v)
        {
            rc = st->delivery_set_remote(st->cls, j->rows[i].id, organ, json_string_value(v), now);
            if (rc < 0)
                return rc;
        }
        rc = st->outbox_update(st->cls, &j->rows[i]);
    }
    return rc;
}

static void track_done(struct commit_job *cj, int ok)
{
    (void)ok; /* rows not updated are due again: the next round asks once more */
    struct track_job *j = (struct track_job *)cj;
    struct peer_rt *p = j->p;
    for (size_t i = 0; i < j->n; i++) {
        store_outbox_clear(&j->rows[i]);
        json_decref(j->states[i]);
    }
    free(j->rows);
    free(j->states);
    pthread_mutex_lock(&j->wait->mu);
    if (--j->wait->pending == 0)
        pthread_cond_signal(&j->wait->done);
    pthread_mutex_unlock(&j->wait->mu);
    free(j);
    relay_job_over(p);
}

struct track_list {
    struct store_outbox *v;
    size_t n;
};

static int collect_track(void *ctx, const struct store_outbox *o)
{
    struct track_list *l = ctx;
    struct store_outbox *nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv)
        return 1;
    l->v = nv;
    if (store_outbox_copy(&l->v[l->n], o) != 0)
        return 1;
    l->n++;
    return 0;
}

static void track_list_clear(struct track_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        store_outbox_clear(&l->v[i]);
    free(l->v);
    *l = (struct track_list){0};
}

/* What the peer said of row o (r, and its getSentEdocList items): the recipients' states, and
 * o's next tracking time. NULL when out of memory. */
static json_t *track_outcome(struct store_outbox *o, enum vxp_result r, json_t *items)
{
    json_t *states = json_object();
    json_t *want = json_loads(o->recipients, 0, NULL);
    int final = r == VXP_OK && json_array_size(want) > 0;
    size_t k;
    json_t *it;
    json_array_foreach(items, k, it)
    {
        const char *to = json_string_value(json_object_get(it, "toCode"));
        const char *rs = json_string_value(json_object_get(it, "receiveStatus"));
        if (states && to && rs && *rs)
            json_object_set_new(states, to, json_string(rs));
    }
    json_array_foreach(want, k, it)
    {
        const char *s = json_string_value(json_object_get(states, json_string_value(it)));
        if (!s || strcmp(s, "done") != 0)
            final = 0;
    }
    json_decref(want);
    o->track_count++;
    int64_t wait = 1000;
    for (int n = 0; n < o->track_count && wait < TRACK_CAP_MS; n++)
        wait *= 2;
    /* the peer does not know the package (FAIL): nothing more to learn */
    o->track_next_ms = final || r == VXP_FAILED || o->track_count >= TRACK_MAX
                           ? 0
                           : now_ms() + (wait < TRACK_CAP_MS ? wait : TRACK_CAP_MS);
    o->updated_ms = now_ms();
    return states;
}

static void note_unreachable(struct peer_rt *p, struct vxp_client *c)
{
    pthread_mutex_lock(&p->mu);
    relay_note_call(p, 0, vxp_client_error(c));
    pthread_mutex_unlock(&p->mu);
}

/* Asks about the rows of one messagetype in one call (docId "a,b,...", see op_sent.c): each row
 * the answer names gets its items in got[i]. A peer that knows only the one-id form answers
 * FAIL or nothing, and those rows are asked one by one. -1 when unreachable. */
static int track_batch(struct vxp_client *c, struct track_list *l, enum store_msgtype mt,
                       json_t **got)
{
    struct buf ids = {0};
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        const char *id = l->v[i].remote_doc_id;
        if (l->v[i].messagetype != mt || !*id || strchr(id, ','))
            continue;
        buf_printf(&ids, "%s%s", n++ ? "," : "", id);
    }
    if (n < 2) { /* one id: the plain form is the same call */
        buf_free(&ids);
        return 0;
    }
    json_t *items = NULL;
    enum vxp_result r =
        ids.data ? vxp_sent_list(c, store_msgtype_name(mt), ids.data, &items) : VXP_FAILED;
    buf_free(&ids);
    if (r == VXP_UNREACHABLE)
        return -1;
    size_t k;
    json_t *it;
    json_array_foreach(items, k, it)
    {
        const char *sd = json_string_value(json_object_get(it, "senderDocId"));
        for (size_t i = 0; sd && i < l->n; i++) {
            if (l->v[i].messagetype != mt || strcmp(l->v[i].remote_doc_id, sd) != 0)
                continue;
            if (!got[i])
                got[i] = json_array();
            json_array_append(got[i], it);
            break;
        }
    }
    json_decref(items);
    return 0;
}

/* Asks the peer about one page of rows due and writes what it said, waiting for the commit (the
 * next page must not list these rows again). At most *singles rows are asked one by one: a
 * peer without the list form must not hold the pulls back. -1 when unreachable, 1 when rows
 * were left for the next round. */
static int track_page(struct peer_rt *p, struct vxp_client *c, struct track_list *l,
                      unsigned *singles)
{
    json_t **got = calloc(l->n, sizeof *got);
    json_t **states = calloc(l->n, sizeof *states);
    if (!got || !states) {
        free(got);
        free(states);
        return 0;
    }
    int unreachable = 0, left = 0;
    for (int mt = STORE_MSG_EDOC; mt <= STORE_MSG_STATUS && !unreachable; mt++)
        unreachable = track_batch(c, l, (enum store_msgtype)mt, got) < 0;
    size_t n = 0;
    for (size_t i = 0; i < l->n && !unreachable; i++) {
        struct store_outbox *o = &l->v[i];
        json_t *items = got[i];
        enum vxp_result r = VXP_OK;
        if (!items && *singles == 0) {
            left = 1;
            continue;
        }
        if (!items) { /* not in a batch answer: on its own */
            --*singles;
            r = vxp_sent_list(c, store_msgtype_name(o->messagetype), o->remote_doc_id, &items);
        }
        if (r == VXP_UNREACHABLE) {
            unreachable = 1;
            break;
        }
        states[i] = track_outcome(o, r, items);
        json_decref(items);
        got[i] = NULL;
        n += states[i] != NULL;
    }
    if (unreachable)
        note_unreachable(p, c);
    for (size_t i = 0; i < l->n; i++)
        json_decref(got[i]);
    free(got);
    struct track_job *j = n && !unreachable ? calloc(1, sizeof *j) : NULL;
    struct store_outbox *rows = j ? calloc(n, sizeof *rows) : NULL;
    json_t **jstates = rows ? calloc(n, sizeof *jstates) : NULL;
    if (!jstates) {
        free(j);
        free(rows);
        for (size_t i = 0; i < l->n; i++)
            json_decref(states[i]);
        free(states);
        return unreachable ? -1 : left;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (!states[i])
            continue;
        rows[j->n] = l->v[i];
        jstates[j->n++] = states[i];
        memset(&l->v[i], 0, sizeof l->v[i]);
    }
    free(states);
    struct pull_batch wait = {.pending = 1};
    pthread_mutex_init(&wait.mu, NULL);
    pthread_cond_init(&wait.done, NULL);
    j->job.execute = track_execute;
    j->job.done = track_done;
    j->p = p;
    j->rows = rows;
    j->states = jstates;
    j->wait = &wait;
    relay_submit(p, &j->job);
    pthread_mutex_lock(&wait.mu);
    while (wait.pending > 0)
        pthread_cond_wait(&wait.done, &wait.mu);
    pthread_mutex_unlock(&wait.mu);
    pthread_mutex_destroy(&wait.mu);
    pthread_cond_destroy(&wait.done);
    return left;
}

/* Asks the peer what became of the recipients of rows it took, a page of TRACK_BATCH rows at a
 * time, up to track_per_round rows: -1 when unreachable, 1 when more rows may be due at a
 * peer that answers the list form. */
static int track_round(struct peer_rt *p, struct vxp_client *c)
{
    struct store *st = p->relay->st;
    unsigned left = p->relay->cfg.track_per_round, singles = TRACK_SINGLES;
    while (left > 0) {
        unsigned want = left < TRACK_BATCH ? left : TRACK_BATCH;
        struct track_list l = {0};
        if (st->outbox_track_due(st->cls, p->cfg.name, now_ms(), want, collect_track, &l) < 0) {
            track_list_clear(&l);
            return 0;
        }
        size_t got = l.n;
        left -= got < left ? (unsigned)got : left;
        int rc = got ? track_page(p, c, &l, &singles) : 0;
        track_list_clear(&l);
        if (rc < 0)
            return -1;
        if (rc > 0 || got < want) /* a peer asked one row at a time waits for the interval */
            return 0;
    }
    return 1;
}

/* --- the loop ----------------------------------------------------------------------------------
 */

void *relay_puller_main(void *arg)
{
    struct peer_rt *p = arg;
    pthread_setname_np(pthread_self(), "lt-relay-pull");
    struct vxp_client *c = vxp_client_new(p->cfg.endpoint, p->cfg.system_id, p->cfg.secret,
                                          p->relay->cfg.call_timeout_ms);
    if (!c) {
        log_error("relay: peer %s: cannot create a client", p->cfg.name);
        return NULL;
    }
    int64_t interval = p->cfg.pull_interval_ms > 0 ? p->cfg.pull_interval_ms : 2000;
    int64_t last = 0, next = 0;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        int64_t now = now_ms();
        if (p->pull_soon && last + PROMPT_GAP_MS < next)
            next = last + PROMPT_GAP_MS;
        /* a peer backed off is not pulled before its next call is due */
        if (p->health != STORE_PEER_UP && next < p->next_ms)
            next = p->next_ms;
        if (now >= next) {
            p->pull_soon = 0;
            pthread_mutex_unlock(&p->mu);
            int got = 0, down = 0;
            for (int k = 0; k < 2 && !down; k++) {
                int n = pull_list(p, c, k == 0 ? "edoc" : "status");
                down = n < 0;
                got += n > 0 ? n : 0;
            }
            int behind = !down && track_round(p, c) > 0;
            last = now_ms();
            next = got > 0 || behind ? last : last + interval; /* more may wait: at once again */
            pthread_mutex_lock(&p->mu);
            continue;
        }
        struct timespec ts;
        relay_deadline(&ts, next - now);
        pthread_cond_timedwait(&p->pull, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    vxp_client_free(c);
    return NULL;
}
