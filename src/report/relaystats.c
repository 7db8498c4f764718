/* relaystats — see relaystats.h. */
#include "report/relaystats.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/table.h"

struct collect {
    struct relaystats_result r;
    int oom;
};

static int collect_cb(void *ctx, const struct store_relay_stats_row *src)
{
    struct collect *c = ctx;
    if (!*src->peer) {
        c->r.internal_edoc = src->sent_edoc;
        c->r.internal_status = src->sent_status;
        return 0;
    }
    struct relaystats_row *nr = realloc(c->r.rows, (c->r.n + 1) * sizeof *nr);
    if (!nr) {
        c->oom = 1;
        return 1;
    }
    c->r.rows = nr;
    struct relaystats_row *row = &nr[c->r.n];
    *row = (struct relaystats_row){.peer = strdup(src->peer),
                                   .sent_edoc = src->sent_edoc,
                                   .sent_status = src->sent_status,
                                   .pending = src->pending,
                                   .undeliverable = src->undeliverable,
                                   .received_edoc = src->received_edoc,
                                   .received_status = src->received_status};
    if (!row->peer) {
        c->oom = 1;
        return 1;
    }
    c->r.n++;
    return 0;
}

void relaystats_result_clear(struct relaystats_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->rows[i].peer);
    free(r->rows);
    memset(r, 0, sizeof *r);
}

int relaystats_collect(struct store *s, int64_t from_ms, int64_t to_ms,
                       struct relaystats_result *ret)
{
    struct collect c = {0};
    enum store_rc rc = s->relay_stats(s->cls, from_ms, to_ms, collect_cb, &c);
    if (rc < 0 || c.oom) {
        relaystats_result_clear(&c.r);
        return -1;
    }
    *ret = c.r;
    return 0;
}

json_t *relaystats_to_json(const struct relaystats_result *r)
{
    json_t *peers = json_array();
    for (size_t i = 0; peers && i < r->n; i++) {
        const struct relaystats_row *p = &r->rows[i];
        json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "peer", p->peer, "documents_sent",
                              (json_int_t)p->sent_edoc, "status_sent", (json_int_t)p->sent_status,
                              "pending", (json_int_t)p->pending, "undeliverable",
                              (json_int_t)p->undeliverable, "documents_received",
                              (json_int_t)p->received_edoc, "status_received",
                              (json_int_t)p->received_status);
        if (!o || json_array_append_new(peers, o) != 0) {
            json_decref(peers);
            return NULL;
        }
    }
    if (!peers)
        return NULL;
    return json_pack("{s:o,s:{s:I,s:I}}", "peers", peers, "internal", "documents",
                     (json_int_t)r->internal_edoc, "status", (json_int_t)r->internal_status);
}

#define N_COLS 6

void relaystats_print_text(const struct relaystats_result *r, FILE *f)
{
    static const char *const headers[N_COLS] = {"VB gửi đi",  "Gói TT gửi đi",
                                                "Chờ chuyển", "Không chuyển được",
                                                "VB nhận về", "Gói TT nhận về"};
    static const char h_peer[] = "Nền tảng kết nối";
    size_t w_peer = utf8_width(h_peer, strlen(h_peer)), w[N_COLS];
    for (int i = 0; i < N_COLS; i++)
        w[i] = utf8_width(headers[i], strlen(headers[i]));
    for (size_t k = 0; k < r->n; k++) {
        size_t pw = utf8_width(r->rows[k].peer, strlen(r->rows[k].peer));
        if (pw > w_peer)
            w_peer = pw;
    }
    table_cell(f, h_peer, w_peer, 0);
    for (int i = 0; i < N_COLS; i++) {
        fputs("  ", f);
        table_cell(f, headers[i], w[i], 1);
    }
    fputc('\n', f);
    for (size_t k = 0; k < r->n; k++) {
        const struct relaystats_row *p = &r->rows[k];
        int64_t v[N_COLS] = {p->sent_edoc,     p->sent_status,   p->pending,
                             p->undeliverable, p->received_edoc, p->received_status};
        table_cell(f, p->peer, w_peer, 0);
        for (int i = 0; i < N_COLS; i++) {
            char num[24];
            snprintf(num, sizeof num, "%" PRId64, v[i]);
            fputs("  ", f);
            table_cell(f, num, w[i], 1);
        }
        fputc('\n', f);
    }
    if (r->n == 0)
        fputs("(chưa cấu hình nền tảng kết nối nào)\n", f);
    fprintf(f,
            "\nNội bộ (gửi và nhận trong nền tảng): %" PRId64 " văn bản, %" PRId64
            " gói trạng thái\n",
            r->internal_edoc, r->internal_status);
}
