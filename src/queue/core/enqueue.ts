import { QueueFullError, QuotaExceededError, SessionBusyError } from '../../domain/errors.js';
import type { ExecutionRecord } from '../../domain/execution.js';
import { op, type Body } from '../driver.js';
import type { EnqueueOptions, EnqueueResult, NewExecution } from '../job-store.js';
import type { BodyRunner } from './output-log.js';
import { checkReplay, idempotencyScope } from './rules.js';

/** Seconds a client should wait after a 503 queue_full. */
export const QUEUE_FULL_RETRY_AFTER_SECONDS = 2;
/** Enqueues refused although the read that followed found no limit reached (runs ending meanwhile). */
const ENQUEUE_ATTEMPTS = 5;

interface Limits {
  sessionLimit: number | null;
  ownerLimit: number | null;
  depthLimit: number | null;
}

/** The limits an enqueue checks (null: none), as ExecutionEnqueue takes them. */
function limitsOf(input: NewExecution, opts: EnqueueOptions): Limits {
  const perSession = opts.maxInFlightPerSession;
  const perOwner = opts.maxInFlightPerOwner;
  return {
    sessionLimit: input.sessionId !== null && perSession !== undefined && perSession >= 1 ? perSession : null,
    ownerLimit: input.owner !== null && perOwner !== undefined && perOwner >= 1 ? perOwner : null,
    depthLimit: opts.maxQueueDepth ?? null,
  };
}

/** The parameters of ExecutionEnqueue (SessionRunEnqueue takes them too). */
export interface EnqueueParams extends Limits {
  [name: string]: unknown;
  scope: string;
  idempotencyKey: string | null;
  requestHash: string | null;
}

/** The parameters of ExecutionEnqueue for this job. */
export function enqueueParams(input: NewExecution, opts: EnqueueOptions = {}): EnqueueParams {
  return {
    id: input.id,
    sessionId: input.sessionId,
    owner: input.owner,
    scope: idempotencyScope(input.sessionId, input.owner),
    language: input.plan.language.id,
    sourceCode: input.sourceCode,
    plan: JSON.stringify(input.plan),
    maxAttempts: input.maxAttempts,
    idempotencyKey: opts.idempotencyKey ?? null,
    requestHash: opts.requestHash ?? null,
    callbackUrl: input.callbackUrl ?? null,
    now: opts.now ?? Date.now(),
    ...limitsOf(input, opts),
  };
}

// Submitting a job, over the queue's driver. One statement, one round trip (ExecutionEnqueue: the
// idempotency lookup, the in-flight and depth checks and the insert, atomic in each database's
// way). When it inserts nothing, one read snapshot says why, and the rules below turn that into
// the caller's answer: a replay, or the limit that refused it. Between the two a run may have
// ended and freed its place: the enqueue is then tried again.
export async function enqueue(
  run: BodyRunner,
  toRecord: (row: Record<string, unknown>) => ExecutionRecord,
  input: NewExecution,
  opts: EnqueueOptions = {},
): Promise<EnqueueResult> {
  const params = enqueueParams(input, opts);
  for (let attempt = 1; ; attempt++) {
    const row = await run(function* () {
      return (yield op('ExecutionEnqueue', params)).rows[0];
    }, 'single');
    if (row) {
      const execution = toRecord(row);
      if (execution.id === input.id) return { execution, created: true };
      checkReplay(execution.requestHash, params.requestHash); // PostgreSQL returns the row that holds the key
      return { execution, created: false };
    }
    const refusal = await run(() => whyRefused(toRecord, input, params), 'read');
    if (refusal instanceof Error) throw refusal;
    if (refusal) return refusal;
    if (attempt >= ENQUEUE_ATTEMPTS) throw new Error(`enqueue refused ${ENQUEUE_ATTEMPTS} times although no limit refused it when read`);
  }
}

/** Why ExecutionEnqueue inserted nothing: the execution that holds the key, or the limit reached (null: none now). */
function* whyRefused(
  toRecord: (row: Record<string, unknown>) => ExecutionRecord,
  input: NewExecution,
  params: EnqueueParams,
): Body<EnqueueResult | Error | null> {
  const { scope, idempotencyKey: key, requestHash, sessionLimit, ownerLimit, depthLimit } = params;
  if (key !== null) {
    const existing = (yield op('ExecutionGetByIdempotencyKey', { scope, idempotencyKey: key })).rows[0];
    if (existing) {
      const execution = toRecord(existing);
      checkReplay(execution.requestHash, requestHash);
      return { execution, created: false };
    }
  }
  if (sessionLimit !== null) {
    const { rows } = yield op('ExecutionListInFlightForSession', { sessionId: input.sessionId, limit: sessionLimit });
    if (rows.length >= sessionLimit) return new SessionBusyError(String(rows[0]!.id));
  }
  if (ownerLimit !== null) {
    const { rows } = yield op('ExecutionListInFlightForOwner', { owner: input.owner, limit: ownerLimit });
    if (rows.length >= ownerLimit) return new QuotaExceededError('executions in flight', ownerLimit);
  }
  if (depthLimit !== null) {
    const n = Number((yield op('ExecutionCountQueuedUpTo', { limit: depthLimit })).rows[0]!.n);
    if (n >= depthLimit) return new QueueFullError(n, QUEUE_FULL_RETRY_AFTER_SECONDS);
  }
  return null;
}
