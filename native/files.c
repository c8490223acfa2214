/* Input records (PROTOCOL.md, "Records"): the files of the working directory and the compiled
   seccomp filter, read once by init and written into the fresh working directory as root, then
   given to the program's uid. */
#include "launcher.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * A relative path: components of 1..MAX_COMPONENT_BYTES bytes separated by '/', none '.' or '..',
 * at most MAX_DEPTH of them and MAX_PATH_BYTES in all, no NUL (`len` is the length on the wire:
 * a NUL inside would make the C string shorter) and no control character. The worker checks the
 * same (protocol.ts, isSafeRelativePath).
 */
int safe_relative_path(const char *s, size_t len) {
  if (len == 0 || len > MAX_PATH_BYTES || strlen(s) != len) return 0;
  int depth = 0;
  for (const char *c = s; *c;) {
    const char *end = strchr(c, '/');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    if (n == 0 || n > MAX_COMPONENT_BYTES || ++depth > MAX_DEPTH) return 0;
    if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return 0;
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f) return 0;
    if (!end) break;
    c = end + 1;
    if (!*c) return 0; /* trailing '/' */
  }
  return 1;
}

void read_input(void) {
  size_t total = 0;
  for (;;) {
    unsigned char type;
    int r = read_full(cfg.input_fd, &type, 1);
    if (r == 0) break;
    if (r < 0) setup_fail("input");
    uint32_t nlen, dlen;
    if (read_full(cfg.input_fd, &nlen, 4) != 1 || nlen > MAX_PATH_BYTES) { errno = EPROTO; setup_fail("input"); }
    char *name = calloc(1, nlen + 1);
    if (!name || (nlen && read_full(cfg.input_fd, name, nlen) != 1)) { errno = EPROTO; setup_fail("input"); }
    if (read_full(cfg.input_fd, &dlen, 4) != 1) { errno = EPROTO; setup_fail("input"); }
    total += (size_t)dlen + nlen;
    if (total > MAX_INPUT_BYTES) { errno = EFBIG; setup_fail("input"); }
    unsigned char *data = malloc(dlen ? dlen : 1);
    if (!data || (dlen && read_full(cfg.input_fd, data, dlen) != 1)) { errno = EPROTO; setup_fail("input"); }
    if (type == 'F' || type == 'E') {
      if (cfg.nfiles == MAX_FILES || !safe_relative_path(name, nlen)) { errno = EINVAL; setup_fail("input:file"); }
      cfg.files[cfg.nfiles++] = (struct file_rec){ name, data, dlen, type == 'E' };
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

/* Open (creating as needed, 0755, owned by the uid) the directory holding `path`'s last component,
   relative to `root`; returns its fd and points *last at that component (inside `path`, modified). */
static int open_parent(int root, char *path, char **last) {
  int dfd = dup(root);
  if (dfd < 0) setup_fail("source-dir");
  char *c = path;
  for (char *slash; (slash = strchr(c, '/'));) {
    *slash = 0;
    if (mkdirat(dfd, c, 0755) == 0) {
      if (fchownat(dfd, c, cfg.uid, cfg.gid, AT_SYMLINK_NOFOLLOW) || fchmodat(dfd, c, 0755, 0)) setup_fail("source-dir");
    } else if (errno != EEXIST) setup_fail("source-dir");
    int next = openat(dfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) setup_fail("source-dir");
    close(dfd);
    dfd = next;
    *slash = '/';
    c = slash + 1;
  }
  *last = c;
  return dfd;
}

/* The files, written by us (root) into the fresh working directory (nothing else runs yet), then
   given to the uid: 0755 when executable, else 0644. */
void write_source_files(void) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, NEWROOT "%s", cfg.workdir);
  int root = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root < 0) setup_fail("source-dir");
  for (int i = 0; i < cfg.nfiles; i++) {
    char *last, *path = cfg.files[i].name;
    int dfd = open_parent(root, path, &last);
    mode_t mode = cfg.files[i].executable ? 0755 : 0644;
    int fd = openat(dfd, last, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) setup_fail("source-file");
    for (uint32_t off = 0; off < cfg.files[i].len;) {
      ssize_t n = write(fd, cfg.files[i].data + off, cfg.files[i].len - off);
      if (n < 0) setup_fail("source-file");
      off += (uint32_t)n;
    }
    if (fchown(fd, cfg.uid, cfg.gid) || fchmod(fd, mode)) setup_fail("source-file");
    close(fd);
    close(dfd);
  }
  close(root);
}
