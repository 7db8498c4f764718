/* placeholder, replaced in this session */
#include "cli/commands.h"
int cmd_service(int argc, char **argv) { return 2; }
