/* log — structured one-line logs on stderr: "2026-11-22T10:30:15.123Z level msg key=value ...".
 * Thread-safe (one write(2) per line). The level is set once at start-up. Every line is escaped
 * as it is written (control characters, terminal escapes, C1 controls and invalid UTF-8 as
 * \xNN, a backslash doubled) and cut at LOG_LINE_MAX bytes ("..." then), so no value a client
 * sent can forge a line or drive a terminal. */
#ifndef LT_LOG_H
#define LT_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level lvl);
int log_parse_level(const char *s, enum log_level *ret);
#include <stddef.h>

#define LOG_LINE_MAX 2048

/* The escaping of log lines: in[0..in_len) into out (NUL-terminated, at most cap - 1 bytes,
 * whole characters only). Returns the bytes written. */
size_t log_escape(const char *in, size_t in_len, char *out, size_t cap);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
