// Every SQL statement of the PostgreSQL job store, in one place, with the same names as the
// SQLite store's (src/queue/sqlite/sql.ts) plus the locks PostgreSQL needs, and one params object
// bound by @name (compiled to $1, $2, ... below). Times are epoch ms in BIGINT columns. The
// schema and its invariants are in migrations.ts.
//
// Wakes: every statement that changes a job's status, or makes one claimable, calls
// pg_notify(JOBS_CHANNEL) itself, only when it changed a row, so no caller can forget it.
// PostgreSQL delivers the notification when the transaction commits (a statement on its own is
// its own transaction), and folds identical notifications of one transaction into one.
// Heartbeats and lease renewals change no status and do not notify.
//
// Locks: a statement or transaction that waits for more than one lock takes them in one fixed
// order (advisory session lock, then the queue-depth lock; execution rows by seq), and every
// other multi-row lock is taken with SKIP LOCKED, which never waits. So no two transactions of
// this store can deadlock, and the store needs no retry loop.

/** The LISTEN/NOTIFY channel on which every status change of a job is announced (empty payload). */
export const JOBS_CHANNEL = 'codexec_jobs';

const NOTIFY = `pg_notify('${JOBS_CHANNEL}', '')`;

// Advisory locks use the two-int form: the first key is codexec's namespace, so they cannot
// collide with other applications' single-bigint advisory locks in the same database.
/** 'cdxq' as an int4: the namespace of codexec's advisory locks. */
export const ADVISORY_NAMESPACE = 0x63647871;
/** Second keys within the namespace; sessions use hashtext(session id) in ADVISORY_SESSION_NAMESPACE. */
export const ADVISORY_KEY_MIGRATIONS = 1;
export const ADVISORY_KEY_QUEUE_DEPTH = 2;
/** 'cdxs': per-session locks, keyed by hashtext(session_id) (a collision only serializes two sessions). */
export const ADVISORY_SESSION_NAMESPACE = 0x63647873;

export const SQL = {
  // ---- locks (transaction-scoped: released at COMMIT or ROLLBACK) --------------------------------

  /**
   * Serializes the enqueues of one session, so that its idempotency lookup, in-flight count and
   * insert see one state no other enqueue of the session can change in between (the SQLite store
   * gets the same from its IMMEDIATE transaction). Taken before LockQueueDepth, never after.
   */
  LockSession: `SELECT pg_advisory_xact_lock(${ADVISORY_SESSION_NAMESPACE}, hashtext(@sessionId))`,

  /** Serializes the enqueues that check maxQueueDepth: their count and insert are one step. */
  LockQueueDepth: `SELECT pg_advisory_xact_lock(${ADVISORY_NAMESPACE}, ${ADVISORY_KEY_QUEUE_DEPTH})`,

  /** Serializes migrations of processes starting at once (see migrations.ts). */
  LockMigrations: `SELECT pg_advisory_xact_lock(${ADVISORY_NAMESPACE}, ${ADVISORY_KEY_MIGRATIONS})`,

  // ---- executions: create and read ----------------------------------------------------------

  ExecutionInsert: `
    WITH inserted AS (
      INSERT INTO executions (id, session_id, language, source_code, stdin, expected_output, limit_overrides,
                              status, attempt, max_attempts, idempotency_key, request_hash, run_after, queued_at)
      VALUES (@id, @sessionId, @language, @sourceCode, @stdin, @expectedOutput, @limitOverrides,
              'QUEUED', 0, @maxAttempts, @idempotencyKey, @requestHash, @now, @now)
      RETURNING *
    )
    SELECT inserted.*, ${NOTIFY} AS notified FROM inserted`,

  ExecutionGetById: `SELECT * FROM executions WHERE id = @id`,

  /** The row of a job about to be failed, locked until the transaction ends. */
  ExecutionGetByIdForUpdate: `SELECT * FROM executions WHERE id = @id FOR UPDATE`,

  ExecutionGetByIdempotencyKey: `
    SELECT * FROM executions WHERE session_id = @sessionId AND idempotency_key = @idempotencyKey`,

  /** Newest first. */
  ExecutionListBySession: `
    SELECT * FROM executions WHERE session_id = @sessionId ORDER BY seq DESC LIMIT @limit`,

  /** The session's QUEUED/RUNNING executions, oldest first (uses executions_session_in_flight). */
  ExecutionListInFlightForSession: `
    SELECT id FROM executions
    WHERE session_id = @sessionId AND status IN ('QUEUED', 'RUNNING')
    ORDER BY seq LIMIT @limit`,

  ExecutionCountQueued: `SELECT COUNT(*) AS n FROM executions WHERE status = 'QUEUED'`,

  // ---- executions: the lifecycle ------------------------------------------------------------

  /**
   * Claim the oldest runnable job. One statement: the subquery walks executions_claim in claim
   * order and locks the first QUEUED row no other transaction holds (FOR UPDATE SKIP LOCKED), so
   * concurrent claimers, in any process on any host, each get a different row and never wait for
   * one another. Under READ COMMITTED a row claimed and committed by someone else after this
   * statement's snapshot is re-checked once locked, no longer matches status = 'QUEUED', and is
   * passed over. The subquery is uncorrelated, so it runs once (an InitPlan) before the update.
   * Order: run_after, then seq, as in the SQLite store.
   */
  ExecutionClaimNext: `
    WITH claimed AS (
      UPDATE executions
      SET status = 'RUNNING',
          attempt = attempt + 1,
          lease_owner = @owner,
          lease_expires_at = @leaseExpiresAt,
          started_at = @now
      WHERE seq = (
        SELECT seq FROM executions
        WHERE status = 'QUEUED' AND run_after <= @now
        ORDER BY run_after, seq
        LIMIT 1
        FOR UPDATE SKIP LOCKED
      )
      RETURNING *
    )
    SELECT claimed.*, ${NOTIFY} AS notified FROM claimed`,

  ExecutionRenewLease: `
    UPDATE executions SET lease_expires_at = @leaseExpiresAt
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner`,

  /**
   * RUNNING -> terminal, only by the lease holder (an expired but not yet rescued lease still
   * counts). failure_reason repeats result.failureReason for StatsRecentFailures (migrations.ts
   * says why it cannot be read out of the JSON).
   */
  ExecutionFinish: `
    WITH finished AS (
      UPDATE executions
      SET status = @status, result = @result, failure_reason = @failureReason, finished_at = @now,
          lease_owner = NULL, lease_expires_at = NULL
      WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner
      RETURNING id
    )
    SELECT id, ${NOTIFY} AS notified FROM finished`,

  /** A transient failure with attempts left: back to QUEUED after a backoff, the error appended. */
  ExecutionRequeueAfterFailure: `
    WITH requeued AS (
      UPDATE executions
      SET status = 'QUEUED', run_after = @runAfter, lease_owner = NULL, lease_expires_at = NULL,
          errors = ${appendError('errors', '@error')}
      WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner AND attempt < max_attempts
      RETURNING id
    )
    SELECT id, ${NOTIFY} AS notified FROM requeued`,

  /** A transient failure of the last attempt: FAILED, the error appended. */
  ExecutionFailExhausted: `
    WITH failed AS (
      UPDATE executions
      SET status = 'FAILED', result = @result, failure_reason = @failureReason, finished_at = @now,
          lease_owner = NULL, lease_expires_at = NULL,
          errors = ${appendError('errors', '@error')}
      WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner AND attempt >= max_attempts
      RETURNING id
    )
    SELECT id, ${NOTIFY} AS notified FROM failed`,

  /**
   * Shutdown hand-back: RUNNING -> QUEUED and the attempt is given back. run_after is kept (it is
   * in the past), so the job keeps its place at the head of the queue.
   */
  ExecutionRelease: `
    WITH released AS (
      UPDATE executions
      SET status = 'QUEUED', attempt = attempt - 1, lease_owner = NULL, lease_expires_at = NULL,
          started_at = CASE WHEN attempt - 1 = 0 THEN NULL ELSE started_at END
      WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner
      RETURNING id
    )
    SELECT id, ${NOTIFY} AS notified FROM released`,

  /**
   * Leases past expiry, locked for the rescuing transaction. SKIP LOCKED: a row another
   * transaction holds (its executor finishing it just now, or the rescuer of another host) is
   * left to that transaction; if it is still expired afterwards, the next rescue takes it.
   * Uses executions_running.
   */
  ExecutionListExpiredLeases: `
    SELECT * FROM executions
    WHERE status = 'RUNNING' AND lease_expires_at < @now
    ORDER BY lease_expires_at, seq
    FOR UPDATE SKIP LOCKED`,

  /**
   * The session's QUEUED jobs -> FAILED(cancelled). The rows are locked in seq order (a claimer
   * holding one makes this wait, then the row, RUNNING by then, is re-checked and left alone), so
   * two cancels of one session cannot deadlock.
   */
  ExecutionCancelQueuedForSession: `
    WITH cancelled AS (
      UPDATE executions
      SET status = 'FAILED', result = @result, failure_reason = @failureReason, finished_at = @now
      WHERE seq IN (
        SELECT seq FROM executions
        WHERE session_id = @sessionId AND status = 'QUEUED'
        ORDER BY seq
        FOR UPDATE
      )
      RETURNING id
    ), counted AS (SELECT COUNT(*) AS n FROM cancelled)
    SELECT n, CASE WHEN n > 0 THEN ${NOTIFY} END AS notified FROM counted`,

  /**
   * Delete up to @batch terminal executions finished before @before. Callers loop: small batches
   * keep each transaction short. SKIP LOCKED: two pruners (two hosts) take disjoint batches
   * instead of waiting on, or deadlocking over, each other's rows.
   */
  ExecutionPruneBatch: `
    DELETE FROM executions
    WHERE seq IN (
      SELECT seq FROM executions
      WHERE finished_at IS NOT NULL AND finished_at < @before -- terminal: a CHECK ties finished_at to it
      LIMIT @batch
      FOR UPDATE SKIP LOCKED
    )`,

  // ---- stats (quoted aliases: PostgreSQL folds unquoted names to lower case) ---------------------

  StatsCountByStatus: `SELECT status, COUNT(*) AS n FROM executions GROUP BY status`,

  StatsOldestQueuedAt: `SELECT MIN(queued_at) AS "queuedAt" FROM executions WHERE status = 'QUEUED'`,

  /** Walks the partial index executions_failures backwards and stops after @limit rows. */
  StatsRecentFailures: `
    SELECT id, finished_at AS "finishedAt", failure_reason AS "failureReason"
    FROM executions
    WHERE status IN ('FAILED', 'TIMEOUT')
    ORDER BY finished_at DESC, seq DESC
    LIMIT @limit`,

  // ---- executors --------------------------------------------------------------------------------

  ExecutorUpsert: `
    INSERT INTO executors (id, hostname, pid, slots, busy, started_at, heartbeat_at)
    VALUES (@id, @hostname, @pid, @slots, @busy, @startedAt, @heartbeatAt)
    ON CONFLICT (id) DO UPDATE SET
      hostname = excluded.hostname, pid = excluded.pid, slots = excluded.slots, busy = excluded.busy,
      started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,

  /**
   * Executors whose heartbeat stopped long ago are gone (killed, host died): forget them. SKIP
   * LOCKED and not ourselves: two executors heartbeating at once after a pause (each stale in the
   * other's eyes) would otherwise wait for each other's upserted row, a deadlock.
   */
  ExecutorDeleteStale: `
    DELETE FROM executors
    WHERE id IN (
      SELECT id FROM executors
      WHERE heartbeat_at < @staleBefore AND id <> @id
      FOR UPDATE SKIP LOCKED
    )`,

  ExecutorDelete: `DELETE FROM executors WHERE id = @id`,

  ExecutorListAlive: `
    SELECT id, hostname, pid, slots, busy, started_at AS "startedAt", heartbeat_at AS "heartbeatAt"
    FROM executors WHERE heartbeat_at >= @staleBefore ORDER BY id`,
} as const;

export type StatementName = keyof typeof SQL;

// Appends one error (JSON text) to a json array. The columns are `json`, not `jsonb`, because
// jsonb cannot hold "\u0000", which a program's output or an error message may contain; json has
// no append operator, so the array is rebuilt from its elements in order (none of these
// functions de-escapes strings, which is what fails on "\u0000").
function appendError(column: string, param: string): string {
  return `(
          SELECT json_agg(e ORDER BY n) FROM (
            SELECT e, n FROM json_array_elements(${column}) WITH ORDINALITY AS t (e, n)
            UNION ALL SELECT ${param}::json, 9223372036854775807
          ) AS appended
        )`;
}

export interface CompiledStatement {
  /** Name of the server-side prepared statement (one per connection, prepared on first use). */
  name: string;
  text: string;
  /** Parameter names in $n order. */
  params: readonly string[];
}

/** Rewrites @name placeholders as $1, $2, ... (one number per distinct name). */
export function compileNamed(name: string, sql: string): CompiledStatement {
  const params: string[] = [];
  const text = sql.replace(/@([A-Za-z_]\w*)/g, (_m, param: string) => {
    let i = params.indexOf(param);
    if (i < 0) i = params.push(param) - 1;
    return `$${i + 1}`;
  });
  return { name: `codexec_${name}`, text, params };
}

export const STATEMENTS: { readonly [K in StatementName]: CompiledStatement } = Object.fromEntries(
  Object.entries(SQL).map(([name, sql]) => [name, compileNamed(name, sql)]),
) as { [K in StatementName]: CompiledStatement };

/** The values of `statement`'s parameters, in order; a missing one is a bug, not a NULL. */
export function bindValues(statement: CompiledStatement, params: Record<string, unknown>): unknown[] {
  return statement.params.map((p) => {
    if (!(p in params) || params[p] === undefined) throw new Error(`${statement.name}: parameter @${p} is missing`);
    return params[p];
  });
}
