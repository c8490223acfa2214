import { setImmediate as nextTurn } from 'node:timers/promises';
import type { AttemptError, ExecutionRecord, ExecutionResult } from '../../domain/execution.js';
import type { ExecutionPlan } from '../../domain/plan.js';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../../domain/states.js';
import { backoffMs as defaultBackoffMs } from '../backoff.js';
import { op, type Body, type QueueDriver } from '../driver.js';
import { createQueueEvents, type QueueEvents } from '../events.js';
import type {
  AttemptFailure,
  AttemptFailureResult,
  ApiNodeInfo,
  CancelOutcome,
  EnqueueOptions,
  EnqueueResult,
  ExecutorInfo,
  FinishAndClaim,
  JobStore,
  LegacyJob,
  NewExecution,
  QueueReadiness,
  QueueStats,
  TerminalStatus,
} from '../job-store.js';
import type { OutputLog } from '../output-log.js';
import type { WebhookOutbox } from '../webhook-outbox.js';
import { enqueue } from './enqueue.js';
import { QueueOutputLog, type BodyRunner } from './output-log.js';
import { listApiNodes, listExecutors, ProcessRegistry } from './registry.js';
import { canceledResult, decideFailure, leaseExpiredMessage } from './rules.js';
import { QueueWebhookOutbox } from './webhook-outbox.js';

export interface JobQueueOptions {
  /** An executor whose heartbeat is older than this is gone. Default 45 s: three default leases. */
  executorStaleMs?: number;
  /** Backoff base of rescued jobs when rescueExpired is not given a backoff function. */
  retryBaseMs?: number;
  /** Keep the event transport's timers from holding the process open. Default true. */
  unrefEvents?: boolean;
  /** Period of the events' periodic look (delayed retries, a blind watch). Default 1 s; 0: none (tests). */
  eventsPollMs?: number;
}

export const DEFAULT_EXECUTOR_STALE_MS = 45_000;
export const DEFAULT_RETRY_BASE_MS = 500;
/** Failures listed by stats(). */
export const RECENT_FAILURES = 10;
/** Rows deleted per statement by prune(). */
export const PRUNE_BATCH = 500;
/** Published events are kept this long (a process that was away longer resyncs). */
export const EVENT_RETENTION_MS = 10 * 60_000;

// The job queue: every rule of it, once, over a driver that runs named statements (driver.ts).
// Each method is one body: a generator of statements that the driver runs atomically in its
// database's way. What is decided (retry or give up, cancel, replay) is decided in rules.ts from
// the row the body has read, and carried out by statements that re-check their own conditions
// (status, lease owner), so a body that lost a race changes nothing.
export class JobQueue implements JobStore {
  readonly events: QueueEvents;
  readonly output: OutputLog;
  readonly webhooks: WebhookOutbox;
  private readonly executorStaleMs: number;
  private readonly retryBaseMs: number;
  private readonly runner: BodyRunner;
  private readonly registry: ProcessRegistry;
  private closed = false;

  constructor(
    private readonly driver: QueueDriver,
    opts: JobQueueOptions = {},
  ) {
    this.executorStaleMs = opts.executorStaleMs ?? DEFAULT_EXECUTOR_STALE_MS;
    this.retryBaseMs = opts.retryBaseMs ?? DEFAULT_RETRY_BASE_MS;
    this.events = createQueueEvents(driver.events, { unref: opts.unrefEvents ?? true, pollMs: opts.eventsPollMs });
    this.runner = (body, mode, wrote) => this.run(body, mode, wrote);
    this.output = new QueueOutputLog(this.runner);
    this.webhooks = new QueueWebhookOutbox(this.runner);
    this.registry = new ProcessRegistry(this.runner, this.executorStaleMs);
  }

  get dialect(): 'sqlite' | 'postgres' {
    return this.driver.dialect;
  }

  /** Runs a body; after a write, this process's listeners hear of it at once. */
  private async run<T>(body: () => Body<T>, mode: 'write' | 'read' | 'single', wrote = mode !== 'read'): Promise<T> {
    const out = await this.driver.run(body, mode);
    if (wrote) this.events.poke();
    return out;
  }

  private record(row: Record<string, unknown> | undefined): ExecutionRecord | null {
    return row ? this.driver.toRecord(row) : null;
  }

  // ---- create and read --------------------------------------------------------------------------

  /**
   * One round trip when it is accepted (core/enqueue.ts). A job it creates is told to this process
   * at once (events.own): its idle executors claim now.
   */
  async enqueue(input: NewExecution, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    const r = await enqueue(this.runner, (row) => this.driver.toRecord(row), input, opts);
    if (r.created) this.events.own({ kind: 'available', id: r.execution.id, row: r.execution });
    return r;
  }

  async get(id: string): Promise<ExecutionRecord | null> {
    const self = this;
    return this.run(function* () {
      return self.record((yield op('ExecutionGetById', { id })).rows[0]);
    }, 'single', false);
  }

  async listBySession(sessionId: string, limit: number): Promise<ExecutionRecord[]> {
    const self = this;
    return this.run(function* () {
      return (yield op('ExecutionListBySession', { sessionId, limit })).rows.map((r) => self.driver.toRecord(r));
    }, 'single', false);
  }

  // ---- the lifecycle ------------------------------------------------------------------------------

  /** One statement (dialect sql.ts says how each database keeps it atomic): one round trip. */
  async claim(owner: string, leaseMs: number, now = Date.now()): Promise<ExecutionRecord | null> {
    const self = this;
    return this.run(function* () {
      return self.record((yield op('ExecutionClaimNext', { owner, leaseExpiresAt: now + leaseMs, now })).rows[0]);
    }, 'single');
  }

  async renewLease(id: string, owner: string, leaseMs: number, now = Date.now()): Promise<boolean> {
    return this.run(function* () {
      return (yield op('ExecutionRenewLease', { id, owner, leaseExpiresAt: now + leaseMs })).changes === 1;
    }, 'single', false);
  }

  /** One statement, one round trip. An expired lease not yet rescued still counts as ours. */
  async finish(id: string, owner: string, status: TerminalStatus, result: ExecutionResult, now = Date.now()): Promise<boolean> {
    const params = { id, owner, status, result: JSON.stringify(result), failureReason: result.failureReason, now };
    return this.run(function* () {
      return (yield op('ExecutionFinish', params)).changes === 1;
    }, 'single');
  }

  /**
   * finish() and claim() in one statement, so one commit: see ExecutionFinishAndClaimNext. The
   * finished row it returns is told to this process's listeners of the job at once (events.own).
   */
  async finishAndClaim(id: string, owner: string, status: TerminalStatus, result: ExecutionResult, leaseMs: number, now = Date.now()): Promise<FinishAndClaim> {
    const params = { id, owner, status, result: JSON.stringify(result), failureReason: result.failureReason, now, leaseExpiresAt: now + leaseMs };
    const self = this;
    const { finished, next } = await this.run(function* () {
      const rows = (yield op('ExecutionFinishAndClaimNext', params)).rows;
      return { finished: self.record(rows.find((r) => r.id === id)), next: self.record(rows.find((r) => r.id !== id)) };
    }, 'single');
    if (finished) this.events.own({ kind: 'finished', id, row: finished });
    return { finished: finished !== null, next };
  }

  async finishCanceled(id: string, owner: string, now = Date.now()): Promise<boolean> {
    const result = canceledResult('request', true);
    const params = { id, owner, result: JSON.stringify(result), failureReason: result.failureReason, now };
    return this.run(function* () {
      return (yield op('ExecutionFinishCanceled', params)).changes === 1;
    }, 'single');
  }

  async failAttempt(id: string, owner: string, failure: AttemptFailure, backoffMs: number, now = Date.now()): Promise<AttemptFailureResult> {
    const self = this;
    return this.run(function* () {
      const job = self.record((yield op('ExecutionGetByIdForUpdate', { id })).rows[0]);
      if (!job || job.status !== 'RUNNING' || job.leaseOwner !== owner) return { kind: 'lost' } as const;
      return yield* self.endAttempt(job, failure, backoffMs, now);
    }, 'write');
  }

  // Ends a RUNNING attempt that failed on our side, as rules.decideFailure says: QUEUED again
  // after a backoff, FAILED(internal_error) after the last attempt, or FAILED(canceled) when a
  // cancel was asked for. The error is appended to the job's attempt errors in every case.
  private *endAttempt(job: ExecutionRecord, failure: AttemptFailure, delayMs: number, now: number): Body<AttemptFailureResult> {
    const error: AttemptError = { attempt: job.attempt, at: now, code: failure.code, message: failure.message };
    const base = { id: job.id, owner: job.leaseOwner, error: JSON.stringify(error) };
    const decision = decideFailure(job, failure.code, delayMs, now);
    if (decision.kind === 'retry') {
      const { changes } = yield op('ExecutionRequeueAfterFailure', { ...base, runAfter: decision.runAfter });
      return changes === 1 ? { kind: 'retry_scheduled', runAfter: decision.runAfter } : { kind: 'lost' };
    }
    const r = decision.result;
    const { changes } = yield op('ExecutionFailAfterFailure', { ...base, result: JSON.stringify(r), failureReason: r.failureReason, now });
    return changes === 1 ? { kind: 'failed' } : { kind: 'lost' };
  }

  /** Shutdown's hand-back; a job whose cancel was asked for ends FAILED(canceled) instead. */
  async release(id: string, owner: string, now = Date.now()): Promise<boolean> {
    const self = this;
    return this.run(function* () {
      const job = self.record((yield op('ExecutionGetByIdForUpdate', { id })).rows[0]);
      if (!job || job.status !== 'RUNNING' || job.leaseOwner !== owner) return false;
      if (job.cancelRequestedAt !== null) {
        const r = canceledResult('request', true);
        yield op('ExecutionFinishCanceled', { id, owner, result: JSON.stringify(r), failureReason: r.failureReason, now });
        return false;
      }
      return (yield op('ExecutionRelease', { id, owner })).changes === 1;
    }, 'write');
  }

  // One write transaction: the expired rows (PostgreSQL: locked, skipping those another
  // transaction holds) each end their attempt as a transient failure of their owner.
  async rescueExpired(
    now = Date.now(),
    backoff: (attempt: number) => number = (attempt) => defaultBackoffMs(attempt, this.retryBaseMs),
  ): Promise<{ requeued: string[]; failed: string[] }> {
    const self = this;
    return this.run(function* () {
      const requeued: string[] = [];
      const failed: string[] = [];
      for (const row of (yield op('ExecutionListExpiredLeases', { now })).rows) {
        const job = self.driver.toRecord(row);
        const failure = { code: 'lease_expired', message: leaseExpiredMessage(job.leaseOwner, job.leaseExpiresAt) };
        const outcome = yield* self.endAttempt(job, failure, backoff(job.attempt), now);
        if (outcome.kind === 'retry_scheduled') requeued.push(job.id);
        else if (outcome.kind === 'failed') failed.push(job.id);
      }
      return { requeued, failed };
    }, 'write');
  }

  // ---- cancel -----------------------------------------------------------------------------------

  // One write transaction on the row (locked on PostgreSQL): a QUEUED job ends now; a RUNNING one
  // is flagged, and its executor (wherever it runs) hears the "cancel" event and stops it. A
  // cancel racing with a claim or a finish ends in exactly one terminal state: whichever
  // statement commits first decides, and the other one's guard (status) no longer matches.
  async cancel(id: string, now = Date.now()): Promise<CancelOutcome> {
    const self = this;
    return this.run(function* (): Body<CancelOutcome> {
      const job = self.record((yield op('ExecutionGetByIdForUpdate', { id })).rows[0]);
      if (!job) return { kind: 'not_found' };
      const reread = function* (): Body<ExecutionRecord> {
        return self.driver.toRecord((yield op('ExecutionGetById', { id })).rows[0]!);
      };
      if (job.status === 'QUEUED') {
        const r = canceledResult('request', false);
        yield op('ExecutionCancelQueued', { id, result: JSON.stringify(r), failureReason: r.failureReason, now });
        return { kind: 'canceled', execution: yield* reread() };
      }
      if (job.status === 'RUNNING') {
        if (job.cancelRequestedAt === null) yield op('ExecutionRequestCancel', { id, now });
        return { kind: 'cancel_requested', execution: yield* reread() };
      }
      if (job.result?.failureReason === 'canceled') return { kind: 'already_canceled', execution: job };
      return { kind: 'finished', execution: job };
    }, 'write');
  }

  async cancelRequested(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    return this.run(function* () {
      return (yield op('ExecutionListCancelRequested', { ids: JSON.stringify(ids) })).rows.map((r) => String(r.id));
    }, 'single', false);
  }

  async cancelQueuedForSession(sessionId: string, now = Date.now()): Promise<number> {
    const r = canceledResult('session_closed', false);
    return this.run(function* () {
      return (yield op('ExecutionCancelQueuedForSession', { sessionId, result: JSON.stringify(r), failureReason: r.failureReason, now })).changes;
    }, 'single');
  }

  // ---- housekeeping -----------------------------------------------------------------------------

  // Small batches, each its own statement and its own turn of the event loop: claims are never
  // held up behind a big delete, nor (on SQLite, whose statements run on the event loop) is any
  // request of this process. Deleting an hour of executions at once took 6 µs a row there: 0.9 s
  // of a stopped event loop at 40 runs/s.
  async prune(before: number, now = Date.now()): Promise<number> {
    const pruned = await this.deleteInBatches('ExecutionPruneBatch', before);
    await this.deleteInBatches('EventPruneBatch', now - EVENT_RETENTION_MS);
    return pruned;
  }

  /** Runs a delete of up to PRUNE_BATCH rows until one deletes fewer; returns how many it deleted. */
  private async deleteInBatches(name: 'ExecutionPruneBatch' | 'EventPruneBatch', before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const changes = await this.run(function* () {
        return (yield op(name, { before, batch: PRUNE_BATCH })).changes;
      }, 'single', false);
      total += changes;
      if (changes < PRUNE_BATCH) return total;
      await nextTurn();
    }
  }

  async readiness(now = Date.now()): Promise<QueueReadiness> {
    const staleBefore = now - this.executorStaleMs;
    return this.run(function* (): Body<QueueReadiness> {
      const live = new Map<unknown, number>();
      for (const r of (yield op('StatsCountLive')).rows) live.set(r.status, Number(r.n));
      const queuedAt = (yield op('StatsOldestQueuedAt')).rows[0]?.queuedAt;
      return {
        queued: live.get('QUEUED') ?? 0,
        running: live.get('RUNNING') ?? 0,
        oldestQueuedAgeMs: ageOf(queuedAt, now),
        executors: yield* listExecutors(staleBefore),
      };
    }, 'read');
  }

  // One read snapshot: the counts, ages and lists agree with each other.
  async stats(now = Date.now()): Promise<QueueStats> {
    const staleBefore = now - this.executorStaleMs;
    return this.run(function* (): Body<QueueStats> {
      const counts = Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, 0])) as Record<ExecutionStatus, number>;
      for (const r of (yield op('StatsCountByStatus')).rows) counts[r.status as ExecutionStatus] = Number(r.n);
      const queuedAt = (yield op('StatsOldestQueuedAt')).rows[0]?.queuedAt;
      const executors = yield* listExecutors(staleBefore);
      const apiNodes = yield* listApiNodes(staleBefore);
      const recentFailures = (yield op('StatsRecentFailures', { limit: RECENT_FAILURES })).rows.map((r) => ({
        id: String(r.id),
        finishedAt: Number(r.finishedAt),
        failureReason: r.failureReason === null || r.failureReason === undefined ? null : String(r.failureReason),
      }));
      return {
        counts,
        oldestQueuedAgeMs: ageOf(queuedAt, now),
        executors,
        apiNodes,
        recentFailures,
      };
    }, 'read');
  }

  heartbeat(info: ExecutorInfo): Promise<void> {
    return this.registry.executorHeartbeat(info);
  }

  removeExecutor(id: string): Promise<void> {
    return this.registry.removeExecutor(id);
  }

  apiNodeHeartbeat(info: ApiNodeInfo): Promise<void> {
    return this.registry.apiNodeHeartbeat(info);
  }

  removeApiNode(id: string): Promise<void> {
    return this.registry.removeApiNode(id);
  }

  // Rows queued by a codexec older than plans carry their request's pieces instead: each gets the
  // plan `planner` makes from them (null: it cannot be planned here, e.g. its language is gone;
  // it stays, and an executor fails it). Idempotent: a row that already has a plan is skipped.
  async planLegacy(planner: (legacy: LegacyJob) => ExecutionPlan | null): Promise<number> {
    const legacy = await this.run(function* () {
      return (yield op('ExecutionListLegacyUnplanned')).rows;
    }, 'single', false);
    let planned = 0;
    for (const row of legacy) {
      const plan = planner({
        id: String(row.id),
        language: String(row.language),
        stdin: textOf(row.stdin),
        expectedOutput: row.expected_output === null ? null : textOf(row.expected_output),
        limitOverrides: (typeof row.limit_overrides === 'string' ? JSON.parse(row.limit_overrides) : row.limit_overrides) as LegacyJob['limitOverrides'],
      });
      if (!plan) continue;
      planned += await this.run(function* () {
        return (yield op('ExecutionSetPlan', { id: row.id, plan: JSON.stringify(plan) })).changes;
      }, 'single', false);
    }
    return planned;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.events.close();
    await this.driver.close();
  }
}

function textOf(v: unknown): string {
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v ?? '');
}

/** How long ago `at` (epoch ms, or nothing) was, never negative. */
function ageOf(at: unknown, now: number): number | null {
  return at === null || at === undefined ? null : Math.max(0, now - Number(at));
}
