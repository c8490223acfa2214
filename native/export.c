/*
 * The working directory back out (--export-fd N): after the last phase exited 0, init walks the
 * working directory and writes its regular files as records (PROTOCOL.md, "Records") to N, which
 * the server relays as '7' frames. Then one status line: `export files N bytes M`, or
 * `export_error REASON` and nothing usable (the worker discards what it got).
 *
 * By then every process of the execution is dead (run_phase reaps the whole pid namespace), so
 * nothing changes under the walk; still, the program decided what is there:
 *   - nothing is followed: entries are looked at with AT_SYMLINK_NOFOLLOW, opened with O_NOFOLLOW
 *     relative to their directory's descriptor; symlinks, FIFOs, sockets and devices are skipped
 *     unopened (a FIFO would block init forever), and so is anything on another filesystem;
 *   - everything is bounded: MAX_FILES files, export_max_bytes in all (the tmpfs size), MAX_DEPTH,
 *     MAX_PATH_BYTES, and MAX_EXPORT_ENTRIES entries visited (hard links to a FIFO cost no inode);
 *   - a first pass only checks the bounds, so nothing is sent unless everything fits.
 */
#include "launcher.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_EXPORT_ENTRIES 16384

struct walk {
  int writing;
  dev_t dev;
  unsigned files, entries;
  unsigned long long bytes;
  const char *fail;
  unsigned char buf[65536];
  size_t used;
};

static int flush_out(struct walk *w) {
  for (size_t off = 0; off < w->used;) {
    ssize_t n = write(cfg.export_fd, w->buf + off, w->used - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { w->fail = "write"; return -1; }
    off += (size_t)n;
  }
  w->used = 0;
  return 0;
}

static int put(struct walk *w, const void *data, size_t len) {
  const unsigned char *p = data;
  while (len) {
    if (w->used == sizeof w->buf && flush_out(w)) return -1;
    size_t n = sizeof w->buf - w->used < len ? sizeof w->buf - w->used : len;
    memcpy(w->buf + w->used, p, n);
    w->used += n;
    p += n;
    len -= n;
  }
  return 0;
}

/* One record: type, name, then exactly st_size bytes of the file. */
static int put_file(struct walk *w, int dfd, const char *name, const char *path, size_t plen, const struct stat *st) {
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  struct stat again;
  if (fd < 0 || fstat(fd, &again) || !S_ISREG(again.st_mode) || again.st_ino != st->st_ino || again.st_size != st->st_size) {
    if (fd >= 0) close(fd);
    w->fail = "open";
    return -1;
  }
  unsigned char type = (st->st_mode & S_IXUSR) ? 'E' : 'F';
  uint32_t nlen = (uint32_t)plen, dlen = (uint32_t)st->st_size;
  if (put(w, &type, 1) || put(w, &nlen, 4) || put(w, path, plen) || put(w, &dlen, 4)) { close(fd); return -1; }
  for (uint32_t left = dlen; left > 0;) {
    if (w->used == sizeof w->buf && flush_out(w)) { close(fd); return -1; }
    size_t room = sizeof w->buf - w->used;
    ssize_t n = read(fd, w->buf + w->used, left < room ? left : room);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { close(fd); w->fail = "read"; return -1; }
    w->used += (size_t)n;
    left -= (uint32_t)n;
  }
  close(fd);
  return 0;
}

/* Walks the directory `dfd` (taken over) whose relative path is path[0..plen). */
static int walk_dir(struct walk *w, int dfd, char *path, size_t plen, int depth) {
  DIR *d = fdopendir(dfd);
  if (!d) { close(dfd); w->fail = "opendir"; return -1; }
  struct dirent *e;
  int rc = -1;
  while ((errno = 0, e = readdir(d))) {
    const char *n = e->d_name;
    if (!strcmp(n, ".") || !strcmp(n, "..")) continue;
    if (++w->entries > MAX_EXPORT_ENTRIES) { w->fail = "entries"; goto out; }
    size_t nl = strlen(n), len = plen + (plen ? 1 : 0) + nl;
    if (nl > MAX_COMPONENT_BYTES || len > MAX_PATH_BYTES) { w->fail = "path"; goto out; }
    char *at = path + plen;
    if (plen) *at++ = '/';
    memcpy(at, n, nl + 1);
    struct stat st;
    if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW)) { w->fail = "stat"; goto out; }
    if (st.st_dev != w->dev) {
      /* never crossed (nothing is mounted there; defence in depth) */
    } else if (S_ISDIR(st.st_mode)) {
      if (depth + 1 >= MAX_DEPTH) { w->fail = "depth"; goto out; }
      int sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) { w->fail = "opendir"; goto out; }
      if (walk_dir(w, sub, path, len, depth + 1)) goto out;
    } else if (S_ISREG(st.st_mode)) {
      if (!safe_relative_path(path, len)) { w->fail = "name"; goto out; }
      if (++w->files > MAX_FILES) { w->fail = "files"; goto out; }
      w->bytes += (unsigned long long)st.st_size;
      if (w->bytes > cfg.export_max_bytes || st.st_size > UINT32_MAX) { w->fail = "bytes"; goto out; }
      if (w->writing && put_file(w, dirfd(d), n, path, len, &st)) goto out;
    }
    path[plen] = 0;
  }
  if (errno) { w->fail = "readdir"; goto out; }
  rc = 0;
out:
  path[plen] = 0;
  closedir(d);
  return rc;
}

static int walk_pass(struct walk *w, int writing) {
  w->writing = writing;
  w->files = w->entries = 0;
  w->bytes = 0;
  w->used = 0;
  int root = open(cfg.workdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (root < 0 || fstat(root, &st)) { if (root >= 0) close(root); w->fail = "workdir"; return -1; }
  w->dev = st.st_dev;
  char path[MAX_PATH_BYTES + MAX_COMPONENT_BYTES + 2] = "";
  if (walk_dir(w, root, path, 0, 0)) return -1;
  return writing ? flush_out(w) : 0;
}

void export_workdir(void) {
  static struct walk w;
  if (walk_pass(&w, 0) || walk_pass(&w, 1)) report("export_error %s", w.fail);
  else report("export files %u bytes %llu", w.files, w.bytes);
}
