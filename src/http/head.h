/* head — what a careful HTTP/1.1 server refuses in a request head (RFC 9112, RFC 9110), as
 * pure functions: bytes in, a verdict out, no server needed (fuzz/fuzz_http_head.c).
 *
 * The server runs http_head_check() on the raw bytes of each connection's first request before
 * libmicrohttpd sees them (http.c peeks at them), and the field and framing rules on the
 * parsed fields of every request (keep-alive requests included). Refused:
 *  - a line ending in a bare LF or a bare CR anywhere (only CRLF ends a line); a request line
 *    that is not "METHOD SP target SP HTTP/1.x"; an obs-fold (a field line starting with
 *    whitespace);
 *  - a field name that is not an RFC 9110 token (so whitespace before the colon is refused);
 *    a field value with a control character other than HTAB (CR, LF, NUL, DEL, ...);
 *  - framing that two parsers could read differently (RFC 9112 section 6.3): Content-Length
 *    that is not a plain number (negative, a list), two different Content-Length values,
 *    Content-Length together with Transfer-Encoding, a Transfer-Encoding other than exactly
 *    "chunked" (an unknown or layered coding), Transfer-Encoding in an HTTP/1.0 request;
 *  - HTTP/1.1 without exactly one Host;
 *  - over the limits (one line, the whole head, the number of fields): 431.
 * Every refusal carries the HTTP status to answer and a static ASCII reason. */
#ifndef LT_HTTP_HEAD_H
#define LT_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>

enum http_head_verdict { HTTP_HEAD_BAD = -1, HTTP_HEAD_INCOMPLETE = 0, HTTP_HEAD_OK = 1 };

struct http_head_limits {
    size_t max_line;     /* one field line, name and value */
    size_t max_total;    /* the whole head, request line included */
    unsigned max_fields; /* field lines */
};

struct http_head_result {
    size_t len;         /* OK: bytes of the head, up to and including its empty line */
    unsigned status;    /* BAD: 400 or 431 */
    const char *reason; /* BAD: static ASCII text */
};

/* Checks the head at the start of buf (len bytes; more may follow: the body, or bytes not
 * received yet). INCOMPLETE when no verdict is possible yet and len is under max_total. */
enum http_head_verdict http_head_check(const char *buf, size_t len,
                                       const struct http_head_limits *lim,
                                       struct http_head_result *ret);

/* 1 when name[0..len) is an RFC 9110 token (a field name, a method). */
int http_token_ok(const char *name, size_t len);
/* 1 when value[0..len) holds no control character but HTAB (len counts a NUL inside). */
int http_field_value_ok(const char *value, size_t len);

/* The framing fields of one request, fed one field at a time (raw or parsed). */
struct http_framing {
    int n_content_length, n_transfer_encoding, n_host;
    uint64_t content_length;
    const char *reason; /* the first problem found, NULL while none */
};
/* Feeds one field (name and value without surrounding whitespace). */
void http_framing_add(struct http_framing *f, const char *name, size_t name_len, const char *value,
                      size_t value_len);
/* After the last field: NULL when the framing is sound, else the reason to refuse. */
const char *http_framing_verdict(const struct http_framing *f, int http10);

#endif
