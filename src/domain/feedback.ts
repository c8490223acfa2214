import { compareOutput, describeDifference } from './compare.js';
import type { ExecutionResult, FailureReason, RunOutcome } from './execution.js';
import type { ComparisonMode } from './plan.js';
import { programOutput } from './program-output.js';
import type { ExecutionStatus } from './states.js';
import type { Limits } from './limits.js';

// Turns a sandbox outcome into the stored result of a single run: status, failure reason, the
// verdict against an expected output, and one human-readable feedback line for the learner.
// (Runs with test cases: cases.ts.)

const MiB = 1024 * 1024;
export type TerminalStatus = Exclude<ExecutionStatus, 'QUEUED' | 'RUNNING'>;

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;

/** Status, failure reason and feedback of an outcome, before any comparison. */
export function classify(outcome: RunOutcome, limits: Limits): { status: TerminalStatus; failureReason: FailureReason | null; feedback: string } {
  switch (outcome.kind) {
    case 'completed':
      return { status: 'COMPLETED', failureReason: null, feedback: `Ran successfully in ${outcome.executionTimeMs} ms.` };
    case 'compile_error':
      return {
        status: 'FAILED',
        failureReason: 'compile_error',
        feedback: outcome.message ? `Compilation failed: ${outcome.message}.` : "Compilation failed: see compile_output for the compiler's messages.",
      };
    case 'runtime_error':
      return {
        status: 'FAILED',
        failureReason: 'runtime_error',
        feedback: outcome.signal
          ? `The program was killed by ${outcome.signal}${outcome.signal === 'SIGSEGV' ? ' (invalid memory access)' : ''}.`
          : `The program exited with code ${outcome.exitCode}; see stderr for details.`,
      };
    case 'wall_timeout':
      return {
        status: 'TIMEOUT',
        failureReason: 'wall_time_limit',
        feedback: `Time limit exceeded: the program ran longer than ${seconds(limits.wallTimeMs)}. Look for an infinite loop, or a read from stdin that never gets input.`,
      };
    case 'cpu_timeout':
      return {
        status: 'TIMEOUT',
        failureReason: 'cpu_time_limit',
        feedback: `CPU time limit exceeded (${seconds(limits.cpuTimeMs)} of CPU). Look for an infinite loop or a much slower algorithm than needed.`,
      };
    case 'memory_limit':
      return {
        status: 'FAILED',
        failureReason: 'memory_limit',
        feedback: `Memory limit exceeded: the program used more than ${Math.round(limits.memoryBytes / MiB)} MiB and was stopped.`,
      };
    case 'output_limit':
      return {
        status: 'FAILED',
        failureReason: 'output_limit',
        feedback: `Output limit exceeded: the program printed far more than ${Math.round(limits.stdoutBytes / 1024)} KiB and was stopped.`,
      };
    case 'sandbox_error':
      return { status: 'FAILED', failureReason: 'sandbox_error', feedback: "The sandbox could not be prepared; this is not your program's fault." };
  }
}

/**
 * The verdict of an output against the expected one. Output that was truncated never passes:
 * what was cut off is unknown, and the part kept may match by accident (the right answer followed
 * by 70,000 newlines and a wrong one, trimmed to its first 64 KiB).
 */
export function judgeOutput(stdout: string, truncated: boolean, expected: string, mode: ComparisonMode, limits: Limits): { passed: boolean; feedback: string } {
  if (truncated) {
    return { passed: false, feedback: `Wrong answer: the output was longer than ${Math.round(limits.stdoutBytes / 1024)} KiB and was truncated, so it cannot match.` };
  }
  const c = compareOutput(stdout, expected, mode);
  return c.passed ? { passed: true, feedback: 'Passed: the output matches the expected output.' } : { passed: false, feedback: describeDifference(c) };
}

export function toStoredResult(
  outcome: RunOutcome,
  limits: Limits,
  expectedOutput: string | null,
  mode: ComparisonMode = 'trailing_whitespace',
): { status: TerminalStatus; result: ExecutionResult } {
  const { status, failureReason, feedback: base } = classify(outcome, limits);
  let feedback = base;
  let verdict: ExecutionResult['verdict'] = null;
  if (expectedOutput !== null && outcome.kind !== 'sandbox_error' && outcome.kind !== 'compile_error') {
    const judged = judgeOutput(outcome.stdout, outcome.stdoutTruncated, expectedOutput, mode, limits);
    verdict = status === 'COMPLETED' && judged.passed ? 'passed' : 'wrong_answer';
    if (status === 'COMPLETED') feedback = judged.passed ? `Passed: the output matches the expected output (${outcome.executionTimeMs} ms).` : judged.feedback;
  }
  if ((outcome.stdoutTruncated || outcome.stderrTruncated) && verdict === null) feedback += ` Output was truncated to ${Math.round(limits.stdoutBytes / 1024)} KiB.`;
  return {
    status,
    result: {
      failureReason,
      ...programOutput(outcome),
      outputNotUtf8: outcome.outputNotUtf8,
      executionTimeMs: outcome.executionTimeMs,
      cpuTimeMs: outcome.cpuTimeMs,
      memoryPeakKb: outcome.memoryPeakKb,
      compileOutput: outcome.compile ? outcome.compile.output : null,
      compileTimeMs: outcome.compile ? outcome.compile.timeMs : null,
      verdict,
      feedback,
      warnings: outcome.warnings,
    },
  };
}
