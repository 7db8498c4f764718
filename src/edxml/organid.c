/* organid — agency identifier forms (Quyet dinh 20/2020/QD-TTg) and status code names. */
#include <string.h>

#include "edxml/edxml.h"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "DDD.DD.DD.Lnn": D digit, L upper-case letter, n digit. */
int edxml_organ_id_is_qd20(const char *s)
{
    static const char form[] = "ddd.dd.dd.Ldd";
    if (!s || strlen(s) != sizeof form - 1)
        return 0;
    for (size_t i = 0; form[i]; i++) {
        char f = form[i], c = s[i];
        if ((f == 'd' && !is_digit(c)) || (f == 'L' && !(c >= 'A' && c <= 'Z')) ||
            (f == '.' && c != '.'))
            return 0;
    }
    return 1;
}

static int id_char(char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' ||
           c == '_' || c == '-';
}

int edxml_organ_id_ok(const char *s)
{
    if (!s || !*s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= 64 || !id_char(s[n]))
            return 0;
    return 1;
}

const char *edxml_status_code_name(const char *code)
{
    static const struct {
        const char *code, *name;
    } names[] = {
        {"01", "arrived"},
        {"02", "refused"},
        {"03", "accepted"},
        {"04", "assigned"},
        {"05", "processing"},
        {"06", "completed"},
        {"13", "withdrawal requested"},
        {"14", "agreed"},
        {"15", "agreed"},
        {"16", "disagreed"},
    };
    for (size_t i = 0; code && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(code, names[i].code) == 0)
            return names[i].name;
    return NULL;
}
