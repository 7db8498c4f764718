/* b64 — incremental base64 (RFC 4648) encoding and decoding with constant memory, so that
 * attachments of tens of megabytes are never held whole.
 *
 * Decoder: tolerant of whitespace (CR, LF, tab, space) anywhere, as real edXML files wrap their
 * base64; strict about everything else (invalid characters, data after padding).
 * Convention: functions return 0 on success, -1 on malformed input. */
#ifndef LT_B64_H
#define LT_B64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of base64 text produced for n input bytes (with padding). */
#define B64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)

struct b64_enc {
    uint8_t carry[2];
    unsigned ncarry;
};

/* Encodes in[0..len) after any carried bytes. out must hold B64_ENCODED_LEN(len + 2) bytes;
 * returns the number of characters written. Up to two input bytes are carried to the next call. */
size_t b64_enc_update(struct b64_enc *e, const uint8_t *in, size_t len, char *out);
/* Flushes the carried bytes with padding; out must hold 4 bytes; returns characters written. */
size_t b64_enc_final(struct b64_enc *e, char *out);
/* One-shot convenience: out must hold B64_ENCODED_LEN(len) + 1 bytes; NUL-terminated. */
size_t b64_encode(const uint8_t *in, size_t len, char *out);

struct b64_dec {
    uint32_t acc;
    unsigned nsext; /* sextets in acc */
    unsigned npad;  /* '=' seen */
    int done;       /* padding seen: only whitespace and '=' may follow */
};

/* Decodes text[0..len) into out, which must hold (len / 4 + 1) * 3 bytes; *ret_out_len gets the
 * number of bytes written. */
int b64_dec_update(struct b64_dec *d, const char *text, size_t len, uint8_t *out,
                   size_t *ret_out_len);
/* Checks that the input ended on a valid boundary (unpadded final groups of 2 or 3 characters are
 * accepted, as lenient encoders emit them); may write up to 2 final bytes to out. */
int b64_dec_final(struct b64_dec *d, uint8_t *out, size_t *ret_out_len);

#endif
