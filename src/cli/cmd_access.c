/* cmd_access — "lienthong access ..." (consumers' rights to call gateway services) and
 * "lienthong token ..." (the OAuth2 access tokens the gateway issued).
 *
 * A right belongs to one (consumer system, service) pair: granting again replaces it. Its rules
 * (methods, path prefix, rates) are those of src/gateway/catalogue.c, shared with the JSON API.
 * Every change runs in one write transaction with its transaction-log record (actor
 * "operator"); the store's configuration generation moves on commit, so a running gateway
 * applies a grant or a revocation to the next request.
 *
 * Tokens are stored only as the SHA-256 of the token string. They are shown by the first 12 hex
 * digits of that hash (the token id), never by anything that would let someone use them. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "gateway/catalogue.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/timeutil.h"

#define TOKEN_ID_MIN 12 /* hex digits of a token id given to "token revoke --id" */

static const char ACCESS_USAGE[] =
    "Usage: lienthong access grant --data DIR --consumer SYSTEM_ID --service CODE/VERSION\n"
    "                              [--methods GET,POST] [--path-prefix PREFIX] [--rate N]\n"
    "                              [--burst N]\n"
    "       lienthong access revoke --data DIR --consumer SYSTEM_ID --service CODE/VERSION\n"
    "       lienthong access list --data DIR [--consumer SYSTEM_ID] [--service CODE/VERSION]\n"
    "                             [--json]\n"
    "\n"
    "Manages which consumer systems may call which gateway services. Publishing a service\n"
    "grants nothing; a revocation applies to the consumer's next request.\n";

static const char ACCESS_GRANT_USAGE[] =
    "Usage: lienthong access grant --data DIR --consumer SYSTEM_ID --service CODE/VERSION\n"
    "                              [--methods GET,POST] [--path-prefix PREFIX] [--rate N]\n"
    "                              [--burst N]\n"
    "\n"
    "Allows the registered system SYSTEM_ID to call the published service CODE/VERSION.\n"
    "--methods restricts the HTTP methods (default: every method); --path-prefix restricts the\n"
    "paths below the service to PREFIX and below it, by whole segments ('/a' allows '/a' and\n"
    "'/a/b', not '/ab'); --rate and --burst replace the service's calls per second for this\n"
    "consumer (default 0: the service's). Granting again replaces the right.\n";

static const char ACCESS_REVOKE_USAGE[] =
    "Usage: lienthong access revoke --data DIR --consumer SYSTEM_ID --service CODE/VERSION\n"
    "\n"
    "Withdraws a consumer's right to call a service; the next request is refused.\n";

static const char ACCESS_LIST_USAGE[] =
    "Usage: lienthong access list --data DIR [--consumer SYSTEM_ID] [--service CODE/VERSION]\n"
    "                             [--json]\n"
    "\n"
    "Lists the access rights (text table, or JSON), optionally of one consumer or service.\n";

static const char TOKEN_USAGE[] =
    "Usage: lienthong token list --data DIR [--system SYSTEM_ID] [--json]\n"
    "       lienthong token revoke --data DIR (--system SYSTEM_ID | --id TOKEN_ID)\n"
    "\n"
    "Lists and revokes the gateway's access tokens (OAuth2 client credentials). A token is\n"
    "shown by its id, the first 12 hex digits of its SHA-256; the token itself is never stored.\n";

static const char TOKEN_LIST_USAGE[] =
    "Usage: lienthong token list --data DIR [--system SYSTEM_ID] [--json]\n"
    "\n"
    "Lists the active tokens (neither expired nor revoked): id, system, issued, expires.\n";

static const char TOKEN_REVOKE_USAGE[] =
    "Usage: lienthong token revoke --data DIR (--system SYSTEM_ID | --id TOKEN_ID)\n"
    "\n"
    "Revokes every active token of a system, or the one token whose id (SHA-256 in hex) starts\n"
    "with TOKEN_ID (at least 12 hex digits, matching exactly one active token). The next\n"
    "request with a revoked token is refused.\n";

/* ------------------------------------------------------------------------------ access grant */

struct grant_ctx {
    struct store_grant g; /* g.methods owned (normalised), other strings borrowed */
    const char *ref;      /* CODE/VERSION as given */
    int replaced;         /* a right existed and was replaced */
    char object[STORE_ID_MAX + GW_CODE_MAX + GW_VERSION_MAX + 3];
};

static int found_grant(void *vctx, const struct store_grant *g)
{
    struct grant_ctx *c = vctx;
    c->replaced = 1;
    c->g.created_ms = g->created_ms;
    return 1;
}

static int access_grant_tx(struct store *st, void *vctx)
{
    const char *cmd = "access grant";
    struct grant_ctx *c = vctx;
    c->replaced = 0;
    struct store_system sys = {0};
    enum store_rc rc = st->system_get(st->cls, c->g.consumer_system, &sys);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd,
                 "consumer system %s is not registered (add it with 'lienthong system add'); "
                 "nothing was changed",
                 c->g.consumer_system);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_ONE_RESULT)
        return cli_tx_rc(rc, cmd, "looking up the consumer system");
    store_system_clear(&sys);
    struct store_service svc = {0};
    rc = st->service_get(st->cls, c->g.service_code, c->g.service_version, &svc);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd,
                 "service %s is not published (see 'lienthong service list'); nothing was "
                 "changed",
                 c->ref);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_ONE_RESULT)
        return cli_tx_rc(rc, cmd, "looking up the service");
    store_service_clear(&svc);
    int64_t now = now_ms();
    c->g.created_ms = now;
    c->g.updated_ms = now;
    int r = cli_tx_rc(st->grant_list(st->cls, c->g.consumer_system, c->g.service_code,
                                     c->g.service_version, found_grant, c),
                      cmd, "looking up the access right");
    if (r != CLI_TX_OK || (r = cli_tx_rc(st->grant_put(st->cls, &c->g), cmd,
                                         "storing the access right")) != CLI_TX_OK)
        return r;
    return cli_tx_rc(cli_txlog_operator(st, "access.grant", c->object), cmd,
                     "writing the transaction log");
}

/* Parses --service into code and version (buffers of GW_CODE_MAX + 1, GW_VERSION_MAX + 1). */
static int parse_ref_opt(const char *cmd, const char *usage, const char *ref, char *code,
                         char *version)
{
    if (gw_parse_service_ref(ref, code, version) != 0)
        return cli_misuse(cmd, usage,
                          "--service must be CODE/VERSION (each of [A-Za-z0-9._-]), not '%s'", ref);
    return CLI_CONTINUE;
}

static int access_grant(int argc, char **argv)
{
    const char *cmd = "access grant";
    const char *data, *consumer, *service, *methods, *prefix, *rate, *burst;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},          {"consumer", &consumer, NULL, 1},
        {"service", &service, NULL, 1},    {"methods", &methods, NULL, 0},
        {"path-prefix", &prefix, NULL, 0}, {"rate", &rate, NULL, 0},
        {"burst", &burst, NULL, 0},        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, ACCESS_GRANT_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    char code[GW_CODE_MAX + 1], version[GW_VERSION_MAX + 1];
    if ((r = parse_ref_opt(cmd, ACCESS_GRANT_USAGE, service, code, version)) != CLI_CONTINUE)
        return r;
    struct grant_ctx c = {
        .g = {.consumer_system = (char *)consumer,
              .service_code = code,
              .service_version = version,
              .methods = strdup(methods ? methods : ""),
              .path_prefix = (char *)(prefix ? prefix : "")},
        .ref = service,
    };
    if (!c.g.methods)
        return cli_fail(cmd, "out of memory");
    if (rate && cli_parse_count(rate, INT64_MAX, &c.g.rate_per_s) != 0)
        r = cli_misuse(cmd, ACCESS_GRANT_USAGE, "--rate must be a whole number, not '%s'", rate);
    else if (burst && cli_parse_count(burst, INT64_MAX, &c.g.burst) != 0)
        r = cli_misuse(cmd, ACCESS_GRANT_USAGE, "--burst must be a whole number, not '%s'", burst);
    else {
        char detail[256];
        if (gw_grant_check(&c.g, detail, sizeof detail) != LT_ERR_OK)
            r = cli_misuse(cmd, ACCESS_GRANT_USAGE, "%s", detail);
    }
    if (r != CLI_CONTINUE) {
        free(c.g.methods);
        return r;
    }
    snprintf(c.object, sizeof c.object, "%s:%s/%s", consumer, code, version);
    struct store *st = cli_open_store(data);
    if (!st) {
        free(c.g.methods);
        return CLI_EXIT_FAIL;
    }
    r = cli_write_tx(st, cmd, access_grant_tx, &c);
    store_close(st);
    if (r == CLI_EXIT_OK)
        printf("access %s: %s may call %s/%s, methods %s, paths %s\n",
               c.replaced ? "updated" : "granted", consumer, code, version,
               *c.g.methods ? c.g.methods : "all", *c.g.path_prefix ? c.g.path_prefix : "all");
    free(c.g.methods);
    return r;
}

/* ----------------------------------------------------------------------------- access revoke */

struct revoke_ctx {
    const char *consumer, *ref;
    char code[GW_CODE_MAX + 1], version[GW_VERSION_MAX + 1];
    char object[STORE_ID_MAX + GW_CODE_MAX + GW_VERSION_MAX + 3];
};

static int access_revoke_tx(struct store *st, void *vctx)
{
    const char *cmd = "access revoke";
    struct revoke_ctx *c = vctx;
    enum store_rc rc = st->grant_remove(st->cls, c->consumer, c->code, c->version);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd, "system %s has no access right to %s; nothing was changed", c->consumer,
                 c->ref);
        return CLI_TX_FAIL;
    }
    int r = cli_tx_rc(rc, cmd, "removing the access right");
    if (r != CLI_TX_OK)
        return r;
    return cli_tx_rc(cli_txlog_operator(st, "access.revoke", c->object), cmd,
                     "writing the transaction log");
}

static int access_revoke(int argc, char **argv)
{
    const char *cmd = "access revoke";
    const char *data, *consumer, *service;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"consumer", &consumer, NULL, 1},
        {"service", &service, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, ACCESS_REVOKE_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct revoke_ctx c = {.consumer = consumer, .ref = service};
    if ((r = parse_ref_opt(cmd, ACCESS_REVOKE_USAGE, service, c.code, c.version)) != CLI_CONTINUE)
        return r;
    snprintf(c.object, sizeof c.object, "%s:%s/%s", consumer, c.code, c.version);
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    r = cli_write_tx(st, cmd, access_revoke_tx, &c);
    store_close(st);
    if (r == CLI_EXIT_OK)
        printf("access revoked: %s may no longer call %s/%s\n", consumer, c.code, c.version);
    return r;
}

/* ------------------------------------------------------------------------------- access list */

struct access_list_ctx {
    struct cli_table table;
    json_t *json;
    int oom;
};

static int access_list_cb(void *vctx, const struct store_grant *g)
{
    struct access_list_ctx *c = vctx;
    if (c->json) {
        json_t *o = gw_grant_to_json(g);
        if (!o || json_array_append_new(c->json, o) != 0)
            c->oom = 1;
        return c->oom;
    }
    struct buf ref = {0}, rate = {0};
    char updated[25];
    cli_iso_time(g->updated_ms, updated);
    if (buf_printf(&ref, "%s/%s", g->service_code, g->service_version) != 0)
        c->oom = 1;
    if (g->rate_per_s > 0) {
        if (buf_printf(&rate, "%lld/s", (long long)g->rate_per_s) != 0 ||
            (g->burst > 0 && buf_printf(&rate, " burst %lld", (long long)g->burst) != 0))
            c->oom = 1;
    } else if (buf_puts(&rate, g->burst > 0 ? "service's, burst " : "service's") != 0 ||
               (g->burst > 0 && buf_printf(&rate, "%lld", (long long)g->burst) != 0)) {
        c->oom = 1;
    }
    const char *row[] = {g->consumer_system,
                         ref.data,
                         g->methods && *g->methods ? g->methods : "all",
                         g->path_prefix && *g->path_prefix ? g->path_prefix : "all",
                         rate.data,
                         updated};
    if (!c->oom && cli_table_add(&c->table, row) != 0)
        c->oom = 1;
    buf_free(&ref);
    buf_free(&rate);
    return c->oom;
}

static int access_list(int argc, char **argv)
{
    const char *cmd = "access list";
    const char *data, *consumer, *service;
    int as_json;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},       {"consumer", &consumer, NULL, 0},
        {"service", &service, NULL, 0}, {"json", NULL, &as_json, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, ACCESS_LIST_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    char code[GW_CODE_MAX + 1], version[GW_VERSION_MAX + 1];
    if (service &&
        (r = parse_ref_opt(cmd, ACCESS_LIST_USAGE, service, code, version)) != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct access_list_ctx c = {0};
    const char *headers[] = {"consumer", "service", "methods", "path prefix", "rate", "updated"};
    if (as_json)
        c.json = json_array();
    if (as_json ? !c.json : cli_table_init(&c.table, 6, headers) != 0)
        c.oom = 1;
    enum store_rc rc = c.oom ? STORE_ONE_RESULT
                             : st->grant_list(st->cls, consumer, service ? code : NULL,
                                              service ? version : NULL, access_list_cb, &c);
    store_close(st);
    if (c.oom)
        r = cli_fail(cmd, "out of memory");
    else if (rc != STORE_ONE_RESULT && rc != STORE_NO_RESULTS)
        r = cli_fail(cmd, "store error while listing access rights");
    else if (as_json)
        r = cli_print_json(cmd, c.json);
    else {
        cli_table_print(&c.table, stdout);
        r = CLI_EXIT_OK;
    }
    json_decref(c.json);
    cli_table_free(&c.table);
    return r;
}

int cmd_access(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"grant", access_grant},
        {"revoke", access_revoke},
        {"list", access_list},
        {NULL, NULL},
    };
    return cli_dispatch(argc, argv, subs, ACCESS_USAGE);
}

/* -------------------------------------------------------------------------------- token list */

struct token_list_ctx {
    const char *system; /* filter, NULL = every system */
    struct cli_table table;
    json_t *json;
    int oom;
};

static int token_list_cb(void *vctx, const struct store_token *t)
{
    struct token_list_ctx *c = vctx;
    if (c->system && strcmp(c->system, t->system_id) != 0)
        return 0;
    if (c->json) {
        json_t *o = gw_token_to_json(t);
        if (!o || json_array_append_new(c->json, o) != 0)
            c->oom = 1;
        return c->oom;
    }
    char id[13], issued[25], expires[25];
    snprintf(id, sizeof id, "%.12s", t->sha256);
    cli_iso_time(t->issued_ms, issued);
    cli_iso_time(t->expires_ms, expires);
    const char *row[] = {id, t->system_id, issued, expires};
    if (cli_table_add(&c->table, row) != 0)
        c->oom = 1;
    return c->oom;
}

static int token_list(int argc, char **argv)
{
    const char *cmd = "token list";
    const char *data, *system;
    int as_json;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"system", &system, NULL, 0},
        {"json", NULL, &as_json, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, TOKEN_LIST_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct token_list_ctx c = {.system = system};
    const char *headers[] = {"id", "system", "issued", "expires"};
    if (as_json)
        c.json = json_array();
    if (as_json ? !c.json : cli_table_init(&c.table, 4, headers) != 0)
        c.oom = 1;
    enum store_rc rc =
        c.oom ? STORE_ONE_RESULT : st->token_list_active(st->cls, now_ms(), token_list_cb, &c);
    store_close(st);
    if (c.oom)
        r = cli_fail(cmd, "out of memory");
    else if (rc != STORE_ONE_RESULT && rc != STORE_NO_RESULTS)
        r = cli_fail(cmd, "store error while listing tokens");
    else if (as_json)
        r = cli_print_json(cmd, c.json);
    else {
        cli_table_print(&c.table, stdout);
        r = CLI_EXIT_OK;
    }
    json_decref(c.json);
    cli_table_free(&c.table);
    return r;
}

/* ------------------------------------------------------------------------------ token revoke */

struct token_revoke_ctx {
    const char *system;           /* --system, or NULL */
    char prefix[SHA256_HEX_SIZE]; /* --id in lower case, or "" */
    /* results of the last run */
    size_t n_matches;
    char hash[SHA256_HEX_SIZE];
    int revoked_any;
};

static int token_match_cb(void *vctx, const struct store_token *t)
{
    struct token_revoke_ctx *c = vctx;
    if (strncmp(t->sha256, c->prefix, strlen(c->prefix)) != 0)
        return 0;
    if (c->n_matches++ == 0)
        snprintf(c->hash, sizeof c->hash, "%s", t->sha256);
    return 0;
}

static int token_revoke_tx(struct store *st, void *vctx)
{
    const char *cmd = "token revoke";
    struct token_revoke_ctx *c = vctx;
    c->n_matches = 0;
    c->revoked_any = 0;
    int64_t now = now_ms();
    int r;
    if (c->system) {
        enum store_rc rc = st->token_revoke_system(st->cls, c->system, now);
        if (rc == STORE_NO_RESULTS)
            return CLI_TX_OK; /* nothing to revoke: nothing changed, nothing logged */
        if ((r = cli_tx_rc(rc, cmd, "revoking the tokens")) != CLI_TX_OK)
            return r;
        c->revoked_any = 1;
        return cli_tx_rc(cli_txlog_operator(st, "token.revoke", c->system), cmd,
                         "writing the transaction log");
    }
    if ((r = cli_tx_rc(st->token_list_active(st->cls, now, token_match_cb, c), cmd,
                       "listing the tokens")) != CLI_TX_OK)
        return r;
    if (c->n_matches == 0) {
        cli_fail(cmd, "no active token has an id starting with %s; nothing was changed", c->prefix);
        return CLI_TX_FAIL;
    }
    if (c->n_matches > 1) {
        cli_fail(cmd,
                 "%zu active tokens have an id starting with %s: give more digits; nothing "
                 "was changed",
                 c->n_matches, c->prefix);
        return CLI_TX_FAIL;
    }
    enum store_rc rc = st->token_revoke(st->cls, c->hash, now);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd, "token %.12s is no longer active; nothing was changed", c->hash);
        return CLI_TX_FAIL;
    }
    if ((r = cli_tx_rc(rc, cmd, "revoking the token")) != CLI_TX_OK)
        return r;
    c->revoked_any = 1;
    char id[13];
    snprintf(id, sizeof id, "%.12s", c->hash);
    return cli_tx_rc(cli_txlog_operator(st, "token.revoke", id), cmd,
                     "writing the transaction log");
}

static int token_revoke(int argc, char **argv)
{
    const char *cmd = "token revoke";
    const char *data, *system, *id;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"system", &system, NULL, 0},
        {"id", &id, NULL, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, TOKEN_REVOKE_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    if (!system == !id)
        return cli_misuse(cmd, TOKEN_REVOKE_USAGE, "give exactly one of --system and --id");
    struct token_revoke_ctx c = {.system = system};
    if (id) {
        size_t n = strlen(id);
        if (n < TOKEN_ID_MIN || n > SHA256_HEX_SIZE - 1 ||
            strspn(id, "0123456789abcdefABCDEF") != n)
            return cli_misuse(cmd, TOKEN_REVOKE_USAGE,
                              "--id must be %d to 64 hex digits (see 'lienthong token list'), "
                              "not '%s'",
                              TOKEN_ID_MIN, id);
        for (size_t i = 0; i <= n; i++)
            c.prefix[i] = (id[i] >= 'A' && id[i] <= 'F') ? (char)(id[i] - 'A' + 'a') : id[i];
    } else if (!*system || strlen(system) > STORE_ID_MAX) {
        return cli_misuse(cmd, TOKEN_REVOKE_USAGE, "'%s' is not a valid system id", system);
    }
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    r = cli_write_tx(st, cmd, token_revoke_tx, &c);
    store_close(st);
    if (r != CLI_EXIT_OK)
        return r;
    if (system && c.revoked_any)
        printf("every token of system %s revoked\n", system);
    else if (system)
        printf("system %s has no unrevoked token; nothing was changed\n", system);
    else
        printf("token %.12s revoked\n", c.hash);
    return CLI_EXIT_OK;
}

int cmd_token(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"list", token_list},
        {"revoke", token_revoke},
        {NULL, NULL},
    };
    return cli_dispatch(argc, argv, subs, TOKEN_USAGE);
}
