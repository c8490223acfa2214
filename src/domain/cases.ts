import type { CaseResult, CaseStatus, CasesSummary, ExecutionResult, RunOutcome } from './execution.js';
import { judgeOutput, type TerminalStatus } from './feedback.js';
import type { Limits } from './limits.js';
import type { ComparisonMode, TestCase } from './plan.js';
import { NO_OUTPUT, programOutput } from './program-output.js';

// The verdict of each test case and of the run as a whole. A run with test cases is COMPLETED
// when every case ran, whatever their verdicts (the seed's states stay), and its verdict is
// `passed` only when every case passed. A hidden case keeps only its name and status: its input,
// expected output and the program's output on it are never stored, so no read can show them.

const STATUS_OF: Record<Exclude<RunOutcome['kind'], 'completed' | 'compile_error' | 'sandbox_error'>, CaseStatus> = {
  runtime_error: 'runtime_error',
  wall_timeout: 'time_limit',
  cpu_timeout: 'time_limit',
  memory_limit: 'memory_limit',
  output_limit: 'output_limit',
};

const FEEDBACK: Record<Exclude<CaseStatus, 'passed' | 'wrong_answer'>, string> = {
  time_limit: 'Time limit exceeded.',
  memory_limit: 'Memory limit exceeded.',
  runtime_error: 'The program failed on this input.',
  output_limit: 'Output limit exceeded.',
};

/** One case's result from its sandbox outcome (never compile_error or sandbox_error: those end the attempt). */
export function caseResult(tc: TestCase, outcome: RunOutcome, limits: Limits, mode: ComparisonMode): CaseResult {
  let status: CaseStatus;
  let feedback: string;
  if (outcome.kind === 'completed') {
    const judged = judgeOutput(outcome.stdout, outcome.stdoutTruncated, tc.expectedOutput, mode, limits);
    status = judged.passed ? 'passed' : 'wrong_answer';
    feedback = judged.feedback;
  } else if (outcome.kind === 'compile_error' || outcome.kind === 'sandbox_error') {
    throw new Error(`caseResult: ${outcome.kind} is not a case outcome`);
  } else {
    status = STATUS_OF[outcome.kind];
    feedback = outcome.kind === 'runtime_error' && outcome.signal ? `The program was killed by ${outcome.signal}.` : FEEDBACK[status as keyof typeof FEEDBACK];
    if (outcome.kind === 'runtime_error' && !outcome.signal) feedback = `The program exited with code ${outcome.exitCode}.`;
  }
  if (tc.hidden) {
    return { name: tc.name, hidden: true, status, timeMs: null, cpuTimeMs: null, memoryPeakKb: null, ...NO_OUTPUT, feedback: null };
  }
  return {
    name: tc.name,
    hidden: false,
    status,
    timeMs: outcome.executionTimeMs,
    cpuTimeMs: outcome.cpuTimeMs,
    memoryPeakKb: outcome.memoryPeakKb,
    ...programOutput(outcome),
    feedback,
  };
}

export function summarize(cases: CaseResult[]): CasesSummary {
  const failing = cases.find((c) => c.status !== 'passed');
  return { passed: cases.filter((c) => c.status === 'passed').length, total: cases.length, firstFailing: failing?.name ?? null };
}

const WORDS: Record<CaseStatus, string> = {
  passed: 'passed',
  wrong_answer: 'wrong answer',
  time_limit: 'time limit exceeded',
  memory_limit: 'memory limit exceeded',
  runtime_error: 'runtime error',
  output_limit: 'output limit exceeded',
};

/** The stored result of a run whose every case ran. */
export function casesResult(
  cases: CaseResult[],
  compile: { output: string; timeMs: number } | null,
  warnings: string[],
  outputNotUtf8: boolean,
): { status: TerminalStatus; result: ExecutionResult } {
  const summary = summarize(cases);
  const first = cases.find((c) => c.name === summary.firstFailing);
  const feedback =
    first === undefined
      ? `All ${summary.total} test cases passed.`
      : `${summary.passed}/${summary.total} test cases passed. First failing: ${JSON.stringify(first.name)}${first.hidden ? ' (hidden)' : ''}: ${WORDS[first.status]}.`;
  const visible = cases.filter((c) => !c.hidden);
  const sum = (f: (c: CaseResult) => number | null) => (visible.every((c) => f(c) !== null) && visible.length > 0 ? visible.reduce((n, c) => n + (f(c) ?? 0), 0) : null);
  return {
    status: 'COMPLETED',
    result: {
      failureReason: null,
      ...NO_OUTPUT,
      outputNotUtf8,
      executionTimeMs: sum((c) => c.timeMs),
      cpuTimeMs: sum((c) => c.cpuTimeMs),
      memoryPeakKb: visible.length > 0 ? Math.max(...visible.map((c) => c.memoryPeakKb ?? 0)) : null,
      compileOutput: compile?.output ?? null,
      compileTimeMs: compile?.timeMs ?? null,
      verdict: first === undefined ? 'passed' : 'wrong_answer',
      feedback,
      warnings,
      testCases: cases,
      summary,
    },
  };
}
