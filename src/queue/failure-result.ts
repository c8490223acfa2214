import type { ExecutionResult, FailureReason } from '../domain/execution.js';

// The result stored when the queue, not the program, ends an execution: attempts exhausted by
// transient failures, or cancelled before it ran. Every field of ExecutionResult is present (the
// API shows it like any other result); there is no output because no run produced any.
export function queueFailureResult(failureReason: FailureReason, feedback: string): ExecutionResult {
  return {
    failureReason,
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    outputNotUtf8: false,
    executionTimeMs: null,
    cpuTimeMs: null,
    memoryPeakKb: null,
    compileOutput: null,
    compileTimeMs: null,
    verdict: null,
    feedback,
    warnings: [],
  };
}
