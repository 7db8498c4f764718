/* b64 — incremental base64 (see b64.h). */
#include "util/b64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void enc_group(const uint8_t *g, char *out)
{
    out[0] = alphabet[g[0] >> 2];
    out[1] = alphabet[((g[0] & 3) << 4) | (g[1] >> 4)];
    out[2] = alphabet[((g[1] & 15) << 2) | (g[2] >> 6)];
    out[3] = alphabet[g[2] & 63];
}

size_t b64_enc_update(struct b64_enc *e, const uint8_t *in, size_t len, char *out)
{
    size_t o = 0;
    while (e->ncarry > 0 && e->ncarry < 3 && len > 0) {
        if (e->ncarry == 2) {
            uint8_t g[3] = {e->carry[0], e->carry[1], in[0]};
            enc_group(g, out + o);
            o += 4;
            in++;
            len--;
            e->ncarry = 0;
            break;
        }
        e->carry[e->ncarry++] = in[0];
        in++;
        len--;
    }
    while (len >= 3) {
        enc_group(in, out + o);
        o += 4;
        in += 3;
        len -= 3;
    }
    while (len > 0) {
        e->carry[e->ncarry++] = *in++;
        len--;
    }
    return o;
}

size_t b64_enc_final(struct b64_enc *e, char *out)
{
    if (e->ncarry == 0)
        return 0;
    uint8_t g[3] = {e->carry[0], e->ncarry == 2 ? e->carry[1] : 0, 0};
    enc_group(g, out);
    out[3] = '=';
    if (e->ncarry == 1)
        out[2] = '=';
    e->ncarry = 0;
    return 4;
}

size_t b64_encode(const uint8_t *in, size_t len, char *out)
{
    struct b64_enc e = {{0, 0}, 0};
    size_t n = b64_enc_update(&e, in, len, out);
    n += b64_enc_final(&e, out + n);
    out[n] = '\0';
    return n;
}

static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int b64_dec_update(struct b64_dec *d, const char *text, size_t len, uint8_t *out,
                   size_t *ret_out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            /* Padding is only valid after 2 or 3 sextets of a group. */
            if (d->npad == 0 && d->nsext < 2)
                return -1;
            if (++d->npad > 2 || d->nsext + d->npad > 4)
                return -1;
            d->done = 1;
            continue;
        }
        if (d->done)
            return -1;
        int v = sextet(c);
        if (v < 0)
            return -1;
        d->acc = (d->acc << 6) | (uint32_t)v;
        if (++d->nsext == 4) {
            out[o++] = (uint8_t)(d->acc >> 16);
            out[o++] = (uint8_t)(d->acc >> 8);
            out[o++] = (uint8_t)d->acc;
            d->acc = 0;
            d->nsext = 0;
        }
    }
    *ret_out_len = o;
    return 0;
}

int b64_dec_final(struct b64_dec *d, uint8_t *out, size_t *ret_out_len)
{
    *ret_out_len = 0;
    if (d->nsext == 1)
        return -1;
    if (d->nsext == 2) {
        out[0] = (uint8_t)(d->acc >> 4);
        *ret_out_len = 1;
    } else if (d->nsext == 3) {
        out[0] = (uint8_t)(d->acc >> 10);
        out[1] = (uint8_t)(d->acc >> 2);
        *ret_out_len = 2;
    }
    d->acc = 0;
    d->nsext = 0;
    return 0;
}
