/* cmd_audit — "lienthong audit verify": walks the transaction log's hash chain (audit_verify in
 * src/audit) and says whether it is intact or where it first breaks. The exit status is the
 * verdict (0 intact, 1 broken or unreadable) so that it can run from cron or monitoring. */
#include <stdio.h>

#include "audit/chain.h"
#include "cli/cli_util.h"
#include "cli/commands.h"

static const char AUDIT_USAGE[] =
    "Usage: lienthong audit verify --data DIR\n"
    "\n"
    "Checks the hash chain of the transaction log: every record's hash, its link to the\n"
    "previous record and the recorded head. Prints\n"
    "  audit: N records verified, chain intact            (exit 0)\n"
    "  audit: chain broken at record S: REASON            (exit 1)\n";

static int audit_verify_cmd(int argc, char **argv)
{
    const char *cmd = "audit verify";
    const char *data;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, AUDIT_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct audit_report rep = {0};
    int vr = audit_verify(st, &rep);
    store_close(st);
    if (vr != 0)
        return cli_fail(cmd, "cannot read the transaction log");
    if (rep.ok) {
        printf("audit: %lld records verified, chain intact\n", (long long)rep.records);
        return CLI_EXIT_OK;
    }
    printf("audit: chain broken at record %lld: %s\n", (long long)rep.broken_seq,
           *rep.reason ? rep.reason : "unknown reason");
    return CLI_EXIT_FAIL;
}

int cmd_audit(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"verify", audit_verify_cmd},
        {NULL, NULL},
    };
    return cli_dispatch(argc, argv, subs, AUDIT_USAGE);
}
