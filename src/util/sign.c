/* sign — Ed25519 with OpenSSL's EVP interface (see sign.h). */
#include "util/sign.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/b64.h"
#include "util/crypto.h"

struct sign_key {
    EVP_PKEY *pkey;
};

static struct sign_key *wrap(EVP_PKEY *p)
{
    struct sign_key *k = p ? calloc(1, sizeof *k) : NULL;
    if (k)
        k->pkey = p;
    else
        EVP_PKEY_free(p);
    return k;
}

static int is_ed25519(const EVP_PKEY *p)
{
    return p && EVP_PKEY_get_id(p) == EVP_PKEY_ED25519;
}

static struct sign_key *create(const char *path, char *err, size_t err_len)
{
    EVP_PKEY *p = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &p) <= 0) {
        EVP_PKEY_CTX_free(ctx);
        snprintf(err, err_len, "cannot generate an Ed25519 key");
        return NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    /* O_EXCL: two processes starting at once never overwrite each other's key */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        snprintf(err, err_len, "cannot create %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        EVP_PKEY_free(p);
        return NULL;
    }
    int ok = PEM_write_PrivateKey(f, p, NULL, NULL, 0, NULL, NULL) == 1;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    if (fclose(f) != 0 || !ok) {
        snprintf(err, err_len, "cannot write %s", path);
        unlink(path);
        EVP_PKEY_free(p);
        return NULL;
    }
    return wrap(p);
}

struct sign_key *sign_key_open(const char *path, int create_missing, char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT && create_missing) {
            struct sign_key *k = create(path, err, err_len);
            if (k || errno != EEXIST)
                return k;
            f = fopen(path, "re"); /* created meanwhile by another process */
        }
        if (!f) {
            snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
            return NULL;
        }
    }
    EVP_PKEY *p = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!is_ed25519(p)) {
        EVP_PKEY_free(p);
        snprintf(err, err_len, "%s does not hold an Ed25519 private key", path);
        return NULL;
    }
    return wrap(p);
}

struct sign_key *sign_key_load_public(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *p = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (!p) {
        rewind(f);
        p = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    }
    fclose(f);
    if (!is_ed25519(p)) {
        EVP_PKEY_free(p);
        snprintf(err, err_len, "%s holds no Ed25519 key (PEM)", path);
        return NULL;
    }
    return wrap(p);
}

void sign_key_free(struct sign_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

int sign_key_id(const struct sign_key *k, char out[SIGN_KEY_ID_SIZE])
{
    uint8_t raw[32], d[SHA256_LEN];
    size_t n = sizeof raw;
    char hex[SHA256_HEX_SIZE];
    if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &n) != 1 || sha256(raw, n, d) != 0)
        return -1;
    hex_encode(d, SHA256_LEN, hex);
    memcpy(out, hex, 16);
    out[16] = '\0';
    return 0;
}

int sign_key_public_pem(const struct sign_key *k, struct buf *out)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    int rc = -1;
    if (b && PEM_write_bio_PUBKEY(b, k->pkey) == 1 && (n = BIO_get_mem_data(b, &data)) > 0)
        rc = buf_append(out, data, (size_t)n);
    BIO_free(b);
    return rc;
}

int sign_message(const struct sign_key *k, const void *msg, size_t len, char out[SIGN_B64_SIZE])
{
    uint8_t sig[64];
    size_t n = sizeof sig;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestSignInit(c, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestSign(c, sig, &n, msg, len) == 1 && n == sizeof sig;
    EVP_MD_CTX_free(c);
    if (!ok)
        return -1;
    out[b64_encode(sig, n, out)] = '\0';
    return 0;
}

int sign_verify(const struct sign_key *k, const void *msg, size_t len, const char *sig)
{
    uint8_t raw[72];
    size_t n = 0, m = 0;
    struct b64_dec d = {0};
    if (!sig || strlen(sig) != SIGN_B64_SIZE - 1 ||
        b64_dec_update(&d, sig, strlen(sig), raw, &n) != 0 || b64_dec_final(&d, raw + n, &m) != 0 ||
        n + m != 64)
        return 0;
    n += m;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestVerify(c, raw, n, msg, len) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}
