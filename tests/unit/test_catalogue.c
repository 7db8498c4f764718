/* test_catalogue — the gateway's registry rules (src/gateway/catalogue.c): code/version and
 * service references, service and access-right validation, methods normalisation, the
 * whole-segment path-prefix match and the JSON forms (no secret ever). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "gateway/catalogue.h"

static void test_codes(void **state)
{
    assert_true(gw_valid_code("hotich"));
    assert_true(gw_valid_code("a.b_c-D9"));
    assert_false(gw_valid_code(""));
    assert_false(gw_valid_code(NULL));
    assert_false(gw_valid_code("."));
    assert_false(gw_valid_code(".."));
    assert_true(gw_valid_code("..."));
    assert_false(gw_valid_code("a/b"));
    assert_false(gw_valid_code("hộ"));
    assert_false(gw_valid_code("a b"));
    char c65[66];
    memset(c65, 'a', 65);
    c65[65] = '\0';
    assert_false(gw_valid_code(c65));
    c65[64] = '\0';
    assert_true(gw_valid_code(c65));
    assert_true(gw_valid_version("v1"));
    char v33[34];
    memset(v33, '1', 33);
    v33[33] = '\0';
    assert_false(gw_valid_version(v33));
    v33[32] = '\0';
    assert_true(gw_valid_version(v33));
}

static void test_service_ref(void **state)
{
    char code[GW_CODE_MAX + 1], version[GW_VERSION_MAX + 1];
    assert_int_equal(gw_parse_service_ref("hotich/v1", code, version), 0);
    assert_string_equal(code, "hotich");
    assert_string_equal(version, "v1");
    const char *bad[] = {"hotich",   "hotich/", "/v1",        "a/b/c", "",  "ho tich/v1",
                         "hotich/.", "../v1",   "hotich//v1", "a/b/",  NULL};
    for (size_t i = 0; bad[i]; i++) {
        strcpy(code, "keep");
        assert_int_equal(gw_parse_service_ref(bad[i], code, version), -1);
        assert_string_equal(code, "keep");
    }
    assert_int_equal(gw_parse_service_ref(NULL, code, version), -1);
    char longref[200];
    memset(longref, 'a', 65);
    strcpy(longref + 65, "/v1");
    assert_int_equal(gw_parse_service_ref(longref, code, version), -1);
}

static struct store_service good_service(void)
{
    struct store_service s = {
        .code = "hotich",
        .version = "v1",
        .provider_system = "000.00.06.H34",
        .name = "Tra cứu hộ tịch",
        .description = "Khai sinh,\nkết hôn",
        .url = "http://127.0.0.1:8081/hotich",
        .protocol = STORE_PROTO_REST,
        .timeout_ms = GW_DEFAULT_TIMEOUT_MS,
        .max_request_bytes = GW_DEFAULT_MAX_REQUEST,
        .max_response_bytes = GW_DEFAULT_MAX_RESPONSE,
        .rate_per_s = GW_DEFAULT_RATE_PER_S,
        .burst = 0,
    };
    return s;
}

static void expect_service_bad(struct store_service *s, const char *field)
{
    char detail[256] = "x";
    assert_int_equal(gw_service_check(s, detail, sizeof detail), LT_ERR_BAD_PARAMETER);
    if (!strstr(detail, field))
        fail_msg("detail '%s' does not name '%s'", detail, field);
}

static void test_service_check(void **state)
{
    char detail[256] = "junk";
    struct store_service s = good_service();
    assert_int_equal(gw_service_check(&s, detail, sizeof detail), LT_ERR_OK);
    assert_string_equal(detail, "");

    const char *good_urls[] = {"https://example.gov.vn", "HTTP://a.b:1/",
                               "http://[::1]:8081/x/y",  "http://10.0.0.1:65535/a%20b",
                               "http://my_host/p",       NULL};
    for (size_t i = 0; good_urls[i]; i++) {
        s = good_service();
        s.url = (char *)good_urls[i];
        if (gw_service_check(&s, detail, sizeof detail) != LT_ERR_OK)
            fail_msg("%s refused: %s", good_urls[i], detail);
    }
    const char *bad_urls[] = {"",
                              "ftp://x/",
                              "http://",
                              "http:///path",
                              "http://user:pw@host/",
                              "http://host/#frag",
                              "http://host/?q=1",
                              "http://host:0/",
                              "http://host:65536/",
                              "http://host:/",
                              "http://host:8a/",
                              "http://ho st/",
                              "http://[::1/",
                              "http://[]/",
                              "http://host\n/",
                              "//host/",
                              NULL};
    for (size_t i = 0; bad_urls[i]; i++) {
        s = good_service();
        s.url = (char *)bad_urls[i];
        if (gw_service_check(&s, detail, sizeof detail) != LT_ERR_BAD_PARAMETER)
            fail_msg("url '%s' accepted", bad_urls[i]);
        assert_non_null(strstr(detail, "url"));
    }
    char longurl[GW_URL_MAX + 2];
    strcpy(longurl, "http://h/");
    memset(longurl + 9, 'a', sizeof longurl - 10);
    longurl[sizeof longurl - 1] = '\0';
    s = good_service();
    s.url = longurl;
    expect_service_bad(&s, "url");
    s.url = NULL;
    expect_service_bad(&s, "url");

    s = good_service();
    s.code = "a/b";
    expect_service_bad(&s, "code");
    s = good_service();
    s.version = "";
    expect_service_bad(&s, "version");
    s = good_service();
    s.provider_system = NULL;
    expect_service_bad(&s, "provider");
    s = good_service();
    s.protocol = (enum store_protocol)7;
    expect_service_bad(&s, "protocol");
    s = good_service();
    s.timeout_ms = 0;
    expect_service_bad(&s, "timeout_ms");
    s.timeout_ms = GW_MAX_TIMEOUT_MS + 1;
    expect_service_bad(&s, "timeout_ms");
    s.timeout_ms = GW_MAX_TIMEOUT_MS;
    assert_int_equal(gw_service_check(&s, detail, sizeof detail), LT_ERR_OK);
    s = good_service();
    s.max_request_bytes = 0;
    expect_service_bad(&s, "max_request_bytes");
    s = good_service();
    s.max_response_bytes = -1;
    expect_service_bad(&s, "max_response_bytes");
    s = good_service();
    s.rate_per_s = -1;
    expect_service_bad(&s, "rate_per_s");
    s = good_service();
    s.burst = -5;
    expect_service_bad(&s, "burst");
    s = good_service();
    s.name = "tab\there";
    expect_service_bad(&s, "name");
    s.name = "\xc3\x28"; /* broken UTF-8 */
    expect_service_bad(&s, "name");
    s.name = "\xe0\x80\xaf"; /* overlong */
    expect_service_bad(&s, "name");
    s.name = "\xed\xa0\x80"; /* surrogate */
    expect_service_bad(&s, "name");
    s.name = NULL; /* treated as "" */
    assert_int_equal(gw_service_check(&s, detail, sizeof detail), LT_ERR_OK);
    char longname[GW_NAME_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    s.name = longname;
    expect_service_bad(&s, "name");
    s = good_service();
    s.description = "nul\x01";
    expect_service_bad(&s, "description");
    /* no detail buffer at all is fine */
    assert_int_equal(gw_service_check(&s, NULL, 0), LT_ERR_BAD_PARAMETER);
}

static struct store_grant grant(const char *methods, const char *prefix)
{
    struct store_grant g = {
        .consumer_system = "000.00.01.H34",
        .service_code = "hotich",
        .service_version = "v1",
        .methods = methods ? strdup(methods) : NULL,
        .path_prefix = (char *)prefix,
    };
    return g;
}

static void expect_methods(const char *in, const char *want)
{
    char detail[256];
    struct store_grant g = grant(in, "");
    enum lt_err e = gw_grant_check(&g, detail, sizeof detail);
    if (e != LT_ERR_OK)
        fail_msg("methods '%s' refused: %s", in ? in : "(null)", detail);
    assert_non_null(g.methods);
    assert_string_equal(g.methods, want);
    free(g.methods);
}

static void expect_grant_bad(struct store_grant *g, const char *field)
{
    char detail[256];
    char *before = g->methods;
    assert_int_equal(gw_grant_check(g, detail, sizeof detail), LT_ERR_BAD_PARAMETER);
    if (!strstr(detail, field))
        fail_msg("detail '%s' does not name '%s'", detail, field);
    assert_ptr_equal(g->methods, before); /* untouched on refusal */
    free(g->methods);
}

static void test_grant_check(void **state)
{
    expect_methods("GET,POST", "GET,POST");
    expect_methods("get, post ,GET", "GET,POST");
    expect_methods("", "");
    expect_methods("  ", "");
    expect_methods(NULL, "");
    expect_methods("m-SEARCH", "M-SEARCH");

    const char *bad_methods[] = {"GET,,POST", "GET,", ",GET", "GET POST", "GE(T", "GET;POST", NULL};
    for (size_t i = 0; bad_methods[i]; i++) {
        struct store_grant g = grant(bad_methods[i], "");
        expect_grant_bad(&g, "methods");
    }
    char many[400] = "";
    for (int i = 0; i < 17; i++)
        sprintf(many + strlen(many), "%sM%d", i ? "," : "", i);
    struct store_grant g = grant(many, "");
    expect_grant_bad(&g, "methods");
    char longm[40];
    memset(longm, 'A', 33);
    longm[33] = '\0';
    g = grant(longm, "");
    expect_grant_bad(&g, "methods");

    const char *good_prefixes[] = {"", "/", "/a", "/a/b/", "/a.b/c..d", NULL};
    for (size_t i = 0; good_prefixes[i]; i++) {
        char detail[256];
        g = grant("GET", good_prefixes[i]);
        if (gw_grant_check(&g, detail, sizeof detail) != LT_ERR_OK)
            fail_msg("prefix '%s' refused: %s", good_prefixes[i], detail);
        free(g.methods);
    }
    g = grant("GET", NULL);
    assert_int_equal(gw_grant_check(&g, NULL, 0), LT_ERR_OK);
    free(g.methods);
    const char *bad_prefixes[] = {"a",    "/a/../b", "/..", "/a/.",  "/%2e%2E/x",
                                  "/a b", "/a?",     "/a#", "/a\\b", NULL};
    for (size_t i = 0; bad_prefixes[i]; i++) {
        g = grant("GET", bad_prefixes[i]);
        expect_grant_bad(&g, "path_prefix");
    }
    char longp[GW_PATH_PREFIX_MAX + 2];
    longp[0] = '/';
    memset(longp + 1, 'p', sizeof longp - 2);
    longp[sizeof longp - 1] = '\0';
    g = grant("GET", longp);
    expect_grant_bad(&g, "path_prefix");

    g = grant("GET", "");
    g.consumer_system = "";
    expect_grant_bad(&g, "consumer");
    g = grant("GET", "");
    g.service_version = "..";
    expect_grant_bad(&g, "service");
    g = grant("GET", "");
    g.rate_per_s = -1;
    expect_grant_bad(&g, "rate_per_s");
    g = grant("GET", "");
    g.burst = -1;
    expect_grant_bad(&g, "burst");
}

static void test_grant_allows(void **state)
{
    /* every method, every path */
    assert_true(gw_grant_allows("", "", "DELETE", "/x"));
    assert_true(gw_grant_allows(NULL, NULL, "GET", "/"));
    assert_false(gw_grant_allows("", "", "", "/"));
    /* methods */
    assert_true(gw_grant_allows("GET,POST", "", "POST", "/x"));
    assert_false(gw_grant_allows("GET,POST", "", "PUT", "/x"));
    assert_false(gw_grant_allows("GET,POST", "", "get", "/x")); /* methods are case-sensitive */
    assert_false(gw_grant_allows("GET,POST", "", "GE", "/x"));
    assert_false(gw_grant_allows("GET", "", "GETX", "/x"));
    /* whole-segment prefixes */
    assert_true(gw_grant_allows("", "/a", "GET", "/a"));
    assert_true(gw_grant_allows("", "/a", "GET", "/a/"));
    assert_true(gw_grant_allows("", "/a", "GET", "/a/b"));
    assert_false(gw_grant_allows("", "/a", "GET", "/ab"));
    assert_false(gw_grant_allows("", "/a", "GET", "/"));
    assert_false(gw_grant_allows("", "/a", "GET", ""));
    assert_false(gw_grant_allows("", "/a", "GET", NULL));
    assert_false(gw_grant_allows("", "/a/b", "GET", "/a"));
    assert_true(gw_grant_allows("", "/a/", "GET", "/a/b"));
    assert_false(gw_grant_allows("", "/a/", "GET", "/a"));
    assert_true(gw_grant_allows("", "/", "GET", "/anything/at/all"));
    assert_true(gw_grant_allows("GET", "/khai-sinh", "GET", "/khai-sinh/123"));
    assert_false(gw_grant_allows("GET", "/khai-sinh", "POST", "/khai-sinh/123"));
    /* no escape through dot segments or encoded separators */
    assert_false(gw_grant_allows("", "/a", "GET", "/a/../secret"));
    assert_false(gw_grant_allows("", "/a", "GET", "/a/%2e%2E/secret"));
    assert_false(gw_grant_allows("", "/a", "GET", "/a/./b"));
    assert_false(gw_grant_allows("", "/a", "GET", "/a/x%2F..%2Fsecret"));
    assert_false(gw_grant_allows("", "/a", "GET", "/a/x\\..\\secret"));
    assert_true(gw_grant_allows("", "/a", "GET", "/a/x..y/.hidden"));
}

static void test_json(void **state)
{
    struct store_service s = good_service();
    s.created_ms = 1700000000000;
    s.updated_ms = 1700000001000;
    json_t *o = gw_service_to_json(&s);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "code")), "hotich");
    assert_string_equal(json_string_value(json_object_get(o, "version")), "v1");
    assert_string_equal(json_string_value(json_object_get(o, "provider")), "000.00.06.H34");
    assert_string_equal(json_string_value(json_object_get(o, "url")),
                        "http://127.0.0.1:8081/hotich");
    assert_string_equal(json_string_value(json_object_get(o, "protocol")), "rest");
    assert_int_equal(json_integer_value(json_object_get(o, "timeout_ms")), GW_DEFAULT_TIMEOUT_MS);
    assert_int_equal(json_integer_value(json_object_get(o, "max_request_bytes")),
                     GW_DEFAULT_MAX_REQUEST);
    assert_int_equal(json_integer_value(json_object_get(o, "rate_per_s")), GW_DEFAULT_RATE_PER_S);
    assert_string_equal(json_string_value(json_object_get(o, "created")),
                        "2023-11-14T22:13:20.000Z");
    json_decref(o);
    s.protocol = STORE_PROTO_SOAP;
    s.name = NULL;
    o = gw_service_to_json(&s);
    assert_string_equal(json_string_value(json_object_get(o, "protocol")), "soap");
    assert_string_equal(json_string_value(json_object_get(o, "name")), "");
    json_decref(o);

    struct store_grant g = grant(NULL, "/a");
    g.methods = "GET,POST";
    g.rate_per_s = 5;
    o = gw_grant_to_json(&g);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "consumer")), "000.00.01.H34");
    assert_string_equal(json_string_value(json_object_get(o, "service")), "hotich/v1");
    assert_string_equal(json_string_value(json_object_get(o, "methods")), "GET,POST");
    assert_string_equal(json_string_value(json_object_get(o, "path_prefix")), "/a");
    assert_int_equal(json_integer_value(json_object_get(o, "rate_per_s")), 5);
    json_decref(o);

    const char *hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    struct store_token t = {.sha256 = (char *)hash,
                            .system_id = "000.00.01.H34",
                            .issued_ms = 1700000000000,
                            .expires_ms = 1700003600000};
    o = gw_token_to_json(&t);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "0123456789ab");
    assert_string_equal(json_string_value(json_object_get(o, "system")), "000.00.01.H34");
    assert_string_equal(json_string_value(json_object_get(o, "expires")),
                        "2023-11-14T23:13:20.000Z");
    assert_null(json_object_get(o, "revoked"));
    char *text = json_dumps(o, 0);
    assert_null(strstr(text, hash)); /* never the whole hash */
    free(text);
    json_decref(o);
    t.revoked_ms = 1700000100000;
    o = gw_token_to_json(&t);
    assert_non_null(json_object_get(o, "revoked"));
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),         cmocka_unit_test(test_service_ref),
        cmocka_unit_test(test_service_check), cmocka_unit_test(test_grant_check),
        cmocka_unit_test(test_grant_allows),  cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
