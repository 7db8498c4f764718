/* valid — see valid.h. Moved here from the gateway's catalogue when the relay's peers needed the
 * same rules, so that a URL or a name the gateway accepts is accepted by the relay too. */
#include "util/valid.h"

#include <string.h>
#include <strings.h>

int valid_text(const char *s, size_t max, int allow_breaks)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    if (n > max)
        return 0;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 && !(allow_breaks && (c == '\t' || c == '\n' || c == '\r'))) || c == 0x7f)
                return 0;
            i++;
            continue;
        }
        size_t len;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
            (cp >= 0x80 && cp < 0xa0))
            return 0;
        i += len;
    }
    return 1;
}

static int host_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

const char *valid_url_problem(const char *url)
{
    size_t n = strlen(url);
    if (n > VALID_URL_MAX)
        return "is longer than 1024 bytes";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f)
            return "must be printable ASCII without spaces";
    }
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else
        return "must start with http:// or https://";
    if (strchr(url, '#'))
        return "must not contain a fragment ('#')";
    if (strchr(url, '?'))
        return "must not contain a query (lienthong appends its own path and query)";
    size_t alen = strcspn(p, "/");
    if (memchr(p, '@', alen))
        return "must not contain user information ('user@')";
    const char *host_end;
    if (alen > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', alen);
        if (!close || close == p + 1)
            return "has a malformed IPv6 host";
        for (const char *q = p + 1; q < close; q++)
            if (!strchr("0123456789abcdefABCDEF:.", *q))
                return "has a malformed IPv6 host";
        host_end = close + 1;
    } else {
        host_end = p;
        while (host_end < p + alen && *host_end != ':') {
            if (!host_char(*host_end))
                return "has an invalid host name";
            host_end++;
        }
        if (host_end == p)
            return "has no host";
    }
    if (host_end < p + alen) {
        if (*host_end != ':')
            return "has an invalid host";
        const char *d = host_end + 1;
        size_t nd = (size_t)(p + alen - d);
        if (nd == 0 || nd > 5)
            return "has an invalid port";
        long port = 0;
        for (size_t i = 0; i < nd; i++) {
            if (d[i] < '0' || d[i] > '9')
                return "has an invalid port";
            port = port * 10 + (d[i] - '0');
        }
        if (port < 1 || port > 65535)
            return "has an invalid port";
    }
    return NULL;
}
