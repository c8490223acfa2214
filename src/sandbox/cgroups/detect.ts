import fs from 'node:fs';
import path from 'node:path';
import { childGroups, isWritable, mkdirIfMissing, processStartTime, readMounts, readPids, readText, tryWriteControl, writeControl, type MountEntry } from './cgroupfs.js';
import { hugetlbLimitFiles, weighExecutionsIo } from './io.js';

// Finds the host's cgroup layout once at startup and prepares the directory this process creates
// execution groups in:
//   v1: <controller mount>/<parent>/<worker>/<execution> in each of memory, pids, cpu, cpuacct, freezer
//   v2: <mount>/<parent>/<worker>/<execution>, <parent> by default <own group>/codexec
// <worker> is w<pid>.<start time>: sweepLeftovers removes only directories whose owner process is
// gone, so two workers on one host never sweep each other's live executions.
//
// v2 and delegation: a process may only write inside its own subtree (systemd: Delegate=yes on the
// unit), and a group that has processes cannot enable controllers for its children ("no internal
// processes"). So when our own group holds processes, they move to a leaf <own>/supervisor first,
// then <own>/cgroup.subtree_control gets +memory +pids +cpu. The root group is exempt from that
// rule. Nothing is ever written outside our own group unless CODEXEC_CGROUP_PARENT says where.

export type CgroupController = 'memory' | 'pids' | 'cpu' | 'cpuacct' | 'freezer' | 'blkio' | 'io' | 'hugetlb';

const WANTED_V1: CgroupController[] = ['memory', 'pids', 'cpu', 'cpuacct', 'freezer', 'blkio', 'hugetlb'];
const WANTED_V2: CgroupController[] = ['memory', 'pids', 'cpu', 'io', 'hugetlb'];
/** Without these an execution cannot be contained. */
export const REQUIRED_CONTROLLERS: CgroupController[] = ['memory', 'pids'];
export const SUPERVISOR_GROUP = 'supervisor';
export const DEFAULT_PARENT_NAME = 'codexec';

/**
 * CPU weight of the parent of all execution groups, against its siblings (on v2 the supervisor
 * leaf that holds codexec itself; on v1 the tasks of the parent's parent, e.g. the root group):
 * when programs saturate the cores, the API and the executors still get the CPU as soon as they
 * want it; idle cores run programs at full speed. Defaults: v1 cpu.shares 1024, v2 cpu.weight 100.
 * Measured (bench/api-throughput.mjs, v1): GET p99 during the throughput run 27.5 -> 16.7 ms with
 * the same throughput.
 */
export const EXECUTIONS_CPU_SHARES_V1 = 128;
export const EXECUTIONS_CPU_WEIGHT_V2 = 10;
/** The same for disk I/O on v2 (io.weight / io.bfq.weight, default 100), where the kernel weighs groups. */
export const EXECUTIONS_IO_WEIGHT_V2 = 10;

export interface CgroupHierarchy {
  /** Controllers this hierarchy provides to execution groups (v2: the one hierarchy has all). */
  controllers: CgroupController[];
  mount: string;
  /** This worker's directory, in which its execution groups are made. */
  workerDir: string;
}

export interface CgroupHost {
  version: 1 | 2 | 'none';
  /** Mount point of each controller's hierarchy (v2: every controller maps to the unified mount). */
  mounts: Partial<Record<CgroupController, string>>;
  /** Controllers execution groups get. memory and pids are required for isolation. */
  controllers: CgroupController[];
  /** cgroup path holding every worker's directory, e.g. /codexec or /system.slice/codexec.service/codexec. */
  parent: string;
  /** This process's directory name under the parent. */
  workerTag: string;
  hierarchies: CgroupHierarchy[];
  /** v2: the leaf group our own processes were moved into, when that was needed. */
  supervisor: string | null;
  /** Why executions cannot be contained (memory or pids unusable), each with a hint. */
  problems: string[];
  /** Optional controllers that are missing (cpu quota, cpuacct, freezer, io, hugetlb): executions still run. */
  warnings: string[];
  /** The hugetlb limit files of an execution group (io.ts), empty without the hugetlb controller. */
  hugetlbFiles: string[];
  /** v2: the files of the executions' parent that took their lower disk weight (io.ts); else empty. */
  ioWeightFiles: string[];
}

export interface DetectOptions {
  /** CODEXEC_CGROUP_PARENT (a cgroup path as in /proc/self/cgroup); empty: decide. */
  parent?: string;
  /**
   * Create the parent and this worker's directory and enable controllers (default true). false
   * only reports what is there, without changing anything.
   */
  setUp?: boolean;
}

/** Detects cgroup v1/v2 and prepares this worker's directory (see the module comment). */
export function detectCgroups(options: DetectOptions = {}): CgroupHost {
  const setUp = options.setUp ?? true;
  const mounts = readMounts();
  const workerTag = `w${process.pid}.${processStartTime('self') ?? '0'}`;
  const v1 = new Map<CgroupController, MountEntry>();
  for (const m of mounts) {
    if (m.fsType !== 'cgroup') continue;
    for (const c of WANTED_V1) if (m.superOptions.includes(c) && !v1.has(c)) v1.set(c, m);
  }
  const v2 = mounts.find((m) => m.fsType === 'cgroup2' && m.mountPoint === '/sys/fs/cgroup') ?? mounts.find((m) => m.fsType === 'cgroup2');

  if (v1.has('memory') || v1.has('pids')) return setUpV1(v1, options.parent || `/${DEFAULT_PARENT_NAME}`, workerTag, setUp);
  if (v2) return setUpV2(v2, options.parent ?? '', workerTag, setUp);
  return {
    version: 'none',
    mounts: {},
    controllers: [],
    parent: '',
    workerTag,
    hierarchies: [],
    supervisor: null,
    problems: ['no cgroup filesystem is mounted (expected /sys/fs/cgroup): executions cannot be limited'],
    warnings: [],
    hugetlbFiles: [],
    ioWeightFiles: [],
  };
}

function setUpV1(found: Map<CgroupController, MountEntry>, parent: string, workerTag: string, setUp: boolean): CgroupHost {
  const notes: string[] = [];
  const parentPath = normalizeCgroupPath(parent);
  const mounts: CgroupHost['mounts'] = {};
  // Controllers mounted together (cpu,cpuacct) share one directory.
  const byMount = new Map<string, CgroupController[]>();
  for (const c of WANTED_V1) {
    const m = found.get(c);
    if (!m) {
      notes.push(`${c}: no cgroup v1 hierarchy has this controller (mount one at /sys/fs/cgroup/${c})`);
      continue;
    }
    mounts[c] = m.mountPoint;
    byMount.set(m.mountPoint, [...(byMount.get(m.mountPoint) ?? []), c]);
  }
  const hierarchies: CgroupHierarchy[] = [];
  for (const [mount, controllers] of byMount) {
    const workerDir = path.join(mount, parentPath, workerTag);
    if (setUp) {
      try {
        fs.mkdirSync(path.join(mount, parentPath), { recursive: true });
        if (controllers.includes('cpu') && !tryWriteControl(path.join(mount, parentPath, 'cpu.shares'), String(EXECUTIONS_CPU_SHARES_V1)))
          notes.push(`cpu: cannot lower cpu.shares of ${path.join(mount, parentPath)}: programs compete with the API for the CPU as equals`);
        mkdirIfMissing(workerDir);
      } catch (err) {
        notes.push(`${controllers.join(', ')}: cannot create ${workerDir}: ${(err as NodeJS.ErrnoException).code ?? err} (run as root, with /sys/fs/cgroup writable)`);
        continue;
      }
    } else if (!fs.existsSync(path.join(mount, parentPath)) && !isWritable(mount)) {
      notes.push(`${controllers.join(', ')}: ${mount} is not writable (run as root)`);
      continue;
    }
    hierarchies.push({ controllers, mount, workerDir });
  }
  const controllers = WANTED_V1.filter((c) => hierarchies.some((h) => h.controllers.includes(c)));
  const hugetlb = hierarchies.find((h) => h.controllers.includes('hugetlb'));
  const hugetlbFiles = hugetlb ? hugetlbLimitFiles(1, hugetlb.workerDir) : [];
  return { version: 1, mounts, controllers, parent: parentPath, workerTag, hierarchies, supervisor: null, ...split(notes, controllers), hugetlbFiles, ioWeightFiles: [] };
}

function setUpV2(mount: MountEntry, parentOverride: string, workerTag: string, setUp: boolean): CgroupHost {
  const notes: string[] = [];
  const dirOf = (cgroupPath: string) => path.join(mount.mountPoint, cgroupPath);
  let base: string | null = null;
  let parentPath: string;
  if (parentOverride) {
    parentPath = normalizeCgroupPath(parentOverride);
  } else {
    base = ownCgroupV2(mount.root);
    // A second codexec process in an already prepared group finds itself in the supervisor leaf.
    if (path.posix.basename(base) === SUPERVISOR_GROUP) base = path.posix.dirname(base);
    parentPath = path.posix.join(base, DEFAULT_PARENT_NAME);
  }
  const workerDir = path.join(dirOf(parentPath), workerTag);
  let supervisor: string | null = null;
  let controllers: CgroupController[];
  let ioWeightFiles: string[] = [];

  if (setUp) {
    try {
      if (base !== null) {
        const baseDir = dirOf(base);
        const available = WANTED_V2.filter((c) => controllersOf(baseDir).includes(c));
        // Moving processes is needed only where the no-internal-processes rule applies, which
        // never includes the real root group (there the first write succeeds).
        supervisor = enableForChildren(baseDir, available, true);
      }
      fs.mkdirSync(dirOf(parentPath), { recursive: true });
      const available = WANTED_V2.filter((c) => controllersOf(dirOf(parentPath)).includes(c));
      if (available.includes('cpu') && !tryWriteControl(path.join(dirOf(parentPath), 'cpu.weight'), String(EXECUTIONS_CPU_WEIGHT_V2)))
        notes.push(`cpu: cannot lower cpu.weight of ${dirOf(parentPath)}: programs compete with the API for the CPU as equals`);
      // The same for the disks, where the kernel weighs groups (io.ts).
      if (available.includes('io')) ioWeightFiles = weighExecutionsIo(dirOf(parentPath), EXECUTIONS_IO_WEIGHT_V2);
      enableForChildren(dirOf(parentPath), available, false);
      mkdirIfMissing(workerDir);
      enableForChildren(workerDir, available, false);
      controllers = WANTED_V2.filter((c) => subtreeControlOf(workerDir).includes(c));
    } catch (err) {
      notes.push(`cannot prepare ${workerDir}: ${(err as Error).message} (run as root, or delegate a subtree: systemd Delegate=yes)`);
      controllers = [];
    }
  } else {
    const probe = base !== null ? dirOf(base) : dirOf(parentPath);
    controllers = WANTED_V2.filter((c) => controllersOf(probe).includes(c));
    if (!isWritable(probe)) notes.push(`${probe} is not writable (run as root, or delegate a subtree: systemd Delegate=yes)`);
  }
  for (const c of WANTED_V2) {
    if (!controllers.includes(c))
      notes.push(`${c}: controller not available in ${parentPath} (enable it for our group: systemd Delegate=yes on the unit, or set CODEXEC_CGROUP_PARENT)`);
  }
  const mounts: CgroupHost['mounts'] = {};
  for (const c of WANTED_V2) mounts[c] = mount.mountPoint;
  const hierarchies = controllers.length > 0 || setUp ? [{ controllers, mount: mount.mountPoint, workerDir }] : [];
  const hugetlbFiles = controllers.includes('hugetlb') ? hugetlbLimitFiles(2, workerDir) : [];
  return { version: 2, mounts, controllers, parent: parentPath, workerTag, hierarchies, supervisor, ...split(notes, controllers), hugetlbFiles, ioWeightFiles };
}

// A note is a problem when a required controller is unusable (or setup failed for all), else a warning.
function split(notes: string[], controllers: CgroupController[]): { problems: string[]; warnings: string[] } {
  if (REQUIRED_CONTROLLERS.every((c) => controllers.includes(c))) return { problems: [], warnings: notes };
  return { problems: notes.length > 0 ? notes : ['memory and pids controllers are unavailable'], warnings: [] };
}

// Enables `wanted` in dir/cgroup.subtree_control. If the group holds processes (EBUSY) and
// `moveProcesses` is set, they first move into dir/supervisor. Returns the supervisor's path if used.
function enableForChildren(dir: string, wanted: CgroupController[], moveProcesses: boolean): string | null {
  const missing = wanted.filter((c) => !subtreeControlOf(dir).includes(c));
  if (missing.length === 0) return null;
  const line = missing.map((c) => `+${c}`).join(' ');
  try {
    writeControl(path.join(dir, 'cgroup.subtree_control'), line);
    return null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || !moveProcesses) throw err;
  }
  const supervisor = path.join(dir, SUPERVISOR_GROUP);
  mkdirIfMissing(supervisor);
  // Processes may fork while we move them; a few rounds settle it.
  for (let round = 0; round < 20; round++) {
    const pids = readPids(path.join(dir, 'cgroup.procs'));
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        writeControl(path.join(supervisor, 'cgroup.procs'), String(pid));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
  }
  writeControl(path.join(dir, 'cgroup.subtree_control'), line);
  return supervisor;
}

function controllersOf(dir: string): string[] {
  return (readText(path.join(dir, 'cgroup.controllers')) ?? '').trim().split(/\s+/).filter(Boolean);
}

function subtreeControlOf(dir: string): string[] {
  return (readText(path.join(dir, 'cgroup.subtree_control')) ?? '').trim().split(/\s+/).filter(Boolean);
}

/** Our own v2 group from /proc/self/cgroup ("0::/path"), relative to the mount's root. */
function ownCgroupV2(mountRoot: string): string {
  const line = (readText('/proc/self/cgroup') ?? '').split('\n').find((l) => l.startsWith('0::'));
  let own = line ? line.slice(3) : '/';
  // A bind mount of a subtree shows that subtree at the mount point.
  if (mountRoot !== '/' && own.startsWith(mountRoot)) own = own.slice(mountRoot.length) || '/';
  // "(deleted)" or a path outside the mount means we cannot locate ourselves: use the mount's root.
  return own.startsWith('/') && !own.includes(' ') ? own : '/';
}

function normalizeCgroupPath(p: string): string {
  const normalized = path.posix.normalize(`/${p.replace(/^\/sys\/fs\/cgroup(\/|$)/, '/')}`);
  return normalized.length > 1 ? normalized.replace(/\/$/, '') : normalized;
}

/** Directories of other workers under the parent of `hierarchy`, for the sweeper. */
export function workerDirs(host: CgroupHost, hierarchy: CgroupHierarchy): string[] {
  const parentDir = path.dirname(hierarchy.workerDir);
  return childGroups(parentDir).filter((name) => /^w\d+\.\d+$/.test(name) && name !== host.workerTag).map((name) => path.join(parentDir, name));
}
