import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeOutcome, IS_ROOT, py, reportOf, SKIP_MESSAGE } from './helpers.js';
import { securitySuite } from './suite.js';

// Attacks through output and files: floods, disk and inode exhaustion, oversized files and
// arguments, bytes that are not text, IPC objects left behind. Each must end with its limit's own
// outcome, and (checked after every test by the suite) leave nothing behind on the host.

const MiB = 1024 * 1024;

describe.skipIf(!IS_ROOT)(`attack: output and files${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const s = securitySuite();

  // Output flood on stdout: far past the 64 KiB limit, the worker stops draining and kills the
  // execution long before its wall limit.
  it('python stdout flood ends with output_limit well before the wall limit', async () => {
    const wall = 20_000;
    const { outcome, limits } = await s.run('python', "import sys\nchunk = 'x' * 65536\nwhile True:\n    sys.stdout.write(chunk)\n", {
      overrides: { wallTimeMs: wall },
    });
    expect(outcome.kind, describeOutcome(outcome)).toBe('output_limit');
    expect(outcome.stdoutTruncated).toBe(true);
    expect(Buffer.byteLength(outcome.stdout)).toBe(limits.stdoutBytes);
    expect(outcome.executionTimeMs).toBeLessThan(wall / 2);
  });

  // Output flood on stderr from Node.
  it('javascript stderr flood ends with output_limit', async () => {
    const wall = 20_000;
    const { outcome } = await s.run('javascript', "const c = 'e'.repeat(65536);\nfor (;;) require('fs').writeSync(2, c);\n", {
      overrides: { wallTimeMs: wall },
    });
    expect(outcome.kind, describeOutcome(outcome)).toBe('output_limit');
    expect(outcome.stderrTruncated).toBe(true);
    expect(outcome.executionTimeMs).toBeLessThan(wall / 2);
  });

  // Disk fill of /tmp and of the working directory: both are size-limited tmpfs of the
  // execution's own, so writing ends with ENOSPC near tmpfsBytes (the host disk has far more free)
  // and nothing reaches the host (the suite checks the host's /tmp).
  it('filling /tmp and the working directory ends with ENOSPC at the tmpfs size', async () => {
    const { outcome, limits } = await s.run(
      'python',
      py(`def fill(d):
    total, err, i = 0, None, 0
    block = b'z' * (1 << 20)
    while err is None and i < 1000:
        try:
            with open(os.path.join(d, 'fill%d' % i), 'wb') as f:
                for _ in range(8):
                    total += f.write(block)
        except OSError as e:
            err = ename(e.errno)
        i += 1
    return {'bytes': total, 'error': err}
out['tmp'] = fill('/tmp')
out['work'] = fill('/work')
mounts = open('/proc/self/mountinfo').read().splitlines()
out['fstypes'] = {l.split(' ')[4]: l.split(' - ')[1].split(' ')[0] for l in mounts if l.split(' ')[4] in ('/tmp', '/work')}
`),
      { overrides: { wallTimeMs: 10_000 * s.slow() } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome) as Record<string, { bytes: number; error: string }> & { fstypes: Record<string, string> };
    for (const where of ['tmp', 'work'] as const) {
      expect(r[where].error).toBe('ENOSPC');
      expect(r[where].bytes).toBeLessThanOrEqual(limits.tmpfsBytes);
      expect(r[where].bytes).toBeGreaterThan(limits.tmpfsBytes - 2 * MiB);
    }
    expect(r.fstypes).toEqual({ '/tmp': 'tmpfs', '/work': 'tmpfs' });
  });

  // One file larger than the file-size limit: RLIMIT_FSIZE stops it with EFBIG (Python ignores
  // SIGXFSZ), long before the tmpfs is full.
  it('a file past the file-size limit fails with EFBIG', async () => {
    const { outcome, limits } = await s.run(
      'python',
      py(`n = 0
try:
    with open('/tmp/big', 'wb') as f:
        while True:
            n += f.write(b'y' * (1 << 20))
except OSError as e:
    out['error'] = ename(e.errno)
out['bytes'] = os.path.getsize('/tmp/big')
`),
      { overrides: { wallTimeMs: 10_000 * s.slow() } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome);
    expect(r.error).toBe('EFBIG');
    expect(r.bytes).toBe(limits.fileSizeBytes);
  });

  // Inode exhaustion: empty files until the tmpfs has no inodes left (nr_inodes).
  it('creating files until no inode is left ends with ENOSPC', async () => {
    const { outcome } = await s.run(
      'python',
      py(`n = 0
try:
    while n < 100000:
        open('/work/f%d' % n, 'w').close()
        n += 1
except OSError as e:
    out['error'] = ename(e.errno)
out['files'] = n
`),
      { overrides: { wallTimeMs: 15_000 * s.slow() } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome);
    expect(r.error).toBe('ENOSPC');
    expect(r.files as number).toBeLessThan(10_000);
  });

  // A program that closes stdout and stderr at once, then keeps running until the wall limit:
  // closed pipes must not make the worker think the run ended, nor hang it.
  it('closing stdout and stderr early, then looping, still ends at the wall limit', async () => {
    const wall = 1500 * s.slow();
    const { outcome } = await s.run('python', 'import os\nos.close(1)\nos.close(2)\nwhile True:\n    pass\n', { overrides: { wallTimeMs: wall, cpuTimeMs: 30_000 } });
    expect(outcome.kind, describeOutcome(outcome)).toBe('wall_timeout');
    expect(outcome.stdout).toBe('');
  });

  // Closing stdout and stderr, then exiting normally: a normal, empty completion.
  it('closing stdout and stderr early, then exiting, completes', async () => {
    const { outcome } = await s.run('javascript', "require('fs').closeSync(1);\nrequire('fs').closeSync(2);\nsetTimeout(() => process.exit(0), 200);\n");
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
  });

  // A huge argv or environment for execve inside the sandbox: one argument above MAX_ARG_STRLEN
  // and an argv above ARG_MAX fail with E2BIG; a large but legal environment works. The run ends
  // normally either way.
  it('huge argv and environment in execve: E2BIG or harmless', async () => {
    const { outcome } = await s.run(
      'python',
      py(`def run_child(argv, env):
    pid = os.fork()
    if pid == 0:
        try:
            os.execve('/bin/true', argv, env)
        except OSError as e:
            os.write(1, ('E:' + ename(e.errno) + '\\n').encode())
            os._exit(3)
    _, st = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(st)
out['one_huge_arg'] = run_child(['true', 'a' * 200000], {})
out['many_args'] = run_child(['true'] + ['b' * 100000] * 40, {})
out['big_env'] = run_child(['true'], {'V%d' % i: 'c' * 1000 for i in range(500)})
`),
      { overrides: { wallTimeMs: 5000 * s.slow() } },
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    const r = reportOf(outcome);
    expect(r).toMatchObject({ one_huge_arg: 3, many_args: 3, big_env: 0 });
    expect(outcome.stdout.match(/E:E2BIG/g)?.length).toBe(2);
  });

  // Bytes that are not UTF-8 and NUL bytes in the output: returned with U+FFFD and flagged, NUL
  // kept, and the outcome survives a JSON round trip unchanged.
  it('non-UTF-8 and NUL bytes in output are replaced, flagged and JSON-safe', async () => {
    const { outcome } = await s.run('python', "import sys\nsys.stdout.buffer.write(b'ok\\x00mid\\xff\\xfeend\\n')\nsys.stderr.buffer.write(b'\\xc3(\\x00')\n");
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    expect(outcome.stdout).toBe('ok\u0000mid\ufffd\ufffdend\n');
    expect(outcome.stderr).toBe('\ufffd(\u0000');
    expect(outcome.outputNotUtf8).toBe(true);
    expect(JSON.parse(JSON.stringify(outcome))).toEqual(outcome);
  });

  // A System V shared-memory segment left behind on purpose (never removed): it lives in the
  // execution's IPC namespace, which dies with it; the host's IPC namespace never sees it.
  it('a System V shared-memory segment does not outlive the run or reach the host', async () => {
    const key = 0x5ec0000 + Math.floor(Math.random() * 0xffff);
    const { outcome } = await s.run(
      'python',
      py(`libc.shmget.restype = ctypes.c_int
shmid = libc.shmget(${key}, 8 << 20, 0o1666)
out['shmget'] = 'ok' if shmid >= 0 else ename(ctypes.get_errno())
out['visible'] = open('/proc/sysvipc/shm').read().count(' ${key} ')
`),
    );
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    expect(reportOf(outcome)).toEqual({ shmget: 'ok', visible: 1 });
    const hostShm = fs.readFileSync('/proc/sysvipc/shm', 'utf8');
    expect(hostShm).not.toContain(` ${key} `);
  });
});
