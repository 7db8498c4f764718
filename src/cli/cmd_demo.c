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
 * The data-sharing gateway part: four services modelled on the province's shared data, whose
 * upstream is `lienthong demo-upstream` (base URL --upstream, default http://127.0.0.1:8081;
 * `make run` starts it), and access rights for the demo consumers:
 *
 *   hotich/v1  civil status (ho tich)      REST  provider 000.00.06.H34 (So Tu phap)
 *   lylich/v1  judicial records (LLTP)     REST  provider 000.00.06.H34
 *   dkkd/v1    business registration       SOAP  provider 000.00.01.H34 (serves So KH&DT)
 *   mqhns/v1   budget-unit codes (QHNS)    REST  provider 000.00.13.H34 (So TT&TT, which hosts
 *                                                the province's shared code lists)
 *   000.00.01.H34 (Van phong UBND tinh) may call all four;
 *   000.00.31.H34 (one-stop shop of UBND thanh pho) hotich/v1 (GET) and dkkd/v1 (POST);
 *   000.00.13.H34 lylich/v1 (GET, /phieu only), an example of a path-restricted right.
 *
 * Idempotent: when the province agency already exists the registry is left as it is and the
 * credentials (as currently stored, so a rotated secret shows its new value) are printed again.
 * Everything else is loaded in one write transaction with a transaction-log record per object,
 * exactly as "agency add" / "system add" / "service add" / "access grant" would write them; if
 * any demo agency or system already exists (without the province), or a demo organ is already
 * served by another system, nothing is loaded. A demo service is published (with its rights)
 * only when it does not exist yet and its provider is registered, so a data directory loaded
 * before the gateway existed gains the services, and running the demo again changes nothing. */
#include <stdio.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "gateway/catalogue.h"
#include "util/buf.h"
#include "util/timeutil.h"

#define DEMO_PROVINCE "000.00.00.H34"
#define DEMO_UPSTREAM "http://127.0.0.1:8081"
#define DEMO_CALLER "000.00.01.H34" /* the system of the curl example */

static const char DEMO_USAGE[] =
    "Usage: lienthong demo --data DIR [--upstream URL]\n"
    "\n"
    "Loads the demo province Kon Tum (000.00.00.H34): UBND tinh Kon Tum, six of its agencies and\n"
    "four connected systems with fixed, published demo secrets, then prints their credentials.\n"
    "It also publishes four gateway services (hotich/v1, lylich/v1, dkkd/v1, mqhns/v1) whose\n"
    "provider systems are those of 'lienthong demo-upstream' at URL (default\n"
    "http://127.0.0.1:8081), and grants the demo systems access to them.\n"
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

struct demo_service {
    const char *code, *path, *provider, *name, *description;
    enum store_protocol protocol;
};

static const struct demo_service demo_services[] = {
    {"hotich", "/hotich", "000.00.06.H34", "Tra cứu hộ tịch (khai sinh, kết hôn)",
     "Cơ sở dữ liệu hộ tịch điện tử của Sở Tư pháp: GET /khaisinh?so=N, GET /kethon?so=N",
     STORE_PROTO_REST},
    {"lylich", "/lylich", "000.00.06.H34", "Tra cứu hồ sơ lý lịch tư pháp",
     "Tình trạng hồ sơ cấp phiếu lý lịch tư pháp: GET /phieu?cccd=N", STORE_PROTO_REST},
    {"dkkd", "/dkkd", "000.00.01.H34", "Tra cứu đăng ký kinh doanh (SOAP)",
     "SOAP 1.1, SOAPAction urn:dkkd#TraCuuDoanhNghiep, <MaSoThue> trong thân yêu cầu",
     STORE_PROTO_SOAP},
    {"mqhns", "/mqhns", "000.00.13.H34", "Danh mục mã quan hệ ngân sách",
     "Mã đơn vị có quan hệ với ngân sách: GET /{ma}", STORE_PROTO_REST},
};

struct demo_grant {
    const char *consumer, *code, *methods, *path_prefix;
};

static const struct demo_grant demo_grants[] = {
    {"000.00.01.H34", "hotich", "", ""},
    {"000.00.01.H34", "lylich", "", ""},
    {"000.00.01.H34", "dkkd", "", ""},
    {"000.00.01.H34", "mqhns", "", ""},
    {"000.00.31.H34", "hotich", "GET", ""},
    {"000.00.31.H34", "dkkd", "POST", ""},
    {"000.00.13.H34", "lylich", "GET", "/phieu"},
};

#define DEMO_VERSION "v1"
#define N_DEMO_SERVICES (sizeof demo_services / sizeof demo_services[0])
#define N_DEMO_GRANTS (sizeof demo_grants / sizeof demo_grants[0])
#define N_DEMO_AGENCIES (sizeof demo_agencies / sizeof demo_agencies[0])
#define N_DEMO_SYSTEMS (sizeof demo_systems / sizeof demo_systems[0])
#define N_SERVES_MAX (sizeof demo_systems[0].serves / sizeof demo_systems[0].serves[0])

struct demo_ctx {
    const char *upstream;        /* base URL of the demo provider systems, without a trailing '/' */
    int already;                 /* the province existed: the registry was left as it was */
    size_t n_services, n_grants; /* published by this run */
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

/* The demo service d as a store struct (strings borrowed; url built in *url). Returns 0, or -1
 * on allocation failure. */
static int demo_service(const struct demo_service *d, const char *upstream, struct buf *url,
                        int64_t now, struct store_service *ret)
{
    buf_reset(url);
    if (buf_printf(url, "%s%s", upstream, d->path) != 0)
        return -1;
    *ret = (struct store_service){
        .code = (char *)d->code,
        .version = DEMO_VERSION,
        .provider_system = (char *)d->provider,
        .name = (char *)d->name,
        .description = (char *)d->description,
        .url = url->data,
        .protocol = d->protocol,
        .timeout_ms = 10000,
        .max_request_bytes = 1024 * 1024,
        .max_response_bytes = 10 * 1024 * 1024,
        .rate_per_s = 20,
        .burst = 40,
        .created_ms = now,
        .updated_ms = now,
    };
    return 0;
}

/* The transaction-log record of a service ("CODE/v1") or a right ("CONSUMER:CODE/v1"), named
 * as "service add" and "access grant" name them. */
static int demo_log(struct store *st, const char *cmd, const char *operation, const char *consumer,
                    const char *code)
{
    char object[160];
    snprintf(object, sizeof object, "%s%s%s/" DEMO_VERSION, consumer ? consumer : "",
             consumer ? ":" : "", code);
    return cli_tx_rc(cli_txlog_operator(st, operation, object), cmd, "writing the transaction log");
}

/* Publishes each demo service that does not exist yet and whose provider is registered, with
 * the rights of the registered demo consumers to it. */
static int demo_services_tx(struct store *st, const char *cmd, struct demo_ctx *c)
{
    int64_t now = now_ms();
    struct buf url = {0};
    int r = CLI_TX_OK;
    for (size_t i = 0; r == CLI_TX_OK && i < N_DEMO_SERVICES; i++) {
        const struct demo_service *d = &demo_services[i];
        struct store_service cur = {0};
        enum store_rc rc = st->service_get(st->cls, d->code, DEMO_VERSION, &cur);
        store_service_clear(&cur);
        if (rc == STORE_ONE_RESULT)
            continue;
        int exists;
        if ((r = cli_tx_rc(rc, cmd, "looking up a service")) != CLI_TX_OK ||
            (r = demo_exists(st, cmd, "system", d->provider, &exists)) != CLI_TX_OK || !exists)
            continue;
        struct store_service s;
        if (demo_service(d, c->upstream, &url, now, &s) != 0) {
            cli_fail(cmd, "out of memory");
            r = CLI_TX_FAIL;
            break;
        }
        if ((r = cli_tx_rc(st->service_put(st->cls, &s), cmd, "publishing a service")) !=
                CLI_TX_OK ||
            (r = demo_log(st, cmd, "service.add", NULL, d->code)) != CLI_TX_OK)
            break;
        c->n_services++;
        for (size_t j = 0; r == CLI_TX_OK && j < N_DEMO_GRANTS; j++) {
            const struct demo_grant *g = &demo_grants[j];
            if (strcmp(g->code, d->code) != 0)
                continue;
            if ((r = demo_exists(st, cmd, "system", g->consumer, &exists)) != CLI_TX_OK || !exists)
                continue;
            struct store_grant put = {
                .consumer_system = (char *)g->consumer,
                .service_code = (char *)g->code,
                .service_version = DEMO_VERSION,
                .methods = (char *)g->methods,
                .path_prefix = (char *)g->path_prefix,
                .created_ms = now,
                .updated_ms = now,
            };
            if ((r = cli_tx_rc(st->grant_put(st->cls, &put), cmd, "granting access")) ==
                    CLI_TX_OK &&
                (r = demo_log(st, cmd, "access.grant", g->consumer, g->code)) == CLI_TX_OK)
                c->n_grants++;
        }
    }
    buf_free(&url);
    return r;
}

static int demo_tx(struct store *st, void *vctx)
{
    const char *cmd = "demo";
    struct demo_ctx *c = vctx;
    int exists, r;
    c->already = 0;
    c->n_services = c->n_grants = 0;
    if ((r = demo_exists(st, cmd, "agency", DEMO_PROVINCE, &exists)) != CLI_TX_OK)
        return r;
    if (exists) {
        c->already = 1;
        return demo_services_tx(st, cmd, c);
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
    return demo_services_tx(st, cmd, c);
}

/* Collects the demo systems' credentials as stored now. */
struct demo_print_ctx {
    struct cli_table *table;
    char *caller_secret; /* DEMO_CALLER's secret as stored (for the curl example), or NULL */
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
    if (strcmp(s->id, DEMO_CALLER) == 0 && !c->caller_secret &&
        !(c->caller_secret = strdup(s->secret)))
        c->oom = 1;
    buf_free(&b);
    return c->oom;
}

/* The demo services as stored now, with the consumers that may call each. */
struct demo_services_print {
    struct store *st;
    struct cli_table *table;
    int oom, failed;
};

static int demo_consumer_cb(void *vctx, const struct store_grant *g)
{
    struct buf *b = vctx;
    return buf_printf(b, "%s%s", b->len ? "," : "", g->consumer_system) != 0;
}

static int demo_service_print_cb(void *vctx, const struct store_service *s)
{
    struct demo_services_print *c = vctx;
    int demo = 0;
    for (size_t i = 0; i < N_DEMO_SERVICES && !demo; i++)
        demo = strcmp(s->code, demo_services[i].code) == 0 && strcmp(s->version, DEMO_VERSION) == 0;
    if (!demo)
        return 0;
    struct buf ref = {0}, consumers = {0};
    if (buf_printf(&ref, "%s/%s", s->code, s->version) != 0)
        c->oom = 1;
    enum store_rc rc =
        c->st->grant_list(c->st->cls, NULL, s->code, s->version, demo_consumer_cb, &consumers);
    if (rc != STORE_ONE_RESULT && rc != STORE_NO_RESULTS)
        c->failed = 1;
    const char *row[] = {ref.data, s->provider_system, store_protocol_name(s->protocol), s->url,
                         consumers.len ? consumers.data : NULL};
    if (!c->oom && cli_table_add(c->table, row) != 0)
        c->oom = 1;
    buf_free(&ref);
    buf_free(&consumers);
    return c->oom || c->failed;
}

static int demo_print(struct store *st, const struct demo_ctx *c)
{
    const char *cmd = "demo";
    struct cli_table systems, services;
    const char *sys_headers[] = {"systemId", "agency", "status", "serves", "secret"};
    const char *svc_headers[] = {"service", "provider", "protocol", "upstream", "consumers"};
    struct demo_print_ctx pc = {&systems, NULL, 0};
    struct demo_services_print sp = {st, &services, 0, 0};
    if (cli_table_init(&systems, 5, sys_headers) != 0)
        return cli_fail(cmd, "out of memory");
    if (cli_table_init(&services, 5, svc_headers) != 0) {
        cli_table_free(&systems);
        return cli_fail(cmd, "out of memory");
    }
    enum store_rc rc = st->system_list(st->cls, demo_print_cb, &pc);
    int failed = rc != STORE_ONE_RESULT && rc != STORE_NO_RESULTS;
    if (!failed && !pc.oom) {
        rc = st->service_list(st->cls, NULL, demo_service_print_cb, &sp);
        failed = sp.failed || (rc != STORE_ONE_RESULT && rc != STORE_NO_RESULTS);
    }
    int r = CLI_EXIT_OK;
    if (pc.oom || sp.oom || failed) {
        r = cli_fail(cmd, pc.oom || sp.oom ? "out of memory" : "store error while listing");
    } else {
        if (c->already)
            printf("demo province Kon Tum (%s) is already loaded; nothing was changed in the "
                   "registry.\n",
                   DEMO_PROVINCE);
        else
            printf("demo province Kon Tum (%s) loaded: %zu agencies, %zu systems.\n", DEMO_PROVINCE,
                   N_DEMO_AGENCIES, N_DEMO_SYSTEMS);
        cli_table_print(&systems, stdout);
        printf("These are DEMO credentials, published in the documentation: never use them on a "
               "server real systems connect to.\n\n");
        if (c->n_services)
            printf("gateway services published: %zu, access rights granted: %zu.\n", c->n_services,
                   c->n_grants);
        cli_table_print(&services, stdout);
        printf("\nThe upstream systems run with 'lienthong demo-upstream' (make run starts them).\n"
               "Call a service through the gateway (replace 127.0.0.1:8080 with the address of "
               "'lienthong serve'):\n"
               "  curl -s -u %s:%s -d grant_type=client_credentials http://127.0.0.1:8080/token\n"
               "  curl -H \"Authorization: Bearer ACCESS_TOKEN\" "
               "\"http://127.0.0.1:8080/gw/hotich/v1/khaisinh?so=125/2023\"\n"
               "  curl -H \"Authorization: Bearer ACCESS_TOKEN\" "
               "http://127.0.0.1:8080/gw/mqhns/v1/1012345\n",
               DEMO_CALLER, pc.caller_secret ? pc.caller_secret : "SECRET");
    }
    free(pc.caller_secret);
    cli_table_free(&systems);
    cli_table_free(&services);
    return r;
}

int cmd_demo(int argc, char **argv)
{
    const char *cmd = "demo";
    const char *data, *upstream;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"upstream", &upstream, NULL, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, DEMO_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    /* The base without trailing slashes; each service's URL must pass the catalogue's rules. */
    char base[GW_URL_MAX + 1];
    snprintf(base, sizeof base, "%s", upstream ? upstream : DEMO_UPSTREAM);
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        base[--n] = '\0';
    struct buf url = {0};
    for (size_t i = 0; i < N_DEMO_SERVICES; i++) {
        struct store_service s;
        char detail[256];
        if (demo_service(&demo_services[i], base, &url, 0, &s) != 0) {
            buf_free(&url);
            return cli_fail(cmd, "out of memory");
        }
        if (gw_service_check(&s, detail, sizeof detail) != LT_ERR_OK) {
            buf_free(&url);
            return cli_misuse(cmd, DEMO_USAGE, "--upstream '%s' is not usable: %s", base, detail);
        }
    }
    buf_free(&url);

    struct store *st = cli_open_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct demo_ctx c = {.upstream = base};
    r = cli_write_tx(st, cmd, demo_tx, &c);
    if (r == CLI_EXIT_OK)
        r = demo_print(st, &c);
    store_close(st);
    return r;
}
