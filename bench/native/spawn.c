/*
 * The benchmarks' raw baseline: starts a program the cheapest way a service could (posix_spawn,
 * which glibc does with clone(CLONE_VM|CLONE_VFORK): no copy of this process's memory), collects
 * its stdout and stderr through pipes until both close, and reaps it with wait4 for its rusage.
 * Never Node's child_process: that forks the whole Node process first (34-45 ms per run on the
 * 2-core VM of bench/RESULTS.md, against ~20 ms for the program itself).
 *
 *   spawn [--runs N] [--parallel P] [--warmup W] [--cwd DIR] [--expect TEXT] [--env K=V]... -- PROGRAM ARGS...
 *   spawn --serve [same options] -- PROGRAM ARGS...
 *
 * Prints one line per measured run, then a summary:
 *   run I wall_us W user_us U sys_us S exit E ok 0|1
 *   total runs N failed F elapsed_us E parallel P
 * wall = posix_spawn called -> both pipes closed and the process reaped; user/sys = the process and
 * the descendants it waited for (wait4 rusage), so a wrapper such as bwrap or unshare --fork is
 * charged with everything it ran. --parallel keeps P runs in flight (the raw `xargs -P` baseline of
 * the throughput targets). --serve reads a count per line on stdin and answers with that many run
 * lines and "done": a Node benchmark interleaves raw runs with its own without forking itself.
 * --expect: a run is ok only if it exits 0 and its stdout is TEXT (\n is a newline).
 * The environment is exactly the --env options (default PATH=/usr/bin:/bin and LANG=C.UTF-8).
 * Built by bench/lib/native.mjs with cc at run time into bench/.build/.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"

#define MAX_PAR 256
#define MAX_ENV 64
#define OUT_CAP 65536

struct slot {
  pid_t pid;
  int out, err;
  long long t0;
  size_t outlen;
  char outbuf[OUT_CAP];
  int index;
};

static char *envv[MAX_ENV + 1];
static int nenv;
static const char *cwd;
static char *expect;
static char **prog;

static void die(const char *what) {
  fprintf(stderr, "spawn: %s: %s\n", what, strerror(errno));
  exit(2);
}

static char *unescape(const char *s) {
  char *out = malloc(strlen(s) + 1), *o = out;
  for (; *s; s++) {
    if (s[0] == '\\' && s[1] == 'n') { *o++ = '\n'; s++; }
    else *o++ = *s;
  }
  *o = 0;
  return out;
}

static void start(struct slot *sl, int index) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) die("pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  if (cwd) posix_spawn_file_actions_addchdir_np(&fa, cwd);
  sl->index = index;
  sl->outlen = 0;
  sl->t0 = now_us();
  int rc = posix_spawn(&sl->pid, prog[0], &fa, NULL, prog, envv);
  posix_spawn_file_actions_destroy(&fa);
  if (rc) { errno = rc; die(prog[0]); }
  close(out[1]);
  close(err[1]);
  sl->out = out[0];
  sl->err = err[0];
}

/* Reap a slot whose pipes have both closed; print its line when `print`. Returns 1 if ok. */
static int finish(struct slot *sl, int print) {
  int status;
  struct rusage ru;
  while (wait4(sl->pid, &status, 0, &ru) < 0) if (errno != EINTR) die("wait4");
  long long wall = now_us() - sl->t0;
  long long user = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
  long long sys = (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int ok = code == 0;
  if (ok && expect) ok = sl->outlen == strlen(expect) && memcmp(sl->outbuf, expect, sl->outlen) == 0;
  if (print) printf("run %d wall_us %lld user_us %lld sys_us %lld exit %d ok %d\n", sl->index, wall, user, sys, code, ok);
  sl->pid = 0;
  return ok;
}

/* Runs `n` times with `par` in flight; returns the failures. */
static int batch(int n, int par, int print, int first_index) {
  static struct slot slots[MAX_PAR];
  int started = 0, done = 0, failed = 0;
  static char junk[65536];
  for (int i = 0; i < par && started < n; i++) start(&slots[i], first_index + started++);
  while (done < n) {
    struct pollfd pf[2 * MAX_PAR];
    int who[2 * MAX_PAR], k = 0;
    for (int i = 0; i < par; i++) {
      if (!slots[i].pid) continue;
      if (slots[i].out >= 0) { pf[k] = (struct pollfd){ .fd = slots[i].out, .events = POLLIN }; who[k++] = 2 * i; }
      if (slots[i].err >= 0) { pf[k] = (struct pollfd){ .fd = slots[i].err, .events = POLLIN }; who[k++] = 2 * i + 1; }
    }
    if (poll(pf, (nfds_t)k, -1) < 0) { if (errno == EINTR) continue; die("poll"); }
    for (int j = 0; j < k; j++) {
      if (!pf[j].revents) continue;
      struct slot *sl = &slots[who[j] / 2];
      int *fd = (who[j] % 2) ? &sl->err : &sl->out;
      ssize_t got;
      if (fd == &sl->out) {
        size_t room = OUT_CAP - sl->outlen;
        got = read(*fd, room ? sl->outbuf + sl->outlen : junk, room ? room : sizeof junk);
        if (got > 0 && room) sl->outlen += (size_t)got;
      } else got = read(*fd, junk, sizeof junk);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) { close(*fd); *fd = -1; }
      if (sl->out < 0 && sl->err < 0 && sl->pid) {
        if (!finish(sl, print)) failed++;
        done++;
        if (started < n) start(sl, first_index + started++);
      }
    }
  }
  return failed;
}

int main(int argc, char **argv) {
  int runs = 1, par = 1, warmup = 0, serve = 0;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--")) { i++; break; }
    if (!strcmp(a, "--serve")) { serve = 1; continue; }
    if (!v) { fprintf(stderr, "spawn: %s needs a value\n", a); return 2; }
    if (!strcmp(a, "--runs")) runs = atoi(v);
    else if (!strcmp(a, "--parallel")) par = atoi(v);
    else if (!strcmp(a, "--warmup")) warmup = atoi(v);
    else if (!strcmp(a, "--cwd")) cwd = v;
    else if (!strcmp(a, "--expect")) expect = unescape(v);
    else if (!strcmp(a, "--env")) { if (nenv == MAX_ENV) return 2; envv[nenv++] = (char *)v; }
    else { fprintf(stderr, "spawn: unknown option %s\n", a); return 2; }
    i++;
  }
  if (i >= argc || runs < 1 || par < 1 || par > MAX_PAR || warmup < 0) {
    fprintf(stderr, "usage: spawn [--runs N] [--parallel P] [--warmup W] [--cwd DIR] [--expect TEXT] [--env K=V]... [--serve] -- PROGRAM ARGS...\n");
    return 2;
  }
  prog = argv + i;
  if (nenv == 0) { envv[nenv++] = "PATH=/usr/bin:/bin"; envv[nenv++] = "LANG=C.UTF-8"; }
  envv[nenv] = NULL;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (warmup) batch(warmup, par < warmup ? par : warmup, 0, -warmup);
  if (serve) {
    char line[64];
    int index = 0;
    while (fgets(line, sizeof line, stdin)) {
      int n = atoi(line);
      if (n <= 0) break;
      batch(n, 1, 1, index);
      index += n;
      printf("done\n");
    }
    return 0;
  }
  long long t0 = now_us();
  int failed = batch(runs, par, 1, 0);
  printf("total runs %d failed %d elapsed_us %lld parallel %d\n", runs, failed, now_us() - t0, par);
  return failed ? 1 : 0;
}
