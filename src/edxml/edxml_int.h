/* edxml_int — state shared by the parser files (parse.c drives libxml2, fields.c maps elements to
 * package fields, attach.c decodes attachments, trace.c follows the relay's insertion point).
 * Private to src/edxml. */
#ifndef LT_EDXML_INT_H
#define LT_EDXML_INT_H

#include <libxml/parser.h>

#include "edxml/edxml.h"
#include "util/b64.h"
#include "util/buf.h"
#include "util/crypto.h"

/* Element local names the parser knows; everything else is EL_OTHER. EL_ROOT is the document
 * element, whatever its name. */
enum el {
    EL_OTHER,
    EL_ROOT,
    EL_ENVELOPE,
    EL_HEADER,
    EL_BODY,
    EL_MESSAGEHEADER,
    EL_TRACEHEADERLIST,
    EL_SIGNATURE,
    EL_FROM,
    EL_TO,
    EL_ORGANID,
    EL_ORGANIZATIONINCHARGE,
    EL_ORGANNAME,
    EL_ORGANADD,
    EL_EMAIL,
    EL_TELEPHONE,
    EL_FAX,
    EL_WEBSITE,
    EL_DOCUMENTID,
    EL_CODE,
    EL_CODENUMBER,
    EL_CODENOTATION,
    EL_PROMULGATIONINFO,
    EL_PLACE,
    EL_PROMULGATIONDATE,
    EL_DOCUMENTTYPE,
    EL_TYPE,
    EL_TYPEDETAIL,
    EL_TYPENAME,
    EL_SUBJECT,
    EL_CONTENT,
    EL_SIGNERINFO,
    EL_COMPETENCE,
    EL_POSITION,
    EL_FULLNAME,
    EL_DUEDATE,
    EL_OTHERINFO,
    EL_PRIORITY,
    EL_SPHERE,
    EL_TYPERNOTATION,
    EL_PROMULGATIONAMOUNT,
    EL_PAGEAMOUNT,
    EL_DIRECTION,
    EL_APPENDIXES,
    EL_APPENDIX,
    EL_RESPONSEFOR,
    EL_STEERINGTYPE,
    EL_TOPLACES,
    EL_STAFFINFO,
    EL_DEPARTMENT,
    EL_STAFF,
    EL_MOBILE,
    EL_STATUSCODE,
    EL_DESCRIPTION,
    EL_TIMESTAMP,
    EL_TRACEHEADER,
    EL_BUSSINESS,
    EL_BUSSINESSDOCTYPE,
    EL_BUSSINESSDOCREASON,
    EL_PAPER,
    EL_BUSSINESSDOCUMENTINFO,
    EL_DOCUMENTINFO,
    EL_DOCUMENTRECEIVER,
    EL_RECEIVERLIST,
    EL_RECEIVER,
    EL_RECEIVERTYPE,
    EL_REPLACEMENTINFOLIST,
    EL_REPLACEMENTINFO,
    EL_ORGANIDLIST,
    EL_MANIFEST,
    EL_REFERENCE,
    EL_CONTENTID,
    EL_CONTENTTYPE,
    EL_ATTACHMENTNAME,
    EL_ATTACHMENTENCODED,
    EL_ATTACHMENT,
    EL_CTE,
    EL__COUNT
};

/* trace.c: a place where a relay's TraceHeader could go (offset -1: none usable there) and the
 * prefix to write it with. */
struct trace_place {
    int seen;
    int64_t offset;
    char *prefix;
};

struct trace_state {
    struct trace_place list;   /* in edXMLHeader/TraceHeaderList; the last one seen wins */
    struct trace_place header; /* after edXMLHeader/MessageHeader, for a new list */
    char *header_prefix;       /* of the open edXMLHeader: bound anywhere inside it */
    char *list_prefix;         /* of the open TraceHeaderList */
    char *elem_prefix;         /* to write with after the open TraceHeader or MessageHeader */
};

struct pstate {
    xmlParserCtxtPtr ctxt;
    const struct edxml_limits *lim;
    const struct edxml_sink *sink;
    struct edxml_package *pkg;
    struct edxml_error *err;
    int failed;
    size_t total; /* input bytes fed so far */

    unsigned char *tags; /* enum el of each open element, lim->max_depth entries */
    unsigned depth;      /* open elements */
    unsigned n_elements;
    int seen_envelope;

    /* Text of the one element being collected into *slot (first occurrence wins). */
    char **slot;
    unsigned slot_depth;
    struct buf text;
    size_t run; /* text bytes since the last tag, for the max_text_bytes bound */

    /* The ContentTransferEncoded being decoded (of the last attachment), if any. */
    unsigned cte_depth;
    int in_cte;
    int att_has_cte;
    int cte_invalid; /* the current ContentTransferEncoded is not base64: skip the rest */
    struct b64_dec dec;
    struct sha256_ctx sha;

    struct trace_state trace;
};

/* parse.c: records the first error (message gets " (line L, column C)" when known) and stops the
 * parser. Always returns -1 so callers can `return pfail(...)`. */
int pfail(struct pstate *st, enum lt_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int pfail_nomem(struct pstate *st);

/* fields.c */
enum el el_lookup(const char *localname);
const char *el_name(enum el e);
int el_fits(enum el e, enum el parent);
/* Called after tags[depth-1] was pushed: creates repeated entries and chooses the text slot. */
int fields_start(struct pstate *st, enum el e, const xmlChar **attrs, int nb_attrs);
/* Called before the element is popped: stores collected text. */
int fields_end(struct pstate *st);

/* attach.c: Attachment opens an entry; its ContentTransferEncoded text is decoded as it arrives
 * into the sink, the running SHA-256 and the size. */
int attach_open(struct pstate *st);
int cte_begin(struct pstate *st);
int cte_data(struct pstate *st, const char *text, size_t len);
int cte_end(struct pstate *st);
void cte_abort(struct pstate *st);

/* trace.c: follows the insertion point of a relay's TraceHeader. trace_start() is called after
 * tags[depth-1] was pushed, trace_end() before it is popped (both read the parser's position, so
 * only from the SAX callbacks); trace_finish() sets the package's trace_* fields; trace_free()
 * releases the state. */
int trace_start(struct pstate *st, enum el e, const xmlChar *prefix, int nb_namespaces,
                const xmlChar **namespaces);
int trace_end(struct pstate *st, enum el e);
void trace_finish(struct pstate *st);
void trace_free(struct pstate *st);

/* build.c: text that XML 1.0 can carry (UTF-8, no control character but tab, LF, CR), and the
 * same text escaped for element content (& < > " and CR, which a parser would normalise away). */
int edxml_text_ok(const char *s);
int edxml_put_escaped(struct buf *out, const char *s);

#endif
