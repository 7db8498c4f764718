/* cmd_demo_upstream — `lienthong demo-upstream`: the demo province's provider systems, the
 * services that `make run` puts behind the data-sharing gateway so that a tutorial can call
 * real endpoints through /gw/... straight away.
 *
 * One small HTTP server on lienthong's own http layer, with fixed in-memory data modelled on
 * Kon Tum's provincial services (all people, numbers and companies are invented):
 *   GET  /hotich/khaisinh?so=N     birth registration (hộ tịch — khai sinh)
 *   GET  /hotich/kethon?so=N       marriage registration (hộ tịch — kết hôn)
 *   GET  /lylich/phieu?cccd=N      judicial-record certificate application (lý lịch tư pháp)
 *   POST /dkkd                     SOAP 1.1 business-registration lookup (đăng ký kinh doanh),
 *                                  SOAPAction "urn:dkkd#TraCuuDoanhNghiep", <MaSoThue> in the body
 *   GET  /mqhns/{code}             budget-unit code (mã quan hệ ngân sách)
 *   GET  /healthz                  {"status":"ok"}
 * Every reply echoes X-Request-Id and tells which consumer called: the gateway adds
 * X-Consumer-Id, and the JSON replies carry it as "consumer" (the SOAP replies as <Consumer>),
 * null / empty when the service was called directly, so a demo user sees the gateway's effect.
 *
 * The SOAP body is searched as bytes for the MaSoThue element (bounded: bodies are at most
 * 64 KiB); nothing parses XML, so there are no entities or DTDs to process. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "http/http.h"
#include "util/buf.h"

#define JSON_CT "application/json; charset=utf-8"
#define XML_CT "text/xml; charset=utf-8"
#define MAX_BODY (64 * 1024)
#define MAX_ECHO 128 /* longest X-Request-Id / X-Consumer-Id echoed */

static const char usage[] =
    "usage: lienthong demo-upstream [--listen HOST:PORT]\n"
    "\n"
    "Runs the demo province's provider systems (the upstream services of the gateway demo) in\n"
    "the foreground; stop it with Ctrl-C or SIGTERM.\n"
    "  --listen HOST:PORT  numeric address to listen on (default 127.0.0.1:8081)\n"
    "\n"
    "  GET  /hotich/khaisinh?so=N   GET /hotich/kethon?so=N   GET /lylich/phieu?cccd=N\n"
    "  POST /dkkd (SOAP 1.1, SOAPAction urn:dkkd#TraCuuDoanhNghiep)   GET /mqhns/{code}\n";

/* ---- data ---- */

struct birth {
    const char *so, *ho_ten, *ngay_sinh, *gioi_tinh, *dan_toc, *noi_sinh, *cha, *me, *noi_dk,
        *ngay_dk;
};
static const struct birth births[] = {
    {"125/2023", "Nguyễn Minh Khang", "2023-03-14", "Nam", "Kinh", "Bệnh viện Đa khoa tỉnh Kon Tum",
     "Nguyễn Văn Hùng", "Trần Thị Mai", "UBND phường Quyết Thắng, thành phố Kon Tum", "2023-03-20"},
    {"126/2023", "A Thuận", "2023-04-02", "Nam", "Xơ Đăng", "Trạm Y tế xã Đăk Tờ Re", "A Phong",
     "Y Hoa", "UBND xã Đăk Tờ Re, huyện Kon Rẫy", "2023-04-10"},
    {"87/2024", "Y Lan Anh", "2024-01-22", "Nữ", "Ba Na", "Bệnh viện Đa khoa tỉnh Kon Tum",
     "A Hiếu", "Y Nhung", "UBND xã Vinh Quang, thành phố Kon Tum", "2024-02-01"},
    {"12/2024", "Lê Ngọc Bảo Châu", "2024-06-30", "Nữ", "Kinh", "Bệnh viện Đa khoa tỉnh Kon Tum",
     "Lê Quang Vinh", "Phạm Thị Thu Hà", "UBND phường Thắng Lợi, thành phố Kon Tum", "2024-07-05"},
};

struct marriage {
    const char *so, *chong, *chong_sinh, *vo, *vo_sinh, *noi_dk, *ngay_dk;
};
static const struct marriage marriages[] = {
    {"45/2022", "Nguyễn Văn Hùng", "1994-08-19", "Trần Thị Mai", "1996-11-02",
     "UBND phường Quyết Thắng, thành phố Kon Tum", "2022-05-09"},
    {"46/2022", "A Phong", "1998-02-11", "Y Hoa", "2000-07-25", "UBND xã Đăk Tờ Re, huyện Kon Rẫy",
     "2022-06-17"},
    {"8/2023", "Lê Quang Vinh", "1991-12-03", "Phạm Thị Thu Hà", "1993-04-28",
     "UBND phường Thắng Lợi, thành phố Kon Tum", "2023-01-13"},
};

struct judicial {
    const char *cccd, *ho_ten, *so_ho_so, *loai_phieu, *trang_thai, *ngay_nop, *ngay_hen_tra;
};
static const struct judicial judicials[] = {
    {"062094001234", "Nguyễn Văn Hùng", "LLTP-H34-2024-001532", "Phiếu số 1", "Đã trả kết quả",
     "2024-09-03", "2024-09-13"},
    {"062196004567", "Trần Thị Mai", "LLTP-H34-2024-001618", "Phiếu số 2", "Đang xác minh",
     "2024-09-20", "2024-09-30"},
    {"062098007890", "A Phong", "LLTP-H34-2024-001702", "Phiếu số 1", "Đã tiếp nhận", "2024-10-01",
     "2024-10-11"},
};

struct company {
    const char *mst, *ten, *loai_hinh, *dia_chi, *nguoi_dai_dien, *ngay_cap, *tinh_trang;
};
static const struct company companies[] = {
    {"6101234567", "CÔNG TY TNHH CÀ PHÊ ĐĂK HÀ", "Công ty trách nhiệm hữu hạn một thành viên",
     "Thôn 4, thị trấn Đăk Hà, huyện Đăk Hà, tỉnh Kon Tum", "Nguyễn Văn Hùng", "2015-06-11",
     "Đang hoạt động"},
    {"6100987654", "CÔNG TY CỔ PHẦN SÂM NGỌC LINH KON TUM", "Công ty cổ phần",
     "Xã Măng Ri, huyện Tu Mơ Rông, tỉnh Kon Tum", "Lê Quang Vinh", "2018-09-24", "Đang hoạt động"},
    {"6100555111", "HỢP TÁC XÃ DỆT THỔ CẨM KON KTU", "Hợp tác xã",
     "Làng Kon Ktu, xã Đăk Rơ Wa, thành phố Kon Tum", "Y Hoa", "2019-03-02",
     "Tạm ngừng kinh doanh"},
};

struct budget_unit {
    const char *ma, *ten, *cap, *chuong, *kbnn;
};
static const struct budget_unit budget_units[] = {
    {"1012345", "Văn phòng UBND tỉnh Kon Tum", "Tỉnh", "Chương 509", "Kho bạc Nhà nước Kon Tum"},
    {"1023456", "Sở Tư pháp tỉnh Kon Tum", "Tỉnh", "Chương 415", "Kho bạc Nhà nước Kon Tum"},
    {"1034567", "Sở Thông tin và Truyền thông tỉnh Kon Tum", "Tỉnh", "Chương 437",
     "Kho bạc Nhà nước Kon Tum"},
    {"1105678", "UBND thành phố Kon Tum", "Huyện", "Chương 760",
     "Kho bạc Nhà nước khu vực thành phố Kon Tum"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- replies ---- */

/* The header's value when present, not too long and free of control characters. */
static const char *echoable(struct http_request *req, const char *name)
{
    const char *v = http_header(req, name);
    if (!v || strlen(v) > MAX_ECHO)
        return NULL;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return NULL;
    return v;
}

static void echo_request_id(struct http_request *req)
{
    const char *id = echoable(req, "X-Request-Id");
    if (id)
        http_add_reply_header(req, "X-Request-Id", id);
}

/* Adds "consumer" to o, echoes X-Request-Id and queues o (consumed). */
static void reply_json(struct http_request *req, unsigned status, json_t *o)
{
    const char *consumer = echoable(req, "X-Consumer-Id");
    if (o)
        json_object_set_new(o, "consumer", consumer ? json_string(consumer) : json_null());
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    echo_request_id(req);
    if (!s) {
        http_reply(req, 500, NULL, "", 0);
        return;
    }
    http_reply(req, status, JSON_CT, s, strlen(s));
    free(s);
}

static void reply_error(struct http_request *req, unsigned status, const char *error,
                        const char *message)
{
    reply_json(req, status, json_pack("{s:s,s:s}", "error", error, "message", message));
}

static void reply_not_found(struct http_request *req)
{
    reply_error(req, 404, "not_found", "Không tìm thấy tài nguyên");
}

static void reply_too_large(struct http_request *req)
{
    reply_error(req, 413, "too_large", "Yêu cầu quá lớn");
}

static void reply_bad_headers(struct http_request *req)
{
    reply_error(req, 431, "bad_headers", "Tiêu đề yêu cầu quá lớn");
}

/* The query parameter, or NULL after replying 400 when it is missing or empty. */
static const char *need_query(struct http_request *req, const char *name)
{
    const char *v = http_query(req, name);
    if (v && *v)
        return v;
    struct buf m = {0};
    buf_printf(&m, "Thiếu tham số %s", name);
    reply_error(req, 400, "bad_request", m.data ? m.data : "Thiếu tham số");
    buf_free(&m);
    return NULL;
}

/* ---- JSON services ---- */

static void h_healthz(struct http_request *req)
{
    reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_khaisinh(struct http_request *req)
{
    const char *so = need_query(req, "so");
    if (!so)
        return;
    for (size_t i = 0; i < COUNT(births); i++) {
        const struct birth *b = &births[i];
        if (strcmp(b->so, so) != 0)
            continue;
        reply_json(req, 200,
                   json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "nguon",
                             "Cơ sở dữ liệu hộ tịch điện tử — Sở Tư pháp tỉnh Kon Tum", "loai",
                             "khai_sinh", "so", b->so, "ho_ten", b->ho_ten, "ngay_sinh",
                             b->ngay_sinh, "gioi_tinh", b->gioi_tinh, "dan_toc", b->dan_toc,
                             "noi_sinh", b->noi_sinh, "ho_ten_cha", b->cha, "ho_ten_me", b->me,
                             "noi_dang_ky", b->noi_dk, "ngay_dang_ky", b->ngay_dk));
        return;
    }
    reply_error(req, 404, "not_found", "Không tìm thấy giấy khai sinh");
}

static void h_kethon(struct http_request *req)
{
    const char *so = need_query(req, "so");
    if (!so)
        return;
    for (size_t i = 0; i < COUNT(marriages); i++) {
        const struct marriage *m = &marriages[i];
        if (strcmp(m->so, so) != 0)
            continue;
        reply_json(req, 200,
                   json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s},s:s,s:s}", "nguon",
                             "Cơ sở dữ liệu hộ tịch điện tử — Sở Tư pháp tỉnh Kon Tum", "loai",
                             "ket_hon", "so", m->so, "chong", "ho_ten", m->chong, "ngay_sinh",
                             m->chong_sinh, "vo", "ho_ten", m->vo, "ngay_sinh", m->vo_sinh,
                             "noi_dang_ky", m->noi_dk, "ngay_dang_ky", m->ngay_dk));
        return;
    }
    reply_error(req, 404, "not_found", "Không tìm thấy giấy chứng nhận kết hôn");
}

static int all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static void h_lylich(struct http_request *req)
{
    const char *cccd = need_query(req, "cccd");
    if (!cccd)
        return;
    if (!all_digits(cccd, 12, 12)) {
        reply_error(req, 400, "bad_request", "Số CCCD phải gồm 12 chữ số");
        return;
    }
    for (size_t i = 0; i < COUNT(judicials); i++) {
        const struct judicial *j = &judicials[i];
        if (strcmp(j->cccd, cccd) != 0)
            continue;
        reply_json(req, 200,
                   json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "nguon",
                             "Hệ thống cấp phiếu lý lịch tư pháp — Sở Tư pháp tỉnh Kon Tum", "cccd",
                             j->cccd, "ho_ten", j->ho_ten, "so_ho_so", j->so_ho_so, "loai_phieu",
                             j->loai_phieu, "trang_thai", j->trang_thai, "ngay_nop", j->ngay_nop,
                             "ngay_hen_tra", j->ngay_hen_tra));
        return;
    }
    reply_error(req, 404, "not_found", "Không có hồ sơ lý lịch tư pháp với số CCCD này");
}

static void h_mqhns(struct http_request *req)
{
    const char *code = http_url(req) + strlen("/mqhns/");
    size_t n = strcspn(code, "/");
    if (n == 0 || code[n] != '\0') {
        reply_not_found(req);
        return;
    }
    for (size_t i = 0; i < COUNT(budget_units); i++) {
        const struct budget_unit *u = &budget_units[i];
        if (strcmp(u->ma, code) != 0)
            continue;
        reply_json(req, 200,
                   json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "nguon",
                             "Danh mục mã quan hệ ngân sách — Sở Tài chính tỉnh Kon Tum", "ma_qhns",
                             u->ma, "ten_don_vi", u->ten, "cap_ngan_sach", u->cap, "chuong",
                             u->chuong, "kho_bac", u->kbnn));
        return;
    }
    reply_error(req, 404, "not_found", "Không tìm thấy mã quan hệ ngân sách");
}

/* ---- SOAP 1.1 service ---- */

#define SOAP_OPEN                                                                                  \
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"                                                 \
    "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"                     \
    "<soap:Body>"
#define SOAP_CLOSE "</soap:Body></soap:Envelope>\n"

/* Appends s with the five XML special characters escaped. */
static void xml_text(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '"':
            buf_puts(b, "&quot;");
            break;
        case '\'':
            buf_puts(b, "&apos;");
            break;
        default:
            buf_append(b, s, 1);
        }
    }
}

static void soap_send(struct http_request *req, unsigned status, struct buf *b)
{
    echo_request_id(req);
    if (!b->data) {
        http_reply(req, 500, NULL, "", 0);
        return;
    }
    http_reply(req, status, XML_CT, b->data, b->len);
    buf_free(b);
}

static void soap_fault(struct http_request *req, const char *code, const char *message)
{
    struct buf b = {0};
    buf_puts(&b, SOAP_OPEN "<soap:Fault><faultcode>");
    buf_puts(&b, code);
    buf_puts(&b, "</faultcode><faultstring xml:lang=\"vi\">");
    xml_text(&b, message);
    buf_puts(&b, "</faultstring></soap:Fault>" SOAP_CLOSE);
    soap_send(req, 500, &b);
}

/* Finds the text of the first <MaSoThue> element (any namespace prefix) in body[0..len):
 * copies it, trimmed, into out and returns 0; -1 when there is none or it does not fit. */
static int find_tax_code(const char *body, size_t len, char *out, size_t cap)
{
    static const char tag[] = "MaSoThue";
    const size_t tl = sizeof tag - 1;
    for (const char *p = body; (p = memmem(p, len - (size_t)(p - body), tag, tl)) != NULL;
         p += tl) {
        /* The start tag: '<' then an optional "prefix:", the name, optional spaces/attributes. */
        const char *q = p;
        while (q > body && q[-1] != '<' && q[-1] != '/' && q[-1] != '>' && q[-1] != ' ' &&
               q[-1] != '\n' && (size_t)(p - q) < 32)
            q--;
        if (q == body || q[-1] != '<' || (q != p && p[-1] != ':'))
            continue;
        const char *end = body + len;
        const char *t = p + tl;
        if (t < end && *t != '>' && *t != ' ' && *t != '\t' && *t != '\r' && *t != '\n')
            continue; /* a longer name, e.g. MaSoThueCu */
        t = memchr(t, '>', (size_t)(end - t));
        if (!t || t[-1] == '/')
            return -1; /* truncated, or an empty element */
        t++;
        const char *e = memchr(t, '<', (size_t)(end - t));
        if (!e)
            return -1;
        while (t < e && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
            t++;
        while (e > t && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
            e--;
        if ((size_t)(e - t) >= cap)
            return -1;
        memcpy(out, t, (size_t)(e - t));
        out[e - t] = '\0';
        return 0;
    }
    return -1;
}

/* A tax code: 10 digits, or 10 digits, '-' and 3 digits (a branch). */
static int valid_tax_code(const char *s)
{
    size_t n = strlen(s);
    if (n != 10 && n != 14)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (i == 10 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return 0;
    return 1;
}

static void h_dkkd(struct http_request *req)
{
    const char *action = http_header(req, "SOAPAction");
    if (!action || !*action) {
        soap_fault(req, "soap:Client", "Thiếu tiêu đề SOAPAction");
        return;
    }
    size_t al = strlen(action);
    if (al >= 2 && action[0] == '"' && action[al - 1] == '"') {
        action++;
        al -= 2;
    }
    static const char known[] = "urn:dkkd#TraCuuDoanhNghiep";
    if (al != sizeof known - 1 || memcmp(action, known, al) != 0) {
        soap_fault(req, "soap:Client", "SOAPAction không được hỗ trợ");
        return;
    }
    const char *body = http_body_mem(req);
    char mst[32];
    if (!body || find_tax_code(body, (size_t)http_body_len(req), mst, sizeof mst) != 0) {
        soap_fault(req, "soap:Client", "Thiếu phần tử MaSoThue trong thân yêu cầu");
        return;
    }
    if (!valid_tax_code(mst)) {
        soap_fault(req, "soap:Client", "Mã số thuế không hợp lệ");
        return;
    }
    const struct company *c = NULL;
    for (size_t i = 0; i < COUNT(companies) && !c; i++)
        if (strncmp(companies[i].mst, mst, 10) == 0)
            c = &companies[i];
    const char *consumer = echoable(req, "X-Consumer-Id");
    struct buf b = {0};
    buf_puts(&b, SOAP_OPEN "<TraCuuDoanhNghiepResponse xmlns=\"urn:dkkd\"><Consumer>");
    xml_text(&b, consumer ? consumer : "");
    buf_printf(&b, "</Consumer><MaSoThue>%s</MaSoThue><TimThay>%s</TimThay>", mst,
               c ? "true" : "false");
    if (c) {
        const char *fields[][2] = {
            {"TenDoanhNghiep", c->ten},     {"LoaiHinh", c->loai_hinh},
            {"DiaChiTruSo", c->dia_chi},    {"NguoiDaiDien", c->nguoi_dai_dien},
            {"NgayCapLanDau", c->ngay_cap}, {"TinhTrang", c->tinh_trang}};
        for (size_t i = 0; i < COUNT(fields); i++) {
            buf_printf(&b, "<%s>", fields[i][0]);
            xml_text(&b, fields[i][1]);
            buf_printf(&b, "</%s>", fields[i][0]);
        }
    }
    buf_puts(&b, "</TraCuuDoanhNghiepResponse>" SOAP_CLOSE);
    soap_send(req, 200, &b);
}

/* ---- routes ---- */

static void h_method_not_allowed(struct http_request *req)
{
    reply_error(req, 405, "method_not_allowed", "Phương thức không được hỗ trợ");
}

static const struct route {
    const char *method, *path;
    int prefix; /* path is a prefix (ends with '/') */
    http_handler_fn handler;
} routes[] = {
    {.method = "GET", .path = "/healthz", .handler = h_healthz},
    {.method = "GET", .path = "/hotich/khaisinh", .handler = h_khaisinh},
    {.method = "GET", .path = "/hotich/kethon", .handler = h_kethon},
    {.method = "GET", .path = "/lylich/phieu", .handler = h_lylich},
    {.method = "POST", .path = "/dkkd", .handler = h_dkkd},
    {.method = "GET", .path = "/mqhns/", .prefix = 1, .handler = h_mqhns},
};

static http_handler_fn router(void *app, const char *method, const char *url)
{
    size_t n = strcspn(url, "?");
    for (size_t i = 0; i < COUNT(routes); i++) {
        const struct route *r = &routes[i];
        size_t pl = strlen(r->path);
        if (r->prefix ? n <= pl || strncmp(url, r->path, pl) != 0
                      : n != pl || strncmp(url, r->path, pl) != 0)
            continue;
        if (strcmp(method, r->method) == 0 ||
            (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0))
            return r->handler;
        return h_method_not_allowed;
    }
    return NULL;
}

/* ---- command ---- */

int cmd_demo_upstream(int argc, char **argv)
{
    const char *listen = NULL;
    const struct cli_opt opts[] = {{"listen", &listen, NULL, 0}, {NULL, NULL, NULL, 0}};
    int rc = cli_parse_named("demo-upstream", argc, argv, opts, usage);
    if (rc != CLI_CONTINUE)
        return rc;
    if (!listen)
        listen = "127.0.0.1:8081";

    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || !colon[1] || *end || colon[1] == '-' || colon[1] == '+' || port > 65535)
        return cli_misuse("demo-upstream", usage,
                          "--listen must be HOST:PORT, e.g. 127.0.0.1:8081");
    size_t hl = (size_t)(colon - listen);
    if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
        listen++;
        hl -= 2;
    }
    char host[64];
    if (hl == 0 || hl >= sizeof host)
        return cli_misuse("demo-upstream", usage,
                          "--listen must be HOST:PORT, e.g. 127.0.0.1:8081");
    memcpy(host, listen, hl);
    host[hl] = '\0';

    /* Block the stop signals before any thread starts, so that only sigwait() sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    const char *tmp = getenv("TMPDIR");
    struct http_config hc = {
        .host = host,
        .port = (uint16_t)port,
        .threads = 2,
        .max_connections = 1000,
        .idle_timeout_s = 60,
        .max_body_bytes = MAX_BODY,
        .spool_memory = MAX_BODY, /* bodies never reach the spool directory */
        .spool_dir = tmp && *tmp ? tmp : "/tmp",
        .max_header_bytes = 8 * 1024,
        .max_headers_total = 32 * 1024,
        .max_headers = 64,
        .router = router,
        .not_found = reply_not_found,
        .too_large = reply_too_large,
        .bad_headers = reply_bad_headers,
        .app = NULL,
    };
    char err[256];
    struct http_server *s = http_start(&hc, err, sizeof err);
    if (!s)
        return cli_fail("demo-upstream", "%s", err);
    int v6 = strchr(host, ':') != NULL;
    printf("demo-upstream listening on http://%s%s%s:%u\n", v6 ? "[" : "", host, v6 ? "]" : "",
           (unsigned)http_bound_port(s));
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    http_stop(s);
    return CLI_EXIT_OK;
}
