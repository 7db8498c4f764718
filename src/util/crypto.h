/* crypto — SHA-256, HMAC-SHA256, constant-time comparison and random identifiers (OpenSSL).
 *
 * Convention: functions return 0 on success, -1 on failure. Hex output buffers are caller-owned
 * and sized by the constants below (including the terminating NUL). */
#ifndef LT_CRYPTO_H
#define LT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_SIZE 65 /* 64 hex digits + NUL */
#define DOCID_HEX_SIZE 25  /* 24 hex digits + NUL: sender-side DocId, ObjectId-like */
#define UUID_SIZE 37       /* 8-4-4-4-12 + NUL: receiver-side docId */

/* Incremental SHA-256; the state lives on the caller's stack. */
struct sha256_ctx {
    void *md; /* EVP_MD_CTX*, owned */
};
int sha256_init(struct sha256_ctx *c);
int sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Finishes and frees the context; out gets SHA256_LEN bytes. Safe to call after a failed init. */
int sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN]);
void sha256_abort(struct sha256_ctx *c);
/* Initialises dst as a copy of src's running state (for hashing two candidate lengths). */
int sha256_copy(struct sha256_ctx *dst, const struct sha256_ctx *src);
int sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

/* Lower-case hex, two digits per byte. out must hold 2*len+1 bytes. */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* The VXP SDK's "hash-file" rendering: each byte as %x, WITHOUT zero padding (0x05 -> "5"),
 * so 32..64 characters. out must hold SHA256_HEX_SIZE bytes. */
void hex_unpadded(const uint8_t digest[SHA256_LEN], char *out);

/* HMAC-SHA256(key, msg) rendered as 64 lower-case hex digits. */
int hmac_sha256_hex(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    char out[SHA256_HEX_SIZE]);

/* Constant-time equality of two equal-length byte strings; 0 when lengths differ. */
int ct_equal(const void *a, size_t a_len, const void *b, size_t b_len);

/* Identifiers from the CSPRNG. DocId: 4 bytes of seconds since the epoch, 2 of the millisecond
 * within it (0-999), then 6 random bytes, as 24 hex digits: it sorts by creation time like the
 * national hub's ObjectIds, and to the millisecond, so that the packages of one commit share the
 * B-tree pages of the five indexes keyed by package id. */
int random_docid(char out[DOCID_HEX_SIZE]);
int random_uuid(char out[UUID_SIZE]);
/* UUIDv7: milliseconds since the epoch, then random bits. For keys of rows written at a high rate
 * (deliveries, outbox rows): new keys land in the same B-tree pages instead of random ones. */
int time_uuid(char out[UUID_SIZE]);
/* A 44-character base64 secret from 32 random bytes, like the national hub issues. */
int random_secret(char out[45]);

#endif
