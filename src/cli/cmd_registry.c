/* cmd_registry — "lienthong agency ..." and "lienthong system ...": the operator's view of the
 * registry (agencies, connected systems, which organs each system serves).
 *
 * Every command that changes something does all of its checks and changes, plus its
 * transaction-log record (actor "operator"), in ONE write transaction, so a refused command
 * (an organ already served by another system, an agency still referred to) changes nothing.
 * Checks that need a clear message (what still refers to an agency, who serves an organ) are
 * made with the read functions inside that transaction rather than inferred from a failed write.
 *
 * Secrets are printed only when created (system add without --secret, rotate-secret); list never
 * shows them. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "edxml/edxml.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/timeutil.h"

#define NAME_MAX_BYTES 1024

static const char *status_name(enum store_system_status s)
{
    return s == STORE_SYSTEM_TRIAL ? "trial" : "official";
}

/* ---------------------------------------------------------------- agency */

static const char AGENCY_USAGE[] =
    "Usage: lienthong agency add --data DIR --id ORGAN_ID --name NAME [--parent ORGAN_ID]\n"
    "       lienthong agency list --data DIR [--json]\n"
    "       lienthong agency remove --data DIR --id ORGAN_ID\n"
    "\n"
    "Manages the agencies of the province. ORGAN_ID is the agency's electronic identifier\n"
    "(Quyet dinh 20/2020/QD-TTg, e.g. 000.00.00.H34; other forms such as vxp.saas.03 are kept\n"
    "as given). An agency still referred to by child agencies, systems or serves entries cannot\n"
    "be removed.\n";

static const char AGENCY_ADD_USAGE[] =
    "Usage: lienthong agency add --data DIR --id ORGAN_ID --name NAME [--parent ORGAN_ID]\n"
    "\n"
    "Registers an agency. --parent names an agency already registered.\n";

static const char AGENCY_LIST_USAGE[] = "Usage: lienthong agency list --data DIR [--json]\n"
                                        "\n"
                                        "Lists the registered agencies (text table, or JSON).\n";

static const char AGENCY_REMOVE_USAGE[] =
    "Usage: lienthong agency remove --data DIR --id ORGAN_ID\n"
    "\n"
    "Removes an agency no child agency, system or serves entry refers to any more.\n";

struct agency_add_ctx {
    const char *id, *name, *parent;
};

static int agency_add_tx(struct store *st, void *vctx)
{
    const char *cmd = "agency add";
    struct agency_add_ctx *c = vctx;
    struct store_agency cur = {0};
    enum store_rc rc = st->agency_get(st->cls, c->id, &cur);
    if (rc == STORE_ONE_RESULT) {
        store_agency_clear(&cur);
        cli_fail(cmd, "agency %s already exists; nothing was changed", c->id);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_NO_RESULTS)
        return cli_tx_rc(rc, cmd, "looking up the agency");
    if (c->parent) {
        struct store_agency par = {0};
        rc = st->agency_get(st->cls, c->parent, &par);
        if (rc == STORE_ONE_RESULT)
            store_agency_clear(&par);
        else if (rc == STORE_NO_RESULTS) {
            cli_fail(cmd, "parent agency %s is not registered; nothing was changed", c->parent);
            return CLI_TX_FAIL;
        } else
            return cli_tx_rc(rc, cmd, "looking up the parent agency");
    }
    int64_t now = now_ms();
    struct store_agency a = {
        .id = (char *)c->id,
        .name = (char *)c->name,
        .parent_id = (char *)c->parent,
        .created_ms = now,
        .updated_ms = now,
    };
    int r = cli_tx_rc(st->agency_put(st->cls, &a), cmd, "adding the agency");
    if (r != CLI_TX_OK)
        return r;
    return cli_tx_rc(cli_txlog_operator(st, "agency.add", c->id), cmd,
                     "writing the transaction log");
}

static int agency_add(int argc, char **argv)
{
    const char *cmd = "agency add";
    const char *data, *id, *name, *parent;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},     {"id", &id, NULL, 1},  {"name", &name, NULL, 1},
        {"parent", &parent, NULL, 0}, {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, AGENCY_ADD_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    if (!edxml_organ_id_ok(id))
        return cli_misuse(cmd, AGENCY_ADD_USAGE,
                          "'%s' is not a valid organ id (letters, digits, '.', '_', '-'; at "
                          "most %d characters)",
                          id, STORE_ID_MAX);
    if (parent && !edxml_organ_id_ok(parent))
        return cli_misuse(cmd, AGENCY_ADD_USAGE, "'%s' is not a valid organ id", parent);
    if (parent && strcmp(parent, id) == 0)
        return cli_misuse(cmd, AGENCY_ADD_USAGE, "an agency cannot be its own parent");
    if (!*name || strlen(name) > NAME_MAX_BYTES)
        return cli_misuse(cmd, AGENCY_ADD_USAGE, "--name must be 1 to %d bytes", NAME_MAX_BYTES);

    struct store *st = cli_open_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct agency_add_ctx c = {id, name, parent};
    r = cli_write_tx(st, cmd, agency_add_tx, &c);
    store_close(st);
    if (r == CLI_EXIT_OK)
        printf("agency %s added: %s%s%s\n", id, name, parent ? ", parent " : "",
               parent ? parent : "");
    return r;
}

struct agency_list_ctx {
    struct cli_table table;
    json_t *json;
    int oom;
};

static int agency_list_cb(void *vctx, const struct store_agency *a)
{
    struct agency_list_ctx *c = vctx;
    char created[25];
    cli_iso_time(a->created_ms, created);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s}", "id", a->id, "name",
                              a->name, "parent", a->parent_id, "mail", a->mail, "mobile", a->mobile,
                              "fax", a->fax, "created", created);
        if (!o || json_array_append_new(c->json, o) != 0)
            c->oom = 1;
    } else {
        const char *row[] = {a->id, a->name, a->parent_id, created};
        if (cli_table_add(&c->table, row) != 0)
            c->oom = 1;
    }
    return c->oom;
}

static int agency_list(int argc, char **argv)
{
    const char *cmd = "agency list";
    const char *data;
    int as_json;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"json", NULL, &as_json, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, AGENCY_LIST_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct agency_list_ctx c = {0};
    const char *headers[] = {"id", "name", "parent", "created"};
    if (as_json)
        c.json = json_array();
    if (as_json ? !c.json : cli_table_init(&c.table, 4, headers) != 0)
        c.oom = 1;
    enum store_rc rc = c.oom ? STORE_ONE_RESULT : st->agency_list(st->cls, agency_list_cb, &c);
    store_close(st);
    if (c.oom)
        r = cli_fail(cmd, "out of memory");
    else if (rc != STORE_ONE_RESULT && rc != STORE_NO_RESULTS)
        r = cli_fail(cmd, "store error while listing agencies");
    else if (as_json) {
        r = cli_print_json(cmd, c.json);
    } else {
        cli_table_print(&c.table, stdout);
        r = CLI_EXIT_OK;
    }
    json_decref(c.json);
    cli_table_free(&c.table);
    return r;
}

/* What still refers to an agency: collected inside the remove transaction. */
struct agency_refs {
    const char *id;
    struct buf children, owned, served;
    int oom;
};

static void add_ref(struct buf *b, const char *item, int *oom)
{
    if ((b->len && buf_puts(b, ", ") != 0) || buf_puts(b, item) != 0)
        *oom = 1;
}

static int agency_refs_agency_cb(void *vctx, const struct store_agency *a)
{
    struct agency_refs *c = vctx;
    if (a->parent_id && strcmp(a->parent_id, c->id) == 0)
        add_ref(&c->children, a->id, &c->oom);
    return c->oom;
}

static int agency_refs_system_cb(void *vctx, const struct store_system *s, char *const *serves,
                                 size_t n_serves)
{
    struct agency_refs *c = vctx;
    if (s->agency_id && strcmp(s->agency_id, c->id) == 0)
        add_ref(&c->owned, s->id, &c->oom);
    for (size_t i = 0; i < n_serves; i++)
        if (strcmp(serves[i], c->id) == 0)
            add_ref(&c->served, s->id, &c->oom);
    return c->oom;
}

static void agency_refs_free(struct agency_refs *c)
{
    buf_free(&c->children);
    buf_free(&c->owned);
    buf_free(&c->served);
}

static int agency_remove_tx(struct store *st, void *vctx)
{
    const char *cmd = "agency remove";
    const char *id = vctx;
    struct store_agency cur = {0};
    enum store_rc rc = st->agency_get(st->cls, id, &cur);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd, "agency %s is not registered", id);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_ONE_RESULT)
        return cli_tx_rc(rc, cmd, "looking up the agency");
    store_agency_clear(&cur);

    struct agency_refs refs = {.id = id};
    int r =
        cli_tx_rc(st->agency_list(st->cls, agency_refs_agency_cb, &refs), cmd, "listing agencies");
    if (r == CLI_TX_OK)
        r = cli_tx_rc(st->system_list(st->cls, agency_refs_system_cb, &refs), cmd,
                      "listing systems");
    if (r == CLI_TX_OK && refs.oom) {
        cli_fail(cmd, "out of memory");
        r = CLI_TX_FAIL;
    }
    if (r == CLI_TX_OK && (refs.children.len || refs.owned.len || refs.served.len)) {
        struct buf msg = {0};
        const char *sep = "";
        if (refs.children.len) {
            buf_printf(&msg, "child agencies %s", refs.children.data);
            sep = "; ";
        }
        if (refs.owned.len) {
            buf_printf(&msg, "%ssystems it owns: %s", sep, refs.owned.data);
            sep = "; ";
        }
        if (refs.served.len)
            buf_printf(&msg, "%sserved by system %s", sep, refs.served.data);
        cli_fail(cmd,
                 "agency %s is still referred to by %s; remove or reassign them first. "
                 "Nothing was changed",
                 id, msg.data ? msg.data : "other records");
        buf_free(&msg);
        r = CLI_TX_FAIL;
    }
    agency_refs_free(&refs);
    if (r != CLI_TX_OK)
        return r;

    rc = st->agency_remove(st->cls, id);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd, "agency %s is not registered", id);
        return CLI_TX_FAIL;
    }
    r = cli_tx_rc(rc, cmd, "removing the agency");
    if (r != CLI_TX_OK)
        return r;
    return cli_tx_rc(cli_txlog_operator(st, "agency.remove", id), cmd,
                     "writing the transaction log");
}

static int agency_remove(int argc, char **argv)
{
    const char *cmd = "agency remove";
    const char *data, *id;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"id", &id, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, AGENCY_REMOVE_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    if (!edxml_organ_id_ok(id))
        return cli_misuse(cmd, AGENCY_REMOVE_USAGE, "'%s' is not a valid organ id", id);
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    r = cli_write_tx(st, cmd, agency_remove_tx, (void *)id);
    store_close(st);
    if (r == CLI_EXIT_OK)
        printf("agency %s removed\n", id);
    return r;
}

int cmd_agency(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"add", agency_add},
        {"list", agency_list},
        {"remove", agency_remove},
        {NULL, NULL},
    };
    return cli_dispatch(argc, argv, subs, AGENCY_USAGE);
}

/* ---------------------------------------------------------------- system */

static const char SYSTEM_USAGE[] =
    "Usage: lienthong system add --data DIR --id SYSTEM_ID --agency ORGAN_ID\n"
    "                            [--serves ORGAN_ID,...] [--status official|trial]\n"
    "                            [--secret SECRET]\n"
    "       lienthong system list --data DIR [--json]\n"
    "       lienthong system remove --data DIR --id SYSTEM_ID\n"
    "       lienthong system rotate-secret --data DIR --id SYSTEM_ID [--secret SECRET]\n"
    "(--secret - reads the secret from standard input, --secret-file FILE from a file)\n"
    "\n"
    "Manages the connected systems (document management, one-stop, sector systems), their\n"
    "credentials and the organs each one serves. A system always serves its own systemId;\n"
    "an organ is served by at most one system.\n";

static const char SYSTEM_ADD_USAGE[] =
    "Usage: lienthong system add --data DIR --id SYSTEM_ID --agency ORGAN_ID\n"
    "                            [--serves ORGAN_ID,...] [--status official|trial]\n"
    "                            [--secret SECRET | --secret - | --secret-file FILE]\n"
    "                            [--weak-secret]\n"
    "\n"
    "Connects a system owned by a registered agency. It serves SYSTEM_ID itself (the SDK sends\n"
    "with from == systemId) plus every organ in --serves; an organ already served by another\n"
    "system is refused and nothing is changed. --status defaults to official. Without a secret\n"
    "a random 44-character secret is generated and printed once. --secret - reads the secret\n"
    "from the first line of standard input and --secret-file from the first line of FILE, so\n"
    "that it never shows in the process list; a secret shorter than 16 characters is refused\n"
    "unless --weak-secret.\n";

static const char SYSTEM_LIST_USAGE[] =
    "Usage: lienthong system list --data DIR [--json]\n"
    "\n"
    "Lists the connected systems and the organs they serve (secrets are never shown).\n";

static const char SYSTEM_REMOVE_USAGE[] =
    "Usage: lienthong system remove --data DIR --id SYSTEM_ID\n"
    "\n"
    "Disconnects a system and drops its serves entries; its packages and inbox stay. Its\n"
    "gateway access tokens are revoked.\n";

static const char SYSTEM_ROTATE_USAGE[] =
    "Usage: lienthong system rotate-secret --data DIR --id SYSTEM_ID\n"
    "                            [--secret SECRET | --secret - | --secret-file FILE]\n"
    "                            [--weak-secret]\n"
    "\n"
    "Replaces the system's secret (a random one when none is given) and prints it. The secret\n"
    "options are those of 'system add' (at least 16 characters unless --weak-secret).\n"
    "The gateway access tokens issued on the old secret are revoked.\n";

struct system_add_ctx {
    const char *id, *agency, *secret;
    enum store_system_status status;
    char **serves;
    size_t n_serves;
};

/* Adds one serves entry, refusing clearly when another system already serves the organ. */
static int serves_add_checked(struct store *st, const char *cmd, const char *system_id,
                              const char *organ)
{
    enum store_rc rc = st->serves_add(st->cls, system_id, organ);
    if (rc == STORE_ONE_RESULT)
        return CLI_TX_OK;
    if (rc == STORE_NO_RESULTS) {
        char who[STORE_ID_MAX + 1] = "";
        if (st->route(st->cls, organ, who) == STORE_ONE_RESULT)
            cli_fail(cmd, "organ %s is already served by system %s; nothing was changed", organ,
                     who);
        else
            cli_fail(cmd, "organ %s is already served by another system; nothing was changed",
                     organ);
        return CLI_TX_FAIL;
    }
    return cli_tx_rc(rc, cmd, "adding a serves entry");
}

static int system_add_tx(struct store *st, void *vctx)
{
    const char *cmd = "system add";
    struct system_add_ctx *c = vctx;
    struct store_system cur = {0};
    enum store_rc rc = st->system_get(st->cls, c->id, &cur);
    if (rc == STORE_ONE_RESULT) {
        store_system_clear(&cur);
        cli_fail(cmd, "system %s already exists; nothing was changed", c->id);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_NO_RESULTS)
        return cli_tx_rc(rc, cmd, "looking up the system");
    struct store_agency owner = {0};
    rc = st->agency_get(st->cls, c->agency, &owner);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd,
                 "agency %s is not registered (add it with 'lienthong agency add'); nothing was "
                 "changed",
                 c->agency);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_ONE_RESULT)
        return cli_tx_rc(rc, cmd, "looking up the agency");
    store_agency_clear(&owner);

    int64_t now = now_ms();
    struct store_system s = {
        .id = (char *)c->id,
        .agency_id = (char *)c->agency,
        .status = c->status,
        .secret = (char *)c->secret,
        .created_ms = now,
        .updated_ms = now,
    };
    int r = cli_tx_rc(st->system_put(st->cls, &s), cmd, "adding the system");
    if (r == CLI_TX_OK)
        r = serves_add_checked(st, cmd, c->id, c->id);
    for (size_t i = 0; r == CLI_TX_OK && i < c->n_serves; i++)
        r = serves_add_checked(st, cmd, c->id, c->serves[i]);
    if (r != CLI_TX_OK)
        return r;
    return cli_tx_rc(cli_txlog_operator(st, "system.add", c->id), cmd,
                     "writing the transaction log");
}

static int parse_status(const char *s, enum store_system_status *ret)
{
    if (strcmp(s, "official") == 0)
        *ret = STORE_SYSTEM_OFFICIAL;
    else if (strcmp(s, "trial") == 0)
        *ret = STORE_SYSTEM_TRIAL;
    else
        return -1;
    return 0;
}

static int system_add(int argc, char **argv)
{
    const char *cmd = "system add";
    const char *data, *id, *agency, *serves, *status, *secret_arg, *secret_file, *secret;
    int weak = 0;
    char secret_buf[CLI_SECRET_MAX + 2];
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"id", &id, NULL, 1},
        {"agency", &agency, NULL, 1},
        {"serves", &serves, NULL, 0},
        {"status", &status, NULL, 0},
        {"secret", &secret_arg, NULL, 0},
        {"secret-file", &secret_file, NULL, 0},
        {"weak-secret", NULL, &weak, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, SYSTEM_ADD_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct system_add_ctx c = {.id = id, .agency = agency, .status = STORE_SYSTEM_OFFICIAL};
    if (!edxml_organ_id_ok(id))
        return cli_misuse(cmd, SYSTEM_ADD_USAGE, "'%s' is not a valid system id", id);
    if (!edxml_organ_id_ok(agency))
        return cli_misuse(cmd, SYSTEM_ADD_USAGE, "'%s' is not a valid organ id", agency);
    if (status && parse_status(status, &c.status) != 0)
        return cli_misuse(cmd, SYSTEM_ADD_USAGE, "--status must be 'official' or 'trial', not '%s'",
                          status);
    if ((r = cli_secret(cmd, SYSTEM_ADD_USAGE, secret_arg, secret_file, weak, secret_buf,
                        &secret)) != CLI_CONTINUE)
        return r;
    char generated[45] = "";
    if (!secret) {
        if (random_secret(generated) != 0)
            return cli_fail(cmd, "cannot generate a secret (random source failed)");
        secret = generated;
    }
    c.secret = secret;
    if (serves) {
        long n = cli_split_list(serves, &c.serves);
        if (n < 0)
            return cli_fail(cmd, "out of memory");
        c.n_serves = (size_t)n;
        for (size_t i = 0; i < c.n_serves; i++)
            if (!edxml_organ_id_ok(c.serves[i])) {
                r = cli_misuse(cmd, SYSTEM_ADD_USAGE, "'%s' in --serves is not a valid organ id",
                               c.serves[i]);
                cli_strv_free(c.serves, c.n_serves);
                return r;
            }
    }

    struct store *st = cli_open_store(data);
    if (!st) {
        cli_strv_free(c.serves, c.n_serves);
        return CLI_EXIT_FAIL;
    }
    r = cli_write_tx(st, cmd, system_add_tx, &c);
    store_close(st);
    if (r == CLI_EXIT_OK) {
        printf("system %s added: agency %s, status %s, serves %s", id, agency,
               status_name(c.status), id);
        for (size_t i = 0; i < c.n_serves; i++) {
            int dup = strcmp(c.serves[i], id) == 0;
            for (size_t j = 0; j < i && !dup; j++)
                dup = strcmp(c.serves[i], c.serves[j]) == 0;
            if (!dup)
                printf(", %s", c.serves[i]);
        }
        putchar('\n');
        if (*generated)
            printf("secret: %s\n(shown only now: give it to the system's operator; replace it "
                   "with 'lienthong system rotate-secret')\n",
                   generated);
    }
    cli_strv_free(c.serves, c.n_serves);
    return r;
}

struct system_list_ctx {
    struct cli_table table;
    json_t *json;
    int oom;
};

static int system_list_cb(void *vctx, const struct store_system *s, char *const *serves,
                          size_t n_serves)
{
    struct system_list_ctx *c = vctx;
    char created[25];
    cli_iso_time(s->created_ms, created);
    if (c->json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n_serves; i++)
            if (json_array_append_new(arr, json_string(serves[i])) != 0)
                c->oom = 1;
        json_t *o =
            arr ? json_pack("{s:s, s:s, s:s, s:o, s:s}", "id", s->id, "agency", s->agency_id,
                            "status", status_name(s->status), "serves", arr, "created", created)
                : NULL;
        if (!o || json_array_append_new(c->json, o) != 0)
            c->oom = 1;
    } else {
        struct buf b = {0};
        for (size_t i = 0; i < n_serves; i++)
            if (buf_printf(&b, "%s%s", i ? "," : "", serves[i]) != 0)
                c->oom = 1;
        const char *row[] = {s->id, s->agency_id, status_name(s->status), b.data, created};
        if (cli_table_add(&c->table, row) != 0)
            c->oom = 1;
        buf_free(&b);
    }
    return c->oom;
}

static int system_list(int argc, char **argv)
{
    const char *cmd = "system list";
    const char *data;
    int as_json;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"json", NULL, &as_json, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, SYSTEM_LIST_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct system_list_ctx c = {0};
    const char *headers[] = {"id", "agency", "status", "serves", "created"};
    if (as_json)
        c.json = json_array();
    if (as_json ? !c.json : cli_table_init(&c.table, 5, headers) != 0)
        c.oom = 1;
    enum store_rc rc = c.oom ? STORE_ONE_RESULT : st->system_list(st->cls, system_list_cb, &c);
    store_close(st);
    if (c.oom)
        r = cli_fail(cmd, "out of memory");
    else if (rc != STORE_ONE_RESULT && rc != STORE_NO_RESULTS)
        r = cli_fail(cmd, "store error while listing systems");
    else if (as_json) {
        r = cli_print_json(cmd, c.json);
    } else {
        cli_table_print(&c.table, stdout);
        r = CLI_EXIT_OK;
    }
    json_decref(c.json);
    cli_table_free(&c.table);
    return r;
}

/* The gateway's access tokens were issued on the system's credentials: when they go (remove,
 * rotate-secret), so do the tokens, in the same transaction. None to revoke is fine. */
static int revoke_tokens(struct store *st, const char *cmd, const char *id)
{
    enum store_rc rc = st->token_revoke_system(st->cls, id, now_ms());
    return rc == STORE_NO_RESULTS ? CLI_TX_OK : cli_tx_rc(rc, cmd, "revoking its access tokens");
}

static int system_remove_tx(struct store *st, void *vctx)
{
    const char *cmd = "system remove";
    const char *id = vctx;
    enum store_rc rc = st->system_remove(st->cls, id);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd, "system %s is not registered", id);
        return CLI_TX_FAIL;
    }
    int r = cli_tx_rc(rc, cmd, "removing the system");
    if (r != CLI_TX_OK || (r = revoke_tokens(st, cmd, id)) != CLI_TX_OK)
        return r;
    return cli_tx_rc(cli_txlog_operator(st, "system.remove", id), cmd,
                     "writing the transaction log");
}

static int system_remove(int argc, char **argv)
{
    const char *cmd = "system remove";
    const char *data, *id;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"id", &id, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, SYSTEM_REMOVE_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    if (!edxml_organ_id_ok(id))
        return cli_misuse(cmd, SYSTEM_REMOVE_USAGE, "'%s' is not a valid system id", id);
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    r = cli_write_tx(st, cmd, system_remove_tx, (void *)id);
    store_close(st);
    if (r == CLI_EXIT_OK)
        printf("system %s removed\n", id);
    return r;
}

struct system_rotate_ctx {
    const char *id, *secret;
};

static int system_rotate_tx(struct store *st, void *vctx)
{
    const char *cmd = "system rotate-secret";
    struct system_rotate_ctx *c = vctx;
    struct store_system s = {0};
    enum store_rc rc = st->system_get(st->cls, c->id, &s);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd, "system %s is not registered", c->id);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_ONE_RESULT)
        return cli_tx_rc(rc, cmd, "looking up the system");
    char *old = s.secret;
    s.secret = (char *)c->secret;
    s.updated_ms = now_ms();
    rc = st->system_put(st->cls, &s);
    s.secret = old;
    store_system_clear(&s);
    int r = cli_tx_rc(rc, cmd, "storing the secret");
    if (r != CLI_TX_OK || (r = revoke_tokens(st, cmd, c->id)) != CLI_TX_OK)
        return r;
    return cli_tx_rc(cli_txlog_operator(st, "system.rotate-secret", c->id), cmd,
                     "writing the transaction log");
}

static int system_rotate(int argc, char **argv)
{
    const char *cmd = "system rotate-secret";
    const char *data, *id, *secret_arg, *secret_file, *secret;
    int weak = 0;
    char secret_buf[CLI_SECRET_MAX + 2];
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},         {"id", &id, NULL, 1},
        {"secret", &secret_arg, NULL, 0}, {"secret-file", &secret_file, NULL, 0},
        {"weak-secret", NULL, &weak, 0},  {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, SYSTEM_ROTATE_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    if (!edxml_organ_id_ok(id))
        return cli_misuse(cmd, SYSTEM_ROTATE_USAGE, "'%s' is not a valid system id", id);
    if ((r = cli_secret(cmd, SYSTEM_ROTATE_USAGE, secret_arg, secret_file, weak, secret_buf,
                        &secret)) != CLI_CONTINUE)
        return r;
    char generated[45] = "";
    if (!secret) {
        if (random_secret(generated) != 0)
            return cli_fail(cmd, "cannot generate a secret (random source failed)");
        secret = generated;
    }
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct system_rotate_ctx c = {id, secret};
    r = cli_write_tx(st, cmd, system_rotate_tx, &c);
    store_close(st);
    if (r == CLI_EXIT_OK)
        printf("system %s: secret replaced\nsecret: %s\n", id, secret);
    return r;
}

int cmd_system(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"add", system_add},
        {"list", system_list},
        {"remove", system_remove},
        {"rotate-secret", system_rotate},
        {NULL, NULL},
    };
    return cli_dispatch(argc, argv, subs, SYSTEM_USAGE);
}
