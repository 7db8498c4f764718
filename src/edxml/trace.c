/* trace — where a relay inserts its own TraceHeader, and the text and splice that do it.
 *
 * A relay must hand on the sender's bytes unchanged plus one TraceHeader per hop, so the trace is
 * inserted into the received bytes, never re-serialised. The insertion point is found while
 * parsing (the parser reads every accepted package once, as a stream): libxml2 knows its position
 * in the input (xmlByteConsumed), and that position is the input's own as long as libxml2 parses
 * the input's bytes, i.e. without encoding conversion (UTF-8, with or without a BOM). When it
 * converts (a declared encoding other than UTF-8, a UTF-16 BOM) its buffer is the converted text,
 * so no position is given rather than a guessed one.
 *
 * The position is checked against libxml2's own buffer when it is read (the byte before it must
 * be the '>' of the tag just parsed); edxml_trace_splice() checks it again against the stored
 * bytes, which the parser never holds whole. */
#include <stdlib.h>
#include <string.h>

#include <libxml/parserInternals.h>

#include "edxml/edxml_int.h"

static int set_prefix(struct pstate *st, char **dst, const char *src)
{
    char *s = strdup(src ? src : "");
    if (!s)
        return pfail_nomem(st);
    free(*dst);
    *dst = s;
    return 0;
}

/* The parser's position in the input, or -1 when it is not the input's: once libxml2 converts
 * the input, its buffer and position are those of the converted text; an entity's input is not
 * the document's (none is ever loaded, this is a guard). */
static int64_t position(const struct pstate *st)
{
    xmlParserCtxtPtr c = st->ctxt;
    xmlParserInputPtr in = c->input;
    if (c->inputNr != 1 || !in || !in->buf || in->buf->encoder || !in->base || !in->cur)
        return -1;
    long n = xmlByteConsumed(c);
    return n > 0 ? (int64_t)n : -1;
}

/* Just after the end tag reported by endElementNs: libxml2 is then past its '>' (or past the "/>"
 * of an empty-element tag). */
static int64_t after_end_tag(const struct pstate *st)
{
    int64_t pos = position(st);
    xmlParserInputPtr in = st->ctxt->input;
    return pos > 0 && in->cur > in->base && in->cur[-1] == '>' ? pos : -1;
}

/* Just after the start tag reported by startElementNs: libxml2 calls it with its position on the
 * tag's '>'. On the "/>" of an empty-element tag nothing can go inside the element without
 * rewriting its tag: -1. */
static int64_t after_start_tag(const struct pstate *st)
{
    int64_t pos = position(st);
    xmlParserInputPtr in = st->ctxt->input;
    return pos > 0 && in->cur < in->end && in->cur[0] == '>' ? pos + 1 : -1;
}

/* 1 when the element's start tag declares its own prefix (xmlns:p, or xmlns when it has none):
 * that binding is out of scope next to the element, where the new one goes. */
static int declares(const xmlChar *prefix, int nb_namespaces, const xmlChar **namespaces)
{
    for (int i = 0; i < nb_namespaces; i++) {
        const xmlChar *p = namespaces[2 * i];
        if (p == prefix || (p && prefix && strcmp((const char *)p, (const char *)prefix) == 0))
            return 1;
    }
    return 0;
}

static int place(struct pstate *st, struct trace_place *pl, int64_t offset, const char *prefix)
{
    pl->seen = 1;
    pl->offset = offset;
    return set_prefix(st, &pl->prefix, prefix);
}

int trace_start(struct pstate *st, enum el e, const xmlChar *prefix, int nb_namespaces,
                const xmlChar **namespaces)
{
    struct trace_state *t = &st->trace;
    const char *pfx = prefix ? (const char *)prefix : "";
    switch (e) {
    case EL_HEADER:
        return set_prefix(st, &t->header_prefix, pfx);
    case EL_TRACEHEADERLIST:
        /* Inside the list its own prefix is always bound. Until a TraceHeader ends, the new one
         * goes first. */
        if (set_prefix(st, &t->list_prefix, pfx))
            return -1;
        return place(st, &t->list, after_start_tag(st), pfx);
    case EL_TRACEHEADER:
        if (declares(prefix, nb_namespaces, namespaces))
            pfx = t->list_prefix;
        return set_prefix(st, &t->elem_prefix, pfx);
    case EL_MESSAGEHEADER:
        if (declares(prefix, nb_namespaces, namespaces))
            pfx = t->header_prefix;
        return set_prefix(st, &t->elem_prefix, pfx);
    default:
        return 0;
    }
}

/* Every place seen replaces the previous one of its kind, so the new TraceHeader comes after
 * every TraceHeader the parser counted, in document order, and is the last on the next parse. */
int trace_end(struct pstate *st, enum el e)
{
    struct trace_state *t = &st->trace;
    switch (e) {
    case EL_TRACEHEADER:
        return place(st, &t->list, after_end_tag(st), t->elem_prefix);
    case EL_MESSAGEHEADER:
        return place(st, &t->header, after_end_tag(st), t->elem_prefix);
    default:
        return 0;
    }
}

void trace_finish(struct pstate *st)
{
    struct trace_state *t = &st->trace;
    struct edxml_package *p = st->pkg;
    struct trace_place *pl = t->list.seen ? &t->list : t->header.seen ? &t->header : NULL;
    p->trace_offset = -1;
    p->trace_new_list = 0;
    if (!pl || pl->offset < 0 || !pl->prefix)
        return;
    p->trace_offset = pl->offset;
    p->trace_new_list = pl == &t->header;
    p->trace_prefix = pl->prefix;
    pl->prefix = NULL;
}

void trace_free(struct pstate *st)
{
    struct trace_state *t = &st->trace;
    free(t->list.prefix);
    free(t->header.prefix);
    free(t->header_prefix);
    free(t->list_prefix);
    free(t->elem_prefix);
    memset(t, 0, sizeof *t);
}

static int tag(struct buf *out, const char *slash, const char *prefix, const char *name)
{
    return buf_printf(out, "<%s%s%s%s>", slash, prefix, *prefix ? ":" : "", name);
}

static int leaf(struct buf *out, const char *prefix, const char *name, const char *value)
{
    return tag(out, "", prefix, name) || edxml_put_escaped(out, value) ||
           tag(out, "/", prefix, name);
}

int edxml_trace_text(const struct edxml_package *pkg, const char *organ_id, const char *timestamp,
                     struct buf *out)
{
    if (!pkg || pkg->trace_offset < 0 || !organ_id || !timestamp || !edxml_text_ok(organ_id) ||
        !edxml_text_ok(timestamp))
        return -1;
    const char *p = pkg->trace_prefix ? pkg->trace_prefix : "";
    size_t mark = out->len;
    int list = pkg->trace_new_list;
    if ((list && tag(out, "", p, "TraceHeaderList")) || tag(out, "", p, "TraceHeader") ||
        leaf(out, p, "OrganId", organ_id) || leaf(out, p, "Timestamp", timestamp) ||
        tag(out, "/", p, "TraceHeader") || (list && tag(out, "/", p, "TraceHeaderList"))) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
        return -1;
    }
    return 0;
}

int edxml_trace_splice(const void *doc, size_t len, int64_t offset, const char *text,
                       struct buf *out)
{
    const char *d = doc;
    if (!d || !text || offset <= 0 || (uint64_t)offset > len || d[offset - 1] != '>')
        return -1;
    size_t n = strlen(text);
    if (n > SIZE_MAX - len || buf_reserve(out, len + n) != 0)
        return -1;
    /* Cannot fail once reserved. */
    buf_append(out, d, (size_t)offset);
    buf_append(out, text, n);
    buf_append(out, d + offset, len - (size_t)offset);
    return 0;
}
