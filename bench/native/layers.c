/*
 * The layer ladder: starts a program with a chosen set of the sandbox's layers, built the way the
 * launcher (native/) builds them (kept in step by hand: this file never links the launcher), and
 * times each run, so that the difference between two sets is the cost of one layer, and toggling
 * one layer at a time shows what slows the program itself down. Every layer is built inside the
 * run: the fork server's standby (clone, namespaces and the shared part of the root made before
 * the request) and its mount-namespace teardown after the result are not modelled, so the full
 * ladder is what the layers cost, not the launcher's floor; bench/sandbox-overhead.mjs times the
 * launcher itself ("the launcher alone").
 *
 *   layers --layers LIST [--layers LIST]... [--runs N] [--warmup W] [--cwd DIR] [--file NAME=HOSTPATH]
 *          [--ro PATH]... [--seccomp FILE] [--uid U] [--nice N] [--env K=V]... [--expect TEXT] -- PROGRAM ARGS...
 *
 * Several --layers sets take turns run by run (set 0, set 1, ..., set 0, ...), so that a change of
 * the machine's load hits every set alike: compare sets of one invocation, not of two.
 *
 * LIST, comma separated (any subset; each adds to the ones before it in the launcher's order):
 *   fork      the launcher's process shape: a first child ("init") forks the program and reaps it
 *   pidns mntns netns ipcns utsns, or ns for all five   init is cloned into these (implies fork)
 *   mounts    the launcher's root: tmpfs root, --ro binds (bind + read-only remount each), /etc
 *             files, /dev (tmpfs + 5 device binds), /proc, /work and /tmp tmpfs, the --file
 *             written into /work, pivot_root, old root detached, root remounted read-only (needs mntns)
 *   hidepid   /proc mounted with hidepid=invisible (as the launcher does) instead of plain
 *   onebind   instead of mounts: one recursive bind of a root prepared once at startup, made
 *             read-only with one mount_setattr(AT_RECURSIVE), plus /proc, /work, /tmp
 *   cgroup    a fresh cgroup per run in every hierarchy codexec uses (v1: memory, pids, cpu,
 *             cpuacct, freezer; v2: one), limits written, joined by the program, removed after
 *   cg-memory cg-pids cg-cpu cg-cpuacct cg-freezer   v1 only: join just these hierarchies (no limits
 *             in the others; cgroup alone is all five, as codexec)
 *   cgreuse   with cgroup: one group made at startup and reused by every run
 *   cpuquota  with cgroup: cpu quota of one CPU (cfs_quota_us / cpu.max), as codexec sets
 *   lowshares with cgroup: the groups' parent at cpu.shares 128 / cpu.weight 10, as codexec sets
 *   rlimits   the launcher's setrlimit calls
 *   nice      setpriority(--nice, default 10)
 *   setsid    a new session
 *   uid       capability bounding set emptied, setgroups, setresgid/setresuid to --uid, no_new_privs
 *   seccomp   the filter in --seccomp FILE (struct sock_filter[], as codexec compiles it)
 *   seccomp1  a one-instruction RET ALLOW filter instead (the cost of having any filter at all)
 *   specallow with seccomp: SECCOMP_FILTER_FLAG_SPEC_ALLOW (no forced speculation mitigations)
 *
 * One line per measured run (times in microseconds):
 *   run I set K wall W setup S prog_wall P teardown T prog_cpu C pre_exec_cpu X init_cpu N parent_cpu Q
 *     cg_cpu G phase_wall F pre_exec_wall E minflt M majflt J nvcsw V nivcsw U machine_busy B ok 0|1
 * setup: clone called -> the program's execve; prog_wall: execve -> the program reaped by init;
 * phase_wall: init's fork of the program -> reaped (what the launcher reports as the run's wall_us);
 * teardown: reaped -> init reaped and the pipes closed (pid/net namespace teardown, cgroup rmdir);
 * prog_cpu: the program's rusage after execve; pre_exec_cpu: its own between fork and execve;
 * init_cpu: init's own (mounts, fork); parent_cpu: this process's per run (clone, cgroup files);
 * cg_cpu: the group's cpuacct/cpu.stat usage (-1 without cgroup); pre_exec_wall: fork -> execve in
 * the program's process (waits, e.g. on the cgroup join, show as wall well above pre_exec_cpu);
 * minflt..nivcsw: the program's page faults and context switches (rusage); machine_busy: CPU time of
 * the whole machine during the run (/proc/stat, 10 ms ticks: use sums over many runs; includes
 * kernel work no process is charged for, such as network-namespace cleanup; noisy when shared).
 * Then: total runs N sets S failed F elapsed_us E machine_busy_us B
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"

#define NEWROOT "/tmp"
#define MAX_RO 64
#define MAX_ENV 64

enum {
  L_FORK = 1 << 0, L_PIDNS = 1 << 1, L_MNTNS = 1 << 2, L_NETNS = 1 << 3, L_IPCNS = 1 << 4, L_UTSNS = 1 << 5,
  L_MOUNTS = 1 << 6, L_HIDEPID = 1 << 7, L_ONEBIND = 1 << 8, L_CGROUP = 1 << 9, L_CGREUSE = 1 << 10,
  L_CPUQUOTA = 1 << 11, L_LOWSHARES = 1 << 12, L_RLIMITS = 1 << 13, L_NICE = 1 << 14, L_SETSID = 1 << 15,
  L_UID = 1 << 16, L_SECCOMP = 1 << 17, L_SECCOMP1 = 1 << 18, L_SPECALLOW = 1 << 19,
  /* cgroup v1, one hierarchy each (cgroup alone means all five) */
  L_CG_MEMORY = 1 << 20, L_CG_PIDS = 1 << 21, L_CG_CPU = 1 << 22, L_CG_CPUACCT = 1 << 23, L_CG_FREEZER = 1 << 24,
};
#define L_CG_ANY (L_CG_MEMORY | L_CG_PIDS | L_CG_CPU | L_CG_CPUACCT | L_CG_FREEZER)
static const struct { const char *name; int bits; } NAMES[] = {
  { "fork", L_FORK }, { "pidns", L_PIDNS }, { "mntns", L_MNTNS }, { "netns", L_NETNS }, { "ipcns", L_IPCNS },
  { "utsns", L_UTSNS }, { "ns", L_PIDNS | L_MNTNS | L_NETNS | L_IPCNS | L_UTSNS }, { "mounts", L_MOUNTS },
  { "hidepid", L_HIDEPID }, { "onebind", L_ONEBIND }, { "cgroup", L_CGROUP }, { "cgreuse", L_CGREUSE },
  { "cpuquota", L_CPUQUOTA }, { "lowshares", L_LOWSHARES }, { "rlimits", L_RLIMITS }, { "nice", L_NICE },
  { "setsid", L_SETSID }, { "uid", L_UID }, { "seccomp", L_SECCOMP }, { "seccomp1", L_SECCOMP1 },
  { "specallow", L_SPECALLOW }, { "cg-memory", L_CG_MEMORY }, { "cg-pids", L_CG_PIDS }, { "cg-cpu", L_CG_CPU },
  { "cg-cpuacct", L_CG_CPUACCT }, { "cg-freezer", L_CG_FREEZER }, { "none", 0 },
};

/* Written by init and the program, read by this process after each run (MAP_SHARED survives exec). */
struct shared {
  long long t_fork, t_child, t_exec, t_reaped, pre_exec_cpu, prog_cpu, minflt, majflt, nvcsw, nivcsw;
  int prog_status, init_error;
  char error[160];
};

static int layers, nice_value = 10, nro, nenv;
static uid_t uid = 65534;
static const char *ro[MAX_RO], *cwd, *file_name, *expect;
static char *file_data;
static size_t file_len;
static char *envv[MAX_ENV + 1];
static char **prog;
static struct sock_filter *filter;
static unsigned short filter_len;
static struct shared *sh;
static char template_root[64];
/* cgroups: the directories of this run's group, one per hierarchy. */
/* Each set of layers has its own groups (and parent, whose cpu.shares differ with lowshares). */
#define MAX_SETS 24
static struct set { int layers; char parent[8][512], dir[8][512]; int made; } sets[MAX_SETS];
static int nsets;
static char (*cg_parent)[512], (*cg_dir)[512];
static int ncg, cg_v2, cg_procs_fd[8];

static long long ru_us(const struct rusage *ru) {
  return (long long)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000 + ru->ru_utime.tv_usec + ru->ru_stime.tv_usec;
}

static void die(const char *what) {
  fprintf(stderr, "layers: %s: %s\n", what, strerror(errno));
  exit(2);
}

/* In init or the program: record the failed step and exit. */
static _Noreturn void fail(const char *step) {
  snprintf(sh->error, sizeof sh->error, "%s: %s", step, strerror(errno));
  sh->init_error = 1;
  _exit(125);
}

static void write_text(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) < 0) die(path);
  close(fd);
}

static int try_write(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = write(fd, text, strlen(text)) < 0 ? -1 : 0;
  close(fd);
  return r;
}

static long long read_num(const char *path, const char *key) {
  char buf[4096];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  if (!key) return atoll(buf);
  char *p = strstr(buf, key);
  return p ? atoll(p + strlen(key)) : -1;
}

/* ---- cgroups, as src/sandbox/cgroups (detect.ts, group.ts) lay them out ---------------------- */

static void cg_setup(int set) {
  static const char *v1[] = { "memory", "pids", "cpu", "cpuacct", "freezer" };
  char p[600];
  snprintf(p, sizeof p, "/sys/fs/cgroup/memory/cgroup.procs");
  cg_v2 = access(p, F_OK) != 0;
  if (cg_v2) {
    /* Pure v2 (the cgroup2 VM): a parent beside ours with the controllers enabled. */
    snprintf(cg_parent[0], sizeof cg_parent[0], "/sys/fs/cgroup/codexec-bench-%d-%d", (int)getpid(), set);
    if (mkdir(cg_parent[0], 0755) && errno != EEXIST) die("cgroup parent");
    try_write("/sys/fs/cgroup/cgroup.subtree_control", "+memory +pids +cpu");
    snprintf(p, sizeof p, "%s/cgroup.subtree_control", cg_parent[0]);
    write_text(p, "+memory +pids +cpu");
    ncg = 1;
  } else {
    ncg = 0;
    for (size_t i = 0; i < sizeof v1 / sizeof *v1; i++) {
      /* A hierarchy left out still gets its (empty) directory, so that indexes stay fixed. */
      snprintf(cg_parent[ncg], sizeof cg_parent[ncg], "/sys/fs/cgroup/%s/codexec-bench-%d-%d", v1[i], (int)getpid(), set);
      if (mkdir(cg_parent[ncg], 0755) && errno != EEXIST) die(cg_parent[ncg]);
      ncg++;
    }
  }
  if (layers & L_LOWSHARES) {
    snprintf(p, sizeof p, "%s/%s", cg_parent[cg_v2 ? 0 : 2], cg_v2 ? "cpu.weight" : "cpu.shares");
    write_text(p, cg_v2 ? "10" : "128");
  }
}

static void cg_create(int run) {
  char p[600];
  for (int i = 0; i < ncg; i++) {
    snprintf(cg_dir[i], sizeof cg_dir[i], "%s/r%d", cg_parent[i], run);
    if (mkdir(cg_dir[i], 0755)) die(cg_dir[i]);
  }
  if (cg_v2) {
    snprintf(p, sizeof p, "%s/memory.max", cg_dir[0]); write_text(p, "268435456");
    snprintf(p, sizeof p, "%s/memory.swap.max", cg_dir[0]); try_write(p, "0");
    snprintf(p, sizeof p, "%s/memory.oom.group", cg_dir[0]); try_write(p, "1");
    snprintf(p, sizeof p, "%s/pids.max", cg_dir[0]); write_text(p, "64");
    if (layers & L_CPUQUOTA) { snprintf(p, sizeof p, "%s/cpu.max", cg_dir[0]); write_text(p, "100000 100000"); }
  } else {
    snprintf(p, sizeof p, "%s/memory.limit_in_bytes", cg_dir[0]); write_text(p, "268435456");
    snprintf(p, sizeof p, "%s/memory.memsw.limit_in_bytes", cg_dir[0]);
    if (try_write(p, "268435456")) { snprintf(p, sizeof p, "%s/memory.swappiness", cg_dir[0]); try_write(p, "0"); }
    snprintf(p, sizeof p, "%s/pids.max", cg_dir[1]); write_text(p, "64");
    if (layers & L_CPUQUOTA) {
      snprintf(p, sizeof p, "%s/cpu.cfs_period_us", cg_dir[2]); write_text(p, "100000");
      snprintf(p, sizeof p, "%s/cpu.cfs_quota_us", cg_dir[2]); write_text(p, "100000");
    }
  }
}

/* Opened before the clone: after pivot_root the host's /sys is out of reach (as in the launcher). */
static void cg_open_procs(void) {
  char p[600];
  for (int i = 0; i < ncg; i++) {
    snprintf(p, sizeof p, "%s/cgroup.procs", cg_dir[i]);
    if ((cg_procs_fd[i] = open(p, O_WRONLY | O_CLOEXEC)) < 0) die(p);
  }
}

/* Whether this run's program joins hierarchy i (v1 order: memory, pids, cpu, cpuacct, freezer). */
static int cg_joins(int i) {
  static const int bit[] = { L_CG_MEMORY, L_CG_PIDS, L_CG_CPU, L_CG_CPUACCT, L_CG_FREEZER };
  return cg_v2 || !(layers & L_CG_ANY) || (layers & bit[i]);
}

static long long cg_usage_us(void) {
  char p[600];
  if (cg_v2) { snprintf(p, sizeof p, "%s/cpu.stat", cg_dir[0]); return read_num(p, "usage_usec "); }
  snprintf(p, sizeof p, "%s/cpuacct.usage", cg_dir[3]);
  long long ns = read_num(p, NULL);
  return ns < 0 ? -1 : ns / 1000;
}

static void cg_remove(void) {
  for (int i = 0; i < ncg; i++)
    for (int tries = 0; rmdir(cg_dir[i]); tries++) {
      if (errno != EBUSY || tries > 1000) die(cg_dir[i]);
      usleep(100);
    }
}

static void cg_teardown(void) {
  for (int i = 0; i < ncg; i++) rmdir(cg_parent[i]);
}

/* ---- mounts, as native/launcher.c build_root() ----------------------------------------------- */

static int mkdir_p(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

static void bind_ro(const char *root, const char *path, int remount) {
  char dst[4096], parent[4096];
  struct stat st;
  if (lstat(path, &st)) return;
  snprintf(dst, sizeof dst, "%s%s", root, path);
  snprintf(parent, sizeof parent, "%s", dst);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) { *slash = 0; if (mkdir_p(parent)) fail("mkdir"); }
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) fail("readlink");
    target[n] = 0;
    if (symlink(target, dst) && errno != EEXIST) fail("symlink");
    return;
  }
  if (S_ISDIR(st.st_mode)) { if (mkdir(dst, 0755) && errno != EEXIST) fail("mkdir"); }
  else { int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644); if (fd < 0) fail("bind-target"); close(fd); }
  if (mount(path, dst, NULL, MS_BIND, NULL)) fail("bind");
  if (remount && mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL)) fail("bind-ro");
}

static void put_file(const char *path, const char *content, size_t len, uid_t owner) {
  int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, content, len) != (ssize_t)len) fail("write-file");
  if (owner != (uid_t)-1 && fchown(fd, owner, owner)) fail("chown");
  close(fd);
}

static void build_etc_dev(const char *root) {
  char p[4096];
  snprintf(p, sizeof p, "%s/etc", root);
  if (mkdir(p, 0755) && errno != EEXIST) fail("etc");
  static const char *etc[][2] = {
    { "passwd", "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nrunner:x:65534:65534:codexec:/work:/bin/sh\n" },
    { "group", "root:x:0:\nrunner:x:65534:\n" }, { "hostname", "codexec\n" }, { "hosts", "127.0.0.1 localhost codexec\n::1 localhost\n" },
  };
  for (size_t i = 0; i < 4; i++) { snprintf(p, sizeof p, "%s/etc/%s", root, etc[i][0]); put_file(p, etc[i][1], strlen(etc[i][1]), (uid_t)-1); }
  snprintf(p, sizeof p, "%s/dev", root);
  if (mkdir(p, 0755) && errno != EEXIST) fail("dev");
  if (mount("codexec-dev", p, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755")) fail("dev");
  static const char *nodes[] = { "null", "zero", "full", "random", "urandom" };
  for (size_t i = 0; i < 5; i++) {
    char src[64];
    snprintf(src, sizeof src, "/dev/%s", nodes[i]);
    snprintf(p, sizeof p, "%s/dev/%s", root, nodes[i]);
    int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) fail("dev");
    close(fd);
    if (mount(src, p, NULL, MS_BIND, NULL) || mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC, NULL)) fail("dev-bind");
  }
  static const char *links[][2] = { { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" } };
  for (size_t i = 0; i < 4; i++) { snprintf(p, sizeof p, "%s/dev/%s", root, links[i][1]); if (symlink(links[i][0], p)) fail("dev-link"); }
  snprintf(p, sizeof p, "%s/dev", root);
  if (mount(NULL, p, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755")) fail("dev-ro");
}

/* /proc, /work and /tmp, the source file, then pivot into NEWROOT. */
static void finish_root(void) {
  char opts[160];
  if (mkdir(NEWROOT "/proc", 0555) && errno != EEXIST) fail("proc");
  const char *popts = (layers & L_HIDEPID) ? "hidepid=invisible" : NULL;
  if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, popts)) fail("proc");
  static const char *tmpfs[][2] = { { NEWROOT "/work", "755" }, { NEWROOT "/tmp", "1777" } };
  for (int i = 0; i < 2; i++) {
    if (mkdir_p(tmpfs[i][0])) fail("tmpfs-dir");
    snprintf(opts, sizeof opts, "size=33554432,nr_inodes=4096,mode=%s,uid=%u,gid=%u", tmpfs[i][1], (unsigned)uid, (unsigned)uid);
    if (mount("codexec-tmp", tmpfs[i][0], "tmpfs", MS_NOSUID | MS_NODEV, opts)) fail("tmpfs");
  }
  if (file_name) {
    char p[4096];
    snprintf(p, sizeof p, NEWROOT "/work/%s", file_name);
    put_file(p, file_data, file_len, uid);
  }
  if (chdir(NEWROOT) || syscall(SYS_pivot_root, ".", ".") || umount2(".", MNT_DETACH) || chdir("/")) fail("pivot_root");
}

static void build_root(void) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) fail("private");
  if (layers & L_ONEBIND) {
    if (mount(template_root, NEWROOT, NULL, MS_BIND | MS_REC, NULL)) fail("rbind");
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
    if (syscall(SYS_mount_setattr, AT_FDCWD, NEWROOT, AT_RECURSIVE, &attr, sizeof attr)) fail("mount_setattr");
    /* The template's /proc, /work, /tmp are empty directories: mount over them, then pivot. */
    finish_root();
  } else {
    if (mount("codexec-root", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=0755")) fail("root-tmpfs");
    for (int i = 0; i < nro; i++) bind_ro(NEWROOT, ro[i], 1);
    build_etc_dev(NEWROOT);
    finish_root();
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=0755")) fail("root-ro");
  }
  if (sethostname("codexec", 7)) fail("hostname");
}

/* onebind: the root prepared once, in this process's own mount namespace (nothing leaks to the host). */
static void build_template(void) {
  if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("unshare mount ns");
  snprintf(template_root, sizeof template_root, "/run/codexec-bench-root-%d", (int)getpid());
  if (mkdir(template_root, 0755) && errno != EEXIST) die(template_root);
  if (mount("codexec-root", template_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=0755")) die("template tmpfs");
  struct shared dummy;
  sh = &dummy;
  for (int i = 0; i < nro; i++) bind_ro(template_root, ro[i], 0);
  build_etc_dev(template_root);
  char p[256];
  snprintf(p, sizeof p, "%s/proc", template_root); mkdir(p, 0555);
  snprintf(p, sizeof p, "%s/work", template_root); mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/tmp", template_root); mkdir(p, 01777);
}

/* ---- the program: everything between fork and exec, as the launcher's exec_phase() ------------ */

static void set_rlimit(int res, rlim_t v) {
  struct rlimit rl = { v, v };
  if (setrlimit(res, &rl)) fail("rlimit");
}

static _Noreturn void exec_program(void) {
  sh->t_child = now_us();
  if (layers & L_CGROUP) {
    for (int i = 0; i < ncg; i++)
      if (cg_joins(i) && write(cg_procs_fd[i], "0", 1) != 1) fail("cgroup-join");
    if (unshare(CLONE_NEWCGROUP)) fail("cgroupns");
  }
  if (!(layers & (L_MOUNTS | L_ONEBIND)) && cwd && chdir(cwd)) fail("chdir");
  if ((layers & (L_MOUNTS | L_ONEBIND)) && chdir("/work")) fail("chdir");
  if (layers & L_RLIMITS) {
    struct rlimit cpu = { 5, 6 };
    if (setrlimit(RLIMIT_CPU, &cpu)) fail("rlimit");
    set_rlimit(RLIMIT_FSIZE, 16 << 20); set_rlimit(RLIMIT_NOFILE, 64); set_rlimit(RLIMIT_STACK, 8 << 20);
    set_rlimit(RLIMIT_CORE, 0); set_rlimit(RLIMIT_MEMLOCK, 0); set_rlimit(RLIMIT_MSGQUEUE, 0); set_rlimit(RLIMIT_NICE, 0);
  }
  if ((layers & L_NICE) && setpriority(PRIO_PROCESS, 0, nice_value)) fail("nice");
  if ((layers & L_SETSID) && setsid() < 0) fail("setsid");
  if (layers & L_UID) {
    for (int cap = 0; cap < 64; cap++) if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL) fail("capbset");
    if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid)) fail("setuid");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) fail("no_new_privs");
  }
  if (layers & (L_SECCOMP | L_SECCOMP1)) {
    if (!(layers & L_UID) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) fail("no_new_privs");
    struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
    struct sock_fprog fp = (layers & L_SECCOMP1) ? (struct sock_fprog){ 1, allow } : (struct sock_fprog){ filter_len, filter };
    unsigned flags = (layers & L_SPECALLOW) ? SECCOMP_FILTER_FLAG_SPEC_ALLOW : 0;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fp)) fail("seccomp");
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  sh->pre_exec_cpu = ru_us(&ru);
  sh->t_exec = now_us();
  execve(prog[0], prog, envv);
  fail("exec");
}

/* init: builds the root, forks the program, reaps everything, records the program's rusage. */
static _Noreturn void init_main(void) {
  if (layers & (L_MOUNTS | L_ONEBIND)) build_root();
  sh->t_fork = now_us();
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) exec_program();
  int status;
  struct rusage ru;
  while (wait4(pid, &status, __WALL, &ru) < 0) if (errno != EINTR) fail("wait4");
  sh->t_reaped = now_us();
  sh->prog_cpu = ru_us(&ru) - sh->pre_exec_cpu;
  sh->minflt = ru.ru_minflt; sh->majflt = ru.ru_majflt; sh->nvcsw = ru.ru_nvcsw; sh->nivcsw = ru.ru_nivcsw;
  sh->prog_status = status;
  while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR) {}
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static long long machine_busy_us(void) {
  char buf[512];
  int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  if (fd >= 0) close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  unsigned long long v[10] = { 0 };
  sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  long long busy = (long long)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
  return busy * (1000000 / sysconf(_SC_CLK_TCK));
}

/* One run; prints its line when `print`. Returns 1 when ok. */
static int one_run(int index, int set, int print) {
  int out[2], err[2];
  char outbuf[4096];
  size_t outlen = 0;
  memset(sh, 0, sizeof *sh);
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) die("pipe");
  layers = sets[set].layers;
  cg_parent = sets[set].parent;
  cg_dir = sets[set].dir;
  if ((layers & L_CGROUP) && !(layers & L_CGREUSE)) cg_create(++sets[set].made);
  if (layers & L_CGROUP) cg_open_procs();
  long long cg0 = (layers & L_CGROUP) ? cg_usage_us() : -1;
  struct rusage self0, self1;
  getrusage(RUSAGE_SELF, &self0);
  long long busy0 = machine_busy_us();
  long long t0 = now_us();
  int flags = 0;
  if (layers & L_PIDNS) flags |= CLONE_NEWPID;
  if (layers & L_MNTNS) flags |= CLONE_NEWNS;
  if (layers & L_NETNS) flags |= CLONE_NEWNET;
  if (layers & L_IPCNS) flags |= CLONE_NEWIPC;
  if (layers & L_UTSNS) flags |= CLONE_NEWUTS;
  pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) die("clone");
  if (pid == 0) {
    if (dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) fail("dup2");
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0) fail("stdin");
    if (layers & L_FORK) init_main();
    exec_program();
  }
  close(out[1]);
  close(err[1]);
  int open_fds = 2;
  struct pollfd pf[2] = { { .fd = out[0], .events = POLLIN }, { .fd = err[0], .events = POLLIN } };
  while (open_fds) {
    if (poll(pf, 2, -1) < 0) { if (errno == EINTR) continue; die("poll"); }
    for (int i = 0; i < 2; i++) {
      if (!pf[i].revents) continue;
      char junk[4096];
      ssize_t n = i == 0 && outlen < sizeof outbuf ? read(pf[i].fd, outbuf + outlen, sizeof outbuf - outlen) : read(pf[i].fd, junk, sizeof junk);
      if (n > 0 && i == 0 && outlen < sizeof outbuf) outlen += (size_t)n;
      if (n == 0 || (n < 0 && errno != EINTR)) { close(pf[i].fd); pf[i].fd = -1; open_fds--; }
    }
  }
  int status;
  struct rusage ru;
  while (wait4(pid, &status, __WALL, &ru) < 0) if (errno != EINTR) die("wait4");
  long long t_end = now_us();
  long long cg = -1;
  if (layers & L_CGROUP) {
    cg = cg_usage_us() - cg0;
    for (int i = 0; i < ncg; i++) close(cg_procs_fd[i]);
    if (!(layers & L_CGREUSE)) cg_remove();
  }
  getrusage(RUSAGE_SELF, &self1);
  long long t_done = now_us();
  long long busy = machine_busy_us() - busy0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int ok = code == 0 && !sh->init_error && (!expect || (outlen == strlen(expect) && !memcmp(outbuf, expect, outlen)));
  if (sh->init_error && print) fprintf(stderr, "layers: run %d: %s\n", index, sh->error);
  if (!(layers & L_FORK)) {
    sh->prog_cpu = ru_us(&ru) - sh->pre_exec_cpu;
    sh->t_reaped = t_end;
    sh->minflt = ru.ru_minflt; sh->majflt = ru.ru_majflt; sh->nvcsw = ru.ru_nvcsw; sh->nivcsw = ru.ru_nivcsw;
  }
  long long total = ru_us(&ru);
  if (print)
    printf("run %d set %d wall %lld setup %lld prog_wall %lld teardown %lld prog_cpu %lld pre_exec_cpu %lld init_cpu %lld parent_cpu %lld cg_cpu %lld phase_wall %lld pre_exec_wall %lld minflt %lld majflt %lld nvcsw %lld nivcsw %lld machine_busy %lld ok %d\n",
           index, set, t_done - t0, sh->t_exec - t0, sh->t_reaped - sh->t_exec, t_done - sh->t_reaped, sh->prog_cpu, sh->pre_exec_cpu,
           (layers & L_FORK) ? total - sh->prog_cpu - sh->pre_exec_cpu : 0, ru_us(&self1) - ru_us(&self0), cg,
           (layers & L_FORK) ? sh->t_reaped - sh->t_fork : sh->t_reaped - t0, sh->t_exec - sh->t_child, sh->minflt, sh->majflt, sh->nvcsw, sh->nivcsw, busy, ok);
  return ok;
}

static void load_file(const char *path, char **data, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st)) die(path);
  *data = malloc((size_t)st.st_size + 1);
  if (read(fd, *data, (size_t)st.st_size) != st.st_size) die(path);
  *len = (size_t)st.st_size;
  close(fd);
}

int main(int argc, char **argv) {
  int runs = 20, warmup = 2, i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--")) { i++; break; }
    if (!v) { fprintf(stderr, "layers: %s needs a value\n", a); return 2; }
    if (!strcmp(a, "--runs")) runs = atoi(v);
    else if (!strcmp(a, "--warmup")) warmup = atoi(v);
    else if (!strcmp(a, "--cwd")) cwd = v;
    else if (!strcmp(a, "--uid")) uid = (uid_t)atoi(v);
    else if (!strcmp(a, "--nice")) nice_value = atoi(v);
    else if (!strcmp(a, "--expect")) {
      char *e = malloc(strlen(v) + 1), *o = e;
      for (const char *s = v; *s; s++) { if (s[0] == '\\' && s[1] == 'n') { *o++ = '\n'; s++; } else *o++ = *s; }
      *o = 0;
      expect = e;
    }
    else if (!strcmp(a, "--ro")) { if (nro == MAX_RO) return 2; ro[nro++] = v; }
    else if (!strcmp(a, "--env")) { if (nenv == MAX_ENV) return 2; envv[nenv++] = (char *)v; }
    else if (!strcmp(a, "--file")) {
      char *eq = strchr(v, '=');
      if (!eq) { fprintf(stderr, "layers: --file NAME=HOSTPATH\n"); return 2; }
      file_name = strndup(v, (size_t)(eq - v));
      load_file(eq + 1, &file_data, &file_len);
    }
    else if (!strcmp(a, "--seccomp")) {
      char *d; size_t n;
      load_file(v, &d, &n);
      if (n == 0 || n % sizeof(struct sock_filter)) { fprintf(stderr, "layers: %s is not a sock_filter array\n", v); return 2; }
      filter = (struct sock_filter *)d;
      filter_len = (unsigned short)(n / sizeof(struct sock_filter));
    }
    else if (!strcmp(a, "--layers")) {
      if (nsets == MAX_SETS) { fprintf(stderr, "layers: at most %d --layers\n", MAX_SETS); return 2; }
      char *copy = strdup(v);
      for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        size_t k = 0;
        while (k < sizeof NAMES / sizeof *NAMES && strcmp(NAMES[k].name, tok)) k++;
        if (k == sizeof NAMES / sizeof *NAMES) { fprintf(stderr, "layers: unknown layer %s\n", tok); return 2; }
        sets[nsets].layers |= NAMES[k].bits;
      }
      nsets++;
    }
    else { fprintf(stderr, "layers: unknown option %s\n", a); return 2; }
    i++;
  }
  if (i >= argc || runs < 1 || nsets == 0) { fprintf(stderr, "usage: layers --layers LIST [--layers LIST]... [options] -- PROGRAM ARGS...\n"); return 2; }
  prog = argv + i;
  int any = 0;
  for (int k = 0; k < nsets; k++) {
    int *l = &sets[k].layers;
    if (*l & (L_PIDNS | L_MNTNS | L_NETNS | L_IPCNS | L_UTSNS)) *l |= L_FORK;
    if (*l & L_CG_ANY) *l |= L_CGROUP;
    if ((*l & (L_MOUNTS | L_ONEBIND)) && !(*l & L_MNTNS)) { fprintf(stderr, "layers: mounts need mntns\n"); return 2; }
    if ((*l & L_SECCOMP) && !filter) { fprintf(stderr, "layers: seccomp needs --seccomp FILE\n"); return 2; }
    any |= *l;
  }
  if (nenv == 0) { envv[nenv++] = "PATH=/usr/bin:/bin"; envv[nenv++] = "LANG=C.UTF-8"; }
  envv[nenv] = NULL;
  if (any & L_ONEBIND) build_template();
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) die("mmap");
  for (int k = 0; k < nsets; k++) {
    if (!(sets[k].layers & L_CGROUP)) continue;
    layers = sets[k].layers;
    cg_parent = sets[k].parent;
    cg_dir = sets[k].dir;
    cg_setup(k);
    if (layers & L_CGREUSE) cg_create(0);
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  int failed = 0;
  /* Sets take turns run by run, so that a change of machine load hits them alike. */
  for (int w = 0; w < warmup; w++)
    for (int k = 0; k < nsets; k++)
      if (!one_run(-1 - w, k, 0)) { fprintf(stderr, "layers: a warm-up run of set %d failed:\n", k); one_run(-100, k, 1); return 1; }
  long long busy0 = machine_busy_us(), t0 = now_us();
  for (int r = 0; r < runs; r++)
    for (int k = 0; k < nsets; k++)
      if (!one_run(r, k, 1)) failed++;
  long long elapsed = now_us() - t0, busy = machine_busy_us() - busy0;
  for (int k = 0; k < nsets; k++) {
    if (!(sets[k].layers & L_CGROUP)) continue;
    layers = sets[k].layers;
    cg_parent = sets[k].parent;
    cg_dir = sets[k].dir;
    if (layers & L_CGREUSE) cg_remove();
    cg_teardown();
  }
  /* The template's directory lives in the host's /run (only its mounts were private to us). */
  if (any & L_ONEBIND) {
    umount2(template_root, MNT_DETACH);
    rmdir(template_root);
  }
  printf("total runs %d sets %d failed %d elapsed_us %lld machine_busy_us %lld\n", runs, nsets, failed, elapsed, busy);
  return failed ? 1 : 0;
}
