/* pid 1 of the execution's pid namespace: finishes the filesystem its standby began, runs each
   phase to its end (reaping orphans, enforcing the wall-clock limit), reports each on the status fd. */
#include "launcher.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Kill everything in the pid namespace except us, and reap it. */
static void kill_all_and_reap(void) {
  kill(-1, SIGKILL);
  while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR) {}
}

/* pid 1: run one phase to its end. Returns 1 when the next phase may run. */
static int run_phase(struct phase *ph) {
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC)) setup_fail("pipe");
  long long start = now_us();
  pid_t pid = fork_into_cgroups(ph);
  if (pid < 0) setup_fail("fork");
  if (pid == 0) {
    if (dup3(errpipe[1], ERR_FD, O_CLOEXEC) < 0) setup_fail("errpipe");
    exec_phase(ph, ERR_FD);
  }
  close(errpipe[1]);
  for (int i = 0; i < ph->ncgroups; i++) close(ph->cgroup_fds[i]);
  if (ph->cgroup_dir_fd >= 0) close(ph->cgroup_dir_fd);

  /* Wait for the child (and reap orphans) until it exits or its wall-clock time is up. */
  long long deadline = start + ph->wall_ms * 1000;
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  int status = 0, done = 0, timed_out = 0;
  struct rusage ru = { 0 };
  while (!done) {
    pid_t r;
    while ((r = wait4(-1, &status, WNOHANG | __WALL, &ru)) > 0) {
      if (r == pid) { done = 1; break; }
    }
    if (done) break;
    long long left = deadline - now_us();
    if (left <= 0) { timed_out = 1; break; }
    struct timespec ts = { left / 1000000, (left % 1000000) * 1000 };
    sigtimedwait(&chld, NULL, &ts);
  }
  long long wall_us = now_us() - start;
  kill_all_and_reap();

  /* Setup errors from the child come as one line through the error pipe. */
  char err[256];
  ssize_t n = read(errpipe[0], err, sizeof err - 1);
  close(errpipe[0]);
  if (n > 0) {
    err[n] = 0;
    char *nl = strchr(err, '\n');
    if (nl) *nl = 0;
    report("phase %s %s", ph->name, err);
    return 0;
  }
  long long cpu_us = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec + (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  /* How the child entered its cgroups (limits.c): born in it, joined, or none given. */
  const char *entry = ph->ncgroups == 0 ? "none" : ph->born_in_cgroup ? "clone3" : "join";
  if (timed_out) report("phase %s timeout wall_us %lld entry %s", ph->name, wall_us, entry);
  else if (WIFEXITED(status)) report("phase %s exit %d wall_us %lld cpu_us %lld entry %s", ph->name, WEXITSTATUS(status), wall_us, cpu_us, entry);
  else report("phase %s signal %d wall_us %lld cpu_us %lld entry %s", ph->name, WTERMSIG(status), wall_us, cpu_us, entry);
  return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

_Noreturn void init_main(int alive_fd, const struct root_base *base) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL)) setup_fail("pdeathsig");
  /* getppid() is 0 across the pid namespace boundary: a pipe tells whether the fork server died
     before PDEATHSIG was armed (its write end closes). */
  struct pollfd pfd = { .fd = alive_fd, .events = POLLIN };
  if (poll(&pfd, 1, 0) != 0) _exit(125);
  close(alive_fd);
  /* Cgroup files are opened now: after pivot_root the host's /sys is out of reach. */
  for (int p = 0; p < cfg.nphases; p++) open_cgroups(&cfg.phases[p]);
  build_root(base);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  report("ready");
  int ok = 1;
  for (int p = 0; p < cfg.nphases && ok; p++) ok = run_phase(&cfg.phases[p]);
  if (ok && cfg.export_fd >= 0) export_workdir();
  /* Every process of the execution is gone and reaped, and everything is reported: say so, and
     close every descriptor. The server's pipes end now, and it sends the result without waiting
     for this process's own exit, in which the kernel tears down the pid, net, ipc and uts
     namespaces (0.1-0.6 ms in this VM's traces; server.c, init_done). */
  report("done");
  syscall(SYS_close_range, 0, ~0U, 0);
  _exit(0);
}
