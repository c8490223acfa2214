import type { ExecutionStatus } from './states.js';
import type { LimitOverrides } from './limits.js';

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
  'cancelled', // session closed or execution abandoned before it ran
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

/** A job as the queue stores it: the snapshot to run plus its lifecycle. */
export interface ExecutionRecord {
  id: string;
  sessionId: string;
  language: string;
  sourceCode: string;
  stdin: string;
  expectedOutput: string | null;
  limitOverrides: LimitOverrides;
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
  result: ExecutionResult | null;
  errors: AttemptError[];
}

export interface AttemptError {
  attempt: number;
  at: number;
  code: string;
  message: string;
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
}
