/* Installs the filter the worker compiled (src/sandbox/seccomp/compile.ts) and sent as an 'S'
   input record. The last step before execve: no_new_privs is set and the uid dropped. */
#include "launcher.h"
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

void install_seccomp(void) {
  if (cfg.no_seccomp) return;
  struct sock_fprog prog = { .len = cfg.filter_len, .filter = cfg.filter };
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) setup_fail("seccomp");
}
