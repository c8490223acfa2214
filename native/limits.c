/* Limits of the phase child, applied before it drops root: its cgroups (joined by writing "0" to
   each cgroup.procs file init opened before pivot_root) and its rlimits. */
#include "launcher.h"
#include <sys/resource.h>
#include <unistd.h>

void join_cgroups(struct phase *ph) {
  for (int i = 0; i < ph->ncgroups; i++) {
    if (write(ph->cgroup_fds[i], "0", 1) != 1) setup_fail("cgroup-join");
    close(ph->cgroup_fds[i]);
  }
}

static void set_rlimit(int res, rlim_t soft, rlim_t hard, const char *step) {
  struct rlimit rl = { soft, hard };
  if (setrlimit(res, &rl)) setup_fail(step);
}

void apply_rlimits(struct phase *ph) {
  rlim_t cpu_s = (rlim_t)((ph->cpu_ms + 999) / 1000);
  set_rlimit(RLIMIT_CPU, cpu_s, cpu_s + 1, "rlimit-cpu");
  set_rlimit(RLIMIT_FSIZE, (rlim_t)ph->fsize, (rlim_t)ph->fsize, "rlimit-fsize");
  set_rlimit(RLIMIT_NOFILE, (rlim_t)ph->nofile, (rlim_t)ph->nofile, "rlimit-nofile");
  set_rlimit(RLIMIT_STACK, (rlim_t)ph->stack, (rlim_t)ph->stack, "rlimit-stack");
  set_rlimit(RLIMIT_CORE, 0, 0, "rlimit-core");
  set_rlimit(RLIMIT_MEMLOCK, 0, 0, "rlimit-memlock");
  set_rlimit(RLIMIT_MSGQUEUE, 0, 0, "rlimit-msgqueue");
  /* Lower priority than the service: with every core busy running programs, the API and the
     executors still get the CPU when they wake. The program cannot lower it again (RLIMIT_NICE). */
  set_rlimit(RLIMIT_NICE, 0, 0, "rlimit-nice");
  if (cfg.nice > 0 && setpriority(PRIO_PROCESS, 0, cfg.nice)) setup_fail("nice");
}
