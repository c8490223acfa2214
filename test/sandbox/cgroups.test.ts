import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  blockDevicesOf,
  capWorkerDir,
  createExecutionGroup,
  throttleableDevices,
  describeCgroups,
  detectCgroups,
  openExecutionGroup,
  openServersGroup,
  releaseWorkerDir,
  sweepLeftovers,
  limitsKey,
  SpareGroups,
  SPARE_PREFIX,
  workerDirLimits,
  type ExecutionGroup,
} from '../../src/sandbox/cgroups/index.js';
import { EXECUTIONS_CPU_SHARES_V1, EXECUTIONS_CPU_WEIGHT_V2 } from '../../src/sandbox/cgroups/detect.js';
import { SERVER_MEMORY_BYTES_PER_SLOT, SERVER_PROCESSES_PER_SLOT } from '../../src/sandbox/cgroups/capacity.js';

// Real cgroups, real processes: these run as root on this v1-hybrid machine and in the pure-v2 VM
// (../shared/tools/cgroup2-vm). Each test's program joins its group the way the launcher does, by
// writing "0" to every cgroup.procs in procsPaths.

const isRoot = process.getuid?.() === 0;
const host = isRoot ? detectCgroups() : null;
const usable = host !== null && host.controllers.includes('memory') && host.controllers.includes('pids');
const skipReason = !isRoot ? 'not root' : !usable ? `no usable cgroups: ${host?.problems.join('; ')}` : '';
if (skipReason) console.warn(`cgroups tests skipped: ${skipReason}`);

const MiB = 1024 * 1024;
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** Runs `script` in /bin/sh after the shell has joined every hierarchy of `group`. */
function runInGroup(group: ExecutionGroup, script: string): ChildProcess {
  return spawn('/bin/sh', ['-c', `for p in "$@"; do echo 0 > "$p" || exit 99; done; ${script}`, 'sh', ...group.procsPaths], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d));
  child.stderr?.resume();
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout })));
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Field `i` of /proc/PID/stat after the command name (0: the state letter, 3: the session id), or
 * null once the process is gone (an intermediate fork may exit between a listing and the read).
 */
function statField(pid: number, i: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[i] ?? null;
  } catch {
    return null;
  }
}

/** Process state letter from /proc (R, S, T, Z...), or null once the process is gone. */
const procState = (pid: number): string | null => statField(pid, 0);
const sessionId = (pid: number): string | null => statField(pid, 3);

const dead = (pid: number) => {
  const s = procState(pid);
  return s === null || s === 'Z' || s === 'X';
};

// A tree that tries to outlive its group: a SIGSTOPped child, a setsid child, a double fork.
const STUBBORN_TREE = "sleep 1000 & kill -STOP $!; setsid sleep 1000 & (sleep 1000 &); sh -c 'sleep 1000 & exec sleep 1000' & wait";

/** A loop of 60 background sleeps in `g` (pids.max 16) is stopped at the limit, and kill() ends what it made. */
async function expectForkLoopCapped(g: ExecutionGroup): Promise<void> {
  const child = runInGroup(g, 'i=0; while [ $i -lt 60 ]; do sleep 1000 2>/dev/null & i=$((i+1)); done 2>/dev/null; wait');
  const done = exited(child);
  await waitFor('pids.max to be hit', () => g.stats().pidsLimitHit === true);
  expect(g.pids().length).toBeLessThanOrEqual(16);
  await g.kill();
  await done;
  expect(g.pids()).toEqual([]);
}

describe('limitsKey', () => {
  const base = { memoryBytes: 64 * MiB, processes: 16, cpuQuotaPercent: 100 };
  const io = { devices: ['8:0', '8:16'], readBytesPerSecond: 1, readIops: 2, writeBytesPerSecond: 3, writeIops: 4 };
  it('differs whenever a value written to the group differs, and only then', () => {
    const key = limitsKey(base);
    expect(limitsKey({ ...base, cpuTimeMs: 5000 })).toBe(key);
    expect(limitsKey({ ...base, cpuQuotaPercent: 100.0001 })).toBe(key);
    for (const other of [{ ...base, memoryBytes: 65 * MiB }, { ...base, processes: 17 }, { ...base, cpuQuotaPercent: 50 }, { memoryBytes: base.memoryBytes, processes: 16 }, { ...base, io }])
      expect(limitsKey(other)).not.toBe(key);
    expect(limitsKey({ ...base, io: { ...io, devices: ['8:16', '8:0'] } })).toBe(limitsKey({ ...base, io }));
    for (const field of ['readBytesPerSecond', 'readIops', 'writeBytesPerSecond', 'writeIops'] as const)
      expect(limitsKey({ ...base, io: { ...io, [field]: 99 } })).not.toBe(limitsKey({ ...base, io }));
  });
});

describe.skipIf(!usable)(`cgroups${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const h = host!;
  const groups: ExecutionGroup[] = [];
  let counter = 0;
  const make = (limits = { memoryBytes: 64 * MiB, processes: 16, cpuQuotaPercent: 100 }) => {
    const g = createExecutionGroup(h, `t${process.pid}-${++counter}`, limits);
    groups.push(g);
    return g;
  };

  afterAll(async () => {
    for (const g of groups) await g.remove();
    await releaseWorkerDir(h);
    for (const hier of h.hierarchies) expect(fs.existsSync(hier.workerDir)).toBe(false);
  });

  it('detects the version of this host and the controllers', () => {
    const expected = fs.statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC ? 2 : 1;
    expect(h.version).toBe(expected);
    expect(h.controllers).toEqual(expect.arrayContaining(['memory', 'pids']));
    if (expected === 1) expect(h.controllers).toEqual(expect.arrayContaining(['memory', 'pids', 'cpu', 'cpuacct', 'freezer']));
    const lines = describeCgroups(h);
    expect(lines[0]).toMatch(new RegExp(`^cgroup version: v${expected} \\(memory, pids[^)]*\\) ok$`));
    for (const hier of h.hierarchies) expect(fs.existsSync(hier.workerDir)).toBe(true);
  });

  it('gives the parent of all executions a low CPU weight, so that the service wins the CPU under load', () => {
    if (!h.controllers.includes('cpu')) return expect(h.warnings.join(' ')).toMatch(/cpu/);
    const cpuHier = h.hierarchies.find((x) => x.controllers.includes('cpu'))!;
    const parentDir = path.dirname(cpuHier.workerDir);
    if (h.version === 1) expect(fs.readFileSync(path.join(parentDir, 'cpu.shares'), 'utf8').trim()).toBe(String(EXECUTIONS_CPU_SHARES_V1));
    else expect(fs.readFileSync(path.join(parentDir, 'cpu.weight'), 'utf8').trim()).toBe(String(EXECUTIONS_CPU_WEIGHT_V2));
  });

  it('applies the limits and reports CPU time and peak memory', async () => {
    const g = make();
    const run = exited(runInGroup(g, 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo done'));
    const result = await run;
    expect(result).toMatchObject({ code: 0, stdout: 'done\n' });
    const stats = g.stats();
    expect(stats.cpuTimeMs).toBeGreaterThan(0);
    expect(stats.memoryPeakKb).toBeGreaterThan(0);
    expect(stats.memoryPeakKb).toBeLessThan(64 * 1024);
    expect(stats.oomKilled).toBe(false);
    expect(stats.pidsLimitHit).toBe(false);
    const limitFile = h.version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
    const memoryDir = g.dirs[h.hierarchies.findIndex((x) => x.controllers.includes('memory'))];
    expect(fs.readFileSync(path.join(memoryDir, limitFile), 'utf8').trim()).toBe(String(64 * MiB));
  });

  it('waits until the memory of a finished program is released, and says how much was not', async () => {
    const g = make();
    // A tmpfs file of the group (shmem) outlives the program until it is removed.
    const dir = fs.mkdtempSync('/dev/shm/codexec-wait-');
    const file = path.join(dir, 'held');
    const result = await exited(runInGroup(g, `head -c ${8 * MiB} /dev/zero > ${file}; echo done`));
    expect(result.stdout).toBe('done\n');
    expect(await g.waitMemoryReleased(50)).toBeGreaterThanOrEqual(8 * MiB);
    const waiting = g.waitMemoryReleased(10_000);
    setTimeout(() => fs.rmSync(dir, { recursive: true }), 100);
    expect(await waiting).toBe(0);
  });

  it('limits huge pages to 0 and throttles the disks under the binds, where the controllers are there', () => {
    const devices = blockDevicesOf(['/usr', '/lib']);
    const io = { devices: [] as string[], readBytesPerSecond: 10 * MiB, readIops: 100, writeBytesPerSecond: 5 * MiB, writeIops: 50 };
    const probe = make();
    const ioDir = probe.dirs[h.hierarchies.findIndex((x) => x.controllers.includes(h.version === 2 ? 'io' : 'blkio'))];
    io.devices = ioDir ? throttleableDevices(h.version as 1 | 2, ioDir, devices) : [];
    const g = make({ memoryBytes: 64 * MiB, processes: 16, cpuQuotaPercent: 100, io } as never);
    const dirOf = (c: string) => g.dirs[h.hierarchies.findIndex((x) => x.controllers.includes(c as never))];
    for (const f of h.hugetlbFiles) expect(fs.readFileSync(path.join(dirOf('hugetlb')!, f), 'utf8').trim()).toBe('0');
    if (h.controllers.includes('hugetlb')) expect(h.hugetlbFiles.length).toBeGreaterThan(0);
    for (const d of io.devices) {
      if (h.version === 2) expect(fs.readFileSync(path.join(dirOf('io')!, 'io.max'), 'utf8')).toContain(`${d} rbps=${10 * MiB} wbps=${5 * MiB} riops=100 wiops=50`);
      else expect(fs.readFileSync(path.join(dirOf('blkio')!, 'blkio.throttle.read_bps_device'), 'utf8')).toContain(`${d} ${10 * MiB}`);
    }
  });

  it('caps the worker directory at what its slots may use', () => {
    const cap = { slots: 3, memoryBytesPerSlot: 100 * MiB, processesPerSlot: 20 };
    const limits = capWorkerDir(h, cap);
    expect(limits).toEqual(workerDirLimits(cap));
    const memory = h.hierarchies.find((x) => x.controllers.includes('memory'))!;
    const pids = h.hierarchies.find((x) => x.controllers.includes('pids'))!;
    expect(fs.readFileSync(path.join(memory.workerDir, h.version === 2 ? 'memory.max' : 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(limits.memoryBytes));
    expect(fs.readFileSync(path.join(pids.workerDir, 'pids.max'), 'utf8').trim()).toBe(String(limits.processes));
    capWorkerDir(h, { slots: 64, memoryBytesPerSlot: 1024 * MiB, processesPerSlot: 256 }); // raised again: other tests of this file
  });

  it('the fork servers\' group is limited for the slots of every host open in the process, and shrinks back when one closes', () => {
    const memory = h.hierarchies.findIndex((x) => x.controllers.includes('memory'));
    const pidsAt = h.hierarchies.findIndex((x) => x.controllers.includes('pids'));
    const first = openServersGroup(h, 1);
    const read = (i: number, file: string) => fs.readFileSync(path.join(first.group.dirs[i]!, file), 'utf8').trim();
    const memFile = h.version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
    expect(read(pidsAt, 'pids.max')).toBe(String(SERVER_PROCESSES_PER_SLOT));
    // A second host adds its slots: the limits are raised (memsw first on v1), not set to its own.
    const second = openServersGroup(h, 2);
    expect(read(pidsAt, 'pids.max')).toBe(String(3 * SERVER_PROCESSES_PER_SLOT));
    expect(read(memory, memFile)).toBe(String(3 * SERVER_MEMORY_BYTES_PER_SLOT));
    second.release();
    expect(read(pidsAt, 'pids.max')).toBe(String(SERVER_PROCESSES_PER_SLOT));
    expect(read(memory, memFile)).toBe(String(SERVER_MEMORY_BYTES_PER_SLOT));
    first.release();
  });

  it('a group left with this name is reused only while empty', async () => {
    const name = `t${process.pid}-left-${++counter}`;
    const limits = { memoryBytes: 64 * MiB, processes: 16, cpuQuotaPercent: 100 };
    const first = createExecutionGroup(h, name, limits);
    groups.push(first);
    const ended = exited(runInGroup(first, 'sleep 30'));
    await waitFor('the process in its group', () => first.pids().length > 0);
    expect(() => createExecutionGroup(h, name, limits)).toThrow(/already exists and holds processes/);
    await first.kill();
    await ended;
    const again = createExecutionGroup(h, name, limits);
    expect(again.dirs).toEqual(first.dirs);
  });

  it('OOM-kills a program that allocates past the memory limit, and says so', async () => {
    const g = make();
    const hog = `const b = []; for (let i = 0; i < 200; i++) b.push(Buffer.alloc(1 << 20, 7)); console.log('survived')`;
    const result = await exited(runInGroup(g, `exec "${process.execPath}" -e "${hog}"`));
    expect(result.stdout).not.toContain('survived');
    expect(result.signal).toBe('SIGKILL');
    expect(g.stats().oomKilled).toBe(true);
  }, 60_000);

  it('keeps a fork loop within pids.max', () => expectForkLoopCapped(make()), 60_000);

  it('kill() ends the whole tree: stopped, setsid and double-forked processes included', async () => {
    const g = make();
    const done = exited(runInGroup(g, STUBBORN_TREE));
    // Wait until the tree is what the test is about: a stopped process and one in its own session
    // (under emulation the setsid may come a moment after the processes appear).
    const ready = () => {
      const p = g.pids();
      return p.length >= 6 && p.some((x) => procState(x) === 'T') && new Set(p.map(sessionId).filter((id) => id !== null)).size > 1;
    };
    await waitFor('the tree to start, with a stopped process and a second session', ready);
    const pids = g.pids();
    await g.kill();
    await done;
    expect(g.pids()).toEqual([]);
    for (const pid of pids) expect([pid, dead(pid)]).toEqual([pid, true]);
  }, 60_000);

  it('holdsNoTask() is true only while no task is in the group, a stopped one included', async () => {
    const g = make();
    expect(g.holdsNoTask()).toBe(true);
    const done = exited(runInGroup(g, 'sleep 1000 & kill -STOP $!; wait'));
    await waitFor('the stopped child', () => g.pids().some((p) => procState(p) === 'T'));
    expect(g.holdsNoTask()).toBe(false);
    await g.kill();
    await done;
    expect(g.pids()).toEqual([]);
    // A killed task is counted until it is reaped; the stopped sleep's reaper here is the machine's
    // pid 1, which takes its time (the launcher's init reaps every task itself before it ends).
    await waitFor('the killed tasks to be reaped', () => g.holdsNoTask());
  }, 60_000);

  it('keepStatsOpen(): the statistics read through descriptors held open are the files\' current values, and remove() gives them back', async () => {
    const g = make();
    g.keepStatsOpen();
    // Every statistics file of this host's version (memory.peak needs Linux 5.19).
    const expected = h.version === 1 ? 6 : fs.existsSync(path.join(g.dirs[0]!, 'memory.peak')) ? 7 : 6;
    expect(g.keptFiles).toBe(expected);
    const heldIn = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return g.dirs.some((d) => fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${d}/`));
        } catch {
          return false;
        }
      }).length;
    expect(heldIn()).toBe(expected);
    // The same descriptor read again gives the value of now, not of its first read.
    expect(g.holdsNoTask()).toBe(true);
    const done = exited(runInGroup(g, `head -c ${4 * MiB} /dev/zero | tail -c 1 >/dev/null; sleep 1000 & kill -STOP $!; wait`));
    await waitFor('the stopped child', () => g.pids().some((p) => procState(p) === 'T'));
    expect(g.holdsNoTask()).toBe(false);
    await g.kill();
    await done;
    await waitFor('the killed tasks to be reaped', () => g.holdsNoTask());
    // What a handle reading the files the usual way says.
    const fresh = openExecutionGroup(h, h.workerTag, g.name).stats();
    const kept = g.stats();
    expect(kept.cpuTimeMs).toBe(fresh.cpuTimeMs);
    expect(kept.memoryPeakKb).toBe(fresh.memoryPeakKb);
    expect(kept.memoryPeakKb).toBeGreaterThan(0);
    expect(kept).toMatchObject({ oomKilled: false, pidsLimitHit: false });
    await g.remove();
    expect(g.keptFiles).toBe(0);
    expect(heldIn()).toBe(0);
  }, 60_000);

  it('the freeze-and-kill fallback ends the same tree', async () => {
    const g = make();
    const done = exited(runInGroup(g, STUBBORN_TREE));
    await waitFor('the tree to start', () => g.pids().length >= 6);
    const pids = g.pids();
    await g.freezeAndKill();
    await done;
    expect(g.pids()).toEqual([]);
    for (const pid of pids) expect([pid, dead(pid)]).toEqual([pid, true]);
  }, 60_000);

  describe('spare groups made ahead', () => {
    const memFile = h.version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
    const dirOf = (g: ExecutionGroup, file: string) => g.dirs.find((d) => fs.existsSync(path.join(d, file)))!;
    const read = (g: ExecutionGroup, file: string) => fs.readFileSync(path.join(dirOf(g, file), file), 'utf8').trim();
    /** The group's CPU cap as the kernel has it: microseconds per 100 ms, or null when uncapped. */
    const quotaOf = (g: ExecutionGroup): number | null => {
      if (h.version === 2) {
        const [max] = read(g, 'cpu.max').split(' ');
        return max === 'max' ? null : Number(max);
      }
      const q = Number(read(g, 'cpu.cfs_quota_us'));
      return q < 0 ? null : q;
    };
    const A = { memoryBytes: 48 * MiB, processes: 12, cpuQuotaPercent: 50 };
    const B = { memoryBytes: 40 * MiB, processes: 9 };
    const exists = (g: ExecutionGroup) => g.dirs.every((d) => fs.existsSync(d));
    /** take(), checked: a spare or a group made now, with exactly `limits` in its files. */
    const takeChecked = (spares: SpareGroups, tag: string, limits: typeof A | typeof B, from: 'spare' | 'made now') => {
      const g = spares.take(`t${process.pid}-${tag}`, limits);
      groups.push(g);
      if (from === 'spare') expect(g.name.startsWith(SPARE_PREFIX)).toBe(true);
      else expect(g.name).toBe(`t${process.pid}-${tag}`);
      expect(read(g, memFile)).toBe(String(limits.memoryBytes));
      expect(read(g, 'pids.max')).toBe(String(limits.processes));
      const percent = 'cpuQuotaPercent' in limits ? limits.cpuQuotaPercent : null;
      if (h.controllers.includes('cpu')) expect(quotaOf(g)).toBe(percent === null ? null : percent * 1000);
      return g;
    };

    it('a take with the latest limits gets a spare made ahead with them; other limits are written only into fresh groups', async () => {
      const spares = new SpareGroups(h, 2);
      try {
        await spares.refill();
        expect(spares.count).toBe(2);
        // None has limits yet: the first take writes its own into one.
        takeChecked(spares, 'first', A, 'spare');
        // Refilled with A's limits (the spare left is replaced by one with them), before any take asks for them.
        await spares.refill();
        expect(spares.count).toBe(2);
        takeChecked(spares, 'second', A, 'spare');
        // Other limits (and no CPU cap): not a spare made with A's, whatever is left of them.
        takeChecked(spares, 'other', B, 'made now');
        // The next refill replaces the spare with A's limits left by spares with B's.
        const pidsDir = h.hierarchies.find((x) => x.controllers.includes('pids'))!.workerDir;
        const taken = new Set(groups.map((g) => g.name));
        const sparesWith = (processes: number) =>
          fs.readdirSync(pidsDir).filter((n) => n.startsWith(SPARE_PREFIX) && !taken.has(n) && fs.readFileSync(path.join(pidsDir, n, 'pids.max'), 'utf8').trim() === String(processes));
        expect(sparesWith(A.processes)).toHaveLength(1);
        await spares.refill();
        expect(spares.count).toBe(2);
        expect(sparesWith(A.processes)).toEqual([]);
        expect(sparesWith(B.processes)).toHaveLength(2);
        takeChecked(spares, 'third', B, 'spare');
      } finally {
        await spares.close();
      }
    });

    it('a spare is a fresh group that works as one: limits enforced, stats of its own run only', async () => {
      const spares = new SpareGroups(h, 1);
      try {
        await spares.refill();
        const g = spares.take(`t${process.pid}-fresh`, { memoryBytes: 64 * MiB, processes: 16 });
        groups.push(g);
        // Made ahead with its statistics files open: the execution's end reads them without opening any.
        expect(g.keptFiles).toBeGreaterThanOrEqual(6);
        expect(g.stats()).toMatchObject({ cpuTimeMs: 0, memoryPeakKb: 0, oomKilled: false, pidsLimitHit: false });
        await expectForkLoopCapped(g);
      } finally {
        await spares.close();
      }
    }, 60_000);

    it('close() removes the spares not taken and makes no more', async () => {
      const spareNames = () => new Set(fs.readdirSync(h.hierarchies[0]!.workerDir).filter((n) => n.startsWith(SPARE_PREFIX)));
      const before = spareNames();
      const spares = new SpareGroups(h, 2);
      await spares.refill();
      const taken = spares.take(`t${process.pid}-taken`, A);
      groups.push(taken);
      const left = spares.take(`t${process.pid}-left`, A);
      await spares.refill();
      expect(spares.count).toBe(2);
      const ours = () => [...spareNames()].filter((n) => !before.has(n)).sort();
      expect(ours()).toHaveLength(4);
      await spares.close();
      await left.remove();
      await spares.refill();
      expect(spares.count).toBe(0);
      expect(ours()).toEqual([taken.name]);
      expect(exists(taken)).toBe(true);
    });
  });

  it('remove() kills what is left and leaves no directory', async () => {
    const g = make();
    exited(runInGroup(g, 'exec sleep 1000'));
    await waitFor('the sleeper to join', () => g.pids().length === 1);
    await g.remove();
    for (const dir of g.dirs) expect(fs.existsSync(dir)).toBe(false);
  }, 60_000);

  it('sweepLeftovers removes groups of a dead worker and leaves a live worker alone', async () => {
    // A worker that crashed: its directory is named after a process that no longer exists.
    const gone = spawn('sleep', ['1000']);
    await waitFor('sleep to start', () => procState(gone.pid!) !== null);
    const stat = fs.readFileSync(`/proc/${gone.pid}/stat`, 'utf8');
    const deadTag = `w${gone.pid}.${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
    gone.kill('SIGKILL');
    await exited(gone);
    // A live worker: the vitest process that started this one.
    const pstat = fs.readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    const liveTag = `w${process.ppid}.${pstat.slice(pstat.lastIndexOf(')') + 2).split(' ')[19]}`;

    const orphan = openExecutionGroup(h, deadTag, 'orphan');
    const other = openExecutionGroup(h, liveTag, `live-${process.pid}`);
    for (const dir of [...orphan.dirs, ...other.dirs]) fs.mkdirSync(dir, { recursive: true });
    const orphanRun = exited(runInGroup(orphan, 'setsid sleep 1000 & exec sleep 1000'));
    const otherRun = exited(runInGroup(other, 'exec sleep 1000'));
    await waitFor('the programs to join', () => orphan.pids().length === 2 && other.pids().length === 1);
    const orphanPids = orphan.pids();

    const result = await sweepLeftovers(h);
    expect(result.failures).toEqual([]);
    expect(result.groups).toContain(`${deadTag}/orphan`);
    expect(result.groups.some((g) => g.startsWith(liveTag))).toBe(false);
    for (const dir of orphan.dirs) expect(fs.existsSync(path.dirname(dir))).toBe(false);
    for (const pid of orphanPids) expect(dead(pid)).toBe(true);
    expect(other.pids().length).toBe(1);
    await orphanRun;

    await other.remove();
    await otherRun;
    for (const dir of other.dirs) {
      expect(fs.existsSync(dir)).toBe(false);
      fs.rmdirSync(path.dirname(dir)); // the stand-in live worker's directory
    }
  }, 60_000);
});
