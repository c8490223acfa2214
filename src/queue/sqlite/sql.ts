// Every SQL statement of the SQLite job store, in one place, each with a name (the PostgreSQL
// store will use the same names) and one params object bound by @name. Times are epoch ms.
// The schema and its invariants are in migrations.ts.

export const SQL = {
  // ---- executions: create and read ----------------------------------------------------------

  ExecutionInsert: `
    INSERT INTO executions (id, session_id, language, source_code, stdin, expected_output, limit_overrides,
                            status, attempt, max_attempts, idempotency_key, request_hash, run_after, queued_at)
    VALUES (@id, @sessionId, @language, @sourceCode, @stdin, @expectedOutput, @limitOverrides,
            'QUEUED', 0, @maxAttempts, @idempotencyKey, @requestHash, @now, @now)
    RETURNING *`,

  ExecutionGetById: `SELECT * FROM executions WHERE id = @id`,

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
   * Claim the oldest runnable job. One statement, atomic without a lock: SQLite has one writer
   * at a time, and an UPDATE takes the database's write lock before it evaluates its WHERE
   * clause, so the subquery's pick and the update happen with no other writer in between; a
   * second claimer (another connection, thread or process) waits on busy_timeout and then sees
   * the row already RUNNING. This is what `FOR UPDATE SKIP LOCKED` does on PostgreSQL.
   * Index: executions_claim (status, run_after, seq), the same order as the ORDER BY.
   */
  ExecutionClaimNext: `
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
    )
    RETURNING *`,

  ExecutionRenewLease: `
    UPDATE executions SET lease_expires_at = @leaseExpiresAt
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner`,

  /** RUNNING -> terminal, only by the lease holder (an expired but not yet rescued lease still counts). */
  ExecutionFinish: `
    UPDATE executions
    SET status = @status, result = @result, finished_at = @now, lease_owner = NULL, lease_expires_at = NULL
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner`,

  /** A transient failure with attempts left: back to QUEUED after a backoff, the error appended. */
  ExecutionRequeueAfterFailure: `
    UPDATE executions
    SET status = 'QUEUED', run_after = @runAfter, lease_owner = NULL, lease_expires_at = NULL,
        errors = json_insert(errors, '$[#]', json(@error))
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner AND attempt < max_attempts`,

  /** A transient failure of the last attempt: FAILED, the error appended. */
  ExecutionFailExhausted: `
    UPDATE executions
    SET status = 'FAILED', result = @result, finished_at = @now, lease_owner = NULL, lease_expires_at = NULL,
        errors = json_insert(errors, '$[#]', json(@error))
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner AND attempt >= max_attempts`,

  /**
   * Shutdown hand-back: RUNNING -> QUEUED and the attempt is given back. run_after is kept (it is
   * in the past), so the job keeps its place at the head of the queue.
   */
  ExecutionRelease: `
    UPDATE executions
    SET status = 'QUEUED', attempt = attempt - 1, lease_owner = NULL, lease_expires_at = NULL,
        started_at = CASE WHEN attempt - 1 = 0 THEN NULL ELSE started_at END
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner`,

  /** Leases past expiry. */
  ExecutionListExpiredLeases: `
    SELECT * FROM executions
    WHERE status = 'RUNNING' AND lease_expires_at < @now
    ORDER BY lease_expires_at`,

  ExecutionCancelQueuedForSession: `
    UPDATE executions
    SET status = 'FAILED', result = @result, finished_at = @now
    WHERE session_id = @sessionId AND status = 'QUEUED'`,

  /**
   * Delete up to @batch terminal executions finished before @before. Callers loop: small batches
   * keep each write transaction short, so claims are never held up behind a big delete.
   */
  ExecutionPruneBatch: `
    DELETE FROM executions
    WHERE seq IN (
      SELECT seq FROM executions
      WHERE finished_at IS NOT NULL AND finished_at < @before -- terminal: a CHECK ties finished_at to it
      LIMIT @batch
    )`,

  // ---- stats ------------------------------------------------------------------------------------

  StatsCountByStatus: `SELECT status, COUNT(*) AS n FROM executions GROUP BY status`,

  StatsOldestQueuedAt: `SELECT MIN(queued_at) AS queuedAt FROM executions WHERE status = 'QUEUED'`,

  StatsRecentFailures: `
    SELECT id, finished_at AS finishedAt, json_extract(result, '$.failureReason') AS failureReason
    -- Walks the partial index backwards and stops after @limit rows; left to itself the planner
    -- may pick executions_claim and sort every failure ever kept.
    FROM executions INDEXED BY executions_failures
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

  /** Executors whose heartbeat stopped long ago are gone (killed, host died): forget them. */
  ExecutorDeleteStale: `DELETE FROM executors WHERE heartbeat_at < @staleBefore`,

  ExecutorDelete: `DELETE FROM executors WHERE id = @id`,

  ExecutorListAlive: `
    SELECT id, hostname, pid, slots, busy, started_at AS startedAt, heartbeat_at AS heartbeatAt
    FROM executors WHERE heartbeat_at >= @staleBefore ORDER BY id`,
} as const;

export type StatementName = keyof typeof SQL;
