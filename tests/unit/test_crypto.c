/* Unit tests of the identifiers of util/crypto: UUID layout (version, variant), the time prefix
 * of version 7 and of DocIds (seconds, then milliseconds), and that many drawn in a row are
 * distinct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/crypto.h"

#define N_IDS 2000

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 8-4-4-4-12 lower-case hex with the given version nibble and the RFC 4122 variant. */
static void check_layout(const char *u, char version)
{
    assert_int_equal(strlen(u), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(u[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", u[i]));
    }
    assert_int_equal(u[14], version);
    assert_non_null(strchr("89ab", u[19]));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void assert_distinct(char (*ids)[UUID_SIZE], size_t n)
{
    qsort(ids, n, UUID_SIZE, cmp_str);
    for (size_t i = 1; i < n; i++)
        assert_int_not_equal(strcmp(ids[i - 1], ids[i]), 0);
}

static void test_random_uuid(void **state)
{
    (void)state;
    static char ids[N_IDS][UUID_SIZE];
    for (size_t i = 0; i < N_IDS; i++) {
        assert_int_equal(random_uuid(ids[i]), 0);
        check_layout(ids[i], '4');
    }
    assert_distinct(ids, N_IDS);
}

/* The first 48 bits are the milliseconds of the call: drawn in a row, the ids sort in the order
 * they were made (up to ties within one millisecond), which is what keeps new keys together. */
static void test_time_uuid(void **state)
{
    (void)state;
    static char ids[N_IDS][UUID_SIZE];
    int64_t before = wall_ms();
    for (size_t i = 0; i < N_IDS; i++) {
        assert_int_equal(time_uuid(ids[i]), 0);
        check_layout(ids[i], '7');
        char hex[13];
        memcpy(hex, ids[i], 8);
        memcpy(hex + 8, ids[i] + 9, 4);
        hex[12] = 0;
        int64_t ms = (int64_t)strtoull(hex, NULL, 16);
        assert_true(ms >= before);
        assert_true(ms <= wall_ms());
        if (i)
            assert_true(memcmp(ids[i - 1], ids[i], 13) <= 0);
    }
    assert_distinct(ids, N_IDS);
}

/* Seconds since the epoch, then the millisecond within it: drawn in a row, DocIds sort in the
 * order they were made (up to ties within one millisecond). */
static void test_random_docid(void **state)
{
    (void)state;
    static char ids[N_IDS][UUID_SIZE];
    int64_t before = wall_ms();
    for (size_t i = 0; i < N_IDS; i++) {
        char *id = ids[i];
        assert_int_equal(random_docid(id), 0);
        assert_int_equal(strlen(id), 24);
        assert_int_equal(strspn(id, "0123456789abcdef"), 24);
        char hex[13];
        memcpy(hex, id, 8);
        hex[8] = 0;
        int64_t sec = (int64_t)strtoull(hex, NULL, 16);
        memcpy(hex, id + 8, 4);
        hex[4] = 0;
        int64_t ms = (int64_t)strtoull(hex, NULL, 16);
        assert_true(ms < 1000);
        assert_true(sec * 1000 + ms >= before);
        assert_true(sec * 1000 + ms <= wall_ms());
        if (i)
            assert_true(memcmp(ids[i - 1], id, 12) <= 0);
    }
    assert_distinct(ids, N_IDS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_uuid),
        cmocka_unit_test(test_time_uuid),
        cmocka_unit_test(test_random_docid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
