/* How long a new process takes to enter a cgroup, after the machine was idle for GAP ms:
 *   join   fork, then the child writes "0" to the cgroup's cgroup.procs (a migration: what the
 *          launcher's phase child does on cgroup v1, and on v2 before Linux 5.7)
 *   clone3 clone3 with CLONE_INTO_CGROUP: the child is born in the cgroup (cgroup v2 only; what
 *          the launcher does there, native/limits.c)
 * Prints "run I us T" per run, T = fork -> child reaped (the child exits at once).
 *   cgroup-entry MODE GAP_MS RUNS CGROUP_DIR   (root; the directory is created and removed) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
struct clone_args_v2 {
  unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: cgroup-entry join|clone3 GAP_MS RUNS CGROUP_DIR\n"); return 2; }
  const char *mode = argv[1], *dir = argv[4];
  int gap = atoi(argv[2]), runs = atoi(argv[3]), clone = !strcmp(mode, "clone3");
  char procs[4096];
  snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
  mkdir(dir, 0755); /* EEXIST: a left-over of an earlier run, used as it is */
  int rc = 0;
  for (int i = 0; i < runs && rc == 0; i++) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), pfd = open(procs, O_WRONLY | O_CLOEXEC);
    if (dfd < 0 || pfd < 0) { perror(dir); rc = 1; break; }
    long long start = now_us();
    pid_t pid;
    if (clone) {
      struct clone_args_v2 ca = { .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (unsigned long long)dfd };
      pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
      if (pid == 0) _exit(0);
    } else {
      pid = fork();
      if (pid == 0) _exit(write(pfd, "0", 1) == 1 ? 0 : 3);
    }
    if (pid < 0) { perror(mode); rc = 1; break; }
    int status = 0;
    waitpid(pid, &status, 0);
    long long us = now_us() - start;
    if (!WIFEXITED(status) || WEXITSTATUS(status)) { fprintf(stderr, "child: cannot join %s\n", procs); rc = 1; }
    else printf("run %d us %lld\n", i, us);
    close(dfd);
    close(pfd);
    usleep((useconds_t)gap * 1000);
  }
  rmdir(dir);
  return rc;
}
