/* store — the parts of the storage interface that do not depend on the database: closing any
 * implementation, freeing out-structs and naming enum values (see store.h). */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

void store_close(struct store *s)
{
    /* The implementation's close() frees its state, which includes *s. */
    if (s && s->close)
        s->close(s->cls);
}

void store_agency_clear(struct store_agency *a)
{
    if (!a)
        return;
    free(a->id);
    free(a->name);
    free(a->parent_id);
    free(a->mail);
    free(a->mobile);
    free(a->fax);
    memset(a, 0, sizeof *a);
}

void store_system_clear(struct store_system *s)
{
    if (!s)
        return;
    free(s->id);
    free(s->agency_id);
    free(s->secret);
    memset(s, 0, sizeof *s);
}

void store_package_clear(struct store_package *p)
{
    if (!p)
        return;
    free(p->id);
    free(p->sender_system);
    free(p->from_organ);
    free(p->sha256);
    free(p->subject);
    free(p->code_number);
    free(p->code_notation);
    free(p->document_id);
    free(p->business_doc_type);
    free(p->status_code);
    free(p->origin_peer);
    memset(p, 0, sizeof *p);
}

void store_delivery_clear(struct store_delivery *d)
{
    if (!d)
        return;
    free(d->id);
    free(d->package_id);
    free(d->recipient_organ);
    free(d->recipient_system);
    free(d->outbox_id);
    free(d->remote_state);
    free(d->status_code);
    memset(d, 0, sizeof *d);
}

void store_service_clear(struct store_service *s)
{
    if (!s)
        return;
    free(s->code);
    free(s->version);
    free(s->provider_system);
    free(s->name);
    free(s->description);
    free(s->url);
    memset(s, 0, sizeof *s);
}

void store_grant_clear(struct store_grant *g)
{
    if (!g)
        return;
    free(g->consumer_system);
    free(g->service_code);
    free(g->service_version);
    free(g->methods);
    free(g->path_prefix);
    memset(g, 0, sizeof *g);
}

void store_token_clear(struct store_token *t)
{
    if (!t)
        return;
    free(t->sha256);
    free(t->system_id);
    memset(t, 0, sizeof *t);
}

void store_platform_clear(struct store_platform *p)
{
    if (!p)
        return;
    free(p->organ_id);
    free(p->name);
    memset(p, 0, sizeof *p);
}

void store_peer_clear(struct store_peer *p)
{
    if (!p)
        return;
    if (p->secret)
        explicit_bzero(p->secret, strlen(p->secret));
    free(p->name);
    free(p->endpoint);
    free(p->system_id);
    free(p->secret);
    free(p->inbound_system);
    memset(p, 0, sizeof *p);
}

void store_relay_route_clear(struct store_relay_route *r)
{
    if (!r)
        return;
    free(r->pattern);
    free(r->peer);
    memset(r, 0, sizeof *r);
}

void store_outbox_clear(struct store_outbox *o)
{
    if (!o)
        return;
    free(o->id);
    free(o->package_id);
    free(o->peer);
    free(o->recipients);
    free(o->insert_text);
    free(o->last_error);
    free(o->remote_doc_id);
    memset(o, 0, sizeof *o);
}

int store_outbox_copy(struct store_outbox *dst, const struct store_outbox *src)
{
    *dst = *src;
    const char *const in[] = {src->id,          src->package_id, src->peer,         src->recipients,
                              src->insert_text, src->last_error, src->remote_doc_id};
    char **out[] = {&dst->id,          &dst->package_id, &dst->peer,         &dst->recipients,
                    &dst->insert_text, &dst->last_error, &dst->remote_doc_id};
    int oom = 0;
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        oom |= (*out[i] = strdup(in[i] ? in[i] : "")) == NULL;
    if (oom)
        store_outbox_clear(dst);
    return oom ? -1 : 0;
}

void store_peer_state_clear(struct store_peer_state *s)
{
    if (!s)
        return;
    free(s->peer);
    free(s->last_error);
    memset(s, 0, sizeof *s);
}

const char *store_state_name(enum store_delivery_state st)
{
    switch (st) {
    case STORE_DELIVERY_INITIAL:
        return "initial";
    case STORE_DELIVERY_PROCESSING:
        return "processing";
    case STORE_DELIVERY_DONE:
        return "done";
    case STORE_DELIVERY_FAIL:
        return "fail";
    }
    return "unknown";
}

const char *store_msgtype_name(enum store_msgtype t)
{
    switch (t) {
    case STORE_MSG_EDOC:
        return "edoc";
    case STORE_MSG_STATUS:
        return "status";
    }
    return "unknown";
}

const char *store_protocol_name(enum store_protocol p)
{
    switch (p) {
    case STORE_PROTO_REST:
        return "rest";
    case STORE_PROTO_SOAP:
        return "soap";
    }
    return "unknown";
}

const char *store_relay_state_name(enum store_relay_state s)
{
    switch (s) {
    case STORE_RELAY_PENDING:
        return "pending";
    case STORE_RELAY_SENT:
        return "sent";
    case STORE_RELAY_UNDELIVERABLE:
        return "undeliverable";
    }
    return "unknown";
}

const char *store_peer_health_name(enum store_peer_health h)
{
    switch (h) {
    case STORE_PEER_UP:
        return "up";
    case STORE_PEER_BACKING_OFF:
        return "backing-off";
    case STORE_PEER_FAILING:
        return "failing";
    }
    return "unknown";
}
