/* fuzz_relay — libFuzzer target for the relay's routing rules (src/relay/route.c): pattern
 * validity, matching, the specificity order and the decision, checked against what they must
 * satisfy rather than only for crashes.
 *
 * Input layout: the bytes are split at the first NUL byte into a pattern and an organ id (each
 * cut to 80 bytes). Checked: short inputs match exactly as the obvious recursive definition says
 * ('*' = one or more characters); a pattern without '*' matches only itself; the order is
 * antisymmetric and 0 only for equal patterns; a decision over {pattern, "*"} for a valid organ
 * id always picks a peer, the pattern's exactly when it is valid, matches and is more specific. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/route.h"

#define CUT 80
#define REF_MAX 12 /* the reference matcher is exponential: short inputs only */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char pattern[CUT + 1] = "", organ[CUT + 1] = "";
    const uint8_t *nul = memchr(data, 0, size);
    size_t np = nul ? (size_t)(nul - data) : size;
    memcpy(pattern, data, np < CUT ? np : CUT);
    if (nul) {
        size_t no = size - np - 1;
        memcpy(organ, nul + 1, no < CUT ? no : CUT);
    }
    /* strings end at their first NUL: both are C strings from here on */
    int valid = relay_pattern_ok(pattern);
    int m = relay_pattern_match(pattern, organ);
    if (strlen(pattern) <= REF_MAX && strlen(organ) <= REF_MAX && m != ref_match(pattern, organ))
        abort();
    if (!strchr(pattern, '*') && m != (strcmp(pattern, organ) == 0))
        abort();
    int c1 = relay_pattern_cmp(pattern, organ), c2 = relay_pattern_cmp(organ, pattern);
    if (c1 != -c2 || (c1 == 0) != (strcmp(pattern, organ) == 0))
        abort();
    struct relay_route routes[2] = {{pattern, "first"}, {"*", "catch-all"}};
    struct relay_decision d;
    if (relay_decide(organ, routes, 2, NULL, NULL, &d) == LT_ERR_OK) {
        if (d.target != RELAY_PEER || !d.route)
            abort();
        /* (two equal patterns cannot both be stored: either route is then a fine answer) */
        int first = valid && m && relay_pattern_cmp(pattern, "*") < 0;
        if (strcmp(pattern, "*") != 0 && (d.route == &routes[0]) != first)
            abort();
    }
    return 0;
}
