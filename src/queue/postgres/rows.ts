import pg from 'pg';
import type { AttemptError, ExecutionRecord, ExecutionResult } from '../../domain/execution.js';
import type { ExecutionPlan } from '../../domain/plan.js';
import type { ExecutionStatus } from '../../domain/states.js';

/**
 * A row of `executions` as the queue's statements return it: snake_case, BIGINT as numbers (see
 * PG_TYPES), BYTEA as Buffers, json columns already parsed by pg.
 */
export interface ExecutionRow {
  seq: number;
  id: string;
  session_id: string | null;
  owner: string | null;
  idempotency_scope: string;
  language: string;
  source_code: Buffer;
  plan: ExecutionPlan | null;
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
  result: ExecutionResult | null;
  failure_reason: string | null;
  errors: AttemptError[];
}

const INT8_OID = 20;

// pg returns BIGINT (int8) as a string by default, since it may exceed 2^53. Every BIGINT of this
// store is epoch milliseconds, a seq or a COUNT(*), far below that, so the store's queries (and
// only those: pg's global parsers stay as they are) read them as numbers, and refuse to round one.
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`BIGINT ${text} does not fit a JavaScript number`);
  return n;
}

/** Type parsers of the store's queries: pg's defaults, except BIGINT as a number. */
export const PG_TYPES = new pg.TypeOverrides();
PG_TYPES.setTypeParser(INT8_OID, parseInt8);

/** Parameters stored in BYTEA columns (UTF-8), which, unlike TEXT, can hold NUL characters. */
export const BYTEA_PARAMS: ReadonlySet<string> = new Set(['sourceCode']);

export function rowToRecord(raw: Record<string, unknown>): ExecutionRecord {
  const row = raw as unknown as ExecutionRow;
  return {
    id: row.id,
    sessionId: row.session_id,
    owner: row.owner,
    language: row.language,
    sourceCode: row.source_code.toString('utf8'),
    plan: row.plan,
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
    result: row.result,
    errors: row.errors,
  };
}
