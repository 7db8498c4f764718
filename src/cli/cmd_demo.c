/* cmd_demo — "lienthong demo": loads a small demo province so that people can try lienthong
 * with the national SDK straight away.
 *
 * The province is Kon Tum (H34): UBND tinh Kon Tum 000.00.00.H34 and a few of its agencies, with
 * four connected document-management systems whose secrets are FIXED and published here, so
 * that a tutorial can hard-code them:
 *
 *   systemId 000.00.01.H34 (Van phong UBND tinh), official, secret demo-secret-vpubnd,
 *     serves 000.00.01.H34, 000.00.00.H34 (UBND tinh), 000.00.03.H34 (So KH&DT);
 *   systemId 000.00.13.H34 (So TT&TT), official, secret demo-secret-sotttt,
 *     serves 000.00.13.H34, 000.00.10.H34 (So Noi vu);
 *   systemId 000.00.06.H34 (So Tu phap), TRIAL, secret demo-secret-sotp, serves itself;
 *   systemId 000.00.31.H34 (UBND thanh pho Kon Tum), official, secret demo-secret-ubndtp,
 *     serves itself.
 *
 * Idempotent: when the province agency already exists nothing is changed and the credentials
 * (as currently stored, so a rotated secret shows its new value) are printed again. Everything
 * else is loaded in one write transaction with a transaction-log record per object, exactly as
 * "agency add" / "system add" would write them; if any demo agency or system already exists
 * (without the province), or a demo organ is already served by another system, nothing is
 * loaded. */
#include <stdio.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "util/buf.h"
#include "util/timeutil.h"

#define DEMO_PROVINCE "000.00.00.H34"

static const char DEMO_USAGE[] =
    "Usage: lienthong demo --data DIR\n"
    "\n"
    "Loads the demo province Kon Tum (000.00.00.H34): UBND tinh Kon Tum, six of its agencies and\n"
    "four connected systems with fixed, published demo secrets, then prints their credentials.\n"
    "Running it again changes nothing and prints the credentials again.\n"
    "The demo secrets are public: never use them on a server reachable by real systems.\n";

struct demo_agency {
    const char *id, *name, *parent;
};

static const struct demo_agency demo_agencies[] = {
    {DEMO_PROVINCE, "UBND tỉnh Kon Tum", NULL},
    {"000.00.01.H34", "Văn phòng UBND tỉnh Kon Tum", DEMO_PROVINCE},
    {"000.00.03.H34", "Sở Kế hoạch và Đầu tư tỉnh Kon Tum", DEMO_PROVINCE},
    {"000.00.06.H34", "Sở Tư pháp tỉnh Kon Tum", DEMO_PROVINCE},
    {"000.00.10.H34", "Sở Nội vụ tỉnh Kon Tum", DEMO_PROVINCE},
    {"000.00.13.H34", "Sở Thông tin và Truyền thông tỉnh Kon Tum", DEMO_PROVINCE},
    {"000.00.31.H34", "UBND thành phố Kon Tum", DEMO_PROVINCE},
};

struct demo_system {
    const char *id, *agency;
    enum store_system_status status;
    const char *secret;
    const char *serves[3]; /* besides the system's own id; NULL-terminated when shorter */
};

static const struct demo_system demo_systems[] = {
    {"000.00.01.H34",
     "000.00.01.H34",
     STORE_SYSTEM_OFFICIAL,
     "demo-secret-vpubnd",
     {DEMO_PROVINCE, "000.00.03.H34", NULL}},
    {"000.00.13.H34",
     "000.00.13.H34",
     STORE_SYSTEM_OFFICIAL,
     "demo-secret-sotttt",
     {"000.00.10.H34", NULL, NULL}},
    {"000.00.06.H34", "000.00.06.H34", STORE_SYSTEM_TRIAL, "demo-secret-sotp", {NULL, NULL, NULL}},
    {"000.00.31.H34",
     "000.00.31.H34",
     STORE_SYSTEM_OFFICIAL,
     "demo-secret-ubndtp",
     {NULL, NULL, NULL}},
};

#define N_DEMO_AGENCIES (sizeof demo_agencies / sizeof demo_agencies[0])
#define N_DEMO_SYSTEMS (sizeof demo_systems / sizeof demo_systems[0])
#define N_SERVES_MAX (sizeof demo_systems[0].serves / sizeof demo_systems[0].serves[0])

struct demo_ctx {
    int already; /* the province existed: nothing was changed */
};

static int demo_exists(struct store *st, const char *cmd, const char *what, const char *id,
                       int *ret_exists)
{
    enum store_rc rc;
    if (strcmp(what, "agency") == 0) {
        struct store_agency a = {0};
        rc = st->agency_get(st->cls, id, &a);
        if (rc == STORE_ONE_RESULT)
            store_agency_clear(&a);
    } else {
        struct store_system s = {0};
        rc = st->system_get(st->cls, id, &s);
        if (rc == STORE_ONE_RESULT)
            store_system_clear(&s);
    }
    *ret_exists = rc == STORE_ONE_RESULT;
    return rc == STORE_ONE_RESULT ? CLI_TX_OK : cli_tx_rc(rc, cmd, "looking up the registry");
}

static int demo_tx(struct store *st, void *vctx)
{
    const char *cmd = "demo";
    struct demo_ctx *c = vctx;
    int exists, r;
    c->already = 0;
    if ((r = demo_exists(st, cmd, "agency", DEMO_PROVINCE, &exists)) != CLI_TX_OK)
        return r;
    if (exists) {
        c->already = 1;
        return CLI_TX_OK; /* committing an empty transaction changes nothing */
    }
    for (size_t i = 0; i < N_DEMO_AGENCIES; i++) {
        if ((r = demo_exists(st, cmd, "agency", demo_agencies[i].id, &exists)) != CLI_TX_OK)
            return r;
        if (exists) {
            cli_fail(cmd,
                     "agency %s already exists in this store (but not the demo province); "
                     "load the demo into an empty data directory. Nothing was changed",
                     demo_agencies[i].id);
            return CLI_TX_FAIL;
        }
    }
    for (size_t i = 0; i < N_DEMO_SYSTEMS; i++) {
        if ((r = demo_exists(st, cmd, "system", demo_systems[i].id, &exists)) != CLI_TX_OK)
            return r;
        if (exists) {
            cli_fail(cmd,
                     "system %s already exists in this store; load the demo into an empty data "
                     "directory. Nothing was changed",
                     demo_systems[i].id);
            return CLI_TX_FAIL;
        }
    }

    int64_t now = now_ms();
    for (size_t i = 0; i < N_DEMO_AGENCIES; i++) {
        const struct demo_agency *d = &demo_agencies[i];
        struct store_agency a = {
            .id = (char *)d->id,
            .name = (char *)d->name,
            .parent_id = (char *)d->parent,
            .created_ms = now,
            .updated_ms = now,
        };
        if ((r = cli_tx_rc(st->agency_put(st->cls, &a), cmd, "adding an agency")) != CLI_TX_OK ||
            (r = cli_tx_rc(cli_txlog_operator(st, "agency.add", d->id), cmd,
                           "writing the transaction log")) != CLI_TX_OK)
            return r;
    }
    for (size_t i = 0; i < N_DEMO_SYSTEMS; i++) {
        const struct demo_system *d = &demo_systems[i];
        struct store_system s = {
            .id = (char *)d->id,
            .agency_id = (char *)d->agency,
            .status = d->status,
            .secret = (char *)d->secret,
            .created_ms = now,
            .updated_ms = now,
        };
        if ((r = cli_tx_rc(st->system_put(st->cls, &s), cmd, "adding a system")) != CLI_TX_OK)
            return r;
        for (size_t j = 0; j <= N_SERVES_MAX; j++) {
            const char *organ = j == 0 ? d->id : d->serves[j - 1];
            if (!organ)
                break;
            enum store_rc rc = st->serves_add(st->cls, d->id, organ);
            if (rc == STORE_NO_RESULTS) {
                cli_fail(cmd, "organ %s is already served by another system; nothing was changed",
                         organ);
                return CLI_TX_FAIL;
            }
            if ((r = cli_tx_rc(rc, cmd, "adding a serves entry")) != CLI_TX_OK)
                return r;
        }
        if ((r = cli_tx_rc(cli_txlog_operator(st, "system.add", d->id), cmd,
                           "writing the transaction log")) != CLI_TX_OK)
            return r;
    }
    return CLI_TX_OK;
}

/* Collects the demo systems' credentials as stored now. */
struct demo_print_ctx {
    struct cli_table *table;
    int oom;
};

static int is_demo_system(const char *id)
{
    for (size_t i = 0; i < N_DEMO_SYSTEMS; i++)
        if (strcmp(demo_systems[i].id, id) == 0)
            return 1;
    return 0;
}

static const char *demo_agency_name(const char *id)
{
    for (size_t i = 0; i < N_DEMO_AGENCIES; i++)
        if (strcmp(demo_agencies[i].id, id) == 0)
            return demo_agencies[i].name;
    return id;
}

static int demo_print_cb(void *vctx, const struct store_system *s, char *const *serves,
                         size_t n_serves)
{
    struct demo_print_ctx *c = vctx;
    if (!is_demo_system(s->id))
        return 0;
    struct buf b = {0};
    for (size_t i = 0; i < n_serves; i++)
        if (buf_printf(&b, "%s%s", i ? "," : "", serves[i]) != 0)
            c->oom = 1;
    const char *row[] = {s->id, demo_agency_name(s->agency_id),
                         s->status == STORE_SYSTEM_TRIAL ? "trial" : "official", b.data, s->secret};
    if (cli_table_add(c->table, row) != 0)
        c->oom = 1;
    buf_free(&b);
    return c->oom;
}

int cmd_demo(int argc, char **argv)
{
    const char *cmd = "demo";
    const char *data;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, DEMO_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct demo_ctx c = {0};
    r = cli_write_tx(st, cmd, demo_tx, &c);
    if (r != CLI_EXIT_OK) {
        store_close(st);
        return r;
    }

    struct cli_table table;
    const char *headers[] = {"systemId", "agency", "status", "serves", "secret"};
    struct demo_print_ctx pc = {&table, 0};
    if (cli_table_init(&table, 5, headers) != 0) {
        store_close(st);
        return cli_fail(cmd, "out of memory");
    }
    enum store_rc rc = st->system_list(st->cls, demo_print_cb, &pc);
    store_close(st);
    if (pc.oom || (rc != STORE_ONE_RESULT && rc != STORE_NO_RESULTS)) {
        cli_table_free(&table);
        return cli_fail(cmd, pc.oom ? "out of memory" : "store error while listing systems");
    }
    if (c.already)
        printf("demo province Kon Tum (%s) is already loaded; nothing was changed.\n",
               DEMO_PROVINCE);
    else
        printf("demo province Kon Tum (%s) loaded: %zu agencies, %zu systems.\n", DEMO_PROVINCE,
               N_DEMO_AGENCIES, N_DEMO_SYSTEMS);
    cli_table_print(&table, stdout);
    cli_table_free(&table);
    printf("These are DEMO credentials, published in the documentation: never use them on a "
           "server real systems connect to.\n");
    return CLI_EXIT_OK;
}
