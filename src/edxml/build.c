/* build — writes status packages (edxml_build_status) in the element order of the national
 * library and of the sample files, so that any client can read what the server sends. */
#include <stdio.h>
#include <string.h>

#include <libxml/xmlstring.h>

#include "edxml/edxml_int.h"

#define P "edXML:"

static int fail(struct edxml_error *err, enum lt_err code, const char *what)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = code;
        snprintf(err->message, sizeof err->message, "cannot build status package: %s", what);
    }
    return -1;
}

/* Text must be UTF-8 without the control characters XML 1.0 cannot carry, else the result would
 * not parse back. */
int edxml_text_ok(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 && *c != '\t' && *c != '\n' && *c != '\r')
            return 0;
    return xmlCheckUTF8((const unsigned char *)s) != 0;
}

int edxml_put_escaped(struct buf *out, const char *s)
{
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\r': /* a raw CR would be normalised away by any parser */
            rep = "&#13;";
            break;
        }
        if (rep ? buf_puts(out, rep) : buf_append(out, s, 1))
            return -1;
    }
    return 0;
}

/* One leaf element; omitted when value is NULL. */
static int leaf(struct buf *out, int indent, const char *name, const char *value)
{
    if (!value)
        return 0;
    if (buf_printf(out, "%*s<" P "%s>", indent, "", name) || edxml_put_escaped(out, value) ||
        buf_printf(out, "</" P "%s>\n", name))
        return -1;
    return 0;
}

static int organ(struct buf *out, const struct edxml_organ *o)
{
    return buf_puts(out, "        <" P "From>\n") || leaf(out, 10, "OrganId", o->organ_id) ||
           leaf(out, 10, "OrganizationInCharge", o->organization_in_charge) ||
           leaf(out, 10, "OrganName", o->organ_name) || leaf(out, 10, "OrganAdd", o->organ_add) ||
           leaf(out, 10, "Email", o->email) || leaf(out, 10, "Telephone", o->telephone) ||
           leaf(out, 10, "Fax", o->fax) || leaf(out, 10, "Website", o->website) ||
           buf_puts(out, "        </" P "From>\n");
}

static int response_for(struct buf *out, const struct edxml_response_for *r)
{
    return buf_puts(out, "        <" P "ResponseFor>\n") || leaf(out, 10, "OrganId", r->organ_id) ||
           leaf(out, 10, "Code", r->code) ||
           leaf(out, 10, "PromulgationDate", r->promulgation_date) ||
           leaf(out, 10, "DocumentId", r->document_id) ||
           buf_puts(out, "        </" P "ResponseFor>\n");
}

static int staff(struct buf *out, const struct edxml_staff *s)
{
    if (!s->department && !s->staff && !s->email && !s->mobile)
        return 0;
    return buf_puts(out, "        <" P "StaffInfo>\n") ||
           leaf(out, 10, "Department", s->department) || leaf(out, 10, "Staff", s->staff) ||
           leaf(out, 10, "Mobile", s->mobile) || leaf(out, 10, "Email", s->email) ||
           buf_puts(out, "        </" P "StaffInfo>\n");
}

static int trace(struct buf *out, const char *organ_id, const char *timestamp)
{
    return buf_puts(out, "      <" P "TraceHeaderList>\n        <" P "TraceHeader>\n") ||
           leaf(out, 10, "OrganId", organ_id) || leaf(out, 10, "Timestamp", timestamp) ||
           buf_puts(out, "        </" P "TraceHeader>\n      </" P "TraceHeaderList>\n");
}

static int write_status(struct buf *out, const struct edxml_status_spec *s)
{
    const char *trace_id = s->trace_organ_id ? s->trace_organ_id : s->from.organ_id;
    return buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         "<edXML xmlns=\"" EDXML_NS "\">\n"
                         "  <" P "edXMLEnvelope xmlns:edXML=\"" EDXML_NS "\">\n"
                         "    <" P "edXMLHeader>\n"
                         "      <" P "MessageHeader>\n") ||
           organ(out, &s->from) || response_for(out, &s->response_for) ||
           staff(out, &s->staff_info) || leaf(out, 8, "StatusCode", s->status_code) ||
           leaf(out, 8, "Description", s->description) || leaf(out, 8, "Timestamp", s->timestamp) ||
           buf_puts(out, "      </" P "MessageHeader>\n") || trace(out, trace_id, s->timestamp) ||
           buf_puts(out, "    </" P "edXMLHeader>\n  </" P "edXMLEnvelope>\n</edXML>\n");
}

static int status_code_ok(const char *c)
{
    if (!c || strlen(c) != 2 || c[0] < '0' || c[0] > '1' || c[1] < '0' || c[1] > '9')
        return 0;
    int v = (c[0] - '0') * 10 + (c[1] - '0');
    return v >= 1 && v <= 16;
}

static int all_text_ok(const struct edxml_status_spec *s)
{
    const char *v[] = {s->from.organ_id,
                       s->from.organization_in_charge,
                       s->from.organ_name,
                       s->from.organ_add,
                       s->from.email,
                       s->from.telephone,
                       s->from.fax,
                       s->from.website,
                       s->response_for.organ_id,
                       s->response_for.code,
                       s->response_for.promulgation_date,
                       s->response_for.document_id,
                       s->staff_info.department,
                       s->staff_info.staff,
                       s->staff_info.email,
                       s->staff_info.mobile,
                       s->description,
                       s->timestamp,
                       s->trace_organ_id};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i] && !edxml_text_ok(v[i]))
            return 0;
    return 1;
}

int edxml_build_status(const struct edxml_status_spec *spec, struct buf *out,
                       struct edxml_error *err)
{
    if (!spec || !out)
        return fail(err, LT_ERR_EDXML_INVALID, "no specification");
    if (!spec->from.organ_id || !*spec->from.organ_id)
        return fail(err, LT_ERR_EDXML_NO_FROM, "From/OrganId is required");
    if (!spec->response_for.organ_id || !*spec->response_for.organ_id)
        return fail(err, LT_ERR_EDXML_NO_RESPONSE_FOR, "ResponseFor/OrganId is required");
    if (!status_code_ok(spec->status_code))
        return fail(err, LT_ERR_EDXML_INVALID, "StatusCode must be 01..16");
    if (!spec->timestamp || !*spec->timestamp)
        return fail(err, LT_ERR_EDXML_INVALID, "Timestamp is required");
    if (!all_text_ok(spec))
        return fail(err, LT_ERR_EDXML_INVALID, "text is not UTF-8 or has control characters");
    size_t old_len = out->len;
    if (write_status(out, spec) != 0) {
        out->len = old_len; /* leave out as it was */
        if (out->data)
            out->data[old_len] = '\0';
        return fail(err, LT_ERR_INTERNAL, "out of memory");
    }
    return 0;
}
