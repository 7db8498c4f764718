/* timeutil — the platform's clock and the time formats of the protocols.
 * Times are stored as milliseconds since the Unix epoch (UTC) everywhere. */
#ifndef LT_TIMEUTIL_H
#define LT_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t now_ms(void);
/* Nanoseconds of the monotonic clock (durations and deadlines; never goes back). */
int64_t mono_ns(void);
/* "yyyy-MM-dd HH:mm:ss" in the server's local time zone (VXP list items). out: 20 bytes. */
void fmt_local_datetime(int64_t ms, char out[20]);
/* "yyyy/MM/dd HH:mm:ss" in local time (edXML TraceHeader / status timestamps). out: 20 bytes. */
void fmt_edxml_timestamp(int64_t ms, char out[20]);
/* ISO 8601 UTC "yyyy-MM-ddTHH:mm:ss.mmmZ" (API and logs). out: 25 bytes. */
void fmt_iso_utc(int64_t ms, char out[25]);
/* Parses "YYYY-MM-DD" as local midnight; 0 on success, -1 when malformed or not a real date. */
int parse_local_date(const char *s, int64_t *ret_ms);

#endif
