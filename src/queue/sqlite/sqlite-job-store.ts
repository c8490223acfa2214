import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
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
import { migrate } from './migrations.js';
import { DEFAULT_EXECUTOR_STALE_MS, DEFAULT_RETRY_BASE_MS, PRUNE_BATCH, QUEUE_FULL_RETRY_AFTER_SECONDS, RECENT_FAILURES, type JobStoreOptions } from '../store-common.js';
import { rowToRecord, type ExecutionRow } from './rows.js';
import { SQL, type StatementName } from './sql.js';

export interface SqliteJobStoreOptions extends JobStoreOptions {
  /** How long a write waits for another connection's write lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
}


type Statements = { [K in StatementName]: Database.Statement };

/** Page cache of the job database connection (each process has one). */
export const JOB_DB_CACHE_KIB = 4096;

// The job queue in one SQLite file, shared by every process on the machine (API, embedded and
// standalone executors, the CLI). better-sqlite3 is synchronous: each method does its database
// work in one go, inside one transaction when it takes more than one statement, so the event loop
// is never left holding a transaction open across an await.
export class SqliteJobStore implements JobStore {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly st: Statements;
  private readonly executorStaleMs: number;
  private readonly retryBaseMs: number;
  private closed = false;

  private readonly enqueueTx: Database.Transaction<(input: NewExecution, opts: EnqueueOptions, now: number) => EnqueueResult>;
  private readonly failAttemptTx: Database.Transaction<
    (id: string, owner: string, failure: AttemptFailure, delayMs: number, now: number) => AttemptFailureResult
  >;
  private readonly rescueTx: Database.Transaction<
    (now: number, backoff: (attempt: number) => number) => { requeued: string[]; failed: string[] }
  >;
  private readonly statsTx: Database.Transaction<(now: number) => QueueStats>;
  private readonly heartbeatTx: Database.Transaction<(info: ExecutorInfo) => void>;

  /** Opens (creating the directory and file if needed) and migrates the database at `file`. */
  static open(file: string, opts: SqliteJobStoreOptions = {}): SqliteJobStore {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    // `timeout` is SQLite's busy_timeout: a writer waits this long for the lock instead of failing
    // at once with SQLITE_BUSY when another process is writing.
    const db = new Database(file, { timeout: opts.busyTimeoutMs ?? 5000 });
    try {
      // WAL: readers never block the writer nor the writer readers, and a commit is one append.
      db.pragma('journal_mode = WAL');
      // synchronous=NORMAL under WAL fsyncs the WAL only at checkpoints, not at every commit. A
      // commit is complete once written to the WAL file (in the OS page cache), so kill -9 of any
      // process, at any moment, loses nothing committed and never corrupts the database: the OS
      // still holds the written pages. Only an OS crash or power loss can drop the last commits
      // (rolled back to a consistent earlier state, never corrupt). FULL would fsync every commit
      // for that case, at a large cost in claim and enqueue throughput.
      db.pragma('synchronous = NORMAL');
      // SQLite's page cache is memory of this process that only grows until full: better-sqlite3
      // defaults it to 16 MiB, so RSS rose ~1 KiB per run (a result row) for the first ~16k runs
      // (bench/memory.mjs, 20,000 runs). The queue's hot set is small (the claim index and
      // recent rows); older rows come from the OS page cache. Negative: KiB.
      db.pragma(`cache_size = -${JOB_DB_CACHE_KIB}`);
      db.pragma('foreign_keys = ON');
      migrate(db);
      return new SqliteJobStore(file, db, opts);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private constructor(file: string, db: Database.Database, opts: SqliteJobStoreOptions) {
    this.file = file;
    this.db = db;
    this.executorStaleMs = opts.executorStaleMs ?? DEFAULT_EXECUTOR_STALE_MS;
    this.retryBaseMs = opts.retryBaseMs ?? DEFAULT_RETRY_BASE_MS;
    // Every statement is prepared once, here.
    this.st = Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as Statements;
    this.enqueueTx = db.transaction((input, opts, now) => this.enqueueInTx(input, opts, now));
    this.failAttemptTx = db.transaction((id, owner, failure, delayMs, now) => {
      const row = this.st.ExecutionGetById.get({ id }) as ExecutionRow | undefined;
      if (!row || row.status !== 'RUNNING' || row.lease_owner !== owner) return { kind: 'lost' } as const;
      return this.failRunning(row, owner, failure, delayMs, now);
    });
    this.rescueTx = db.transaction((now, backoff) => {
      const requeued: string[] = [];
      const failed: string[] = [];
      for (const row of this.st.ExecutionListExpiredLeases.all({ now }) as ExecutionRow[]) {
        const failure = {
          code: 'lease_expired',
          message: `the lease of executor ${row.lease_owner} expired at ${new Date(row.lease_expires_at ?? 0).toISOString()}`,
        };
        const outcome = this.failRunning(row, row.lease_owner ?? '', failure, backoff(row.attempt), now);
        if (outcome.kind === 'retry_scheduled') requeued.push(row.id);
        else if (outcome.kind === 'failed') failed.push(row.id);
      }
      return { requeued, failed };
    });
    this.statsTx = db.transaction((now) => this.statsInTx(now));
    this.heartbeatTx = db.transaction((info) => {
      this.st.ExecutorUpsert.run({ ...info });
      this.st.ExecutorDeleteStale.run({ staleBefore: info.heartbeatAt - this.executorStaleMs });
    });
  }

  // IMMEDIATE: the write lock is taken before the checks, so the idempotency lookup, the
  // in-flight and depth limits and the insert see one state that no other process can change
  // in between (a deferred transaction could read, then lose the race to upgrade to a writer).
  async enqueue(input: NewExecution, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    return this.enqueueTx.immediate(input, opts, opts.now ?? Date.now());
  }

  private enqueueInTx(input: NewExecution, opts: EnqueueOptions, now: number): EnqueueResult {
    const idempotencyKey = opts.idempotencyKey ?? null;
    const requestHash = opts.requestHash ?? null;
    if (idempotencyKey !== null) {
      const existing = this.st.ExecutionGetByIdempotencyKey.get({ sessionId: input.sessionId, idempotencyKey }) as
        | ExecutionRow
        | undefined;
      if (existing) {
        if (existing.request_hash !== requestHash) throw new IdempotencyConflictError();
        return { execution: rowToRecord(existing), created: false };
      }
    }
    const maxInFlight = opts.maxInFlightPerSession;
    if (maxInFlight !== undefined && maxInFlight >= 1) {
      const inFlight = this.st.ExecutionListInFlightForSession.all({ sessionId: input.sessionId, limit: maxInFlight }) as {
        id: string;
      }[];
      if (inFlight.length >= maxInFlight) throw new SessionBusyError(inFlight[0].id);
    }
    if (opts.maxQueueDepth !== undefined) {
      const { n } = this.st.ExecutionCountQueued.get() as { n: number };
      if (n >= opts.maxQueueDepth) throw new QueueFullError(n, QUEUE_FULL_RETRY_AFTER_SECONDS);
    }
    const row = this.st.ExecutionInsert.get({
      id: input.id,
      sessionId: input.sessionId,
      language: input.language,
      sourceCode: input.sourceCode,
      stdin: input.stdin,
      expectedOutput: input.expectedOutput,
      limitOverrides: JSON.stringify(input.limitOverrides ?? {}),
      maxAttempts: input.maxAttempts,
      idempotencyKey,
      requestHash,
      now,
    }) as ExecutionRow;
    return { execution: rowToRecord(row), created: true };
  }

  async get(id: string): Promise<ExecutionRecord | null> {
    const row = this.st.ExecutionGetById.get({ id }) as ExecutionRow | undefined;
    return row ? rowToRecord(row) : null;
  }

  async listBySession(sessionId: string, limit: number): Promise<ExecutionRecord[]> {
    return (this.st.ExecutionListBySession.all({ sessionId, limit }) as ExecutionRow[]).map(rowToRecord);
  }

  async claim(owner: string, leaseMs: number, now = Date.now()): Promise<ExecutionRecord | null> {
    const row = this.st.ExecutionClaimNext.get({ owner, leaseExpiresAt: now + leaseMs, now }) as ExecutionRow | undefined;
    return row ? rowToRecord(row) : null;
  }

  async renewLease(id: string, owner: string, leaseMs: number, now = Date.now()): Promise<boolean> {
    return this.st.ExecutionRenewLease.run({ id, owner, leaseExpiresAt: now + leaseMs }).changes === 1;
  }

  async finish(
    id: string,
    owner: string,
    status: Exclude<ExecutionStatus, 'QUEUED' | 'RUNNING'>,
    result: ExecutionResult,
    now = Date.now(),
  ): Promise<boolean> {
    return this.st.ExecutionFinish.run({ id, owner, status, result: JSON.stringify(result), now }).changes === 1;
  }

  async failAttempt(id: string, owner: string, failure: AttemptFailure, backoffMs: number, now = Date.now()): Promise<AttemptFailureResult> {
    return this.failAttemptTx.immediate(id, owner, failure, backoffMs, now);
  }

  // Ends a RUNNING attempt with a transient failure: QUEUED again after `delayMs` with the error
  // appended, or FAILED(internal_error) when it was the last attempt. Runs inside a transaction.
  private failRunning(row: ExecutionRow, owner: string, failure: AttemptFailure, delayMs: number, now: number): AttemptFailureResult {
    const error: AttemptError = { attempt: row.attempt, at: now, code: failure.code, message: failure.message };
    const params = { id: row.id, owner, error: JSON.stringify(error), now };
    if (row.attempt < row.max_attempts) {
      const runAfter = now + Math.max(0, Math.floor(delayMs));
      const changes = this.st.ExecutionRequeueAfterFailure.run({ ...params, runAfter }).changes;
      return changes === 1 ? { kind: 'retry_scheduled', runAfter } : { kind: 'lost' };
    }
    const result = queueFailureResult(
      'internal_error',
      `codexec could not run this execution: ${row.attempt} attempt(s) failed on our side (last: ${failure.code}). ` +
        'This is not a problem with your program; please run it again.',
    );
    const changes = this.st.ExecutionFailExhausted.run({ ...params, result: JSON.stringify(result) }).changes;
    return changes === 1 ? { kind: 'failed' } : { kind: 'lost' };
  }

  async release(id: string, owner: string, _now = Date.now()): Promise<boolean> {
    return this.st.ExecutionRelease.run({ id, owner }).changes === 1;
  }

  async rescueExpired(
    now = Date.now(),
    backoff: (attempt: number) => number = (attempt) => defaultBackoffMs(attempt, this.retryBaseMs),
  ): Promise<{ requeued: string[]; failed: string[] }> {
    return this.rescueTx.immediate(now, backoff);
  }

  async cancelQueuedForSession(sessionId: string, now = Date.now()): Promise<number> {
    const result = queueFailureResult('cancelled', 'the session was closed before this execution ran');
    return this.st.ExecutionCancelQueuedForSession.run({ sessionId, now, result: JSON.stringify(result) }).changes;
  }

  async prune(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const { changes } = this.st.ExecutionPruneBatch.run({ before, batch: PRUNE_BATCH });
      total += changes;
      if (changes < PRUNE_BATCH) return total;
    }
  }

  // One read transaction, so the counts, ages and lists are one consistent snapshot.
  async stats(now = Date.now()): Promise<QueueStats> {
    return this.statsTx.deferred(now);
  }

  private statsInTx(now: number): QueueStats {
    const counts = Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, 0])) as Record<ExecutionStatus, number>;
    for (const { status, n } of this.st.StatsCountByStatus.all() as { status: ExecutionStatus; n: number }[]) counts[status] = n;
    const { queuedAt } = this.st.StatsOldestQueuedAt.get() as { queuedAt: number | null };
    return {
      counts,
      oldestQueuedAgeMs: queuedAt === null ? null : Math.max(0, now - queuedAt),
      executors: this.st.ExecutorListAlive.all({ staleBefore: now - this.executorStaleMs }) as ExecutorInfo[],
      recentFailures: this.st.StatsRecentFailures.all({ limit: RECENT_FAILURES }) as QueueStats['recentFailures'],
    };
  }

  async heartbeat(info: ExecutorInfo): Promise<void> {
    this.heartbeatTx.immediate(info);
  }

  async removeExecutor(id: string): Promise<void> {
    this.st.ExecutorDelete.run({ id });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Lets SQLite refresh its planner statistics if this connection's queries would benefit.
    this.db.pragma('optimize');
    this.db.close();
  }
}
