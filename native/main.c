/* Entry: `codexec-launcher --server [--parent PID] [--cgroup PROCS]... [--ro PATH]... [--mask PATH]...`
   starts the fork server (server.c), the one way executions start. Anything else is refused. */
#include "launcher.h"
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "--server")) server_main(argc, argv);
  fprintf(stderr, "usage: codexec-launcher --server [--parent PID] [--cgroup CGROUP_PROCS_FILE]... [--ro PATH]... [--mask /proc/PATH]...\n");
  return 2;
}
