/* Unit tests of the VXP request authentication (vxp_check_signature, vxp_param) with the worked
 * examples of the protocol description (section 4.6) as test vectors, and of the SDK's
 * unpadded "hash-file" rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exchange/vxp.h"
#include "util/crypto.h"
#include "util/vxpsig.h"

#define TS "22112026T103015+0123"

/* 4.6 (a): getAgenciesList("{}") on a fresh AgencyServiceImp. */
static const char SIGN_A[] = "{\"XroadVnpt-systemid\":\"vxp.test.01\",\"XroadVnpt-timestamp\":\"" TS
                             "\",\"XroadVnpt-Content-Type\":\"application/json\"}";
static const char MAC_A[] = "12567df8e04d9bd45e68dcd6e787ecf7332a57054b0dc717ae209a23bb1003e5";
/* 4.6 (b): getReceivedEdocList. */
static const char SIGN_B[] =
    "{\"XroadVnpt-systemid\":\"vxp.test.01\",\"XroadVnpt-servicetype\":\"eDoc\","
    "\"XroadVnpt-messagetype\":\"edoc\",\"XroadVnpt-timestamp\":\"" TS
    "\",\"XroadVnpt-Content-Type\":\"application/json\"}";
static const char MAC_B[] = "f0cfa3c6f92a9bf61e8faffe691039aefd0d9902049f7c15e8a53185cf3e989d";
/* 4.6 (c): sendEdoc of edoc.edxml. */
static const char SIGN_C[] =
    "{\"XroadVnpt-systemid\":\"vxp.test.01\",\"XroadVnpt-servicetype\":\"eDoc\","
    "\"XroadVnpt-messagetype\":\"edoc\",\"XroadVnpt-hash-file\":"
    "\"7e4a746b898d9b54749de74b58e7bd24c8b86287a386653f6593adf9db5eb\",\"XroadVnpt-from\":"
    "\"vxp.test.01\",\"XroadVnpt-timestamp\":\"" TS
    "\",\"XroadVnpt-Content-Type\":\"application/octet-stream\"}";
static const char MAC_C[] = "c2206fae231851d84419e5ae382283a955fdec7f3203a640b9c5857a9f42ae17";
/* 4.6 (d): updateStatus {"status":"done","docid":"nonexistent"}; key order
 * systemid;docid;timestamp;Content-Type;status. */
static const char SIGN_D[] =
    "{\"XroadVnpt-systemid\":\"vxp.test.01\",\"XroadVnpt-docid\":\"nonexistent\","
    "\"XroadVnpt-timestamp\":\"" TS "\",\"XroadVnpt-Content-Type\":\"application/json\","
    "\"XroadVnpt-status\":\"done\"}";
static const char MAC_D[] = "aca0d1a9917b2f1ca6ed6c85d82a55949f7ba341f78785288f4b70fbf536cb9f";

static void check_ok(const char *sign, const char *mac)
{
    json_t *params = NULL;
    assert_int_equal(vxp_check_signature("vxp.test.01", "abc", sign, mac, &params), LT_ERR_OK);
    assert_non_null(params);
    struct vxp_call call = {.params = params};
    assert_string_equal(vxp_param(&call, "systemid"), "vxp.test.01");
    assert_string_equal(vxp_param(&call, "timestamp"), TS);
    json_decref(params);
}

static void test_worked_examples(void **state)
{
    check_ok(SIGN_A, MAC_A);
    check_ok(SIGN_B, MAC_B);
    check_ok(SIGN_C, MAC_C);
    check_ok(SIGN_D, MAC_D);
}

static void test_parameters_from_signed_json(void **state)
{
    json_t *params = NULL;
    assert_int_equal(vxp_check_signature("vxp.test.01", "abc", SIGN_D, MAC_D, &params), LT_ERR_OK);
    struct vxp_call call = {.params = params};
    /* "docid" as production code writes it is found under the official spelling too. */
    assert_string_equal(vxp_param(&call, "docId"), "nonexistent");
    assert_string_equal(vxp_param(&call, "DOCID"), "nonexistent");
    assert_string_equal(vxp_param(&call, "status"), "done");
    assert_null(vxp_param(&call, "filePath"));
    json_decref(params);

    assert_int_equal(vxp_check_signature("vxp.test.01", "abc", SIGN_C, MAC_C, &params), LT_ERR_OK);
    call.params = params;
    assert_string_equal(vxp_param(&call, "hash-file"),
                        "7e4a746b898d9b54749de74b58e7bd24c8b86287a386653f6593adf9db5eb");
    assert_string_equal(vxp_param(&call, "from"), "vxp.test.01");
    json_decref(params);
}

static void test_refusals(void **state)
{
    json_t *params = NULL;
    char mac[sizeof MAC_A];
    /* wrong secret, altered header, altered MAC, short MAC */
    assert_int_equal(vxp_check_signature("vxp.test.01", "abd", SIGN_A, MAC_A, &params),
                     LT_ERR_AUTH_BAD_SIGNATURE);
    char sign[sizeof SIGN_A];
    memcpy(sign, SIGN_A, sizeof sign);
    sign[30] ^= 1;
    assert_int_equal(vxp_check_signature("vxp.test.01", "abc", sign, MAC_A, &params),
                     LT_ERR_AUTH_BAD_SIGNATURE);
    memcpy(mac, MAC_A, sizeof mac);
    mac[63] = mac[63] == '5' ? '6' : '5';
    assert_int_equal(vxp_check_signature("vxp.test.01", "abc", SIGN_A, mac, &params),
                     LT_ERR_AUTH_BAD_SIGNATURE);
    assert_int_equal(vxp_check_signature("vxp.test.01", "abc", SIGN_A, "12567df8", &params),
                     LT_ERR_AUTH_BAD_SIGNATURE);
    /* a correct signature for another system than the one named in the header */
    assert_int_equal(vxp_check_signature("vxp.test.02", "abc", SIGN_A, MAC_A, &params),
                     LT_ERR_AUTH_SYSTEMID_MISMATCH);
    assert_null(params);
    /* upper-case hex is the same MAC */
    for (size_t i = 0; i < sizeof mac - 1; i++)
        mac[i] = (char)(MAC_A[i] >= 'a' ? MAC_A[i] - 32 : MAC_A[i]);
    assert_int_equal(vxp_check_signature("vxp.test.01", "abc", SIGN_A, mac, &params), LT_ERR_OK);
    json_decref(params);
}

/* A correctly signed header that is not a flat JSON object of strings is refused. */
static void test_signed_but_malformed(void **state)
{
    const char *bad[] = {
        "[\"XroadVnpt-systemid\",\"vxp.test.01\"]",
        "{\"XroadVnpt-systemid\":\"vxp.test.01\",\"XroadVnpt-x\":{\"a\":\"b\"}}",
        "{\"XroadVnpt-systemid\":\"vxp.test.01\",\"XroadVnpt-x\":null}",
        "{\"XroadVnpt-systemid\":\"vxp.test.01\",\"XroadVnpt-systemid\":\"other\"}",
        "{\"XroadVnpt-systemid\":\"vxp.test.01\"",
        "{\"XroadVnpt-timestamp\":\"" TS "\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char mac[SHA256_HEX_SIZE];
        json_t *params = NULL;
        assert_int_equal(hmac_sha256_hex("abc", 3, bad[i], strlen(bad[i]), mac), 0);
        enum lt_err e = vxp_check_signature("vxp.test.01", "abc", bad[i], mac, &params);
        assert_true(e == LT_ERR_AUTH_BAD_SIGN_HEADER || e == LT_ERR_AUTH_SYSTEMID_MISMATCH);
        assert_null(params);
    }
}

/* hash-file of the official sample, as the SDK renders it (no zero padding). */
static void test_hash_file_unpadded(void **state)
{
    const char *dir = getenv("LT_TESTDATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/edoc.edxml", dir ? dir : "../shared/testdata/edxml");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char data[16384];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    assert_int_equal(n, 8363);
    uint8_t d[SHA256_LEN];
    char hex[SHA256_HEX_SIZE], unpadded[SHA256_HEX_SIZE];
    assert_int_equal(sha256(data, n, d), 0);
    hex_encode(d, SHA256_LEN, hex);
    hex_unpadded(d, unpadded);
    assert_string_equal(hex, "7e4a746b898d9b054749de74b58e7bd24c8b86287a3806653f06593adf9db5eb");
    assert_string_equal(unpadded, "7e4a746b898d9b54749de74b58e7bd24c8b86287a386653f6593adf9db5eb");
}

/* The client side: vxp_sign() reproduces the SDK's bytes and MACs of section 4.6. */
static void sign_case(const char *const keys[], const char *const values[], size_t n,
                      const char *want_sign, const char *want_keys, const char *want_mac)
{
    char *sign = NULL, *list = NULL, mac[SHA256_HEX_SIZE];
    assert_int_equal(vxp_sign("abc", keys, values, n, &sign, &list, mac), 0);
    if (want_sign)
        assert_string_equal(sign, want_sign);
    assert_string_equal(list, want_keys);
    assert_string_equal(mac, want_mac);
    free(sign);
    free(list);
}

static void test_sign_worked_examples(void **state)
{
    (void)state;
    const char *ka[] = {"systemid", "timestamp", "Content-Type"};
    const char *va[] = {"vxp.test.01", TS, "application/json"};
    sign_case(ka, va, 3, SIGN_A, "systemid;timestamp;Content-Type", MAC_A);
    const char *kb[] = {"systemid", "servicetype", "messagetype", "timestamp", "Content-Type"};
    const char *vb[] = {"vxp.test.01", "eDoc", "edoc", TS, "application/json"};
    sign_case(kb, vb, 5, SIGN_B, "systemid;servicetype;messagetype;timestamp;Content-Type", MAC_B);
    const char *kc[] = {"systemid", "servicetype", "messagetype", "hash-file",
                        "from",     "timestamp",   "Content-Type"};
    const char *vc[] = {"vxp.test.01",
                        "eDoc",
                        "edoc",
                        "7e4a746b898d9b54749de74b58e7bd24c8b86287a386653f6593adf9db5eb",
                        "vxp.test.01",
                        TS,
                        "application/octet-stream"};
    sign_case(kc, vc, 7, SIGN_C,
              "systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type", MAC_C);
    const char *kd[] = {"systemid", "docid", "timestamp", "Content-Type", "status"};
    const char *vd[] = {"vxp.test.01", "nonexistent", TS, "application/json", "done"};
    sign_case(kd, vd, 5, SIGN_D, "systemid;docid;timestamp;Content-Type;status", MAC_D);
    /* (e): explicit recipients, a JSON array carried as the text of a string */
    const char *ke[] = {"systemid", "servicetype", "messagetype", "hash-file",
                        "from",     "to",          "timestamp",   "Content-Type"};
    const char *ve[] = {"vxp.test.01",
                        "eDoc",
                        "edoc",
                        "7e4a746b898d9b54749de74b58e7bd24c8b86287a386653f6593adf9db5eb",
                        "vxp.test.01",
                        "[\"000.00.15.H51\"]",
                        TS,
                        "application/octet-stream"};
    sign_case(ke, ve, 8, NULL,
              "systemid;servicetype;messagetype;hash-file;from;to;timestamp;Content-Type",
              "0ab7f31b37c086bf86d4f1eeeef56ff04003ae62ecac1e66df6fda465a986786");
}

/* Whatever the values, what vxp_sign() writes verifies and reads back unchanged. */
static void test_sign_round_trip(void **state)
{
    (void)state;
    const char *keys[] = {"systemid", "odd", "unicode", "ctl"};
    const char *values[] = {"000.00.15.H51", "quote \" back \\ slash / tab\t nl\n",
                            "H\xc3\xa0 N\xe1\xbb\x99i \xe2\x80\xa8 \xe2\x80\xa9", "\x01\x1f\x7f"};
    char *sign = NULL, *list = NULL, mac[SHA256_HEX_SIZE];
    assert_int_equal(vxp_sign("s3cret", keys, values, 4, &sign, &list, mac), 0);
    assert_null(strstr(sign, "\n")); /* one header line */
    json_t *params = NULL;
    assert_int_equal(vxp_check_signature("000.00.15.H51", "s3cret", sign, mac, &params), LT_ERR_OK);
    for (int i = 0; i < 4; i++)
        assert_string_equal(vxp_signed_value(params, keys[i]), values[i]);
    json_decref(params);
    free(sign);
    free(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_examples),
        cmocka_unit_test(test_parameters_from_signed_json),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_signed_but_malformed),
        cmocka_unit_test(test_hash_file_unpadded),
        cmocka_unit_test(test_sign_worked_examples),
        cmocka_unit_test(test_sign_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
