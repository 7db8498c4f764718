/* cli — the subcommands of the lienthong binary. main.c dispatches "lienthong WORD ..." to one
 * of these with argv[0] = WORD. Each returns the process exit status: 0 success, 1 failure
 * (message on stderr), 2 misuse (usage on stderr). Each prints its usage on --help (exit 0). */
#ifndef LT_CLI_COMMANDS_H
#define LT_CLI_COMMANDS_H

int cmd_serve(int argc, char **argv);   /* serve --data DIR --listen HOST:PORT [--config FILE] */
int cmd_demo(int argc, char **argv);    /* demo --data DIR: loads the Kon Tum demo province */
int cmd_agency(int argc, char **argv);  /* agency add|list|remove */
int cmd_system(int argc, char **argv);  /* system add|list|remove|rotate-secret */
int cmd_service(int argc, char **argv); /* service add|list|update|remove (cmd_service.c) */
int cmd_access(int argc, char **argv);  /* access grant|revoke|list (cmd_access.c) */
int cmd_token(int argc, char **argv);   /* token list|revoke (cmd_access.c) */
int cmd_demo_upstream(int argc, char **argv); /* demo-upstream --listen HOST:PORT */
int cmd_stats(int argc, char **argv);         /* stats --data DIR [--from D] [--to D] [--json] */
int cmd_audit(int argc, char **argv);         /* audit verify --data DIR */
int cmd_platform(int argc, char **argv);      /* platform set|show (cmd_relay.c) */
int cmd_peer(int argc, char **argv);          /* peer add|list|remove (cmd_relay.c) */
int cmd_route(int argc, char **argv);         /* route add|list|remove|which (cmd_relay.c) */

#endif
