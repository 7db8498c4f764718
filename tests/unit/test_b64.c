/* Unit tests of util/b64: round trips split at every point, whitespace, invalid input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "util/b64.h"

/* Encodes in two calls split at `split`, then decodes in two calls split at `dsplit`. */
static void round_trip(const uint8_t *in, size_t len, size_t split, size_t dsplit)
{
    char enc[B64_ENCODED_LEN(64 + 4) + 8];
    struct b64_enc e = {{0, 0}, 0};
    size_t n = b64_enc_update(&e, in, split, enc);
    n += b64_enc_update(&e, in + split, len - split, enc + n);
    n += b64_enc_final(&e, enc + n);
    assert_int_equal(n, B64_ENCODED_LEN(len));
    char one[sizeof enc];
    assert_int_equal(b64_encode(in, len, one), n);
    assert_memory_equal(one, enc, n);
    if (dsplit > n)
        return;

    uint8_t out[64 + 8];
    size_t o1 = 0, o2 = 0, o3 = 0;
    struct b64_dec d = {0};
    assert_int_equal(b64_dec_update(&d, enc, dsplit, out, &o1), 0);
    assert_int_equal(b64_dec_update(&d, enc + dsplit, n - dsplit, out + o1, &o2), 0);
    assert_int_equal(b64_dec_final(&d, out + o1 + o2, &o3), 0);
    assert_int_equal(o1 + o2 + o3, len);
    assert_memory_equal(out, in, len);
}

static void test_round_trips(void **state)
{
    uint8_t in[64];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof in; len++)
        for (size_t split = 0; split <= len; split++)
            for (size_t dsplit = 0; dsplit <= B64_ENCODED_LEN(len); dsplit++)
                round_trip(in, len, split, dsplit);
}

/* Byte-at-a-time encoding and decoding. */
static void test_one_byte_at_a_time(void **state)
{
    const char *text = "Many hands make light work.";
    size_t len = strlen(text);
    char enc[64];
    struct b64_enc e = {{0, 0}, 0};
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += b64_enc_update(&e, (const uint8_t *)text + i, 1, enc + n);
    n += b64_enc_final(&e, enc + n);
    enc[n] = '\0';
    assert_string_equal(enc, "TWFueSBoYW5kcyBtYWtlIGxpZ2h0IHdvcmsu");

    uint8_t out[64];
    size_t o = 0, got;
    struct b64_dec d = {0};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(b64_dec_update(&d, enc + i, 1, out + o, &got), 0);
        o += got;
    }
    assert_int_equal(b64_dec_final(&d, out + o, &got), 0);
    o += got;
    assert_int_equal(o, len);
    assert_memory_equal(out, text, len);
}

static int decode(const char *s, uint8_t *out, size_t *len)
{
    struct b64_dec d = {0};
    size_t a = 0, b = 0;
    if (b64_dec_update(&d, s, strlen(s), out, &a) != 0)
        return -1;
    if (b64_dec_final(&d, out + a, &b) != 0)
        return -1;
    *len = a + b;
    return 0;
}

static void test_known_vectors(void **state)
{
    static const struct {
        const char *plain, *enc;
    } v[] = {{"", ""},
             {"f", "Zg=="},
             {"fo", "Zm8="},
             {"foo", "Zm9v"},
             {"foob", "Zm9vYg=="},
             {"fooba", "Zm9vYmE="},
             {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char enc[32];
        uint8_t dec[32];
        size_t n;
        b64_encode((const uint8_t *)v[i].plain, strlen(v[i].plain), enc);
        assert_string_equal(enc, v[i].enc);
        assert_int_equal(decode(v[i].enc, dec, &n), 0);
        assert_int_equal(n, strlen(v[i].plain));
        assert_memory_equal(dec, v[i].plain, n);
    }
    uint8_t all[3] = {0xff, 0xfe, 0xfd};
    char enc[8];
    b64_encode(all, 3, enc);
    assert_string_equal(enc, "//79");
    b64_encode((const uint8_t *)"\xfb\xef", 2, enc);
    assert_string_equal(enc, "++8=");
}

static void test_whitespace(void **state)
{
    uint8_t out[64];
    size_t n;
    assert_int_equal(decode(" Zm9v\r\nYmFy\n", out, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(out, "foobar", 6);
    assert_int_equal(decode("Z m 9 v\tY g = =\n\n", out, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "foob", 4);
    assert_int_equal(decode("\n \t\r", out, &n), 0);
    assert_int_equal(n, 0);
}

static void test_unpadded_accepted(void **state)
{
    uint8_t out[64];
    size_t n;
    assert_int_equal(decode("Zm9vYg", out, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(decode("Zm9vYmE", out, &n), 0);
    assert_int_equal(n, 5);
}

static void test_invalid(void **state)
{
    const char *bad[] = {
        "Zm9v*",    /* invalid character */
        "Zm9vY",    /* one sextet left over */
        "Z===",     /* padding after one sextet */
        "=",        /* padding first */
        "Zm9v=",    /* padding after a complete group */
        "Zg===",    /* three padding characters */
        "Zm8==",    /* too much padding for the group */
        "Zg==Zm9v", /* data after padding */
        "Zg==\nZ",  /* data after padding and whitespace */
        "Zm9v-_",   /* URL-safe alphabet is not base64 */
        "Zm9v\x80", /* non-ASCII */
        "Zm9v\0",   /* NUL (length includes it below) */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t out[64];
        size_t n;
        struct b64_dec d = {0};
        size_t len = strlen(bad[i]) + (i == sizeof bad / sizeof bad[0] - 1);
        int rc = b64_dec_update(&d, bad[i], len, out, &n);
        if (rc == 0)
            rc = b64_dec_final(&d, out, &n);
        if (rc == 0)
            print_error("accepted: \"%s\"\n", bad[i]);
        assert_int_equal(rc, -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),       cmocka_unit_test(test_one_byte_at_a_time),
        cmocka_unit_test(test_known_vectors),     cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_unpadded_accepted), cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
