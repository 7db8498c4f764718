/* peer — the rules of the platform identity and of peers, and the JSON forms (see peer.h).
 *
 * Choices beyond the header's contract, and why:
 *  - A peer's system_id follows the organ-id rule (edxml_organ_id_ok): at the national axis a
 *    platform is known by a systemId of that shape ("000.00.00.H34", "vxp.saas.03").
 *  - The secret follows the rule of a connected system's secret (printable, at most 256 bytes):
 *    both are raw HMAC keys given by an operator.
 *  - The endpoint may end in '/' or carry a base path: the relay will join it with the operation
 *    name the way the SDK does (docs/vxp-protocol.md, section 1). */
#include "relay/peer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "edxml/edxml.h"
#include "util/timeutil.h"
#include "util/valid.h"

static enum lt_err bad(enum lt_err e, char *detail, size_t detail_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum lt_err bad(enum lt_err e, char *detail, size_t detail_len, const char *fmt, ...)
{
    if (detail && detail_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, detail_len, fmt, ap);
        va_end(ap);
    }
    return e;
}

static void clear_detail(char *detail, size_t detail_len)
{
    if (detail && detail_len)
        detail[0] = '\0';
}

int relay_peer_name_ok(const char *name)
{
    if (!name)
        return 0;
    size_t n = strlen(name);
    if (n == 0 || n > RELAY_PEER_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

enum lt_err relay_platform_check(const struct store_platform *p, char *detail, size_t detail_len)
{
    clear_detail(detail, detail_len);
    if (!edxml_organ_id_ok(p->organ_id))
        return bad(LT_ERR_BAD_ORGAN_ID, detail, detail_len,
                   "organ_id must be an organ id (letters, digits, '.', '_', '-'; at most %d "
                   "characters)",
                   STORE_ID_MAX);
    if (!p->name || !*p->name || !valid_text(p->name, RELAY_NAME_MAX, 0))
        return bad(LT_ERR_BAD_PARAMETER, detail, detail_len,
                   "name must be 1 to %d bytes of UTF-8 without control characters",
                   RELAY_NAME_MAX);
    return LT_ERR_OK;
}

static int secret_ok(const char *s)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n == 0 || n > RELAY_SECRET_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

enum lt_err relay_peer_check(const struct store_peer *p, char *detail, size_t detail_len)
{
    clear_detail(detail, detail_len);
    if (!relay_peer_name_ok(p->name))
        return bad(LT_ERR_BAD_PARAMETER, detail, detail_len,
                   "name must be 1 to %d of [A-Za-z0-9._-] (not '.' or '..')", RELAY_PEER_NAME_MAX);
    if (!p->endpoint || !*p->endpoint)
        return bad(LT_ERR_BAD_PARAMETER, detail, detail_len, "endpoint is required");
    const char *why = valid_url_problem(p->endpoint);
    if (why)
        return bad(LT_ERR_BAD_PARAMETER, detail, detail_len, "endpoint %s", why);
    if (!edxml_organ_id_ok(p->system_id))
        return bad(LT_ERR_BAD_PARAMETER, detail, detail_len,
                   "system_id must be a system id (letters, digits, '.', '_', '-'; at most %d "
                   "characters)",
                   STORE_ID_MAX);
    if (!secret_ok(p->secret))
        return bad(LT_ERR_BAD_PARAMETER, detail, detail_len,
                   "secret must be 1 to %d bytes without control characters", RELAY_SECRET_MAX);
    if (strcmp(p->secret, RELAY_SECRET_MASK) == 0)
        return bad(LT_ERR_BAD_PARAMETER, detail, detail_len,
                   "secret must be the secret itself, not the mask that lists show");
    if (p->pull_interval_ms < RELAY_PULL_MIN_MS || p->pull_interval_ms > RELAY_PULL_MAX_MS)
        return bad(LT_ERR_BAD_PARAMETER, detail, detail_len, "pull_interval_ms must be %d to %d",
                   RELAY_PULL_MIN_MS, RELAY_PULL_MAX_MS);
    return LT_ERR_OK;
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

json_t *relay_platform_to_json(const struct store_platform *p)
{
    char created[25], updated[25];
    return json_pack("{s:s, s:s, s:s, s:s}", "organ_id", str_or_empty(p->organ_id), "name",
                     str_or_empty(p->name), "created", iso_or_empty(p->created_ms, created),
                     "updated", iso_or_empty(p->updated_ms, updated));
}

json_t *relay_peer_to_json(const struct store_peer *p)
{
    char created[25], updated[25];
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "name", str_or_empty(p->name), "endpoint",
        str_or_empty(p->endpoint), "system_id", str_or_empty(p->system_id), "secret",
        RELAY_SECRET_MASK, "pull_interval_ms", (json_int_t)p->pull_interval_ms, "created",
        iso_or_empty(p->created_ms, created), "updated", iso_or_empty(p->updated_ms, updated));
}

json_t *relay_route_to_json(const struct store_relay_route *r)
{
    char created[25];
    return json_pack("{s:s, s:s, s:s}", "pattern", str_or_empty(r->pattern), "peer",
                     str_or_empty(r->peer), "created", iso_or_empty(r->created_ms, created));
}
