/*
 * codexec-launcher: the trusted part of an execution that runs inside the sandbox's namespaces.
 * Shared declarations of its files, each holding one concern (as nsjail does):
 *
 *   main.c      entry: --server starts the fork server
 *   args.c      the options (the launcher's command line, or what a fork-server request carries)
 *   report.c    status lines on the status fd; setup failures
 *   protocol.c  fork-server framing (PROTOCOL.md)
 *   server.c    the fork server: one execution at a time, its pipes relayed as frames
 *   init.c      pid 1 of the execution: builds the filesystem, runs each phase, reaps, reports
 *   mounts.c    the program's filesystem: tmpfs root, read-only binds, /dev, /proc, pivot_root
 *               (the part every execution shares built by the standby, ahead of the request)
 *   files.c     input records: files into the working directory, the seccomp filter
 *   export.c    the working directory back out as records, after the last phase succeeded
 *   child.c     the phase child: everything between fork and exec
 *   limits.c    rlimits and cgroups of the phase child (clone3 into a v2 cgroup, or a join)
 *   seccomp.c   installing the compiled filter
 *
 *   init (pid 1 in the new pid ns)  -- builds the filesystem, runs each phase, reaps,
 *                                      enforces the wall-clock limit, reports status
 *     phase child                   -- enters the phase's cgroups (cloned into it on cgroup v2), sets rlimits, drops to an
 *                                      unprivileged uid with no groups, sets no_new_privs,
 *                                      installs seccomp, execs the program
 *
 * If any setup step fails the program is never started: the failure is reported on the status fd
 * as `setup_error STEP ERRNO` and the TypeScript side records a sandbox error (never runs unconfined).
 *
 * Kept small and dependency-free (static libc): it is forked once per execution, which costs less
 * the smaller it is.
 */
#ifndef CODEXEC_LAUNCHER_H
#define CODEXEC_LAUNCHER_H

#define _GNU_SOURCE
#include <setjmp.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <linux/filter.h>

#define MAX_PHASES 2
#define MAX_CGROUPS 8
#define MAX_BINDS 64
#define MAX_TMPFS 4
#define MAX_MASKS 64
#define MAX_ENV 64
#define MAX_ARGV 64
#define MAX_FILES 1024 /* in and out: Java writes a .class per inner class */
#define MAX_PATH_BYTES 1024
#define MAX_COMPONENT_BYTES 255
#define MAX_DEPTH 16
#define MAX_INPUT_BYTES (64u << 20)
#define NEWROOT "/tmp"
#define SRV_MAX_MESSAGE (96u << 20) /* largest request frame (PROTOCOL.md) */
#define ERR_FD 1000 /* the phase child's exec-error pipe lives here, above anything else */

struct tmpfs_spec { const char *path; unsigned long long bytes; unsigned mode; };
struct file_rec { char *name; unsigned char *data; uint32_t len; int executable; };
struct phase {
  const char *name;
  const char *cgroups[MAX_CGROUPS];
  int ncgroups;
  int cgroup_fds[MAX_CGROUPS];
  int cgroup_dir_fd; /* the phase's cgroup v2 directory when it is its only cgroup, else -1 */
  int born_in_cgroup; /* set (in init and the child) when clone3 put the child in its cgroup */
  long long wall_ms, cpu_ms, fsize, nofile, stack;
  int output_fd; /* -1: inherit stdout/stderr */
  int stdin_null;
  char *argv[MAX_ARGV + 1];
  int argc;
};

struct config {
  int input_fd, status_fd;
  uid_t uid; gid_t gid;
  const char *hostname, *workdir;
  const char *binds[MAX_BINDS]; int nbinds;
  const char *masks[MAX_MASKS]; int nmasks;
  struct tmpfs_spec tmpfs[MAX_TMPFS]; int ntmpfs;
  char *env[MAX_ENV + 1]; int nenv;
  struct phase phases[MAX_PHASES]; int nphases;
  struct file_rec files[MAX_FILES]; int nfiles;
  struct sock_filter *filter; unsigned short filter_len;
  int no_seccomp;
  int nice;
  int export_fd; /* -1: no export */
  unsigned long long export_max_bytes;
};

/* One execution's configuration: parsed from a request's options once, in the init that runs it. */
extern struct config cfg;

/* The part of the root every execution of one fork server shares: the server's own --ro and --mask
   options (server.c). Its standby builds it before a request comes (mounts.c, prebuild_root); a
   request's binds and masks must begin with these, in this order. */
struct root_base {
  const char *binds[MAX_BINDS]; int nbinds;
  const char *masks[MAX_MASKS]; int nmasks;
};

/* report.c */
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void setup_fail(const char *step);
void setup_fail_jumps_to(jmp_buf *where);
_Noreturn void usage(const char *msg);
long long now_us(void);

/* args.c */
void parse_args(int argc, char **argv);
const char *bind_problem(const char *path);
const char *mask_problem(const char *path);
void protect_fds(void);

/* protocol.c */
int read_full(int fd, void *buf, size_t len);
int writev_all(int fd, struct iovec *iov, int n);
void srv_frame(int type, const void *data, uint32_t len);
/* Frames for srv_frames: each written as srv_frame would, all of them in one write. */
struct out_frame {
  int type;
  const void *data;
  uint32_t len;
};
#define SRV_MAX_FRAMES 4
void srv_frames(const struct out_frame *frames, int n);
int srv_read_message(unsigned char *type, unsigned char **payload, uint32_t *len);
int take_u32(unsigned char **p, unsigned char *end, uint32_t *v);

/* files.c */
int safe_relative_path(const char *s, size_t len);
void read_input(void);
void write_source_files(void);

/* export.c */
void export_workdir(void);

/* mounts.c */
void prebuild_root(const struct root_base *base);
void build_root(const struct root_base *base);

/* limits.c */
void open_cgroups(struct phase *ph);
pid_t fork_into_cgroups(struct phase *ph);
void join_cgroups(struct phase *ph);
void apply_rlimits(struct phase *ph);

/* seccomp.c */
void install_seccomp(void);

/* child.c */
void drop_bounding_set(void);
_Noreturn void exec_phase(struct phase *ph, int errfd);

/* init.c */
_Noreturn void init_main(int alive_fd, const struct root_base *base);

/* server.c */
_Noreturn void server_main(int argc, char **argv);

#endif
