/* cmd_stats — "lienthong stats": the exchange figures per organ over a period, read straight from
 * the store (src/report/stats.c computes and renders them; this file only turns the command line
 * into a period). Days are local calendar days; --to is inclusive, so the period ends at the
 * start of the day after it. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "report/stats.h"
#include "util/timeutil.h"

static const char STATS_USAGE[] =
    "Usage: lienthong stats --data DIR [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json]\n"
    "\n"
    "Documents and status messages sent and received per organ, from the start of --from to\n"
    "the end of --to (both local days, inclusive; unbounded when absent). A text table by\n"
    "default, JSON with --json.\n";

/* Start of the local day after the one starting at day_ms. */
static int next_local_day(int64_t day_ms, int64_t *ret_ms)
{
    time_t t = (time_t)(day_ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return -1;
    tm.tm_mday++;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    time_t n = mktime(&tm);
    if (n == (time_t)-1)
        return -1;
    *ret_ms = (int64_t)n * 1000;
    return 0;
}

int cmd_stats(int argc, char **argv)
{
    const char *cmd = "stats";
    const char *data, *from, *to;
    int as_json;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},    {"from", &from, NULL, 0}, {"to", &to, NULL, 0},
        {"json", NULL, &as_json, 0}, {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, STATS_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    int64_t from_ms = 0, to_ms = 0, to_day_ms;
    if (from && parse_local_date(from, &from_ms) != 0)
        return cli_misuse(cmd, STATS_USAGE, "--from '%s' is not a date YYYY-MM-DD", from);
    if (to && (parse_local_date(to, &to_day_ms) != 0 || next_local_day(to_day_ms, &to_ms) != 0))
        return cli_misuse(cmd, STATS_USAGE, "--to '%s' is not a date YYYY-MM-DD", to);
    if (from && to && from_ms >= to_ms)
        return cli_misuse(cmd, STATS_USAGE, "--from %s is after --to %s", from, to);

    struct store *st = cli_open_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct stats_result res;
    memset(&res, 0, sizeof res);
    int cr = stats_collect(st, from_ms, to_ms, &res);
    store_close(st);
    if (cr != 0) {
        stats_result_clear(&res);
        return cli_fail(cmd, "store error while computing the statistics");
    }
    r = CLI_EXIT_OK;
    if (as_json) {
        json_t *j = stats_to_json(&res, from, to);
        if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
            r = cli_fail(cmd, "cannot render the statistics as JSON");
        else
            fputc('\n', stdout);
        json_decref(j);
    } else {
        printf("period (kỳ thống kê): %s .. %s\n", from ? from : "(start)", to ? to : "(now)");
        stats_print_text(&res, stdout);
    }
    stats_result_clear(&res);
    return r;
}
