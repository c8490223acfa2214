import type { Limits } from '../domain/limits.js';
import type { RunOutcome } from '../domain/execution.js';
import { fillLimits } from '../languages/limit-placeholders.js';
import type { LanguageProfile } from '../languages/profile.js';
import { buildLauncherArgs, buildSandboxCommand, encodeLauncherInput, FD, type PhaseSpec } from './command.js';
import type { ForkServerPool } from './fork-server.js';
import { startExecChain, type SandboxProcess, type StreamChunkHandler } from './process.js';
import { CappedOutput } from './output.js';
import { classifyOutcome, type GroupStats } from './outcome.js';
import { parseLauncherStatus } from './status.js';

/** What the runner needs from the cgroup module: one group per phase. */
export interface PhaseGroup {
  procsPaths: string[];
  stats(): GroupStats;
  kill(): Promise<void> | void;
  remove(): Promise<void> | void;
}

export interface SandboxHost {
  unsharePath: string;
  launcherPath: string;
  /** The uid (and gid) of the next execution, in the sandbox range. */
  nextUid(): number;
  /** Set: executions start through fork servers; unset: each one execs `unshare ... -- launcher`. */
  forkServers?: ForkServerPool;
  createGroup(name: string, limits: Limits): PhaseGroup;
  seccompFilter(profileName: string): Promise<Buffer>;
  /** Set only in the explicit insecure development mode: runs without any isolation. */
  unisolated?: (req: RunRequest) => Promise<RunOutcome>;
  /** Stop what the host keeps between executions (its fork servers). */
  close?(): void;
}

export interface RunRequest {
  executionId: string;
  profile: LanguageProfile;
  sourceCode: string;
  stdin: string;
  runLimits: Limits;
  compileLimits: Limits | null;
  /** Aborting kills the execution at once (shutdown hand-back, lost lease). */
  signal?: AbortSignal;
}

// A program that writes this many times its output limit is killed instead of drained.
const FLOOD_FACTOR = 16;
// Time the worker grants beyond the launcher's own wall-clock limits before it kills from outside.
const BACKSTOP_GRACE_MS = 2000;
const STATUS_LIMIT_BYTES = 16 * 1024;

/** Run one execution in a fresh sandbox and say how it ended. Never throws for the program's behaviour. */
export async function runInSandbox(host: SandboxHost, req: RunRequest): Promise<RunOutcome> {
  if (host.unisolated) return host.unisolated(req);
  const { profile } = req;
  const uid = host.nextUid();
  const groups: { run: PhaseGroup; compile: PhaseGroup | null } = { run: null as unknown as PhaseGroup, compile: null };
  try {
    const filter = await host.seccompFilter(profile.seccomp);
    if (profile.compile && req.compileLimits) groups.compile = host.createGroup(`${req.executionId}-c`, req.compileLimits);
    groups.run = host.createGroup(`${req.executionId}-r`, req.runLimits);
    const phases: PhaseSpec[] = [];
    if (profile.compile && req.compileLimits && groups.compile) {
      phases.push({ name: 'compile', argv: fillLimits(profile.compile.argv, req.compileLimits), limits: req.compileLimits, cgroupProcs: groups.compile.procsPaths });
    }
    phases.push({ name: 'run', argv: fillLimits(profile.run.argv, req.runLimits), limits: req.runLimits, cgroupProcs: groups.run.procsPaths });
    const spec = {
      uid,
      gid: uid,
      binds: profile.binds,
      env: profile.env,
      tmpfsBytes: req.runLimits.tmpfsBytes,
      phases,
      seccomp: true,
    };
    const input = encodeLauncherInput([{ name: profile.sourceFile, content: req.sourceCode }], filter);
    const stdin = Buffer.from(req.stdin, 'utf8');
    const start = (onChunk: StreamChunkHandler): SandboxProcess =>
      host.forkServers
        ? host.forkServers.start(buildLauncherArgs(spec), input, stdin, onChunk)
        : startExecChain(buildSandboxCommand({ ...spec, unsharePath: host.unsharePath, launcherPath: host.launcherPath }), input, stdin, onChunk);
    return await collect(start, req, groups);
  } catch (err) {
    return sandboxFailure(err);
  } finally {
    // The outcome (with the groups' stats) is complete: the groups go while it is being stored.
    void releaseGroups([groups.compile, groups.run]);
  }
}

async function releaseGroups(groups: (PhaseGroup | null)[]): Promise<void> {
  for (const g of groups) {
    if (!g) continue;
    try {
      await g.kill();
      await g.remove();
    } catch {
      // A group that cannot be removed now is swept at the next start.
    }
  }
}

async function collect(
  start: (onChunk: StreamChunkHandler) => SandboxProcess,
  req: RunRequest,
  groups: { run: PhaseGroup; compile: PhaseGroup | null },
): Promise<RunOutcome> {
  let killedFor: 'output_limit' | 'wall_timeout' | null = null;
  let proc: SandboxProcess | null = null;
  const kill = (reason: 'output_limit' | 'wall_timeout') => {
    killedFor ??= reason;
    proc?.kill();
    for (const g of [groups.compile, groups.run]) void Promise.resolve(g?.kill()).catch(() => {});
  };
  const stdout = new CappedOutput(req.runLimits.stdoutBytes, req.runLimits.stdoutBytes * FLOOD_FACTOR, () => kill('output_limit'));
  const stderr = new CappedOutput(req.runLimits.stderrBytes, req.runLimits.stderrBytes * FLOOD_FACTOR, () => kill('output_limit'));
  const compileLimit = req.compileLimits?.stdoutBytes ?? 0;
  const compileOut = new CappedOutput(compileLimit, Math.max(compileLimit, 1) * FLOOD_FACTOR, () => kill('output_limit'));
  const status = new CappedOutput(STATUS_LIMIT_BYTES, Number.MAX_SAFE_INTEGER, () => {});
  // stderr of the launcher and of the program share fd 2: the launcher only writes there if it
  // cannot write its status, so everything is the program's.
  const sinks: Record<number, CappedOutput> = { [FD.stdout]: stdout, [FD.stderr]: stderr, [FD.status]: status, [FD.compileOutput]: compileOut };
  proc = start((fd, chunk) => sinks[fd]?.push(chunk));
  if (req.signal?.aborted) kill('wall_timeout');
  req.signal?.addEventListener('abort', () => kill('wall_timeout'), { once: true });

  const totalWallMs = req.runLimits.wallTimeMs + (req.compileLimits?.wallTimeMs ?? 0) + BACKSTOP_GRACE_MS;
  const backstop = setTimeout(() => kill('wall_timeout'), totalWallMs);
  let exitCode: number | null;
  try {
    exitCode = await proc.done;
  } finally {
    clearTimeout(backstop);
  }

  const runStats = safeStats(groups.run);
  const compileStats = groups.compile ? safeStats(groups.compile) : null;
  const out = stdout.text();
  const err = stderr.text();
  return classifyOutcome({
    status: parseLauncherStatus(status.text().text),
    runLimits: req.runLimits,
    killedFor,
    run: { stats: runStats, stdout: { ...out, truncated: stdout.truncated }, stderr: { ...err, truncated: stderr.truncated } },
    compile: groups.compile ? { stats: compileStats, output: { ...compileOut.text(), truncated: compileOut.truncated } } : null,
    launcherExitCode: exitCode,
    launcherStderr: '',
    warnings: [],
  });
}

function safeStats(group: PhaseGroup): GroupStats | null {
  try {
    return group.stats();
  } catch {
    return null;
  }
}

export function sandboxFailure(err: unknown): RunOutcome {
  const e = err as { code?: string; details?: { step?: string }; message?: string };
  return {
    kind: 'sandbox_error',
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    outputNotUtf8: false,
    executionTimeMs: 0,
    cpuTimeMs: null,
    memoryPeakKb: null,
    sandboxErrorStep: e?.details?.step ?? 'prepare',
    message: e?.message ?? String(err),
    warnings: [],
  };
}
