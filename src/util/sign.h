/* sign — Ed25519 keys and signatures (OpenSSL), for the signed anchors of the transaction log.
 *
 * The private key lives in a PEM file created 0600 at first use; its public half can be printed
 * (PEM) and given to a third party, who verifies with that file alone. A key is identified by
 * the first 16 hex digits of the SHA-256 of its raw public key. Signatures travel as base64.
 * Convention: 0 on success, -1 on failure (with an ASCII reason in err where there is one). */
#ifndef LT_UTIL_SIGN_H
#define LT_UTIL_SIGN_H

#include <stddef.h>

#include "util/buf.h"

#define SIGN_KEY_ID_SIZE 17 /* 16 hex digits + NUL */
#define SIGN_B64_SIZE 89    /* base64 of 64 bytes + NUL */

struct sign_key; /* EVP_PKEY, private or public only */

/* The private key of path, created (0600, never overwritten) when there is none. */
struct sign_key *sign_key_open(const char *path, int create, char *err, size_t err_len);
/* A key from a PEM file holding a public key or a private key (its public half is used). */
struct sign_key *sign_key_load_public(const char *path, char *err, size_t err_len);
void sign_key_free(struct sign_key *k); /* accepts NULL */

int sign_key_id(const struct sign_key *k, char out[SIGN_KEY_ID_SIZE]);
/* The public key as PEM text, appended to out. */
int sign_key_public_pem(const struct sign_key *k, struct buf *out);

int sign_message(const struct sign_key *k, const void *msg, size_t len, char out[SIGN_B64_SIZE]);
/* 1 when sig (base64) is k's signature of msg, 0 when not. */
int sign_verify(const struct sign_key *k, const void *msg, size_t len, const char *sig);

#endif
