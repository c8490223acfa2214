import type { ExecutionResult, FailureReason, RunOutcome } from './execution.js';
import type { ExecutionStatus } from './states.js';
import type { Limits } from './limits.js';

// Turns a sandbox outcome into the stored result: status, failure reason, the verdict against an
// expected output, and one human-readable feedback line for the learner.

const MiB = 1024 * 1024;

/** Compare outputs with trailing whitespace ignored (per line and at the end). */
export function compareOutput(actual: string, expected: string): { passed: boolean; firstDiffLine: number | null } {
  const norm = (s: string) => s.replace(/\r\n/g, '\n').split('\n').map((l) => l.replace(/\s+$/, ''));
  const a = norm(actual);
  const e = norm(expected);
  while (a.length > 0 && a[a.length - 1] === '') a.pop();
  while (e.length > 0 && e[e.length - 1] === '') e.pop();
  const n = Math.max(a.length, e.length);
  for (let i = 0; i < n; i++) if (a[i] !== e[i]) return { passed: false, firstDiffLine: i + 1 };
  return { passed: true, firstDiffLine: null };
}

function describeDiff(actual: string, expected: string, line: number): string {
  const cut = (s: string | undefined) => (s === undefined ? '(no line)' : JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s));
  const a = actual.replace(/\r\n/g, '\n').split('\n')[line - 1];
  const e = expected.replace(/\r\n/g, '\n').split('\n')[line - 1];
  return `Wrong answer: line ${line} differs: expected ${cut(e?.replace(/\s+$/, ''))}, got ${cut(a?.replace(/\s+$/, ''))}.`;
}

export function toStoredResult(
  outcome: RunOutcome,
  limits: Limits,
  expectedOutput: string | null,
): { status: Exclude<ExecutionStatus, 'QUEUED' | 'RUNNING'>; result: ExecutionResult } {
  let status: Exclude<ExecutionStatus, 'QUEUED' | 'RUNNING'>;
  let failureReason: FailureReason | null = null;
  let feedback: string;
  const seconds = (ms: number) => `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s`;
  switch (outcome.kind) {
    case 'completed':
      status = 'COMPLETED';
      feedback = `Ran successfully in ${outcome.executionTimeMs} ms.`;
      break;
    case 'compile_error':
      status = 'FAILED';
      failureReason = 'compile_error';
      feedback = outcome.message ? `Compilation failed: ${outcome.message}.` : 'Compilation failed: see compile_output for the compiler\'s messages.';
      break;
    case 'runtime_error':
      status = 'FAILED';
      failureReason = 'runtime_error';
      feedback = outcome.signal
        ? `The program was killed by ${outcome.signal}${outcome.signal === 'SIGSEGV' ? ' (invalid memory access)' : ''}.`
        : `The program exited with code ${outcome.exitCode}; see stderr for details.`;
      break;
    case 'wall_timeout':
      status = 'TIMEOUT';
      failureReason = 'wall_time_limit';
      feedback = `Time limit exceeded: the program ran longer than ${seconds(limits.wallTimeMs)}. Look for an infinite loop, or a read from stdin that never gets input.`;
      break;
    case 'cpu_timeout':
      status = 'TIMEOUT';
      failureReason = 'cpu_time_limit';
      feedback = `CPU time limit exceeded (${seconds(limits.cpuTimeMs)} of CPU). Look for an infinite loop or a much slower algorithm than needed.`;
      break;
    case 'memory_limit':
      status = 'FAILED';
      failureReason = 'memory_limit';
      feedback = `Memory limit exceeded: the program used more than ${Math.round(limits.memoryBytes / MiB)} MiB and was stopped.`;
      break;
    case 'output_limit':
      status = 'FAILED';
      failureReason = 'output_limit';
      feedback = `Output limit exceeded: the program printed far more than ${Math.round(limits.stdoutBytes / 1024)} KiB and was stopped.`;
      break;
    case 'sandbox_error':
      status = 'FAILED';
      failureReason = 'sandbox_error';
      feedback = 'The sandbox could not be prepared; this is not your program\'s fault.';
      break;
  }
  let verdict: ExecutionResult['verdict'] = null;
  if (expectedOutput !== null && outcome.kind !== 'sandbox_error' && outcome.kind !== 'compile_error') {
    const cmp = compareOutput(outcome.stdout, expectedOutput);
    verdict = status === 'COMPLETED' && cmp.passed ? 'passed' : 'wrong_answer';
    if (status === 'COMPLETED') feedback = cmp.passed ? `Passed: the output matches the expected output (${outcome.executionTimeMs} ms).` : describeDiff(outcome.stdout, expectedOutput, cmp.firstDiffLine!);
  }
  if (outcome.stdoutTruncated || outcome.stderrTruncated) feedback += ` Output was truncated to ${Math.round(limits.stdoutBytes / 1024)} KiB.`;
  return {
    status,
    result: {
      failureReason,
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      stdout: outcome.stdout,
      stderr: outcome.stderr,
      stdoutTruncated: outcome.stdoutTruncated,
      stderrTruncated: outcome.stderrTruncated,
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
