/* cli_util — what every lienthong subcommand shares: option parsing (a thin getopt_long
 * wrapper with --help and required options), subcommand dispatch, opening the store named by
 * --data, running a write transaction with retries, and printing aligned text tables.
 *
 * Exit-status convention (see commands.h): 0 success, 1 failure (message on stderr), 2 misuse
 * (message and usage on stderr). Functions below that "return an exit status" print what the
 * user needs to see before returning it. Messages name the command, e.g.
 * "lienthong agency add: missing --id". */
#ifndef LT_CLI_UTIL_H
#define LT_CLI_UTIL_H

#include <stddef.h>
#include <jansson.h>
#include <stdio.h>

#include "store/store.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* cli_parse() returns this when the caller should go on with the parsed options. */
#define CLI_CONTINUE (-1)

/* One long option. Exactly one of value / flag is set:
 *   value: the option takes an argument; *value gets it (NULL when the option is absent);
 *   flag:  the option takes none; *flag gets 1 when present (0 otherwise).
 * required: absence is a misuse. A list ends with an entry whose name is NULL. */
struct cli_opt {
    const char *name; /* without the leading "--" */
    const char **value;
    int *flag;
    int required;
};

/* Parses argv[1..argc) against opts; argv[0] names the command in messages (e.g. "agency add",
 * see cli_parse_named) and is never parsed. "--help" or "-h" anywhere prints usage on stdout and
 * yields exit status 0. Unknown options, a missing or empty argument, a missing required option
 * or any positional argument print a message and usage on stderr and yield 2. Otherwise returns
 * CLI_CONTINUE with the outputs filled in. Not thread-safe (getopt state). */
int cli_parse(int argc, char **argv, const struct cli_opt *opts, const char *usage);
/* Same, with the command name for messages given explicitly (argv[0] is ignored). */
int cli_parse_named(const char *cmd, int argc, char **argv, const struct cli_opt *opts,
                    const char *usage);

/* Prints "lienthong CMD: MESSAGE" and the usage on stderr; returns CLI_EXIT_USAGE. */
int cli_misuse(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints "lienthong CMD: MESSAGE" on stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A subcommand: argv[0] of the handler is the subcommand word. */
struct cli_sub {
    const char *name;
    int (*run)(int argc, char **argv);
};

/* Dispatches argv[1] (argv[0] is the command word) to one of subs (ended by a NULL name).
 * "--help"/"-h" or no subcommand with --help prints usage on stdout (0); a missing or unknown
 * subcommand is a misuse (2). Returns the handler's exit status otherwise. */
int cli_dispatch(int argc, char **argv, const struct cli_sub *subs, const char *usage);

/* Opens the SQLite store in dir (created when missing). On failure prints
 * "lienthong: cannot open data directory DIR: REASON" on stderr and returns NULL. Close with
 * store_close(). */
struct store *cli_open_store(const char *dir);
/* The same for commands that only read or change what is there: a directory without a store
 * is an error ("no lienthong data in DIR"), not a new empty store. */
struct store *cli_open_existing_store(const char *dir);

/* Runs fn inside one write transaction: write_begin, fn, write_commit; rolls back when fn
 * fails. fn returns CLI_TX_OK (commit), CLI_TX_FAIL (it printed why; roll back) or
 * CLI_TX_RETRY (a soft store error: roll back and run the whole transaction again); a soft error
 * from write_begin or write_commit is retried the same way, a few times. fn may run several
 * times, so it must not print on success nor keep state between runs other than through ctx it
 * resets itself. Returns CLI_EXIT_OK or CLI_EXIT_FAIL (with a message). */
#define CLI_TX_OK 0
#define CLI_TX_FAIL 1
#define CLI_TX_RETRY 2
int cli_write_tx(struct store *st, const char *cmd, int (*fn)(struct store *st, void *ctx),
                 void *ctx);
/* Maps a store return code to CLI_TX_*, printing "lienthong CMD: store error while WHAT" on a
 * hard error. Success (ONE_RESULT or NO_RESULTS) maps to CLI_TX_OK: check the code itself
 * when "not found" matters. */
int cli_tx_rc(enum store_rc rc, const char *cmd, const char *what);

/* Appends the operator's transaction-log record for a registry change (actor "operator",
 * content_sha256 "", outcome "ok"). Returns a store code. */
enum store_rc cli_txlog_operator(struct store *st, const char *operation, const char *object_id);

/* A text table with columns aligned by displayed characters (UTF-8 aware, so Vietnamese names
 * line up). Cells are copied. */
struct cli_table {
    size_t ncols;
    size_t nrows; /* data rows; the header is row 0 of cells */
    char **cells; /* (nrows + 1) * ncols */
    size_t cap_rows;
};
/* headers: ncols strings. Returns 0, or -1 on allocation failure. */
int cli_table_init(struct cli_table *t, size_t ncols, const char *const *headers);
/* Adds one row of ncols strings (NULL prints as "-"). Returns 0, or -1 on allocation failure. */
int cli_table_add(struct cli_table *t, const char *const *row);
void cli_table_print(const struct cli_table *t, FILE *out);
void cli_table_free(struct cli_table *t);

/* Splits a comma-separated list, trimming spaces and dropping empty items. *ret_items gets an
 * array of malloc'd strings (free with cli_strv_free). Returns the count, or -1 on allocation
 * failure. */
/* A secret given to a command: --secret SECRET, --secret - (the first line of standard input) or
 * --secret-file FILE (its first line), so that it need not appear in the process list. Checked:
 * 1 to CLI_SECRET_MAX bytes without control characters, and at least CLI_SECRET_MIN characters
 * unless weak (--weak-secret: the operator means it). The text goes into buf (CLI_SECRET_MAX + 2
 * bytes). Returns CLI_CONTINUE with *ret = the secret, or NULL when neither option was given;
 * otherwise an exit status, with the message printed. */
#define CLI_SECRET_MAX 256
#define CLI_SECRET_MIN 16
int cli_secret(const char *cmd, const char *usage, const char *arg, const char *file, int weak,
               char buf[CLI_SECRET_MAX + 2], const char **ret);

/* A non-negative decimal integer (digits only) up to max. Returns 0, or -1. */
int cli_parse_count(const char *s, int64_t max, int64_t *ret);
/* ISO 8601 UTC time, or "-" for 0. */
void cli_iso_time(int64_t ms, char out[25]);
/* Prints a JSON value on stdout, indented (the caller keeps its reference). */
int cli_print_json(const char *cmd, json_t *v);

long cli_split_list(const char *s, char ***ret_items);
void cli_strv_free(char **v, size_t n);

#endif
