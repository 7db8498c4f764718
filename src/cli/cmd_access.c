/* placeholder, replaced in this session */
#include "cli/commands.h"
int cmd_access(int argc, char **argv) { return 2; }
int cmd_token(int argc, char **argv) { return 2; }
