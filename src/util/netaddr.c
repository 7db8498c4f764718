/* netaddr — address lists (see netaddr.h). */
#include "util/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_one(const char *s, struct addr_range *r)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof ip)
        return -1;
    memcpy(ip, s, n);
    ip[n] = '\0';
    memset(r, 0, sizeof *r);
    unsigned max;
    if (inet_pton(AF_INET, ip, r->addr) == 1) {
        r->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, ip, r->addr) == 1) {
        r->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    r->prefix = max;
    if (slash) {
        char *end;
        unsigned long p = strtoul(slash + 1, &end, 10);
        if (end == slash + 1 || *end || p > max)
            return -1;
        r->prefix = (unsigned)p;
    }
    return 0;
}

int addr_list_parse(const char *text, struct addr_list *ret, char *err, size_t err_len)
{
    struct addr_list l = {0};
    const char *p = text ? text : "";
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == 0)
            break;
        char item[80];
        struct addr_range r;
        if (n >= sizeof item || (memcpy(item, p, n), item[n] = '\0', parse_one(item, &r) != 0)) {
            snprintf(err, err_len, "not an IP address or network: '%.*s'", (int)(n < 64 ? n : 64),
                     p);
            addr_list_free(&l);
            return -1;
        }
        struct addr_range *nv = realloc(l.v, (l.n + 1) * sizeof *nv);
        if (!nv) {
            snprintf(err, err_len, "out of memory");
            addr_list_free(&l);
            return -1;
        }
        l.v = nv;
        l.v[l.n++] = r;
        p += n;
    }
    *ret = l;
    return 0;
}

void addr_list_free(struct addr_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return 0;
    if (!rest)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

static int match_raw(const struct addr_list *l, int family, const unsigned char *addr)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family == AF_INET6 && memcmp(addr, mapped, 12) == 0) {
        family = AF_INET;
        addr += 12;
    }
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].family == family && prefix_eq(l->v[i].addr, addr, l->v[i].prefix))
            return 1;
    return 0;
}

int addr_list_match(const struct addr_list *l, const struct sockaddr *sa)
{
    if (!l || !l->n || !sa)
        return 0;
    if (sa->sa_family == AF_INET)
        return match_raw(l, AF_INET,
                         (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return match_raw(l, AF_INET6,
                         (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

int addr_list_match_text(const struct addr_list *l, const char *ip)
{
    unsigned char a[16];
    if (!l || !l->n || !ip)
        return 0;
    if (inet_pton(AF_INET, ip, a) == 1)
        return match_raw(l, AF_INET, a);
    if (inet_pton(AF_INET6, ip, a) == 1)
        return match_raw(l, AF_INET6, a);
    return 0;
}

int addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
    const void *addr = sa->sa_family == AF_INET6
                           ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                           : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return -1;
    return inet_ntop(sa->sa_family, addr, buf, (socklen_t)len) ? 0 : -1;
}
