/* Limits of the phase child, applied before it drops root: its cgroups and its rlimits.
 *
 * The child enters its cgroups in one of two ways. On a pure cgroup v2 host (the phase's one
 * cgroup is on cgroup2) init clones it straight into the cgroup (clone3 with CLONE_INTO_CGROUP,
 * Linux 5.7): it is born there. Otherwise it joins by writing "0" to each cgroup.procs file init
 * opened before pivot_root. The difference is speed: a write to cgroup.procs is a migration, which
 * takes the kernel's cgroup_threadgroup_rwsem for writing, and unless the cgroup2 mount has
 * favordynmods that waits for an RCU grace period whenever no migration happened in the last one:
 * measured 6-14 ms per execution on the 2-core benchmark VM after ~100 ms idle (0.4 ms back to
 * back), 20 ms in the cgroup v2 test VM, against 4.7 ms there when cloned into the cgroup
 * (bench/cgroup-entry.mjs, bench/RESULTS.md). clone3 needs only the read side of that lock. */
#include "launcher.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The clone3 arguments up to `cgroup` (CLONE_ARGS_SIZE_VER2), declared here so that older kernel
   headers build too. */
struct clone_args_v2 {
  unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* Opens the phase's cgroup.procs files (and, when its one cgroup is on cgroup2, the cgroup's
   directory for clone3); called by init before pivot_root puts the host's /sys out of reach. */
void open_cgroups(struct phase *ph) {
  for (int i = 0; i < ph->ncgroups; i++)
    if ((ph->cgroup_fds[i] = open(ph->cgroups[i], O_WRONLY | O_CLOEXEC)) < 0) setup_fail("cgroup-open");
  struct statfs fs;
  if (ph->ncgroups != 1 || fstatfs(ph->cgroup_fds[0], &fs) || fs.f_type != CGROUP2_SUPER_MAGIC) return;
  char dir[MAX_PATH_BYTES];
  const char *slash = strrchr(ph->cgroups[0], '/');
  size_t len = slash ? (size_t)(slash - ph->cgroups[0]) : 0;
  if (len == 0 || len >= sizeof dir) return;
  memcpy(dir, ph->cgroups[0], len);
  dir[len] = 0;
  ph->cgroup_dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* -1: the child joins instead */
}

/* fork() for the phase child, into its cgroup when clone3 can do it (see above); when it cannot
   (an older kernel, or the kernel refuses), a plain fork whose child joins by writing. Either way
   the program never runs outside its cgroups: a child that fails to join reports setup_error. */
pid_t fork_into_cgroups(struct phase *ph) {
  if (ph->cgroup_dir_fd >= 0) {
    struct clone_args_v2 args = { .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (unsigned long long)ph->cgroup_dir_fd };
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0) {
      ph->born_in_cgroup = 1; /* in both: the child skips the join, init reports "entry clone3" */
      return pid;
    }
  }
  return fork();
}

void join_cgroups(struct phase *ph) {
  for (int i = 0; i < ph->ncgroups; i++) {
    /* Born in it: writing our pid again would be a migration all the same (the slow lock). */
    if (!ph->born_in_cgroup && write(ph->cgroup_fds[i], "0", 1) != 1) setup_fail("cgroup-join");
    close(ph->cgroup_fds[i]);
  }
  if (ph->cgroup_dir_fd >= 0) close(ph->cgroup_dir_fd);
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
