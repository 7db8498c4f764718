/* test_http_head — the strict request-head check (src/http/head.c): what is accepted, what is
 * refused and why, the limits, and that no verdict comes before the head is whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/head.h"

static const struct http_head_limits LIM = {.max_line = 256, .max_total = 1024, .max_fields = 8};

static enum http_head_verdict check(const char *s, struct http_head_result *r)
{
    memset(r, 0, sizeof *r);
    return http_head_check(s, strlen(s), &LIM, r);
}

static void accepted(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", /* an empty line before the request line */
        "POST /vxp/sendEdoc HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nX-Empty:\r\n\r\nbody",
        "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: x\r\nX-A: tab\there \xc3\xa1\r\n\r\n", /* HTAB, obs-text */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct http_head_result r;
        assert_int_equal(check(ok[i], &r), HTTP_HEAD_OK);
        const char *end = strstr(ok[i], "\r\n\r\n");
        if (ok[i][0] == '\r')
            end = strstr(ok[i] + 2, "\r\n\r\n");
        assert_int_equal(r.len, (size_t)(end - ok[i]) + 4);
        /* one byte less: no verdict yet */
        assert_int_equal(http_head_check(ok[i], r.len - 1, &LIM, &r), HTTP_HEAD_INCOMPLETE);
    }
}

static void refused(void **state)
{
    (void)state;
    static const struct {
        const char *head, *reason_part;
        unsigned status;
    } bad[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\nX-Note: a\rX-Consumer-Id: y\r\n\r\n", "bare CR", 400},
        {"GET / HTTP/1.1\nHost: x\n\n", "bare LF", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX-Note: a\nb\r\n\r\n", "bare LF", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX-Consumer-Id : y\r\n\r\n", "whitespace between", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX(a): y\r\n\r\n", "not a token", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", "obs-fold", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", "without a colon", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX-A: \x01\r\n\r\n", "control character", 400},
        {"GET / HTTP/1.1\r\nHost: x\r\nX-A: \x7f\r\n\r\n", "control character", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
         "two different", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "plain number", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n", "plain number", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
         "together", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "other than chunked",
         400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "other than",
         400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
         "chunked\r\n\r\n",
         "twice", 400},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.0", 400},
        {"GET / HTTP/1.1\r\n\r\n", "Host", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "Host", 400},
        {"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/1.1 or HTTP/1.0", 400},
        {"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", "request-target", 400},
        {"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", "method", 400},
        {"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", "control character", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct http_head_result r;
        enum http_head_verdict v = check(bad[i].head, &r);
        if (v != HTTP_HEAD_BAD || r.status != bad[i].status ||
            !strstr(r.reason, bad[i].reason_part))
            fail_msg("case %zu: verdict %d status %u reason %s", i, v, r.status,
                     r.reason ? r.reason : "(none)");
    }
}

static void limits(void **state)
{
    (void)state;
    char buf[2048];
    struct http_head_result r;
    /* a long field line */
    snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: x\r\nX-A: %0300d\r\n\r\n", 0);
    assert_int_equal(check(buf, &r), HTTP_HEAD_BAD);
    assert_int_equal(r.status, 431);
    /* too many fields */
    strcpy(buf, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 8; i++)
        strcat(buf, "X-A: b\r\n");
    strcat(buf, "\r\n");
    assert_int_equal(check(buf, &r), HTTP_HEAD_BAD);
    assert_int_equal(r.status, 431);
    /* a head that never ends: a verdict once max_total bytes are there */
    memset(buf, 0, sizeof buf);
    strcpy(buf, "GET / HTTP/1.1\r\n");
    size_t n = strlen(buf);
    while (n + 10 < LIM.max_total + 10) {
        memcpy(buf + n, "X-A: b\r\n", 8);
        n += 8;
    }
    struct http_head_limits many = LIM;
    many.max_fields = 1000;
    assert_int_equal(http_head_check(buf, n, &many, &r), HTTP_HEAD_BAD);
    assert_int_equal(r.status, 431);
    /* incomplete, under the limits: no verdict */
    assert_int_equal(http_head_check("GET / HTTP/1.1\r\nHo", 18, &LIM, &r), HTTP_HEAD_INCOMPLETE);
    assert_int_equal(http_head_check("GET / HTTP/1.1\r", 15, &LIM, &r), HTTP_HEAD_INCOMPLETE);
    assert_int_equal(http_head_check("", 0, &LIM, &r), HTTP_HEAD_INCOMPLETE);
}

static void parsed_fields(void **state)
{
    (void)state;
    assert_true(http_token_ok("X-Consumer-Id", 13));
    assert_false(http_token_ok("X-Consumer-Id ", 14));
    assert_false(http_token_ok("", 0));
    assert_true(http_field_value_ok("a b\tc", 5));
    assert_false(http_field_value_ok("a\0b", 3));
    assert_false(http_field_value_ok("a\rb", 3));
    struct http_framing f = {0};
    http_framing_add(&f, "Content-Length", 14, "10", 2);
    assert_null(http_framing_verdict(&f, 1));
    http_framing_add(&f, "transfer-encoding", 17, "chunked", 7);
    assert_non_null(http_framing_verdict(&f, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepted),
        cmocka_unit_test(refused),
        cmocka_unit_test(limits),
        cmocka_unit_test(parsed_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
