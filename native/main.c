/* Entry: `codexec-launcher --server [--parent PID] [--cgroup PROCS]...` starts the fork server
   (server.c), the one way executions start. Anything else is refused. */
#include "launcher.h"
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "--server")) server_main(argc, argv);
  fprintf(stderr, "usage: codexec-launcher --server [--parent PID] [--cgroup CGROUP_PROCS_FILE]...\n");
  return 2;
}
