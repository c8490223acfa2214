/* Fork-server framing (PROTOCOL.md): u8 type, u32 length (little endian), payload. */
#include "launcher.h"
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
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

void srv_write_all(int fd, const void *buf, size_t len) {
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

void srv_frame(int type, const void *data, uint32_t len) {
  unsigned char head[5];
  head[0] = (unsigned char)type;
  memcpy(head + 1, &len, 4);
  srv_write_all(1, head, 5);
  if (len) srv_write_all(1, data, len);
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
