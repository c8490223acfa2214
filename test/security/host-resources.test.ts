import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { defaultProfilesDir } from '../../src/languages/registry.js';
import { capWorkerDir, detectCgroups } from '../../src/sandbox/cgroups/index.js';
import { openSandboxHost, probeIsolation } from '../../src/sandbox/host.js';
import { runInSandbox } from '../../src/sandbox/run.js';
import { describeOutcome, file, IS_ROOT, planOf, profileOf, sandbox, SKIP_MESSAGE, waitFor } from './helpers.js';
import { ownForkServers, standbyOf } from './host-state.js';
import { securitySuite } from './suite.js';

// Attacks on the host's memory and CPU that outlive or escape one execution's limits (issue 12,
// items 1 and 6); the host's disks, page cache and kernel-wide pools are in host-shared.test.ts.

// Memory that outlives its execution (item 1). A program puts memfds and both ends of an AF_UNIX
// socketpair into each other with SCM_RIGHTS (a reference cycle) and closes everything:
// no process holds them, so nothing of the execution's teardown frees them; only the kernel's
// AF_UNIX garbage collection does, and it ran only when some AF_UNIX socket closed somewhere on
// the host. Six runs left +1.17 GiB of host Shmem. The fork server now triggers the collection
// after init is gone, and the slot is released only once the group's memory has dropped.

const MiB = 1024 * 1024;

/** 13 memfds of 15 MiB (touched), sent with both socket ends into the socketpair itself. */
const CYCLE = String.raw`import os, socket
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
fds = []
for i in range(13):
    fd = os.memfd_create('x%d' % i)
    os.ftruncate(fd, 15 << 20)
    os.pwrite(fd, b'\1' * (15 << 20), 0)
    fds.append(fd)
socket.send_fds(a, [b'm'], fds)
socket.send_fds(a, [b'a'], [a.fileno(), b.fileno()])
socket.send_fds(b, [b'b'], [a.fileno(), b.fileno()])
for fd in fds:
    os.close(fd)
a.close()
b.close()
print('cycle')
`;

/** The same cycle holding the program's own stdout and stderr: the output pipes never close. */
const PIPE_CYCLE = String.raw`import os, socket
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
print('holding', flush=True)
socket.send_fds(a, [b'o'], [1, 2])
socket.send_fds(a, [b'a'], [a.fileno(), b.fileno()])
a.close()
b.close()
`;

function hostShmemBytes(): number {
  const m = /^Shmem:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

// CPU spent outside the execution's limits (item 6). A program writing one byte per write() made
// the worker and the fork server spend 2.2 times its own CPU outside its cgroup: a frame, a wakeup
// and a 'data' event per byte. The fork server now reads a pipe that gave less than a full buffer
// again only 10 ms later, and runs in a capped group of its own.

const TICK_MS = 1000 / 100; // USER_HZ

/** utime + stime of `pid` in ms (not its children's: those include the programs). */
function ownCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

describe.skipIf(!IS_ROOT)(`attack: host memory and CPU${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const s = securitySuite();

  /** The host's Shmem grows by less than `maxMiB` over `runs` runs of `source`, each completed with `stdout` and no warning. */
  async function expectShmemKept(source: string, stdout: string, runs: number, maxMiB: number): Promise<void> {
    const before = hostShmemBytes();
    for (let i = 0; i < runs; i++) {
      const { outcome } = await s.run('python', source, { overrides: { wallTimeMs: 10_000 * s.slow() } });
      expect([outcome.kind, outcome.stdout], describeOutcome(outcome)).toEqual(['completed', stdout]);
      expect(outcome.warnings).toEqual([]);
    }
    expect((hostShmemBytes() - before) / MiB).toBeLessThan(maxMiB);
  }

  it('six runs of an SCM_RIGHTS cycle of 13 x 15 MiB memfds leave the host\'s shared memory as it was', async () => {
    // One run left behind is 195 MiB; other test files running now may hold a few MiB of tmpfs.
    await expectShmemKept(CYCLE, 'cycle\n', 6, 120);
  });

  // The fork server holds each init's mount namespace until the execution's exit frame is out, so
  // that its teardown is off the result's path (native/server.c, open_mount_ns): it must still let
  // go of it then, with everything the program wrote into its tmpfs mounts. System V segments
  // live as long as the execution's ipc namespace, which must go with it too.
  it('what a program wrote into its tmpfs mounts leaves the host\'s memory with its execution', async () => {
    // Files of 8 MiB (below the 16 MiB RLIMIT_FSIZE), 24 MiB in each of /work and /tmp.
    const WRITE = 'import os\nfor d in ("/work", "/tmp"):\n    for i in range(3):\n        with open(f"{d}/fill{i}", "wb") as f:\n            f.write(os.urandom(8 << 20))\nprint("written")\n';
    // Four runs kept would be 192 MiB; other test files running now may hold a few MiB of tmpfs.
    await expectShmemKept(WRITE, 'written\n', 4, 96);
  });

  it('System V shared memory a program made leaves the host\'s memory with its execution', async () => {
    // Three segments of 16 MiB each, touched, never removed: they live as long as the execution's ipc namespace.
    const SHM = String.raw`import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
for i in range(3):
    sid = libc.shmget(0, 16 << 20, 0o1600)
    assert sid >= 0, ctypes.get_errno()
    addr = libc.shmat(sid, None, 0)
    assert addr not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
    ctypes.memset(addr, 1, 16 << 20)
print("segments")
`;
    // Four runs kept would be 192 MiB; other test files running now may hold a few MiB of tmpfs.
    await expectShmemKept(SHM, 'segments\n', 4, 96);
  });

  it('after a run the fork server holds only its standby\'s mount and net namespaces', async () => {
    const { outcome } = await s.run('python', 'print("ran")');
    expect(outcome.kind, describeOutcome(outcome)).toBe('completed');
    for (const server of ownForkServers()) {
      // Each server clones its next standby right after an exit frame.
      expect(await waitFor(() => standbyOf(server) !== undefined, 5000)).toBe(true);
      const standby = standbyOf(server)!;
      const links = fs.readdirSync(`/proc/${server}/fd`).map((fd) => {
        try {
          return fs.readlinkSync(`/proc/${server}/fd/${fd}`);
        } catch {
          return '';
        }
      });
      for (const kind of ['mnt', 'net']) {
        const held = links.filter((l) => l.startsWith(`${kind}:[`));
        expect(held, `${kind} namespaces held by fork server ${server}`).toEqual([fs.readlinkSync(`/proc/${standby}/ns/${kind}`)]);
      }
    }
  });

  // Measured from the moment its last output arrives (it is flushed before the cycle is made) to
  // the result: python's start, which varies a lot under emulation, is not in it. Before the
  // collection the fork server waited up to 2 s (SRV_DRAIN_MS) for pipes only the collection
  // closes: 0.9 to 2 s here, depending on when some other AF_UNIX socket of the host closed.
  it('a cycle holding the output pipes does not keep the slot busy after the program ended', async () => {
    const env = s.env();
    let lastOutput = 0;
    const out = await sandbox(env, {
      plan: planOf(env, 'python'),
      files: [file('main.py', PIPE_CYCLE)],
      onOutput: () => (lastOutput = performance.now()),
    });
    const tail = performance.now() - lastOutput;
    expect([out.kind, out.stdout], describeOutcome(out)).toEqual(['completed', 'holding\n']);
    expect(tail).toBeLessThan(s.slow() > 1 ? 1000 : 400);
  });

  // The cap on all executions of a process: a program whose own limit is far above what the
  // process's slots may use together is stopped at the cap.
  it('the executions of a process cannot use more memory than its slots may', async () => {
    const env = s.env();
    const config = loadConfig({});
    const capacity = { slots: 1, memoryBytesPerSlot: 64 * MiB, processesPerSlot: 64 };
    const { settings } = await probeIsolation(config, defaultProfilesDir(), { capacity });
    const host = await openSandboxHost(settings);
    try {
      const profile = profileOf(env, 'python');
      const limits = { ...profile.limits.default, memoryBytes: 1024 * MiB, wallTimeMs: 10_000 * s.slow() };
      // 400 MiB of touched anonymous memory: within its own limit, far beyond 1 x (64 MiB + the fork server's share).
      const outcome = await runInSandbox(host, { executionId: `cap-${process.pid}`, profile, sourceCode: 'b = b"\\1" * (400 << 20)\nprint("allocated")', stdin: '', runLimits: limits, compileLimits: null });
      expect(outcome.kind, describeOutcome(outcome)).toBe('memory_limit');
    } finally {
      host.close();
      // Back to this file's own cap (the worker directory is the process's).
      capWorkerDir(detectCgroups({ parent: env.settings.cgroupParent }), env.settings.capacity);
    }
  });


  it('a program writing one byte per write() costs the worker and the fork server a small part of its own CPU', async () => {
    await s.run('python', 'print(1)'); // a fork server to measure
    const servers = ownForkServers();
    const serverBefore = servers.reduce((t, pid) => t + ownCpuMs(pid), 0);
    const nodeBefore = process.cpuUsage();
    // 1,000,000 writes: 400,000 took 95 ms of CPU on a fast machine, under the 100 ms this needs to
    // measure a ratio with the 10 ms ticks of /proc.
    const { outcome } = await s.run('python', 'import os\nfor _ in range(1000000):\n    os.write(1, b"x")\n', {
      limits: { stdoutBytes: 1 << 20 },
      overrides: { wallTimeMs: 30_000 * s.slow(), cpuTimeMs: 30_000 },
    });
    const node = process.cpuUsage(nodeBefore);
    const outside = servers.reduce((t, pid) => t + ownCpuMs(pid), 0) - serverBefore + (node.user + node.system) / 1000;
    expect([outcome.kind, outcome.stdout.length], describeOutcome(outcome)).toEqual(['completed', 1000000]);
    const program = outcome.cpuTimeMs!;
    expect(program).toBeGreaterThan(100);
    console.info(`one byte per write: program ${program} ms CPU, worker + fork server ${Math.round(outside)} ms (${(outside / program).toFixed(2)}x)`);
    // Before: 2.1x here, more under emulation (the VM measured 0.5x after, with its JIT's own threads).
    expect(outside / program).toBeLessThan(1);
  });

  it('the fork servers run in a group of their own with memory, process and CPU limits', async () => {
    await s.run('python', 'print(1)');
    const [server] = ownForkServers();
    const lines = fs.readFileSync(`/proc/${server}/cgroup`, 'utf8').trim().split('\n');
    const paths = lines.map((l) => l.split(':')[2]!).filter((p) => p.endsWith('/fork-servers'));
    expect(paths.length, lines.join('\n')).toBeGreaterThan(0);
    const dir = (controller: string) => {
      const line = lines.find((l) => l.split(':')[1]!.split(',').includes(controller)) ?? lines.find((l) => l.startsWith('0::'))!;
      return line.startsWith('0::') ? `/sys/fs/cgroup${line.slice(3)}` : `/sys/fs/cgroup/${controller}${line.split(':')[2]}`;
    };
    const read = (controller: string, v2: string, v1: string) => {
      const d = dir(controller);
      return fs.readFileSync(`${d}/${fs.existsSync(`${d}/${v2}`) ? v2 : v1}`, 'utf8').trim();
    };
    expect(read('memory', 'memory.max', 'memory.limit_in_bytes')).toMatch(/^\d+$/);
    expect(Number(read('memory', 'memory.max', 'memory.limit_in_bytes'))).toBeLessThan(2 ** 40);
    expect(read('pids', 'pids.max', 'pids.max')).toMatch(/^\d+$/);
    expect(read('cpu', 'cpu.max', 'cpu.cfs_quota_us')).toMatch(/^\d+/);
  });
});
