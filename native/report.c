/* Status lines on the status fd (see PROTOCOL.md, "Status lines") and setup failures. */
#include "launcher.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* Report one line on the status fd. Best effort: the reader is the worker. */
void report(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  ssize_t w = write(cfg.status_fd, buf, (size_t)n);
  (void)w;
}

static jmp_buf *fail_jump;

/* While set, a setup failure is reported and then returns to `where` (longjmp 1) instead of
   ending the process: the standby's prebuild (server.c) keeps its failure for the request. */
void setup_fail_jumps_to(jmp_buf *where) { fail_jump = where; }

_Noreturn void setup_fail(const char *step) {
  report("setup_error %s %d", step, errno);
  if (fail_jump) longjmp(*fail_jump, 1);
  _exit(125);
}

/* The step is one word of the status line: the message's spaces become '_'. */
_Noreturn void usage(const char *msg) {
  char step[128];
  size_t n = 0;
  for (; msg[n] && n < sizeof step - 1; n++) step[n] = msg[n] == ' ' || msg[n] == '\n' ? '_' : msg[n];
  step[n] = 0;
  errno = EINVAL;
  report("setup_error args:%s %d", step, EINVAL);
  _exit(125);
}

long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
