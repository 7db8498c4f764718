/* catalogue — the rules of the gateway's registry objects (services, access rights, tokens),
 * shared by the CLI, the JSON API and the running gateway so that each rule exists once.
 *
 * The check functions validate and normalise a struct in place (trimming nothing: a bad value is
 * refused, never repaired, except that HTTP methods are upper-cased and de-duplicated) and return
 * LT_ERR_OK or the registry error, with an ASCII detail naming the offending field.
 *
 * URL layout of the gateway (documented in docs/design.md):
 *   POST /token                                   OAuth2 client credentials (RFC 6749 section 4.4)
 *   ANY  /gw/{code}/{version}/{path...}[?query]   a call of service code/version; {path...} and
 *                                                 the query are appended to the upstream URL.
 * The first segment "gw" is reserved, so gateway paths never collide with the VXP operations
 * (matched on the last path segment elsewhere), /token, /api/v1, /healthz or /metrics. */
#ifndef LT_GATEWAY_CATALOGUE_H
#define LT_GATEWAY_CATALOGUE_H

#include <jansson.h>
#include <stddef.h>

#include "store/store.h"
#include "util/errors.h"
#include "util/valid.h"

#define GW_CODE_MAX 64
#define GW_VERSION_MAX 32
#define GW_PATH_PREFIX_MAX 256
#define GW_URL_MAX VALID_URL_MAX
#define GW_NAME_MAX 256
#define GW_DESCRIPTION_MAX 2048

/* Defaults of a service published without the option. */
#define GW_DEFAULT_TIMEOUT_MS 30000
#define GW_DEFAULT_MAX_REQUEST (10 * 1024 * 1024)
#define GW_DEFAULT_MAX_RESPONSE (50 * 1024 * 1024)
#define GW_DEFAULT_RATE_PER_S 100
#define GW_MAX_TIMEOUT_MS 600000

/* [A-Za-z0-9._-], 1..GW_CODE_MAX / GW_VERSION_MAX characters, not "." or "..". */
int gw_valid_code(const char *code);
int gw_valid_version(const char *version);
/* Splits "CODE/VERSION" into the two buffers (sizes GW_CODE_MAX + 1, GW_VERSION_MAX + 1).
 * Returns 0, or -1 when malformed. */
int gw_parse_service_ref(const char *ref, char *code, char *version);

/* Service: code, version, provider, url (http/https, host present, no user-info, no fragment,
 * <= GW_URL_MAX), protocol, timeout 1..GW_MAX_TIMEOUT_MS, sizes > 0, rate/burst >= 0, name and
 * description bounded UTF-8. Does not look the provider up (the caller does, in its store). */
enum lt_err gw_service_check(struct store_service *s, char *detail, size_t detail_len);
/* Access right: consumer, service ref, methods (comma list of RFC 9110 tokens; normalised to
 * upper case without duplicates), path prefix ("" or starting with '/', no "..", <=
 * GW_PATH_PREFIX_MAX), rate/burst >= 0. Frees and replaces g->methods when normalising. */
enum lt_err gw_grant_check(struct store_grant *g, char *detail, size_t detail_len);

/* Whether the right allows method on path (path below the service, starting with '/'). The
 * prefix matches whole segments: "/a" allows "/a" and "/a/b", not "/ab". */
int gw_grant_allows(const char *methods, const char *path_prefix, const char *method,
                    const char *path);

/* JSON forms used by the API and `--json` listings (new references; NULL on allocation
 * failure). Secrets never appear. */
json_t *gw_service_to_json(const struct store_service *s);
json_t *gw_grant_to_json(const struct store_grant *g);
json_t *gw_token_to_json(const struct store_token *t);

#endif
