/* signature — the XML signatures of a package, verified with xmlsec1 (OpenSSL).
 *
 * Every XML-DSig Signature element (namespace http://www.w3.org/2000/09/xmldsig#) anywhere in the
 * package must verify: VALID when all do, INVALID when one does not. A <Signature> outside that
 * namespace (as the national samples carry it, in the QCVN namespace) is not an XML-DSig signature
 * that anyone can check: INVALID too. The key is the certificate the signature embeds
 * (KeyInfo/X509Data); its chain is checked only against a configured CA bundle (trusted roots:
 * that bundle alone, with OpenSSL's X509_verify_cert), otherwise the certificate is taken as it
 * is, so VALID then means "the document is unchanged since whoever holds that certificate's key
 * signed it".
 *
 * Cost: no xmlsec keys manager (it would load and search OpenSSL's default certificate store for
 * every signature); the embedded certificate's key is given to the signature context directly,
 * and the trust store is loaded once. References may only point into the
 * document itself (no network, no files), and the document is parsed without DTD, entities or
 * network, up to max_bytes (a larger package is NOT CHECKED rather than held whole in memory). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/keys.h>
#include <xmlsec/openssl/evp.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>

#include "edxml/edxml.h"
#include "util/b64.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_ok;
/* xmlsec reports every failed check on stderr by default: a verdict is not an error of ours */
static void quiet(const char *file, int line, const char *func, const char *object,
                  const char *subject, int reason, const char *msg)
{
    (void)file, (void)line, (void)func, (void)object, (void)subject, (void)reason, (void)msg;
}

static void init(void)
{
    xmlInitParser();
    init_ok = xmlSecInit() >= 0 && xmlSecCheckVersion() == 1 && xmlSecCryptoAppInit(NULL) >= 0 &&
              xmlSecCryptoInit() >= 0;
    xmlSecErrorsSetCallback(quiet); /* after xmlSecInit, which installs the default */
}

/* Any element named Signature outside the XML-DSig namespace. */
static int foreign_signature(xmlNodePtr n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (xmlStrEqual(n->name, BAD_CAST "Signature") &&
            !(n->ns && xmlStrEqual(n->ns->href, xmlSecDSigNs)))
            return 1;
        if (foreign_signature(n->children))
            return 1;
    }
    return 0;
}

/* The trusted roots of ca_file, loaded once (the setting does not change while running). */
static pthread_mutex_t trust_mu = PTHREAD_MUTEX_INITIALIZER;
static X509_STORE *trust;

static X509_STORE *trust_store(const char *ca_file)
{
    pthread_mutex_lock(&trust_mu);
    if (!trust) { /* a failure is tried again next time: the file may appear */
        trust = X509_STORE_new();
        if (trust && X509_STORE_load_file(trust, ca_file) != 1) {
            X509_STORE_free(trust);
            trust = NULL;
        }
    }
    pthread_mutex_unlock(&trust_mu);
    return trust;
}

/* The certificates a signature embeds (KeyInfo/X509Data/X509Certificate), in document order;
 * NULL when there is none. Free with sk_X509_pop_free(..., X509_free). */
static void collect_certs(xmlNodePtr n, STACK_OF(X509) * certs)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (xmlStrEqual(n->name, BAD_CAST "X509Certificate") && n->ns &&
            xmlStrEqual(n->ns->href, xmlSecDSigNs)) {
            xmlChar *text = xmlNodeGetContent(n);
            size_t len = text ? strlen((const char *)text) : 0;
            uint8_t *der = len ? malloc(len / 4 * 3 + 4) : NULL;
            size_t got = 0, tail = 0;
            struct b64_dec d = {0};
            if (der && b64_dec_update(&d, (const char *)text, len, der, &got) == 0 &&
                b64_dec_final(&d, der + got, &tail) == 0) {
                const unsigned char *p = der;
                X509 *x = d2i_X509(NULL, &p, (long)(got + tail));
                if (x && !sk_X509_push(certs, x))
                    X509_free(x);
            }
            free(der);
            xmlFree(text);
            continue;
        }
        collect_certs(n->children, certs);
    }
}

/* Only what an enveloped signature of a document needs: canonicalisation, the enveloped
 * transform, the usual digests and RSA/ECDSA signatures. No XPath, XPointer or XSLT: a crafted
 * transform could make one verification take as long as its author likes. */
static int restrict_transforms(xmlSecDSigCtxPtr ctx)
{
    const xmlSecTransformId c14n[] = {
        xmlSecTransformInclC14NId,   xmlSecTransformInclC14NWithCommentsId,
        xmlSecTransformInclC14N11Id, xmlSecTransformInclC14N11WithCommentsId,
        xmlSecTransformExclC14NId,   xmlSecTransformExclC14NWithCommentsId,
    };
    const xmlSecTransformId digests[] = {xmlSecTransformSha1Id, xmlSecTransformSha256Id,
                                         xmlSecTransformSha384Id, xmlSecTransformSha512Id};
    const xmlSecTransformId sigs[] = {xmlSecTransformRsaSha1Id,     xmlSecTransformRsaSha256Id,
                                      xmlSecTransformRsaSha384Id,   xmlSecTransformRsaSha512Id,
                                      xmlSecTransformEcdsaSha256Id, xmlSecTransformEcdsaSha384Id};
    int rc = 0;
    for (size_t i = 0; i < sizeof c14n / sizeof c14n[0]; i++)
        rc |= xmlSecDSigCtxEnableReferenceTransform(ctx, c14n[i]) < 0 ||
              xmlSecDSigCtxEnableSignatureTransform(ctx, c14n[i]) < 0;
    rc |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformEnvelopedId) < 0;
    rc |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformBase64Id) < 0;
    for (size_t i = 0; i < sizeof digests / sizeof digests[0]; i++)
        rc |= xmlSecDSigCtxEnableReferenceTransform(ctx, digests[i]) < 0;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        rc |= xmlSecDSigCtxEnableSignatureTransform(ctx, sigs[i]) < 0;
    return rc ? -1 : 0;
}

/* One signature with key as the signing key (taken by the call). 1 when it verifies. */
static int verify_with(xmlNodePtr sig, X509 *cert, char *detail, size_t detail_len)
{
    EVP_PKEY *pkey = X509_get_pubkey(cert);
    xmlSecKeyDataPtr data = pkey ? xmlSecOpenSSLEvpKeyAdopt(pkey) : NULL;
    xmlSecKeyPtr key = data ? xmlSecKeyCreate() : NULL;
    if (!key || xmlSecKeySetValue(key, data) < 0) {
        if (key)
            xmlSecKeyDestroy(key);
        if (data)
            xmlSecKeyDataDestroy(data);
        else
            EVP_PKEY_free(pkey);
        snprintf(detail, detail_len, "the certificate's key cannot be used");
        return 0;
    }
    xmlSecDSigCtxPtr ctx = xmlSecDSigCtxCreate(NULL);
    if (!ctx) {
        xmlSecKeyDestroy(key);
        return 0;
    }
    ctx->signKey = key; /* the context destroys it */
    /* only the document itself: never a file or a URL */
    ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty | xmlSecTransformUriTypeSameDocument;
    if (restrict_transforms(ctx) != 0) {
        xmlSecDSigCtxDestroy(ctx);
        snprintf(detail, detail_len, "cannot set up the verifier");
        return 0;
    }
    int ok = xmlSecDSigCtxVerify(ctx, sig) >= 0 && ctx->status == xmlSecDSigStatusSucceeded;
    if (!ok)
        snprintf(detail, detail_len, "the signature does not match the document");
    xmlSecDSigCtxDestroy(ctx);
    return ok;
}

/* The signing certificate chains to the trusted roots, through the certificates embedded. */
static int chain_trusted(X509 *signer, STACK_OF(X509) * certs, X509_STORE *store, int64_t at_ms)
{
    X509_STORE_CTX *sc = X509_STORE_CTX_new();
    int ok = sc && X509_STORE_CTX_init(sc, store, signer, certs) == 1;
    /* valid when the package was accepted, not necessarily today */
    if (ok && at_ms > 0)
        X509_STORE_CTX_set_time(sc, 0, (time_t)(at_ms / 1000));
    ok = ok && X509_verify_cert(sc) == 1;
    X509_STORE_CTX_free(sc);
    return ok;
}

/* The key is the certificate the signature embeds (the signer's is the one whose key verifies
 * it); its chain is judged against the configured roots only, by OpenSSL, not by xmlsec (whose
 * certificate store would also trust the system's). */
static int verify_one(xmlNodePtr sig, const struct edxml_sig_config *cfg, int64_t at_ms,
                      char *detail, size_t detail_len)
{
    int with_ca = cfg->ca_file && *cfg->ca_file;
    X509_STORE *store = with_ca ? trust_store(cfg->ca_file) : NULL;
    if (with_ca && !store) {
        snprintf(detail, detail_len, "cannot load the CA bundle %s", cfg->ca_file);
        return 0;
    }
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (!certs)
        return 0;
    collect_certs(sig->children, certs);
    X509 *signer = NULL;
    snprintf(detail, detail_len, "no certificate in the signature's KeyInfo");
    for (int i = 0; !signer && i < sk_X509_num(certs); i++)
        if (verify_with(sig, sk_X509_value(certs, i), detail, detail_len))
            signer = sk_X509_value(certs, i);
    int ok = signer != NULL;
    if (ok)
        detail[0] = '\0';
    if (ok && with_ca && !chain_trusted(signer, certs, store, at_ms)) {
        snprintf(detail, detail_len, "the certificate does not chain to the trusted roots");
        ok = 0;
    }
    sk_X509_pop_free(certs, X509_free);
    return ok;
}

enum edxml_signature edxml_signature_verify(const char *doc, size_t len,
                                            const struct edxml_sig_config *cfg, int64_t at_ms,
                                            char *detail, size_t detail_len)
{
    detail[0] = '\0';
    if (len > cfg->max_bytes) {
        snprintf(detail, detail_len, "not checked: larger than %zu bytes", cfg->max_bytes);
        return EDXML_SIG_UNCHECKED;
    }
    pthread_once(&once, init);
    if (!init_ok || len > (size_t)INT_MAX) {
        snprintf(detail, detail_len, "not checked: the verifier is not available");
        return EDXML_SIG_UNCHECKED;
    }
    /* no DTD (the streaming parse refused any already), no entities, no network; a base64 text
     * node may exceed libxml2's default 10 MB */
    xmlDocPtr d =
        xmlReadMemory(doc, (int)len, "package.edxml", NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_HUGE);
    if (!d || d->intSubset || d->extSubset) {
        snprintf(detail, detail_len, "the package cannot be parsed for its signature");
        if (d)
            xmlFreeDoc(d);
        return EDXML_SIG_INVALID;
    }
    xmlNodePtr root = xmlDocGetRootElement(d);
    enum edxml_signature r = EDXML_SIG_NONE;
    if (foreign_signature(root)) {
        snprintf(detail, detail_len, "a Signature outside the XML-DSig namespace");
        r = EDXML_SIG_INVALID;
    }
    for (xmlNodePtr n = xmlSecFindNode(root, xmlSecNodeSignature, xmlSecDSigNs);
         n && r != EDXML_SIG_INVALID;) {
        r = verify_one(n, cfg, at_ms, detail, detail_len) ? EDXML_SIG_VALID : EDXML_SIG_INVALID;
        /* the next Signature in document order after this one's subtree */
        xmlNodePtr next = NULL;
        for (xmlNodePtr p = n; p && !next; p = p->parent)
            for (xmlNodePtr s = p->next; s && !next; s = s->next)
                if (s->type == XML_ELEMENT_NODE)
                    next = xmlSecFindNode(s, xmlSecNodeSignature, xmlSecDSigNs);
        n = next;
    }
    xmlFreeDoc(d);
    return r;
}

const char *edxml_signature_name(enum edxml_signature s)
{
    switch (s) {
    case EDXML_SIG_VALID:
        return "valid";
    case EDXML_SIG_INVALID:
        return "invalid";
    case EDXML_SIG_UNCHECKED:
        return "unchecked";
    case EDXML_SIG_PENDING:
        return "pending";
    default:
        return "none";
    }
}
