/* libFuzzer target: the strict request-head check (src/http/head.c) on arbitrary bytes.
 * Properties, beyond not crashing: a refusal has a status (400 or 431) and a reason; an accepted
 * head ends with its empty line, every field line in it passes the field rules, the same bytes
 * alone are accepted with the same length, and one byte fewer is not yet a verdict (the check
 * never decides on a head it has not seen whole). The field and framing helpers also get the
 * input split at its first colon. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    const struct http_head_limits lim = {.max_line = 512, .max_total = 4096, .max_fields = 16};
    struct http_head_result r = {0};
    enum http_head_verdict v = http_head_check(buf, size, &lim, &r);
    if (v == HTTP_HEAD_BAD && ((r.status != 400 && r.status != 431) || !r.reason || !*r.reason))
        abort();
    if (v == HTTP_HEAD_OK) {
        if (r.len < 4 || r.len > size || memcmp(buf + r.len - 4, "\r\n\r\n", 4) != 0)
            abort();
        struct http_head_result again = {0};
        if (http_head_check(buf, r.len, &lim, &again) != HTTP_HEAD_OK || again.len != r.len)
            abort();
        if (http_head_check(buf, r.len - 1, &lim, &again) != HTTP_HEAD_INCOMPLETE)
            abort();
        /* every field line (after the request line) is a token, a colon and a clean value */
        const char *start = buf; /* after the empty lines the check skips */
        for (int i = 0; i < 4 && start + 1 < buf + r.len && start[0] == '\r' && start[1] == '\n';
             i++)
            start += 2;
        const char *p = memmem(start, (size_t)(buf + r.len - start), "\r\n", 2);
        const char *end = buf + r.len - 2;
        while (p && p + 2 < end) {
            const char *line = p + 2;
            const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
            if (!eol)
                abort();
            const char *colon = memchr(line, ':', (size_t)(eol - line));
            if (!colon || !http_token_ok(line, (size_t)(colon - line)) ||
                !http_field_value_ok(colon + 1, (size_t)(eol - colon - 1)))
                abort();
            p = eol;
        }
    }
    if (v == HTTP_HEAD_INCOMPLETE && size >= lim.max_total)
        abort();

    const char *colon = memchr(buf, ':', size);
    if (colon) {
        /* the same field twice is never "two different values" */
        struct http_framing once = {0}, twice = {0};
        size_t nl = (size_t)(colon - buf);
        http_framing_add(&once, buf, nl, colon + 1, size - nl - 1);
        http_framing_add(&twice, buf, nl, colon + 1, size - nl - 1);
        http_framing_add(&twice, buf, nl, colon + 1, size - nl - 1);
        if (!once.reason && twice.reason)
            abort();
        (void)http_framing_verdict(&twice, (int)(size & 1));
        (void)http_token_ok(buf, nl);
        (void)http_field_value_ok(colon + 1, size - nl - 1);
    }
    return 0;
}
