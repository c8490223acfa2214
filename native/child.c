/* The phase child: everything between fork and exec. Never returns. */
#include "launcher.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Empty the capability bounding set (defence in depth: after the uid drop with no_new_privs the
 * program has no capabilities and cannot gain any anyway). The standby does it before a request
 * comes (server.c): the set only limits what an exec may grant, so init keeps the capabilities it
 * works with, and every process it forks inherits the empty set. EINVAL: past the kernel's last cap.
 */
void drop_bounding_set(void) {
  for (int cap = 0; cap < 64; cap++)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL) setup_fail("capbset");
}

_Noreturn void exec_phase(struct phase *ph, int errfd) {
  /* Report failures through the exec-error pipe, which exec closes on success. */
  cfg.status_fd = errfd;
  join_cgroups(ph);
  if (unshare(CLONE_NEWCGROUP)) setup_fail("cgroupns");
  if (ph->stdin_null) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || dup2(fd, 0) < 0) setup_fail("stdin");
  }
  if (ph->output_fd >= 0) {
    if (dup2(ph->output_fd, 1) < 0 || dup2(ph->output_fd, 2) < 0) setup_fail("output");
  }
  if (chdir(cfg.workdir)) setup_fail("chdir");
  apply_rlimits(ph);
  if (setsid() < 0) setup_fail("setsid");
  /* The bounding set was emptied by the standby (drop_bounding_set) and is inherited; one read
     checks it, where emptying it here took 64 calls on the execution's path. */
  if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0) { errno = EPERM; setup_fail("capbset"); }
  if (setgroups(0, NULL)) setup_fail("setgroups");
  if (setresgid(cfg.gid, cfg.gid, cfg.gid)) setup_fail("setgid");
  if (setresuid(cfg.uid, cfg.uid, cfg.uid)) setup_fail("setuid");
  /* Paranoia: regaining root must be impossible now. */
  if (setuid(0) == 0 || getuid() != cfg.uid || geteuid() != cfg.uid) { errno = EPERM; setup_fail("drop-check"); }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) setup_fail("no_new_privs");
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  /* Close every descriptor but stdio and the error pipe (kept at ERR_FD, close-on-exec). */
  if (syscall(SYS_close_range, 3, ERR_FD - 1, 0) || syscall(SYS_close_range, ERR_FD + 1, ~0U, 0)) setup_fail("close_range");
  install_seccomp();
  execve(ph->argv[0], ph->argv, cfg.env);
  setup_fail("exec");
}
