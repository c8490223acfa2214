/*
 * codexec-launcher: the trusted part of an execution that runs inside the sandbox's namespaces.
 *
 * Two ways to start an execution, the same init and phase child in both:
 *   - fork server (default; `--server`, see server_main below): one long-lived launcher per executor
 *     slot clones each execution's init straight into fresh pid, mount, net, ipc and uts namespaces;
 *   - exec (CODEXEC_SANDBOX_SPAWNER=exec): exec'd per execution by `unshare --pid --mount --net
 *     --ipc --uts` (util-linux), it starts as root in fresh mount, net, ipc and uts namespaces and
 *     its first child is pid 1 of a fresh pid namespace:
 *
 *   outer (exec mode only, outside the pid ns) -- waits for init, dies with its parent
 *     init (pid 1 in the new pid ns)           -- builds the filesystem, runs each phase, reaps,
 *                                                 enforces the wall-clock limit, reports status
 *       phase child                            -- joins the phase's cgroup, sets rlimits, drops to
 *                                                 an unprivileged uid with no groups, sets
 *                                                 no_new_privs, installs seccomp, execs the program
 *
 * If any setup step fails the program is never started: the failure is reported on the status fd
 * as `setup_error STEP ERRNO` and the TypeScript side records a sandbox error (never runs unconfined).
 *
 * Inputs: argv (see usage()), plus the input fd carrying the source files and the compiled seccomp
 * filter (records: 1 byte type 'F' file / 'S' seccomp, u32 name length, name, u32 data length, data;
 * little endian). Output: one line per event on the status fd.
 *
 * Kept small and dependency-free (static libc): it is forked once per execution (fork server) or
 * exec'd once per execution, and either costs less the smaller it is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PHASES 2
#define MAX_CGROUPS 8
#define MAX_BINDS 64
#define MAX_TMPFS 4
#define MAX_ENV 64
#define MAX_ARGV 64
#define MAX_FILES 16
#define MAX_INPUT_BYTES (64u << 20)
#define NEWROOT "/tmp"
#define ERR_FD 1000 /* the phase child's exec-error pipe lives here, above anything else */

struct tmpfs_spec { const char *path; unsigned long long bytes; unsigned mode; };
struct file_rec { char *name; unsigned char *data; uint32_t len; };
struct phase {
  const char *name;
  const char *cgroups[MAX_CGROUPS];
  int ncgroups;
  int cgroup_fds[MAX_CGROUPS];
  long long wall_ms, cpu_ms, fsize, nofile, stack, as;
  int output_fd; /* -1: inherit stdout/stderr */
  int stdin_null;
  char *argv[MAX_ARGV + 1];
  int argc;
};

static struct {
  int input_fd, status_fd;
  uid_t uid; gid_t gid;
  const char *hostname, *workdir;
  const char *binds[MAX_BINDS]; int nbinds;
  struct tmpfs_spec tmpfs[MAX_TMPFS]; int ntmpfs;
  char *env[MAX_ENV + 1]; int nenv;
  struct phase phases[MAX_PHASES]; int nphases;
  struct file_rec files[MAX_FILES]; int nfiles;
  struct sock_filter *filter; unsigned short filter_len;
  int no_seccomp;
  int nice;
} cfg = { .input_fd = 3, .status_fd = 4, .uid = 65534, .gid = 65534, .hostname = "codexec", .workdir = "/work" };

/* Report one line on the status fd. Best effort: the reader is the worker. */
static void report(const char *fmt, ...) {
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

static _Noreturn void setup_fail(const char *step) {
  report("setup_error %s %d", step, errno);
  _exit(125);
}

static _Noreturn void usage(const char *msg) {
  errno = EINVAL;
  report("setup_error args:%s %d", msg, EINVAL);
  _exit(125);
}

static long long num(const char *s) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < 0) usage("number");
  return v;
}

static void parse_args(int argc, char **argv) {
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
    else if (!strcmp(a, "--nice")) { NEED(); cfg.nice = (int)num(v); if (cfg.nice > 19) usage("--nice 0..19"); }
    else if (!strcmp(a, "--ro")) { NEED(); if (cfg.nbinds == MAX_BINDS) usage("too many --ro"); cfg.binds[cfg.nbinds++] = v; }
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
      ph->name = v; ph->output_fd = -1; ph->wall_ms = 5000; ph->cpu_ms = 5000;
      ph->fsize = 16 << 20; ph->nofile = 64; ph->stack = 8 << 20;
    }
    else if (!ph) usage("phase option before --phase");
    else if (!strcmp(a, "--cgroup")) { NEED(); if (ph->ncgroups == MAX_CGROUPS) usage("too many --cgroup"); ph->cgroups[ph->ncgroups++] = v; }
    else if (!strcmp(a, "--wall-ms")) { NEED(); ph->wall_ms = num(v); }
    else if (!strcmp(a, "--cpu-ms")) { NEED(); ph->cpu_ms = num(v); }
    else if (!strcmp(a, "--fsize")) { NEED(); ph->fsize = num(v); }
    else if (!strcmp(a, "--nofile")) { NEED(); ph->nofile = num(v); }
    else if (!strcmp(a, "--stack")) { NEED(); ph->stack = num(v); }
    else if (!strcmp(a, "--as")) { NEED(); ph->as = num(v); }
    else if (!strcmp(a, "--output-fd")) { NEED(); ph->output_fd = (int)num(v); }
    else if (!strcmp(a, "--stdin-null")) { ph->stdin_null = 1; }
    else if (!strcmp(a, "--exec")) {
      for (i++; i < argc && strcmp(argv[i], "--end"); i++) {
        if (ph->argc == MAX_ARGV) usage("argv too long");
        ph->argv[ph->argc++] = argv[i];
      }
      if (i >= argc) usage("--exec without --end");
      ph->argv[ph->argc] = NULL;
    }
    else usage(a);
#undef NEED
  }
  if (cfg.nphases == 0) usage("no --phase");
  for (int p = 0; p < cfg.nphases; p++) if (cfg.phases[p].argc == 0) usage("phase without --exec");
  cfg.env[cfg.nenv] = NULL;
}

static int read_full(int fd, void *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, (char *)buf + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return got == 0 && n == 0 ? 0 : -1;
    got += (size_t)n;
  }
  return 1;
}

/* A file name is one path component: no '/', not '.', not '..', no NUL (the worker checks too). */
static int safe_name(const char *s) {
  return s[0] && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/') && strlen(s) < 256;
}

static void read_input(void) {
  size_t total = 0;
  for (;;) {
    unsigned char type;
    int r = read_full(cfg.input_fd, &type, 1);
    if (r == 0) break;
    if (r < 0) setup_fail("input");
    uint32_t nlen, dlen;
    if (read_full(cfg.input_fd, &nlen, 4) != 1 || nlen > 255) { errno = EPROTO; setup_fail("input"); }
    char *name = calloc(1, nlen + 1);
    if (!name || (nlen && read_full(cfg.input_fd, name, nlen) != 1)) { errno = EPROTO; setup_fail("input"); }
    if (read_full(cfg.input_fd, &dlen, 4) != 1) { errno = EPROTO; setup_fail("input"); }
    total += dlen + nlen;
    if (total > MAX_INPUT_BYTES) { errno = EFBIG; setup_fail("input"); }
    unsigned char *data = malloc(dlen ? dlen : 1);
    if (!data || (dlen && read_full(cfg.input_fd, data, dlen) != 1)) { errno = EPROTO; setup_fail("input"); }
    if (type == 'F') {
      if (cfg.nfiles == MAX_FILES || !safe_name(name)) { errno = EINVAL; setup_fail("input:file"); }
      cfg.files[cfg.nfiles++] = (struct file_rec){ name, data, dlen };
    } else if (type == 'S') {
      if (dlen == 0 || dlen % sizeof(struct sock_filter) || dlen / sizeof(struct sock_filter) > BPF_MAXINSNS) { errno = EINVAL; setup_fail("input:seccomp"); }
      cfg.filter = (struct sock_filter *)data;
      cfg.filter_len = (unsigned short)(dlen / sizeof(struct sock_filter));
      free(name);
    } else { errno = EPROTO; setup_fail("input"); }
  }
  close(cfg.input_fd);
  if (!cfg.filter && !cfg.no_seccomp) { errno = ENOENT; setup_fail("input:seccomp"); }
}

static int mkdir_p(const char *path, mode_t mode) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) { errno = ENAMETOOLONG; return -1; }
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, mode) && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, mode) && errno != EEXIST) return -1;
  return 0;
}

static void newroot_path(char *out, const char *path) {
  if (snprintf(out, PATH_MAX, NEWROOT "%s", path) >= PATH_MAX) { errno = ENAMETOOLONG; setup_fail("path"); }
}

/* Make `path` of the host visible read-only at the same place in the new root. */
static void bind_ro(const char *path) {
  char dst[PATH_MAX], parent[PATH_MAX];
  struct stat st;
  if (lstat(path, &st)) return; /* missing on this host: nothing to expose */
  newroot_path(dst, path);
  snprintf(parent, sizeof parent, "%s", dst);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) { *slash = 0; if (mkdir_p(parent, 0755)) setup_fail("mkdir"); }
  if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) setup_fail("readlink");
    target[n] = 0;
    if (symlink(target, dst) && errno != EEXIST) setup_fail("symlink");
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    if (mkdir(dst, 0755) && errno != EEXIST) setup_fail("mkdir");
  } else {
    int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) setup_fail("bind-target");
    close(fd);
  }
  /* Not recursive: mounts below `path` on the host stay invisible. */
  if (mount(path, dst, NULL, MS_BIND, NULL)) setup_fail("bind");
  if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL)) setup_fail("bind-ro");
}

static void write_file(const char *path, const char *content, mode_t mode) {
  int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) setup_fail("write-file");
  size_t len = strlen(content);
  if (write(fd, content, len) != (ssize_t)len) setup_fail("write-file");
  close(fd);
}

static void build_dev(void) {
  static const char *nodes[] = { "null", "zero", "full", "random", "urandom" };
  char p[PATH_MAX];
  newroot_path(p, "/dev");
  if (mkdir(p, 0755) && errno != EEXIST) setup_fail("dev");
  if (mount("codexec-dev", p, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755")) setup_fail("dev");
  for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
    char src[64], dst[PATH_MAX];
    snprintf(src, sizeof src, "/dev/%s", nodes[i]);
    snprintf(dst, sizeof dst, NEWROOT "/dev/%s", nodes[i]);
    int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) setup_fail("dev");
    close(fd);
    if (mount(src, dst, NULL, MS_BIND, NULL)) setup_fail("dev-bind");
    if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC, NULL)) setup_fail("dev-bind");
  }
  static const char *links[][2] = { { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" } };
  for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
    snprintf(p, sizeof p, NEWROOT "/dev/%s", links[i][1]);
    if (symlink(links[i][0], p)) setup_fail("dev-link");
  }
  if (mount(NULL, NEWROOT "/dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755")) setup_fail("dev-ro");
}

/* Build the program's whole filesystem view in a tmpfs and pivot into it. */
static void build_root(void) {
  char p[PATH_MAX], opts[128];
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) setup_fail("private");
  if (mount("codexec-root", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=0755")) setup_fail("root-tmpfs");
  for (int i = 0; i < cfg.nbinds; i++) bind_ro(cfg.binds[i]);

  /* /etc: only what the worker asked to bind, plus identity files of our own. */
  if (mkdir(NEWROOT "/etc", 0755) && errno != EEXIST) setup_fail("etc");
  char passwd[256], group[128];
  snprintf(passwd, sizeof passwd, "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nrunner:x:%u:%u:codexec:%s:/bin/sh\n", (unsigned)cfg.uid, (unsigned)cfg.gid, cfg.workdir);
  snprintf(group, sizeof group, "root:x:0:\nrunner:x:%u:\n", (unsigned)cfg.gid);
  write_file(NEWROOT "/etc/passwd", passwd, 0644);
  write_file(NEWROOT "/etc/group", group, 0644);
  write_file(NEWROOT "/etc/hostname", "codexec\n", 0644);
  write_file(NEWROOT "/etc/hosts", "127.0.0.1 localhost codexec\n::1 localhost\n", 0644);

  build_dev();

  if (mkdir(NEWROOT "/proc", 0555) && errno != EEXIST) setup_fail("proc");
  /* hidepid: the program sees only its own processes, not init (root): not even its command line.
     "invisible" needs Linux 5.8; "2" is the same on older kernels. */
  if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible") &&
      mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")) setup_fail("proc");

  for (int i = 0; i < cfg.ntmpfs; i++) {
    newroot_path(p, cfg.tmpfs[i].path);
    if (mkdir_p(p, 0755)) setup_fail("tmpfs-dir");
    snprintf(opts, sizeof opts, "size=%llu,nr_inodes=4096,mode=%o,uid=%u,gid=%u", cfg.tmpfs[i].bytes, cfg.tmpfs[i].mode, (unsigned)cfg.uid, (unsigned)cfg.gid);
    if (mount("codexec-tmp", p, "tmpfs", MS_NOSUID | MS_NODEV, opts)) setup_fail("tmpfs");
  }

  /* The input (source files, seccomp filter) is read only now, so that the worker's writing it
     overlaps with the mounts above instead of delaying them. */
  read_input();

  /* Source files, written by us (root) into the fresh working directory, then given to the uid. */
  for (int i = 0; i < cfg.nfiles; i++) {
    snprintf(p, sizeof p, NEWROOT "%s/%s", cfg.workdir, cfg.files[i].name);
    int fd = open(p, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) setup_fail("source-file");
    for (uint32_t off = 0; off < cfg.files[i].len;) {
      ssize_t n = write(fd, cfg.files[i].data + off, cfg.files[i].len - off);
      if (n < 0) setup_fail("source-file");
      off += (uint32_t)n;
    }
    if (fchown(fd, cfg.uid, cfg.gid)) setup_fail("source-file");
    close(fd);
  }

  /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves nothing of the host. */
  if (chdir(NEWROOT)) setup_fail("chdir-root");
  if (syscall(SYS_pivot_root, ".", ".")) setup_fail("pivot_root");
  if (umount2(".", MNT_DETACH)) setup_fail("umount-old");
  if (chdir("/")) setup_fail("chdir-root");
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=0755")) setup_fail("root-ro");
  if (sethostname(cfg.hostname, strlen(cfg.hostname))) setup_fail("hostname");
}

static void set_rlimit(int res, rlim_t soft, rlim_t hard, const char *step) {
  struct rlimit rl = { soft, hard };
  if (setrlimit(res, &rl)) setup_fail(step);
}

/* In the phase child: everything between fork and exec. Never returns. */
static _Noreturn void exec_phase(struct phase *ph, int errfd) {
  /* Report failures through the exec-error pipe, which exec closes on success. */
  cfg.status_fd = errfd;
  for (int i = 0; i < ph->ncgroups; i++) {
    if (write(ph->cgroup_fds[i], "0", 1) != 1) setup_fail("cgroup-join");
    close(ph->cgroup_fds[i]);
  }
  if (unshare(CLONE_NEWCGROUP)) setup_fail("cgroupns");
  if (ph->stdin_null) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || dup2(fd, 0) < 0) setup_fail("stdin");
  }
  if (ph->output_fd >= 0) {
    if (dup2(ph->output_fd, 1) < 0 || dup2(ph->output_fd, 2) < 0) setup_fail("output");
  }
  if (chdir(cfg.workdir)) setup_fail("chdir");
  rlim_t cpu_s = (rlim_t)((ph->cpu_ms + 999) / 1000);
  set_rlimit(RLIMIT_CPU, cpu_s, cpu_s + 1, "rlimit-cpu");
  set_rlimit(RLIMIT_FSIZE, (rlim_t)ph->fsize, (rlim_t)ph->fsize, "rlimit-fsize");
  set_rlimit(RLIMIT_NOFILE, (rlim_t)ph->nofile, (rlim_t)ph->nofile, "rlimit-nofile");
  set_rlimit(RLIMIT_STACK, (rlim_t)ph->stack, (rlim_t)ph->stack, "rlimit-stack");
  set_rlimit(RLIMIT_CORE, 0, 0, "rlimit-core");
  set_rlimit(RLIMIT_MEMLOCK, 0, 0, "rlimit-memlock");
  set_rlimit(RLIMIT_MSGQUEUE, 0, 0, "rlimit-msgqueue");
  if (ph->as > 0) set_rlimit(RLIMIT_AS, (rlim_t)ph->as, (rlim_t)ph->as, "rlimit-as");
  /* Lower priority than the service: with every core busy running programs, the API and the
     executors still get the CPU when they wake. The program cannot lower it again (RLIMIT_NICE). */
  set_rlimit(RLIMIT_NICE, 0, 0, "rlimit-nice");
  if (cfg.nice > 0 && setpriority(PRIO_PROCESS, 0, cfg.nice)) setup_fail("nice");
  if (setsid() < 0) setup_fail("setsid");
  /* Empty the capability bounding set (defence in depth: after the uid drop with no_new_privs the
     program has no capabilities and cannot gain any anyway). EINVAL: past the kernel's last cap. */
  for (int cap = 0; cap < 64; cap++)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL) setup_fail("capbset");
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
  if (!cfg.no_seccomp) {
    struct sock_fprog prog = { .len = cfg.filter_len, .filter = cfg.filter };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) setup_fail("seccomp");
  }
  execve(ph->argv[0], ph->argv, cfg.env);
  setup_fail("exec");
}

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

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
  pid_t pid = fork();
  if (pid < 0) setup_fail("fork");
  if (pid == 0) {
    if (dup3(errpipe[1], ERR_FD, O_CLOEXEC) < 0) setup_fail("errpipe");
    exec_phase(ph, ERR_FD);
  }
  close(errpipe[1]);
  for (int i = 0; i < ph->ncgroups; i++) close(ph->cgroup_fds[i]);

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
  if (timed_out) report("phase %s timeout wall_us %lld", ph->name, wall_us);
  else if (WIFEXITED(status)) report("phase %s exit %d wall_us %lld cpu_us %lld", ph->name, WEXITSTATUS(status), wall_us, cpu_us);
  else report("phase %s signal %d wall_us %lld cpu_us %lld", ph->name, WTERMSIG(status), wall_us, cpu_us);
  return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static _Noreturn void init_main(int alive_fd) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL)) setup_fail("pdeathsig");
  /* getppid() is 0 across the pid namespace boundary: a pipe tells whether the outer launcher died
     before PDEATHSIG was armed (its write end closes). */
  struct pollfd pfd = { .fd = alive_fd, .events = POLLIN };
  if (poll(&pfd, 1, 0) != 0) _exit(125);
  close(alive_fd);
  /* Cgroup files are opened now: after pivot_root the host's /sys is out of reach. */
  for (int p = 0; p < cfg.nphases; p++)
    for (int i = 0; i < cfg.phases[p].ncgroups; i++)
      if ((cfg.phases[p].cgroup_fds[i] = open(cfg.phases[p].cgroups[i], O_WRONLY | O_CLOEXEC)) < 0) setup_fail("cgroup-open");
  build_root();
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  report("ready");
  for (int p = 0; p < cfg.nphases; p++)
    if (!run_phase(&cfg.phases[p])) break;
  _exit(0);
}

/* Descriptors the worker hands the launcher must not leak into the program (exec closes them). */
static void protect_fds(void) {
  if (fcntl(cfg.status_fd, F_SETFD, FD_CLOEXEC) < 0) _exit(125);
  for (int p = 0; p < cfg.nphases; p++)
    if (cfg.phases[p].output_fd >= 0 && fcntl(cfg.phases[p].output_fd, F_SETFD, FD_CLOEXEC) < 0) setup_fail("output-fd");
}

/* ---- fork server (--server) ----------------------------------------------------------------
 *
 * One long-lived launcher per executor slot, started once by the worker. Per execution the worker
 * sends a request; the server makes the pipes and clones init straight into fresh pid, mount, net,
 * ipc and uts namespaces: no fork of the worker's (large) Node process and no exec of unshare per
 * execution. It then feeds the input and stdin, and relays the output as frames until init has
 * exited and every pipe is drained.
 *
 * Messages, both ways: u8 type, u32 length (little endian), payload.
 *   worker -> server  'R' run: u32 argc, argc NUL-terminated strings (the options a launcher takes
 *                         on its command line), u32 length + input (as on --input-fd), u32 length + stdin
 *                     'K' kill the running execution (ignored when none runs)
 *   server -> worker  '1' stdout, '2' stderr, '4' status lines, '5' compile output: data
 *                     'X' the execution ended: i32, init's exit code, or -signal when it was killed
 * The server is single-threaded and runs one execution at a time; the worker starts one per slot.
 * It dies with the worker thread that started it (PDEATHSIG), and init dies with it.
 */
#define SRV_MAX_MESSAGE (96u << 20)
#define SRV_DRAIN_MS 2000

static void srv_write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) { struct pollfd w = { .fd = fd, .events = POLLOUT }; poll(&w, 1, -1); continue; }
    if (n <= 0) _exit(3); /* the worker is gone: PDEATHSIG ends init */
    p += n;
    len -= (size_t)n;
  }
}

static void srv_frame(int type, const void *data, uint32_t len) {
  unsigned char head[5];
  head[0] = (unsigned char)type;
  memcpy(head + 1, &len, 4);
  srv_write_all(1, head, 5);
  if (len) srv_write_all(1, data, len);
}

/* One message from the worker: 1 with *payload malloc'd, 0 at end of stream. Exits on a broken stream. */
static int srv_read_message(unsigned char *type, unsigned char **payload, uint32_t *len) {
  unsigned char head[5];
  int r = read_full(0, head, 5);
  if (r == 0) return 0;
  if (r < 0) _exit(2);
  *type = head[0];
  memcpy(len, head + 1, 4);
  if (*len > SRV_MAX_MESSAGE) _exit(2);
  *payload = malloc(*len ? *len : 1);
  if (!*payload || (*len && read_full(0, *payload, *len) != 1)) _exit(2);
  return 1;
}

static int take_u32(unsigned char **p, unsigned char *end, uint32_t *v) {
  if (end - *p < 4) return -1;
  memcpy(v, *p, 4);
  *p += 4;
  return 0;
}

static void srv_fail(const char *step, int err) {
  char line[128];
  int n = snprintf(line, sizeof line, "setup_error %s %d\n", step, err);
  srv_frame('4', line, (uint32_t)n);
  int32_t code = 125;
  srv_frame('X', &code, 4);
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* Write what the pipe takes now; close it when done or when the reader is gone. */
static void srv_feed(int *fd, const unsigned char *data, uint32_t len, uint32_t *off) {
  while (*off < len) {
    ssize_t n = write(*fd, data + *off, len - *off > 65536 ? 65536 : len - *off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) break;
    *off += (uint32_t)n;
  }
  close(*fd);
  *fd = -1;
}

static void srv_run(unsigned char *payload, uint32_t len) {
  unsigned char *p = payload, *end = payload + len;
  uint32_t argc, in_len, stdin_len;
  if (take_u32(&p, end, &argc) || argc > 4096) { srv_fail("request", EPROTO); return; }
  char **argv = calloc(argc + 2, sizeof *argv);
  if (!argv) { srv_fail("request", ENOMEM); return; }
  argv[0] = "codexec-launcher";
  for (uint32_t i = 0; i < argc; i++) {
    unsigned char *nul = memchr(p, 0, (size_t)(end - p));
    if (!nul) { free(argv); srv_fail("request", EPROTO); return; }
    argv[i + 1] = (char *)p;
    p = nul + 1;
  }
  unsigned char *in = NULL, *sin = NULL;
  if (take_u32(&p, end, &in_len) || (uint32_t)(end - p) < in_len) { free(argv); srv_fail("request", EPROTO); return; }
  in = p; p += in_len;
  if (take_u32(&p, end, &stdin_len) || (uint32_t)(end - p) != stdin_len) { free(argv); srv_fail("request", EPROTO); return; }
  sin = p;

  /* The child's descriptors 0..6: stdin, stdout, stderr, input, status, compile output, alive. */
  int pin[2], pstdin[2], pout[2], perr[2], pst[2], pco[2], palive[2];
  int *pipes[] = { pin, pstdin, pout, perr, pst, pco, palive };
  for (size_t i = 0; i < sizeof pipes / sizeof *pipes; i++) {
    if (pipe2(pipes[i], O_CLOEXEC)) {
      int e = errno;
      for (size_t j = 0; j < i; j++) { close(pipes[j][0]); close(pipes[j][1]); }
      free(argv);
      srv_fail("pipe", e);
      return;
    }
  }
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid == 0) {
    /* init, pid 1 of the new pid namespace. Move the ends we keep above the range first, so that
       no dup2 below overwrites one that is still to be moved; everything else closes. */
    int want[7] = { pstdin[0], pout[1], perr[1], pin[0], pst[1], pco[1], palive[0] };
    int high[7];
    for (int i = 0; i < 7; i++) if ((high[i] = fcntl(want[i], F_DUPFD_CLOEXEC, 64)) < 0) _exit(125);
    for (int i = 0; i < 7; i++) if (dup2(high[i], i) < 0) _exit(125);
    if (syscall(SYS_close_range, 7, ~0U, 0)) _exit(125);
    parse_args((int)argc + 1, argv);
    protect_fds();
    init_main(6);
  }
  int clone_errno = errno;
  close(pstdin[0]); close(pout[1]); close(perr[1]); close(pin[0]); close(pst[1]); close(pco[1]); close(palive[0]);
  free(argv);
  if (pid < 0) {
    close(pin[1]); close(pstdin[1]); close(pout[0]); close(perr[0]); close(pst[0]); close(pco[0]); close(palive[1]);
    srv_fail("clone", clone_errno);
    return;
  }
  int pidfd = (int)syscall(434 /* pidfd_open, Linux 5.3 */, pid, 0);
  int in_fd = pin[1], stdin_fd = pstdin[1];
  uint32_t in_off = 0, stdin_off = 0;
  struct { int fd; int type; } outs[4] = { { pout[0], '1' }, { perr[0], '2' }, { pst[0], '4' }, { pco[0], '5' } };
  set_nonblock(in_fd);
  set_nonblock(stdin_fd);
  for (int i = 0; i < 4; i++) set_nonblock(outs[i].fd);
  if (in_len == 0) { close(in_fd); in_fd = -1; }
  if (stdin_len == 0) { close(stdin_fd); stdin_fd = -1; }

  static char buf[65536];
  int reaped = 0, killed = 0, ctl_open = 1, status = 0, open_outs = 4;
  long long drain_deadline = 0;
  while (!reaped || open_outs > 0) {
    struct pollfd pf[8];
    int role[8], n = 0;
    if (ctl_open && !reaped) { pf[n] = (struct pollfd){ .fd = 0, .events = POLLIN }; role[n++] = -1; }
    if (in_fd >= 0) { pf[n] = (struct pollfd){ .fd = in_fd, .events = POLLOUT }; role[n++] = -2; }
    if (stdin_fd >= 0) { pf[n] = (struct pollfd){ .fd = stdin_fd, .events = POLLOUT }; role[n++] = -3; }
    for (int i = 0; i < 4; i++) if (outs[i].fd >= 0) { pf[n] = (struct pollfd){ .fd = outs[i].fd, .events = POLLIN }; role[n++] = i; }
    if (!reaped && pidfd >= 0) { pf[n] = (struct pollfd){ .fd = pidfd, .events = POLLIN }; role[n++] = -4; }
    int timeout = -1;
    if (!reaped && pidfd < 0) timeout = 10;
    if (reaped) {
      long long left = (drain_deadline - now_us()) / 1000;
      if (left <= 0) break; /* something in the sandbox outlived init: do not wait for it */
      timeout = (int)left;
    }
    if (poll(pf, (nfds_t)n, timeout) < 0 && errno != EINTR) _exit(2);
    for (int k = 0; k < n; k++) {
      if (!pf[k].revents) continue;
      if (role[k] == -1) {
        unsigned char type, *msg;
        uint32_t mlen;
        if (!srv_read_message(&type, &msg, &mlen)) { ctl_open = 0; killed = 1; kill(pid, SIGKILL); continue; }
        free(msg);
        if (type != 'K') _exit(2);
        killed = 1;
        kill(pid, SIGKILL);
      } else if (role[k] == -2) {
        srv_feed(&in_fd, in, in_len, &in_off);
      } else if (role[k] == -3) {
        srv_feed(&stdin_fd, sin, stdin_len, &stdin_off);
      } else if (role[k] >= 0) {
        ssize_t got = read(outs[role[k]].fd, buf, sizeof buf);
        if (got > 0) srv_frame(outs[role[k]].type, buf, (uint32_t)got);
        else if (got == 0 || (errno != EAGAIN && errno != EINTR)) { close(outs[role[k]].fd); outs[role[k]].fd = -1; open_outs--; }
      }
    }
    if (!reaped && waitpid(pid, &status, WNOHANG) == pid) {
      reaped = 1;
      drain_deadline = now_us() + SRV_DRAIN_MS * 1000LL;
      if (in_fd >= 0) { close(in_fd); in_fd = -1; }
      if (stdin_fd >= 0) { close(stdin_fd); stdin_fd = -1; }
    }
  }
  for (int i = 0; i < 4; i++) if (outs[i].fd >= 0) close(outs[i].fd);
  if (pidfd >= 0) close(pidfd);
  close(palive[1]);
  int32_t code;
  if (WIFEXITED(status)) code = WEXITSTATUS(status);
  else {
    code = -WTERMSIG(status);
    if (!killed) {
      char line[64];
      int len2 = snprintf(line, sizeof line, "setup_error init-killed %d\n", WTERMSIG(status));
      srv_frame('4', line, (uint32_t)len2);
    }
  }
  srv_frame('X', &code, 4);
  if (!ctl_open) _exit(0);
}

static _Noreturn void server_main(int argc, char **argv) {
  /* --server [--parent PID]: die with the worker; refuse to start if it is already gone. */
  pid_t parent = argc >= 4 && !strcmp(argv[2], "--parent") ? (pid_t)atoi(argv[3]) : 0;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL)) _exit(125);
  if (parent && getppid() != parent) _exit(125);
  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    unsigned char type, *payload;
    uint32_t len;
    if (!srv_read_message(&type, &payload, &len)) _exit(0);
    if (type == 'R') srv_run(payload, len);
    else if (type != 'K') _exit(2);
    free(payload);
  }
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "--server")) server_main(argc, argv);
  parse_args(argc, argv);
  protect_fds();
  /* Die with the worker: if it is killed, the whole execution goes with it. */
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL)) setup_fail("pdeathsig");
  if (getppid() != parent) _exit(125);
  int alive[2];
  if (pipe2(alive, O_CLOEXEC)) setup_fail("pipe");
  pid_t init = fork();
  if (init < 0) setup_fail("fork-init");
  if (init == 0) { close(alive[1]); init_main(alive[0]); }
  close(alive[0]);
  /* The outer launcher only waits; stdio stays open in init and the program. */
  int status;
  while (waitpid(init, &status, 0) < 0) if (errno != EINTR) _exit(125);
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  report("setup_error init-killed %d", WTERMSIG(status));
  _exit(125);
}
