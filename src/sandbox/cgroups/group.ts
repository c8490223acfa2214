import path from 'node:path';
import { SandboxSetupError } from '../../domain/errors.js';
import {
  childGroups,
  exists,
  KeptFiles,
  killPid,
  mkdirIfMissing,
  readKeyed,
  readNumber,
  readPids,
  readText,
  removeGroupDir,
  type ReadText,
  sleep,
  tryWriteControl,
  writeControl,
} from './cgroupfs.js';
import { REQUIRED_CONTROLLERS, type CgroupController, type CgroupHost } from './detect.js';
import { applyIoThrottle, zeroHugetlb, type IoThrottle } from './io.js';

// One cgroup per execution: created with limits before the program starts, read for CPU time,
// peak memory and OOM kills after it ends, killed as a whole, then removed. Only direct file
// operations (see cgroupfs.ts).

export interface ExecutionLimits {
  memoryBytes: number;
  /** Processes and threads (pids.max). */
  processes: number;
  /**
   * Not a cgroup limit: the kernel has no total-CPU-time cap per group. The launcher's RLIMIT_CPU
   * caps each process, and the runner compares stats().cpuTimeMs with this for the whole group.
   */
  cpuTimeMs?: number;
  /** CPU bandwidth in percent of one CPU (cpu.max / cfs_quota_us); 100 = one CPU; absent or 0: no cap. */
  cpuQuotaPercent?: number;
  /** Disk throttle (io / blkio controller); absent: none. */
  io?: IoThrottle;
}

export interface ExecutionStats {
  cpuTimeMs: number;
  memoryPeakKb: number;
  oomKilled: boolean;
  /** A fork or clone failed because pids.max was reached. */
  pidsLimitHit?: boolean;
}

interface Part {
  dir: string;
  controllers: CgroupController[];
}

const CPU_PERIOD_US = 100_000;
const KILL_ROUNDS = 200;
/** Per-CPU counters batch updates: below one batch's worth the group counts as empty. */
const MEMORY_RELEASED_BELOW_BYTES = 256 * 1024;
const ROUND_PAUSE_MS = 5;

export class ExecutionGroup {
  /** The cgroup.procs file of every hierarchy: the launcher writes "0" to each to join. */
  readonly procsPaths: string[];
  readonly dirs: string[];
  private memoryPeakSeen = 0;
  private kept: KeptFiles | null = null;
  /** How this group's statistics files are read: through kept descriptors once keepStatsOpen(). */
  private read: ReadText = readText;

  constructor(
    readonly name: string,
    private readonly version: 1 | 2,
    private readonly parts: Part[],
  ) {
    this.dirs = parts.map((p) => p.dir);
    this.procsPaths = parts.map((p) => path.join(p.dir, 'cgroup.procs'));
  }

  private dirFor(controller: CgroupController): string | null {
    return this.parts.find((p) => p.controllers.includes(controller))?.dir ?? null;
  }

  /**
   * Opens the files that stats(), holdsNoTask() and waitMemoryReleased() read, and keeps them open
   * until remove(): each is then read with one pread. For a group made ahead (spares.ts), so that
   * an execution's end reads its group without opening six files (~0.1 ms after an idle moment).
   */
  keepStatsOpen(): void {
    if (this.kept) return;
    this.kept = new KeptFiles();
    this.read = this.kept.read;
    // The files are the ones these reads take: reading them once now opens and keeps each.
    this.stats();
    this.holdsNoTask();
    this.memoryHeld();
  }

  /** How many statistics files this group holds open (keepStatsOpen; 0 after remove()). */
  get keptFiles(): number {
    return this.kept?.size ?? 0;
  }

  /** Every process in the group, in any hierarchy (pids as this process sees them). */
  pids(): number[] {
    const all = new Set<number>();
    for (const file of this.procsPaths) for (const pid of readPids(file)) all.add(pid);
    return [...all];
  }

  /**
   * True when the pids controller counts no task in the group (pids.current: every task until it
   * is reaped, whatever its pid namespace); false when it counts one, or cannot be read. One file,
   * where pids() reads one per hierarchy: six on this v1 host (~0.15 ms after an idle moment). A
   * check for a group whose execution has ended, whose tasks were all reaped with its pid
   * namespace; kill() is what empties a group.
   */
  holdsNoTask(): boolean {
    const dir = this.version === 2 ? this.parts[0].dir : this.dirFor('pids');
    return dir !== null && readNumber(path.join(dir, 'pids.current'), this.read) === 0;
  }

  stats(): ExecutionStats {
    return this.version === 2 ? this.statsV2() : this.statsV1();
  }

  private statsV2(): ExecutionStats {
    const dir = this.parts[0].dir;
    const usageUs = readKeyed(path.join(dir, 'cpu.stat'), this.read).get('usage_usec') ?? 0;
    // memory.peak exists since Linux 5.19; before that the best we have is the largest value seen.
    const peak = readNumber(path.join(dir, 'memory.peak'), this.read);
    const current = readNumber(path.join(dir, 'memory.current'), this.read) ?? 0;
    this.memoryPeakSeen = Math.max(this.memoryPeakSeen, peak ?? current);
    const events = readKeyed(path.join(dir, 'memory.events'), this.read);
    const pidsEvents = readKeyed(path.join(dir, 'pids.events'), this.read);
    return {
      cpuTimeMs: Math.round(usageUs / 1000),
      memoryPeakKb: Math.ceil(this.memoryPeakSeen / 1024),
      oomKilled: (events.get('oom_kill') ?? 0) > 0 || (events.get('oom_group_kill') ?? 0) > 0,
      pidsLimitHit: (pidsEvents.get('max') ?? 0) > 0,
    };
  }

  private statsV1(): ExecutionStats {
    const cpuacct = this.dirFor('cpuacct');
    const memory = this.dirFor('memory');
    const pids = this.dirFor('pids');
    const usageNs = cpuacct ? readNumber(path.join(cpuacct, 'cpuacct.usage'), this.read) ?? 0 : 0;
    let oomKilled = false;
    if (memory) {
      this.memoryPeakSeen = Math.max(this.memoryPeakSeen, readNumber(path.join(memory, 'memory.max_usage_in_bytes'), this.read) ?? 0);
      const oom = readKeyed(path.join(memory, 'memory.oom_control'), this.read);
      // oom_kill is counted since Linux 4.13; before that, hitting the limit is the closest sign.
      oomKilled = oom.has('oom_kill') ? oom.get('oom_kill')! > 0 : (readNumber(path.join(memory, 'memory.failcnt')) ?? 0) > 0;
    }
    return {
      cpuTimeMs: Math.round(usageNs / 1e6),
      memoryPeakKb: Math.ceil(this.memoryPeakSeen / 1024),
      oomKilled,
      pidsLimitHit: pids ? (readKeyed(path.join(pids, 'pids.events'), this.read).get('max') ?? 0) > 0 : undefined,
    };
  }

  /**
   * Kills every process in the group, including stopped ones, ones that called setsid and ones
   * forking meanwhile; resolves once the group is empty. v2: cgroup.kill (Linux 5.14+), else
   * freeze-kill-thaw; v1: freeze-kill-thaw with the freezer hierarchy.
   */
  async kill(): Promise<void> {
    if (this.version === 2) {
      const killFile = path.join(this.parts[0].dir, 'cgroup.kill');
      if (exists(killFile)) {
        for (let round = 0; round < KILL_ROUNDS; round++) {
          if (this.pids().length === 0) return;
          if (round % 20 === 0) writeControl(killFile, '1');
          await sleep(ROUND_PAUSE_MS);
        }
        throw this.stillAlive();
      }
    }
    await this.freezeAndKill();
  }

  /** The fallback kill, also used on v1: freeze so nothing forks, SIGKILL each pid, thaw, repeat. */
  async freezeAndKill(): Promise<void> {
    const freezer = this.version === 2 ? this.parts[0].dir : this.dirFor('freezer');
    for (let round = 0; round < KILL_ROUNDS; round++) {
      const pids = this.pids();
      if (pids.length === 0) return;
      // The first round only sends SIGKILL (freezing costs ~5 ms on v1 and is rarely needed);
      // if anything is left, e.g. children forked meanwhile, later rounds freeze first.
      const freeze = freezer !== null && round > 0;
      if (freeze) await this.freeze(freezer, true);
      for (const pid of pids) killPid(pid);
      // A v1-frozen process only dies once thawed; a v2-frozen one dies at once.
      if (freeze) await this.freeze(freezer, false);
      await sleep(round === 0 ? 1 : ROUND_PAUSE_MS);
    }
    throw this.stillAlive();
  }

  private async freeze(dir: string, frozen: boolean): Promise<void> {
    if (this.version === 2) {
      tryWriteControl(path.join(dir, 'cgroup.freeze'), frozen ? '1' : '0');
      if (!frozen) return;
      // Freezing waits for each task to reach a safe point; a task stuck in the kernel may delay
      // it, so wait a little only, then kill anyway.
      for (let i = 0; i < 20 && readKeyed(path.join(dir, 'cgroup.events')).get('frozen') !== 1; i++) await sleep(1);
      return;
    }
    const state = path.join(dir, 'freezer.state');
    tryWriteControl(state, frozen ? 'FROZEN' : 'THAWED');
    if (!frozen) return;
    for (let i = 0; i < 20 && readText(state)?.trim() !== 'FROZEN'; i++) await sleep(1);
  }

  private stillAlive(): SandboxSetupError {
    return new SandboxSetupError('cgroup-kill', `processes ${this.pids().join(', ')} of ${this.name} survived SIGKILL`);
  }

  /**
   * Waits, at most `timeoutMs`, until the memory the group's processes held (anonymous memory and
   * shmem: memfds, tmpfs) has gone; returns the bytes still charged then (0 when released). Page
   * cache of shared files stays charged to the group and is not waited for: it is the host's,
   * reclaimable, and moves to the parent when the group goes.
   */
  async waitMemoryReleased(timeoutMs: number): Promise<number> {
    const end = Date.now() + timeoutMs;
    for (let round = 0; ; round++) {
      const held = this.memoryHeld();
      if (held < MEMORY_RELEASED_BELOW_BYTES || Date.now() >= end) return held < MEMORY_RELEASED_BELOW_BYTES ? 0 : held;
      await sleep(round < 10 ? 1 : ROUND_PAUSE_MS);
    }
  }

  /** The bytes of anonymous and tmpfs memory the group still holds (memory.stat); 0 without a memory hierarchy. */
  private memoryHeld(): number {
    const memory = this.version === 2 ? this.parts[0].dir : this.dirFor('memory');
    if (!memory) return 0;
    const stat = readKeyed(path.join(memory, 'memory.stat'), this.read);
    const keys = this.version === 2 ? ['anon', 'shmem'] : ['rss', 'shmem'];
    return keys.reduce((sum, k) => sum + (stat.get(k) ?? 0), 0);
  }

  /** Removes the group's directories, killing what is still inside first. */
  async remove(): Promise<void> {
    this.kept?.close();
    this.kept = null;
    this.read = readText;
    for (let round = 0; round < KILL_ROUNDS; round++) {
      let busy = false;
      for (const dir of this.dirs) if (!removeTree(dir)) busy = true;
      if (!busy) return;
      if (this.pids().length > 0) await this.kill();
      else await sleep(ROUND_PAUSE_MS); // exiting processes leave the group a moment after they die
    }
    throw new SandboxSetupError('cgroup-remove', `cannot remove ${this.dirs.join(', ')}: still busy`);
  }
}

// A group with child groups cannot be removed. The program cannot create any (it is
// unprivileged), but a leftover from an interrupted remove might: look for them only when the
// plain rmdir fails (listing a cgroup directory costs ~25 entries with an lstat each).
function removeTree(dir: string): boolean {
  if (removeGroupDir(dir)) return true;
  for (const child of childGroups(dir)) removeTree(path.join(dir, child));
  return removeGroupDir(dir);
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Creates the group `name` in this worker's directory with `limits` applied. */
export function createExecutionGroup(host: CgroupHost, name: string, limits: ExecutionLimits): ExecutionGroup {
  return withLimits(host, makeGroup(host, name, 'reuse-empty'), limits);
}

/**
 * Creates the group `name` in this worker's directory for later (spares.ts), with `limits`, or
 * none: then nothing may join it before withLimits. It must not exist yet.
 */
export function createSpareGroup(host: CgroupHost, name: string, limits: ExecutionLimits | null): ExecutionGroup {
  const group = makeGroup(host, name, 'new');
  return limits ? withLimits(host, group, limits) : group;
}

/** Writes `limits` into `group`, a group without limits yet; when that fails, removes its directories. */
export function withLimits(host: CgroupHost, group: ExecutionGroup, limits: ExecutionLimits): ExecutionGroup {
  try {
    applyLimits(host, group, limits);
  } catch (err) {
    for (const dir of group.dirs) removeGroupDir(dir);
    throw new SandboxSetupError('cgroup', (err as Error).message, err);
  }
  return group;
}

function makeGroup(host: CgroupHost, name: string, existing: 'reuse-empty' | 'new'): ExecutionGroup {
  if (!NAME.test(name) || name.includes('..')) throw new SandboxSetupError('cgroup', `invalid execution group name ${JSON.stringify(name)}`);
  if (host.version === 'none' || !REQUIRED_CONTROLLERS.every((c) => host.controllers.includes(c)))
    throw new SandboxSetupError('cgroup', `memory and pids controllers are unavailable: ${host.problems.join('; ') || 'no cgroups'}`);
  const group = openExecutionGroup(host, host.workerTag, name);
  const created: string[] = [];
  try {
    let existed = false;
    for (const dir of group.dirs) {
      if (mkdirIfMissing(dir)) created.push(dir);
      else existed = true;
    }
    if (existed && existing === 'new') throw new Error(`${group.dirs[0]} already exists`);
    // A directory left by an earlier attempt with this name is reused only if it is empty (one
    // made just now is: nothing can join a group before it exists).
    if (existed && group.pids().length > 0) throw new Error(`${group.dirs[0]} already exists and holds processes`);
  } catch (err) {
    for (const dir of created) removeGroupDir(dir);
    throw new SandboxSetupError('cgroup', (err as Error).message, err);
  }
  return group;
}

/** A handle on the group `name` of worker `workerTag` (which may be another, dead, worker). */
export function openExecutionGroup(host: CgroupHost, workerTag: string, name: string): ExecutionGroup {
  if (host.version === 'none') throw new SandboxSetupError('cgroup', 'no cgroups on this host');
  const parts = host.hierarchies.map((h) => ({
    dir: path.join(path.dirname(h.workerDir), workerTag, name),
    controllers: h.controllers,
  }));
  return new ExecutionGroup(name, host.version, parts);
}

/**
 * What applyLimits writes for `limits`, as a string: two limits with the same key leave a fresh
 * group in the same state (cpuTimeMs is not written to the group).
 */
export function limitsKey(limits: ExecutionLimits): string {
  const io = limits.io ? [[...limits.io.devices].sort(), limits.io.readBytesPerSecond, limits.io.readIops, limits.io.writeBytesPerSecond, limits.io.writeIops] : null;
  return JSON.stringify([limits.memoryBytes, limits.processes, quotaUs(limits.cpuQuotaPercent), io]);
}

/** Writes `limits` to every hierarchy of `group` (a group of `host`). */
export function applyLimits(host: CgroupHost, group: ExecutionGroup, limits: ExecutionLimits): void {
  if (host.version === 2) applyLimitsV2(group.dirs[0], host, limits);
  else applyLimitsV1(host, group, limits);
}

function applyLimitsV2(dir: string, host: CgroupHost, limits: ExecutionLimits): void {
  const controllers = host.controllers;
  const file = (name: string) => path.join(dir, name);
  writeControl(file('memory.max'), String(limits.memoryBytes));
  // No swap: the limit is on memory, not on memory plus swap. Absent without swap accounting.
  if (exists(file('memory.swap.max'))) writeControl(file('memory.swap.max'), '0');
  // On OOM kill the whole execution, not just its largest process: a half-killed program only
  // hangs until the wall-time limit.
  if (exists(file('memory.oom.group'))) writeControl(file('memory.oom.group'), '1');
  writeControl(file('pids.max'), String(limits.processes));
  const quota = quotaUs(limits.cpuQuotaPercent);
  if (quota !== null && controllers.includes('cpu')) writeControl(file('cpu.max'), `${quota} ${CPU_PERIOD_US}`);
  if (limits.io && controllers.includes('io')) applyIoThrottle(2, dir, limits.io);
  zeroHugetlb(dir, host.hugetlbFiles);
}

function applyLimitsV1(host: CgroupHost, group: ExecutionGroup, limits: ExecutionLimits): void {
  const dirOf = (c: CgroupController) => {
    const i = host.hierarchies.findIndex((h) => h.controllers.includes(c));
    return i < 0 ? null : group.dirs[i];
  };
  const memory = dirOf('memory')!;
  const limit = path.join(memory, 'memory.limit_in_bytes');
  const memsw = path.join(memory, 'memory.memsw.limit_in_bytes');
  const bytes = String(limits.memoryBytes);
  // memsw (memory + swap) exists only with swap accounting; without it, keep the group out of swap.
  if (!exists(memsw)) {
    writeControl(limit, bytes);
    tryWriteControl(path.join(memory, 'memory.swappiness'), '0');
  } else if (tryWriteControl(limit, bytes)) writeControl(memsw, bytes);
  else {
    // The kernel keeps memsw >= the memory limit at every step: a limit raised above the group's
    // memsw (a group whose limits are set again, the fork servers') needs memsw raised first.
    writeControl(memsw, bytes);
    writeControl(limit, bytes);
  }
  writeControl(path.join(dirOf('pids')!, 'pids.max'), String(limits.processes));
  const quota = quotaUs(limits.cpuQuotaPercent);
  const cpu = dirOf('cpu');
  if (quota !== null && cpu) {
    writeControl(path.join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
    writeControl(path.join(cpu, 'cpu.cfs_quota_us'), String(quota));
  }
  const blkio = dirOf('blkio');
  if (limits.io && blkio) applyIoThrottle(1, blkio, limits.io);
  const hugetlb = dirOf('hugetlb');
  if (hugetlb) zeroHugetlb(hugetlb, host.hugetlbFiles);
}

function quotaUs(percent: number | undefined): number | null {
  if (percent === undefined || !(percent > 0)) return null;
  return Math.max(1000, Math.round((CPU_PERIOD_US * percent) / 100));
}
