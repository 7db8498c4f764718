/* log — see log.h. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static const char *names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level lvl)
{
    min_level = lvl;
}

int log_parse_level(const char *s, enum log_level *ret)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *ret = (enum log_level)i;
            return 0;
        }
    return -1;
}

/* Length of a valid UTF-8 sequence at s (n bytes available) that is printable (not a C1
 * control, U+0080..U+009F, which some terminals obey), else 0. */
static size_t utf8_printable(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!len || len > n || (len == 2 && s[0] == 0xc2 && s[1] < 0xa0))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

size_t log_escape(const char *in, size_t in_len, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < in_len && o + 4 < cap;) {
        size_t u = s[i] >= 0x80 ? utf8_printable(s + i, in_len - i) : 0;
        if (u) {
            if (o + u + 4 >= cap)
                break;
            memcpy(out + o, s + i, u);
            o += u;
            i += u;
        } else if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') {
            out[o++] = (char)s[i++];
        } else if (s[i] == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
            i++;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[s[i] >> 4];
            out[o++] = hex[s[i] & 15];
            i++;
        }
    }
    if (cap)
        out[o < cap ? o : cap - 1] = '\0';
    return o;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (lvl < min_level)
        return;
    char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 128];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s ", ts.tv_nsec / 1000000,
                          names[lvl]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    size_t ml = (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1;
    /* Whatever a client managed to put in the message (an id, a header, a reason) leaves no
     * control character, terminal escape or line break in the log: one line per event. */
    n += log_escape(msg, ml, line + n, sizeof line - n - 5);
    if ((size_t)m >= sizeof msg) {
        memcpy(line + n, "...", 3);
        n += 3;
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
