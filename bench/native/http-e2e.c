/*
 * The end-to-end benchmarks' client: one run through codexec's public HTTP API, timed the way the
 * raw baseline is (bench/native/spawn.c), by a small C process and not by Node. A Node client
 * spends ~0.45 ms of its own building and writing a request after an idle moment on the 2-core VM,
 * and ~0.25 ms parsing the answer (bench/RESULTS.md): time that is the client's, not the service's,
 * and that the C spawner of the raw baseline does not pay.
 *
 *   http-e2e --port PORT --session ID [--poll-ms N] [--wait-ms N] [--api-key KEY]
 *
 * Kept running: reads one command per line on stdin, runs it on one keep-alive connection to
 * 127.0.0.1:PORT (reconnecting when the server closes it), and answers with
 *   mode M e2e_us E post_us P polls N http H
 *   body JSON                    (the last answer's body, on one line, for Node to check)
 *   done
 * Commands:
 *   long   POST /code-sessions/ID/run, then GET /executions/X?wait_ms=N until a terminal status
 *   poll   POST, then GET /executions/X every --poll-ms (default 1) until a terminal status
 *   wait   POST /code-sessions/ID/run?wait_ms=N: the result in the POST's answer
 *   floor  GET /healthz (the HTTP floor)
 * e2e = before the POST is written -> the terminal answer fully read. A terminal status is
 * COMPLETED, FAILED or TIMEOUT in the answer's top-level "status". Only 127.0.0.1.
 * Built by bench/lib/native.mjs with cc at run time into bench/.build/.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"

#define BODY_CAP (4 << 20)
#define HEAD_CAP 16384

static int port, poll_ms = 1, wait_ms = 10000, sock = -1;
static const char *session, *api_key;
static char head[HEAD_CAP], *body;
static size_t body_len;
/* Bytes read past the previous answer (none in practice: one request at a time). */
static char spill[HEAD_CAP];
static size_t spill_len;

static void die(const char *what) {
  fprintf(stderr, "http-e2e: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void connect_server(void) {
  if (sock >= 0) close(sock);
  spill_len = 0;
  sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) die("socket");
  int one = 1;
  setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(sock, (struct sockaddr *)&a, sizeof a)) die("connect");
}

static int write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(sock, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads more of the answer into buf at *len (spilled bytes first); -1 when the connection ended. */
static ssize_t read_more(char *buf, size_t cap, size_t *len) {
  if (spill_len > 0) {
    size_t n = spill_len < cap - *len ? spill_len : cap - *len;
    memcpy(buf + *len, spill, n);
    memmove(spill, spill + n, spill_len - n);
    spill_len -= n;
    *len += n;
    return (ssize_t)n;
  }
  for (;;) {
    ssize_t r = read(sock, buf + *len, cap - *len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    *len += (size_t)r;
    return r;
  }
}

/* One request; fills head and body; returns the HTTP status, or -1 when the connection failed. */
static int exchange(const char *method, const char *path) {
  char req[1024];
  int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%s%s%s\r\n", method, path, port,
                   strcmp(method, "POST") ? "" : "Content-Length: 0\r\n", api_key ? "X-Api-Key: " : "", api_key ? api_key : "", api_key ? "\r\n" : "");
  if (n <= 0 || n >= (int)sizeof req || write_all(req, (size_t)n)) return -1;
  size_t len = 0;
  char *end = NULL;
  while (!(end = memmem(head, len, "\r\n\r\n", 4))) {
    if (len == sizeof head - 1 || read_more(head, sizeof head - 1, &len) < 0) return -1;
  }
  size_t head_len = (size_t)(end - head) + 4;
  head[head_len - 2] = 0;
  int status = atoi(head + 9);
  const char *cl = strcasestr(head, "\r\ncontent-length:");
  if (!cl) {
    fprintf(stderr, "http-e2e: an answer without Content-Length: %s\n", head);
    exit(1);
  }
  size_t want = strtoul(cl + 17, NULL, 10);
  if (want >= BODY_CAP) {
    fprintf(stderr, "http-e2e: an answer of %zu bytes\n", want);
    exit(1);
  }
  body_len = len - head_len < want ? len - head_len : want;
  memcpy(body, head + head_len, body_len);
  if (len - head_len > want) {
    memcpy(spill, head + head_len + want, len - head_len - want);
    spill_len = len - head_len - want;
  }
  while (body_len < want)
    if (read_more(body, want, &body_len) < 0) return -1;
  body[body_len] = 0;
  if (strcasestr(head, "\r\nconnection: close")) connect_server();
  return status;
}

/* The string value of `key` in the top-level object of body, into out (empty when absent). */
static void top_string(const char *key, char *out, size_t cap) {
  size_t klen = strlen(key);
  int depth = 0;
  out[0] = 0;
  for (const char *p = body; *p; p++) {
    if (*p == '{' || *p == '[') depth++;
    else if (*p == '}' || *p == ']') depth--;
    else if (*p == '"') {
      const char *s = ++p;
      while (*p && *p != '"') p += (*p == '\\' && p[1]) ? 2 : 1;
      if (!*p) return;
      if (depth == 1 && (size_t)(p - s) == klen && !memcmp(s, key, klen) && p[1] == ':' && p[2] == '"') {
        const char *v = p + 3, *e = strchr(v, '"');
        size_t n = e ? (size_t)(e - v) : 0;
        if (n >= cap) n = cap - 1;
        memcpy(out, v, n);
        out[n] = 0;
        return;
      }
    }
  }
}

static int terminal(void) {
  char st[32];
  top_string("status", st, sizeof st);
  return !strcmp(st, "COMPLETED") || !strcmp(st, "FAILED") || !strcmp(st, "TIMEOUT");
}

/* A request, once more on a fresh connection if the kept one was closed meanwhile. */
static int request(const char *method, const char *path) {
  int status = exchange(method, path);
  if (status < 0) {
    connect_server();
    status = exchange(method, path);
  }
  if (status < 0) die(path);
  return status;
}

static void run(const char *mode) {
  char path[512], id[128];
  int polls = 0, status;
  long long t0 = now_us(), post_us;
  if (!strcmp(mode, "floor")) {
    status = request("GET", "/healthz");
    post_us = now_us() - t0;
  } else {
    int wait = !strcmp(mode, "wait");
    snprintf(path, sizeof path, "/code-sessions/%s/run%s", session, wait ? "?wait_ms=" : "");
    if (wait) snprintf(path + strlen(path), sizeof path - strlen(path), "%d", wait_ms);
    status = request("POST", path);
    post_us = now_us() - t0;
    if (!(wait && status == 200 && terminal())) {
      top_string("execution_id", id, sizeof id);
      if (status != 202 || !id[0]) {
        printf("mode %s e2e_us 0 post_us %lld polls 0 http %d\nbody %s\ndone\n", mode, post_us, status, body);
        fflush(stdout);
        return;
      }
      int poll = !strcmp(mode, "poll");
      if (poll) snprintf(path, sizeof path, "/executions/%s", id);
      else snprintf(path, sizeof path, "/executions/%s?wait_ms=%d", id, wait_ms);
      for (;;) {
        status = request("GET", path);
        polls++;
        if ((status == 200 && terminal()) || now_us() - t0 > 30000000LL) break;
        if (poll) usleep((useconds_t)poll_ms * 1000);
      }
    }
  }
  long long e2e = now_us() - t0;
  for (char *p = body; *p; p++) if (*p == '\n' || *p == '\r') *p = ' ';
  printf("mode %s e2e_us %lld post_us %lld polls %d http %d\nbody %s\ndone\n", mode, e2e, post_us, polls, status, body);
  fflush(stdout);
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--session")) session = argv[i + 1];
    else if (!strcmp(argv[i], "--poll-ms")) poll_ms = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--wait-ms")) wait_ms = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--api-key")) api_key = argv[i + 1];
    else break;
  }
  if (port <= 0 || !session || strlen(session) > 128 || poll_ms < 0) {
    fprintf(stderr, "usage: http-e2e --port PORT --session ID [--poll-ms N] [--wait-ms N] [--api-key KEY]\n");
    return 2;
  }
  if (!(body = malloc(BODY_CAP))) die("malloc");
  body[0] = 0;
  connect_server();
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    if (!strcmp(line, "long") || !strcmp(line, "poll") || !strcmp(line, "wait") || !strcmp(line, "floor")) run(line);
    else {
      fprintf(stderr, "http-e2e: unknown command %s\n", line);
      return 2;
    }
  }
  return 0;
}
