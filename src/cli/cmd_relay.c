/* cmd_relay — "lienthong platform ...", "lienthong peer ..." and "lienthong route ...": the
 * configuration of the relay between platforms (this platform's identity, the peer platforms
 * documents go to and come from, and the routes that choose a peer for a recipient outside the
 * province), and "route which", the routing decision as the relay will take it.
 *
 * The rules are those of src/relay (shared with the JSON API): a value they refuse is a misuse
 * (exit 2) found before the store is opened. Checks that need the store (the peer exists, the
 * route does not, no route still names a peer being removed) run inside the one write
 * transaction that also makes the change and appends its transaction-log record (actor
 * "operator"), so a refused command changes nothing (exit 1).
 *
 * A peer's secret is given once, to "peer add", and never printed again: lists show it masked.
 * "peer list" also shows each peer's health as the running relay last stored it ("up", with
 * empty fields, for a peer it never wrote about). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "edxml/edxml.h"
#include "relay/peer.h"
#include "relay/route.h"
#include "relay/which.h"
#include "util/buf.h"
#include "util/timeutil.h"

/* ------------------------------------------------------------------------------- platform */

static const char PLATFORM_USAGE[] =
    "Usage: lienthong platform set --data DIR --organ-id ORGAN_ID --name NAME\n"
    "       lienthong platform show --data DIR\n"
    "\n"
    "This platform's identity toward other platforms (the national document axis, other\n"
    "provinces): the organ id it stamps in the edXML TraceHeader of each document it relays,\n"
    "and its name.\n";

static const char PLATFORM_SET_USAGE[] =
    "Usage: lienthong platform set --data DIR --organ-id ORGAN_ID --name NAME\n"
    "\n"
    "Sets or replaces this platform's identity. ORGAN_ID is an organ id (e.g. 000.00.00.H34,\n"
    "the province's People's Committee); NAME is 1 to 1024 bytes. Documents addressed to\n"
    "ORGAN_ID are always delivered here, whatever the routes say.\n";

static const char PLATFORM_SHOW_USAGE[] =
    "Usage: lienthong platform show --data DIR\n"
    "\n"
    "Prints this platform's identity (fails when it was never set).\n";

static int platform_set_tx(struct store *st, void *vctx)
{
    const char *cmd = "platform set";
    struct store_platform *p = vctx;
    struct store_platform cur = {0};
    enum store_rc rc = st->platform_get(st->cls, &cur);
    int64_t created = cur.created_ms;
    store_platform_clear(&cur);
    int r = cli_tx_rc(rc, cmd, "reading the platform identity");
    if (r != CLI_TX_OK)
        return r;
    int64_t now = now_ms();
    p->created_ms = rc == STORE_ONE_RESULT && created ? created : now;
    p->updated_ms = now;
    if ((r = cli_tx_rc(st->platform_put(st->cls, p), cmd, "storing the platform identity")) !=
        CLI_TX_OK)
        return r;
    return cli_tx_rc(cli_txlog_operator(st, "platform.set", p->organ_id), cmd,
                     "writing the transaction log");
}

static int platform_set(int argc, char **argv)
{
    const char *cmd = "platform set";
    const char *data, *organ, *name;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"organ-id", &organ, NULL, 1},
        {"name", &name, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, PLATFORM_SET_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct store_platform p = {.organ_id = (char *)organ, .name = (char *)name};
    char detail[256];
    if (relay_platform_check(&p, detail, sizeof detail) != LT_ERR_OK)
        return cli_misuse(cmd, PLATFORM_SET_USAGE, "%s", detail);
    struct store *st = cli_open_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    r = cli_write_tx(st, cmd, platform_set_tx, &p);
    store_close(st);
    if (r == CLI_EXIT_OK)
        printf("platform identity set: %s, %s\n", organ, name);
    return r;
}

static int platform_show(int argc, char **argv)
{
    const char *cmd = "platform show";
    const char *data;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, PLATFORM_SHOW_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct store_platform p = {0};
    enum store_rc rc = st->platform_get(st->cls, &p);
    store_close(st);
    if (rc == STORE_NO_RESULTS)
        return cli_fail(cmd, "this platform's identity is not set: set it with 'lienthong "
                             "platform set --data DIR --organ-id ORGAN_ID --name NAME'");
    if (rc != STORE_ONE_RESULT)
        return cli_fail(cmd, "store error while reading the platform identity");
    char created[25], updated[25];
    cli_iso_time(p.created_ms, created);
    cli_iso_time(p.updated_ms, updated);
    printf("organ id  %s\nname      %s\ncreated   %s\nupdated   %s\n", p.organ_id, p.name, created,
           updated);
    store_platform_clear(&p);
    return CLI_EXIT_OK;
}

int cmd_platform(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"set", platform_set},
        {"show", platform_show},
        {NULL, NULL},
    };
    return cli_dispatch(argc, argv, subs, PLATFORM_USAGE);
}

/* ----------------------------------------------------------------------------------- peer */

static const char PEER_USAGE[] =
    "Usage: lienthong peer add --data DIR --name NAME --endpoint URL --system-id ID\n"
    "                          (--secret SECRET | --secret - | --secret-file FILE)\n"
    "                          [--weak-secret] [--pull-interval-ms N] [--inbound-system ID]\n"
    "       lienthong peer list --data DIR [--json]\n"
    "       lienthong peer remove --data DIR --name NAME\n"
    "\n"
    "Manages the peer platforms documents are relayed to and pulled from: the national\n"
    "document axis, other provinces' platforms. Which recipients go to which peer is decided\n"
    "by the routes ('lienthong route').\n";

static const char PEER_ADD_USAGE[] =
    "Usage: lienthong peer add --data DIR --name NAME --endpoint URL --system-id ID\n"
    "                          (--secret SECRET | --secret - | --secret-file FILE)\n"
    "                          [--weak-secret] [--pull-interval-ms N] [--inbound-system ID]\n"
    "\n"
    "Adds a peer platform. NAME: 1 to 64 of [A-Za-z0-9._-]. URL: the peer's VXP endpoint,\n"
    "http:// or https://, a host, an optional port and path (no user information, query or\n"
    "fragment). ID and SECRET: the systemId and the secret the peer issued to this platform;\n"
    "requests to the peer are signed with SECRET, so it is stored, but it is never shown\n"
    "again; --secret - reads it from standard input, --secret-file from a file (its first\n"
    "line), and one shorter than 16 characters is refused unless --weak-secret.\n"
    "--pull-interval-ms: how often the peer is asked for documents, 100 to 3600000\n"
    "(default 2000). A peer that already exists is refused.\n"
    "--inbound-system ID: the system of this platform that the peer sends packages with\n"
    "(register it with 'system add'); its packages count as received from the peer.\n";

static const char PEER_LIST_USAGE[] =
    "Usage: lienthong peer list --data DIR [--json]\n"
    "\n"
    "Lists the peer platforms (text table, or JSON) with their inbound system and their health\n"
    "as the running relay last saw it: up, backing-off or failing, since when, the consecutive\n"
    "failures and the last error (a peer never tried is up). Secrets are never shown.\n";

static const char PEER_REMOVE_USAGE[] =
    "Usage: lienthong peer remove --data DIR --name NAME\n"
    "\n"
    "Removes a peer platform. Refused while routes send documents to it: remove them first\n"
    "with 'lienthong route remove'.\n";

struct peer_add {
    struct store_peer peer;
    int inbound_registered; /* the inbound system is a registered system (output only) */
};

static int peer_add_tx(struct store *st, void *vctx)
{
    const char *cmd = "peer add";
    struct peer_add *a = vctx;
    struct store_peer *p = &a->peer;
    struct store_peer cur = {0};
    enum store_rc rc = st->peer_get(st->cls, p->name, &cur);
    store_peer_clear(&cur);
    if (rc == STORE_ONE_RESULT) {
        cli_fail(cmd, "peer %s already exists; nothing was changed", p->name);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_NO_RESULTS)
        return cli_tx_rc(rc, cmd, "looking up the peer");
    /* Not required: the system may be registered after the peer (a note says so). */
    a->inbound_registered = 0;
    if (p->inbound_system) {
        struct store_system sys = {0};
        rc = st->system_get(st->cls, p->inbound_system, &sys);
        store_system_clear(&sys);
        if (rc < 0)
            return cli_tx_rc(rc, cmd, "looking up the inbound system");
        a->inbound_registered = rc == STORE_ONE_RESULT;
    }
    p->created_ms = p->updated_ms = now_ms();
    int r = cli_tx_rc(st->peer_put(st->cls, p), cmd, "adding the peer");
    if (r != CLI_TX_OK)
        return r;
    return cli_tx_rc(cli_txlog_operator(st, "peer.add", p->name), cmd,
                     "writing the transaction log");
}

static int peer_add(int argc, char **argv)
{
    const char *cmd = "peer add";
    const char *data, *name, *endpoint, *system_id, *secret_arg, *secret_file, *secret, *pull,
        *inbound;
    int weak = 0;
    char secret_buf[CLI_SECRET_MAX + 2];
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"name", &name, NULL, 1},
        {"endpoint", &endpoint, NULL, 1},
        {"system-id", &system_id, NULL, 1},
        {"secret", &secret_arg, NULL, 0},
        {"secret-file", &secret_file, NULL, 0},
        {"weak-secret", NULL, &weak, 0},
        {"pull-interval-ms", &pull, NULL, 0},
        {"inbound-system", &inbound, NULL, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, PEER_ADD_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    if ((r = cli_secret(cmd, PEER_ADD_USAGE, secret_arg, secret_file, weak, secret_buf, &secret)) !=
        CLI_CONTINUE)
        return r;
    if (!secret)
        return cli_misuse(cmd, PEER_ADD_USAGE, "missing --secret (or --secret-file)");
    struct peer_add a = {.peer = {
                             .name = (char *)name,
                             .endpoint = (char *)endpoint,
                             .system_id = (char *)system_id,
                             .secret = (char *)secret,
                             .pull_interval_ms = RELAY_PULL_DEFAULT_MS,
                             .inbound_system = (char *)inbound,
                         }};
    if (pull && cli_parse_count(pull, INT64_MAX, &a.peer.pull_interval_ms) != 0)
        return cli_misuse(cmd, PEER_ADD_USAGE,
                          "--pull-interval-ms must be a whole number, not '%s'", pull);
    char detail[256];
    if (relay_peer_check(&a.peer, detail, sizeof detail) != LT_ERR_OK)
        return cli_misuse(cmd, PEER_ADD_USAGE, "%s", detail);
    /* The form of a system id, as 'system add' requires. */
    if (inbound && !edxml_organ_id_ok(inbound))
        return cli_misuse(cmd, PEER_ADD_USAGE,
                          "--inbound-system must be a system id (letters, digits, '.', '_', "
                          "'-'; at most %d characters), not '%s'",
                          STORE_ID_MAX, inbound);
    struct store *st = cli_open_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    r = cli_write_tx(st, cmd, peer_add_tx, &a);
    store_close(st);
    if (r != CLI_EXIT_OK)
        return r;
    printf("peer %s added: %s as %s, pulled every %lld ms\n", name, endpoint, system_id,
           (long long)a.peer.pull_interval_ms);
    if (inbound) {
        printf("packages that system %s sends count as received from peer %s\n", inbound, name);
        if (!a.inbound_registered)
            printf("note: system %s is not registered yet: register it with 'lienthong system "
                   "add'\n",
                   inbound);
    }
    printf("no document goes to it yet: add a route with 'lienthong route add --data %s "
           "--pattern PATTERN --peer %s'\n",
           data, name);
    return r;
}

struct list_ctx {
    struct store *st;
    struct cli_table table;
    json_t *json;
    int oom;
    enum store_rc store_err; /* a failed health lookup (0 when none) */
};

static const char *empty_null(const char *s)
{
    return s && *s ? s : NULL;
}

/* The JSON form of a peer with its inbound system and its read-only health, as the API gives
 * it. */
static json_t *peer_json(const struct store_peer *p, const struct store_peer_state *ps)
{
    char since[25] = "", next[25] = "";
    if (ps->since_ms > 0)
        fmt_iso_utc(ps->since_ms, since);
    if (ps->next_ms > 0)
        fmt_iso_utc(ps->next_ms, next);
    json_t *o = relay_peer_to_json(p);
    /* set_new takes the value even when it fails (NULL included). */
    if (!o ||
        json_object_set_new(o, "inbound_system",
                            json_string(p->inbound_system ? p->inbound_system : "")) != 0 ||
        json_object_set_new(o, "health",
                            json_pack("{s:s, s:s, s:i, s:s, s:s}", "state",
                                      store_peer_health_name(ps->health), "since", since,
                                      "failures", ps->failures, "last_error",
                                      ps->last_error ? ps->last_error : "", "next", next)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int peer_list_cb(void *vctx, const struct store_peer *p)
{
    struct list_ctx *c = vctx;
    /* Never written: up, with empty fields. */
    struct store_peer_state ps = {0};
    enum store_rc rc = c->st->peer_state_get(c->st->cls, p->name, &ps);
    if (rc < 0) {
        c->store_err = rc;
        return 1;
    }
    int known = rc == STORE_ONE_RESULT;
    if (c->json) {
        json_t *o = peer_json(p, &ps);
        if (!o || json_array_append_new(c->json, o) != 0)
            c->oom = 1;
        store_peer_state_clear(&ps);
        return c->oom;
    }
    char created[25], since[25];
    cli_iso_time(p->created_ms, created);
    cli_iso_time(ps.since_ms, since);
    struct buf pull = {0}, failures = {0};
    if (buf_printf(&pull, "%lld ms", (long long)p->pull_interval_ms) != 0 ||
        (known && buf_printf(&failures, "%d", ps.failures) != 0))
        c->oom = 1;
    const char *row[] = {p->name,
                         p->endpoint,
                         p->system_id,
                         RELAY_SECRET_MASK,
                         pull.data,
                         empty_null(p->inbound_system),
                         store_peer_health_name(ps.health),
                         since,
                         failures.data,
                         empty_null(ps.last_error),
                         created};
    if (!c->oom && cli_table_add(&c->table, row) != 0)
        c->oom = 1;
    buf_free(&pull);
    buf_free(&failures);
    store_peer_state_clear(&ps);
    return c->oom;
}

static int peer_list(int argc, char **argv)
{
    const char *cmd = "peer list";
    const char *data;
    int as_json;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"json", NULL, &as_json, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, PEER_LIST_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct list_ctx c = {.st = st};
    const char *headers[] = {"name",          "endpoint",       "system id", "secret",
                             "pull interval", "inbound system", "health",    "since",
                             "failures",      "last error",     "created"};
    if (as_json)
        c.json = json_array();
    if (as_json ? !c.json : cli_table_init(&c.table, 11, headers) != 0)
        c.oom = 1;
    enum store_rc rc = c.oom ? STORE_ONE_RESULT : st->peer_list(st->cls, peer_list_cb, &c);
    store_close(st);
    if (c.oom)
        r = cli_fail(cmd, "out of memory");
    else if (c.store_err || (rc != STORE_ONE_RESULT && rc != STORE_NO_RESULTS))
        r = cli_fail(cmd, "store error while listing peers");
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

/* The patterns of the routes that still send to a peer, collected inside the transaction. */
struct routes_of {
    struct buf patterns;
    size_t n;
    int oom;
};

static int routes_of_cb(void *vctx, const struct store_relay_route *rt)
{
    struct routes_of *c = vctx;
    if (buf_printf(&c->patterns, "%s%s", c->n ? ", " : "", rt->pattern) != 0)
        c->oom = 1;
    c->n++;
    return c->oom;
}

static int peer_remove_tx(struct store *st, void *vctx)
{
    const char *cmd = "peer remove";
    const char *name = vctx;
    struct store_peer cur = {0};
    enum store_rc rc = st->peer_get(st->cls, name, &cur);
    store_peer_clear(&cur);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd, "peer %s does not exist", name);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_ONE_RESULT)
        return cli_tx_rc(rc, cmd, "looking up the peer");
    struct routes_of refs = {0};
    int r = cli_tx_rc(st->relay_route_list(st->cls, name, routes_of_cb, &refs), cmd,
                      "listing the routes");
    if (r == CLI_TX_OK && refs.oom) {
        cli_fail(cmd, "out of memory");
        r = CLI_TX_FAIL;
    }
    if (r == CLI_TX_OK && refs.n > 0) {
        cli_fail(cmd,
                 "peer %s is still the target of %zu route%s: %s; remove %s first with "
                 "'lienthong route remove'. Nothing was changed",
                 name, refs.n, refs.n == 1 ? "" : "s", refs.patterns.data,
                 refs.n == 1 ? "it" : "them");
        r = CLI_TX_FAIL;
    }
    buf_free(&refs.patterns);
    if (r != CLI_TX_OK)
        return r;
    rc = st->peer_remove(st->cls, name);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd, "peer %s does not exist", name);
        return CLI_TX_FAIL;
    }
    if ((r = cli_tx_rc(rc, cmd, "removing the peer")) != CLI_TX_OK)
        return r;
    return cli_tx_rc(cli_txlog_operator(st, "peer.remove", name), cmd,
                     "writing the transaction log");
}

static int peer_remove(int argc, char **argv)
{
    const char *cmd = "peer remove";
    const char *data, *name;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"name", &name, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, PEER_REMOVE_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    if (!relay_peer_name_ok(name))
        return cli_misuse(cmd, PEER_REMOVE_USAGE, "'%s' is not a valid peer name", name);
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    r = cli_write_tx(st, cmd, peer_remove_tx, (void *)name);
    store_close(st);
    if (r == CLI_EXIT_OK)
        printf("peer %s removed\n", name);
    return r;
}

int cmd_peer(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"add", peer_add},
        {"list", peer_list},
        {"remove", peer_remove},
        {NULL, NULL},
    };
    return cli_dispatch(argc, argv, subs, PEER_USAGE);
}

/* ---------------------------------------------------------------------------------- route */

static const char ROUTE_USAGE[] =
    "Usage: lienthong route add --data DIR --pattern PATTERN --peer NAME\n"
    "       lienthong route list --data DIR [--json]\n"
    "       lienthong route remove --data DIR --pattern PATTERN\n"
    "       lienthong route which --data DIR --organ-id ORGAN_ID\n"
    "\n"
    "Chooses the peer platform that receives the documents addressed to organs outside this\n"
    "platform. PATTERN is an organ id in which '*' stands for one or more characters:\n"
    "'*.H30' (the organs of Hoa Binh province), '000.00.*.H30', '*' (every other organ).\n"
    "Quote patterns in the shell. When several patterns match, the most specific wins: the one\n"
    "with more literal characters, then the one with fewer '*', then the smaller in byte\n"
    "order. Organs this platform knows (registered agencies, organs a connected system serves,\n"
    "the platform's own organ id) are always delivered locally, whatever the routes say.\n";

static const char ROUTE_ADD_USAGE[] =
    "Usage: lienthong route add --data DIR --pattern PATTERN --peer NAME\n"
    "\n"
    "Sends the documents for organs matching PATTERN to the peer platform NAME (which must\n"
    "exist: 'lienthong peer add'). PATTERN: an organ id where '*' stands for one or more\n"
    "characters, at most 64 bytes (quote it in the shell). A pattern that already has a route\n"
    "is refused: remove that route first.\n";

static const char ROUTE_LIST_USAGE[] =
    "Usage: lienthong route list --data DIR [--json]\n"
    "\n"
    "Lists the routes in the order they are tried, most specific first (text table, or JSON).\n";

static const char ROUTE_REMOVE_USAGE[] =
    "Usage: lienthong route remove --data DIR --pattern PATTERN\n"
    "\n"
    "Removes the route of exactly this pattern.\n";

static const char ROUTE_WHICH_USAGE[] =
    "Usage: lienthong route which --data DIR --organ-id ORGAN_ID\n"
    "\n"
    "Prints where a document addressed to ORGAN_ID goes with the configuration as it is now:\n"
    "  local                  delivered here (an organ this platform knows)\n"
    "  peer NAME (pattern P)  relayed to the peer NAME by the route of pattern P\n"
    "  none                   no route: it cannot be delivered\n";

static int route_add_tx(struct store *st, void *vctx)
{
    const char *cmd = "route add";
    struct store_relay_route *rt = vctx;
    struct store_relay_route cur = {0};
    enum store_rc rc = st->relay_route_get(st->cls, rt->pattern, &cur);
    if (rc == STORE_ONE_RESULT) {
        cli_fail(cmd,
                 "pattern %s already routes to peer %s; remove that route first. Nothing was "
                 "changed",
                 rt->pattern, cur.peer);
        store_relay_route_clear(&cur);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_NO_RESULTS)
        return cli_tx_rc(rc, cmd, "looking up the route");
    struct store_peer peer = {0};
    rc = st->peer_get(st->cls, rt->peer, &peer);
    store_peer_clear(&peer);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd,
                 "peer %s does not exist (add it with 'lienthong peer add'); nothing was "
                 "changed",
                 rt->peer);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_ONE_RESULT)
        return cli_tx_rc(rc, cmd, "looking up the peer");
    rt->created_ms = now_ms();
    rc = st->relay_route_put(st->cls, rt);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd, "peer %s disappeared; nothing was changed", rt->peer);
        return CLI_TX_FAIL;
    }
    int r = cli_tx_rc(rc, cmd, "adding the route");
    if (r != CLI_TX_OK)
        return r;
    struct buf obj = {0};
    if (buf_printf(&obj, "%s:%s", rt->pattern, rt->peer) != 0) {
        cli_fail(cmd, "out of memory");
        return CLI_TX_FAIL;
    }
    r = cli_tx_rc(cli_txlog_operator(st, "route.add", obj.data), cmd,
                  "writing the transaction log");
    buf_free(&obj);
    return r;
}

static int route_add(int argc, char **argv)
{
    const char *cmd = "route add";
    const char *data, *pattern, *peer;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"pattern", &pattern, NULL, 1},
        {"peer", &peer, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, ROUTE_ADD_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    char detail[256];
    if (relay_pattern_check(pattern, detail, sizeof detail) != LT_ERR_OK)
        return cli_misuse(cmd, ROUTE_ADD_USAGE, "'%s': %s", pattern, detail);
    if (!relay_peer_name_ok(peer))
        return cli_misuse(cmd, ROUTE_ADD_USAGE, "'%s' is not a valid peer name", peer);
    struct store *st = cli_open_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct store_relay_route rt = {.pattern = (char *)pattern, .peer = (char *)peer};
    r = cli_write_tx(st, cmd, route_add_tx, &rt);
    if (r == CLI_EXIT_OK) {
        printf("route %s -> peer %s added\n", pattern, peer);
        /* A route for an organ this platform knows is never taken: say so now. */
        if (!strchr(pattern, '*') && relay_store_is_local(st, pattern) == 1)
            printf("note: %s is an organ of this platform; its documents are delivered here "
                   "whatever this route says\n",
                   pattern);
    }
    store_close(st);
    return r;
}

static int route_list(int argc, char **argv)
{
    const char *cmd = "route list";
    const char *data;
    int as_json;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"json", NULL, &as_json, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, ROUTE_LIST_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct relay_table t = {0};
    enum store_rc rc = relay_table_load(st, NULL, &t);
    store_close(st);
    if (rc != STORE_ONE_RESULT)
        return cli_fail(cmd, "store error while listing routes");
    if (as_json) {
        json_t *arr = json_array();
        int oom = !arr;
        for (size_t i = 0; !oom && i < t.n; i++) {
            json_t *o = relay_route_to_json(&t.rows[i]);
            if (!o || json_array_append_new(arr, o) != 0)
                oom = 1;
        }
        r = oom ? cli_fail(cmd, "out of memory") : cli_print_json(cmd, arr);
        json_decref(arr);
    } else {
        struct cli_table table;
        const char *headers[] = {"pattern", "peer", "created"};
        int oom = cli_table_init(&table, 3, headers) != 0;
        for (size_t i = 0; !oom && i < t.n; i++) {
            char created[25];
            cli_iso_time(t.rows[i].created_ms, created);
            const char *row[] = {t.rows[i].pattern, t.rows[i].peer, created};
            oom = cli_table_add(&table, row) != 0;
        }
        if (oom)
            r = cli_fail(cmd, "out of memory");
        else {
            cli_table_print(&table, stdout);
            r = CLI_EXIT_OK;
        }
        cli_table_free(&table);
    }
    relay_table_free(&t);
    return r;
}

static int route_remove_tx(struct store *st, void *vctx)
{
    const char *cmd = "route remove";
    const char *pattern = vctx;
    struct store_relay_route cur = {0};
    enum store_rc rc = st->relay_route_get(st->cls, pattern, &cur);
    if (rc == STORE_NO_RESULTS) {
        cli_fail(cmd, "there is no route for pattern %s", pattern);
        return CLI_TX_FAIL;
    }
    if (rc != STORE_ONE_RESULT)
        return cli_tx_rc(rc, cmd, "looking up the route");
    int r = cli_tx_rc(st->relay_route_remove(st->cls, pattern), cmd, "removing the route");
    struct buf obj = {0};
    if (r == CLI_TX_OK && buf_printf(&obj, "%s:%s", cur.pattern, cur.peer) != 0) {
        cli_fail(cmd, "out of memory");
        r = CLI_TX_FAIL;
    }
    if (r == CLI_TX_OK)
        r = cli_tx_rc(cli_txlog_operator(st, "route.remove", obj.data), cmd,
                      "writing the transaction log");
    buf_free(&obj);
    store_relay_route_clear(&cur);
    return r;
}

static int route_remove(int argc, char **argv)
{
    const char *cmd = "route remove";
    const char *data, *pattern;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"pattern", &pattern, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, ROUTE_REMOVE_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    char detail[256];
    if (relay_pattern_check(pattern, detail, sizeof detail) != LT_ERR_OK)
        return cli_misuse(cmd, ROUTE_REMOVE_USAGE, "'%s': %s", pattern, detail);
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    r = cli_write_tx(st, cmd, route_remove_tx, (void *)pattern);
    store_close(st);
    if (r == CLI_EXIT_OK)
        printf("route %s removed\n", pattern);
    return r;
}

static int route_which(int argc, char **argv)
{
    const char *cmd = "route which";
    const char *data, *organ;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"organ-id", &organ, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, ROUTE_WHICH_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    if (!edxml_organ_id_ok(organ))
        return cli_misuse(cmd, ROUTE_WHICH_USAGE,
                          "'%s' is not a valid organ id (letters, digits, '.', '_', '-'; at "
                          "most %d characters)",
                          organ, STORE_ID_MAX);
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct relay_answer a;
    enum lt_err e = relay_which(st, organ, &a);
    store_close(st);
    if (e != LT_ERR_OK)
        return cli_fail(cmd, "store error while deciding");
    if (a.target == RELAY_PEER)
        printf("peer %s (pattern %s)\n", a.peer, a.pattern);
    else
        printf("%s\n", relay_target_name(a.target));
    return CLI_EXIT_OK;
}

int cmd_route(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"add", route_add},     {"list", route_list}, {"remove", route_remove},
        {"which", route_which}, {NULL, NULL},
    };
    return cli_dispatch(argc, argv, subs, ROUTE_USAGE);
}
