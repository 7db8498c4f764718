/* timeutil — see timeutil.h. */
#include "util/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fmt_local(int64_t ms, const char *pattern, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    if (strftime(out, n, pattern, &tm) == 0)
        out[0] = '\0';
}

void fmt_local_datetime(int64_t ms, char out[20])
{
    fmt_local(ms, "%Y-%m-%d %H:%M:%S", out, 20);
}

void fmt_edxml_timestamp(int64_t ms, char out[20])
{
    fmt_local(ms, "%Y/%m/%d %H:%M:%S", out, 20);
}

void fmt_iso_utc(int64_t ms, char out[25])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char head[20];
    strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 25, "%s.%03dZ", head, (int)(ms % 1000));
}

int parse_local_date(const char *s, int64_t *ret_ms)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return -1;
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != m - 1)
        return -1;
    *ret_ms = (int64_t)t * 1000;
    return 0;
}
