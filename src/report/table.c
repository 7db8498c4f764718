/* table — aligned text tables of UTF-8 cells for the reports (see table.h). */
#include "report/table.h"

#include <string.h>

/* Terminal columns of UTF-8 text: one per code point, none for combining diacritics
 * (U+0300..U+036F, as in decomposed Vietnamese). */
size_t utf8_width(const char *s, size_t len)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) == 0x80)
            continue;
        if ((c == 0xCC || (c == 0xCD && i + 1 < len && (unsigned char)s[i + 1] <= 0xAF)))
            continue;
        w++;
    }
    return w;
}

/* Bytes of s that fit in max columns (never splitting a character). */
size_t utf8_fit(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (utf8_width(s, len) <= max)
        return len;
    size_t end = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            continue;
        if (utf8_width(s, i) > max)
            break;
        end = i;
    }
    return end;
}

/* s padded (or cut, with an ellipsis) to width columns. */
void table_cell(FILE *f, const char *s, size_t width, int right)
{
    size_t n = strlen(s), w = utf8_width(s, n);
    int cut = w > width && width > 0;
    if (cut) {
        n = utf8_fit(s, width - 1);
        w = utf8_width(s, n) + 1;
    }
    if (right)
        for (size_t i = w; i < width; i++)
            fputc(' ', f);
    fwrite(s, 1, n, f);
    if (cut)
        fputs("\u2026", f);
    if (!right)
        for (size_t i = w; i < width; i++)
            fputc(' ', f);
}
