/* fields — where each edXML element goes in struct edxml_package.
 *
 * Elements are known by local name (el_lookup). A structural element only keeps its identity when
 * its parent is the expected one (el_fits), so by induction the whole open path is right and a
 * leaf only needs to look at its parent (and grandparent for StaffInfo) to find its field: this
 * is what separates From/OrganId, To/OrganId, ResponseFor/OrganId, TraceHeader/OrganId,
 * Receiver/OrganId and OrganIdList/OrganId. */
#include <stdlib.h>
#include <string.h>

#include "edxml/edxml_int.h"

static const char *const names[EL__COUNT] = {
    [EL_OTHER] = "",
    [EL_ROOT] = "",
    [EL_ENVELOPE] = "edXMLEnvelope",
    [EL_HEADER] = "edXMLHeader",
    [EL_BODY] = "edXMLBody",
    [EL_MESSAGEHEADER] = "MessageHeader",
    [EL_TRACEHEADERLIST] = "TraceHeaderList",
    [EL_SIGNATURE] = "Signature",
    [EL_FROM] = "From",
    [EL_TO] = "To",
    [EL_ORGANID] = "OrganId",
    [EL_ORGANIZATIONINCHARGE] = "OrganizationInCharge",
    [EL_ORGANNAME] = "OrganName",
    [EL_ORGANADD] = "OrganAdd",
    [EL_EMAIL] = "Email",
    [EL_TELEPHONE] = "Telephone",
    [EL_FAX] = "Fax",
    [EL_WEBSITE] = "Website",
    [EL_DOCUMENTID] = "DocumentId",
    [EL_CODE] = "Code",
    [EL_CODENUMBER] = "CodeNumber",
    [EL_CODENOTATION] = "CodeNotation",
    [EL_PROMULGATIONINFO] = "PromulgationInfo",
    [EL_PLACE] = "Place",
    [EL_PROMULGATIONDATE] = "PromulgationDate",
    [EL_DOCUMENTTYPE] = "DocumentType",
    [EL_TYPE] = "Type",
    [EL_TYPEDETAIL] = "TypeDetail",
    [EL_TYPENAME] = "TypeName",
    [EL_SUBJECT] = "Subject",
    [EL_CONTENT] = "Content",
    [EL_SIGNERINFO] = "SignerInfo",
    [EL_COMPETENCE] = "Competence",
    [EL_POSITION] = "Position",
    [EL_FULLNAME] = "FullName",
    [EL_DUEDATE] = "DueDate",
    [EL_OTHERINFO] = "OtherInfo",
    [EL_PRIORITY] = "Priority",
    [EL_SPHERE] = "SphereOfPromulgation",
    [EL_TYPERNOTATION] = "TyperNotation",
    [EL_PROMULGATIONAMOUNT] = "PromulgationAmount",
    [EL_PAGEAMOUNT] = "PageAmount",
    [EL_DIRECTION] = "Direction",
    [EL_APPENDIXES] = "Appendixes",
    [EL_APPENDIX] = "Appendix",
    [EL_RESPONSEFOR] = "ResponseFor",
    [EL_STEERINGTYPE] = "SteeringType",
    [EL_TOPLACES] = "ToPlaces",
    [EL_STAFFINFO] = "StaffInfo",
    [EL_DEPARTMENT] = "Department",
    [EL_STAFF] = "Staff",
    [EL_MOBILE] = "Mobile",
    [EL_STATUSCODE] = "StatusCode",
    [EL_DESCRIPTION] = "Description",
    [EL_TIMESTAMP] = "Timestamp",
    [EL_TRACEHEADER] = "TraceHeader",
    [EL_BUSSINESS] = "Bussiness",
    [EL_BUSSINESSDOCTYPE] = "BussinessDocType",
    [EL_BUSSINESSDOCREASON] = "BussinessDocReason",
    [EL_PAPER] = "Paper",
    [EL_BUSSINESSDOCUMENTINFO] = "BussinessDocumentInfo",
    [EL_DOCUMENTINFO] = "DocumentInfo",
    [EL_DOCUMENTRECEIVER] = "DocumentReceiver",
    [EL_RECEIVERLIST] = "ReceiverList",
    [EL_RECEIVER] = "Receiver",
    [EL_RECEIVERTYPE] = "ReceiverType",
    [EL_REPLACEMENTINFOLIST] = "ReplacementInfoList",
    [EL_REPLACEMENTINFO] = "ReplacementInfo",
    [EL_ORGANIDLIST] = "OrganIdList",
    [EL_MANIFEST] = "edXMLManifest",
    [EL_REFERENCE] = "Reference",
    [EL_CONTENTID] = "ContentId",
    [EL_CONTENTTYPE] = "ContentType",
    [EL_ATTACHMENTNAME] = "AttachmentName",
    [EL_ATTACHMENTENCODED] = "AttachmentEncoded",
    [EL_ATTACHMENT] = "Attachment",
    [EL_CTE] = "ContentTransferEncoded",
};

enum el el_lookup(const char *localname)
{
    for (int i = EL_ENVELOPE; i < EL__COUNT; i++)
        if (strcmp(names[i], localname) == 0)
            return (enum el)i;
    return EL_OTHER;
}

const char *el_name(enum el e)
{
    return (unsigned)e < EL__COUNT ? names[e] : "";
}

/* Structural elements and the parent they must have; leaves fit anywhere (their parent is
 * checked when their text is stored). */
int el_fits(enum el e, enum el p)
{
    switch (e) {
    case EL_ENVELOPE:
    case EL_ATTACHMENTENCODED:
        return p == EL_ROOT;
    case EL_HEADER:
    case EL_BODY:
        return p == EL_ENVELOPE;
    case EL_MESSAGEHEADER:
    case EL_TRACEHEADERLIST:
    case EL_SIGNATURE:
        return p == EL_HEADER;
    case EL_FROM:
    case EL_TO:
    case EL_RESPONSEFOR:
    case EL_SIGNERINFO:
    case EL_PROMULGATIONINFO:
    case EL_DOCUMENTTYPE:
    case EL_OTHERINFO:
    case EL_TOPLACES:
        return p == EL_MESSAGEHEADER;
    case EL_CODE:
        return p == EL_MESSAGEHEADER || p == EL_RESPONSEFOR;
    case EL_STAFFINFO:
        return p == EL_MESSAGEHEADER || p == EL_BUSSINESS;
    case EL_APPENDIXES:
        return p == EL_OTHERINFO;
    case EL_TRACEHEADER:
    case EL_BUSSINESS:
        return p == EL_TRACEHEADERLIST;
    case EL_BUSSINESSDOCUMENTINFO:
    case EL_REPLACEMENTINFOLIST:
        return p == EL_BUSSINESS;
    case EL_RECEIVERLIST:
        return p == EL_BUSSINESSDOCUMENTINFO;
    case EL_RECEIVER:
        return p == EL_RECEIVERLIST;
    case EL_REPLACEMENTINFO:
        return p == EL_REPLACEMENTINFOLIST;
    case EL_ORGANIDLIST:
        return p == EL_REPLACEMENTINFO;
    case EL_MANIFEST:
        return p == EL_BODY;
    case EL_REFERENCE:
        return p == EL_MANIFEST;
    case EL_ATTACHMENT:
        return p == EL_ATTACHMENTENCODED;
    case EL_CTE:
        return p == EL_ATTACHMENT;
    default:
        return 1;
    }
}

static enum el up(const struct pstate *st, unsigned n)
{
    return st->depth > n ? (enum el)st->tags[st->depth - 1 - n] : EL_OTHER;
}

/* Appends one zeroed element to *arr (capacity doubles at powers of two, so no capacity field is
 * needed in the public struct). */
static void *append(struct pstate *st, void *arr, size_t *n, size_t size, unsigned max,
                    const char *what)
{
    void **parr = arr;
    if (*n >= max) {
        pfail(st, LT_ERR_EDXML_LIMIT, "more than %u %s elements", max, what);
        return NULL;
    }
    if ((*n & (*n - 1)) == 0) {
        size_t cap = *n ? *n * 2 : 1;
        void *p = realloc(*parr, cap * size);
        if (!p) {
            pfail_nomem(st);
            return NULL;
        }
        *parr = p;
    }
    char *item = (char *)*parr + *n * size;
    memset(item, 0, size);
    (*n)++;
    return item;
}

static char **organ_field(struct edxml_organ *o, enum el e)
{
    switch (e) {
    case EL_ORGANID:
        return &o->organ_id;
    case EL_ORGANIZATIONINCHARGE:
        return &o->organization_in_charge;
    case EL_ORGANNAME:
        return &o->organ_name;
    case EL_ORGANADD:
        return &o->organ_add;
    case EL_EMAIL:
        return &o->email;
    case EL_TELEPHONE:
        return &o->telephone;
    case EL_FAX:
        return &o->fax;
    case EL_WEBSITE:
        return &o->website;
    default:
        return NULL;
    }
}

static char **staff_field(struct edxml_staff *s, enum el e)
{
    switch (e) {
    case EL_DEPARTMENT:
        return &s->department;
    case EL_STAFF:
        return &s->staff;
    case EL_EMAIL:
        return &s->email;
    case EL_MOBILE:
        return &s->mobile;
    default:
        return NULL;
    }
}

static char **message_field(struct edxml_package *p, enum el e)
{
    switch (e) {
    case EL_DOCUMENTID:
        return &p->document_id;
    case EL_SUBJECT:
        return &p->subject;
    case EL_CONTENT:
        return &p->content;
    case EL_DUEDATE:
        return &p->due_date;
    case EL_STEERINGTYPE:
        return &p->steering_type;
    case EL_STATUSCODE:
        return &p->status_code;
    case EL_DESCRIPTION:
        return &p->description;
    case EL_TIMESTAMP:
        return &p->timestamp;
    default:
        return NULL;
    }
}

static char **other_info_field(struct edxml_package *p, enum el e)
{
    switch (e) {
    case EL_PRIORITY:
        return &p->priority;
    case EL_SPHERE:
        return &p->sphere_of_promulgation;
    case EL_TYPERNOTATION:
        return &p->typer_notation;
    case EL_PROMULGATIONAMOUNT:
        return &p->promulgation_amount;
    case EL_PAGEAMOUNT:
        return &p->page_amount;
    case EL_DIRECTION:
        return &p->direction;
    default:
        return NULL;
    }
}

static char **response_for_field(struct edxml_response_for *r, enum el e)
{
    switch (e) {
    case EL_ORGANID:
        return &r->organ_id;
    case EL_CODE:
        return &r->code;
    case EL_PROMULGATIONDATE:
        return &r->promulgation_date;
    case EL_DOCUMENTID:
        return &r->document_id;
    default:
        return NULL;
    }
}

static char **bussiness_field(struct edxml_package *p, enum el e)
{
    switch (e) {
    case EL_DOCUMENTID:
        return &p->bussiness_document_id;
    case EL_BUSSINESSDOCTYPE:
        return &p->bussiness_doc_type;
    case EL_BUSSINESSDOCREASON:
        return &p->bussiness_doc_reason;
    case EL_PAPER:
        return &p->paper;
    default:
        return NULL;
    }
}

/* Reference and Attachment share their descriptive children. */
static char **described_field(char **content_id, char **content_type, char **description,
                              char **attachment_name, enum el e)
{
    switch (e) {
    case EL_CONTENTID:
        return content_id;
    case EL_CONTENTTYPE:
        return content_type;
    case EL_DESCRIPTION:
        return description;
    case EL_ATTACHMENTNAME:
        return attachment_name;
    default:
        return NULL;
    }
}

static char **pair_field(enum el e, enum el a, char **pa, enum el b, char **pb)
{
    return e == a ? pa : e == b ? pb : NULL;
}

/* The field of a leaf, from its parent. Lists (Appendix, Place, OrganIdList/OrganId) get a new
 * entry. NULL (without failure) when the text is not kept. */
static char **leaf_slot(struct pstate *st, enum el e)
{
    struct edxml_package *p = st->pkg;
    switch (up(st, 1)) {
    case EL_FROM:
        return organ_field(&p->from, e);
    case EL_TO:
        return organ_field(&p->to[p->n_to - 1], e);
    case EL_MESSAGEHEADER:
        return message_field(p, e);
    case EL_CODE:
        return up(st, 2) == EL_MESSAGEHEADER ? pair_field(e, EL_CODENUMBER, &p->code_number,
                                                          EL_CODENOTATION, &p->code_notation)
                                             : NULL;
    case EL_PROMULGATIONINFO:
        return pair_field(e, EL_PLACE, &p->place, EL_PROMULGATIONDATE, &p->promulgation_date);
    case EL_DOCUMENTTYPE:
        if (e == EL_TYPENAME)
            return &p->doc_type_name;
        return pair_field(e, EL_TYPE, &p->doc_type, EL_TYPEDETAIL, &p->doc_type_detail);
    case EL_SIGNERINFO:
        if (e == EL_FULLNAME)
            return &p->signer_full_name;
        return pair_field(e, EL_COMPETENCE, &p->signer_competence, EL_POSITION,
                          &p->signer_position);
    case EL_OTHERINFO:
        return other_info_field(p, e);
    case EL_APPENDIXES:
        if (e != EL_APPENDIX)
            return NULL;
        return append(st, &p->appendixes, &p->n_appendixes, sizeof(char *), st->lim->max_repeats,
                      "Appendix");
    case EL_RESPONSEFOR:
        return response_for_field(&p->response_for[p->n_response_for - 1], e);
    case EL_TOPLACES:
        if (e != EL_PLACE)
            return NULL;
        return append(st, &p->to_places, &p->n_to_places, sizeof(char *), st->lim->max_repeats,
                      "ToPlaces/Place");
    case EL_STAFFINFO:
        return staff_field(up(st, 2) == EL_MESSAGEHEADER ? &p->staff_info : &p->bussiness_staff, e);
    case EL_TRACEHEADER: {
        struct edxml_trace *t = &p->traces[p->n_traces - 1];
        return pair_field(e, EL_ORGANID, &t->organ_id, EL_TIMESTAMP, &t->timestamp);
    }
    case EL_BUSSINESS:
        return bussiness_field(p, e);
    case EL_BUSSINESSDOCUMENTINFO:
        return pair_field(e, EL_DOCUMENTINFO, &p->document_info, EL_DOCUMENTRECEIVER,
                          &p->document_receiver);
    case EL_RECEIVER: {
        struct edxml_receiver *r = &p->receivers[p->n_receivers - 1];
        return pair_field(e, EL_ORGANID, &r->organ_id, EL_RECEIVERTYPE, &r->receiver_type);
    }
    case EL_REPLACEMENTINFO:
        return e == EL_DOCUMENTID ? &p->replacements[p->n_replacements - 1].document_id : NULL;
    case EL_ORGANIDLIST: {
        struct edxml_replacement *r = &p->replacements[p->n_replacements - 1];
        if (e != EL_ORGANID)
            return NULL;
        return append(st, &r->organ_ids, &r->n_organ_ids, sizeof(char *), st->lim->max_repeats,
                      "OrganIdList/OrganId");
    }
    case EL_REFERENCE: {
        struct edxml_reference *r = &p->references[p->n_references - 1];
        return described_field(&r->content_id, &r->content_type, &r->description,
                               &r->attachment_name, e);
    }
    case EL_ATTACHMENT: {
        struct edxml_attachment *a = &p->attachments[p->n_attachments - 1];
        return described_field(&a->content_id, &a->content_type, &a->description,
                               &a->attachment_name, e);
    }
    default:
        return NULL;
    }
}

/* xlink:href (or any *:href) on a manifest Reference. */
static int reference_href(struct pstate *st, struct edxml_reference *r, const xmlChar **attrs,
                          int nb_attrs)
{
    for (int i = 0; i < nb_attrs && !r->href; i++) {
        const xmlChar **a = attrs + 5 * i; /* localname, prefix, URI, value, end */
        if (strcmp((const char *)a[0], "href") != 0)
            continue;
        size_t len = (size_t)(a[4] - a[3]);
        if (len > st->lim->max_text_bytes)
            return pfail(st, LT_ERR_EDXML_LIMIT, "Reference href exceeds %zu bytes",
                         st->lim->max_text_bytes);
        r->href = strndup((const char *)a[3], len);
        if (!r->href)
            return pfail_nomem(st);
    }
    return 0;
}

/* Structural elements that open a new entry of a repeated structure. */
static int open_entry(struct pstate *st, enum el e, const xmlChar **attrs, int nb_attrs)
{
    struct edxml_package *p = st->pkg;
    const struct edxml_limits *l = st->lim;
    switch (e) {
    case EL_TO:
        return append(st, &p->to, &p->n_to, sizeof *p->to, l->max_recipients, "To") ? 0 : -1;
    case EL_RESPONSEFOR:
        return append(st, &p->response_for, &p->n_response_for, sizeof *p->response_for,
                      l->max_repeats, "ResponseFor")
                   ? 0
                   : -1;
    case EL_TRACEHEADER:
        return append(st, &p->traces, &p->n_traces, sizeof *p->traces, l->max_repeats,
                      "TraceHeader")
                   ? 0
                   : -1;
    case EL_RECEIVER:
        return append(st, &p->receivers, &p->n_receivers, sizeof *p->receivers, l->max_repeats,
                      "Receiver")
                   ? 0
                   : -1;
    case EL_REPLACEMENTINFO:
        return append(st, &p->replacements, &p->n_replacements, sizeof *p->replacements,
                      l->max_repeats, "ReplacementInfo")
                   ? 0
                   : -1;
    case EL_REFERENCE: {
        struct edxml_reference *r = append(st, &p->references, &p->n_references,
                                           sizeof *p->references, l->max_attachments, "Reference");
        return r ? reference_href(st, r, attrs, nb_attrs) : -1;
    }
    case EL_ATTACHMENT:
        return attach_open(st);
    case EL_BUSSINESS:
        p->has_bussiness = 1;
        return 0;
    case EL_SIGNATURE:
        p->has_signature = 1;
        return 0;
    case EL_CTE:
        return cte_begin(st);
    default:
        return 1; /* not structural: maybe a leaf */
    }
}

int fields_start(struct pstate *st, enum el e, const xmlChar **attrs, int nb_attrs)
{
    if (e == EL_OTHER || e == EL_ROOT || st->slot)
        return 0; /* st->slot: inside a leaf being collected, mixed content is not a field */
    int r = open_entry(st, e, attrs, nb_attrs);
    if (r <= 0)
        return r;
    char **slot = leaf_slot(st, e);
    if (st->failed)
        return -1;
    if (!slot || *slot)
        return 0; /* not a field, or a repeated single field: the first one wins */
    st->slot = slot;
    st->slot_depth = st->depth;
    buf_reset(&st->text);
    return 0;
}

static int xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Pretty-printed files wrap values in indentation; no field's value starts or ends with it. */
static void trim(struct buf *b)
{
    size_t s = 0, e = b->len;
    while (s < e && xml_space(b->data[s]))
        s++;
    while (e > s && xml_space(b->data[e - 1]))
        e--;
    if (!b->data)
        return;
    memmove(b->data, b->data + s, e - s);
    b->len = e - s;
    b->data[b->len] = '\0';
}

int fields_end(struct pstate *st)
{
    if (st->slot && st->slot_depth == st->depth) {
        trim(&st->text);
        char *s = buf_steal(&st->text);
        if (!s)
            return pfail_nomem(st);
        *st->slot = s;
        st->slot = NULL;
    }
    if (st->in_cte && st->cte_depth == st->depth)
        return cte_end(st);
    return 0;
}
