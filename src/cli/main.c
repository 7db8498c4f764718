/* main — the lienthong binary: dispatches `lienthong WORD ...` to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const struct {
    const char *word;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"serve", cmd_serve, "run the server (VXP document API, /api/v1, /healthz, /metrics)"},
    {"demo", cmd_demo, "load the Kon Tum demo province into a data directory"},
    {"agency", cmd_agency, "register, list and remove agencies"},
    {"system", cmd_system, "connect, list, remove systems; rotate their secrets"},
    {"service", cmd_service, "publish, list, update and remove gateway services"},
    {"access", cmd_access, "grant, revoke and list consumers' access to services"},
    {"token", cmd_token, "list and revoke gateway access tokens"},
    {"platform", cmd_platform, "set and show this platform's identity toward other platforms"},
    {"peer", cmd_peer, "add, list and remove peer platforms (national axis, other provinces)"},
    {"route", cmd_route, "route recipients outside the province to peers; show the decision"},
    {"demo-upstream", cmd_demo_upstream, "run the demo province's provider systems (for make run)"},
    {"stats", cmd_stats, "document exchange figures for a period"},
    {"audit", cmd_audit, "verify the hash chain of the transaction log"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: lienthong COMMAND [OPTIONS]   (lienthong COMMAND --help for details)\n\n"
                 "lienthong - provincial data integration and document interchange platform.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-13s %s\n", commands[i].word, commands[i].what);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("lienthong 0.1.0\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].word) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "lienthong: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
