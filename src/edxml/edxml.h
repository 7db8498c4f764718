/* edxml — parsing and building of QCVN 102:2016 edXML packages (documents and status messages).
 *
 * A pure library: bytes in, structures out. No server, store or network dependency, so the unit
 * tests and the libFuzzer harness exercise exactly the code the server runs.
 *
 * Parsing is streaming (libxml2 SAX2 push parser): elements are matched by LOCAL NAME (the
 * national library does the same, and real files carry undeclared prefixes such as xlink:);
 * attachments are base64-decoded incrementally and never held whole; no DTD, no entity, no
 * network access is ever honoured; depth, element count, name/text sizes, recipients and
 * attachments are bounded by struct edxml_limits.
 *
 * Convention: functions return 0 on success and -1 on failure; on failure *err describes the
 * problem (registry code, line and column when known, ASCII message) and nothing is returned
 * through ret_* pointers. All strings in a parsed package are NUL-terminated UTF-8 owned by the
 * package, NULL when the element was absent, "" when it was present but empty;
 * edxml_package_free() releases everything and accepts NULL. */
#ifndef LT_EDXML_H
#define LT_EDXML_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/errors.h"

#define EDXML_NS "http://www.mic.gov.vn/TBT/QCVN_102_2016"

struct edxml_limits {
    size_t max_input_bytes;        /* whole package, as received */
    unsigned max_depth;            /* element nesting */
    unsigned max_elements;         /* elements in the whole package */
    size_t max_name_bytes;         /* element/attribute names */
    size_t max_text_bytes;         /* text of any element other than ContentTransferEncoded */
    unsigned max_recipients;       /* MessageHeader/To */
    unsigned max_repeats;          /* any other repeatable element (ResponseFor, TraceHeader...) */
    unsigned max_attachments;      /* AttachmentEncoded/Attachment */
    uint64_t max_attachment_bytes; /* decoded size of one attachment */
};
/* Defaults: 256 MB input, depth 32, 100000 elements, 256-byte names, 1 MB text, 1000
 * recipients, 1000 repeats, 1000 attachments, 200 MB per attachment. */
void edxml_limits_default(struct edxml_limits *lim);

struct edxml_error {
    enum lt_err code;  /* one of LT_ERR_EDXML_*, or LT_ERR_INTERNAL on allocation failure */
    int line;          /* 1-based; 0 when unknown */
    int column;        /* 1-based; 0 when unknown */
    char message[256]; /* ASCII, human-readable, includes line/column when known */
};

enum edxml_kind { EDXML_EDOC, EDXML_STATUS };

struct edxml_organ {
    char *organ_id, *organization_in_charge, *organ_name, *organ_add, *email, *telephone, *fax,
        *website;
};

struct edxml_response_for {
    char *organ_id, *code, *promulgation_date, *document_id;
};

struct edxml_staff {
    char *department, *staff, *email, *mobile;
};

struct edxml_trace {
    char *organ_id, *timestamp;
};

struct edxml_receiver {
    char *organ_id, *receiver_type;
};

struct edxml_replacement {
    char *document_id;
    char **organ_ids;
    size_t n_organ_ids;
};

struct edxml_reference { /* edXMLBody/edXMLManifest/Reference */
    char *content_id, *content_type, *description, *attachment_name, *href;
};

struct edxml_attachment { /* AttachmentEncoded/Attachment (decoded incrementally) */
    char *content_id, *attachment_name, *description, *content_type;
    uint64_t decoded_size;
    uint8_t sha256[32]; /* of the decoded bytes */
    /* 0 when ContentTransferEncoded is not valid base64. Such a package is still accepted and
     * relayed unchanged, as the national library does (it does not decode in transit, and the
     * official sample edoc.edxml carries a template placeholder there); decoded_size and sha256
     * then describe no bytes (the sink may have had the part decoded before the fault). */
    int base64_ok;
};

struct edxml_package {
    enum edxml_kind kind; /* EDXML_STATUS when MessageHeader has StatusCode and no To */

    /* MessageHeader, document fields */
    struct edxml_organ from;
    struct edxml_organ *to;
    size_t n_to;
    char *document_id;
    char *code_number, *code_notation;
    char *place, *promulgation_date;
    char *doc_type, *doc_type_detail, *doc_type_name;
    char *subject, *content;
    char *signer_competence, *signer_position, *signer_full_name;
    char *due_date;
    char *priority, *sphere_of_promulgation, *typer_notation, *promulgation_amount, *page_amount,
        *direction;
    char **appendixes;
    size_t n_appendixes;
    struct edxml_response_for *response_for; /* repeatable; empty entries are kept as parsed */
    size_t n_response_for;
    char *steering_type;
    char **to_places;
    size_t n_to_places;

    /* MessageHeader, status fields */
    struct edxml_staff staff_info;
    char *status_code, *description, *timestamp;

    /* TraceHeaderList */
    struct edxml_trace *traces;
    size_t n_traces;
    int has_bussiness;
    char *bussiness_document_id;
    char *bussiness_doc_type; /* "0" new, "1" revocation, "2" update, "3" replacement */
    char *bussiness_doc_reason, *paper;
    char *document_info, *document_receiver;
    struct edxml_receiver *receivers;
    size_t n_receivers;
    struct edxml_replacement *replacements;
    size_t n_replacements;
    struct edxml_staff bussiness_staff;

    /* Where a relay appends its own TraceHeader (edxml_trace_text, edxml_trace_splice): the
     * insertion point in the bytes as received, found while parsing. */
    int64_t trace_offset; /* byte offset in the input where this hop's trace goes; -1 = unknown */
    int trace_new_list;   /* 1: no TraceHeaderList exists; a whole list goes at trace_offset */
    char *trace_prefix;   /* namespace prefix to write the new elements with ("" = none) */

    /* A Signature element (any namespace: real files carry it unprefixed, in the QCVN one) */
    int has_signature;

    /* Body and attachments */
    struct edxml_reference *references;
    size_t n_references;
    struct edxml_attachment *attachments;
    size_t n_attachments;
};

/* Receives decoded attachment bytes while parsing; every member may be NULL. A non-zero return
 * from a callback aborts the parse with LT_ERR_INTERNAL. */
struct edxml_sink {
    void *ctx;
    int (*attachment_begin)(void *ctx, unsigned index);
    int (*attachment_data)(void *ctx, const uint8_t *data, size_t len);
    int (*attachment_end)(void *ctx, const struct edxml_attachment *att);
};

/* Pulls input: returns the number of bytes written to buf (<= cap), 0 at end of input, -1 on a
 * read error. */
typedef long (*edxml_read_fn)(void *ctx, char *buf, size_t cap);

/* Parses one package. Checks well-formedness (a document that is not well-formed is refused, with
 * line and column), that edXMLEnvelope exists in the QCVN namespace, and the limits. It does NOT
 * check routing needs (From/To/ResponseFor): see edxml_check_routable(). sink may be NULL. */
int edxml_parse(edxml_read_fn read, void *read_ctx, const struct edxml_limits *lim,
                const struct edxml_sink *sink, struct edxml_package **ret_pkg,
                struct edxml_error *err);
int edxml_parse_memory(const void *data, size_t len, const struct edxml_limits *lim,
                       const struct edxml_sink *sink, struct edxml_package **ret_pkg,
                       struct edxml_error *err);
int edxml_parse_file(const char *path, const struct edxml_limits *lim,
                     const struct edxml_sink *sink, struct edxml_package **ret_pkg,
                     struct edxml_error *err);
void edxml_package_free(struct edxml_package *pkg);

/* What routing needs, for the kind the caller declares: a document needs From/OrganId and at
 * least one non-empty To/OrganId (LT_ERR_EDXML_NO_FROM / _NO_TO); a status package needs
 * From/OrganId, a ResponseFor with a non-empty OrganId and a StatusCode
 * (LT_ERR_EDXML_NO_RESPONSE_FOR / _INVALID). */
int edxml_check_routable(const struct edxml_package *pkg, enum edxml_kind kind,
                         struct edxml_error *err);
/* The organ a status package is addressed to: the first ResponseFor with a non-empty OrganId;
 * NULL when none. */
const char *edxml_status_target(const struct edxml_package *pkg);

/* Relaying: the next platform and the recipient must get the sender's bytes unchanged plus one
 * TraceHeader per hop, so the trace is inserted into the bytes, never re-serialised.
 *
 * The parser sets pkg->trace_offset: just after the end tag of the last TraceHeader of the
 * edXMLHeader's TraceHeaderList, or just after the list's start tag when it has no TraceHeader,
 * or, when edXMLHeader has no TraceHeaderList (status packages), just after the end tag of its
 * MessageHeader with trace_new_list = 1. trace_prefix is the prefix of that TraceHeader, list or
 * MessageHeader, or of its parent when the element declares its prefix itself (the declaration
 * is then out of scope at the insertion point). trace_offset is -1 (and trace_prefix NULL) when
 * there is no such place, when the list is an empty-element tag (<TraceHeaderList/>: nothing can
 * go inside it without rewriting it), and when the input is not UTF-8 (a declared encoding other
 * than UTF-8, a UTF-16 BOM): libxml2 then parses a converted copy whose positions are not the
 * input's, and UTF-8 text could not be inserted anyway.
 *
 * edxml_trace_text() appends to out the text to insert at pkg->trace_offset, with no whitespace
 * (the bytes are a function of the arguments only):
 *   <P:TraceHeader><P:OrganId>ID</P:OrganId><P:Timestamp>TS</P:Timestamp></P:TraceHeader>
 * where P: is trace_prefix and ':' (nothing when the prefix is empty), wrapped in
 * <P:TraceHeaderList>...</P:TraceHeaderList> when trace_new_list. organ_id and timestamp
 * ("yyyy/MM/dd HH:mm:ss") are escaped. Returns -1, out unchanged, when trace_offset < 0, when a
 * value is NULL or not text XML can carry (invalid UTF-8, control characters), or on allocation
 * failure. */
int edxml_trace_text(const struct edxml_package *pkg, const char *organ_id, const char *timestamp,
                     struct buf *out);
/* Appends doc[0..offset) + text + doc[offset..len) to out. Checks what the streaming parser could
 * not see: 0 < offset <= len and doc[offset - 1] == '>' (the end of a tag). Returns -1, out
 * unchanged, when a check fails or on allocation failure. */
int edxml_trace_splice(const void *doc, size_t len, int64_t offset, const char *text,
                       struct buf *out);

/* Agency identifier forms (Quyet dinh 20/2020/QD-TTg): 1 when s has the standard form
 * "DDD.DD.DD.Lnn" (e.g. 000.00.00.H34), 0 otherwise. Other forms (vxp.saas.03, 28.22.H17)
 * are legal opaque ids; edxml_organ_id_ok() only refuses what can never be an id: empty, longer
 * than 64 bytes, or characters outside [A-Za-z0-9._-]. */
int edxml_organ_id_is_qd20(const char *s);

/* XML signatures (signature.c): none, all valid, one invalid (or not XML-DSig), not checked
 * (too large to hold), or not verified yet (a package is stored PENDING and verified shortly
 * after, off the request path). Values are stored: never renumber. */
enum edxml_signature {
    EDXML_SIG_NONE = 0,
    EDXML_SIG_VALID = 1,
    EDXML_SIG_INVALID = 2,
    EDXML_SIG_PENDING = 3,
    EDXML_SIG_UNCHECKED = 4,
};
struct edxml_sig_config {
    const char *ca_file; /* PEM bundle of trusted roots; NULL or "": certificates taken as given */
    size_t max_bytes;    /* larger packages are not checked */
};
/* Verifies every signature of the package doc[0..len) (see signature.c); certificates are
 * judged as of at_ms (the acceptance time; 0: now); detail gets an ASCII reason when not VALID.
 * Thread-safe. */
enum edxml_signature edxml_signature_verify(const char *doc, size_t len,
                                            const struct edxml_sig_config *cfg, int64_t at_ms,
                                            char *detail, size_t detail_len);
const char *edxml_signature_name(enum edxml_signature s); /* "none", "valid", ... */
int edxml_organ_id_ok(const char *s);

/* English and Vietnamese (ASCII) names of a StatusCode ("01" -> "arrived"); NULL when unknown.
 * "14" is accepted as "agreed" like "15". */
const char *edxml_status_code_name(const char *code);

/* A status package to build (strings may be NULL = element omitted, except the required ones). */
struct edxml_status_spec {
    struct edxml_organ from;                /* from.organ_id required */
    struct edxml_response_for response_for; /* response_for.organ_id required */
    struct edxml_staff staff_info;
    const char *status_code; /* required: "01".."16" */
    const char *description;
    const char *timestamp;      /* "yyyy/MM/dd HH:mm:ss"; required */
    const char *trace_organ_id; /* TraceHeader OrganId; defaults to from.organ_id */
};
/* Appends a UTF-8 status package, in the element order the national library writes, to out.
 * Text is escaped; the result parses back with edxml_parse(). */
int edxml_build_status(const struct edxml_status_spec *spec, struct buf *out,
                       struct edxml_error *err);

#endif
