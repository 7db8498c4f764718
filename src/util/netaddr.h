/* netaddr — lists of IP addresses and networks ("127.0.0.1, 10.0.0.0/8, ::1"), e.g. the
 * trusted proxies whose X-Forwarded-For the gateway keeps and whose connections no per-address
 * limit counts.
 * Convention: parse returns 0 or -1 with an ASCII reason; matches return 1 or 0. */
#ifndef LT_UTIL_NETADDR_H
#define LT_UTIL_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

struct addr_range {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network order; IPv4 in the first 4 bytes */
    unsigned prefix;        /* bits */
};

struct addr_list {
    struct addr_range *v;
    size_t n;
};

/* Comma- or space-separated addresses, each optionally "/prefix". "" is the empty list. */
int addr_list_parse(const char *text, struct addr_list *ret, char *err, size_t err_len);
void addr_list_free(struct addr_list *l); /* accepts an empty list */
/* An IPv4-mapped IPv6 address matches as the IPv4 address it carries. */
int addr_list_match(const struct addr_list *l, const struct sockaddr *sa);
int addr_list_match_text(const struct addr_list *l, const char *ip);

/* The address of sa as text (no port) into buf; 0, or -1. */
int addr_text(const struct sockaddr *sa, char *buf, size_t len);

#endif
