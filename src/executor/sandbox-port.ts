import type { RunOutcome } from '../domain/execution.js';
import type { ExecutionPlan } from '../domain/plan.js';

// What the executor asks of the sandbox (src/sandbox/run.ts implements it): one sandbox, fresh
// namespaces, filesystem and cgroup each time, running some phases of a plan over some files.

export interface SandboxFile {
  path: string;
  content: Buffer;
  executable: boolean;
}

export interface SandboxRequest {
  /** Unique per sandbox (`${id}-c`, `${id}-t3`): names its cgroups. */
  executionId: string;
  plan: ExecutionPlan;
  /** Written into the working directory before the first phase. */
  files: SandboxFile[];
  /** Which of plan.compile / plan.run to run, in order; a failing phase stops the rest. */
  phases: ('compile' | 'run')[];
  /** The run phase's stdin (the compile phase reads /dev/null). */
  stdin: string;
  /** After the last phase exits 0, return the working directory's regular files. */
  exportWorkdir?: boolean;
  /** Abort: kill the whole sandbox at once. */
  signal?: AbortSignal;
  /** Run-phase output as it arrives, within the stored output's caps. */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

export interface SandboxResult extends RunOutcome {
  artifacts: SandboxFile[] | null;
  /** sha256 of the seccomp profile the sandbox enforced. */
  seccompDigest: string;
}

export interface SandboxRunner {
  run(req: SandboxRequest): Promise<SandboxResult>;
  close(): Promise<void>;
}
