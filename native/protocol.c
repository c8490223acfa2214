/* Fork-server framing (PROTOCOL.md): u8 type, u32 length (little endian), payload. */
#include "launcher.h"
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int read_full(int fd, void *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, (char *)buf + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return got == 0 && n == 0 ? 0 : -1;
    got += (size_t)n;
  }
  return 1;
}

/* Writes all of iov, in as few writev calls as the pipe takes; 0, or an errno (EPIPE when the reader
   is gone). A full non-blocking pipe is waited for. */
int writev_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = writev(fd, iov, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) { struct pollfd p = { .fd = fd, .events = POLLOUT }; poll(&p, 1, -1); continue; }
    if (w <= 0) return w < 0 ? errno : EPIPE;
    while (n > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
  return 0;
}

/* One writev for the headers and payloads: each write to the worker's pipe wakes it, and on a
   busy CPU it then runs before the rest is written (a header and its payload were two wakeups). */
void srv_frames(const struct out_frame *frames, int n) {
  unsigned char heads[SRV_MAX_FRAMES][5];
  struct iovec iov[2 * SRV_MAX_FRAMES];
  int k = 0;
  if (n > SRV_MAX_FRAMES) _exit(3);
  for (int i = 0; i < n; i++) {
    heads[i][0] = (unsigned char)frames[i].type;
    memcpy(heads[i] + 1, &frames[i].len, 4);
    iov[k++] = (struct iovec){ .iov_base = heads[i], .iov_len = 5 };
    if (frames[i].len) iov[k++] = (struct iovec){ .iov_base = (void *)frames[i].data, .iov_len = frames[i].len };
  }
  if (writev_all(1, iov, k)) _exit(3); /* the worker is gone: PDEATHSIG ends init */
}

void srv_frame(int type, const void *data, uint32_t len) {
  struct out_frame f = { type, data, len };
  srv_frames(&f, 1);
}

/* One message from the worker: 1 with *payload malloc'd, 0 at end of stream. Exits on a broken stream. */
int srv_read_message(unsigned char *type, unsigned char **payload, uint32_t *len) {
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

int take_u32(unsigned char **p, unsigned char *end, uint32_t *v) {
  if (end - *p < 4) return -1;
  memcpy(v, *p, 4);
  *p += 4;
  return 0;
}
