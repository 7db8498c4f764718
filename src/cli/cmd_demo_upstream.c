/* placeholder, replaced in this session */
#include "cli/commands.h"
int cmd_demo_upstream(int argc, char **argv) { return 2; }
