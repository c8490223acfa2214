import fs from 'node:fs';
import path from 'node:path';
import { cgroupMounts, subdirs } from '../support/cgroup-dirs.js';

// What an execution could leave behind on the host, read straight from /proc and the cgroup
// filesystems (not through src/sandbox, which is what is being checked):
//   - processes: any process running as a uid of the sandbox range, any process whose command
//     line names this test process's cgroup worker directory but is not one of its idle fork
//     servers (an init is cloned from its server and carries the same command line), and any
//     descendant of this test process other than an idle fork server (a fork server's children
//     are the executions' inits) and its standby init (the clone a server makes ahead for its
//     next execution: named cx-standby until it reads an execution's options, with no child);
//   - cgroups: execution groups under this process's worker directory, in every cgroup hierarchy
//     (the fork servers' own group excepted: it lives as long as the host);
//   - mounts: new lines in the host's /proc/self/mountinfo;
//   - files: anything in the host's /tmp owned by a sandbox uid, or named like the launcher's
//     root skeleton (it builds the program's root in a tmpfs over /tmp of its own mount namespace).
// Other test files may run sandboxes at the same time in other processes: their processes live in
// their own worker directories' cgroups and are not counted here.

export const SANDBOX_UID_RANGE = 65536;

export interface HostStateOptions {
  uidBase: number;
  /** cgroup path of the parent, as in SandboxHostSettings.cgroupParent (e.g. /codexec). */
  cgroupParent: string;
}

export interface HostSnapshot {
  mountinfo: Set<string>;
  tmpEntries: Set<string>;
}

const WORKER_TAG = /^w(\d+)\.(\d+)$/;
/** The fork servers' group in a worker directory (src/sandbox/cgroups/capacity.ts). */
const SERVERS_GROUP = 'fork-servers';
/** Spare execution groups (src/sandbox/cgroups/spares.ts). */
const SPARE_PREFIX = 'spare-';

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function startTime(pid: number | 'self'): string | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

/** The cgroup worker directory name of this process (src/sandbox/cgroups/detect.ts: w<pid>.<start>). */
export function ownWorkerTag(): string {
  return `w${process.pid}.${startTime('self') ?? '0'}`;
}

function workerAlive(tag: string): boolean {
  const m = WORKER_TAG.exec(tag);
  return m !== null && startTime(Number(m[1])) === m[2];
}

function pids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

function uidOf(pid: number): number | null {
  const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readText(`/proc/${pid}/status`) ?? '');
  return m ? Number(m[2]) : null;
}

export interface LeftProcess {
  pid: number;
  uid: number | null;
  cmd: string;
  cgroup: string;
}

function describeProcess(pid: number): LeftProcess {
  return {
    pid,
    uid: uidOf(pid),
    cmd: (readText(`/proc/${pid}/cmdline`) ?? '').split('\0').join(' ').trim().slice(0, 300),
    cgroup: (readText(`/proc/${pid}/cgroup`) ?? '').trim().split('\n').join(' | ').slice(0, 300),
  };
}

function parentOf(pid: number): number | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The fork servers (`codexec-launcher --server`) this test process started. */
export function ownForkServers(): number[] {
  return pids().filter((pid) => parentOf(pid) === process.pid && (readText(`/proc/${pid}/cmdline`) ?? '').split('\0')[1] === '--server');
}

/**
 * A fork server's standby init: a child of one of `servers` that has not become an execution's
 * init (it renames itself cx-init before it reads anything of one) and has no child of its own.
 */
function isStandby(pid: number, servers: Set<number>, all: number[]): boolean {
  const parent = parentOf(pid);
  if (parent === null || !servers.has(parent)) return false;
  if ((readText(`/proc/${pid}/comm`) ?? '').trim() !== 'cx-standby') return false;
  return !all.some((other) => parentOf(other) === pid);
}

/** The standby inits of this test process's fork servers (see isStandby). */
export function ownStandbys(): number[] {
  const servers = new Set(ownForkServers());
  const all = pids();
  return all.filter((pid) => isStandby(pid, servers, all));
}

/** The standby init of one of this test process's fork servers, if it has one now. */
export function standbyOf(server: number): number | undefined {
  return ownStandbys().find((pid) => parentOf(pid) === server);
}

/** Descendants of this test process, fork servers and their standby inits excepted. */
function ownDescendants(all: number[]): Set<number> {
  const parent = new Map(all.map((pid) => [pid, parentOf(pid)]));
  const servers = new Set(ownForkServers());
  const out = new Set<number>();
  for (const pid of all) {
    if (pid === process.pid || servers.has(pid) || isStandby(pid, servers, all)) continue;
    for (let p = parent.get(pid), hops = 0; p && hops < 64; p = parent.get(p) ?? parentOf(p), hops++) {
      if (p === process.pid) {
        out.add(pid);
        break;
      }
    }
  }
  return out;
}

/** Processes an execution of this test process left on the host (see the module comment). */
export function leftoverProcesses(opts: HostStateOptions): LeftProcess[] {
  const tag = ownWorkerTag();
  const out: LeftProcess[] = [];
  const all = pids();
  const descendants = ownDescendants(all);
  const servers = new Set(ownForkServers());
  for (const pid of all) {
    if (pid === process.pid || servers.has(pid) || isStandby(pid, servers, all)) continue;
    if (descendants.has(pid)) {
      out.push(describeProcess(pid));
      continue;
    }
    const uid = uidOf(pid);
    const cmdline = readText(`/proc/${pid}/cmdline`) ?? '';
    const inSandboxRange = uid !== null && uid >= opts.uidBase && uid < opts.uidBase + SANDBOX_UID_RANGE;
    if (cmdline.includes(`/${tag}/`)) {
      out.push(describeProcess(pid));
      continue;
    }
    if (!inSandboxRange) continue;
    // A sandbox process inside a live worker directory of another process belongs to another test
    // file (or a real worker) running now; anything else is ours or escaped its group.
    const cg = readText(`/proc/${pid}/cgroup`) ?? '';
    const owners = [...cg.matchAll(/\/(w\d+\.\d+)\//g)].map((m) => m[1]);
    if (owners.length > 0 && owners.every((o) => o !== tag && workerAlive(o))) continue;
    out.push(describeProcess(pid));
  }
  return out.filter((p) => readText(`/proc/${p.pid}/stat`) !== null);
}

/** Every process of the sandbox uid range on the host, whoever started it (for the concurrency test). */
export function sandboxUidProcesses(opts: HostStateOptions): LeftProcess[] {
  return pids()
    .filter((pid) => {
      const uid = uidOf(pid);
      return uid !== null && uid >= opts.uidBase && uid < opts.uidBase + SANDBOX_UID_RANGE;
    })
    .map(describeProcess);
}

/**
 * Execution groups (directories) under this process's worker directory, in every cgroup hierarchy.
 * A spare made ahead (src/sandbox/cgroups/spares.ts) is no leftover while it has never held a
 * process; one that has (a used group kept as a spare) is.
 */
export function leftoverCgroups(opts: HostStateOptions): string[] {
  const tag = ownWorkerTag();
  const out: string[] = [];
  for (const m of cgroupMounts()) {
    const workerDir = path.join(m.mountPoint, opts.cgroupParent, tag);
    for (const name of subdirs(workerDir)) {
      const dir = path.join(workerDir, name);
      if (name === SERVERS_GROUP || (name.startsWith(SPARE_PREFIX) && neverUsed(dir))) continue;
      out.push(dir);
    }
  }
  return out;
}

/** Spare groups under this process's worker directory that have never held a process, in every hierarchy. */
export function unusedSpares(opts: HostStateOptions): string[] {
  const tag = ownWorkerTag();
  return cgroupMounts().flatMap((m) => {
    const workerDir = path.join(m.mountPoint, opts.cgroupParent, tag);
    return subdirs(workerDir)
      .filter((name) => name.startsWith(SPARE_PREFIX))
      .map((name) => path.join(workerDir, name))
      .filter(neverUsed);
  });
}

// Counters that a process in the group, even one that ran for a moment, leaves above zero.
const USE_COUNTERS: [file: string, key: string | null][] = [
  ['cpuacct.usage', null],
  ['memory.max_usage_in_bytes', null],
  ['pids.peak', null],
  ['memory.peak', null],
  ['cpu.stat', 'usage_usec'],
];

/** No process is in the cgroup `dir` and none has ever been, as far as its counters tell. */
function neverUsed(dir: string): boolean {
  if ((readText(path.join(dir, 'cgroup.procs')) ?? '').trim() !== '') return false;
  for (const [file, key] of USE_COUNTERS) {
    const text = readText(path.join(dir, file));
    if (text === null) continue;
    const value = key === null ? text.trim() : (text.split('\n').find((l) => l.startsWith(`${key} `)) ?? '').split(' ')[1];
    if (value !== undefined && value !== '' && Number(value) !== 0) return false;
  }
  return true;
}

/** Worker directories of this process (present while the host is open; gone after close). */
export function ownWorkerDirs(opts: HostStateOptions): string[] {
  const tag = ownWorkerTag();
  return cgroupMounts()
    .map((m) => path.join(m.mountPoint, opts.cgroupParent, tag))
    .filter((d) => fs.existsSync(d));
}

// Names the launcher creates in its new root (native/mounts.c build_root: NEWROOT is /tmp).
const SKELETON = new Set(['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'etc', 'dev', 'proc', 'work', 'tmp']);

function tmpEntries(): Set<string> {
  try {
    return new Set(fs.readdirSync('/tmp'));
  } catch {
    return new Set();
  }
}

export function snapshotHost(): HostSnapshot {
  return { mountinfo: new Set(mountLines()), tmpEntries: tmpEntries() };
}

// Mount ids make each line unique; a remount changes options, which also counts as a change.
function mountLines(): string[] {
  return (readText('/proc/self/mountinfo') ?? '').split('\n').filter(Boolean);
}

/** Files in the host's /tmp that an execution made: owned by a sandbox uid, or a new skeleton name. */
export function leftoverTmpFiles(before: HostSnapshot, opts: HostStateOptions): string[] {
  const out: string[] = [];
  for (const name of tmpEntries()) {
    if (!before.tmpEntries.has(name) && SKELETON.has(name)) out.push(path.join('/tmp', name));
  }
  const inRange = (uid: number) => uid >= opts.uidBase && uid < opts.uidBase + SANDBOX_UID_RANGE;
  // Bounded walk: /tmp of a test machine is small, and a sandbox-owned file would be near the top.
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.slice(0, 2000)) {
      const p = path.join(dir, e.name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(p);
      } catch {
        continue;
      }
      if (inRange(st.uid) || inRange(st.gid)) out.push(p);
      if (e.isDirectory() && depth > 0) walk(p, depth - 1);
    }
  };
  walk('/tmp', 3);
  return out;
}

/**
 * Mounts that appeared on the host. Mount points under /var/tmp are not counted: the launcher never
 * mounts there (its new root is /tmp, native/mounts.c), and tools that share a test machine do
 * (container-check's rootfs /proc mounts once failed an unrelated test here).
 */
export function newMounts(before: HostSnapshot): string[] {
  return mountLines().filter((l) => !before.mountinfo.has(l) && !(l.split(' ')[4] ?? '').startsWith('/var/tmp/'));
}

export interface HostProblems {
  processes: LeftProcess[];
  cgroups: string[];
  mounts: string[];
  tmpFiles: string[];
}

/**
 * Everything left behind since `before`. Processes and cgroups get a moment to go (a SIGKILLed
 * process leaves its group a few milliseconds after it dies), nothing more.
 */
export async function hostProblems(before: HostSnapshot, opts: HostStateOptions, settleMs = 2000): Promise<HostProblems> {
  const end = Date.now() + settleMs;
  let processes = leftoverProcesses(opts);
  let cgroups = leftoverCgroups(opts);
  while ((processes.length > 0 || cgroups.length > 0) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 25));
    processes = leftoverProcesses(opts);
    cgroups = leftoverCgroups(opts);
  }
  return { processes, cgroups, mounts: newMounts(before), tmpFiles: leftoverTmpFiles(before, opts) };
}

export function isClean(p: HostProblems): boolean {
  return p.processes.length === 0 && p.cgroups.length === 0 && p.mounts.length === 0 && p.tmpFiles.length === 0;
}
