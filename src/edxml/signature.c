/* signature — the XML signatures of a package, verified with xmlsec1 (OpenSSL).
 *
 * Every XML-DSig Signature element (namespace http://www.w3.org/2000/09/xmldsig#) anywhere in the
 * package must verify: VALID when all do, INVALID when one does not. A <Signature> outside that
 * namespace (as the national samples carry it, in the QCVN namespace) is not an XML-DSig signature
 * that anyone can check: INVALID too. The key is the certificate the signature embeds
 * (KeyInfo/X509Data); its chain is checked only against a configured CA bundle (trusted roots),
 * otherwise the certificate is taken as it is, so VALID then means "the document is unchanged
 * since whoever holds that certificate's key signed it". References may only point into the
 * document itself (no network, no files), and the document is parsed without DTD, entities or
 * network, up to max_bytes (a larger package is NOT CHECKED rather than held whole in memory). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <xmlsec/crypto.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>

#include "edxml/edxml.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_ok;

static void init(void)
{
    xmlInitParser();
    init_ok = xmlSecInit() >= 0 && xmlSecCheckVersion() == 1 && xmlSecCryptoAppInit(NULL) >= 0 &&
              xmlSecCryptoInit() >= 0;
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

static int verify_one(xmlNodePtr sig, const struct edxml_sig_config *cfg, char *detail,
                      size_t detail_len)
{
    xmlSecKeysMngrPtr mngr = xmlSecKeysMngrCreate();
    xmlSecDSigCtxPtr ctx = NULL;
    int ok = 0;
    if (!mngr || xmlSecCryptoAppDefaultKeysMngrInit(mngr) < 0) {
        snprintf(detail, detail_len, "cannot set up the verifier");
        goto out;
    }
    if (cfg->ca_file && *cfg->ca_file &&
        xmlSecCryptoAppKeysMngrCertLoad(mngr, cfg->ca_file, xmlSecKeyDataFormatPem,
                                        xmlSecKeyDataTypeTrusted) < 0) {
        snprintf(detail, detail_len, "cannot load the CA bundle %s", cfg->ca_file);
        goto out;
    }
    ctx = xmlSecDSigCtxCreate(mngr);
    if (!ctx)
        goto out;
    if (!(cfg->ca_file && *cfg->ca_file))
        ctx->keyInfoReadCtx.flags |= XMLSEC_KEYINFO_FLAGS_X509DATA_DONT_VERIFY_CERTS;
    /* only the document itself: never a file or a URL */
    ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty | xmlSecTransformUriTypeSameDocument;
    if (xmlSecDSigCtxVerify(ctx, sig) < 0)
        snprintf(detail, detail_len, "the signature could not be processed");
    else if (ctx->status != xmlSecDSigStatusSucceeded)
        snprintf(detail, detail_len, "the signature does not match the document");
    else
        ok = 1;
out:
    if (ctx)
        xmlSecDSigCtxDestroy(ctx);
    if (mngr)
        xmlSecKeysMngrDestroy(mngr);
    return ok;
}

enum edxml_signature edxml_signature_verify(const char *doc, size_t len,
                                            const struct edxml_sig_config *cfg, char *detail,
                                            size_t detail_len)
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
        r = verify_one(n, cfg, detail, detail_len) ? EDXML_SIG_VALID : EDXML_SIG_INVALID;
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
    default:
        return "none";
    }
}
