/* peer — the rules of the relay's configuration objects other than routes: this platform's own
 * identity and its peers (the national axis, other provinces' platforms), plus the JSON forms of
 * the three objects. Shared by the CLI and the JSON API so that each rule exists once.
 *
 * The check functions validate without repairing anything (a bad value is refused, never
 * trimmed) and return LT_ERR_OK or the registry error with an ASCII detail naming the field by
 * its JSON name (organ_id, name, endpoint, system_id, secret, pull_interval_ms).
 *
 * Secrets: a peer's secret is the key this platform signs its requests to the peer with, so it
 * is stored as given (see the schema, migration 3), but no JSON form and no listing ever carries
 * it: they show RELAY_SECRET_MASK instead. */
#ifndef LT_RELAY_PEER_H
#define LT_RELAY_PEER_H

#include <jansson.h>
#include <stddef.h>

#include "store/store.h"
#include "util/errors.h"

#define RELAY_PEER_NAME_MAX 64
#define RELAY_NAME_MAX 1024 /* the platform's name, bytes of UTF-8 (like an agency's name) */
#define RELAY_SECRET_MAX 256
#define RELAY_PULL_DEFAULT_MS 2000
#define RELAY_PULL_MIN_MS 100
#define RELAY_PULL_MAX_MS 3600000 /* one hour */
#define RELAY_SECRET_MASK "********"

/* [A-Za-z0-9._-], 1..RELAY_PEER_NAME_MAX characters, not "." or "..": a name that is safe as
 * a path segment of /api/v1/peers/{name}. */
int relay_peer_name_ok(const char *name);

/* Identity: organ_id an organ id (LT_ERR_BAD_ORGAN_ID otherwise), name 1..RELAY_NAME_MAX bytes
 * of UTF-8 without control characters (LT_ERR_BAD_PARAMETER). */
enum lt_err relay_platform_check(const struct store_platform *p, char *detail, size_t detail_len);

/* Peer: name (relay_peer_name_ok), endpoint (a base URL: http:// or https://, a host, an
 * optional port and path; no user information, query or fragment, see util/valid.h), system_id
 * (an organ id: the VXP systemId this platform has at the peer), secret (1..RELAY_SECRET_MAX
 * bytes, no control characters), pull_interval_ms (RELAY_PULL_MIN_MS..RELAY_PULL_MAX_MS).
 * LT_ERR_BAD_PARAMETER on any of them. */
enum lt_err relay_peer_check(const struct store_peer *p, char *detail, size_t detail_len);

/* JSON forms (new references; NULL on allocation failure). The peer's secret is masked. */
json_t *relay_platform_to_json(const struct store_platform *p);
json_t *relay_peer_to_json(const struct store_peer *p);
json_t *relay_route_to_json(const struct store_relay_route *r);

#endif
