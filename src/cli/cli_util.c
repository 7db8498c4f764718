/* cli_util — see cli_util.h. Option parsing wraps getopt_long so that every subcommand gets the
 * same behaviour for free: --help on stdout with exit 0, misuse on stderr with exit 2, required
 * options checked in one place, no positional arguments slipping through unnoticed. */
#include "cli/cli_util.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/timeutil.h"

#define CLI_MAX_OPTS 32
#define CLI_TX_ATTEMPTS 10

static void vmessage(const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "lienthong %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_misuse(const char *cmd, const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, fmt, ap);
    va_end(ap);
    fputs(usage, stderr);
    return CLI_EXIT_USAGE;
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, fmt, ap);
    va_end(ap);
    return CLI_EXIT_FAIL;
}

static int is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

int cli_parse_named(const char *cmd, int argc, char **argv, const struct cli_opt *opts,
                    const char *usage)
{
    struct option lo[CLI_MAX_OPTS + 2];
    size_t n = 0;

    /* --help wins over everything else, even over a malformed command line. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (is_help(argv[i])) {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        }
    }
    for (; opts[n].name; n++) {
        if (n == CLI_MAX_OPTS)
            return cli_fail(cmd, "internal error: too many options");
        lo[n] = (struct option){opts[n].name, opts[n].value ? required_argument : no_argument, NULL,
                                (int)n + 1};
        if (opts[n].value)
            *opts[n].value = NULL;
        if (opts[n].flag)
            *opts[n].flag = 0;
    }
    lo[n] = (struct option){"help", no_argument, NULL, 'h'};
    lo[n + 1] = (struct option){NULL, 0, NULL, 0};

    optind = 0; /* glibc: full re-initialisation, as several commands may parse in one process */
    opterr = 0;
    for (;;) {
        int prev = optind ? optind : 1;
        int c = getopt_long(argc, argv, "+:h", lo, NULL);
        if (c == -1)
            break;
        if (c == '?' || c == ':') {
            const char *bad = prev < argc ? argv[prev] : "?";
            if (c == ':')
                return cli_misuse(cmd, usage, "option %s needs a value", bad);
            const char *eq = strchr(bad, '=');
            for (size_t i = 0; eq && strncmp(bad, "--", 2) == 0 && i < n; i++)
                if (opts[i].flag && strlen(opts[i].name) == (size_t)(eq - bad - 2) &&
                    strncmp(bad + 2, opts[i].name, (size_t)(eq - bad - 2)) == 0)
                    return cli_misuse(cmd, usage, "option --%s takes no value", opts[i].name);
            return cli_misuse(cmd, usage, "unknown or ambiguous option %s", bad);
        }
        if (c == 'h') {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        }
        const struct cli_opt *o = &opts[c - 1];
        /* getopt_long accepts unambiguous abbreviations; scripts that rely on them break as soon
         * as an option is added, so only full names are accepted. */
        const char *tok = argv[prev];
        size_t len = strcspn(tok + 2, "=");
        if (strncmp(tok, "--", 2) != 0 || len != strlen(o->name) ||
            strncmp(tok + 2, o->name, len) != 0)
            return cli_misuse(cmd, usage, "unknown option %.*s (did you mean --%s?)",
                              (int)(len + 2), tok, o->name);
        if (o->value && !*optarg)
            return cli_misuse(cmd, usage, "option --%s needs a non-empty value", o->name);
        if (o->value)
            *o->value = optarg;
        if (o->flag)
            *o->flag = 1;
    }
    if (optind < argc)
        return cli_misuse(cmd, usage, "unexpected argument '%s'", argv[optind]);
    for (size_t i = 0; i < n; i++)
        if (opts[i].required && opts[i].value && !*opts[i].value)
            return cli_misuse(cmd, usage, "missing --%s", opts[i].name);
    return CLI_CONTINUE;
}

int cli_parse(int argc, char **argv, const struct cli_opt *opts, const char *usage)
{
    return cli_parse_named(argc > 0 ? argv[0] : "?", argc, argv, opts, usage);
}

int cli_dispatch(int argc, char **argv, const struct cli_sub *subs, const char *usage)
{
    const char *cmd = argc > 0 ? argv[0] : "?";
    if (argc < 2)
        return cli_misuse(cmd, usage, "missing subcommand");
    if (is_help(argv[1])) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    for (const struct cli_sub *s = subs; s->name; s++)
        if (strcmp(argv[1], s->name) == 0)
            return s->run(argc - 1, argv + 1);
    return cli_misuse(cmd, usage, "unknown subcommand '%s'", argv[1]);
}

struct store *cli_open_store(const char *dir)
{
    char err[256] = "";
    if (!dir || !*dir) {
        fprintf(stderr, "lienthong: --data needs a directory\n");
        return NULL;
    }
    struct store *st = store_sqlite_open(dir, err, sizeof err);
    if (!st)
        fprintf(stderr, "lienthong: cannot open data directory %s: %s\n", dir,
                *err ? err : "unknown error");
    return st;
}

/* The first line of f (its end of line removed) into buf; 0, or -1 when it is longer. */
static int first_line(FILE *f, char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, f)) {
        buf[0] = '\0';
        return 0;
    }
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (n == cap - 1)
        return -1;
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return 0;
}

int cli_secret(const char *cmd, const char *usage, const char *arg, const char *file, int weak,
               char buf[CLI_SECRET_MAX + 2], const char **ret)
{
    *ret = NULL;
    if (arg && file)
        return cli_misuse(cmd, usage, "give the secret with --secret or --secret-file, not both");
    if (!arg && !file)
        return CLI_CONTINUE;
    const char *secret = arg;
    if (file || strcmp(arg, "-") == 0) {
        FILE *f = file ? fopen(file, "r") : stdin;
        if (!f)
            return cli_fail(cmd, "cannot read --secret-file %s: %s", file, strerror(errno));
        int r = first_line(f, buf, CLI_SECRET_MAX + 2);
        if (file)
            fclose(f);
        if (r != 0)
            return cli_misuse(cmd, usage, "the secret must be at most %d bytes", CLI_SECRET_MAX);
        secret = buf;
    }
    size_t n = strlen(secret);
    if (n == 0 || n > CLI_SECRET_MAX)
        return cli_misuse(cmd, usage, "the secret must be 1 to %d bytes", CLI_SECRET_MAX);
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)secret[i] < 0x20 || secret[i] == 0x7f)
            return cli_misuse(cmd, usage, "the secret must not contain control characters");
        chars += ((unsigned char)secret[i] & 0xc0) != 0x80;
    }
    if (chars < CLI_SECRET_MIN && !weak)
        return cli_misuse(cmd, usage,
                          "the secret has %zu characters: one shorter than %d is easy to guess "
                          "(anyone who does acts in the system's name); give a longer one, or "
                          "--weak-secret if that is really meant",
                          chars, CLI_SECRET_MIN);
    if (secret != buf) {
        memcpy(buf, secret, n + 1);
        secret = buf;
    }
    *ret = secret;
    return CLI_CONTINUE;
}

struct store *cli_open_existing_store(const char *dir)
{
    char path[4096];
    struct stat sb;
    if (dir && *dir) {
        snprintf(path, sizeof path, "%s/lienthong.db", dir);
        if (stat(path, &sb) != 0) {
            fprintf(stderr,
                    "lienthong: no lienthong data in %s (%s): nothing to read or change there; "
                    "'lienthong serve --data %s' or a command that adds something creates it\n",
                    dir, strerror(errno), dir);
            return NULL;
        }
    }
    return cli_open_store(dir);
}

int cli_tx_rc(enum store_rc rc, const char *cmd, const char *what)
{
    switch (rc) {
    case STORE_ONE_RESULT:
    case STORE_NO_RESULTS:
        return CLI_TX_OK;
    case STORE_SOFT_ERROR:
        return CLI_TX_RETRY;
    case STORE_HARD_ERROR:
    default:
        cli_fail(cmd, "store error while %s", what);
        return CLI_TX_FAIL;
    }
}

int cli_write_tx(struct store *st, const char *cmd, int (*fn)(struct store *st, void *ctx),
                 void *ctx)
{
    for (int attempt = 0; attempt < CLI_TX_ATTEMPTS; attempt++) {
        enum store_rc rc = st->write_begin(st->cls);
        if (rc == STORE_SOFT_ERROR)
            continue;
        if (rc != STORE_ONE_RESULT && rc != STORE_NO_RESULTS)
            return cli_fail(cmd, "cannot start a write transaction");
        int r = fn(st, ctx);
        if (r != CLI_TX_OK) {
            st->write_rollback(st->cls);
            if (r == CLI_TX_RETRY)
                continue;
            return CLI_EXIT_FAIL;
        }
        /* A failed commit has ended (rolled back) the transaction already. */
        rc = st->write_commit(st->cls);
        if (rc == STORE_SOFT_ERROR)
            continue;
        if (rc != STORE_ONE_RESULT && rc != STORE_NO_RESULTS)
            return cli_fail(cmd, "cannot commit the transaction; nothing was changed");
        return CLI_EXIT_OK;
    }
    return cli_fail(cmd, "the store stayed busy; nothing was changed, try again");
}

enum store_rc cli_txlog_operator(struct store *st, const char *operation, const char *object_id)
{
    struct store_txrec rec = {
        .time_ms = now_ms(),
        .actor = "operator",
        .operation = operation,
        .package_id = object_id ? object_id : "",
        .content_sha256 = "",
        .outcome = "ok",
    };
    return st->txlog_append(st->cls, &rec);
}

/* Displayed width: UTF-8 code points (continuation bytes do not count). */
static size_t display_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

int cli_table_init(struct cli_table *t, size_t ncols, const char *const *headers)
{
    *t = (struct cli_table){.ncols = ncols};
    return cli_table_add(t, headers);
}

int cli_table_add(struct cli_table *t, const char *const *row)
{
    size_t used = t->cells ? t->nrows + 1 : 0; /* rows stored, header included */
    if (used == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 8;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (!c)
            return -1;
        t->cells = c;
        t->cap_rows = cap;
    }
    char **dst = t->cells + used * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        dst[i] = strdup(row[i] ? row[i] : "-");
        if (!dst[i]) {
            for (size_t j = 0; j < i; j++)
                free(dst[j]);
            return -1;
        }
    }
    if (used > 0)
        t->nrows++;
    return 0;
}

void cli_table_print(const struct cli_table *t, FILE *out)
{
    if (!t->cells)
        return;
    size_t width[CLI_MAX_OPTS] = {0};
    size_t ncols = t->ncols < CLI_MAX_OPTS ? t->ncols : CLI_MAX_OPTS;
    for (size_t r = 0; r <= t->nrows; r++)
        for (size_t c = 0; c < ncols; c++) {
            size_t w = display_width(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            fputs(cell, out);
            if (c + 1 < ncols)
                fprintf(out, "%*s", (int)(width[c] - display_width(cell) + 2), "");
        }
        fputc('\n', out);
    }
}

void cli_table_free(struct cli_table *t)
{
    if (t->cells) {
        for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
            free(t->cells[i]);
        free(t->cells);
    }
    *t = (struct cli_table){0};
}

void cli_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

long cli_split_list(const char *s, char ***ret_items)
{
    char **items = NULL;
    size_t n = 0;
    const char *p = s;
    while (p && *p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            char **grown = realloc(items, (n + 1) * sizeof *grown);
            char *item = grown ? strndup(a, (size_t)(b - a)) : NULL;
            if (grown)
                items = grown;
            if (!item) {
                cli_strv_free(items, n);
                return -1;
            }
            items[n++] = item;
        }
        p = *end ? end + 1 : end;
    }
    *ret_items = items;
    return (long)n;
}

int cli_parse_count(const char *s, int64_t max, int64_t *ret)
{
    int64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        int d = *s - '0';
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *ret = v;
    return 0;
}

void cli_iso_time(int64_t ms, char out[25])
{
    if (ms > 0)
        fmt_iso_utc(ms, out);
    else
        strcpy(out, "-");
}

int cli_print_json(const char *cmd, json_t *v)
{
    if (!v)
        return cli_fail(cmd, "out of memory");
    int rc = json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    return rc == 0 ? CLI_EXIT_OK : cli_fail(cmd, "cannot write JSON");
}
