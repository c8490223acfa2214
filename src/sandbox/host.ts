import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/schema.js';
import { IsolationUnavailableError } from '../domain/errors.js';
import { blockDevicesOf, capWorkerDir, detectCgroups, EXECUTIONS_IO_WEIGHT_V2, releaseWorkerDir, serversGroup, sweepLeftovers, throttleableDevices, weightedDevices, type CgroupHost, type SlotCapacity } from './cgroups/index.js';
import { IsolatedHost } from './isolated-host.js';
import type { SandboxHost } from './request.js';
import { hostSeccompArch, loadAllSeccompProfiles } from './seccomp/index.js';
import type { SandboxHostSettings } from './settings.js';
import { BASE_BINDS } from './spec.js';
import { INSECURE_WARNING, UnisolatedHost } from './unisolated-host.js';
import { UnisolatedPool } from './unisolated-pool.js';

export { INSECURE_WARNING };
export type { SandboxHostSettings };

// Startup: decide once whether this host can isolate executions (probeIsolation), then open a
// SandboxHost from what was decided (openSandboxHost): the isolated host, or, only when the
// operator allowed it explicitly, the development host that isolates nothing.

/** The launcher binary built by `npm install` (scripts/build-launcher.mjs). */
export function defaultLauncherPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'codexec-launcher');
}

/**
 * Largest limits one execution may have when the caller does not say: the languages' built-in
 * maxima (languages/registry.ts). The worker directory is capped at slots x these.
 */
export const DEFAULT_MEMORY_BYTES_PER_SLOT = 1024 * 1024 * 1024;
export const DEFAULT_PROCESSES_PER_SLOT = 256;

export interface IsolationReport {
  level: 'full' | 'insecure';
  cgroupVersion: string;
  problems: string[];
  warnings: string[];
  /** How huge pages are kept from executions here, for `codexec doctor`. */
  hugetlb: { limitedByCgroup: boolean; detail: string };
  /** How disk I/O of executions is throttled here. */
  io: { devices: string[]; detail: string };
}

/**
 * Probes whose worker directory is still in use in this process. The directory (w<pid>.<start>) is
 * the process's, not a probe's: it goes when the last of them is released.
 */
let probesInUse = 0;

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Decide, once at startup, whether this host can isolate executions. Refuses (throws) when it
 * cannot, unless the operator explicitly allowed unisolated runs. Every seccomp profile is
 * validated and compiled here: a broken one stops the start, naming its file. `capacity` is what
 * this process runs at once (default: the larger of CODEXEC_EXECUTORS and
 * CODEXEC_WORKER_CONCURRENCY slots at the languages' maximum limits).
 */
export async function probeIsolation(
  config: Config,
  profilesDir: string,
  opts: { capacity?: Partial<SlotCapacity> } = {},
): Promise<{ settings: SandboxHostSettings; report: IsolationReport; release: () => Promise<void> }> {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push('not Linux');
  if (typeof process.geteuid === 'function' && process.geteuid() !== 0) problems.push('not root: namespaces, cgroups and the uid drop need root (or a delegated cgroup and CAP_SYS_ADMIN)');
  const launcherPath = defaultLauncherPath();
  if (!isExecutable(launcherPath)) problems.push(`sandbox launcher not built (${launcherPath}): run npm install with a C compiler present`);
  let archOk = true;
  try {
    hostSeccompArch();
  } catch (err) {
    archOk = false;
    problems.push((err as Error).message);
  }
  if (archOk) await loadAllSeccompProfiles(profilesDir);
  const capacity: SlotCapacity = {
    slots: Math.max(1, config.executors, config.workerConcurrency),
    memoryBytesPerSlot: DEFAULT_MEMORY_BYTES_PER_SLOT,
    processesPerSlot: DEFAULT_PROCESSES_PER_SLOT,
    ...opts.capacity,
  };
  let cgroupVersion = 'none';
  let cgroupParent = config.cgroupParent;
  let ioDevices: string[] = [];
  let cg: CgroupHost | null = null;
  if (problems.length === 0) {
    cg = detectCgroups({ parent: config.cgroupParent || undefined });
    cgroupVersion = String(cg.version);
    if (cg.problems.length > 0) problems.push(...cg.problems.map((p) => `cgroups: ${p}`));
    else {
      cgroupParent = cg.parent;
      await sweepLeftovers(cg);
      capWorkerDir(cg, capacity);
      ioDevices = probeIoDevices(cg);
    }
  }
  const mode = problems.length === 0 ? 'isolated' : 'insecure';
  if (mode === 'insecure' && !config.insecureAllowUnisolated) throw new IsolationUnavailableError(problems);
  return {
    release: workerDirRelease(mode === 'isolated' ? cg : null),
    settings: { mode, launcherPath, uidBase: config.sandboxUidBase, profilesDir, cgroupParent, capacity, ioDevices, sandbox: {} },
    report: {
      level: mode === 'isolated' ? 'full' : 'insecure',
      cgroupVersion,
      problems,
      warnings: mode === 'insecure' ? [INSECURE_WARNING] : [],
      hugetlb: describeHugetlb(cg),
      io: describeIo(cg, ioDevices),
    },
  };
}

/**
 * Removes the worker directory once the hosts opened from the probe are closed (their fork
 * servers gone), when no other probe of this process still uses it: a process that stops cleanly
 * leaves no empty directory for the next start's sweep. Called once; later calls do nothing.
 */
function workerDirRelease(cg: CgroupHost | null): () => Promise<void> {
  if (!cg) return async () => {};
  probesInUse++;
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    if (--probesInUse === 0) await releaseWorkerDir(cg);
  };
}

/** The whole disks under the base binds that execution groups can throttle here (tried on the servers' group). */
function probeIoDevices(cg: CgroupHost): string[] {
  const controller = cg.version === 2 ? 'io' : 'blkio';
  const hierarchy = cg.hierarchies.find((h) => h.controllers.includes(controller));
  if (!hierarchy || cg.version === 'none') return [];
  const servers = serversGroup(cg);
  const dir = servers.dirs[cg.hierarchies.indexOf(hierarchy)]!;
  return throttleableDevices(cg.version, dir, blockDevicesOf(BASE_BINDS));
}

function describeHugetlb(cg: CgroupHost | null): IsolationReport['hugetlb'] {
  const seccomp = 'MAP_HUGETLB, MFD_HUGETLB and SHM_HUGETLB are denied by the default seccomp profile';
  if (cg && cg.hugetlbFiles.length > 0) return { limitedByCgroup: true, detail: `limited to 0 in every execution group (${cg.hugetlbFiles.length} limit files); ${seccomp}` };
  return { limitedByCgroup: false, detail: `no hugetlb controller for the execution groups: ${seccomp} only` };
}

function describeIo(cg: CgroupHost | null, devices: string[]): IsolationReport['io'] {
  const controller = cg?.version === 2 ? 'io' : 'blkio';
  let detail: string;
  if (devices.length > 0) detail = `disk reads and writes of each execution throttled on ${devices.join(', ')} (${cg?.version === 2 ? 'io.max' : 'blkio.throttle'})`;
  else if (!cg || !cg.controllers.includes(controller)) detail = `no ${controller} controller for the execution groups: disk I/O is not throttled`;
  else detail = 'no throttleable block device under the binds (overlay, btrfs or network filesystem?): disk I/O is not throttled';
  if (cg?.version === 2 && cg.controllers.includes('io')) {
    const weighted = weightedDevices(2, cg.hierarchies[0]?.mount ?? '/sys/fs/cgroup', devices);
    if (cg.ioWeightFiles.length === 0) detail += '; no io.weight for the executions\' parent: their disk share is the service\'s';
    else detail += `; executions weighted ${EXECUTIONS_IO_WEIGHT_V2} against the service's 100 (${cg.ioWeightFiles.join(', ')}), in effect on ${weighted.length > 0 ? weighted.join(', ') : 'no disk (neither io.cost nor BFQ): the throttle alone applies'}`;
  }
  return { devices, detail };
}

/**
 * A SandboxHost from settings probed at startup. `threads`: run the development host on that many
 * worker threads (unisolated-pool.ts); the isolated host never needs them.
 */
export async function openSandboxHost(settings: SandboxHostSettings, opts: { threads?: number } = {}): Promise<SandboxHost> {
  if (settings.mode === 'insecure') return opts.threads ? new UnisolatedPool(opts.threads) : new UnisolatedHost();
  return new IsolatedHost(settings);
}
