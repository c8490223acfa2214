/* CPU of attaching a seccomp filter: for each run, a child sets no_new_privs and attaches the
   filter read from FILE, timing the seccomp() call on its own thread CPU clock (the kernel checks,
   translates and, since 5.11, evaluates the filter once per call number for its action cache: all
   of it charged to the process attaching, i.e. to the sandboxed program's cgroup).
     seccomp-attach RUNS FILE...   prints "file N run I cpu_ns X" per attach */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long thread_cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: seccomp-attach RUNS FILE...\n"); return 2; }
  int runs = atoi(argv[1]);
  int nfilters = argc - 2;
  struct sock_fprog *progs = calloc(nfilters, sizeof *progs);
  if (!progs) { perror("calloc"); return 1; }
  for (int f = 0; f < nfilters; f++) { /* read once, before anything is measured */
    FILE *in = fopen(argv[f + 2], "rb");
    if (!in) { perror(argv[f + 2]); return 1; }
    progs[f].filter = calloc(4096, sizeof *progs[f].filter);
    if (!progs[f].filter) { perror("calloc"); return 1; }
    progs[f].len = (unsigned short)fread(progs[f].filter, sizeof *progs[f].filter, 4096, in);
    fclose(in);
  }
  for (int i = 0; i < runs; i++) {
    for (int f = 0; f < nfilters; f++) { /* the filters take turns run by run */
      int p[2];
      if (pipe(p)) { perror("pipe"); return 1; }
      pid_t c = fork();
      if (c < 0) { perror("fork"); return 1; }
      if (c == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) _exit(3);
        long long t0 = thread_cpu_ns();
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &progs[f])) _exit(4);
        long long d = thread_cpu_ns() - t0;
        if (write(p[1], &d, sizeof d) != sizeof d) _exit(5);
        _exit(0);
      }
      close(p[1]);
      long long d = -1;
      if (read(p[0], &d, sizeof d) != sizeof d) d = -1;
      close(p[0]);
      int st;
      waitpid(c, &st, 0);
      if (d < 0) { fprintf(stderr, "%s: attach failed (child status %d)\n", argv[f + 2], st); return 1; }
      printf("file %d run %d cpu_ns %lld\n", f, i, d);
    }
  }
  return 0;
}
