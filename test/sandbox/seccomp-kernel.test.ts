import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostSeccompArch, loadSeccompProfile } from '../../src/sandbox/seccomp/index.js';

// The compiled default profile loaded into the real kernel: a small C harness (built here with cc)
// installs the filter bytes the way the launcher does (no_new_privs + seccomp(SET_MODE_FILTER)),
// then either probes denied calls or execs a real interpreter or compiler, which must still work.
// Every probe is harmless even if the filter wrongly allowed it (bogus paths, invalid lengths),
// so a failing test cannot change the host. Skipped when there is no C compiler.

const PROFILES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sandbox-profiles');
const CC = ['/usr/bin/cc', '/usr/bin/gcc'].find((p) => fs.existsSync(p));

const HARNESS_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void install(const char *file) {
  FILE *f = fopen(file, "rb");
  if (!f) { perror("open filter"); exit(100); }
  static struct sock_filter insns[4096];
  size_t n = fread(insns, sizeof insns[0], 4096, f);
  fclose(f);
  struct sock_fprog prog = { .len = (unsigned short)n, .filter = insns };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("no_new_privs"); exit(101); }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) { perror("seccomp"); exit(102); }
}

static void report(const char *name, long rc) {
  if (rc == -1) printf("%s=%d\n", name, errno); else printf("%s=ok\n", name);
}

// Runs fn in a child and reports how the child ended: ok, exit N, or the signal.
static void in_child(const char *name, void (*fn)(void)) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) { fn(); _exit(0); }
  int status;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) printf("%s=%s\n", name, WTERMSIG(status) == SIGSYS ? "SIGSYS" : WTERMSIG(status) == SIGSEGV ? "SIGSEGV" : "signal");
  else printf("%s=%s\n", name, WEXITSTATUS(status) == 0 ? "ok" : "exit");
}

static void *thread_fn(void *arg) { return arg; }
static void nothing(void) {}
static void i386_getpid(void) { long r; __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory"); }
static void x32_getpid(void) { syscall(0x40000000L | 39L); }

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  install(argv[1]);
  if (strcmp(argv[2], "exec") == 0) { execvp(argv[3], argv + 3); perror("exec"); return 127; }

  report("ptrace", ptrace(PTRACE_TRACEME, 0, 0, 0));
  report("unshare_user", unshare(CLONE_NEWUSER));
  report("unshare_ns", unshare(CLONE_NEWNS));
  report("setns", setns(-1, 0));
  report("mount", mount("none", "/nonexistent-codexec", "tmpfs", 0, NULL));
  report("umount2", umount2("/nonexistent-codexec", 0));
  report("pivot_root", syscall(SYS_pivot_root, "/nonexistent-codexec", "/nonexistent-codexec"));
  report("chroot", chroot("/nonexistent-codexec"));
  long c = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (c == 0) _exit(0);
  if (c > 0) waitpid(c, NULL, 0);
  report("clone_newuser", c);
  struct clone_args ca; memset(&ca, 0, sizeof ca); ca.exit_signal = SIGCHLD;
  long c3 = syscall(SYS_clone3, &ca, sizeof ca);
  if (c3 == 0) _exit(0);
  if (c3 > 0) waitpid(c3, NULL, 0);
  report("clone3", c3);
  report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
  report("add_key", syscall(SYS_add_key, "user", "codexec", "x", (size_t)-1, -3));
  report("bpf", syscall(SYS_bpf, 0xffff, NULL, 0));
  report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
  report("userfaultfd", syscall(SYS_userfaultfd, 0xffffffff));
  report("io_uring_setup", syscall(SYS_io_uring_setup, 0, NULL));
  report("open_by_handle_at", syscall(SYS_open_by_handle_at, -1, NULL, 0));
  report("finit_module", syscall(SYS_finit_module, -1, "", 0));
  report("swapon", syscall(SYS_swapon, "/nonexistent-codexec", 0));
  report("clock_settime", syscall(SYS_clock_settime, -1, NULL));
  report("sethostname", syscall(SYS_sethostname, NULL, (size_t)-1));
  report("personality_query", personality(0xffffffff));
  report("personality_norandom", personality(ADDR_NO_RANDOMIZE));
  report("getpid", syscall(SYS_getpid));
  report("above_table", syscall(452, -1, "", 0, 0));
  pthread_t t;
  int e = pthread_create(&t, NULL, thread_fn, NULL);
  if (e == 0) pthread_join(t, NULL); else errno = e;
  report("thread", e == 0 ? 0 : -1);
  in_child("fork", nothing);
#if defined(__x86_64__)
  in_child("i386", i386_getpid);
  in_child("x32", x32_getpid);
#endif
  return 0;
}
`;

const EPERM = '1';
const ENOSYS = '38';

describe.skipIf(!CC)('default seccomp profile in the kernel', () => {
  let dir: string;
  let harness: string;
  let filterFile: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-seccomp-'));
    fs.writeFileSync(path.join(dir, 'harness.c'), HARNESS_C);
    harness = path.join(dir, 'harness');
    const cc = spawnSync(CC!, ['-O1', '-pthread', '-o', harness, path.join(dir, 'harness.c')], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);
    const compiled = await loadSeccompProfile(PROFILES_DIR, 'default', hostSeccompArch());
    filterFile = path.join(dir, 'filter.bpf');
    fs.writeFileSync(filterFile, compiled.filter);
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('denies with EPERM, answers clone3 with ENOSYS, keeps threads and fork working', () => {
    const run = spawnSync(harness, [filterFile, 'probe'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const results = Object.fromEntries(run.stdout.trim().split('\n').map((l) => l.split('=')));
    const expected: Record<string, string> = {
      ptrace: EPERM,
      unshare_user: EPERM,
      unshare_ns: EPERM,
      setns: EPERM,
      mount: EPERM,
      umount2: EPERM,
      pivot_root: EPERM,
      chroot: EPERM,
      clone_newuser: EPERM,
      clone3: ENOSYS,
      keyctl: EPERM,
      add_key: EPERM,
      bpf: EPERM,
      perf_event_open: EPERM,
      userfaultfd: EPERM,
      io_uring_setup: EPERM,
      open_by_handle_at: EPERM,
      finit_module: EPERM,
      swapon: EPERM,
      clock_settime: EPERM,
      sethostname: EPERM,
      personality_query: 'ok',
      personality_norandom: EPERM,
      getpid: 'ok',
      above_table: ENOSYS,
      thread: 'ok',
      fork: 'ok',
    };
    if (hostSeccompArch() === 'x86_64') {
      Object.assign(expected, { x32: 'SIGSYS' });
      // An i386 call (int 0x80) reaches seccomp only if the kernel emulates i386; a kernel without
      // it (CONFIG_IA32_EMULATION off or ia32_emulation=0, as here) faults it with SIGSEGV first.
      expect(['SIGSYS', 'SIGSEGV']).toContain(results.i386);
      delete results.i386;
    }
    expect(results).toEqual(expected);
  });

  // Interpreters and compilers the language profiles use must run under the filter.
  const toolchains: { name: string; bin: string; files?: Record<string, string>; steps: string[][]; expect: string }[] = [
    { name: 'bash', bin: '/bin/bash', steps: [['/bin/bash', '-c', 'x=$(echo ok); (sleep 0) & wait; ls / >/dev/null; echo $x']], expect: 'ok' },
    {
      name: 'python3',
      bin: 'python3',
      steps: [['python3', '-c', "import threading, subprocess; t = threading.Thread(target=print); t.start(); t.join(); print(subprocess.run(['/bin/echo', 'ok'], capture_output=True).stdout.decode().strip())"]],
      expect: 'ok',
    },
    {
      name: 'node',
      bin: process.execPath,
      steps: [[process.execPath, '-e', "const { Worker } = require('worker_threads'); require('child_process').execFileSync('/bin/true'); new Worker('1', { eval: true }).on('exit', () => console.log('ok'))"]],
      expect: 'ok',
    },
    { name: 'perl', bin: 'perl', steps: [['perl', '-e', 'my $p = fork(); if ($p == 0) { exit 0 } waitpid($p, 0); print "ok\\n"']], expect: 'ok' },
    { name: 'gcc', bin: 'gcc', files: { 'main.c': '#include <stdio.h>\nint main(void) { puts("ok"); return 0; }\n' }, steps: [['gcc', '-O2', '-o', 'main-c', 'main.c'], ['./main-c']], expect: 'ok' },
    { name: 'g++', bin: 'g++', files: { 'main.cpp': '#include <iostream>\n#include <thread>\nint main() { std::thread t([] {}); t.join(); std::cout << "ok\\n"; }\n' }, steps: [['g++', '-O2', '-pthread', '-o', 'main-cpp', 'main.cpp'], ['./main-cpp']], expect: 'ok' },
    { name: 'java', bin: 'javac', files: { 'Main.java': 'public class Main { public static void main(String[] a) throws Exception { Thread t = new Thread(() -> {}); t.start(); t.join(); System.out.println("ok"); } }\n' }, steps: [['javac', 'Main.java'], ['java', '-cp', '.', 'Main']], expect: 'ok' },
    { name: 'rustc', bin: 'rustc', files: { 'main.rs': 'fn main() { std::thread::spawn(|| {}).join().unwrap(); println!("ok"); }\n' }, steps: [['rustc', '-O', '-o', 'main-rs', 'main.rs'], ['./main-rs']], expect: 'ok' },
    { name: 'go', bin: 'go', files: { 'main.go': 'package main\nimport "fmt"\nfunc main() { fmt.Println("ok") }\n' }, steps: [['go', 'run', 'main.go']], expect: 'ok' },
    { name: 'ruby', bin: 'ruby', steps: [['ruby', '-e', 'Thread.new {}.join; puts "ok"']], expect: 'ok' },
    { name: 'php', bin: 'php', steps: [['php', '-r', 'echo "ok\\n";']], expect: 'ok' },
  ];

  for (const tc of toolchains) {
    const found = which(tc.bin);
    it.skipIf(!found)(`${tc.name} works under the filter${found ? '' : ' (not installed: skipped)'}`, () => {
      const work = fs.mkdtempSync(path.join(dir, `${tc.name}-`));
      for (const [file, text] of Object.entries(tc.files ?? {})) fs.writeFileSync(path.join(work, file), text);
      let out = '';
      for (const step of tc.steps) {
        const run = spawnSync(harness, [filterFile, 'exec', ...step], { cwd: work, encoding: 'utf8', env: { ...process.env, GOCACHE: path.join(work, '.gocache') }, timeout: 120_000 });
        expect({ step: step.join(' '), status: run.status, stderr: run.stderr }).toEqual({ step: step.join(' '), status: 0, stderr: expect.any(String) });
        out = run.stdout;
      }
      expect(out.trim().split('\n').at(-1)).toBe(tc.expect);
    }, 180_000);
  }
});

function which(bin: string): string | null {
  if (bin.startsWith('/')) return fs.existsSync(bin) ? bin : null;
  for (const d of (process.env.PATH ?? '').split(':')) {
    const p = path.join(d, bin);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}
