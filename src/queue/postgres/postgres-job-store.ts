import pg from 'pg';
import { IdempotencyConflictError, QueueFullError, SessionBusyError } from '../../domain/errors.js';
import type { AttemptError, ExecutionRecord, ExecutionResult } from '../../domain/execution.js';
import { EXECUTION_STATUSES, type ExecutionStatus } from '../../domain/states.js';
import { backoffMs as defaultBackoffMs } from '../backoff.js';
import { queueFailureResult } from '../failure-result.js';
import type {
  AttemptFailure,
  AttemptFailureResult,
  EnqueueOptions,
  EnqueueResult,
  ExecutorInfo,
  JobStore,
  NewExecution,
  QueueStats,
} from '../job-store.js';
import { DEFAULT_EXECUTOR_STALE_MS, DEFAULT_RETRY_BASE_MS, PRUNE_BATCH, QUEUE_FULL_RETRY_AFTER_SECONDS, RECENT_FAILURES, type JobStoreOptions } from '../store-common.js';
import { rethrowUnavailable } from './connection-errors.js';
import { migrate } from './migrations.js';
import { PG_TYPES, rowToRecord, textToBytes, type ExecutionRow } from './rows.js';
import { bindValues, STATEMENTS, type StatementName } from './sql.js';

export { JOBS_CHANNEL } from './sql.js';

export interface PostgresJobStoreOptions extends JobStoreOptions {
  /** Connections of this process's pool. Default 10. */
  poolSize?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;

/** Runs one named statement on a connection (a pooled client or the pool itself). */
type Run = <R extends pg.QueryResultRow>(name: StatementName, params?: Record<string, unknown>) => Promise<pg.QueryResult<R>>;

// The job queue in one PostgreSQL database, shared by processes on any number of hosts. The same
// behaviour as the SQLite store (one conformance suite runs against both); what SQLite gets from
// having one writer at a time, this store gets from row locks with SKIP LOCKED (claim, rescue,
// prune) and advisory locks (enqueue limits). sql.ts says how each statement stays atomic and why
// none of them can deadlock. A method that needs more than one statement runs them in one
// transaction on one pooled connection; a single statement runs on any connection of the pool.
export class PostgresJobStore implements JobStore {
  private readonly pool: pg.Pool;
  /** One statement, autocommitted, on any pooled connection. */
  private readonly run: Run;
  private readonly executorStaleMs: number;
  private readonly retryBaseMs: number;
  private closed = false;

  /** Connects to `url` and migrates its database (the first schema of its search_path). */
  static async open(url: string, opts: PostgresJobStoreOptions = {}): Promise<PostgresJobStore> {
    // A host that drops packets must not hang startup or a claim forever: connecting gives up
    // after CONNECT_TIMEOUT_MS and the caller sees an error (startup: database_unavailable).
    const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    // An idle connection that breaks (server restart, network) is removed from the pool, which
    // emits 'error'; without a listener that would crash the process. The next query reconnects,
    // and a query that fails reports its own error to its caller.
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await migrate(client);
      } catch (err) {
        broken = err instanceof Error ? err : new Error(String(err));
        throw err;
      } finally {
        client.release(broken);
      }
      return new PostgresJobStore(pool, opts);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  private constructor(pool: pg.Pool, opts: PostgresJobStoreOptions) {
    this.pool = pool;
    this.run = this.runner(pool);
    this.executorStaleMs = opts.executorStaleMs ?? DEFAULT_EXECUTOR_STALE_MS;
    this.retryBaseMs = opts.retryBaseMs ?? DEFAULT_RETRY_BASE_MS;
  }

  // ---- connections ----------------------------------------------------------------------------

  private runner(conn: pg.Pool | pg.PoolClient): Run {
    return (name, params = {}) => {
      const statement = STATEMENTS[name];
      return conn.query({ name: statement.name, text: statement.text, values: bindValues(statement, params), types: PG_TYPES }).catch(rethrowUnavailable);
    };
  }

  // Runs `fn` in one transaction on one pooled connection: COMMIT when it returns, ROLLBACK when
  // it throws. A connection whose ROLLBACK fails is discarded rather than returned to the pool.
  private async transaction<T>(fn: (run: Run) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    const client = await this.pool.connect().catch(rethrowUnavailable);
    let broken: Error | undefined;
    try {
      await client.query(begin);
      const out = await fn(this.runner(client));
      await client.query('COMMIT');
      return out;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      }
      rethrowUnavailable(err); // BEGIN or COMMIT on a lost connection; statements are mapped already
    } finally {
      client.release(broken);
    }
  }

  // ---- executions -----------------------------------------------------------------------------

  // With no idempotency key and no limit the insert is one statement on its own. Otherwise, one
  // transaction under advisory locks: the session's lock, then (when maxQueueDepth is given) the
  // queue-depth lock, always in this order. Held until COMMIT, they make the idempotency lookup,
  // the in-flight and depth checks and the insert one step no other enqueue of the session (or
  // depth-checking enqueue) can interleave with; each statement after the lock sees everything
  // committed before it was granted (READ COMMITTED takes a snapshot per statement). Claims and
  // finishes running meanwhile only lower the counts, so a check can only be conservative. The
  // unique index executions_idempotency stays as the schema's guarantee.
  async enqueue(input: NewExecution, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    const now = opts.now ?? Date.now();
    const idempotencyKey = opts.idempotencyKey ?? null;
    const requestHash = opts.requestHash ?? null;
    const maxInFlight = opts.maxInFlightPerSession;
    const limitsInFlight = maxInFlight !== undefined && maxInFlight >= 1;
    const maxQueueDepth = opts.maxQueueDepth;
    const insert = async (run: Run): Promise<EnqueueResult> => {
      const { rows } = await run<ExecutionRow>('ExecutionInsert', {
        id: input.id,
        sessionId: input.sessionId,
        language: input.language,
        sourceCode: textToBytes(input.sourceCode),
        stdin: textToBytes(input.stdin),
        expectedOutput: input.expectedOutput === null ? null : textToBytes(input.expectedOutput),
        limitOverrides: JSON.stringify(input.limitOverrides ?? {}),
        maxAttempts: input.maxAttempts,
        idempotencyKey,
        requestHash,
        now,
      });
      return { execution: rowToRecord(rows[0]), created: true };
    };
    if (idempotencyKey === null && !limitsInFlight && maxQueueDepth === undefined) return insert(this.run);

    return this.transaction(async (run) => {
      if (idempotencyKey !== null || limitsInFlight) await run('LockSession', { sessionId: input.sessionId });
      if (idempotencyKey !== null) {
        const { rows } = await run<ExecutionRow>('ExecutionGetByIdempotencyKey', { sessionId: input.sessionId, idempotencyKey });
        const existing = rows[0];
        if (existing) {
          if (existing.request_hash !== requestHash) throw new IdempotencyConflictError();
          return { execution: rowToRecord(existing), created: false };
        }
      }
      if (limitsInFlight) {
        const { rows } = await run<{ id: string }>('ExecutionListInFlightForSession', { sessionId: input.sessionId, limit: maxInFlight });
        if (rows.length >= maxInFlight) throw new SessionBusyError(rows[0].id);
      }
      if (maxQueueDepth !== undefined) {
        await run('LockQueueDepth');
        const { rows } = await run<{ n: number }>('ExecutionCountQueued');
        const n = rows[0].n;
        if (n >= maxQueueDepth) throw new QueueFullError(n, QUEUE_FULL_RETRY_AFTER_SECONDS);
      }
      return insert(run);
    });
  }

  async get(id: string): Promise<ExecutionRecord | null> {
    const { rows } = await this.run<ExecutionRow>('ExecutionGetById', { id });
    return rows[0] ? rowToRecord(rows[0]) : null;
  }

  async listBySession(sessionId: string, limit: number): Promise<ExecutionRecord[]> {
    const { rows } = await this.run<ExecutionRow>('ExecutionListBySession', { sessionId, limit });
    return rows.map(rowToRecord);
  }

  async claim(owner: string, leaseMs: number, now = Date.now()): Promise<ExecutionRecord | null> {
    const { rows } = await this.run<ExecutionRow>('ExecutionClaimNext', { owner, leaseExpiresAt: now + leaseMs, now });
    return rows[0] ? rowToRecord(rows[0]) : null;
  }

  async renewLease(id: string, owner: string, leaseMs: number, now = Date.now()): Promise<boolean> {
    return (await this.run('ExecutionRenewLease', { id, owner, leaseExpiresAt: now + leaseMs })).rowCount === 1;
  }

  async finish(
    id: string,
    owner: string,
    status: Exclude<ExecutionStatus, 'QUEUED' | 'RUNNING'>,
    result: ExecutionResult,
    now = Date.now(),
  ): Promise<boolean> {
    const params = { id, owner, status, result: JSON.stringify(result), failureReason: result.failureReason ?? null, now };
    return (await this.run('ExecutionFinish', params)).rowCount === 1;
  }

  // The row is locked (FOR UPDATE) while the attempt count decides between a retry and FAILED.
  async failAttempt(id: string, owner: string, failure: AttemptFailure, backoffMs: number, now = Date.now()): Promise<AttemptFailureResult> {
    return this.transaction(async (run) => {
      const row = (await run<ExecutionRow>('ExecutionGetByIdForUpdate', { id })).rows[0];
      if (!row || row.status !== 'RUNNING' || row.lease_owner !== owner) return { kind: 'lost' } as const;
      return this.failRunning(run, row, owner, failure, backoffMs, now);
    });
  }

  // Ends a RUNNING attempt with a transient failure: QUEUED again after `delayMs` with the error
  // appended, or FAILED(internal_error) when it was the last attempt. The caller holds the row lock.
  private async failRunning(
    run: Run,
    row: ExecutionRow,
    owner: string,
    failure: AttemptFailure,
    delayMs: number,
    now: number,
  ): Promise<AttemptFailureResult> {
    const error: AttemptError = { attempt: row.attempt, at: now, code: failure.code, message: failure.message };
    const params = { id: row.id, owner, error: JSON.stringify(error) };
    if (row.attempt < row.max_attempts) {
      const runAfter = now + Math.max(0, Math.floor(delayMs));
      const { rowCount } = await run('ExecutionRequeueAfterFailure', { ...params, runAfter });
      return rowCount === 1 ? { kind: 'retry_scheduled', runAfter } : { kind: 'lost' };
    }
    const result = queueFailureResult(
      'internal_error',
      `codexec could not run this execution: ${row.attempt} attempt(s) failed on our side (last: ${failure.code}). ` +
        'This is not a problem with your program; please run it again.',
    );
    const { rowCount } = await run('ExecutionFailExhausted', {
      ...params,
      now,
      result: JSON.stringify(result),
      failureReason: result.failureReason,
    });
    return rowCount === 1 ? { kind: 'failed' } : { kind: 'lost' };
  }

  async release(id: string, owner: string, _now = Date.now()): Promise<boolean> {
    return (await this.run('ExecutionRelease', { id, owner })).rowCount === 1;
  }

  // One transaction: the expired rows are locked (skipping those another transaction holds), then
  // each is requeued or failed like a transient failure of its owner.
  async rescueExpired(
    now = Date.now(),
    backoff: (attempt: number) => number = (attempt) => defaultBackoffMs(attempt, this.retryBaseMs),
  ): Promise<{ requeued: string[]; failed: string[] }> {
    return this.transaction(async (run) => {
      const requeued: string[] = [];
      const failed: string[] = [];
      for (const row of (await run<ExecutionRow>('ExecutionListExpiredLeases', { now })).rows) {
        const failure = {
          code: 'lease_expired',
          message: `the lease of executor ${row.lease_owner} expired at ${new Date(row.lease_expires_at ?? 0).toISOString()}`,
        };
        const outcome = await this.failRunning(run, row, row.lease_owner ?? '', failure, backoff(row.attempt), now);
        if (outcome.kind === 'retry_scheduled') requeued.push(row.id);
        else if (outcome.kind === 'failed') failed.push(row.id);
      }
      return { requeued, failed };
    });
  }

  async cancelQueuedForSession(sessionId: string, now = Date.now()): Promise<number> {
    const result = queueFailureResult('cancelled', 'the session was closed before this execution ran');
    const { rows } = await this.run<{ n: number }>('ExecutionCancelQueuedForSession', {
      sessionId,
      now,
      result: JSON.stringify(result),
      failureReason: result.failureReason,
    });
    return rows[0].n;
  }

  async prune(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const changes = (await this.run('ExecutionPruneBatch', { before, batch: PRUNE_BATCH })).rowCount ?? 0;
      total += changes;
      if (changes < PRUNE_BATCH) return total;
    }
  }

  // One read-only REPEATABLE READ transaction, so the counts, ages and lists are one consistent
  // snapshot (read-only: it can never fail with a serialization error).
  async stats(now = Date.now()): Promise<QueueStats> {
    return this.transaction(async (run) => {
      const counts = Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, 0])) as Record<ExecutionStatus, number>;
      for (const { status, n } of (await run<{ status: ExecutionStatus; n: number }>('StatsCountByStatus')).rows) counts[status] = n;
      const { queuedAt } = (await run<{ queuedAt: number | null }>('StatsOldestQueuedAt')).rows[0];
      const staleBefore = now - this.executorStaleMs;
      return {
        counts,
        oldestQueuedAgeMs: queuedAt === null ? null : Math.max(0, now - queuedAt),
        executors: (await run<ExecutorInfo>('ExecutorListAlive', { staleBefore })).rows,
        recentFailures: (await run<QueueStats['recentFailures'][number]>('StatsRecentFailures', { limit: RECENT_FAILURES })).rows,
      };
    }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  // ---- executors ------------------------------------------------------------------------------

  async heartbeat(info: ExecutorInfo): Promise<void> {
    await this.transaction(async (run) => {
      await run('ExecutorUpsert', { ...info });
      await run('ExecutorDeleteStale', { id: info.id, staleBefore: info.heartbeatAt - this.executorStaleMs });
    });
  }

  async removeExecutor(id: string): Promise<void> {
    await this.run('ExecutorDelete', { id });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
