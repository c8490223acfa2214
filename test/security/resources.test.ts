import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { describeOutcome, IS_ROOT, py, reportOf, SKIP_MESSAGE } from './helpers.js';
import { securitySuite } from './suite.js';

// Attacks on the host's resources: processes, threads, memory, CPU and time. Each must end with
// the limit's own outcome, and (checked after every test by the suite) leave nothing behind.

const MiB = 1024 * 1024;

describe.skipIf(!IS_ROOT)(`attack: resource exhaustion${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const s = securitySuite();

  // Fork bomb in Python: every process forks forever. pids.max (64) stops it; the run ends at the
  // wall limit and every process of it dies.
  it('python fork bomb ends by the wall limit and the host still forks', async () => {
    const wall = 2000 * s.slow();
    const { outcome } = await s.run(
      'python',
      `import os
while True:
    try:
        os.fork()
    except OSError:
        pass
`,
      { overrides: { wallTimeMs: wall } },
    );
    expect(['wall_timeout', 'cpu_timeout'], describeOutcome(outcome)).toContain(outcome.kind);
    // The host can still start processes.
    expect(spawnSync('/bin/true').status).toBe(0);
  });

  // The same attack, measured: the parent forks sleeping children until fork fails (EAGAIN from
  // the pids controller), counts them, reports and exits; the children die with the run.
  it('python fork bomb gets EAGAIN at pids.max', async () => {
    const { outcome, limits } = await s.run(
      'python',
      py(`import time
kids = 0
errors = set()
for _ in range(200):
    try:
        pid = os.fork()
    except OSError as e:
        errors.add(ename(e.errno))
        if len(errors) and _ > 100:
            break
        continue
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    kids += 1
out['kids'] = kids
out['errors'] = sorted(errors)
`),
      { overrides: { wallTimeMs: 4000 * s.slow() } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome);
    expect(r.kids as number).toBeLessThan(limits.processes);
    expect(r.errors).toEqual(['EAGAIN']);
  });

  // Fork bomb from Node: a shell fork bomb started with child_process. It runs until the wall
  // limit, and every shell of it dies with the run.
  it('javascript shell fork bomb ends by the wall limit', async () => {
    const { outcome } = await s.run(
      'javascript',
      `require('child_process').spawn('/bin/sh', ['-c', 'b(){ b | b & }; b'], { stdio: 'ignore' });
setInterval(() => {}, 1000);
`,
      { overrides: { wallTimeMs: 2000 * s.slow() } },
    );
    expect(['wall_timeout', 'cpu_timeout'], describeOutcome(outcome)).toContain(outcome.kind);
    expect(spawnSync('/bin/true').status).toBe(0);
  });

  // Node spawning processes that stay (each shell leaves a background sleep) until spawning
  // fails: EAGAIN below pids.max, then a normal exit; the sleeps die with the run. pids.max is
  // lowered to 16 here so that slow hosts get there in time.
  it('javascript spawning until pids.max gets EAGAIN', async () => {
    const { outcome, limits } = await s.run(
      'javascript',
      `const cp = require('child_process');
let started = 0;
let error = null;
while (started < 500 && !error) {
  const r = cp.spawnSync('/bin/sh', ['-c', 'sleep 60 >/dev/null 2>&1 &']);
  if (r.error) error = r.error.code;
  else if (r.status !== 0) error = 'exit ' + r.status;
  else started++;
}
console.log(JSON.stringify({ started, error }));
`,
      { overrides: { wallTimeMs: 20_000 }, limits: { processes: 16 } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome);
    expect(r.started as number).toBeLessThan(limits.processes);
    // The shell itself may be the one that cannot fork (it exits with status 2).
    expect(['EAGAIN', 'exit 2']).toContain(r.error);
  });

  // Memory bomb in Python: allocate and touch 16 MiB blocks forever. The cgroup's memory limit
  // (no swap) OOM-kills it.
  it('python memory bomb ends with memory_limit', async () => {
    const { outcome } = await s.run(
      'python',
      `blocks = []
while True:
    blocks.append(b'x' * (16 << 20))
`,
      { overrides: { memoryBytes: 64 * MiB, wallTimeMs: 10_000 * s.slow() } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('memory_limit');
    expect(outcome.memoryPeakKb).toBeGreaterThan(32 * 1024);
    expect(outcome.memoryPeakKb).toBeLessThanOrEqual(64 * 1024 + 1024);
  });

  // Memory bomb in Node with Buffers (outside V8's heap limit, so only the cgroup can stop it).
  it('javascript memory bomb ends with memory_limit', async () => {
    const { outcome } = await s.run(
      'javascript',
      `const blocks = [];
for (;;) blocks.push(Buffer.alloc(16 << 20, 1));
`,
      { overrides: { memoryBytes: 96 * MiB, wallTimeMs: 10_000 * s.slow() } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('memory_limit');
  });

  // A memory bomb spread over many processes: each child allocates 8 MiB; together they pass the
  // limit, which holds for the whole execution, not per process.
  it('memory spread over many processes hits the same limit', async () => {
    const { outcome } = await s.run(
      'python',
      `import os, time
kids = []
for i in range(30):
    pid = os.fork()
    if pid == 0:
        data = b'x' * (8 << 20)
        time.sleep(60)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
`,
      { overrides: { memoryBytes: 64 * MiB, wallTimeMs: 6000 * s.slow() } },
    );
    // v2 kills the whole group (memory.oom.group); v1 kills the largest process (maybe a child,
    // while the parent waits on until the wall limit): either way the OOM kill is the reason.
    expect(outcome.kind, describeOutcome(outcome)).toBe('memory_limit');
    expect(outcome.memoryPeakKb).toBeLessThanOrEqual(64 * 1024 + 1024);
  });

  // Infinite loop with the default CPU limit above the wall limit: the wall limit ends it.
  it('infinite loop ends with wall_timeout', async () => {
    const { outcome, limits } = await s.run('python', 'while True:\n    pass\n', { overrides: { wallTimeMs: 1500 * s.slow(), cpuTimeMs: 30_000 } });
    expect(outcome.kind, describeOutcome(outcome)).toBe('wall_timeout');
    expect(outcome.executionTimeMs).toBeGreaterThanOrEqual(limits.wallTimeMs - 50);
  });

  // Infinite loop with a CPU limit below the wall limit: RLIMIT_CPU ends it as cpu_timeout.
  it('infinite loop ends with cpu_timeout when the CPU limit is lower', async () => {
    const { outcome } = await s.run('javascript', 'for (;;) {}\n', { overrides: { wallTimeMs: 20_000, cpuTimeMs: 1000 } });
    expect(outcome.kind, describeOutcome(outcome)).toBe('cpu_timeout');
  });

  // A busy grandchild that outlives its parent: fork, setsid, fork again, the middle process exits
  // and the main program exits at once. The run completes, and the detached busy loop must not
  // survive it (the suite checks the host for processes of the sandbox uids).
  it('a detached busy grandchild (setsid + double fork) dies with the run', async () => {
    const { outcome } = await s.run(
      'python',
      py(`import signal, time
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        os.write(w, str(os.getpid()).encode())
        os.close(w)
        for fd in (0, 1, 2):
            os.close(fd)
        while True:
            pass
    os._exit(0)
os.waitpid(pid, 0)
out['grandchild'] = int(os.read(r, 32))
`),
      { overrides: { wallTimeMs: 5000 * s.slow() } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    expect(reportOf(outcome).grandchild).toBeGreaterThan(1);
  });

  // The same from Node: a detached, unref'd busy shell that ignores SIGTERM/SIGHUP.
  it('javascript detached busy child dies with the run', async () => {
    const { outcome } = await s.run(
      'javascript',
      `const cp = require('child_process');
const c = cp.spawn('/bin/sh', ['-c', 'trap "" TERM HUP INT; while :; do :; done'], { detached: true, stdio: 'ignore' });
c.unref();
console.log(JSON.stringify({ pid: c.pid }));
`,
      { overrides: { wallTimeMs: 5000 * s.slow() } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
  });

  // A stopped process: the program forks a child that stops itself (SIGSTOP), then waits for it
  // forever. The wall limit still ends the run, and the stopped child is killed too.
  it('a stopped child does not stop the wall limit', async () => {
    const wall = 1500 * s.slow();
    const { outcome } = await s.run(
      'python',
      `import os, signal
pid = os.fork()
if pid == 0:
    os.kill(os.getpid(), signal.SIGSTOP)
    os._exit(0)
os.waitpid(pid, 0)
`,
      { overrides: { wallTimeMs: wall } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('wall_timeout');
  });

  // The program stops itself after starting a busy child: nothing runs the main process on, but
  // the wall limit ends the run and every process dies.
  it('a program that SIGSTOPs itself ends by the wall limit', async () => {
    const wall = 1500 * s.slow();
    const { outcome } = await s.run(
      'python',
      `import os, signal
if os.fork() == 0:
    while True:
        pass
os.kill(os.getpid(), signal.SIGSTOP)
`,
      { overrides: { wallTimeMs: wall } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('wall_timeout');
  });

  // Threads count against pids.max too: starting threads until it fails stops below the limit.
  it('filling the pids with threads stops at pids.max', async () => {
    const { outcome, limits } = await s.run(
      'python',
      py(`import threading, time
stop = threading.Event()
n = 0
try:
    while n < 1000:
        threading.Thread(target=stop.wait, daemon=True).start()
        n += 1
except RuntimeError as e:
    out['error'] = str(e)
out['threads'] = n
stop.set()
`),
      { overrides: { wallTimeMs: 6000 * s.slow() } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome);
    expect(r.threads as number).toBeLessThan(limits.processes);
    expect(String(r.error)).toMatch(/can't start new thread/);
  });
});
