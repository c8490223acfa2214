import type { RunOutcome } from '../domain/execution.js';
import { NO_OUTPUT } from '../domain/program-output.js';

/** The outcome of a sandbox that could not be set up or failed around the program: never the program's fault. */
export function sandboxFailure(err: unknown): RunOutcome {
  const e = err as { code?: string; details?: { step?: string }; message?: string };
  return {
    kind: 'sandbox_error',
    ...NO_OUTPUT,
    outputNotUtf8: false,
    executionTimeMs: 0,
    cpuTimeMs: null,
    memoryPeakKb: null,
    sandboxErrorStep: e?.details?.step ?? 'prepare',
    message: e?.message ?? String(err),
    warnings: [],
  };
}
