/* buf — a growable byte buffer, the one way lienthong builds strings and byte arrays.
 *
 * Convention: functions return 0 on success, -1 on allocation failure (the buffer is then left
 * as it was). A zeroed struct buf is a valid empty buffer; buf_free() releases it and leaves it
 * empty again. data is always NUL-terminated when len > 0 or after any append, so text can be
 * passed to C string functions. */
#ifndef LT_BUF_H
#define LT_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_reset(struct buf *b); /* len = 0, keeps the allocation */
void buf_free(struct buf *b);
/* Hands the bytes to the caller (who frees them with free()) and empties b. Never NULL unless
 * allocation fails: an empty buffer yields "". */
char *buf_steal(struct buf *b);

#endif
