/* The program's filesystem: a tmpfs root, read-only binds of the host, /dev, /proc, tmpfs for the
   working directory and /tmp; then pivot_root into it, leaving nothing of the host's mounts. The
   part every execution shares is built ahead by the standby (prebuild_root), the rest per request
   (build_root). */
#include "launcher.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* Hide `path` (under the new /proc) as container runtimes do: /dev/null over a file, an empty
   read-only tmpfs over a directory. Missing on this host: nothing to hide. */
static void mask_path(const char *path) {
  char dst[PATH_MAX];
  struct stat st;
  newroot_path(dst, path);
  if (lstat(dst, &st)) {
    if (errno == ENOENT) return;
    setup_fail("mask");
  }
  if (S_ISDIR(st.st_mode)) {
    if (mount("codexec-mask", dst, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=1,mode=0555")) setup_fail("mask");
  } else if (mount(NEWROOT "/dev/null", dst, NULL, MS_BIND, NULL) ||
             mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL)) setup_fail("mask");
}

/*
 * The part of the root every execution of this fork server shares, built by its standby before a
 * request comes (server.c): the tmpfs root, the server's read-only binds, an empty /etc, /dev,
 * /proc and the server's masks. All of it comes from the server's own options; nothing of any
 * execution is known yet. It takes most of the root's mount calls off the request's path.
 */
void prebuild_root(const struct root_base *base) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) setup_fail("private");
  if (mount("codexec-root", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=0755")) setup_fail("root-tmpfs");
  for (int i = 0; i < base->nbinds; i++) bind_ro(base->binds[i]);
  if (mkdir(NEWROOT "/etc", 0755) && errno != EEXIST) setup_fail("etc");
  build_dev();
  if (mkdir(NEWROOT "/proc", 0555) && errno != EEXIST) setup_fail("proc");
  /* hidepid: the program sees only its own processes, not init (root): not even its command line.
     "invisible" needs Linux 5.8; "2" is the same on older kernels. The standby is already pid 1 of
     the execution's pid namespace, so this is that namespace's /proc. */
  if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible") &&
      mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")) setup_fail("proc");
  for (int i = 0; i < base->nmasks; i++) mask_path(base->masks[i]);
}

/* The request's binds and masks begin with the base's, in the same order: else the prebuilt root
   is not the one it asked for, and nothing runs. */
static void check_base(const struct root_base *base) {
  int ok = cfg.nbinds >= base->nbinds && cfg.nmasks >= base->nmasks;
  for (int i = 0; ok && i < base->nbinds; i++) ok = !strcmp(cfg.binds[i], base->binds[i]);
  for (int i = 0; ok && i < base->nmasks; i++) ok = !strcmp(cfg.masks[i], base->masks[i]);
  if (!ok) { errno = EINVAL; setup_fail("root-base"); }
}

/* Finish the program's filesystem on the prebuilt base (the request's own binds and masks, its
   identity files, its tmpfs, its files) and pivot into it. */
void build_root(const struct root_base *base) {
  char p[PATH_MAX], opts[128];
  check_base(base);
  /* Binds cannot be under /dev or /proc (args.c), so these land beside what the base built. */
  for (int i = base->nbinds; i < cfg.nbinds; i++) bind_ro(cfg.binds[i]);
  for (int i = base->nmasks; i < cfg.nmasks; i++) mask_path(cfg.masks[i]);

  /* /etc: only what the worker asked to bind, plus identity files of our own. */
  char passwd[256], group[128];
  snprintf(passwd, sizeof passwd, "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nrunner:x:%u:%u:codexec:%s:/bin/sh\n", (unsigned)cfg.uid, (unsigned)cfg.gid, cfg.workdir);
  snprintf(group, sizeof group, "root:x:0:\nrunner:x:%u:\n", (unsigned)cfg.gid);
  write_file(NEWROOT "/etc/passwd", passwd, 0644);
  write_file(NEWROOT "/etc/group", group, 0644);
  write_file(NEWROOT "/etc/hostname", "codexec\n", 0644);
  write_file(NEWROOT "/etc/hosts", "127.0.0.1 localhost codexec\n::1 localhost\n", 0644);

  for (int i = 0; i < cfg.ntmpfs; i++) {
    newroot_path(p, cfg.tmpfs[i].path);
    if (mkdir_p(p, 0755)) setup_fail("tmpfs-dir");
    snprintf(opts, sizeof opts, "size=%llu,nr_inodes=4096,mode=%o,uid=%u,gid=%u", cfg.tmpfs[i].bytes, cfg.tmpfs[i].mode, (unsigned)cfg.uid, (unsigned)cfg.gid);
    if (mount("codexec-tmp", p, "tmpfs", MS_NOSUID | MS_NODEV, opts)) setup_fail("tmpfs");
  }

  /* The input (source files, seccomp filter) is read only now, so that the worker's writing it
     overlaps with the mounts above instead of delaying them. */
  read_input();

  write_source_files();

  /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves nothing of the host. */
  if (chdir(NEWROOT)) setup_fail("chdir-root");
  if (syscall(SYS_pivot_root, ".", ".")) setup_fail("pivot_root");
  if (umount2(".", MNT_DETACH)) setup_fail("umount-old");
  if (chdir("/")) setup_fail("chdir-root");
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=0755")) setup_fail("root-ro");
  if (sethostname(cfg.hostname, strlen(cfg.hostname))) setup_fail("hostname");
}
