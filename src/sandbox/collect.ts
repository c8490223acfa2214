import type { SandboxProcess, StreamChunkHandler } from './fork-server.js';
import { CappedOutput } from './output.js';
import { FD, FILE_LIMITS } from './protocol.js';
import type { SandboxRequest } from './request.js';
import type { SandboxSpec } from './spec.js';

// Everything that comes back from one execution while it runs: the program's output (capped, and
// passed on live within the same caps), the launcher's status lines and the exported working
// directory; and every way it can be cut short (abort, flood, the backstop). The first reason to
// kill wins.

// A program that writes this many times its output limit is killed instead of drained.
const FLOOD_FACTOR = 16;
// Time granted beyond the launcher's own wall-clock limits before the execution is killed from here.
const BACKSTOP_GRACE_MS = 2000;
const STATUS_LIMIT_BYTES = 16 * 1024;

export interface Collected {
  /** init's exit code, or null when it was killed. */
  exitCode: number | null;
  killedFor: 'output_limit' | 'wall_timeout' | null;
  stdout: CappedOutput;
  stderr: CappedOutput;
  compileOutput: CappedOutput;
  status: string;
  /** The export records (null: none was asked for, or more came than the launcher may send). */
  exported: Buffer | null;
}

export async function collect(
  start: (onChunk: StreamChunkHandler) => SandboxProcess,
  spec: SandboxSpec,
  req: Pick<SandboxRequest, 'signal' | 'onOutput'>,
  killGroups: () => void,
): Promise<Collected> {
  let killedFor: Collected['killedFor'] = null;
  let proc: SandboxProcess | null = null;
  const kill = (reason: 'output_limit' | 'wall_timeout') => {
    killedFor ??= reason;
    proc?.kill();
    killGroups();
  };
  const run = spec.phases.find((p) => p.name === 'run');
  const compile = spec.phases.find((p) => p.name === 'compile');
  const capped = (limit: number) => new CappedOutput(limit, Math.max(limit, 1) * FLOOD_FACTOR, () => kill('output_limit'));
  const stdout = capped(run?.stdoutBytes ?? 0);
  const stderr = capped(run?.stderrBytes ?? 0);
  const compileOutput = capped(compile?.stdoutBytes ?? 0);
  const status = new CappedOutput(STATUS_LIMIT_BYTES, Number.MAX_SAFE_INTEGER, () => {});
  // What the launcher may send at most: the files' bytes plus each record's header and name.
  const exportLimit = spec.exportMaxBytes === null ? 0 : spec.exportMaxBytes + FILE_LIMITS.files * (9 + FILE_LIMITS.pathBytes);
  const exported = new CappedOutput(exportLimit, exportLimit, () => kill('output_limit'));
  const onOutput = req.onOutput;
  const onChunk: StreamChunkHandler = (fd, chunk) => {
    if (fd === FD.stdout || fd === FD.stderr) {
      const kept = (fd === FD.stdout ? stdout : stderr).push(chunk);
      if (onOutput && kept.length > 0) onOutput(fd === FD.stdout ? 'stdout' : 'stderr', kept);
    } else if (fd === FD.status) status.push(chunk);
    else if (fd === FD.compileOutput) compileOutput.push(chunk);
    else if (fd === FD.export) exported.push(chunk);
  };
  proc = start(onChunk);
  const onAbort = () => kill('wall_timeout');
  if (req.signal?.aborted) onAbort();
  req.signal?.addEventListener('abort', onAbort, { once: true });
  // The backstop counts from when a fork server took the request, not while it waited for one.
  const totalWallMs = spec.phases.reduce((sum, p) => sum + p.wallTimeMs, 0) + BACKSTOP_GRACE_MS;
  let backstop: NodeJS.Timeout | undefined;
  let finished = false;
  void proc.started.then(() => {
    if (!finished) backstop = setTimeout(() => kill('wall_timeout'), totalWallMs);
  });
  let exitCode: number | null;
  try {
    exitCode = await proc.done;
  } finally {
    finished = true;
    clearTimeout(backstop);
    req.signal?.removeEventListener('abort', onAbort);
  }
  return {
    exitCode,
    killedFor,
    stdout,
    stderr,
    compileOutput,
    status: status.text().text,
    exported: spec.exportMaxBytes === null || exported.flooded ? null : exported.bytes(),
  };
}
