/* catalogue — the rules of services, access rights and tokens (see catalogue.h), kept in one
 * place so that the CLI, the JSON API and the running gateway cannot disagree.
 *
 * Choices beyond the header's contract, and why:
 *  - System ids (provider, consumer) follow the registry's id rule (letters, digits, '.', '_',
 *    '-', at most STORE_ID_MAX); the check is repeated here because the gateway layer does not
 *    link the edXML layer that owns edxml_organ_id_ok().
 *  - An upstream base URL may carry no query: the gateway appends {path...}?{query} to it, and a
 *    base query would end up in the middle of the path. The URL and text rules themselves live
 *    in util/valid.c, shared with the relay's peers.
 *  - Methods lists accept optional whitespace around the commas (RFC 9110 list syntax) but no
 *    empty item; the normalised form is "GET,POST" without spaces.
 *  - A path prefix must not contain dot segments, '?', '#', '\\', spaces or control characters;
 *    a trailing '/' is allowed and then means "strictly below".
 *  - gw_grant_allows() refuses, whenever a prefix restricts the right, a path holding a dot
 *    segment (also percent-encoded), an encoded '/' or '\\', or a backslash: an upstream that
 *    normalises or decodes them could otherwise be led outside the granted prefix. */
#include "gateway/catalogue.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/timeutil.h"
#include "util/valid.h"

#define METHOD_MAX 32  /* longest method name accepted in a right */
#define METHODS_MAX 16 /* most methods in one right */

static enum lt_err bad(char *detail, size_t detail_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum lt_err bad(char *detail, size_t detail_len, const char *fmt, ...)
{
    if (detail && detail_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, detail_len, fmt, ap);
        va_end(ap);
    }
    return LT_ERR_BAD_PARAMETER;
}

static int id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

static int valid_word(const char *s, size_t max)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n == 0 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!id_char(s[i]))
            return 0;
    return 1;
}

int gw_valid_code(const char *code)
{
    return valid_word(code, GW_CODE_MAX);
}

int gw_valid_version(const char *version)
{
    return valid_word(version, GW_VERSION_MAX);
}

static int valid_system_id(const char *id)
{
    return valid_word(id, STORE_ID_MAX);
}

int gw_parse_service_ref(const char *ref, char *code, char *version)
{
    if (!ref)
        return -1;
    const char *slash = strchr(ref, '/');
    if (!slash || strchr(slash + 1, '/'))
        return -1;
    size_t nc = (size_t)(slash - ref);
    if (nc == 0 || nc > GW_CODE_MAX || strlen(slash + 1) > GW_VERSION_MAX)
        return -1;
    char c[GW_CODE_MAX + 1];
    memcpy(c, ref, nc);
    c[nc] = '\0';
    if (!gw_valid_code(c) || !gw_valid_version(slash + 1))
        return -1;
    memcpy(code, c, nc + 1);
    strcpy(version, slash + 1);
    return 0;
}

enum lt_err gw_service_check(struct store_service *s, char *detail, size_t detail_len)
{
    if (detail && detail_len)
        detail[0] = '\0';
    if (!gw_valid_code(s->code))
        return bad(detail, detail_len, "code must be 1 to %d of [A-Za-z0-9._-] (not '.' or '..')",
                   GW_CODE_MAX);
    if (!gw_valid_version(s->version))
        return bad(detail, detail_len,
                   "version must be 1 to %d of [A-Za-z0-9._-] (not '.' or '..')", GW_VERSION_MAX);
    if (!valid_system_id(s->provider_system))
        return bad(detail, detail_len, "provider must be a system id (1 to %d of [A-Za-z0-9._-])",
                   STORE_ID_MAX);
    if (!s->url || !*s->url)
        return bad(detail, detail_len, "url is required");
    const char *why = valid_url_problem(s->url);
    if (why)
        return bad(detail, detail_len, "url %s", why);
    if (s->protocol != STORE_PROTO_REST && s->protocol != STORE_PROTO_SOAP)
        return bad(detail, detail_len, "protocol must be rest or soap");
    if (s->timeout_ms < 1 || s->timeout_ms > GW_MAX_TIMEOUT_MS)
        return bad(detail, detail_len, "timeout_ms must be 1 to %d", GW_MAX_TIMEOUT_MS);
    if (s->max_request_bytes <= 0)
        return bad(detail, detail_len, "max_request_bytes must be greater than 0");
    if (s->max_response_bytes <= 0)
        return bad(detail, detail_len, "max_response_bytes must be greater than 0");
    if (s->rate_per_s < 0)
        return bad(detail, detail_len, "rate_per_s must not be negative");
    if (s->burst < 0)
        return bad(detail, detail_len, "burst must not be negative");
    if (s->name && !valid_text(s->name, GW_NAME_MAX, 0))
        return bad(detail, detail_len,
                   "name must be UTF-8 without control characters, at most %d bytes", GW_NAME_MAX);
    if (s->description && !valid_text(s->description, GW_DESCRIPTION_MAX, 1))
        return bad(detail, detail_len,
                   "description must be UTF-8 without control characters, at most %d bytes",
                   GW_DESCRIPTION_MAX);
    return LT_ERR_OK;
}

static int tchar(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Normalises a methods list into out (upper case, no duplicates, no spaces). Returns NULL or
 * what is wrong. */
static const char *normalise_methods(const char *in, struct buf *out)
{
    char items[METHODS_MAX][METHOD_MAX + 1];
    size_t n = 0;
    const char *p = in;
    while (ows(*p))
        p++;
    if (!*p)
        return buf_puts(out, "") == 0 ? NULL : "out of memory";
    for (;;) {
        while (ows(*p))
            p++;
        const char *start = p;
        while (tchar(*p))
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0)
            return *p && *p != ',' ? "must be HTTP method names (RFC 9110 tokens)"
                                   : "must not contain an empty item";
        if (len > METHOD_MAX)
            return "holds a method name longer than 32 characters";
        char m[METHOD_MAX + 1];
        for (size_t i = 0; i < len; i++)
            m[i] = (start[i] >= 'a' && start[i] <= 'z') ? (char)(start[i] - 'a' + 'A') : start[i];
        m[len] = '\0';
        int dup = 0;
        for (size_t i = 0; i < n && !dup; i++)
            dup = strcmp(items[i], m) == 0;
        if (!dup) {
            if (n == METHODS_MAX)
                return "holds more than 16 methods";
            memcpy(items[n++], m, len + 1);
        }
        while (ows(*p))
            p++;
        if (!*p)
            break;
        if (*p != ',')
            return "must be HTTP method names (RFC 9110 tokens) separated by commas";
        p++;
    }
    for (size_t i = 0; i < n; i++)
        if (buf_printf(out, "%s%s", i ? "," : "", items[i]) != 0)
            return "out of memory";
    return NULL;
}

/* Whether the segment [s, s+len) is "." or ".." (percent-encoded dots too). */
static int dot_segment(const char *s, size_t len)
{
    size_t dots = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] == '.') {
            i++;
        } else if (len - i >= 3 && s[i] == '%' && s[i + 1] == '2' &&
                   (s[i + 2] == 'e' || s[i + 2] == 'E')) {
            i += 3;
        } else {
            return 0;
        }
        dots++;
    }
    return dots == 1 || dots == 2;
}

static const char *prefix_problem(const char *p)
{
    size_t n = strlen(p);
    if (n == 0)
        return NULL;
    if (n > GW_PATH_PREFIX_MAX)
        return "is longer than 256 bytes";
    if (p[0] != '/')
        return "must start with '/'";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '\\')
            return "must be printable ASCII without spaces, '?', '#' or '\\'";
    }
    for (const char *s = p + 1;;) {
        size_t len = strcspn(s, "/");
        if (dot_segment(s, len))
            return "must not contain '.' or '..' segments";
        if (!s[len])
            break;
        s += len + 1;
    }
    return NULL;
}

enum lt_err gw_grant_check(struct store_grant *g, char *detail, size_t detail_len)
{
    if (detail && detail_len)
        detail[0] = '\0';
    if (!valid_system_id(g->consumer_system))
        return bad(detail, detail_len, "consumer must be a system id (1 to %d of [A-Za-z0-9._-])",
                   STORE_ID_MAX);
    if (!gw_valid_code(g->service_code) || !gw_valid_version(g->service_version))
        return bad(detail, detail_len, "service must be CODE/VERSION");
    const char *why = prefix_problem(g->path_prefix ? g->path_prefix : "");
    if (why)
        return bad(detail, detail_len, "path_prefix %s", why);
    if (g->rate_per_s < 0)
        return bad(detail, detail_len, "rate_per_s must not be negative");
    if (g->burst < 0)
        return bad(detail, detail_len, "burst must not be negative");
    struct buf m = {0};
    why = normalise_methods(g->methods ? g->methods : "", &m);
    if (why) {
        buf_free(&m);
        if (strcmp(why, "out of memory") == 0) {
            if (detail && detail_len)
                snprintf(detail, detail_len, "%s", why);
            return LT_ERR_INTERNAL;
        }
        return bad(detail, detail_len, "methods %s", why);
    }
    char *norm = buf_steal(&m);
    if (!norm) {
        if (detail && detail_len)
            snprintf(detail, detail_len, "out of memory");
        return LT_ERR_INTERNAL;
    }
    free(g->methods);
    g->methods = norm;
    return LT_ERR_OK;
}

static int method_listed(const char *methods, const char *method)
{
    size_t ml = strlen(method);
    for (const char *p = methods; *p;) {
        while (ows(*p) || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && ows(end[-1]))
            end--;
        if ((size_t)(end - start) == ml && ml && memcmp(start, method, ml) == 0)
            return 1;
    }
    return 0;
}

/* Whether a call path could escape a prefix once an upstream normalises or decodes it. */
static int path_suspicious(const char *path)
{
    if (strchr(path, '\\') || strcasestr(path, "%2f") || strcasestr(path, "%5c"))
        return 1;
    for (const char *s = path;;) {
        size_t len = strcspn(s, "/");
        if (dot_segment(s, len))
            return 1;
        if (!s[len])
            return 0;
        s += len + 1;
    }
}

int gw_grant_allows(const char *methods, const char *path_prefix, const char *method,
                    const char *path)
{
    if (!method || !*method)
        return 0;
    if (methods && *methods && !method_listed(methods, method))
        return 0;
    if (!path_prefix || !*path_prefix)
        return 1;
    if (!path)
        return 0;
    size_t pl = strlen(path_prefix);
    if (strncmp(path, path_prefix, pl) != 0)
        return 0;
    if (path_prefix[pl - 1] != '/' && path[pl] != '\0' && path[pl] != '/')
        return 0;
    return !path_suspicious(path);
}

static const char *iso_or_empty(int64_t ms, char out[25])
{
    if (ms > 0)
        fmt_iso_utc(ms, out);
    else
        out[0] = '\0';
    return out;
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

json_t *gw_service_to_json(const struct store_service *s)
{
    char created[25], updated[25];
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s}",
                     "code", str_or_empty(s->code), "version", str_or_empty(s->version), "provider",
                     str_or_empty(s->provider_system), "name", str_or_empty(s->name), "description",
                     str_or_empty(s->description), "url", str_or_empty(s->url), "protocol",
                     store_protocol_name(s->protocol), "timeout_ms", (json_int_t)s->timeout_ms,
                     "max_request_bytes", (json_int_t)s->max_request_bytes, "max_response_bytes",
                     (json_int_t)s->max_response_bytes, "rate_per_s", (json_int_t)s->rate_per_s,
                     "burst", (json_int_t)s->burst, "created", iso_or_empty(s->created_ms, created),
                     "updated", iso_or_empty(s->updated_ms, updated));
}

json_t *gw_grant_to_json(const struct store_grant *g)
{
    char created[25], updated[25];
    struct buf ref = {0};
    if (buf_printf(&ref, "%s/%s", str_or_empty(g->service_code),
                   str_or_empty(g->service_version)) != 0)
        return NULL;
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "consumer",
        str_or_empty(g->consumer_system), "service", ref.data, "code",
        str_or_empty(g->service_code), "version", str_or_empty(g->service_version), "methods",
        str_or_empty(g->methods), "path_prefix", str_or_empty(g->path_prefix), "rate_per_s",
        (json_int_t)g->rate_per_s, "burst", (json_int_t)g->burst, "created",
        iso_or_empty(g->created_ms, created), "updated", iso_or_empty(g->updated_ms, updated));
    buf_free(&ref);
    return o;
}

json_t *gw_token_to_json(const struct store_token *t)
{
    char id[13], issued[25], expires[25], revoked[25];
    snprintf(id, sizeof id, "%.12s", str_or_empty(t->sha256));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "system", str_or_empty(t->system_id),
                          "issued", iso_or_empty(t->issued_ms, issued), "expires",
                          iso_or_empty(t->expires_ms, expires));
    if (o && t->revoked_ms > 0 &&
        json_object_set_new(o, "revoked", json_string(iso_or_empty(t->revoked_ms, revoked))) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}
