/* cmd_service — "lienthong service ...": the catalogue of the data-sharing gateway, i.e. the
 * services provider systems publish (code/version, upstream base URL, protocol, limits).
 *
 * The rules of a valid service are those of src/gateway/catalogue.c (shared with the JSON API):
 * a value they refuse is a misuse (exit 2) found before the store is opened. Checks that need
 * the store (the provider is a registered system, the service exists or not) run inside the one
 * write transaction that also makes the change and appends its transaction-log record (actor
 * "operator"), so a refused command changes nothing. Publishing grants nothing: consumers need
 * "lienthong access grant". Removing a service also removes its access rights. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "gateway/catalogue.h"
#include "util/buf.h"
#include "util/timeutil.h"

static const char SERVICE_USAGE[] =
    "Usage: lienthong service add --data DIR --code CODE --version VERSION --provider SYSTEM_ID\n"
    "                             --url UPSTREAM_URL [--protocol rest|soap] [--timeout-ms N]\n"
    "                             [--name NAME] [--description TEXT] [--max-request-bytes N]\n"
    "                             [--max-response-bytes N] [--rate N] [--burst N]\n"
    "       lienthong service list --data DIR [--provider SYSTEM_ID] [--json]\n"
    "       lienthong service update --data DIR --code CODE --version VERSION [OPTIONS OF ADD]\n"
    "       lienthong service remove --data DIR --code CODE --version VERSION\n"
    "\n"
    "Manages the services provider systems publish through the data-sharing gateway. Consumers\n"
    "call a service at /gw/CODE/VERSION/PATH; the gateway forwards to UPSTREAM_URL/PATH.\n"
    "Publishing grants nothing: give consumers access with 'lienthong access grant'.\n";

static const char SERVICE_ADD_USAGE[] =
    "Usage: lienthong service add --data DIR --code CODE --version VERSION --provider SYSTEM_ID\n"
    "                             --url UPSTREAM_URL [--protocol rest|soap] [--timeout-ms N]\n"
    "                             [--name NAME] [--description TEXT] [--max-request-bytes N]\n"
    "                             [--max-response-bytes N] [--rate N] [--burst N]\n"
    "\n"
    "Publishes a service of the registered system SYSTEM_ID. CODE and VERSION: 1 to 64 and 1 to\n"
    "32 of [A-Za-z0-9._-]. UPSTREAM_URL: http:// or https://, no user information, query or\n"
    "fragment. Defaults: --protocol rest, --timeout-ms 30000 (at most 600000),\n"
    "--max-request-bytes 10485760, --max-response-bytes 52428800, --rate 100 calls per second\n"
    "per consumer (0 = unlimited), --burst 0 (= the rate).\n"
    "A service that already exists is refused: change it with 'lienthong service update'.\n";

static const char SERVICE_UPDATE_USAGE[] =
    "Usage: lienthong service update --data DIR --code CODE --version VERSION\n"
    "                                [--provider SYSTEM_ID] [--url UPSTREAM_URL]\n"
    "                                [--protocol rest|soap] [--timeout-ms N] [--name NAME]\n"
    "                                [--description TEXT] [--max-request-bytes N]\n"
    "                                [--max-response-bytes N] [--rate N] [--burst N]\n"
    "\n"
    "Changes the given fields of a published service; the others keep their values. Access\n"
    "rights stay. The running gateway applies the change to the next call.\n";

static const char SERVICE_LIST_USAGE[] =
    "Usage: lienthong service list --data DIR [--provider SYSTEM_ID] [--json]\n"
    "\n"
    "Lists the published services (text table, or JSON), optionally of one provider.\n";

static const char SERVICE_REMOVE_USAGE[] =
    "Usage: lienthong service remove --data DIR --code CODE --version VERSION\n"
    "\n"
    "Withdraws a service and every access right to it.\n";

/* The options of add and update, as given (NULL when absent). */
struct service_opts {
    const char *data, *code, *version, *provider, *url, *protocol, *timeout, *name, *description,
        *max_request, *max_response, *rate, *burst;
};

static int parse_protocol(const char *s, enum store_protocol *ret)
{
    if (strcasecmp(s, "rest") == 0)
        *ret = STORE_PROTO_REST;
    else if (strcasecmp(s, "soap") == 0)
        *ret = STORE_PROTO_SOAP;
    else
        return -1;
    return 0;
}

/* Applies the optional fields given in o to s (strings borrowed from o). Returns CLI_CONTINUE
 * or a misuse exit status. */
static int apply_opts(const char *cmd, const char *usage, const struct service_opts *o,
                      struct store_service *s)
{
    struct {
        const char *opt, *value;
        int64_t *dst;
    } nums[] = {
        {"--timeout-ms", o->timeout, &s->timeout_ms},
        {"--max-request-bytes", o->max_request, &s->max_request_bytes},
        {"--max-response-bytes", o->max_response, &s->max_response_bytes},
        {"--rate", o->rate, &s->rate_per_s},
        {"--burst", o->burst, &s->burst},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (nums[i].value && cli_parse_count(nums[i].value, INT64_MAX, nums[i].dst) != 0)
            return cli_misuse(cmd, usage, "%s must be a whole number, not '%s'", nums[i].opt,
                              nums[i].value);
    if (o->protocol && parse_protocol(o->protocol, &s->protocol) != 0)
        return cli_misuse(cmd, usage, "--protocol must be 'rest' or 'soap', not '%s'", o->protocol);
    if (o->provider)
        s->provider_system = (char *)o->provider;
    if (o->url)
        s->url = (char *)o->url;
    if (o->name)
        s->name = (char *)o->name;
    if (o->description)
        s->description = (char *)o->description;
    return CLI_CONTINUE;
}

/* The catalogue's check, as a misuse. */
static int check_service(const char *cmd, const char *usage, struct store_service *s)
{
    char detail[256];
    if (gw_service_check(s, detail, sizeof detail) != LT_ERR_OK)
        return cli_misuse(cmd, usage, "%s", detail);
    return CLI_CONTINUE;
}

static struct store_service default_service(const struct service_opts *o)
{
    struct store_service s = {
        .code = (char *)o->code,
        .version = (char *)o->version,
        .provider_system = (char *)o->provider,
        .name = "",
        .description = "",
        .url = (char *)o->url,
        .protocol = STORE_PROTO_REST,
        .timeout_ms = GW_DEFAULT_TIMEOUT_MS,
        .max_request_bytes = GW_DEFAULT_MAX_REQUEST,
        .max_response_bytes = GW_DEFAULT_MAX_RESPONSE,
        .rate_per_s = GW_DEFAULT_RATE_PER_S,
        .burst = 0,
    };
    return s;
}

/* Checks that the provider is a registered system. */
static int provider_registered(struct store *st, const char *cmd, const char *id)
{
    struct store_system sys = {0};
    enum store_rc rc = st->system_get(st->cls, id, &sys);
    if (rc == STORE_ONE_RESULT) {
        store_system_clear(&sys);
        return CLI_TX_OK;
    }
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd,
                 "provider system %s is not registered (add it with 'lienthong system add'); "
                 "nothing was changed",
                 id);
        return CLI_TX_FAIL;
    }
    return cli_tx_rc(rc, cmd, "looking up the provider system");
}

static int txlog_service(struct store *st, const char *cmd, const char *operation, const char *code,
                         const char *version)
{
    struct buf ref = {0};
    if (buf_printf(&ref, "%s/%s", code, version) != 0) {
        cli_fail(cmd, "out of memory");
        return CLI_TX_FAIL;
    }
    int r =
        cli_tx_rc(cli_txlog_operator(st, operation, ref.data), cmd, "writing the transaction log");
    buf_free(&ref);
    return r;
}

/* ------------------------------------------------------------------------------------- add */

static int service_add_tx(struct store *st, void *vctx)
{
    const char *cmd = "service add";
    const struct store_service *s = vctx;
    struct store_service cur = {0};
    enum store_rc rc = st->service_get(st->cls, s->code, s->version, &cur);
    if (rc == STORE_ONE_RESULT) {
        store_service_clear(&cur);
        cli_fail(cmd,
                 "service %s/%s already exists; change it with 'lienthong service update'. "
                 "Nothing was changed",
                 s->code, s->version);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_NO_RESULTS)
        return cli_tx_rc(rc, cmd, "looking up the service");
    int r = provider_registered(st, cmd, s->provider_system);
    if (r != CLI_TX_OK)
        return r;
    struct store_service put = *s;
    put.created_ms = put.updated_ms = now_ms();
    if ((r = cli_tx_rc(st->service_put(st->cls, &put), cmd, "adding the service")) != CLI_TX_OK)
        return r;
    return txlog_service(st, cmd, "service.add", s->code, s->version);
}

static int service_add(int argc, char **argv)
{
    const char *cmd = "service add";
    struct service_opts o;
    const struct cli_opt opts[] = {
        {"data", &o.data, NULL, 1},
        {"code", &o.code, NULL, 1},
        {"version", &o.version, NULL, 1},
        {"provider", &o.provider, NULL, 1},
        {"url", &o.url, NULL, 1},
        {"protocol", &o.protocol, NULL, 0},
        {"timeout-ms", &o.timeout, NULL, 0},
        {"name", &o.name, NULL, 0},
        {"description", &o.description, NULL, 0},
        {"max-request-bytes", &o.max_request, NULL, 0},
        {"max-response-bytes", &o.max_response, NULL, 0},
        {"rate", &o.rate, NULL, 0},
        {"burst", &o.burst, NULL, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, SERVICE_ADD_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct store_service s = default_service(&o);
    if ((r = apply_opts(cmd, SERVICE_ADD_USAGE, &o, &s)) != CLI_CONTINUE ||
        (r = check_service(cmd, SERVICE_ADD_USAGE, &s)) != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_store(o.data);
    if (!st)
        return CLI_EXIT_FAIL;
    r = cli_write_tx(st, cmd, service_add_tx, &s);
    store_close(st);
    if (r == CLI_EXIT_OK)
        printf("service %s/%s published: provider %s, %s, %s, timeout %lld ms\n"
               "no consumer may call it yet: grant access with 'lienthong access grant --data "
               "%s --consumer SYSTEM_ID --service %s/%s'\n",
               s.code, s.version, s.provider_system, store_protocol_name(s.protocol), s.url,
               (long long)s.timeout_ms, o.data, s.code, s.version);
    return r;
}

/* ---------------------------------------------------------------------------------- update */

struct service_update_ctx {
    const struct service_opts *o;
};

static int service_update_tx(struct store *st, void *vctx)
{
    const char *cmd = "service update";
    struct service_update_ctx *c = vctx;
    struct store_service cur = {0};
    enum store_rc rc = st->service_get(st->cls, c->o->code, c->o->version, &cur);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd, "service %s/%s is not published; nothing was changed", c->o->code,
                 c->o->version);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_ONE_RESULT)
        return cli_tx_rc(rc, cmd, "looking up the service");
    struct store_service merged = cur; /* borrows cur's strings and the options' */
    int r = CLI_TX_OK;
    char detail[256];
    if (apply_opts(cmd, SERVICE_UPDATE_USAGE, c->o, &merged) != CLI_CONTINUE ||
        gw_service_check(&merged, detail, sizeof detail) != LT_ERR_OK) {
        /* Checked before the store was opened; only a stored value can fail here. */
        cli_fail(cmd, "the updated service would be invalid; nothing was changed");
        r = CLI_TX_FAIL;
    }
    if (r == CLI_TX_OK && c->o->provider)
        r = provider_registered(st, cmd, c->o->provider);
    if (r == CLI_TX_OK) {
        merged.updated_ms = now_ms();
        r = cli_tx_rc(st->service_put(st->cls, &merged), cmd, "updating the service");
    }
    if (r == CLI_TX_OK)
        r = txlog_service(st, cmd, "service.update", cur.code, cur.version);
    store_service_clear(&cur);
    return r;
}

static int service_update(int argc, char **argv)
{
    const char *cmd = "service update";
    struct service_opts o;
    const struct cli_opt opts[] = {
        {"data", &o.data, NULL, 1},
        {"code", &o.code, NULL, 1},
        {"version", &o.version, NULL, 1},
        {"provider", &o.provider, NULL, 0},
        {"url", &o.url, NULL, 0},
        {"protocol", &o.protocol, NULL, 0},
        {"timeout-ms", &o.timeout, NULL, 0},
        {"name", &o.name, NULL, 0},
        {"description", &o.description, NULL, 0},
        {"max-request-bytes", &o.max_request, NULL, 0},
        {"max-response-bytes", &o.max_response, NULL, 0},
        {"rate", &o.rate, NULL, 0},
        {"burst", &o.burst, NULL, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, SERVICE_UPDATE_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    if (!o.provider && !o.url && !o.protocol && !o.timeout && !o.name && !o.description &&
        !o.max_request && !o.max_response && !o.rate && !o.burst)
        return cli_misuse(cmd, SERVICE_UPDATE_USAGE, "nothing to change: give at least one field");
    /* Each field's rule stands alone, so the given values are checked over valid defaults. */
    struct store_service probe = default_service(&o);
    if (!probe.provider_system)
        probe.provider_system = "x";
    if (!probe.url)
        probe.url = "http://x/";
    if ((r = apply_opts(cmd, SERVICE_UPDATE_USAGE, &o, &probe)) != CLI_CONTINUE ||
        (r = check_service(cmd, SERVICE_UPDATE_USAGE, &probe)) != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_existing_store(o.data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct service_update_ctx c = {&o};
    r = cli_write_tx(st, cmd, service_update_tx, &c);
    store_close(st);
    if (r == CLI_EXIT_OK)
        printf("service %s/%s updated\n", o.code, o.version);
    return r;
}

/* ---------------------------------------------------------------------------------- remove */

struct service_remove_ctx {
    const char *code, *version;
    size_t n_grants; /* rights removed with it */
};

static int count_grant(void *vctx, const struct store_grant *g)
{
    struct service_remove_ctx *c = vctx;
    c->n_grants++;
    return 0;
}

static int service_remove_tx(struct store *st, void *vctx)
{
    const char *cmd = "service remove";
    struct service_remove_ctx *c = vctx;
    c->n_grants = 0;
    int r = cli_tx_rc(st->grant_list(st->cls, NULL, c->code, c->version, count_grant, c), cmd,
                      "listing the access rights");
    if (r != CLI_TX_OK)
        return r;
    enum store_rc rc = st->service_remove(st->cls, c->code, c->version);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd, "service %s/%s is not published", c->code, c->version);
        return CLI_TX_FAIL;
    }
    if ((r = cli_tx_rc(rc, cmd, "removing the service")) != CLI_TX_OK)
        return r;
    return txlog_service(st, cmd, "service.remove", c->code, c->version);
}

static int service_remove(int argc, char **argv)
{
    const char *cmd = "service remove";
    const char *data, *code, *version;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"code", &code, NULL, 1},
        {"version", &version, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, SERVICE_REMOVE_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    if (!gw_valid_code(code))
        return cli_misuse(cmd, SERVICE_REMOVE_USAGE, "'%s' is not a valid service code", code);
    if (!gw_valid_version(version))
        return cli_misuse(cmd, SERVICE_REMOVE_USAGE, "'%s' is not a valid service version",
                          version);
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct service_remove_ctx c = {code, version, 0};
    r = cli_write_tx(st, cmd, service_remove_tx, &c);
    store_close(st);
    if (r == CLI_EXIT_OK)
        printf("service %s/%s removed, with %zu access right%s\n", code, version, c.n_grants,
               c.n_grants == 1 ? "" : "s");
    return r;
}

/* ------------------------------------------------------------------------------------ list */

struct service_list_ctx {
    struct cli_table table;
    json_t *json;
    int oom;
};

static int service_list_cb(void *vctx, const struct store_service *s)
{
    struct service_list_ctx *c = vctx;
    if (c->json) {
        json_t *o = gw_service_to_json(s);
        if (!o || json_array_append_new(c->json, o) != 0)
            c->oom = 1;
        return c->oom;
    }
    struct buf ref = {0}, timeout = {0};
    if (buf_printf(&ref, "%s/%s", s->code, s->version) != 0 ||
        buf_printf(&timeout, "%lld ms", (long long)s->timeout_ms) != 0)
        c->oom = 1;
    const char *row[] = {ref.data, s->provider_system, store_protocol_name(s->protocol),
                         s->url,   timeout.data,       s->name && *s->name ? s->name : NULL};
    if (!c->oom && cli_table_add(&c->table, row) != 0)
        c->oom = 1;
    buf_free(&ref);
    buf_free(&timeout);
    return c->oom;
}

static int service_list(int argc, char **argv)
{
    const char *cmd = "service list";
    const char *data, *provider;
    int as_json;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"provider", &provider, NULL, 0},
        {"json", NULL, &as_json, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, SERVICE_LIST_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct service_list_ctx c = {0};
    const char *headers[] = {"service", "provider", "protocol", "url", "timeout", "name"};
    if (as_json)
        c.json = json_array();
    if (as_json ? !c.json : cli_table_init(&c.table, 6, headers) != 0)
        c.oom = 1;
    enum store_rc rc =
        c.oom ? STORE_ONE_RESULT : st->service_list(st->cls, provider, service_list_cb, &c);
    store_close(st);
    if (c.oom)
        r = cli_fail(cmd, "out of memory");
    else if (rc != STORE_ONE_RESULT && rc != STORE_NO_RESULTS)
        r = cli_fail(cmd, "store error while listing services");
    else if (as_json) {
        int w = json_dumpf(c.json, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        r = w == 0 ? CLI_EXIT_OK : cli_fail(cmd, "cannot write JSON");
    } else {
        cli_table_print(&c.table, stdout);
        r = CLI_EXIT_OK;
    }
    json_decref(c.json);
    cli_table_free(&c.table);
    return r;
}

int cmd_service(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"add", service_add},       {"list", service_list}, {"update", service_update},
        {"remove", service_remove}, {NULL, NULL},
    };
    return cli_dispatch(argc, argv, subs, SERVICE_USAGE);
}
