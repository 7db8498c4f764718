/* test_util_log — log lines are escaped: no control character, terminal escape, C1 control or
 * invalid UTF-8 survives, printable UTF-8 (Vietnamese) does, a backslash is doubled, and the
 * output is cut at whole characters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/log.h"

static void escaped(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain text", "plain text"},
        {"line\nFAKE line", "line\\x0aFAKE line"},
        {"\x1b[31mred\x07", "\\x1b[31mred\\x07"},
        {"C1 \xc2\x9b and raw \x9b", "C1 \\xc2\\x9b and raw \\x9b"},
        {"S\xe1\xbb\x9f Th\xc3\xb4ng tin", "S\xe1\xbb\x9f Th\xc3\xb4ng tin"},
        {"back\\slash", "back\\\\slash"},
        {"cut \xe1\xbb", "cut \\xe1\\xbb"},
        {"del \x7f", "del \\x7f"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        size_t n = log_escape(cases[i].in, strlen(cases[i].in), out, sizeof out);
        assert_string_equal(out, cases[i].out);
        assert_int_equal(n, strlen(cases[i].out));
    }
}

static void bounded(void **state)
{
    (void)state;
    char in[600], out[64];
    for (size_t i = 0; i < sizeof in; i += 3)
        memcpy(in + i, "\xe1\xbb\x9f", 3); /* a 3-byte character, repeated */
    size_t n = log_escape(in, sizeof in, out, sizeof out);
    assert_true(n < sizeof out);
    assert_int_equal(n % 3, 0); /* whole characters only */
    assert_int_equal(strlen(out), n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escaped),
        cmocka_unit_test(bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
