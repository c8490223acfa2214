/* The fork server (--server): one long-lived launcher per executor slot; see PROTOCOL.md. */
#include "launcher.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Started once by the worker. Per execution the worker sends a request; the server hands its
 * options to an init cloned straight into fresh pid, mount, net, ipc and uts namespaces: no fork
 * of the worker's (large) Node process per execution. It then feeds the input and stdin, and
 * relays the output as frames until init has exited and every pipe is drained. Single-threaded,
 * one execution at a time. It dies with the worker thread that started it (PDEATHSIG), and init
 * dies with it.
 *
 * The clone is made ahead: while idle, the server keeps one init standing by ("cx-standby"), its
 * pipes made, its namespaces fresh and the part of the root every execution shares already built
 * (the server's --ro and --mask: mounts.c, prebuild_root) and its capability bounding set emptied
 * (child.c, drop_bounding_set), blocked on reading its options; a
 * request only has to write them (the clone, the namespaces' creation and most of the root's
 * mounts are off the execution's path). It holds nothing of any execution: it has read nothing of
 * one, and everything it built comes from the server's own command line. Each standby serves one
 * execution; the next is cloned after that execution's exit frame. One that died meanwhile is
 * replaced by a fresh clone.
 */

/* After init exited, wait at most this long for the pipes to drain (see trigger_unix_gc). */
#define SRV_DRAIN_MS 2000
/*
 * An output pipe that gave less than a full buffer is not read again for this long while init
 * lives and has not said "done": a program writing one byte per write() would otherwise cost one
 * frame, one wakeup here and one in the worker per byte, CPU spent outside its limits (issue 12).
 * Output arrives at most this late. init's status pipe is read as it comes (its lines are few).
 */
#define SRV_COALESCE_MS 10

/* init's descriptors (PROTOCOL.md, "Descriptors of init"). */
enum { C_STDIN, C_STDOUT, C_STDERR, C_INPUT, C_STATUS, C_COMPILE, C_ALIVE, C_EXPORT, C_OPTIONS, NCHILD };
static const int child_reads[NCHILD] = { 1, 0, 0, 1, 0, 0, 1, 0, 1 };
/* The largest options message a standby accepts (argc and the strings of a request). */
#define MAX_OPTIONS_BYTES (1u << 20)
/* Pipes relayed to the worker, each as frames named by init's descriptor. */
static const int relayed[] = { C_STDOUT, C_STDERR, C_STATUS, C_COMPILE, C_EXPORT };
#define NOUT ((int)(sizeof relayed / sizeof *relayed))

/* The root's shared part (the server's --ro and --mask), which each standby builds ahead. */
static struct root_base base;

struct request {
  const unsigned char *options; /* u32 argc and argc NUL-terminated strings, as the request has them */
  uint32_t options_len;
  const unsigned char *in, *sin;
  uint32_t in_len, stdin_len;
};

static void srv_fail(const char *step, int err) {
  char line[128];
  int n = snprintf(line, sizeof line, "setup_error %s %d\n", step, err);
  int32_t code = 125;
  struct out_frame f[2] = { { '4', line, (uint32_t)n }, { 'X', &code, 4 } };
  srv_frames(f, 2);
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

#define MAX_OPTIONS 4096
/* u32 argc then argc NUL-terminated strings, at most MAX_OPTIONS, from *p: moves *p past them and,
   when `words` is given, points words[0..argc-1] at them. 0 or EPROTO. */
static int scan_options(unsigned char **p, unsigned char *end, uint32_t *argc, char **words) {
  if (take_u32(p, end, argc) || *argc > MAX_OPTIONS) return EPROTO;
  for (uint32_t i = 0; i < *argc; i++) {
    unsigned char *nul = memchr(*p, 0, (size_t)(end - *p));
    if (!nul) return EPROTO;
    if (words) words[i] = (char *)*p;
    *p = nul + 1;
  }
  return 0;
}

/* 'R' payload: u32 argc, argc NUL-terminated strings, u32 + input, u32 + stdin. 0 or an errno. */
static int parse_request(unsigned char *payload, uint32_t len, struct request *rq) {
  unsigned char *p = payload, *end = payload + len;
  uint32_t argc;
  if (scan_options(&p, end, &argc, NULL)) return EPROTO;
  rq->options = payload;
  rq->options_len = (uint32_t)(p - payload);
  if (rq->options_len > MAX_OPTIONS_BYTES) return E2BIG;
  if (take_u32(&p, end, &rq->in_len) || (uint32_t)(end - p) < rq->in_len) return EPROTO;
  rq->in = p;
  p += rq->in_len;
  if (take_u32(&p, end, &rq->stdin_len) || (uint32_t)(end - p) != rq->stdin_len) return EPROTO;
  rq->sin = p;
  return 0;
}

/*
 * In the clone: with the child ends at descriptors 0..NCHILD-1, build the root's shared part, then
 * stand by until the server writes the execution's options (u32 length, then argc and the
 * strings) on C_OPTIONS, and become its init. The end of that pipe without a message (the server
 * discarded this standby, or died) ends it. A failure of the prebuild is reported on the status
 * descriptor as any setup error is (`setup_error STEP ERRNO`); the standby still waits, so that
 * the request it would have served is the one that gets that line, and then ends (125) with
 * nothing run. Never returns.
 */
static _Noreturn void become_init(int pipes[NCHILD][2]) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL)) _exit(125);
  /* Move the ends we keep above the range first, so that no dup2 below overwrites one that is
     still to be moved; everything else closes. */
  int high[NCHILD];
  for (int i = 0; i < NCHILD; i++)
    if ((high[i] = fcntl(pipes[i][child_reads[i] ? 0 : 1], F_DUPFD_CLOEXEC, 64)) < 0) _exit(125);
  for (int i = 0; i < NCHILD; i++) if (dup2(high[i], i) < 0) _exit(125);
  if (syscall(SYS_close_range, NCHILD, ~0U, 0)) _exit(125);
  prctl(PR_SET_NAME, "cx-standby");
  static jmp_buf prebuild_failed;
  volatile int failed = 0;
  setup_fail_jumps_to(&prebuild_failed);
  if (setjmp(prebuild_failed) == 0) {
    prebuild_root(&base);
    drop_bounding_set();
  } else failed = 1;
  setup_fail_jumps_to(NULL);
  uint32_t len;
  int r = read_full(C_OPTIONS, &len, 4);
  if (r == 0) _exit(0);
  if (failed || r < 0 || len > MAX_OPTIONS_BYTES) _exit(125);
  unsigned char *buf = malloc(len + 1);
  if (!buf || read_full(C_OPTIONS, buf, len) != 1) _exit(125);
  close(C_OPTIONS);
  prctl(PR_SET_NAME, "cx-init");
  char **argv = calloc(MAX_OPTIONS + 2, sizeof *argv);
  if (!argv) _exit(125);
  argv[0] = "codexec-launcher";
  unsigned char *p = buf;
  uint32_t argc;
  if (scan_options(&p, buf + len, &argc, argv + 1) || p != buf + len) _exit(125);
  parse_args((int)argc + 1, argv);
  protect_fds();
  init_main(C_ALIVE, &base);
}

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

/*
 * Descriptors the program passed into AF_UNIX sockets with SCM_RIGHTS and left in a reference
 * cycle (a socket holding itself in flight) outlive every process of the execution: its memfds,
 * its tmpfs, even our output pipes. The kernel frees such cycles only in its AF_UNIX garbage
 * collection, which runs when some AF_UNIX socket is released: release one now, right after init
 * (and with it every process of the pid namespace) is gone (issue 12: +1.17 GiB of host Shmem
 * after six runs otherwise, and 2 s per run waiting for pipes that never close).
 */
static void trigger_unix_gc(void) {
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s >= 0) close(s);
}

struct relay {
  int fd;
  long long next_read_us;
};

/* An init cloned ahead: its pid, and the server's ends of its pipes (PROTOCOL.md, "Descriptors of init"). */
struct standby {
  int ready;
  pid_t pid;
  int pidfd;
  int held_ns[2]; /* its mount and net namespaces (below), or -1 */
  int ours[NCHILD];
};
static struct standby sb;

/*
 * The server keeps a reference to each init's mount and net namespaces, so that tearing them down
 * happens when the server drops them, right after the execution's exit frame, instead of in init's
 * exit, before it. The mount namespace: every mount of the root, the tmpfs mounts and what the
 * program wrote there, and an RCU grace period in the kernel's namespace_unlock (~0.4 ms). The net
 * namespace: its teardown runs on a kernel worker (cleanup_net, three expedited RCU grace
 * periods), which on a busy CPU ran ahead of this server between init's exit and the exit frame.
 * Nothing runs in either namespace any more by then: init, and with it every process of the pid
 * namespace, is dead and reaped (or has closed everything and is exiting: init_done). -1 when one
 * cannot be opened: then init's exit tears it down as before.
 */
static const char *const held_ns_names[2] = { "mnt", "net" };

static void open_held_ns(pid_t pid, int fds[2]) {
  char path[64];
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, held_ns_names[i]);
    fds[i] = open(path, O_RDONLY | O_CLOEXEC);
  }
}

static void close_held_ns(int fds[2]) {
  for (int i = 0; i < 2; i++) {
    if (fds[i] >= 0) close(fds[i]);
    fds[i] = -1;
  }
}

/* Clone a standby init with fresh pipes into sb; 0, or an errno with everything closed. */
static int clone_standby(void) {
  int pipes[NCHILD][2];
  for (int i = 0; i < NCHILD; i++) {
    if (pipe2(pipes[i], O_CLOEXEC)) {
      int e = errno;
      for (int j = 0; j < i; j++) { close(pipes[j][0]); close(pipes[j][1]); }
      return e;
    }
  }
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid == 0) become_init(pipes);
  int clone_errno = errno;
  for (int i = 0; i < NCHILD; i++) {
    close(pipes[i][child_reads[i] ? 0 : 1]);
    sb.ours[i] = pipes[i][child_reads[i] ? 1 : 0];
  }
  if (pid < 0) {
    for (int i = 0; i < NCHILD; i++) close(sb.ours[i]);
    return clone_errno;
  }
  sb.pid = pid;
  sb.pidfd = (int)syscall(434 /* pidfd_open, Linux 5.3 */, pid, 0);
  open_held_ns(pid, sb.held_ns);
  sb.ready = 1;
  return 0;
}

/* Kill and reap the standby (it died, or will not be used). */
static void discard_standby(void) {
  if (!sb.ready) return;
  kill(sb.pid, SIGKILL);
  for (int i = 0; i < NCHILD; i++) if (sb.ours[i] >= 0) close(sb.ours[i]);
  while (waitpid(sb.pid, NULL, __WALL) < 0 && errno == EINTR) {}
  if (sb.pidfd >= 0) close(sb.pidfd);
  close_held_ns(sb.held_ns);
  sb.ready = 0;
}

/* Write the request's options to the standby and close that pipe; 0, or an errno (it is gone).
   One writev: the standby wakes at the first bytes in its pipe, and the length written alone woke
   it for 4 bytes, then again for the rest. */
static int send_options(const struct request *rq) {
  uint32_t len = rq->options_len;
  struct iovec iov[2] = { { &len, 4 }, { (void *)rq->options, rq->options_len } };
  int err = writev_all(sb.ours[C_OPTIONS], iov, 2);
  if (err) return err;
  close(sb.ours[C_OPTIONS]);
  sb.ours[C_OPTIONS] = -1;
  return 0;
}

/* init's last status line (init.c). */
#define DONE_LINE "done\n"
#define DONE_LEN 5

/* One execution as the server sees it: init, the pipes it feeds and the pipes it relays. */
struct execution {
  pid_t pid;
  int pidfd;
  struct request *rq;
  int in_fd, stdin_fd;
  uint32_t in_off, stdin_off;
  struct relay outs[NOUT];
  int held_ns[2];
  int open_outs, reaped, killed, ctl_open, status;
  long long drain_deadline;
  char status_tail[DONE_LEN]; /* the status stream's last bytes */
  uint32_t status_len;        /* status bytes held in status_buf */
};

/*
 * init's status lines are held here and sent as one frame before the exit frame (or when this
 * fills), not as they come: the worker reads them only at the end, and a frame per line would wake
 * it while the program starts ("ready" comes just before the program's fork), on the same CPU.
 * The worker keeps at most 16 KiB of them (collect.ts).
 */
#define STATUS_BUF_BYTES 16384
static unsigned char status_buf[STATUS_BUF_BYTES];

static void flush_status(struct execution *x) {
  if (x->status_len > 0) srv_frame('0' + C_STATUS, status_buf, x->status_len);
  x->status_len = 0;
}

/* Status bytes that came from init: kept for the frame, and their tail for said_done. */
static void keep_status(struct execution *x, const char *data, size_t n) {
  if (n >= DONE_LEN) {
    memcpy(x->status_tail, data + n - DONE_LEN, DONE_LEN);
  } else {
    memmove(x->status_tail, x->status_tail + n, DONE_LEN - n);
    memcpy(x->status_tail + DONE_LEN - n, data, n);
  }
  if (x->status_len + n > STATUS_BUF_BYTES) flush_status(x);
  if (n > STATUS_BUF_BYTES) srv_frame('0' + C_STATUS, data, (uint32_t)n);
  else {
    memcpy(status_buf + x->status_len, data, n);
    x->status_len += (uint32_t)n;
  }
}

/* init's last status line came: what is left in the pipes is read without the coalescing delay. */
static int said_done(const struct execution *x) {
  return !memcmp(x->status_tail, DONE_LINE, DONE_LEN);
}

/*
 * Whether init has finished on its own: it said "done", its last status line, and every pipe it
 * held has ended, which it does by closing all its descriptors right after that line (init.c). All
 * that is left of it then is its exit: the kernel's teardown of the execution's namespaces, which
 * the result need not wait for (it exits 0, and is reaped right after the exit frame). A killed
 * init, or one whose pipes something else still holds, is waited for as before.
 */
static int init_done(const struct execution *x) {
  return !x->killed && x->open_outs == 0 && said_done(x);
}

/* Give the request to a standby init (cloning one if none stands by, or again if it died
   meanwhile); 0, or an errno with everything closed. */
static int start_init(struct execution *x, int *alive_fd) {
  int err = 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (!sb.ready && (err = clone_standby())) return err;
    if (!(err = send_options(x->rq))) break;
    discard_standby();
  }
  if (err) return err;
  int ours[NCHILD];
  memcpy(ours, sb.ours, sizeof ours);
  x->pid = sb.pid;
  sb.ready = 0;
  x->pidfd = sb.pidfd;
  memcpy(x->held_ns, sb.held_ns, sizeof x->held_ns);
  x->in_fd = ours[C_INPUT];
  x->stdin_fd = ours[C_STDIN];
  *alive_fd = ours[C_ALIVE];
  for (int i = 0; i < NOUT; i++) {
    x->outs[i] = (struct relay){ ours[relayed[i]], 0 };
    set_nonblock(x->outs[i].fd);
  }
  x->open_outs = NOUT;
  set_nonblock(x->in_fd);
  set_nonblock(x->stdin_fd);
  if (x->rq->in_len == 0) { close(x->in_fd); x->in_fd = -1; }
  if (x->rq->stdin_len == 0) { close(x->stdin_fd); x->stdin_fd = -1; }
  return 0;
}

/* A request from the worker while init runs: only 'K' (or the end of the stream) is valid. */
static void on_control(struct execution *x) {
  unsigned char type, *msg;
  uint32_t mlen;
  if (!srv_read_message(&type, &msg, &mlen)) x->ctl_open = 0;
  else {
    free(msg);
    if (type != 'K') _exit(2);
  }
  x->killed = 1;
  kill(x->pid, SIGKILL);
}

/* Read what relayed pipe i holds: the program's output is sent on as a frame, read again no sooner
   than SRV_COALESCE_MS after a short read; init's status lines are kept (keep_status). */
static void on_output(struct execution *x, int i) {
  static char buf[65536];
  struct relay *o = &x->outs[i];
  ssize_t got = read(o->fd, buf, sizeof buf);
  if (got > 0 && relayed[i] == C_STATUS) keep_status(x, buf, (size_t)got);
  else if (got > 0) {
    srv_frame('0' + relayed[i], buf, (uint32_t)got);
    if (got < (ssize_t)sizeof buf) o->next_read_us = now_us() + SRV_COALESCE_MS * 1000LL;
  } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
    close(o->fd);
    o->fd = -1;
    x->open_outs--;
  }
}

/* Feed the input and stdin, relay the output, until the pipes are drained and init is reaped or
   done (init_done). */
static void relay(struct execution *x) {
  enum { R_CONTROL = -1, R_INPUT = -2, R_STDIN = -3, R_INIT = -4 };
  while (x->open_outs > 0 || (!x->reaped && !init_done(x))) {
    struct pollfd pf[NOUT + 4];
    int role[NOUT + 4], n = 0;
    long long now = now_us(), wake = -1;
    int hurry = x->reaped || said_done(x);
    if (x->ctl_open && !x->reaped) { pf[n] = (struct pollfd){ .fd = 0, .events = POLLIN }; role[n++] = R_CONTROL; }
    if (x->in_fd >= 0) { pf[n] = (struct pollfd){ .fd = x->in_fd, .events = POLLOUT }; role[n++] = R_INPUT; }
    if (x->stdin_fd >= 0) { pf[n] = (struct pollfd){ .fd = x->stdin_fd, .events = POLLOUT }; role[n++] = R_STDIN; }
    for (int i = 0; i < NOUT; i++) {
      if (x->outs[i].fd < 0) continue;
      if (!hurry && x->outs[i].next_read_us > now) {
        if (wake < 0 || x->outs[i].next_read_us < wake) wake = x->outs[i].next_read_us;
        continue;
      }
      pf[n] = (struct pollfd){ .fd = x->outs[i].fd, .events = POLLIN };
      role[n++] = i;
    }
    if (!x->reaped && x->pidfd >= 0) { pf[n] = (struct pollfd){ .fd = x->pidfd, .events = POLLIN }; role[n++] = R_INIT; }
    int timeout = -1;
    if (!x->reaped && x->pidfd < 0) timeout = 10;
    if (wake >= 0) {
      int ms = (int)((wake - now + 999) / 1000);
      if (timeout < 0 || ms < timeout) timeout = ms;
    }
    if (x->reaped) {
      long long left = (x->drain_deadline - now) / 1000;
      if (left <= 0) break; /* something outlived init and the collection: do not wait for it */
      timeout = (int)left;
    }
    if (poll(pf, (nfds_t)n, timeout) < 0 && errno != EINTR) _exit(2);
    for (int k = 0; k < n; k++) {
      if (!pf[k].revents) continue;
      if (role[k] == R_CONTROL) on_control(x);
      else if (role[k] == R_INPUT) srv_feed(&x->in_fd, x->rq->in, x->rq->in_len, &x->in_off);
      else if (role[k] == R_STDIN) srv_feed(&x->stdin_fd, x->rq->sin, x->rq->stdin_len, &x->stdin_off);
      else if (role[k] >= 0) on_output(x, role[k]);
    }
    if (!x->reaped && waitpid(x->pid, &x->status, WNOHANG) == x->pid) {
      x->reaped = 1;
      trigger_unix_gc();
      x->drain_deadline = now_us() + SRV_DRAIN_MS * 1000LL;
      if (x->in_fd >= 0) { close(x->in_fd); x->in_fd = -1; }
      if (x->stdin_fd >= 0) { close(x->stdin_fd); x->stdin_fd = -1; }
    }
  }
}

static void srv_run(unsigned char *payload, uint32_t len) {
  struct request rq = { 0 };
  int err = parse_request(payload, len, &rq);
  if (err) { srv_fail("request", err); return; }
  struct execution x = { .rq = &rq, .ctl_open = 1, .held_ns = { -1, -1 } };
  int alive_fd = -1;
  err = start_init(&x, &alive_fd);
  if (err) { srv_fail("clone", err); return; }
  relay(&x);
  for (int i = 0; i < NOUT; i++) if (x.outs[i].fd >= 0) close(x.outs[i].fd);
  if (x.in_fd >= 0) close(x.in_fd);
  if (x.stdin_fd >= 0) close(x.stdin_fd);
  if (x.pidfd >= 0) close(x.pidfd);
  close(alive_fd);
  int exiting = !x.reaped; /* init_done: it exits 0 */
  if (exiting) trigger_unix_gc();
  /* The status lines, and the exit frame, in one write (srv_frames). */
  struct out_frame end[3];
  int nend = 0;
  if (x.status_len > 0) end[nend++] = (struct out_frame){ '0' + C_STATUS, status_buf, x.status_len };
  int32_t code;
  char line[64];
  if (exiting) code = 0;
  else if (WIFEXITED(x.status)) code = WEXITSTATUS(x.status);
  else {
    code = -WTERMSIG(x.status);
    if (!x.killed) {
      int n = snprintf(line, sizeof line, "setup_error init-killed %d\n", WTERMSIG(x.status));
      end[nend++] = (struct out_frame){ '4', line, (uint32_t)n };
    }
  }
  end[nend++] = (struct out_frame){ 'X', &code, 4 };
  srv_frames(end, nend);
  x.status_len = 0;
  if (exiting) while (waitpid(x.pid, NULL, __WALL) < 0 && errno == EINTR) {}
  close_held_ns(x.held_ns); /* the namespaces' teardown, after the result is out */
  if (!x.ctl_open) _exit(0);
  clone_standby(); /* for the next request; without one, that request clones its own */
}

/* --server [--parent PID] [--cgroup PROCS]... [--ro PATH]... [--mask /proc/PATH]...: die with the
   worker (refuse to start if it is already gone), join the servers' cgroup, then serve requests
   until stdin ends; each standby prebuilds the root with the --ro binds and --mask masks. */
_Noreturn void server_main(int argc, char **argv) {
  pid_t parent = 0;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL)) _exit(125);
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--parent")) parent = (pid_t)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--cgroup")) {
      int fd = open(argv[i + 1], O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, "0", 1) != 1) _exit(125);
      close(fd);
    } else if (!strcmp(argv[i], "--ro")) {
      if (bind_problem(argv[i + 1]) || base.nbinds == MAX_BINDS) _exit(125);
      base.binds[base.nbinds++] = argv[i + 1];
    } else if (!strcmp(argv[i], "--mask")) {
      if (mask_problem(argv[i + 1]) || base.nmasks == MAX_MASKS) _exit(125);
      base.masks[base.nmasks++] = argv[i + 1];
    } else _exit(125);
  }
  if (parent && getppid() != parent) _exit(125);
  signal(SIGPIPE, SIG_IGN);
  clone_standby();
  for (;;) {
    unsigned char type, *payload;
    uint32_t len;
    if (!srv_read_message(&type, &payload, &len)) _exit(0);
    if (type == 'R') srv_run(payload, len);
    else if (type != 'K') _exit(2);
    free(payload);
  }
}
