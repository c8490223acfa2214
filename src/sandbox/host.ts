import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/schema.js';
import { IsolationUnavailableError } from '../domain/errors.js';
import type { Limits } from '../domain/limits.js';
import { detectCgroups, createExecutionGroup, sweepLeftovers, type CgroupHost } from './cgroups/index.js';
import { loadSeccompProfile, hostSeccompArch } from './seccomp/index.js';
import type { SandboxHost } from './run.js';
import { ForkServerPool } from './fork-server.js';
import { runUnisolated, INSECURE_WARNING } from './unisolated.js';

export { INSECURE_WARNING };

/** The launcher binary built by `npm install` (scripts/build-launcher.mjs). */
export function defaultLauncherPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'codexec-launcher');
}

/** Executions run as uids of [CODEXEC_SANDBOX_UID_BASE, +UID_RANGE). */
const UID_RANGE = 65536;

const UNSHARE_CANDIDATES = ['/usr/bin/unshare', '/bin/unshare', '/usr/local/bin/unshare'];

export interface IsolationReport {
  level: 'full' | 'insecure';
  cgroupVersion: string;
  problems: string[];
  warnings: string[];
}

/** Plain data (it crosses into pool threads) from which each thread opens its SandboxHost. */
export interface SandboxHostSettings {
  mode: 'isolated' | 'insecure';
  unsharePath: string;
  launcherPath: string;
  uidBase: number;
  profilesDir: string;
  cgroupParent: string;
  cpuQuotaPercent: number;
  spawner: 'server' | 'exec';
}

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
 * cannot, unless the operator explicitly allowed unisolated runs.
 */
export async function probeIsolation(config: Config, profilesDir: string): Promise<{ settings: SandboxHostSettings; report: IsolationReport }> {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push('not Linux');
  if (typeof process.geteuid === 'function' && process.geteuid() !== 0) problems.push('not root: namespaces, cgroups and the uid drop need root (or a delegated cgroup and CAP_SYS_ADMIN)');
  const unsharePath = UNSHARE_CANDIDATES.find(isExecutable) ?? '';
  if (!unsharePath && config.sandboxSpawner === 'exec') problems.push('util-linux unshare not found (CODEXEC_SANDBOX_SPAWNER=exec needs it)');
  const launcherPath = defaultLauncherPath();
  if (!isExecutable(launcherPath)) problems.push(`sandbox launcher not built (${launcherPath}): run npm install with a C compiler present`);
  let cgroupVersion = 'none';
  let cgroupParent = config.cgroupParent;
  try {
    hostSeccompArch();
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (problems.length === 0) {
    const cg: CgroupHost = detectCgroups({ parent: config.cgroupParent || undefined });
    cgroupVersion = String(cg.version);
    if (cg.problems.length > 0) problems.push(...cg.problems.map((p) => `cgroups: ${p}`));
    else {
      cgroupParent = cg.parent;
      await sweepLeftovers(cg);
    }
  }
  const mode = problems.length === 0 ? 'isolated' : 'insecure';
  if (mode === 'insecure' && !config.insecureAllowUnisolated) throw new IsolationUnavailableError(problems);
  return {
    settings: { mode, unsharePath, launcherPath, uidBase: config.sandboxUidBase, profilesDir, cgroupParent, cpuQuotaPercent: 100, spawner: config.sandboxSpawner === 'exec' ? 'exec' : 'server' },
    report: { level: mode === 'isolated' ? 'full' : 'insecure', cgroupVersion, problems, warnings: mode === 'insecure' ? [INSECURE_WARNING] : [] },
  };
}

/**
 * uids for executions: from a random start in [base, base + 65536), the next one each time, so
 * that executions of one host never share a uid while fewer than 65,536 of them run; processes
 * start apart at random.
 */
function uidAllocator(base: number): () => number {
  let cursor = randomInt(0, UID_RANGE);
  return () => {
    cursor = (cursor + 1) % UID_RANGE;
    return base + cursor;
  };
}

/** A SandboxHost for this thread from settings probed at startup. */
export async function openSandboxHost(settings: SandboxHostSettings): Promise<SandboxHost> {
  const seccompFilter = async (name: string) => (await loadSeccompProfile(settings.profilesDir, name)).filter;
  if (settings.mode === 'insecure') {
    return {
      unsharePath: '',
      launcherPath: '',
      nextUid: uidAllocator(settings.uidBase),
      createGroup: () => ({ procsPaths: [], stats: () => ({ cpuTimeMs: null, memoryPeakKb: null, oomKilled: false }), kill() {}, remove() {} }),
      seccompFilter,
      unisolated: runUnisolated,
    };
  }
  const cg = detectCgroups({ parent: settings.cgroupParent });
  const forkServers = settings.spawner === 'server' ? new ForkServerPool(settings.launcherPath) : undefined;
  return {
    unsharePath: settings.unsharePath,
    launcherPath: settings.launcherPath,
    nextUid: uidAllocator(settings.uidBase),
    forkServers,
    close: () => forkServers?.close(),
    createGroup: (name: string, limits: Limits) =>
      createExecutionGroup(cg, name, { memoryBytes: limits.memoryBytes, processes: limits.processes, cpuQuotaPercent: settings.cpuQuotaPercent }),
    seccompFilter,
  };
}
