import type { AttemptError, ExecutionRecord, ExecutionResult } from '../../domain/execution.js';
import type { ExecutionPlan } from '../../domain/plan.js';
import type { ExecutionStatus } from '../../domain/states.js';

/** A row of `executions` as SQLite returns it (snake_case, JSON columns as text). */
export interface ExecutionRow {
  seq: number;
  id: string;
  session_id: string | null;
  owner: string | null;
  idempotency_scope: string;
  language: string;
  source_code: string;
  plan: string | null;
  status: ExecutionStatus;
  attempt: number;
  max_attempts: number;
  idempotency_key: string | null;
  request_hash: string | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  run_after: number;
  queued_at: number;
  started_at: number | null;
  finished_at: number | null;
  cancel_requested_at: number | null;
  callback_url: string | null;
  watched_until: number | null;
  result: string | null;
  errors: string;
}

export function rowToRecord(raw: Record<string, unknown>): ExecutionRecord {
  const row = raw as unknown as ExecutionRow;
  return {
    id: row.id,
    sessionId: row.session_id,
    owner: row.owner,
    language: row.language,
    sourceCode: row.source_code,
    plan: row.plan === null ? null : (JSON.parse(row.plan) as ExecutionPlan),
    status: row.status,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    runAfter: row.run_after,
    queuedAt: row.queued_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    cancelRequestedAt: row.cancel_requested_at,
    callbackUrl: row.callback_url ?? null,
    watchedUntil: row.watched_until ?? null,
    result: row.result === null ? null : (JSON.parse(row.result) as ExecutionResult),
    errors: JSON.parse(row.errors) as AttemptError[],
  };
}
