import { randomInt } from 'node:crypto';
import { detectCgroups, openServersGroup, SpareGroups, type CgroupHost, type ExecutionGroup } from './cgroups/index.js';
import { collect, type Collected } from './collect.js';
import { ForkServerPool } from './fork-server-pool.js';
import { launcherArgs, encodeLauncherInput } from './launcher-args.js';
import { parseLauncherStatus, type LauncherStatus } from './launcher-status.js';
import { classifyOutcome, type GroupStats } from './outcome.js';
import { decodeRecords, isSafeRelativePath, RECORD } from './protocol.js';
import type { SandboxFile, SandboxHost, SandboxRequest, SandboxResult } from './request.js';
import { sandboxFailure } from './failure.js';
import { loadSeccompProfile } from './seccomp/index.js';
import type { SandboxHostSettings } from './settings.js';
import { buildSandboxSpec, sharedRoot, type PhaseSpec, type SandboxSpec } from './spec.js';

// The one isolated way to run a sandbox: a fork server of this host clones the execution's init
// into fresh namespaces (native/), each phase in a cgroup of its own with the spec's limits, the
// seccomp filter compiled at startup. The groups are made ahead, with the latest execution's
// limits (SpareGroups, one per slot). After init is gone, the groups are killed and
// their memory is waited for (bounded) before the result is returned: the slot is free only when
// what the execution held is. Their empty directories are removed right after, and fresh spares
// made (removeLater).

/** How long a finished execution's memory may take to be released before the result says so. */
export const MEMORY_RELEASE_WAIT_MS = 2000;
/** Executions run as uids of [uidBase, uidBase + UID_RANGE). */
const UID_RANGE = 65536;

export class IsolatedHost implements SandboxHost {
  readonly isolated = true;
  readonly forkServers: ForkServerPool;
  private readonly cg: CgroupHost;
  private readonly spares: SpareGroups;
  private readonly nextUid: () => number;
  private readonly releaseServersGroup: () => void;
  private readonly removals = new Set<Promise<unknown>>();

  constructor(private readonly settings: SandboxHostSettings) {
    this.cg = detectCgroups({ parent: settings.cgroupParent });
    const servers = openServersGroup(this.cg, settings.capacity.slots);
    this.releaseServersGroup = servers.release;
    this.forkServers = new ForkServerPool(settings.launcherPath, servers.group.procsPaths, settings.capacity.slots, sharedRoot(settings.sandbox));
    this.nextUid = uidAllocator(settings.uidBase);
    this.spares = new SpareGroups(this.cg, settings.capacity.slots);
    void this.spares.refill();
  }

  async run(req: SandboxRequest): Promise<SandboxResult> {
    const groups: ExecutionGroup[] = [];
    let seccompDigest = '';
    let result: SandboxResult;
    try {
      const spec = buildSandboxSpec({ plan: req.plan, phases: req.phases, exportWorkdir: req.exportWorkdir === true }, this.settings.sandbox);
      const seccomp = await loadSeccompProfile(this.settings.profilesDir, req.plan.seccomp.name);
      seccompDigest = seccomp.digest;
      for (const phase of spec.phases) groups.push(this.spares.take(`${req.executionId}-${phase.name === 'compile' ? 'c' : 'r'}`, this.groupLimits(phase, spec)));
      const uid = this.nextUid();
      const args = launcherArgs(spec, { uid, gid: uid, cgroupProcs: groups.map((g) => g.procsPaths) });
      const input = encodeLauncherInput(req.files, seccomp.filter);
      const stdin = Buffer.from(req.stdin, 'utf8');
      const killGroups = () => {
        for (const g of groups) void g.kill().catch(() => {});
      };
      const got = await collect((onChunk) => this.forkServers.start(args, input, stdin, onChunk), spec, req, killGroups);
      result = { ...outcomeOf(spec, got, groups), seccompDigest };
    } catch (err) {
      result = { ...sandboxFailure(err), artifacts: null, seccompDigest };
    }
    const held = await releaseGroups(groups);
    this.removeLater(groups);
    if (held > 0) result.warnings.push(`the sandbox's memory (${Math.ceil(held / 1048576)} MiB) was not released within ${MEMORY_RELEASE_WAIT_MS} ms of its end`);
    return result;
  }

  async close(): Promise<void> {
    this.forkServers.close();
    await Promise.all(this.removals);
    await this.spares.close();
    this.releaseServersGroup();
  }

  /**
   * Removes the released groups' directories once the result is on its way (the next turn of the
   * event loop), then makes the spares the next runs take: a removal is a few synchronous rmdir
   * calls (one per v1 hierarchy, ~0.26 ms in all here) that the result need not wait for, as the
   * groups are empty and their memory gone. close() waits for them; a worker that dies first
   * leaves them, and its spares, to the sweep.
   */
  private removeLater(groups: ExecutionGroup[]): void {
    if (groups.length === 0) return;
    const removal = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => Promise.all(groups.map((g) => g.remove().catch(() => {}))))
      .then(() => this.spares.refill());
    this.removals.add(removal);
    void removal.finally(() => this.removals.delete(removal));
  }

  private groupLimits(phase: PhaseSpec, spec: SandboxSpec) {
    const io = this.settings.ioDevices.length > 0 ? { devices: this.settings.ioDevices, ...spec.io } : undefined;
    return { memoryBytes: phase.memoryBytes, processes: phase.processes, cpuQuotaPercent: phase.cpuQuotaPercent, io };
  }
}

function outcomeOf(spec: SandboxSpec, got: Collected, groups: ExecutionGroup[]): Omit<SandboxResult, 'seccompDigest'> {
  const status = parseLauncherStatus(got.status);
  const stats = (name: 'compile' | 'run') => {
    const i = spec.phases.findIndex((p) => p.name === name);
    return i < 0 ? null : safeStats(groups[i]!);
  };
  const run = spec.phases.find((p) => p.name === 'run');
  const text = (o: Collected['stdout']) => ({ ...o.text(), truncated: o.truncated });
  const outcome = classifyOutcome({
    status,
    runLimits: run ?? { wallTimeMs: 0, cpuTimeMs: 0 },
    killedFor: got.killedFor,
    run: run ? { stats: stats('run'), stdout: text(got.stdout), stderr: text(got.stderr) } : null,
    compile: spec.phases.some((p) => p.name === 'compile') ? { stats: stats('compile'), output: text(got.compileOutput) } : null,
    launcherExitCode: got.exitCode,
    warnings: [],
  });
  if (spec.exportMaxBytes === null || outcome.kind !== 'completed') return { ...outcome, artifacts: null };
  const artifacts = exportedFiles(status, got.exported);
  if (typeof artifacts === 'string') return { ...outcome, kind: 'output_limit', message: `the working directory cannot be exported: ${artifacts}`, artifacts: null };
  return { ...outcome, artifacts };
}

/** The exported files, or why there are none. */
function exportedFiles(status: LauncherStatus, bytes: Buffer | null): SandboxFile[] | string {
  const e = status.export;
  if (e === null) return 'the launcher sent no export report';
  if ('error' in e) return EXPORT_ERRORS[e.error] ?? e.error;
  if (bytes === null) return 'more data came than the launcher may send';
  try {
    const files = decodeRecords(bytes).map((r) => {
      if (r.type === RECORD.seccomp || !isSafeRelativePath(r.name)) throw new Error(`unexpected record ${JSON.stringify(r.name)}`);
      return { path: r.name, content: Buffer.from(r.data), executable: r.type === RECORD.executable };
    });
    if (files.length !== e.files) return `${files.length} files arrived, ${e.files} were sent`;
    return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  } catch (err) {
    return (err as Error).message;
  }
}

const EXPORT_ERRORS: Record<string, string> = {
  files: 'more than 1024 files',
  bytes: 'more bytes than its size',
  entries: 'too many directory entries',
  depth: 'directories nested too deep',
  path: 'a path too long',
  name: 'a file name with control characters or too long',
};

function safeStats(group: ExecutionGroup): GroupStats | null {
  try {
    return group.stats();
  } catch {
    return null;
  }
}

/**
 * Kills what is left (there is nothing to kill unless the launcher failed to reap: its pid
 * namespace is gone) and waits for the memory; returns the bytes still held after the wait (0:
 * released). The groups are removed after that (IsolatedHost.removeLater), off the result's path:
 * removing a group moves whatever it still holds to the parent, so it must come after the wait;
 * one that cannot be removed now is swept at the next start.
 */
async function releaseGroups(groups: ExecutionGroup[]): Promise<number> {
  let held = 0;
  for (const g of groups) {
    try {
      if (!g.holdsNoTask()) await g.kill();
      held += await g.waitMemoryReleased(MEMORY_RELEASE_WAIT_MS);
    } catch {
      // reported by the sweep
    }
  }
  return held;
}

/**
 * uids for executions: from a random start in [base, base + 65536), the next one each time, so
 * that executions of one host never share a uid while fewer than 65,536 of them run; processes
 * start apart at random.
 */
export function uidAllocator(base: number): () => number {
  let cursor = randomInt(0, UID_RANGE);
  return () => {
    cursor = (cursor + 1) % UID_RANGE;
    return base + cursor;
  };
}
