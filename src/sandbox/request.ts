import type { RunOutcome } from '../domain/execution.js';
import type { ExecutionPlan } from '../domain/plan.js';

// The contract between whoever runs executions (the executor, the CLI, doctor) and a sandbox
// host: one request, one fresh sandbox, one result. run.ts re-exports these.

export interface SandboxFile {
  /** Relative to the working directory: components separated by '/', none '.' or '..' (protocol.ts). */
  path: string;
  content: Buffer;
  executable: boolean;
}

export interface SandboxRequest {
  /** Unique per sandbox (callers pass e.g. `${id}-c`, `${id}-t3`): names its cgroups. */
  executionId: string;
  /** Uses plan.compile, plan.run (argv and limits, already resolved), env, binds, seccomp.name. */
  plan: ExecutionPlan;
  /** Written into the working directory (owned by the program's uid) before the first phase. */
  files: SandboxFile[];
  /** Which phases, in order; a failing phase stops the rest. */
  phases: ('compile' | 'run')[];
  /** The run phase's stdin (compile gets /dev/null). */
  stdin: string;
  /** After the last phase exits 0, return the working directory's regular files. */
  exportWorkdir?: boolean;
  /** Abort = kill the whole execution at once (cancel, shutdown, lost lease). */
  signal?: AbortSignal;
  /** Run-phase output as it arrives, within the same caps as the stored output. */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

export interface SandboxResult extends RunOutcome {
  /** The exported working directory (exportWorkdir and the last phase exited 0), else null. */
  artifacts: SandboxFile[] | null;
  /** sha256 of the seccomp profile file as loaded ('' when none was applied). */
  seccompDigest: string;
}

/** Where sandboxes run: isolated (fork servers, cgroups, seccomp) or the development mode. */
export interface SandboxHost {
  readonly isolated: boolean;
  run(req: SandboxRequest): Promise<SandboxResult>;
  /** Stop what the host keeps between executions (its fork servers). */
  close(): Promise<void>;
}
