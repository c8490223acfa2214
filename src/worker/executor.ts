// Temporary: the executor moved to src/executor/. This keeps runners.ts compiling until the
// sandbox runners move next to the sandbox.
import type { RunOutcome } from '../domain/execution.js';
import type { SandboxTask } from './task.js';

export interface JobRunner {
  run(task: SandboxTask, signal: AbortSignal): Promise<RunOutcome>;
  close(): Promise<void>;
}
