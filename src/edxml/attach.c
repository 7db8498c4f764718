/* attach — AttachmentEncoded/Attachment entries and the streaming decode of their
 * ContentTransferEncoded text: base64 is decoded piece by piece (util/b64) into the caller's sink,
 * a running SHA-256 and a byte count, so an attachment is never held in memory. */
#include <stdlib.h>
#include <string.h>

#include "edxml/edxml_int.h"

/* Base64 text decoded per step; the output buffer below fits its worst case. */
#define STEP 4096

static struct edxml_attachment *current(struct pstate *st)
{
    return &st->pkg->attachments[st->pkg->n_attachments - 1];
}

int attach_open(struct pstate *st)
{
    struct edxml_package *p = st->pkg;
    if (p->n_attachments >= st->lim->max_attachments)
        return pfail(st, LT_ERR_EDXML_LIMIT, "more than %u Attachment elements",
                     st->lim->max_attachments);
    struct edxml_attachment *a = realloc(p->attachments, (p->n_attachments + 1) * sizeof *a);
    if (!a)
        return pfail_nomem(st);
    p->attachments = a;
    a = &a[p->n_attachments++];
    memset(a, 0, sizeof *a);
    st->att_has_cte = 0;
    a->base64_ok = 1; /* no content is valid (empty) content */
    /* An attachment without content still gets a well-defined digest: that of no bytes. */
    return sha256("", 0, a->sha256) == 0 ? 0 : pfail_nomem(st);
}

int cte_begin(struct pstate *st)
{
    unsigned idx = (unsigned)st->pkg->n_attachments;
    if (st->att_has_cte)
        return pfail(st, LT_ERR_EDXML_INVALID,
                     "attachment %u has more than one ContentTransferEncoded", idx);
    st->att_has_cte = 1;
    st->cte_invalid = 0;
    current(st)->base64_ok = 1;
    memset(&st->dec, 0, sizeof st->dec);
    if (sha256_init(&st->sha) != 0)
        return pfail_nomem(st);
    st->in_cte = 1;
    st->cte_depth = st->depth;
    const struct edxml_sink *k = st->sink;
    if (k && k->attachment_begin && k->attachment_begin(k->ctx, idx - 1) != 0)
        return pfail(st, LT_ERR_INTERNAL, "attachment sink refused attachment %u", idx);
    return 0;
}

/* Counts, hashes and hands over decoded bytes. */
static int deliver(struct pstate *st, const uint8_t *data, size_t len)
{
    struct edxml_attachment *a = current(st);
    if (len == 0)
        return 0;
    if (len > st->lim->max_attachment_bytes - a->decoded_size ||
        a->decoded_size > st->lim->max_attachment_bytes)
        return pfail(st, LT_ERR_EDXML_LIMIT, "attachment %zu exceeds %llu decoded bytes",
                     st->pkg->n_attachments, (unsigned long long)st->lim->max_attachment_bytes);
    a->decoded_size += len;
    if (sha256_update(&st->sha, data, len) != 0)
        return pfail_nomem(st);
    const struct edxml_sink *k = st->sink;
    if (k && k->attachment_data && k->attachment_data(k->ctx, data, len) != 0)
        return pfail(st, LT_ERR_INTERNAL, "attachment sink refused data of attachment %zu",
                     st->pkg->n_attachments);
    return 0;
}

/* Not base64: the attachment is marked and the rest of its text skipped, not refused (see
 * base64_ok in edxml.h). What was decoded so far is forgotten. */
static int bad_base64(struct pstate *st)
{
    struct edxml_attachment *a = current(st);
    st->cte_invalid = 1;
    a->base64_ok = 0;
    a->decoded_size = 0;
    return 0;
}

int cte_data(struct pstate *st, const char *text, size_t len)
{
    uint8_t out[(STEP / 4 + 1) * 3];
    while (len > 0 && !st->cte_invalid) {
        size_t n = len < STEP ? len : STEP, got = 0;
        if (b64_dec_update(&st->dec, text, n, out, &got) != 0)
            return bad_base64(st);
        if (deliver(st, out, got) != 0)
            return -1;
        text += n;
        len -= n;
    }
    return 0;
}

int cte_end(struct pstate *st)
{
    uint8_t out[3];
    size_t got = 0;
    if (!st->cte_invalid && b64_dec_final(&st->dec, out, &got) != 0)
        bad_base64(st);
    if (!st->cte_invalid && deliver(st, out, got) != 0)
        return -1;
    st->in_cte = 0;
    struct edxml_attachment *a = current(st);
    if (sha256_final(&st->sha, a->sha256) != 0)
        return pfail_nomem(st);
    if (st->cte_invalid && sha256("", 0, a->sha256) != 0)
        return pfail_nomem(st);
    const struct edxml_sink *k = st->sink;
    if (k && k->attachment_end && k->attachment_end(k->ctx, a) != 0)
        return pfail(st, LT_ERR_INTERNAL, "attachment sink refused the end of attachment %zu",
                     st->pkg->n_attachments);
    return 0;
}

void cte_abort(struct pstate *st)
{
    if (st->in_cte)
        sha256_abort(&st->sha);
    st->in_cte = 0;
}
