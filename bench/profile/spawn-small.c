/*
 * What fork+exec+wait costs from a small process (the floor a fork server would pay per
 * execution), for comparison with bench/profile/fork-cost.mjs (the same from node).
 *
 *   cc -O2 -o /tmp/spawn-small bench/profile/spawn-small.c && /tmp/spawn-small 200 PROGRAM [ARGS...]
 *
 * Prints the median and p90 wall ms of fork -> exec PROGRAM -> waitpid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s COUNT PROGRAM [ARGS...]\n", argv[0]); return 2; }
  int n = atoi(argv[1]);
  if (n <= 0 || n > 100000) return 2;
  double *t = malloc(sizeof *t * (size_t)n);
  for (int i = 0; i < n; i++) {
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
      execv(argv[2], argv + 2);
      _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    t[i] = now_ms() - t0;
  }
  qsort(t, (size_t)n, sizeof *t, cmp);
  printf("%d runs of %s: median %.2f ms, p90 %.2f ms, min %.2f ms\n", n, argv[2], t[n / 2], t[n * 9 / 10], t[0]);
  return 0;
}
