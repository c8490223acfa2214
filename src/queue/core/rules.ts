import type { ExecutionResult, FailureReason } from '../../domain/execution.js';
import { IdempotencyConflictError } from '../../domain/errors.js';
import { NO_OUTPUT } from '../../domain/program-output.js';

// The queue's decisions, as pure functions: what happens to a failed attempt, what a cancel does,
// what a queue-made failure tells the learner. The core (job-queue.ts) asks them and the drivers
// only run the statements that carry the decision out, so each rule lives here once, whatever
// the database.

/** The result stored when the queue, not the program, ends an execution. No run produced output. */
export function queueFailureResult(failureReason: FailureReason, feedback: string): ExecutionResult {
  return {
    failureReason,
    ...NO_OUTPUT,
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

export type CancelCause = 'request' | 'session_closed';

export function canceledResult(cause: CancelCause, wasRunning: boolean): ExecutionResult {
  const feedback =
    cause === 'session_closed'
      ? 'Canceled: the session was closed before this run started.'
      : wasRunning
        ? 'Canceled while it ran: the program was stopped.'
        : 'Canceled before it started.';
  return queueFailureResult('canceled', feedback);
}

/** FAILED after the last attempt failed on our side: the learner is told it was not their program. */
export function exhaustedResult(attempts: number, lastCode: string): ExecutionResult {
  return queueFailureResult(
    'internal_error',
    `codexec could not run this execution: ${attempts} attempt(s) failed on our side (last: ${lastCode}). ` +
      'This is not a problem with your program; please run it again.',
  );
}

export type FailureDecision =
  | { kind: 'canceled'; result: ExecutionResult } // a cancel was asked for: it ends now, not retried
  | { kind: 'retry'; runAfter: number }
  | { kind: 'exhausted'; result: ExecutionResult };

/** A RUNNING attempt failed on our side (sandbox setup, a lost executor): retry, or give up. */
export function decideFailure(
  job: { attempt: number; maxAttempts: number; cancelRequestedAt: number | null },
  failureCode: string,
  delayMs: number,
  now: number,
): FailureDecision {
  if (job.cancelRequestedAt !== null) return { kind: 'canceled', result: canceledResult('request', true) };
  if (job.attempt < job.maxAttempts) return { kind: 'retry', runAfter: now + Math.max(0, Math.floor(delayMs)) };
  return { kind: 'exhausted', result: exhaustedResult(job.attempt, failureCode) };
}

export function leaseExpiredMessage(leaseOwner: string | null, leaseExpiresAt: number | null): string {
  return `the lease of executor ${leaseOwner} expired at ${new Date(leaseExpiresAt ?? 0).toISOString()}`;
}

/**
 * Where an Idempotency-Key is unique: a session's runs, else an owner's (an API key), else the
 * anonymous runs of an open appliance.
 */
export function idempotencyScope(sessionId: string | null, owner: string | null): string {
  if (sessionId !== null) return `session:${sessionId}`;
  if (owner !== null) return `owner:${owner}`;
  return 'anonymous';
}

/** An earlier execution under the same key: replay it, or 409 when its request differs. */
export function checkReplay(existingHash: string | null, requestHash: string | null): void {
  if (existingHash !== requestHash) throw new IdempotencyConflictError();
}
