/* fuzz_gateway — libFuzzer target for the data-sharing gateway's own parsers (gw_int.h): the
 * request-target split, the dot-segment refusal and the X-Request-Id check of the call path, and
 * the form body and HTTP Basic credentials of POST /token.
 *
 * Input layout: data[0] % 8 chooses the parser (so the seeds start with an ASCII digit), the
 * rest is its input:
 *   0 gw_token_form_decode       4 gw_parse_target (then gw_has_dot_segment on its path)
 *   1 gw_token_parse_form        5 gw_has_dot_segment
 *   2 gw_token_parse_basic       6 gw_valid_request_id
 *   3 gw_token_parse_basic of the input base64-encoded here (so the decoded bytes are chosen)
 *   7 what POST /token does: "Authorization value\nform body"
 * Length-taking parsers get an exact-size heap copy, so that a read past the end is caught;
 * the others a NUL-terminated one. Each result is checked against a plain re-implementation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/gw_int.h"
#include "util/b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* assert() is compiled out in RelWithDebInfo. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_gateway: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int hex(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Form-urlencoded decoding as RFC 6749 appendix B and the header describe it; returns the
 * decoded length or -1. */
static long ref_form_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int v = i + 2 < n && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0
                        ? hex(s[i + 1]) * 16 + hex(s[i + 2])
                        : 0;
            if (v == 0)
                return -1;
            out[o++] = (char)v;
            i += 2;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    return (long)o;
}

/* Decodes s[0..n) both ways and checks they agree. */
static void check_form_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *ref = malloc(n + 1);
    CHECK(out && ref);
    int rc = gw_token_form_decode(s, n, out);
    long len = ref_form_decode(s, n, ref);
    CHECK((rc == 0) == (len >= 0));
    if (rc == 0) {
        CHECK((size_t)len <= n);
        CHECK(memcmp(out, ref, (size_t)len) == 0 && out[len] == '\0');
    }
    free(out);
    free(ref);
}

/* A field of a parsed form: set ones are NUL-terminated inside their array and no longer than
 * the input they came from; unset ones were never written (the form starts zeroed). */
static void check_field(const char *v, size_t cap, int set, size_t input_len)
{
    if (set) {
        size_t n = strnlen(v, cap);
        CHECK(n < cap && n <= input_len);
    } else {
        for (size_t i = 0; i < cap; i++)
            CHECK(v[i] == '\0');
    }
}

static void check_form(const struct gw_form *f, size_t input_len)
{
    check_field(f->grant_type, sizeof f->grant_type, f->has_grant_type, input_len);
    check_field(f->client_id, sizeof f->client_id, f->has_client_id, input_len);
    check_field(f->client_secret, sizeof f->client_secret, f->has_client_secret, input_len);
}

static void fuzz_form(const char *body, size_t len)
{
    struct gw_form f;
    memset(&f, 0, sizeof f);
    const char *why = gw_token_parse_form(body, len, &f);
    if (!why)
        check_form(&f, len);
}

static void fuzz_basic(const char *b64, size_t len)
{
    char *value = malloc(len + 7);
    CHECK(value);
    memcpy(value, "Basic ", 6);
    memcpy(value + 6, b64, len);
    value[len + 6] = '\0';
    struct gw_form f;
    memset(&f, 0, sizeof f);
    if (gw_token_parse_basic(value, &f) == 0) {
        CHECK(f.has_client_id && f.has_client_secret && !f.has_grant_type);
        check_form(&f, len);
        /* base64 carries 3 bytes in 4 characters, and the ':' is not kept */
        CHECK(strlen(f.client_id) + strlen(f.client_secret) + 1 <= len / 4 * 3 + 2);
    }
    free(value);
}

/* Credentials whose decoded bytes are the input: the result must be the form-decoding of the
 * two parts around the first ':', when both fit. */
static void fuzz_basic_encoded(const char *raw, size_t len)
{
    if (len > 760) /* 1016 base64 characters: under the 1024 accepted */
        return;
    char value[6 + B64_ENCODED_LEN(760) + 1];
    memcpy(value, "Basic ", 6);
    b64_encode((const uint8_t *)raw, len, value + 6);
    struct gw_form f;
    memset(&f, 0, sizeof f);
    int rc = gw_token_parse_basic(value, &f);
    const char *colon = memchr(raw, ':', len);
    if (!colon) {
        CHECK(rc != 0);
        return;
    }
    size_t il = (size_t)(colon - raw), sl = len - il - 1;
    char id[761], secret[761];
    long idl = ref_form_decode(raw, il, id), sel = ref_form_decode(colon + 1, sl, secret);
    int expect = il < sizeof f.client_id && sl < sizeof f.client_secret && idl >= 0 && sel >= 0;
    CHECK((rc == 0) == expect);
    if (rc == 0) {
        CHECK(memcmp(f.client_id, id, (size_t)idl) == 0 && f.client_id[idl] == '\0');
        CHECK(memcmp(f.client_secret, secret, (size_t)sel) == 0 && f.client_secret[sel] == '\0');
    }
}

/* POST /token: the body, then Basic credentials unless the body already gave some. */
static void fuzz_token_request(const char *in, size_t len)
{
    const char *nl = memchr(in, '\n', len);
    size_t al = nl ? (size_t)(nl - in) : len;
    const char *body = nl ? nl + 1 : in + len;
    size_t bl = len - al - (nl ? 1 : 0);
    char *auth = malloc(al + 1);
    char *b = malloc(bl ? bl : 1);
    CHECK(auth && b);
    memcpy(auth, in, al);
    auth[al] = '\0';
    memcpy(b, body, bl);
    struct gw_form f;
    memset(&f, 0, sizeof f);
    const char *why = gw_token_parse_form(b, bl, &f);
    if (!why) {
        check_form(&f, bl);
        /* a refused value may be left half-written: only a success is checked */
        if (strncasecmp(auth, "Basic ", 6) == 0 && !f.has_client_id && !f.has_client_secret &&
            gw_token_parse_basic(auth, &f) == 0)
            check_form(&f, len);
    }
    free(auth);
    free(b);
}

/* Dot segments the plain way: every separator ('/', '\\', %2F, %5C) rewritten as '/', %2e/%2E
 * decoded to '.', then a segment whose part before any ';' is "." or "..". */
static int ref_dot_segment(const char *p, size_t len)
{
    char *n = malloc(len + 1);
    CHECK(n);
    size_t d = 0;
    for (size_t k = 0; k < len;) {
        char c3 = len - k >= 3 && p[k] == '%' ? (char)(p[k + 2] | 0x20) : 0;
        if (p[k] == '/' || p[k] == '\\') {
            n[d++] = '/';
            k++;
        } else if (c3 && ((p[k + 1] == '2' && c3 == 'f') || (p[k + 1] == '5' && c3 == 'c'))) {
            n[d++] = '/';
            k += 3;
        } else if (c3 && p[k + 1] == '2' && c3 == 'e') {
            n[d++] = '.';
            k += 3;
        } else {
            n[d++] = p[k++];
        }
    }
    int found = 0;
    for (size_t i = 0; i <= d && !found;) {
        size_t e = i;
        while (e < d && n[e] != '/')
            e++;
        size_t s = i;
        while (s < e && n[s] != ';')
            s++;
        found = (s - i == 1 && n[i] == '.') || (s - i == 2 && n[i] == '.' && n[i + 1] == '.');
        i = e + 1;
    }
    free(n);
    return found;
}

static void check_dot_segment(const char *path, size_t len)
{
    char *p = malloc(len ? len : 1);
    CHECK(p);
    memcpy(p, path, len);
    int r = gw_has_dot_segment(p, len);
    CHECK(r == 0 || r == 1);
    if (len == 0 || p[0] == '/')
        CHECK(r == ref_dot_segment(p, len));
    free(p);
}

static void fuzz_target(const char *raw)
{
    char code[GW_CODE_MAX + 1], version[GW_VERSION_MAX + 1];
    const char *rest = NULL;
    if (gw_parse_target(raw, code, version, &rest) != 0)
        return;
    CHECK(gw_valid_code(code) && gw_valid_version(version));
    size_t rl = strlen(raw);
    CHECK(rest && rest >= raw && rest <= raw + rl);
    CHECK(*rest == '\0' || *rest == '/' || *rest == '?');
    /* nothing lost or added: raw is exactly "/gw/" code "/" version rest */
    size_t cl = strlen(code), vl = strlen(version);
    CHECK(4 + cl + 1 + vl + strlen(rest) == rl);
    CHECK(memcmp(raw, "/gw/", 4) == 0 && memcmp(raw + 4, code, cl) == 0 && raw[4 + cl] == '/' &&
          memcmp(raw + 5 + cl, version, vl) == 0 && raw + 5 + cl + vl == rest);
    /* as gateway_call goes on */
    check_dot_segment(rest, strcspn(rest, "?"));
}

static void fuzz_request_id(const char *s)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:";
    size_t n = strlen(s);
    int r = gw_valid_request_id(s);
    CHECK(r == (n > 0 && n <= GW_REQUEST_ID_MAX && strspn(s, ok) == n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384)
        return 0;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    char *exact = malloc(n ? n : 1); /* no terminator: reads past n are caught */
    char *str = malloc(n + 1);
    CHECK(exact && str);
    memcpy(exact, in, n);
    memcpy(str, in, n);
    str[n] = '\0';
    switch (data[0] % 8) {
    case 0:
        check_form_decode(exact, n);
        break;
    case 1:
        fuzz_form(exact, n);
        break;
    case 2:
        fuzz_basic(str, strlen(str));
        break;
    case 3:
        fuzz_basic_encoded(exact, n);
        break;
    case 4:
        fuzz_target(str);
        break;
    case 5:
        check_dot_segment(exact, n);
        break;
    case 6:
        fuzz_request_id(str);
        break;
    default:
        fuzz_token_request(exact, n);
        break;
    }
    free(exact);
    free(str);
    return 0;
}
