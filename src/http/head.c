/* head — the strict request-head check (see head.h). */
#include "http/head.h"

#include <string.h>

int http_token_ok(const char *name, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c && strchr("!#$%&'*+-.^_`|~", c));
        if (!ok)
            return 0;
    }
    return 1;
}

int http_field_value_ok(const char *value, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static int eq_ci(const char *s, size_t n, const char *lit)
{
    size_t ln = strlen(lit);
    if (n != ln)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char a = s[i], b = lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

static void framing_fail(struct http_framing *f, const char *why)
{
    if (!f->reason)
        f->reason = why;
}

void http_framing_add(struct http_framing *f, const char *name, size_t name_len, const char *value,
                      size_t value_len)
{
    if (eq_ci(name, name_len, "Content-Length")) {
        uint64_t v = 0;
        int digits = value_len > 0 && value_len <= 18;
        for (size_t i = 0; digits && i < value_len; i++) {
            if (value[i] < '0' || value[i] > '9')
                digits = 0;
            else
                v = v * 10 + (uint64_t)(value[i] - '0');
        }
        if (!digits)
            framing_fail(f, "Content-Length is not a plain number");
        else if (f->n_content_length > 0 && v != f->content_length)
            framing_fail(f, "two different Content-Length values");
        if (f->n_content_length++ == 0)
            f->content_length = v;
    } else if (eq_ci(name, name_len, "Transfer-Encoding")) {
        f->n_transfer_encoding++;
        if (!eq_ci(value, value_len, "chunked"))
            framing_fail(f, "Transfer-Encoding other than chunked");
    } else if (eq_ci(name, name_len, "Host")) {
        f->n_host++;
    }
}

const char *http_framing_verdict(const struct http_framing *f, int http10)
{
    if (f->reason)
        return f->reason;
    if (f->n_transfer_encoding > 1)
        return "Transfer-Encoding sent twice";
    if (f->n_transfer_encoding && f->n_content_length)
        return "Content-Length together with Transfer-Encoding";
    if (f->n_transfer_encoding && http10)
        return "Transfer-Encoding in an HTTP/1.0 request";
    if (!http10 && f->n_host != 1)
        return "an HTTP/1.1 request needs exactly one Host";
    return NULL;
}

/* The end of the line starting at pos: 1 with *eol at its CR, 0 when not all here yet, -1 for a
 * bare LF or CR (reason in *why). */
static int next_line(const char *buf, size_t len, size_t pos, size_t *eol, const char **why)
{
    for (size_t i = pos; i < len; i++) {
        if (buf[i] == '\n') {
            *why = "a line ends in a bare LF (CRLF required)";
            return -1;
        }
        if (buf[i] == '\r') {
            if (i + 1 >= len)
                return 0;
            if (buf[i + 1] != '\n') {
                *why = "a bare CR inside a line";
                return -1;
            }
            *eol = i;
            return 1;
        }
    }
    return 0;
}

#define BAD(st, why)                                                                               \
    do {                                                                                           \
        ret->status = (st);                                                                        \
        ret->reason = (why);                                                                       \
        return HTTP_HEAD_BAD;                                                                      \
    } while (0)

/* METHOD SP request-target SP HTTP/1.x; *http10 set. NULL or the reason. */
static const char *request_line(const char *s, size_t n, int *http10)
{
    const char *sp = memchr(s, ' ', n);
    if (!sp || !http_token_ok(s, (size_t)(sp - s)))
        return "the request line does not start with a method and one space";
    const char *t = sp + 1, *end = s + n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (!sp2 || sp2 == t)
        return "the request line has no request-target";
    for (const char *p = t; p < sp2; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return "a control character in the request-target";
    const char *v = sp2 + 1;
    size_t vn = (size_t)(end - v);
    if (vn == 8 && memcmp(v, "HTTP/1.1", 8) == 0)
        *http10 = 0;
    else if (vn == 8 && memcmp(v, "HTTP/1.0", 8) == 0)
        *http10 = 1;
    else
        return "the request line does not end in HTTP/1.1 or HTTP/1.0";
    return NULL;
}

enum http_head_verdict http_head_check(const char *buf, size_t len,
                                       const struct http_head_limits *lim,
                                       struct http_head_result *ret)
{
    size_t pos = 0, eol = 0;
    const char *why = NULL;
    /* RFC 9112 section 2.2: empty lines before the request line are ignored (a few) */
    for (int i = 0; i < 4 && pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n'; i++)
        pos += 2;
    int r = next_line(buf, len, pos, &eol, &why);
    if (r < 0)
        BAD(400, why);
    if (r == 0) {
        if (len - pos > lim->max_line || len >= lim->max_total)
            BAD(431, "the request line is too long");
        return HTTP_HEAD_INCOMPLETE;
    }
    if (eol - pos > lim->max_line)
        BAD(431, "the request line is too long");
    int http10 = 0;
    if ((why = request_line(buf + pos, eol - pos, &http10)) != NULL)
        BAD(400, why);
    pos = eol + 2;

    struct http_framing f = {0};
    unsigned fields = 0;
    for (;;) {
        r = next_line(buf, len, pos, &eol, &why);
        if (r < 0)
            BAD(400, why);
        if (r == 0) {
            if (len - pos > lim->max_line)
                BAD(431, "a header field line is too long");
            if (len >= lim->max_total)
                BAD(431, "the request head is too large");
            return HTTP_HEAD_INCOMPLETE;
        }
        if (eol + 2 > lim->max_total)
            BAD(431, "the request head is too large");
        if (eol == pos)
            break;
        if (eol - pos > lim->max_line)
            BAD(431, "a header field line is too long");
        if (++fields > lim->max_fields)
            BAD(431, "too many header fields");
        const char *line = buf + pos;
        size_t n = eol - pos;
        if (line[0] == ' ' || line[0] == '\t')
            BAD(400, "a header field line starts with whitespace (obs-fold)");
        const char *colon = memchr(line, ':', n);
        if (!colon)
            BAD(400, "a header field line without a colon");
        size_t nl = (size_t)(colon - line);
        if (!http_token_ok(line, nl))
            BAD(400, nl && (line[nl - 1] == ' ' || line[nl - 1] == '\t')
                         ? "whitespace between a header field name and the colon"
                         : "a header field name is not a token");
        const char *v = colon + 1, *ve = line + n;
        if (!http_field_value_ok(v, (size_t)(ve - v)))
            BAD(400, "a control character in a header field value");
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        http_framing_add(&f, line, nl, v, (size_t)(ve - v));
        pos = eol + 2;
    }
    if ((why = http_framing_verdict(&f, http10)) != NULL)
        BAD(400, why);
    ret->len = eol + 2;
    return HTTP_HEAD_OK;
}
