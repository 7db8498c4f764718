/* table — the text-table primitives shared by the reports (documents and gateway calls):
 * terminal width of UTF-8 text (Vietnamese, precomposed or with combining marks) and one padded
 * or cut cell. */
#ifndef LT_REPORT_TABLE_H
#define LT_REPORT_TABLE_H

#include <stddef.h>
#include <stdio.h>

/* Terminal columns of s[0..len): one per code point, none for combining diacritics. */
size_t utf8_width(const char *s, size_t len);
/* Bytes of s that fit in max columns (never splitting a character). */
size_t utf8_fit(const char *s, size_t max);
/* s padded to width columns (right-aligned when right), or cut with an ellipsis. */
void table_cell(FILE *f, const char *s, size_t width, int right);

#endif
