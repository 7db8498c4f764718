/* test_relay_route — the relay's pure rules (src/relay/route.c, src/relay/peer.c): pattern
 * validity, matching with '*' as ONE OR MORE characters (against a reference matcher on many
 * random cases, and on inputs that would make a backtracking matcher explode), the specificity
 * order and its ties, the decision (local wins, most specific peer, none, bad organ id, failed
 * lookup), and the rules and JSON forms of the platform identity and peers (no secret shown). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/peer.h"
#include "relay/route.h"

/* ---- patterns ------------------------------------------------------------------------------- */

static void test_pattern_ok(void **state)
{
    const char *good[] = {"*",   "**",         "*.H34",  "000.00.*.H30", "000.00.00.H34",
                          "*.*", "vxp.saas.*", "a_b-c*", "*-*_*",        NULL};
    for (size_t i = 0; good[i]; i++)
        if (!relay_pattern_ok(good[i]))
            fail_msg("pattern '%s' refused", good[i]);
    const char *bad[] = {"", "a b", "a/b", "*?", "Đ*", "*.H34\n", "a%2A", "[a]", "a,b", NULL};
    for (size_t i = 0; bad[i]; i++)
        if (relay_pattern_ok(bad[i]))
            fail_msg("pattern '%s' accepted", bad[i]);
    assert_false(relay_pattern_ok(NULL));

    char p[RELAY_PATTERN_MAX + 2];
    memset(p, '*', RELAY_PATTERN_MAX + 1);
    p[RELAY_PATTERN_MAX + 1] = '\0';
    assert_false(relay_pattern_ok(p)); /* 65 bytes */
    p[RELAY_PATTERN_MAX] = '\0';
    assert_true(relay_pattern_ok(p)); /* 64 */

    char detail[128];
    assert_int_equal(relay_pattern_check("*.H34", detail, sizeof detail), LT_ERR_OK);
    assert_string_equal(detail, "");
    assert_int_equal(relay_pattern_check("", detail, sizeof detail), LT_ERR_BAD_PARAMETER);
    assert_non_null(strstr(detail, "required"));
    assert_int_equal(relay_pattern_check("a b", detail, sizeof detail), LT_ERR_BAD_PARAMETER);
    assert_non_null(strstr(detail, "pattern"));
    memset(p, 'a', RELAY_PATTERN_MAX + 1);
    p[RELAY_PATTERN_MAX + 1] = '\0';
    assert_int_equal(relay_pattern_check(p, detail, sizeof detail), LT_ERR_BAD_PARAMETER);
    assert_non_null(strstr(detail, "64"));
    assert_int_equal(relay_pattern_check(NULL, NULL, 0), LT_ERR_BAD_PARAMETER);
}

static void test_match(void **state)
{
    static const struct {
        const char *pattern, *organ;
        int match;
    } cases[] = {
        /* one or more: "*.H34" needs something before ".H34" */
        {"*.H34", "000.00.00.H34", 1},
        {"*.H34", ".H34", 0},
        {"*.H34", "H34", 0},
        {"*.H34", "000.00.00.H340", 0},
        {"*.H34", "000.00.00.h34", 0}, /* bytes: case matters */
        {"*", "a", 1},
        {"*", "000.00.00.G22", 1},
        {"*", "", 0},
        {"**", "a", 0},
        {"**", "ab", 1},
        {"a*", "a", 0},
        {"a*", "ab", 1},
        {"*a", "a", 0},
        {"*a", "ba", 1},
        {"000.00.*.H30", "000.00.00.H30", 1},
        {"000.00.*.H30", "000.00.12.H30", 1},
        {"000.00.*.H30", "000.00..H30", 0},
        {"000.00.*.H30", "000.01.00.H30", 0},
        {"000.00.*.H30", "000.00.00.H34", 0},
        {"a*b*c", "abc", 0},
        {"a*b*c", "axbyc", 1},
        {"a*b*c", "axbc", 0},
        {"a*b*c", "axxbbyyc", 1},
        {"*ab*ab", "xabab", 0},
        {"*ab*ab", "xabyab", 1},
        {"*ab*ab", "xababab", 1},
        {"a*a", "aa", 0},
        {"a*a", "aaa", 1},
        {"*.*", "a.b", 1},
        {"*.*", "a.", 0},
        {"*.*", ".b", 0},
        {"000.00.00.H34", "000.00.00.H34", 1},
        {"000.00.00.H34", "000.00.00.H3", 0},
        {"000.00.00.H34", "000.00.00.H345", 0},
        {"vxp.saas.*", "vxp.saas.03", 1},
        {"vxp.saas.*", "vxp.saas.", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (relay_pattern_match(cases[i].pattern, cases[i].organ) != cases[i].match)
            fail_msg("match('%s', '%s') != %d", cases[i].pattern, cases[i].organ, cases[i].match);
    assert_false(relay_pattern_match(NULL, "a"));
    assert_false(relay_pattern_match("*", NULL));
}

/* The definition, written the obvious (exponential) way: '*' takes 1..all of the rest. */
static int ref_match(const char *p, const char *s)
{
    if (!*p)
        return !*s;
    if (*p == '*') {
        for (size_t k = 1; k <= strlen(s); k++)
            if (ref_match(p + 1, s + k))
                return 1;
        return 0;
    }
    return *s == *p && ref_match(p + 1, s + 1);
}

static void random_string(char *out, size_t max, const char *alphabet, unsigned *seed)
{
    size_t n = (size_t)rand_r(seed) % (max + 1), na = strlen(alphabet);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[(size_t)rand_r(seed) % na];
    out[n] = '\0';
}

static void test_match_reference(void **state)
{
    unsigned seed = 20261122;
    char p[16], s[16];
    size_t matched = 0;
    for (int i = 0; i < 200000; i++) {
        random_string(p, 8, "ab.**", &seed);
        random_string(s, 10, "ab.", &seed);
        int want = ref_match(p, s);
        if (relay_pattern_match(p, s) != want)
            fail_msg("match('%s', '%s') != %d", p, s, want);
        matched += (size_t)want;
    }
    assert_true(matched > 1000); /* the cases are not all trivially false */
}

/* Inputs that take a backtracking matcher exponential time: answered at once here. */
static void test_match_no_blowup(void **state)
{
    char organ[RELAY_PATTERN_MAX + 1], pattern[RELAY_PATTERN_MAX + 1];
    memset(organ, 'a', RELAY_PATTERN_MAX);
    organ[RELAY_PATTERN_MAX] = '\0';
    size_t n = 0;
    while (n + 2 < RELAY_PATTERN_MAX) {
        pattern[n++] = '*';
        pattern[n++] = 'a';
    }
    pattern[n++] = 'b';
    pattern[n] = '\0';
    assert_true(relay_pattern_ok(pattern));
    for (int i = 0; i < 20000; i++)
        assert_false(relay_pattern_match(pattern, organ));
    pattern[n - 1] = '*'; /* 32 runs of '*' and 31 'a' need 63 characters: 64 are there */
    assert_true(relay_pattern_match(pattern, organ));
    organ[RELAY_PATTERN_MAX - 1] = 'b';
    pattern[n - 1] = 'b';
    assert_true(relay_pattern_match(pattern, organ));
}

/* ---- specificity ---------------------------------------------------------------------------- */

static void test_specificity(void **state)
{
    /* 1. more literal characters wins */
    assert_true(relay_pattern_cmp("000.00.*.H30", "*.H30") < 0);
    assert_true(relay_pattern_cmp("*.H30", "000.00.*.H30") > 0);
    assert_true(relay_pattern_cmp("000.00.00.H30", "000.00.*.H30") < 0);
    assert_true(relay_pattern_cmp("*.H30", "*") < 0);
    /* 2. as many literals: fewer '*' wins */
    assert_true(relay_pattern_cmp("a*", "a**") < 0);
    assert_true(relay_pattern_cmp("*a*b", "*ab") > 0);
    /* 3. as many of both: byte order ('*' 0x2A < '.' 0x2E < '0' 0x30 < 'A' < 'a') */
    assert_true(relay_pattern_cmp("*.H34", "000.*") < 0);
    assert_true(relay_pattern_cmp("000.*", "*.H34") > 0);
    assert_true(relay_pattern_cmp("*.H30", "*.H34") < 0);
    assert_true(relay_pattern_cmp("x*", "*x") > 0);
    /* a total order: 0 only for the same pattern */
    assert_int_equal(relay_pattern_cmp("*.H34", "*.H34"), 0);

    const char *in[] = {"*",     "*.H30", "000.00.*.H30", "**", "000.00.00.H30", "*.H34",
                        "000.*", "0*"};
    const char *want[] = {"000.00.00.H30", "000.00.*.H30", "*.H30", "*.H34",
                          "000.*",         "0*",           "*",     "**"};
    size_t n = sizeof in / sizeof in[0];
    /* every rotation of the input sorts the same */
    for (size_t rot = 0; rot < n; rot++) {
        struct relay_route r[8];
        for (size_t i = 0; i < n; i++)
            r[i] = (struct relay_route){in[(i + rot) % n], "p"};
        relay_routes_sort(r, n);
        for (size_t i = 0; i < n; i++)
            assert_string_equal(r[i].pattern, want[i]);
    }
    relay_routes_sort(NULL, 0);
}

/* ---- decision ------------------------------------------------------------------------------- */

struct local_set {
    const char *const *organs;
    int fail;
    int calls;
};

static int is_local(void *ctx, const char *organ)
{
    struct local_set *l = ctx;
    l->calls++;
    if (l->fail)
        return -1;
    for (size_t i = 0; l->organs && l->organs[i]; i++)
        if (strcmp(l->organs[i], organ) == 0)
            return 1;
    return 0;
}

static const char *decide_peer(const struct relay_route *r, size_t n, struct local_set *l,
                               const char *organ)
{
    struct relay_decision d = {.target = RELAY_NONE};
    assert_int_equal(relay_decide(organ, r, n, is_local, l, &d), LT_ERR_OK);
    if (d.target == RELAY_LOCAL) {
        assert_null(d.route);
        return "LOCAL";
    }
    if (d.target == RELAY_NONE) {
        assert_null(d.route);
        return "NONE";
    }
    assert_int_equal(d.target, RELAY_PEER);
    assert_non_null(d.route);
    assert_true(d.route >= r && d.route < r + n);
    return d.route->peer;
}

static void test_decide(void **state)
{
    const char *local_organs[] = {"000.00.00.H34", "000.00.01.H34", "vxp.saas.03", NULL};
    struct local_set l = {local_organs, 0, 0};
    struct relay_route r[] = {
        {"*", "ndxp"},
        {"*.H30", "hoabinh"},
        {"000.00.*.H30", "hoabinh-ubnd"},
        {"000.00.01.H34", "wrong"}, /* an exact route for a local organ: never taken */
        {"*.H34", "wrong-too"},     /* the whole province: local organs still stay */
        {"bad pattern", "ignored"},
        {"000.00.00.H41", NULL}, /* no peer: ignored */
    };
    size_t n = sizeof r / sizeof r[0];

    /* local agencies always win, even over an exact route */
    assert_string_equal(decide_peer(r, n, &l, "000.00.00.H34"), "LOCAL");
    assert_string_equal(decide_peer(r, n, &l, "000.00.01.H34"), "LOCAL");
    assert_string_equal(decide_peer(r, n, &l, "vxp.saas.03"), "LOCAL");
    /* a province organ this platform does not know goes by the routes */
    assert_string_equal(decide_peer(r, n, &l, "000.00.02.H34"), "wrong-too");
    /* the most specific match */
    assert_string_equal(decide_peer(r, n, &l, "000.00.00.H30"), "hoabinh-ubnd");
    assert_string_equal(decide_peer(r, n, &l, "001.02.00.H30"), "hoabinh");
    assert_string_equal(decide_peer(r, n, &l, "000.00.00.G22"), "ndxp");
    assert_string_equal(decide_peer(r, n, &l, "000.00.00.H41"), "ndxp");
    assert_string_equal(decide_peer(r, n, &l, ".H30"), "ndxp"); /* '*' is one or more */
    /* none: no route matches (only the specific ones are left) */
    assert_string_equal(decide_peer(r + 1, 3, &l, "000.00.00.G22"), "NONE");
    assert_string_equal(decide_peer(NULL, 0, &l, "000.00.00.G22"), "NONE");
    assert_string_equal(decide_peer(NULL, 0, &l, "000.00.00.H34"), "LOCAL");

    /* ties: same literals and stars; the byte order decides, whatever the order given */
    struct relay_route tie[] = {{"000.*", "by-prefix"}, {"*.H34", "by-suffix"}};
    struct local_set none = {NULL, 0, 0};
    assert_string_equal(decide_peer(tie, 2, &none, "000.00.00.H34"), "by-suffix");
    struct relay_route tie2[] = {{"*.H34", "by-suffix"}, {"000.*", "by-prefix"}};
    assert_string_equal(decide_peer(tie2, 2, &none, "000.00.00.H34"), "by-suffix");
    struct relay_route tie3[] = {{"0*.H34", "one-star"}, {"0**H34", "two-stars"}};
    assert_string_equal(decide_peer(tie3, 2, &none, "000.00.00.H34"), "one-star");
    assert_string_equal(decide_peer(tie3 + 1, 1, &none, "000.00.00.H34"), "two-stars");

    /* a NULL lookup means nothing is local */
    struct relay_decision d;
    assert_int_equal(relay_decide("000.00.01.H34", r, n, NULL, NULL, &d), LT_ERR_OK);
    assert_int_equal(d.target, RELAY_PEER);
    assert_string_equal(d.route->peer, "wrong"); /* the exact route beats "*.H34" */
    assert_int_equal(relay_decide("000.00.00.H34", r, n, NULL, NULL, &d), LT_ERR_OK);
    assert_string_equal(d.route->peer, "wrong-too");

    /* errors leave *ret untouched */
    struct relay_decision keep = {.target = RELAY_PEER, .route = &r[0]};
    const char *bad_organs[] = {"", "a b", "000.00.00.H3*", "Đ", NULL};
    for (size_t i = 0; bad_organs[i]; i++) {
        d = keep;
        assert_int_equal(relay_decide(bad_organs[i], r, n, is_local, &l, &d), LT_ERR_BAD_ORGAN_ID);
        assert_ptr_equal(d.route, &r[0]);
    }
    assert_int_equal(relay_decide(NULL, r, n, is_local, &l, &d), LT_ERR_BAD_ORGAN_ID);
    char long_organ[STORE_ID_MAX + 2];
    memset(long_organ, 'a', sizeof long_organ - 1);
    long_organ[sizeof long_organ - 1] = '\0';
    assert_int_equal(relay_decide(long_organ, r, n, is_local, &l, &d), LT_ERR_BAD_ORGAN_ID);
    struct local_set broken = {local_organs, 1, 0};
    d = keep;
    assert_int_equal(relay_decide("000.00.00.G22", r, n, is_local, &broken, &d),
                     LT_ERR_STORE_FAILED);
    assert_int_equal(d.target, RELAY_PEER);
    assert_int_equal(broken.calls, 1);

    assert_string_equal(relay_target_name(RELAY_LOCAL), "local");
    assert_string_equal(relay_target_name(RELAY_PEER), "peer");
    assert_string_equal(relay_target_name(RELAY_NONE), "none");
}

/* ---- platform and peers --------------------------------------------------------------------- */

static struct store_peer good_peer(void)
{
    return (struct store_peer){
        .name = "ndxp",
        .endpoint = "https://vdxp.gov.vn/vxp",
        .system_id = "000.00.00.H34",
        .secret = "A7TKsecret-0123456789abcdefghijklmnopqrs81Ve=",
        .pull_interval_ms = RELAY_PULL_DEFAULT_MS,
    };
}

static void expect_peer_bad(struct store_peer p, const char *field)
{
    char detail[256];
    assert_int_equal(relay_peer_check(&p, detail, sizeof detail), LT_ERR_BAD_PARAMETER);
    if (strncmp(detail, field, strlen(field)) != 0)
        fail_msg("detail '%s' does not name %s", detail, field);
}

static void test_peer_rules(void **state)
{
    assert_true(relay_peer_name_ok("ndxp"));
    assert_true(relay_peer_name_ok("hoa-binh_2.prod"));
    assert_false(relay_peer_name_ok(""));
    assert_false(relay_peer_name_ok(NULL));
    assert_false(relay_peer_name_ok("."));
    assert_false(relay_peer_name_ok(".."));
    assert_false(relay_peer_name_ok("a/b"));
    assert_false(relay_peer_name_ok("a b"));
    assert_false(relay_peer_name_ok("hòa"));
    char n65[66];
    memset(n65, 'n', 65);
    n65[65] = '\0';
    assert_false(relay_peer_name_ok(n65));
    n65[64] = '\0';
    assert_true(relay_peer_name_ok(n65));

    char detail[256];
    struct store_peer p = good_peer();
    assert_int_equal(relay_peer_check(&p, detail, sizeof detail), LT_ERR_OK);
    const char *good_endpoints[] = {"http://10.0.0.9:8080", "https://vdxp.gov.vn/vxp/",
                                    "HTTPS://[::1]:443/a/b", "http://h", NULL};
    for (size_t i = 0; good_endpoints[i]; i++) {
        p.endpoint = (char *)good_endpoints[i];
        if (relay_peer_check(&p, detail, sizeof detail) != LT_ERR_OK)
            fail_msg("endpoint %s refused: %s", good_endpoints[i], detail);
    }
    struct store_peer b;
    b = good_peer(), b.name = "a/b", expect_peer_bad(b, "name");
    b = good_peer(), b.name = NULL, expect_peer_bad(b, "name");
    const char *bad_endpoints[] = {"",
                                   "ftp://h/",
                                   "http://",
                                   "http://u:p@h/",
                                   "http://h/?q",
                                   "http://h/#f",
                                   "http://h:0/",
                                   "http://h:99999",
                                   "http://h a/",
                                   "vdxp.gov.vn",
                                   "http://[zz]/",
                                   NULL};
    for (size_t i = 0; bad_endpoints[i]; i++) {
        b = good_peer();
        b.endpoint = (char *)bad_endpoints[i];
        expect_peer_bad(b, "endpoint");
    }
    b = good_peer(), b.endpoint = NULL, expect_peer_bad(b, "endpoint");
    b = good_peer(), b.system_id = "a b", expect_peer_bad(b, "system_id");
    b = good_peer(), b.system_id = "", expect_peer_bad(b, "system_id");
    b = good_peer(), b.secret = "", expect_peer_bad(b, "secret");
    b = good_peer(), b.secret = NULL, expect_peer_bad(b, "secret");
    b = good_peer(), b.secret = "tab\there", expect_peer_bad(b, "secret");
    b = good_peer(), b.secret = RELAY_SECRET_MASK, expect_peer_bad(b, "secret");
    char s257[258];
    memset(s257, 's', 257);
    s257[257] = '\0';
    b = good_peer(), b.secret = s257, expect_peer_bad(b, "secret");
    s257[256] = '\0';
    b = good_peer(), b.secret = s257;
    assert_int_equal(relay_peer_check(&b, detail, sizeof detail), LT_ERR_OK);
    b = good_peer(), b.pull_interval_ms = RELAY_PULL_MIN_MS - 1, expect_peer_bad(b, "pull");
    b = good_peer(), b.pull_interval_ms = RELAY_PULL_MAX_MS + 1, expect_peer_bad(b, "pull");
    b = good_peer(), b.pull_interval_ms = -1, expect_peer_bad(b, "pull");
    b = good_peer(), b.pull_interval_ms = RELAY_PULL_MIN_MS;
    assert_int_equal(relay_peer_check(&b, detail, sizeof detail), LT_ERR_OK);
    b.pull_interval_ms = RELAY_PULL_MAX_MS;
    assert_int_equal(relay_peer_check(&b, detail, sizeof detail), LT_ERR_OK);

    struct store_platform pl = {.organ_id = "000.00.00.H34", .name = "UBND tỉnh Kon Tum"};
    assert_int_equal(relay_platform_check(&pl, detail, sizeof detail), LT_ERR_OK);
    pl.organ_id = "000.00.00 H34";
    assert_int_equal(relay_platform_check(&pl, detail, sizeof detail), LT_ERR_BAD_ORGAN_ID);
    assert_non_null(strstr(detail, "organ_id"));
    pl.organ_id = "*.H34"; /* a pattern is not an organ id */
    assert_int_equal(relay_platform_check(&pl, detail, sizeof detail), LT_ERR_BAD_ORGAN_ID);
    pl.organ_id = "000.00.00.H34";
    pl.name = "";
    assert_int_equal(relay_platform_check(&pl, detail, sizeof detail), LT_ERR_BAD_PARAMETER);
    assert_non_null(strstr(detail, "name"));
    pl.name = "line\nbreak";
    assert_int_equal(relay_platform_check(&pl, detail, sizeof detail), LT_ERR_BAD_PARAMETER);
    pl.name = "\xc3\x28"; /* not UTF-8 */
    assert_int_equal(relay_platform_check(&pl, detail, sizeof detail), LT_ERR_BAD_PARAMETER);
}

static void test_json_forms(void **state)
{
    struct store_peer p = good_peer();
    p.created_ms = 1700000000000;
    p.updated_ms = 1700000001000;
    json_t *o = relay_peer_to_json(&p);
    assert_non_null(o);
    char *text = json_dumps(o, JSON_SORT_KEYS);
    assert_non_null(text);
    assert_null(strstr(text, p.secret));
    assert_string_equal(json_string_value(json_object_get(o, "secret")), RELAY_SECRET_MASK);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "ndxp");
    assert_string_equal(json_string_value(json_object_get(o, "system_id")), "000.00.00.H34");
    assert_int_equal(json_integer_value(json_object_get(o, "pull_interval_ms")), 2000);
    assert_string_equal(json_string_value(json_object_get(o, "created")),
                        "2023-11-14T22:13:20.000Z");
    free(text);
    json_decref(o);

    struct store_platform pl = {.organ_id = "000.00.00.H34", .name = "UBND"};
    o = relay_platform_to_json(&pl);
    assert_string_equal(json_string_value(json_object_get(o, "organ_id")), "000.00.00.H34");
    assert_string_equal(json_string_value(json_object_get(o, "created")), "");
    json_decref(o);

    struct store_relay_route r = {.pattern = "*.H30", .peer = "hoabinh", .created_ms = 1};
    o = relay_route_to_json(&r);
    assert_string_equal(json_string_value(json_object_get(o, "pattern")), "*.H30");
    assert_string_equal(json_string_value(json_object_get(o, "peer")), "hoabinh");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_ok),      cmocka_unit_test(test_match),
        cmocka_unit_test(test_match_reference), cmocka_unit_test(test_match_no_blowup),
        cmocka_unit_test(test_specificity),     cmocka_unit_test(test_decide),
        cmocka_unit_test(test_peer_rules),      cmocka_unit_test(test_json_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
