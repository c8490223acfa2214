import type { ExecutionStatus } from './states.js';
import type { ExecutionPlan } from './plan.js';

// Why a FAILED or TIMEOUT execution ended that way. One value per execution; the first
// termination reason wins.
export const FAILURE_REASONS = [
  'runtime_error', // exited non-zero or was killed by a signal
  'compile_error',
  'memory_limit',
  'output_limit',
  'wall_time_limit',
  'cpu_time_limit',
  'sandbox_error', // the sandbox could not be set up (recorded per attempt; the last attempt ends as internal_error)
  'internal_error', // lost executor / unexpected error, after the last retry
  'canceled', // POST /executions/{id}/cancel, or its session closed before it ran
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** What the sandbox says about one run of a program. */
export interface RunOutcome {
  kind: 'completed' | 'runtime_error' | 'compile_error' | 'wall_timeout' | 'cpu_timeout' | 'memory_limit' | 'output_limit' | 'sandbox_error';
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** stdout or stderr contained bytes that were not valid UTF-8 (replaced with U+FFFD). */
  outputNotUtf8: boolean;
  executionTimeMs: number;
  cpuTimeMs: number | null;
  memoryPeakKb: number | null;
  /** Compile phase, for compiled languages. */
  compile?: {
    ok: boolean;
    output: string;
    timeMs: number;
    exitCode: number | null;
  };
  /** sandbox_error only: which setup step failed. */
  sandboxErrorStep?: string;
  message?: string;
  warnings: string[];
}

/** A job as the queue stores it: the code, the plan to run it by, and its lifecycle. */
export interface ExecutionRecord {
  id: string;
  /** null for a run submitted without a session (CLI, batch, compatible APIs). */
  sessionId: string | null;
  /** Who submitted it (an API key's id), or null on an open appliance. */
  owner: string | null;
  /** plan.language.id, repeated for listing and metrics. */
  language: string;
  sourceCode: string;
  /** null only for rows queued by a codexec older than plans that no process has planned yet. */
  plan: ExecutionPlan | null;
  status: ExecutionStatus;
  attempt: number;
  maxAttempts: number;
  idempotencyKey: string | null;
  requestHash: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null; // epoch ms
  runAfter: number; // epoch ms; backoff for retries
  queuedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Set when a cancel was asked for while it ran; its executor stops it. */
  cancelRequestedAt: number | null;
  /** Where its result is POSTed when it finishes (a signed webhook), or null. */
  callbackUrl: string | null;
  /** Someone follows its live output until then (GET /executions/{id}/events); its executor records output while it does. */
  watchedUntil: number | null;
  result: ExecutionResult | null;
  errors: AttemptError[];
}

export interface AttemptError {
  attempt: number;
  at: number;
  code: string;
  message: string;
}

/** How one test case ended. */
export const CASE_STATUSES = ['passed', 'wrong_answer', 'time_limit', 'memory_limit', 'runtime_error', 'output_limit'] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];

/** One test case's result. A hidden case keeps only name, hidden and status (everything else null/empty). */
export interface CaseResult {
  name: string;
  hidden: boolean;
  status: CaseStatus;
  timeMs: number | null;
  cpuTimeMs: number | null;
  memoryPeakKb: number | null;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  feedback: string | null;
}

export interface CasesSummary {
  passed: number;
  total: number;
  /** Name of the first case (in order) that did not pass; null when all passed. */
  firstFailing: string | null;
}

/** The stored result of a finished execution (terminal states only). */
export interface ExecutionResult {
  failureReason: FailureReason | null;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  outputNotUtf8: boolean;
  executionTimeMs: number | null;
  cpuTimeMs: number | null;
  memoryPeakKb: number | null;
  compileOutput: string | null;
  compileTimeMs: number | null;
  verdict: 'passed' | 'wrong_answer' | null;
  feedback: string | null;
  warnings: string[];
  /** Per-case results when the plan had test cases; otherwise absent. */
  testCases?: CaseResult[];
  summary?: CasesSummary;
  /** sha256 of the seccomp profile the executing host enforced. */
  seccompDigest?: string;
}
