/* valid — input checks shared by several layers (the gateway's catalogue, the relay's peers):
 * human text and the base URLs of outside HTTP services. Pure functions, no allocation. */
#ifndef LT_VALID_H
#define LT_VALID_H

#include <stddef.h>

/* The longest base URL accepted for an outside service (gateway upstream, relay peer). */
#define VALID_URL_MAX 1024

/* 1 when s is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF)
 * without C0/C1 controls or DEL, at most max bytes; allow_breaks also lets through tab, LF
 * and CR (descriptions). 0 otherwise. The empty string is valid (callers that need a value
 * check for it). */
int valid_text(const char *s, size_t max, int allow_breaks);

/* What is wrong with a base URL of an outside HTTP service, as a phrase that follows the name
 * of the field ("url must start with http:// or https://"), or NULL when it is acceptable:
 * http:// or https:// (scheme in any case), a non-empty host (a name, an IPv4 address or a
 * bracketed IPv6 address), an optional port 1..65535, an optional path; printable ASCII, at
 * most VALID_URL_MAX bytes; no user information, query or fragment (lienthong appends its own
 * path and query to the base). */
const char *valid_url_problem(const char *url);

#endif
