/* cmd_stats — "lienthong stats": the figures of a period, read straight from the store: the
 * document exchange per organ (src/report/stats.c), then the data-sharing gateway's calls per
 * service, consumer, provider and day or month, and the connected systems
 * (src/report/callstats.c). This file only turns the command line into a period and prints both
 * reports. Days are local calendar days; --to is inclusive, so the period ends at the start of
 * the day after it. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "report/callstats.h"
#include "report/relaystats.h"
#include "report/stats.h"
#include "util/timeutil.h"

static const char STATS_USAGE[] =
    "Usage: lienthong stats --data DIR [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
    "                       [--period day|month] [--json]\n"
    "\n"
    "Figures from the start of --from to the end of --to (both local days, inclusive;\n"
    "unbounded when absent):\n"
    "  documents  documents and status messages sent and received per organ;\n"
    "  gateway    data-sharing calls per service, consumer system, provider system and\n"
    "             --period (local day or month; default day): calls, successes (HTTP status\n"
    "             below 400), 4xx and 5xx errors, bytes, latency p50/p90/p99/max (within\n"
    "             1.6%); systems connected officially and on trial, and how many of them\n"
    "             made or served a call.\n"
    "Text tables by default. --json prints one object: the documents figures as its members\n"
    "(from, to, agencies, total) and the gateway figures under \"gateway\".\n";

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
    const char *data, *from, *to, *period_s;
    int as_json;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},       {"from", &from, NULL, 0},    {"to", &to, NULL, 0},
        {"period", &period_s, NULL, 0}, {"json", NULL, &as_json, 0}, {NULL, NULL, NULL, 0},
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
    enum callstats_period period = CALLSTATS_DAY;
    if (period_s && callstats_period_parse(period_s, &period) != 0)
        return cli_misuse(cmd, STATS_USAGE, "--period '%s' is neither day nor month", period_s);

    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct stats_result res;
    struct callstats_result calls;
    struct relaystats_result relay;
    memset(&res, 0, sizeof res);
    memset(&calls, 0, sizeof calls);
    memset(&relay, 0, sizeof relay);
    int cr = stats_collect(st, from_ms, to_ms, &res);
    if (cr == 0)
        cr = callstats_collect(st, from_ms, to_ms, period, &calls);
    if (cr == 0)
        cr = relaystats_collect(st, from_ms, to_ms, &relay);
    store_close(st);
    if (cr != 0) {
        stats_result_clear(&res);
        callstats_result_clear(&calls);
        return cli_fail(cmd, "store error while computing the statistics");
    }
    r = CLI_EXIT_OK;
    if (as_json) {
        json_t *j = stats_to_json(&res, from, to);
        json_t *g = callstats_to_json(&calls, from, to);
        json_t *rl = relaystats_to_json(&relay);
        if (!j || !g || !rl || json_object_set_new(j, "gateway", g) != 0 ||
            json_object_set_new(j, "relay", rl) != 0 ||
            json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
            r = cli_fail(cmd, "cannot render the statistics as JSON");
        else
            fputc('\n', stdout);
        if (!j) {
            json_decref(g);
            json_decref(rl);
        }
        json_decref(j);
    } else {
        printf("period (kỳ thống kê): %s .. %s\n", from ? from : "(start)", to ? to : "(now)");
        printf("\nVăn bản điện tử\n\n");
        stats_print_text(&res, stdout);
        printf("\nChia sẻ dữ liệu (LGSP)\n\n");
        callstats_print_text(&calls, stdout);
        printf("\nLiên thông với nền tảng khác (gói tin)\n\n");
        relaystats_print_text(&relay, stdout);
    }
    stats_result_clear(&res);
    callstats_result_clear(&calls);
    relaystats_result_clear(&relay);
    return r;
}
