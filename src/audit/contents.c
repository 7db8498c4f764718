/* contents — the deep part of audit verify: what the chained records stand for.
 *
 * Packages. Every record of an accepted package (send.edoc, send.status, relay.in.edoc,
 * relay.in.status, outcome ok) names the package (package_id = its DocId) and carries the
 * SHA-256 of its bytes (content_sha256). The package row must carry the same SHA-256, and its
 * bytes, read back chunk by chunk from the store, must hash to it: a flipped bit on disk, a
 * chunk rewritten by hand, or a row whose recorded hash was changed to match altered bytes
 * (the log's copy did not change) are all found. Memory: one chunk.
 *
 * Gateway calls. A call's record carries the digest of its call row (audit_call_digest) and its
 * request id as package_id; the rows are read in time order beside the log walk, a window at a
 * time (a row is written in the transaction of its record, and the record is later than the
 * call's arrival), and each record must find an unaltered row; a row no record claims was added
 * by hand. Request ids are the client's (they may repeat): a record matches a row with the same
 * id and digest. Memory: the calls of the window and those still in flight. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_int.h"
#include "util/crypto.h"

#define CALL_BUCKETS 65536
#define CALL_WINDOW_MS 1000
/* A row older than this behind the record being checked has no record: it was inserted. A call
 * lasts at most its service's timeout (at most an hour). */
#define CALL_ORPHAN_MS (2 * 3600 * 1000LL)

struct call_entry {
    char *request_id;
    char digest[65];
    int64_t time_ms;
    struct call_entry *bucket_next;
    struct call_entry *prev, *next; /* arrival order */
};

struct audit_contents {
    struct store *st;
    struct audit_report *rep;
    uint8_t *chunk;
    struct call_entry *buckets[CALL_BUCKETS];
    struct call_entry *oldest, *newest;
    int64_t loaded_to; /* call rows with time < loaded_to are in the window (0: none yet) */
    int failed;        /* a store error while loading rows */
};

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h & (CALL_BUCKETS - 1);
}

/* One more mismatch of a kind: counted, the first one described. */
static void mismatch(struct audit_contents *c, int64_t *count, char *first, size_t first_len,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void mismatch(struct audit_contents *c, int64_t *count, char *first, size_t first_len,
                     const char *fmt, ...)
{
    (*count)++;
    c->rep->ok = 0;
    if (first[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(first, first_len, fmt, ap);
    va_end(ap);
}

#define package_mismatch(c, ...)                                                                   \
    mismatch(c, &(c)->rep->package_mismatches, (c)->rep->first_package,                            \
             sizeof(c)->rep->first_package, __VA_ARGS__)
#define call_mismatch(c, ...)                                                                      \
    mismatch(c, &(c)->rep->call_mismatches, (c)->rep->first_call, sizeof(c)->rep->first_call,      \
             __VA_ARGS__)

struct audit_contents *contents_new(struct store *st, struct audit_report *rep)
{
    struct audit_contents *c = calloc(1, sizeof *c);
    if (c && !(c->chunk = malloc(STORE_CHUNK_SIZE))) {
        free(c);
        return NULL;
    }
    if (c) {
        c->st = st;
        c->rep = rep;
    }
    return c;
}

/* --- packages --- */

static int is_acceptance(const struct store_txrec *r)
{
    static const char *const ops[] = {"send.edoc", "send.status", "relay.in.edoc",
                                      "relay.in.status"};
    if (!r->outcome || strcmp(r->outcome, "ok") != 0)
        return 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(r->operation, ops[i]) == 0)
            return 1;
    return 0;
}

static int check_package(struct audit_contents *c, const struct store_txrec *r)
{
    struct store *st = c->st;
    struct store_package p = {0};
    enum store_rc rc = st->package_get(st->cls, r->package_id, &p);
    if (rc < 0)
        return -1;
    c->rep->packages++;
    if (rc == STORE_NO_RESULTS) {
        package_mismatch(c, "package %s (record %" PRId64 "): missing from the store",
                         r->package_id, r->seq);
        return 0;
    }
    int ret = 0;
    if (!p.sha256 || strcmp(p.sha256, r->content_sha256) != 0) {
        package_mismatch(c,
                         "package %s (record %" PRId64 "): the store records SHA-256 %s, the "
                         "log %s",
                         r->package_id, r->seq, p.sha256 ? p.sha256 : "-", r->content_sha256);
        goto out;
    }
    struct sha256_ctx h;
    if (sha256_init(&h) != 0) {
        ret = -1;
        goto out;
    }
    int64_t off = 0;
    while (off < p.size) {
        size_t n = 0;
        rc = st->package_read(st->cls, p.id, off, c->chunk, STORE_CHUNK_SIZE, &n);
        if (rc != STORE_ONE_RESULT || n == 0)
            break;
        sha256_update(&h, c->chunk, n);
        off += (int64_t)n;
    }
    uint8_t d[SHA256_LEN];
    char hex[SHA256_HEX_SIZE];
    if (sha256_final(&h, d) != 0) {
        ret = -1;
        goto out;
    }
    hex_encode(d, SHA256_LEN, hex);
    if (off != p.size)
        package_mismatch(c,
                         "package %s (record %" PRId64 "): %" PRId64 " of its %" PRId64
                         " bytes could be read",
                         r->package_id, r->seq, off, p.size);
    else if (strcmp(hex, r->content_sha256) != 0)
        package_mismatch(c,
                         "package %s (record %" PRId64 "): its bytes hash to %s, recorded %s "
                         "(bytes altered)",
                         r->package_id, r->seq, hex, r->content_sha256);
out:
    store_package_clear(&p);
    return ret;
}

/* --- gateway calls --- */

static void unlink_entry(struct audit_contents *c, struct call_entry *e)
{
    struct call_entry **pp = &c->buckets[hash_id(e->request_id)];
    while (*pp && *pp != e)
        pp = &(*pp)->bucket_next;
    if (*pp)
        *pp = e->bucket_next;
    if (e->prev)
        e->prev->next = e->next;
    else
        c->oldest = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->newest = e->prev;
    free(e->request_id);
    free(e);
}

static int add_row(void *ctx, const struct store_call *row)
{
    struct audit_contents *c = ctx;
    struct call_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->request_id = strdup(row->request_id ? row->request_id : ""))) {
        free(e);
        c->failed = 1;
        return 1;
    }
    audit_call_digest(row, e->digest);
    e->time_ms = row->time_ms;
    uint32_t b = hash_id(e->request_id);
    e->bucket_next = c->buckets[b];
    c->buckets[b] = e;
    e->prev = c->newest;
    if (c->newest)
        c->newest->next = e;
    else
        c->oldest = e;
    c->newest = e;
    return 0;
}

/* Loads the call rows up to `until` (exclusive) into the window. */
static int load_until(struct audit_contents *c, int64_t until)
{
    if (until <= c->loaded_to)
        return 0;
    /* call_scan's from 0 means "from the beginning" */
    if (c->st->call_scan(c->st->cls, c->loaded_to, until, add_row, c) < 0 || c->failed)
        return -1;
    c->loaded_to = until;
    return 0;
}

/* Rows arrived before `before` that no record claimed. */
static void orphans(struct audit_contents *c, int64_t before)
{
    while (c->oldest && c->oldest->time_ms < before) {
        struct call_entry *e = c->oldest;
        c->rep->calls++;
        call_mismatch(c,
                      "gateway call %s of %" PRId64 " ms: a call row no record of the log claims "
                      "(row inserted)",
                      e->request_id, e->time_ms);
        unlink_entry(c, e);
    }
}

static int check_call(struct audit_contents *c, const struct store_txrec *r)
{
    if (load_until(c, r->time_ms + CALL_WINDOW_MS) != 0)
        return -1;
    c->rep->calls++;
    struct call_entry *same_id = NULL;
    for (struct call_entry *e = c->buckets[hash_id(r->package_id)]; e; e = e->bucket_next) {
        if (strcmp(e->request_id, r->package_id) != 0)
            continue;
        if (strcmp(e->digest, r->content_sha256) == 0) {
            unlink_entry(c, e);
            orphans(c, r->time_ms - CALL_ORPHAN_MS);
            return 0;
        }
        same_id = e;
    }
    if (same_id)
        call_mismatch(c, "gateway call %s (record %" PRId64 "): its row was altered", r->package_id,
                      r->seq);
    else
        call_mismatch(c, "gateway call %s (record %" PRId64 "): its row is missing", r->package_id,
                      r->seq);
    orphans(c, r->time_ms - CALL_ORPHAN_MS);
    return 0;
}

int contents_record(struct audit_contents *c, const struct store_txrec *r)
{
    if (is_acceptance(r))
        return check_package(c, r);
    if (strcmp(r->operation, "call") == 0)
        return check_call(c, r);
    return 0;
}

int contents_finish(struct audit_contents *c, int64_t last_record_ms)
{
    /* Rows the walk's records could not have covered (committed after it read the log) are
     * not judged: only those older than the last record by a call's longest life. */
    if (last_record_ms > 0 && load_until(c, last_record_ms + 1) != 0)
        return -1;
    orphans(c, last_record_ms - CALL_ORPHAN_MS);
    return 0;
}

void contents_free(struct audit_contents *c)
{
    if (!c)
        return;
    while (c->oldest)
        unlink_entry(c, c->oldest);
    free(c->chunk);
    free(c);
}
