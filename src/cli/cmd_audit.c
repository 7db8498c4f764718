/* cmd_audit — "lienthong audit verify" and "lienthong audit key".
 *
 * verify walks the transaction log's hash chain (src/audit), checks the signed anchors of its
 * head against this platform's public key, re-reads every stored package and gateway call row
 * the log records and checks them against it; --quick walks the chain only. It says whether
 * all is intact or where each kind of check first failed, with counts. The exit status is the
 * verdict (0 intact, 1 not, or unreadable) so that it can run from cron or monitoring. On a
 * terminal it shows its progress.
 *
 * key prints the public key (PEM) the anchors are signed with, for a third party who verifies
 * an exported copy of the store with "audit verify --public-key FILE". */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/anchor.h"
#include "audit/chain.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "util/sign.h"

static const char AUDIT_USAGE[] =
    "Usage: lienthong audit verify --data DIR [--quick] [--public-key FILE]\n"
    "                              [--expect-anchor SEQ:SIGNATURE]\n"
    "       lienthong audit key --data DIR\n"
    "       lienthong audit anchor --data DIR\n"
    "\n"
    "verify checks the transaction log: the hash chain (every record's hash, its link to the\n"
    "previous record, the recorded head); the signed anchors of the head (with the public key\n"
    "of DIR/" ANCHOR_KEY_FILE ", or --public-key FILE for a copy checked elsewhere); and what the\n"
    "records stand for: every stored package is read back and hashed, every gateway call row\n"
    "checked against its record. --quick checks the chain only. Prints\n"
    "  audit: N records verified, chain intact\n"
    "  audit: chain broken at record S: REASON\n"
    "and a line for the anchors, the packages and the calls; exit 0 only when all is intact.\n"
    "\n"
    "key prints the public key the anchors are signed with (PEM), to give to whoever verifies.\n"
    "anchor prints the newest anchor as SEQ:SIGNATURE: kept outside the machine (a ticket, a\n"
    "mail to the auditor), it proves later with --expect-anchor that no anchor up to it was\n"
    "removed or re-signed, which a copy of the store alone cannot show.\n";

static void progress(void *ctx, int64_t done, int64_t total)
{
    (void)ctx;
    fprintf(stderr, "\raudit: %lld/%lld records", (long long)done, (long long)total);
    if (done >= total)
        fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

/* The key to check anchors with: --public-key, else the store's own; NULL when there is none
 * (*missing set) or it cannot be read (message printed, *failed set). */
static struct sign_key *anchor_key(const char *cmd, const char *data, const char *public_key,
                                   int *missing, int *failed)
{
    char path[4096], err[256] = "";
    struct stat sb;
    *missing = *failed = 0;
    if (!public_key) {
        snprintf(path, sizeof path, "%s/" ANCHOR_KEY_FILE, data);
        if (stat(path, &sb) != 0) {
            *missing = 1;
            return NULL;
        }
        public_key = path;
    }
    struct sign_key *k = sign_key_load_public(public_key, err, sizeof err);
    if (!k) {
        cli_fail(cmd, "%s", err);
        *failed = 1;
    }
    return k;
}

static int audit_verify_cmd(int argc, char **argv)
{
    const char *cmd = "audit verify";
    const char *data, *public_key, *expect;
    int quick = 0;
    const struct cli_opt opts[] = {
        {"data", &data, NULL, 1},
        {"quick", NULL, &quick, 0},
        {"public-key", &public_key, NULL, 0},
        {"expect-anchor", &expect, NULL, 0},
        {NULL, NULL, NULL, 0},
    };
    int r = cli_parse_named(cmd, argc, argv, opts, AUDIT_USAGE);
    if (r != CLI_CONTINUE)
        return r;
    if (quick && (public_key || expect))
        return cli_misuse(cmd, AUDIT_USAGE, "--quick checks no anchor");
    int missing = 0, failed = 0;
    struct sign_key *key = quick ? NULL : anchor_key(cmd, data, public_key, &missing, &failed);
    if (failed)
        return CLI_EXIT_FAIL;
    struct store *st = cli_open_existing_store(data);
    if (!st) {
        sign_key_free(key);
        return CLI_EXIT_FAIL;
    }
    struct audit_options o = {.deep = !quick, .anchor_key = key, .expect_anchor = expect};
    if (isatty(STDERR_FILENO))
        o.progress = progress;
    struct audit_report rep = {0};
    struct store_anchor last;
    enum store_rc arc = missing ? st->anchor_last(st->cls, &last) : STORE_NO_RESULTS;
    int vr = arc < 0 ? -1 : audit_verify_opts(st, &o, &rep);
    store_close(st);
    char key_id[SIGN_KEY_ID_SIZE] = "";
    if (key)
        sign_key_id(key, key_id);
    sign_key_free(key);
    if (vr != 0)
        return cli_fail(cmd, "cannot read the transaction log");
    int intact = rep.ok;
    if (!rep.broken_seq)
        printf("audit: %lld records verified, chain intact\n", (long long)rep.records);
    else
        printf("audit: chain broken at record %lld: %s\n", (long long)rep.broken_seq,
               *rep.reason ? rep.reason : "unknown reason");
    if (quick)
        return intact ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    if (missing && (arc == STORE_ONE_RESULT || expect)) {
        printf("audit: anchors NOT checked: the log has signed anchors but there is no key to "
               "check them (%s/" ANCHOR_KEY_FILE " is missing; give --public-key FILE)\n",
               data);
        intact = 0;
    } else if (missing) {
        printf("audit: no signed anchors (no server has run on this store yet)\n");
    } else if (rep.anchor_problems) {
        printf("audit: anchors: %lld of %lld do not hold; first: %s\n",
               (long long)rep.anchor_problems, (long long)rep.anchors, rep.first_anchor);
    } else {
        printf("audit: %lld anchors verified (key %s), %lld records after the newest one\n",
               (long long)rep.anchors, key_id, (long long)rep.unsigned_records);
    }
    if (rep.package_mismatches)
        printf("audit: packages: %lld of %lld do not match; first: %s\n",
               (long long)rep.package_mismatches, (long long)rep.packages, rep.first_package);
    else
        printf("audit: %lld packages re-read, all match\n", (long long)rep.packages);
    if (rep.call_mismatches)
        printf("audit: gateway calls: %lld of %lld do not match; first: %s\n",
               (long long)rep.call_mismatches, (long long)rep.calls, rep.first_call);
    else
        printf("audit: %lld gateway calls checked, all match\n", (long long)rep.calls);
    return intact ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* The options of key and anchor: --data DIR only. CLI_CONTINUE or an exit status. */
static int data_only(const char *cmd, int argc, char **argv, const char **ret_data)
{
    const struct cli_opt opts[] = {
        {"data", ret_data, NULL, 1},
        {NULL, NULL, NULL, 0},
    };
    return cli_parse_named(cmd, argc, argv, opts, AUDIT_USAGE);
}

static int audit_key_cmd(int argc, char **argv)
{
    const char *cmd = "audit key";
    const char *data;
    int r = data_only(cmd, argc, argv, &data);
    if (r != CLI_CONTINUE)
        return r;
    int missing = 0, failed = 0;
    struct sign_key *key = anchor_key(cmd, data, NULL, &missing, &failed);
    if (missing)
        return cli_fail(
            cmd, "no %s/" ANCHOR_KEY_FILE ": the server creates it when it first starts", data);
    if (!key)
        return CLI_EXIT_FAIL;
    struct buf pem = {0};
    char id[SIGN_KEY_ID_SIZE];
    int ok = sign_key_public_pem(key, &pem) == 0 && sign_key_id(key, id) == 0;
    sign_key_free(key);
    if (!ok) {
        buf_free(&pem);
        return cli_fail(cmd, "cannot render the public key");
    }
    fwrite(pem.data, 1, pem.len, stdout);
    fprintf(stderr, "key id %s\n", id);
    buf_free(&pem);
    return CLI_EXIT_OK;
}

static int audit_anchor_cmd(int argc, char **argv)
{
    const char *cmd = "audit anchor";
    const char *data;
    int r = data_only(cmd, argc, argv, &data);
    if (r != CLI_CONTINUE)
        return r;
    struct store *st = cli_open_existing_store(data);
    if (!st)
        return CLI_EXIT_FAIL;
    struct store_anchor a;
    enum store_rc rc = st->anchor_last(st->cls, &a);
    store_close(st);
    if (rc < 0)
        return cli_fail(cmd, "cannot read the anchors");
    if (rc == STORE_NO_RESULTS)
        return cli_fail(cmd, "no signed anchor yet: the server signs the log when it runs");
    printf("%lld:%s\n", (long long)a.seq, a.signature);
    return CLI_EXIT_OK;
}

int cmd_audit(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"verify", audit_verify_cmd},
        {"key", audit_key_cmd},
        {"anchor", audit_anchor_cmd},
        {NULL, NULL},
    };
    return cli_dispatch(argc, argv, subs, AUDIT_USAGE);
}
