/* parse — the streaming edXML parser: drives the libxml2 SAX2 push parser chunk by chunk and
 * enforces what the format's users rely on: well-formedness (with line and column), no DTD and no
 * entity of any kind, an edXMLEnvelope in the QCVN namespace, and the limits of struct
 * edxml_limits. Fields are stored by fields.c, attachments decoded by attach.c, and the point
 * where a relay inserts its TraceHeader followed by trace.c.
 *
 * Thread safety: all state lives in struct pstate and the parser context; libxml2 is initialised
 * once, and the error handler is the context's own (sax->serror), never the global one. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/SAX2.h>
#include <libxml/parserInternals.h>

#include "edxml/edxml_int.h"

#define CHUNK (64 * 1024)

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_libxml(void)
{
    xmlInitParser();
}

/* Messages must be ASCII (they end up in replies decoded as US-ASCII): anything else becomes '?'.
 */
static void ascii_only(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            *s = '?';
}

static void set_error(struct pstate *st, enum lt_err code, int line, int col, const char *msg)
{
    struct edxml_error *e = st->err;
    st->failed = 1;
    e->code = code;
    e->line = line > 0 ? line : 0;
    e->column = col > 0 ? col : 0;
    if (e->line)
        snprintf(e->message, sizeof e->message, "%.200s (line %d, column %d)", msg, e->line,
                 e->column);
    else
        snprintf(e->message, sizeof e->message, "%s", msg);
    ascii_only(e->message);
}

int pfail(struct pstate *st, enum lt_err code, const char *fmt, ...)
{
    if (st->failed)
        return -1;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = st->ctxt ? xmlSAX2GetLineNumber(st->ctxt) : 0;
    int col = st->ctxt ? xmlSAX2GetColumnNumber(st->ctxt) : 0;
    set_error(st, code, line, col, msg);
    if (st->ctxt)
        xmlStopParser(st->ctxt);
    return -1;
}

int pfail_nomem(struct pstate *st)
{
    return pfail(st, LT_ERR_INTERNAL, "out of memory while parsing edXML");
}

/* libxml2's push parser words a few end-of-input cases misleadingly ("Document is empty" for
 * junk before the prolog, "Extra content at the end" for a truncated document): say what
 * happened instead. */
static const char *describe(const struct pstate *st, const xmlError *error)
{
    if (error->code == XML_ERR_DOCUMENT_EMPTY && st->total > 0)
        return "Start tag expected, '<' not found";
    if (error->code == XML_ERR_DOCUMENT_END && st->n_elements == 0)
        return st->total > 0 ? "Start tag expected, '<' not found" : "document is empty";
    if (error->code == XML_ERR_DOCUMENT_END && st->depth > 0)
        return "premature end of input, an element is not closed";
    return error->message ? error->message : "unknown error";
}

/* libxml2's own errors. Namespace errors are ignored on purpose: real files use undeclared
 * prefixes (xlink:) and elements are matched by local name anyway. Only fatal errors mean the
 * document is not well-formed. */
static void on_error(void *ctx, xmlErrorPtr error)
{
    struct pstate *st = ctx;
    if (st->failed || !error || error->domain == XML_FROM_NAMESPACE || error->level < XML_ERR_FATAL)
        return;
    if (error->code == XML_ERR_NO_MEMORY) {
        set_error(st, LT_ERR_INTERNAL, 0, 0, "out of memory while parsing edXML");
        return;
    }
    char msg[256];
    snprintf(msg, sizeof msg, "edXML is not well-formed: %s", describe(st, error));
    msg[strcspn(msg, "\r\n")] = '\0';
    set_error(st, LT_ERR_EDXML_MALFORMED, error->line, error->int2, msg);
}

static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *ext_id, const xmlChar *sys)
{
    pfail(ctx, LT_ERR_EDXML_DTD, "DOCTYPE is not allowed");
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                           const xmlChar *system_id, xmlChar *content)
{
    pfail(ctx, LT_ERR_EDXML_DTD, "entity declaration is not allowed");
}

static void on_unparsed_entity(void *ctx, const xmlChar *name, const xmlChar *public_id,
                               const xmlChar *system_id, const xmlChar *notation)
{
    pfail(ctx, LT_ERR_EDXML_DTD, "entity declaration is not allowed");
}

/* No entity exists for us: libxml2 then reports an undeclared entity (fatal without a DTD).
 * The five predefined ones are resolved by libxml2 before it asks. */
static xmlEntityPtr on_get_entity(void *ctx, const xmlChar *name)
{
    return NULL;
}

static void on_reference(void *ctx, const xmlChar *name)
{
    pfail(ctx, LT_ERR_EDXML_DTD, "entity reference &%.64s; is not allowed", (const char *)name);
}

static int check_name(struct pstate *st, const xmlChar *name)
{
    if (name && strlen((const char *)name) > st->lim->max_name_bytes)
        return pfail(st, LT_ERR_EDXML_LIMIT, "a name exceeds %zu bytes", st->lim->max_name_bytes);
    return 0;
}

static int check_names(struct pstate *st, const xmlChar *localname, const xmlChar *prefix,
                       int nb_attrs, const xmlChar **attrs)
{
    if (check_name(st, localname) || check_name(st, prefix))
        return -1;
    for (int i = 0; i < nb_attrs; i++)
        if (check_name(st, attrs[5 * i]) || check_name(st, attrs[5 * i + 1]))
            return -1;
    return 0;
}

static int check_envelope(struct pstate *st, const xmlChar *uri)
{
    st->seen_envelope = 1;
    if (uri && strcmp((const char *)uri, EDXML_NS) == 0)
        return 0;
    return pfail(st, LT_ERR_EDXML_NAMESPACE, "edXMLEnvelope is in namespace '%.80s', not '%s'",
                 uri ? (const char *)uri : "", EDXML_NS);
}

static int push_element(struct pstate *st, const xmlChar *localname, const xmlChar *uri)
{
    const struct edxml_limits *l = st->lim;
    if (++st->n_elements > l->max_elements)
        return pfail(st, LT_ERR_EDXML_LIMIT, "more than %u elements", l->max_elements);
    if (st->depth >= l->max_depth)
        return pfail(st, LT_ERR_EDXML_LIMIT, "element nesting deeper than %u at <%.64s>",
                     l->max_depth, (const char *)localname);
    enum el e = EL_ROOT;
    if (st->depth > 0) {
        e = el_lookup((const char *)localname);
        if (!el_fits(e, (enum el)st->tags[st->depth - 1]))
            e = EL_OTHER;
    }
    st->tags[st->depth++] = (unsigned char)e;
    st->run = 0;
    if (e == EL_ENVELOPE)
        return check_envelope(st, uri);
    return 0;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_namespaces, const xmlChar **namespaces, int nb_attrs, int nb_defaulted,
                     const xmlChar **attrs)
{
    struct pstate *st = ctx;
    if (st->failed || check_names(st, localname, prefix, nb_attrs, attrs) ||
        push_element(st, localname, uri))
        return;
    enum el e = (enum el)st->tags[st->depth - 1];
    if (trace_start(st, e, prefix, nb_namespaces, namespaces) == 0)
        fields_start(st, e, attrs, nb_attrs);
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    struct pstate *st = ctx;
    if (st->failed || st->depth == 0)
        return;
    trace_end(st, (enum el)st->tags[st->depth - 1]);
    fields_end(st);
    st->depth--;
    st->run = 0;
}

static void on_text(void *ctx, const xmlChar *ch, int len)
{
    struct pstate *st = ctx;
    if (st->failed || len <= 0)
        return;
    if (st->in_cte && st->depth == st->cte_depth) {
        cte_data(st, (const char *)ch, (size_t)len);
        return;
    }
    st->run += (size_t)len;
    if (st->run > st->lim->max_text_bytes) {
        const char *name = st->depth ? el_name((enum el)st->tags[st->depth - 1]) : "";
        pfail(st, LT_ERR_EDXML_LIMIT, "text of element %s exceeds %zu bytes",
              *name ? name : "(unnamed)", st->lim->max_text_bytes);
        return;
    }
    if (st->slot && st->depth == st->slot_depth && buf_append(&st->text, ch, (size_t)len) != 0)
        pfail_nomem(st);
}

static void init_sax(xmlSAXHandler *sax)
{
    memset(sax, 0, sizeof *sax);
    sax->initialized = XML_SAX2_MAGIC;
    sax->startElementNs = on_start;
    sax->endElementNs = on_end;
    sax->characters = on_text;
    sax->cdataBlock = on_text;
    sax->internalSubset = on_doctype;
    sax->externalSubset = on_doctype;
    sax->entityDecl = on_entity_decl;
    sax->unparsedEntityDecl = on_unparsed_entity;
    sax->getEntity = on_get_entity;
    sax->getParameterEntity = on_get_entity;
    sax->reference = on_reference;
    sax->serror = on_error;
}

/* Feeds the whole input, chunk by chunk, stopping at the first error. */
static void feed(struct pstate *st, edxml_read_fn read, void *read_ctx, char *chunk)
{
    while (!st->failed) {
        long n = read(read_ctx, chunk, CHUNK);
        if (n < 0) {
            pfail(st, LT_ERR_INTERNAL, "cannot read the edXML input");
            return;
        }
        if ((size_t)n > st->lim->max_input_bytes - st->total) {
            pfail(st, LT_ERR_EDXML_LIMIT, "edXML input exceeds %zu bytes",
                  st->lim->max_input_bytes);
            return;
        }
        st->total += (size_t)n;
        int rc = xmlParseChunk(st->ctxt, chunk, (int)n, n == 0);
        if (n == 0 && !st->failed && (rc != 0 || !st->ctxt->wellFormed))
            set_error(st, LT_ERR_EDXML_MALFORMED, 0, 0, "edXML is not well-formed");
        if (n == 0)
            return;
    }
}

static void finish_checks(struct pstate *st)
{
    if (st->failed)
        return;
    if (st->n_elements == 0)
        set_error(st, LT_ERR_EDXML_MALFORMED, 0, 0, "edXML is not well-formed: no root element");
    else if (!st->seen_envelope)
        set_error(st, LT_ERR_EDXML_NAMESPACE, 0, 0,
                  "edXML has no edXMLEnvelope element under the root element");
    struct edxml_package *p = st->pkg;
    p->kind = p->status_code && p->n_to == 0 ? EDXML_STATUS : EDXML_EDOC;
    trace_finish(st);
}

static int run_parser(struct pstate *st, edxml_read_fn read, void *read_ctx)
{
    xmlSAXHandler sax;
    init_sax(&sax);
    char *chunk = malloc(CHUNK);
    st->tags = malloc((size_t)st->lim->max_depth + 1);
    st->ctxt = chunk && st->tags ? xmlCreatePushParserCtxt(&sax, st, NULL, 0, NULL) : NULL;
    if (!st->ctxt) {
        set_error(st, LT_ERR_INTERNAL, 0, 0, "out of memory while parsing edXML");
    } else {
        /* Deliberately without XML_PARSE_NOENT, DTDLOAD, DTDATTR or HUGE. */
        xmlCtxtUseOptions(st->ctxt, XML_PARSE_NONET);
        feed(st, read, read_ctx, chunk);
        finish_checks(st);
        xmlFreeParserCtxt(st->ctxt);
        st->ctxt = NULL;
    }
    cte_abort(st);
    trace_free(st);
    buf_free(&st->text);
    free(st->tags);
    free(chunk);
    return st->failed ? -1 : 0;
}

int edxml_parse(edxml_read_fn read, void *read_ctx, const struct edxml_limits *lim,
                const struct edxml_sink *sink, struct edxml_package **ret_pkg,
                struct edxml_error *err)
{
    struct edxml_error dummy;
    struct edxml_limits defaults;
    if (!lim) {
        edxml_limits_default(&defaults);
        lim = &defaults;
    }
    struct pstate st = {.lim = lim, .sink = sink, .err = err ? err : &dummy};
    memset(st.err, 0, sizeof *st.err);
    pthread_once(&init_once, init_libxml);
    st.pkg = calloc(1, sizeof *st.pkg);
    if (!st.pkg) {
        set_error(&st, LT_ERR_INTERNAL, 0, 0, "out of memory while parsing edXML");
        return -1;
    }
    if (run_parser(&st, read, read_ctx) != 0) {
        edxml_package_free(st.pkg);
        return -1;
    }
    *ret_pkg = st.pkg;
    return 0;
}

struct mem_reader {
    const char *data;
    size_t len, off;
};

static long mem_read(void *ctx, char *out, size_t cap)
{
    struct mem_reader *m = ctx;
    size_t n = m->len - m->off < cap ? m->len - m->off : cap;
    memcpy(out, m->data + m->off, n);
    m->off += n;
    return (long)n;
}

int edxml_parse_memory(const void *data, size_t len, const struct edxml_limits *lim,
                       const struct edxml_sink *sink, struct edxml_package **ret_pkg,
                       struct edxml_error *err)
{
    struct mem_reader m = {data ? data : "", data ? len : 0, 0};
    return edxml_parse(mem_read, &m, lim, sink, ret_pkg, err);
}

static long fd_read(void *ctx, char *out, size_t cap)
{
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t n = read(fd, out, cap);
        if (n >= 0 || errno != EINTR)
            return (long)n;
    }
}

int edxml_parse_file(const char *path, const struct edxml_limits *lim,
                     const struct edxml_sink *sink, struct edxml_package **ret_pkg,
                     struct edxml_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = LT_ERR_INTERNAL;
            snprintf(err->message, sizeof err->message, "cannot open edXML file: %s",
                     strerror(errno));
        }
        return -1;
    }
    int rc = edxml_parse(fd_read, &fd, lim, sink, ret_pkg, err);
    close(fd);
    return rc;
}
