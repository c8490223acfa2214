/* The options of one execution: the launcher's command line, or what a fork-server request carries. */
#include "launcher.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Descriptors and names have fixed defaults (PROTOCOL.md); every limit and the uid must be given:
   the launcher holds no setting of its own (src/sandbox/spec.ts declares them). -1: not given. */
struct config cfg = { .input_fd = 3, .status_fd = 4, .uid = (uid_t)-1, .gid = (gid_t)-1, .hostname = "codexec", .workdir = "/work", .export_fd = -1 };

static long long num(const char *s) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < 0) usage("number");
  return v;
}

static int at_or_under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  return !strncmp(path, dir, n) && (path[n] == 0 || path[n] == '/');
}

/* A read-only bind (--ro, of a request or of the server): an absolute path, not /dev, /proc or
   below them: the root's own /dev and /proc are built before the request's binds (mounts.c), so a
   bind there would cover what they hide. NULL when it is valid, else the usage message. */
const char *bind_problem(const char *path) {
  if (path[0] != '/' || !path[1]) return "--ro /PATH";
  if (at_or_under(path, "/dev") || at_or_under(path, "/proc")) return "--ro under /dev or /proc";
  return NULL;
}

/* A masked path (--mask): below /proc. NULL when it is valid, else the usage message. */
const char *mask_problem(const char *path) {
  return strncmp(path, "/proc/", 6) || !path[6] ? "--mask /proc/PATH" : NULL;
}

void parse_args(int argc, char **argv) {
  struct phase *ph = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
#define NEED() do { if (!v) usage(a); i++; } while (0)
    if (!strcmp(a, "--input-fd")) { NEED(); cfg.input_fd = (int)num(v); }
    else if (!strcmp(a, "--status-fd")) { NEED(); cfg.status_fd = (int)num(v); }
    else if (!strcmp(a, "--uid")) { NEED(); cfg.uid = (uid_t)num(v); }
    else if (!strcmp(a, "--gid")) { NEED(); cfg.gid = (gid_t)num(v); }
    else if (!strcmp(a, "--hostname")) { NEED(); cfg.hostname = v; }
    else if (!strcmp(a, "--workdir")) { NEED(); cfg.workdir = v; }
    else if (!strcmp(a, "--no-seccomp")) { cfg.no_seccomp = 1; }
    else if (!strcmp(a, "--export-fd")) { NEED(); cfg.export_fd = (int)num(v); }
    else if (!strcmp(a, "--export-max-bytes")) { NEED(); cfg.export_max_bytes = (unsigned long long)num(v); }
    else if (!strcmp(a, "--nice")) { NEED(); cfg.nice = (int)num(v); if (cfg.nice > 19) usage("--nice 0..19"); }
    else if (!strcmp(a, "--mask")) { NEED(); const char *bad = mask_problem(v); if (bad) usage(bad); if (cfg.nmasks == MAX_MASKS) usage("too many --mask"); cfg.masks[cfg.nmasks++] = v; }
    else if (!strcmp(a, "--ro")) { NEED(); const char *bad = bind_problem(v); if (bad) usage(bad); if (cfg.nbinds == MAX_BINDS) usage("too many --ro"); cfg.binds[cfg.nbinds++] = v; }
    else if (!strcmp(a, "--tmpfs")) {
      /* PATH:BYTES:MODE(octal) */
      NEED();
      if (cfg.ntmpfs == MAX_TMPFS) usage("too many --tmpfs");
      char *copy = strdup(v), *c1 = strchr(copy, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
      if (!c1 || !c2) usage("--tmpfs PATH:BYTES:MODE");
      *c1 = *c2 = 0;
      cfg.tmpfs[cfg.ntmpfs].path = copy;
      cfg.tmpfs[cfg.ntmpfs].bytes = (unsigned long long)num(c1 + 1);
      cfg.tmpfs[cfg.ntmpfs].mode = (unsigned)strtoul(c2 + 1, NULL, 8);
      cfg.ntmpfs++;
    }
    else if (!strcmp(a, "--env")) { NEED(); if (cfg.nenv == MAX_ENV) usage("too many --env"); cfg.env[cfg.nenv++] = (char *)v; }
    else if (!strcmp(a, "--phase")) {
      NEED();
      if (cfg.nphases == MAX_PHASES) usage("too many phases");
      ph = &cfg.phases[cfg.nphases++];
      memset(ph, 0, sizeof *ph);
      ph->name = v; ph->output_fd = -1; ph->cgroup_dir_fd = -1;
      ph->wall_ms = ph->cpu_ms = ph->fsize = ph->nofile = ph->stack = -1;
    }
    else if (!ph) usage("phase option before --phase");
    else if (!strcmp(a, "--cgroup")) { NEED(); if (ph->ncgroups == MAX_CGROUPS) usage("too many --cgroup"); ph->cgroups[ph->ncgroups++] = v; }
    else if (!strcmp(a, "--wall-ms")) { NEED(); ph->wall_ms = num(v); }
    else if (!strcmp(a, "--cpu-ms")) { NEED(); ph->cpu_ms = num(v); }
    else if (!strcmp(a, "--fsize")) { NEED(); ph->fsize = num(v); }
    else if (!strcmp(a, "--nofile")) { NEED(); ph->nofile = num(v); }
    else if (!strcmp(a, "--stack")) { NEED(); ph->stack = num(v); }
    else if (!strcmp(a, "--output-fd")) { NEED(); ph->output_fd = (int)num(v); }
    else if (!strcmp(a, "--stdin-null")) { ph->stdin_null = 1; }
    else if (!strcmp(a, "--exec")) {
      /* --exec N WORD1 .. WORDN: counted, never terminated by a word, so that no word of the
         program's argv (which a client may choose) is ever read as an option (PROTOCOL.md). */
      NEED();
      long long n = num(v);
      if (ph->argc) usage("--exec given twice");
      if (n < 1 || n > MAX_ARGV) usage("--exec 1..64 words");
      if (n > argc - 1 - i) usage("--exec with fewer words than its count");
      for (long long k = 0; k < n; k++) ph->argv[ph->argc++] = argv[++i];
      ph->argv[ph->argc] = NULL;
    }
    else usage(a);
#undef NEED
  }
  if (cfg.nphases == 0) usage("no --phase");
  if (cfg.uid == (uid_t)-1 || cfg.gid == (gid_t)-1) usage("no --uid or --gid");
  for (int p = 0; p < cfg.nphases; p++) {
    const struct phase *q = &cfg.phases[p];
    if (q->argc == 0) usage("phase without --exec");
    if (q->wall_ms < 0 || q->cpu_ms < 0 || q->fsize < 0 || q->nofile < 0 || q->stack < 0) usage("phase without --wall-ms, --cpu-ms, --fsize, --nofile or --stack");
  }
  cfg.env[cfg.nenv] = NULL;
}

/* Descriptors the worker hands the launcher must not leak into the program (exec closes them). */
void protect_fds(void) {
  if (fcntl(cfg.status_fd, F_SETFD, FD_CLOEXEC) < 0) _exit(125);
  if (cfg.export_fd >= 0 && fcntl(cfg.export_fd, F_SETFD, FD_CLOEXEC) < 0) setup_fail("export-fd");
  for (int p = 0; p < cfg.nphases; p++)
    if (cfg.phases[p].output_fd >= 0 && fcntl(cfg.phases[p].output_fd, F_SETFD, FD_CLOEXEC) < 0) setup_fail("output-fd");
}
