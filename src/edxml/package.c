/* package — the life cycle of a parsed package (limits, free) and what routing needs from it
 * (edxml_check_routable, edxml_status_target). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edxml/edxml.h"

void edxml_limits_default(struct edxml_limits *lim)
{
    lim->max_input_bytes = (size_t)256 * 1024 * 1024;
    lim->max_depth = 32;
    lim->max_elements = 100000;
    lim->max_name_bytes = 256;
    lim->max_text_bytes = (size_t)1024 * 1024;
    lim->max_recipients = 1000;
    lim->max_repeats = 1000;
    lim->max_attachments = 1000;
    lim->max_attachment_bytes = (uint64_t)200 * 1024 * 1024;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void free_organ(struct edxml_organ *o)
{
    free(o->organ_id);
    free(o->organization_in_charge);
    free(o->organ_name);
    free(o->organ_add);
    free(o->email);
    free(o->telephone);
    free(o->fax);
    free(o->website);
}

static void free_staff(struct edxml_staff *s)
{
    free(s->department);
    free(s->staff);
    free(s->email);
    free(s->mobile);
}

static void free_document_fields(struct edxml_package *p)
{
    char *single[] = {p->document_id,
                      p->code_number,
                      p->code_notation,
                      p->place,
                      p->promulgation_date,
                      p->doc_type,
                      p->doc_type_detail,
                      p->doc_type_name,
                      p->subject,
                      p->content,
                      p->signer_competence,
                      p->signer_position,
                      p->signer_full_name,
                      p->due_date,
                      p->priority,
                      p->sphere_of_promulgation,
                      p->typer_notation,
                      p->promulgation_amount,
                      p->page_amount,
                      p->direction,
                      p->steering_type,
                      p->status_code,
                      p->description,
                      p->timestamp,
                      p->bussiness_document_id,
                      p->bussiness_doc_type,
                      p->bussiness_doc_reason,
                      p->paper,
                      p->document_info,
                      p->document_receiver};
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
        free(single[i]);
    free_strings(p->appendixes, p->n_appendixes);
    free_strings(p->to_places, p->n_to_places);
}

static void free_lists(struct edxml_package *p)
{
    for (size_t i = 0; i < p->n_to; i++)
        free_organ(&p->to[i]);
    free(p->to);
    for (size_t i = 0; i < p->n_response_for; i++) {
        struct edxml_response_for *r = &p->response_for[i];
        free(r->organ_id);
        free(r->code);
        free(r->promulgation_date);
        free(r->document_id);
    }
    free(p->response_for);
    for (size_t i = 0; i < p->n_traces; i++) {
        free(p->traces[i].organ_id);
        free(p->traces[i].timestamp);
    }
    free(p->traces);
    for (size_t i = 0; i < p->n_receivers; i++) {
        free(p->receivers[i].organ_id);
        free(p->receivers[i].receiver_type);
    }
    free(p->receivers);
    for (size_t i = 0; i < p->n_replacements; i++) {
        free(p->replacements[i].document_id);
        free_strings(p->replacements[i].organ_ids, p->replacements[i].n_organ_ids);
    }
    free(p->replacements);
}

static void free_body(struct edxml_package *p)
{
    for (size_t i = 0; i < p->n_references; i++) {
        struct edxml_reference *r = &p->references[i];
        free(r->content_id);
        free(r->content_type);
        free(r->description);
        free(r->attachment_name);
        free(r->href);
    }
    free(p->references);
    for (size_t i = 0; i < p->n_attachments; i++) {
        struct edxml_attachment *a = &p->attachments[i];
        free(a->content_id);
        free(a->attachment_name);
        free(a->description);
        free(a->content_type);
    }
    free(p->attachments);
}

void edxml_package_free(struct edxml_package *pkg)
{
    if (!pkg)
        return;
    free_organ(&pkg->from);
    free_staff(&pkg->staff_info);
    free_staff(&pkg->bussiness_staff);
    free_document_fields(pkg);
    free_lists(pkg);
    free_body(pkg);
    free(pkg->trace_prefix);
    free(pkg);
}

static int fail(struct edxml_error *err, enum lt_err code, const char *msg)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = code;
        snprintf(err->message, sizeof err->message, "%s", msg);
    }
    return -1;
}

static int nonempty(const char *s)
{
    return s && *s;
}

const char *edxml_status_target(const struct edxml_package *pkg)
{
    for (size_t i = 0; pkg && i < pkg->n_response_for; i++)
        if (nonempty(pkg->response_for[i].organ_id))
            return pkg->response_for[i].organ_id;
    return NULL;
}

static int has_recipient(const struct edxml_package *pkg)
{
    for (size_t i = 0; i < pkg->n_to; i++)
        if (nonempty(pkg->to[i].organ_id))
            return 1;
    return 0;
}

int edxml_check_routable(const struct edxml_package *pkg, enum edxml_kind kind,
                         struct edxml_error *err)
{
    if (!pkg)
        return fail(err, LT_ERR_EDXML_INVALID, "no edXML package");
    if (!nonempty(pkg->from.organ_id))
        return fail(err, LT_ERR_EDXML_NO_FROM, "edXML MessageHeader has no From/OrganId");
    /* the sender's identity is checked against the registry and recorded: an id, nothing else */
    if (!edxml_organ_id_ok(pkg->from.organ_id))
        return fail(err, LT_ERR_BAD_ORGAN_ID, "edXML From/OrganId is not an organ id");
    if (kind == EDXML_EDOC) {
        if (!has_recipient(pkg))
            return fail(err, LT_ERR_EDXML_NO_TO, "edXML document has no To/OrganId recipient");
        return 0;
    }
    if (!edxml_status_target(pkg))
        return fail(err, LT_ERR_EDXML_NO_RESPONSE_FOR,
                    "edXML status package has no ResponseFor/OrganId");
    if (!nonempty(pkg->status_code))
        return fail(err, LT_ERR_EDXML_INVALID, "edXML status package has no StatusCode");
    return 0;
}
