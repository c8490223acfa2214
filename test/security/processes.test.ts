import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeOutcome, IS_ROOT, py, reportOf, SKIP_MESSAGE, waitFor } from './helpers.js';
import { sandboxUidProcesses } from './host-state.js';
import { securitySuite } from './suite.js';

// Attacks on other processes: the host's, the launcher's, and another execution running at the
// same time. Each execution has its own pid namespace (pid 1 is the launcher's root-owned init).

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  } catch {
    return [];
  }
}

describe.skipIf(!IS_ROOT)(`attack: processes${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const s = securitySuite();

  // Executions of one worker never share a uid: each takes the next one of the range.
  it('concurrent executions of one worker run as different uids of the sandbox range', async () => {
    const runs = await Promise.all(Array.from({ length: 4 }, () => s.run('python', 'import os\nprint(os.getuid(), os.getgid())')));
    const ids = runs.map((r) => r.outcome.stdout.trim().split(' ').map(Number));
    for (const [uid, gid] of ids) {
      expect(uid).toBe(gid);
      expect(uid).toBeGreaterThanOrEqual(s.env().settings.uidBase);
      expect(uid).toBeLessThan(s.env().settings.uidBase + 65536);
    }
    expect(new Set(ids.map(([uid]) => uid)).size).toBe(4);
  });

  // Programs run at a lower priority than the service (the spec's niceValue) and cannot raise it back.
  it('runs at nice 10 and cannot lower its nice value', async () => {
    const { outcome } = await s.run(
      'python',
      py(`import resource
out['nice'] = os.getpriority(os.PRIO_PROCESS, 0)
out['rlimit_nice'] = resource.getrlimit(resource.RLIMIT_NICE)[0]
out['lower'] = attempt(lambda: os.setpriority(os.PRIO_PROCESS, 0, 0))
try:
    resource.setrlimit(resource.RLIMIT_NICE, (40, 40))
    out['raise_limit'] = 'ok'
except ValueError:  # Python's EPERM from setrlimit: "not allowed to raise maximum limit"
    out['raise_limit'] = 'EPERM'

out['higher'] = attempt(lambda: os.setpriority(os.PRIO_PROCESS, 0, 15))
out['after'] = os.getpriority(os.PRIO_PROCESS, 0)
`),
    );
    expect(reportOf(outcome), describeOutcome(outcome)).toEqual({ nice: 10, rlimit_nice: 0, lower: 'EACCES', raise_limit: 'EPERM', higher: 'ok', after: 15 });
  });

  // Signalling processes outside: the test runner and a host process by their host pids (not in
  // the pid namespace: ESRCH, not even EPERM), pid 1 inside (the launcher's init, root: EPERM),
  // and kill(-1, SIGKILL), which reaches only the program's own processes. The host process
  // survives and the run still reports normally (init was not killed).
  it('cannot signal host processes or the launcher', async () => {
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const { outcome } = await s.run(
        'python',
        py(`import signal
out['runner'] = attempt(lambda: os.kill(${process.pid}, 0))
out['host_sleeper'] = attempt(lambda: os.kill(${sleeper.pid}, signal.SIGKILL))
out['pidfd_open_runner'] = sc(434, ${process.pid}, 0)
out['init_kill'] = attempt(lambda: os.kill(1, signal.SIGKILL))
out['init_stop'] = attempt(lambda: os.kill(1, signal.SIGSTOP))
out['init_pgrp'] = attempt(lambda: os.killpg(1, signal.SIGKILL))
out['kill_all'] = attempt(lambda: os.kill(-1, signal.SIGKILL))
`),
      );
      expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
      const r = reportOf(outcome);
      expect(r).toMatchObject({ runner: 'ESRCH', host_sleeper: 'ESRCH', pidfd_open_runner: 'ESRCH', init_kill: 'EPERM', init_stop: 'EPERM' });
      expect(['ESRCH', 'EPERM']).toContain(r.init_pgrp);
      // kill(-1) never signals the caller; with nothing else of its own it finds no one.
      expect(['ESRCH', 'ok']).toContain(r.kill_all);
      expect(sleeper.exitCode).toBeNull();
      expect(sleeper.signalCode).toBeNull();
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  // Forging the launcher's report: the status, input and error descriptors of the launcher are
  // closed before the program starts (only 0, 1, 2 are open), so writing to them fails; a fake
  // status line on stdout/stderr is only output, and the real exit code wins.
  it('cannot write to the launcher status descriptors or forge its report', async () => {
    const { outcome } = await s.run(
      'python',
      py(`for fd in (3, 4, 5, 6, 1000):
    out['fd%d' % fd] = attempt(lambda: os.write(fd, b'phase run exit 0 wall_us 1 cpu_us 1\\n') and None)
out['open_fds'] = sorted(int(f) for f in os.listdir('/proc/self/fd'))
sys.stderr.write('ready\\nphase run exit 0 wall_us 1 cpu_us 1\\n')
report()
print('phase run exit 0 wall_us 1 cpu_us 1')
sys.stdout.flush()
os._exit(3)
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('runtime_error');
    expect(outcome.exitCode).toBe(3);
    const line = outcome.stdout.split('\n').find((l) => l.startsWith('{'))!;
    const r = JSON.parse(line) as Record<string, unknown>;
    expect(r).toMatchObject({ fd3: 'EBADF', fd4: 'EBADF', fd5: 'EBADF', fd6: 'EBADF', fd1000: 'EBADF' });
    // 0, 1, 2 and the descriptor listdir itself opened.
    expect((r.open_fds as number[]).filter((fd) => fd > 3)).toEqual([]);
  });

  // Sharing a uid with someone on the host would let that someone signal, trace or read the
  // program from outside its namespaces (the kernel checks uids, and the host sees every pid). No
  // account, group or subordinate id range (/etc/subuid, /etc/subgid: rootless containers) of
  // this host may overlap the sandbox's uid range.
  it('no host account or subordinate id range shares the sandbox uids', () => {
    const base = s.env().settings.uidBase;
    const overlaps: string[] = [];
    const inRange = (lo: number, hi: number) => lo < base + 65536 && hi >= base;
    for (const file of ['/etc/passwd', '/etc/group']) {
      for (const line of readLines(file)) {
        const id = Number(line.split(':')[2]);
        if (Number.isInteger(id) && inRange(id, id)) overlaps.push(`${file}: ${line}`);
      }
    }
    for (const file of ['/etc/subuid', '/etc/subgid']) {
      for (const line of readLines(file)) {
        const [, start, count] = line.split(':').map((x) => x.trim());
        const lo = Number(start);
        const hi = lo + Number(count) - 1;
        if (Number.isInteger(lo) && Number.isInteger(hi) && inRange(lo, hi)) overlaps.push(`${file}: ${line}`);
      }
    }
    expect(overlaps).toEqual([]);
  });

  // Two executions at once trying to reach each other: A puts a marker in its working directory,
  // its /tmp, its argv and its environment, listens on an abstract unix socket and creates a
  // System V shared-memory segment, then sleeps; B, started while A runs (the host sees A's marked
  // process), searches every file it can reach and every /proc entry for the marker, lists the
  // processes it can see, and tries A's socket and segment. B finds nothing and sees only its own
  // uid and its init.
  it('two executions at once cannot see each other', async () => {
    const token = `mk${Math.random().toString(36).slice(2, 10)}`;
    const shmKey = 0x5ec10000 + Math.floor(Math.random() * 0xffff);
    const [head, tail] = [token.slice(0, 4), token.slice(4)];
    // A's wall limit (sleep + 10 s) stays under the profile's 30 s maximum.
    const sleepS = Math.min(4 * s.slow(), 15);
    const a = s.run(
      'python',
      `import ctypes, json, os, socket, sys, time
TOKEN = ${JSON.stringify(token)}
if len(sys.argv) < 2:
    os.execve(sys.executable, [sys.executable, '-I', '-B', 'main.py', TOKEN], dict(os.environ, MARK=TOKEN))
for d in ('/work', '/tmp'):
    with open(os.path.join(d, 'marker-' + TOKEN), 'w') as f:
        f.write(TOKEN)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind('\\0' + TOKEN)
srv.listen(1)
probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
probe.connect('\\0' + TOKEN)  # the name works from inside A
probe.close()
shm = ctypes.CDLL(None).shmget(${shmKey}, 4096, 0o1666)
start = time.time()
open('/work/ready-' + TOKEN, 'w').close()  # the host starts B once this exists
time.sleep(${sleepS})
print(json.dumps({'start': start, 'end': time.time(), 'uid': os.getuid(), 'shm': shm >= 0}))
`,
      { overrides: { wallTimeMs: (sleepS + 10) * 1000 } },
    );
    const opts = { uidBase: s.env().settings.uidBase, cgroupParent: s.env().settings.cgroupParent };
    // A is set up (markers, socket, segment, its start time) when its ready file exists; the host
    // reads A's files through /proc/<pid>/root (root may). B must start after that.
    const aReady = await waitFor(
      () => sandboxUidProcesses(opts).some((p) => p.cmd.includes(token) && fs.existsSync(`/proc/${p.pid}/root/work/ready-${token}`)),
      5000 * s.slow(),
    );
    expect(aReady, 'execution A started, is visible from the host and is set up').toBe(true);
    const b = await s.run(
      'python',
      py(`import time
T = ${JSON.stringify(head)} + ${JSON.stringify(tail)}
out['start'] = time.time()
found = []
skip = ('/proc', '/usr', '/lib', '/lib32', '/lib64', '/libx32', '/bin', '/sbin', '/sys')
for root, dirs, files in os.walk('/'):
    if root.startswith(skip):
        dirs[:] = []
        continue
    for name in dirs + files:
        if T in name:
            found.append(os.path.join(root, name))
    for name in files:
        p = os.path.join(root, name)
        try:
            if os.path.isfile(p) and T.encode() in open(p, 'rb').read(1 << 20):
                found.append(p)
        except OSError:
            pass
uids = set()
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
for pid in pids:
    for f in ('cmdline', 'environ'):
        try:
            if T.encode() in open('/proc/%d/%s' % (pid, f), 'rb').read():
                found.append('/proc/%d/%s' % (pid, f))
        except OSError:
            pass
    try:
        uids.add(int([l for l in open('/proc/%d/status' % pid) if l.startswith('Uid:')][0].split()[1]))
    except OSError:
        pass
import socket
def connect_a():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c.connect('\\0' + T)
    finally:
        c.close()
out['socket'] = attempt(connect_a)
libc.shmget.restype = ctypes.c_int
out['shm'] = 'ok' if libc.shmget(${shmKey}, 0, 0) >= 0 else ename(ctypes.get_errno())
out['found'] = found
out['pids'] = pids
out['uids'] = sorted(uids)
out['me'] = os.getuid()
out['end'] = time.time()
`),
    );
    const ra = await a;
    expect(b.outcome.kind, describeOutcome(b.outcome)).toBe('completed');
    expect(ra.outcome.kind, describeOutcome(ra.outcome)).toBe('completed');
    const rb = reportOf(b.outcome) as { found: string[]; pids: number[]; uids: number[]; me: number; start: number; end: number; socket: string; shm: string };
    const rA = reportOf(ra.outcome) as { start: number; end: number; shm: boolean };
    expect(rA.shm, 'A created its shared-memory segment').toBe(true);
    // B searched while A was running (same clock: both read the host's CLOCK_REALTIME).
    expect(rb.start).toBeGreaterThanOrEqual(rA.start);
    expect(rb.end).toBeLessThanOrEqual(rA.end);
    expect(rb.found).toEqual([]);
    expect(rb.socket).toBe('ECONNREFUSED');
    expect(rb.shm).toBe('ENOENT');
    // Its init (pid 1, unless /proc hides it) and itself.
    expect(rb.pids.filter((p) => p !== 1)).toEqual([2]);
    expect(rb.uids.filter((u) => u !== rb.me && u !== 0)).toEqual([]);
  });
});
