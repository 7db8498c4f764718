/* stats — collecting and rendering the figures of a period (see stats.h). */
#include "report/stats.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/table.h"

struct collect {
    struct stats_row *rows;
    size_t n, cap;
    struct stats_row total;
    int have_total;
    int oom;
};

static void copy_figures(struct stats_row *dst, const struct store_stats_row *src)
{
    dst->edoc_sent = src->edoc_sent;
    dst->status_sent = src->status_sent;
    dst->edoc_received = src->edoc_received;
    dst->status_received = src->status_received;
    dst->signed_sent = src->signed_sent;
    memcpy(dst->state, src->state, sizeof dst->state);
}

static void row_free(struct stats_row *r)
{
    free(r->organ_id);
    free(r->agency_name);
    memset(r, 0, sizeof *r);
}

static int collect_cb(void *ctx, const struct store_stats_row *src)
{
    struct collect *c = ctx;
    struct stats_row row = {0};
    row.organ_id = strdup(src->organ_id ? src->organ_id : "");
    row.agency_name = src->agency_name ? strdup(src->agency_name) : NULL;
    if (!row.organ_id || (src->agency_name && !row.agency_name)) {
        row_free(&row);
        c->oom = 1;
        return 1;
    }
    copy_figures(&row, src);
    if (!src->organ_id || !*src->organ_id) { /* the total row comes last */
        row_free(&c->total);
        c->total = row;
        c->have_total = 1;
        return 0;
    }
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        struct stats_row *nr = realloc(c->rows, ncap * sizeof *nr);
        if (!nr) {
            row_free(&row);
            c->oom = 1;
            return 1;
        }
        c->rows = nr;
        c->cap = ncap;
    }
    c->rows[c->n++] = row;
    return 0;
}

int stats_collect(struct store *s, int64_t from_ms, int64_t to_ms, struct stats_result *ret)
{
    struct collect c = {0};
    enum store_rc rc = s->stats(s->cls, from_ms, to_ms, collect_cb, &c);
    if (rc < 0 || c.oom || !c.have_total) {
        for (size_t i = 0; i < c.n; i++)
            row_free(&c.rows[i]);
        free(c.rows);
        row_free(&c.total);
        return -1;
    }
    memset(ret, 0, sizeof *ret);
    ret->from_ms = from_ms;
    ret->to_ms = to_ms;
    ret->rows = c.rows;
    ret->n = c.n;
    ret->total = c.total;
    return 0;
}

void stats_result_clear(struct stats_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        row_free(&r->rows[i]);
    free(r->rows);
    row_free(&r->total);
    memset(r, 0, sizeof *r);
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    json_t *j = s ? json_string(s) : NULL; /* NULL also for invalid UTF-8 */
    return j ? j : json_null();
}

static json_t *row_json(const struct stats_row *r)
{
    json_t *dlv = json_pack("{s:I,s:I,s:I,s:I}", "initial", (json_int_t)r->state[0], "processing",
                            (json_int_t)r->state[1], "done", (json_int_t)r->state[2], "fail",
                            (json_int_t)r->state[3]);
    if (!dlv)
        return NULL;
    return json_pack("{s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:o}", "organ_id",
                     r->organ_id ? r->organ_id : "", "name", str_or_null(r->agency_name),
                     "documents_sent", (json_int_t)r->edoc_sent, "status_sent",
                     (json_int_t)r->status_sent, "documents_received", (json_int_t)r->edoc_received,
                     "status_received", (json_int_t)r->status_received, "signed_sent",
                     (json_int_t)r->signed_sent, "deliveries", dlv);
}

json_t *stats_to_json(const struct stats_result *r, const char *from_label, const char *to_label)
{
    json_t *agencies = json_array();
    if (!agencies)
        return NULL;
    for (size_t i = 0; i < r->n; i++) {
        json_t *row = row_json(&r->rows[i]);
        if (!row || json_array_append_new(agencies, row) != 0) {
            json_decref(agencies);
            return NULL;
        }
    }
    json_t *total = row_json(&r->total);
    if (!total) {
        json_decref(agencies);
        return NULL;
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "from", str_or_null(from_label), "to",
                     str_or_null(to_label), "agencies", agencies, "total", total);
}

/* ---- text table ----------------------------------------------------------------------------- */

#define N_NUM 9
#define NAME_MAX_COLS 32

static const char *const num_headers[N_NUM] = {
    "VB gửi",
    "VB gửi có ký số",
    "VB nhận",
    "Gói trạng thái gửi",
    "Gói trạng thái nhận",
    "Chờ nhận",
    "Đang xử lý",
    "Đã xử lý",
    "Lỗi",
};

static void row_numbers(const struct stats_row *r, int64_t out[N_NUM])
{
    out[0] = r->edoc_sent;
    out[1] = r->signed_sent;
    out[2] = r->edoc_received;
    out[3] = r->status_sent;
    out[4] = r->status_received;
    for (int i = 0; i < 4; i++)
        out[5 + i] = r->state[i];
}

static void print_line(FILE *f, const char *id, size_t w_id, const char *name, size_t w_name,
                       const int64_t nums[N_NUM], const size_t w_num[N_NUM])
{
    table_cell(f, id, w_id, 0);
    fputs("  ", f);
    table_cell(f, name, w_name, 0);
    for (int i = 0; i < N_NUM; i++) {
        char num[24];
        snprintf(num, sizeof num, "%" PRId64, nums[i]);
        fputs("  ", f);
        table_cell(f, num, w_num[i], 1);
    }
    fputc('\n', f);
}

void stats_print_text(const struct stats_result *r, FILE *f)
{
    static const char h_id[] = "Mã cơ quan", h_name[] = "Cơ quan", total_label[] = "Tổng cộng",
                      unregistered[] = "(chưa đăng ký)";
    size_t w_id = utf8_width(h_id, strlen(h_id)), w_name = utf8_width(h_name, strlen(h_name));
    size_t w_num[N_NUM];
    for (int i = 0; i < N_NUM; i++)
        w_num[i] = utf8_width(num_headers[i], strlen(num_headers[i]));
    if (utf8_width(total_label, strlen(total_label)) > w_id)
        w_id = utf8_width(total_label, strlen(total_label));
    for (size_t k = 0; k <= r->n; k++) {
        const struct stats_row *row = k < r->n ? &r->rows[k] : &r->total;
        if (k < r->n) {
            size_t w = utf8_width(row->organ_id, strlen(row->organ_id));
            if (w > w_id)
                w_id = w;
            const char *name = row->agency_name ? row->agency_name : unregistered;
            w = utf8_width(name, strlen(name));
            if (w > NAME_MAX_COLS)
                w = NAME_MAX_COLS;
            if (w > w_name)
                w_name = w;
        }
        int64_t nums[N_NUM];
        row_numbers(row, nums);
        for (int i = 0; i < N_NUM; i++) {
            char num[24];
            size_t w = (size_t)snprintf(num, sizeof num, "%" PRId64, nums[i]);
            if (w > w_num[i])
                w_num[i] = w;
        }
    }

    size_t total_w = w_id + 2 + w_name;
    table_cell(f, h_id, w_id, 0);
    fputs("  ", f);
    table_cell(f, h_name, w_name, 0);
    for (int i = 0; i < N_NUM; i++) {
        fputs("  ", f);
        table_cell(f, num_headers[i], w_num[i], 1);
        total_w += 2 + w_num[i];
    }
    fputc('\n', f);
    for (size_t i = 0; i < total_w; i++)
        fputc('-', f);
    fputc('\n', f);
    for (size_t k = 0; k < r->n; k++) {
        int64_t nums[N_NUM];
        row_numbers(&r->rows[k], nums);
        print_line(f, r->rows[k].organ_id, w_id,
                   r->rows[k].agency_name ? r->rows[k].agency_name : unregistered, w_name, nums,
                   w_num);
    }
    for (size_t i = 0; i < total_w; i++)
        fputc('-', f);
    fputc('\n', f);
    int64_t nums[N_NUM];
    row_numbers(&r->total, nums);
    print_line(f, total_label, w_id, "", w_name, nums, w_num);
}
