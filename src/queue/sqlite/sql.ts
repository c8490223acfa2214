import type { DialectSql } from '../statements.js';
import { OUTPUT_SQL } from './output-sql.js';
import { WEBHOOK_SQL } from './webhook-sql.js';

// Every SQL statement of the job queue on SQLite, named as in ../statements.ts (which says what
// each does) and bound by @name. The schema, its invariants and the event triggers are in
// migrations.ts. No statement here locks: a write transaction (IMMEDIATE) takes SQLite's one
// write lock before its first statement, and a write statement run alone takes it before it reads
// anything, so every body of the core runs with no other writer, in this process or any other.

// The counts below are bounded (LIMIT): O(limit), never O(queue).
const IN_FLIGHT_FOR = (column: string, param: string, limit: string) =>
  `(SELECT COUNT(*) FROM (SELECT 1 FROM executions WHERE ${column} = ${param} AND status IN ('QUEUED', 'RUNNING') LIMIT COALESCE(${limit}, 0)))`;

// The oldest due QUEUED job's seq: what ExecutionClaimNext and ExecutionFinishAndClaimNext take.
const NEXT_DUE = `SELECT seq FROM executions WHERE status = 'QUEUED' AND run_after <= @now ORDER BY run_after, seq LIMIT 1`;

const QUEUE_SQL = {
  /**
   * One statement, atomic without a lock: an INSERT takes the write lock before it evaluates
   * anything, so the checks and the insert see one state. A limit that is null checks nothing
   * (`NULL IS NULL OR ...`); the LIMITs are never null (COALESCE), which SQLite would refuse.
   * Nothing comes back for a key already used in its scope or a limit reached: the core reads why.
   */
  ExecutionEnqueue: `
    INSERT INTO executions (id, session_id, owner, idempotency_scope, language, source_code, plan, callback_url,
                            status, attempt, max_attempts, idempotency_key, request_hash, run_after, queued_at)
    SELECT @id, @sessionId, @owner, @scope, @language, @sourceCode, @plan, @callbackUrl,
           'QUEUED', 0, @maxAttempts, @idempotencyKey, @requestHash, @now, @now
    WHERE (@idempotencyKey IS NULL
           OR NOT EXISTS (SELECT 1 FROM executions WHERE idempotency_scope = @scope AND idempotency_key = @idempotencyKey))
      AND (@sessionLimit IS NULL OR ${IN_FLIGHT_FOR('session_id', '@sessionId', '@sessionLimit')} < @sessionLimit)
      AND (@ownerLimit IS NULL OR ${IN_FLIGHT_FOR('owner', '@owner', '@ownerLimit')} < @ownerLimit)
      AND (@depthLimit IS NULL
           OR (SELECT COUNT(*) FROM (SELECT 1 FROM executions WHERE status = 'QUEUED' LIMIT COALESCE(@depthLimit, 0))) < @depthLimit)
    RETURNING *`,

  ExecutionGetById: `SELECT * FROM executions WHERE id = @id`,

  // A write transaction already excludes every other writer: no row lock needed.
  ExecutionGetByIdForUpdate: `SELECT * FROM executions WHERE id = @id`,

  ExecutionGetByIdempotencyKey: `
    SELECT * FROM executions WHERE idempotency_scope = @scope AND idempotency_key = @idempotencyKey`,

  ExecutionListBySession: `
    SELECT * FROM executions WHERE session_id = @sessionId ORDER BY seq DESC LIMIT @limit`,

  ExecutionListInFlightForSession: `
    SELECT id FROM executions
    WHERE session_id = @sessionId AND status IN ('QUEUED', 'RUNNING')
    ORDER BY seq LIMIT @limit`,

  ExecutionListInFlightForOwner: `
    SELECT id FROM executions
    WHERE owner = @owner AND status IN ('QUEUED', 'RUNNING')
    ORDER BY seq LIMIT @limit`,

  /** From the counts the triggers keep (migration 5): walking the queue cost each enqueue up to @limit index entries. */
  ExecutionCountQueuedUpTo: `SELECT min(n, @limit) AS n FROM execution_counts WHERE status = 'QUEUED'`,

  ExecutionListCancelRequested: `
    SELECT id FROM executions
    WHERE id IN (SELECT value FROM json_each(@ids)) AND status = 'RUNNING' AND cancel_requested_at IS NOT NULL`,

  ExecutionListLegacyUnplanned: `
    SELECT id, language, stdin, expected_output, limit_overrides FROM executions
    WHERE plan IS NULL AND status IN ('QUEUED', 'RUNNING') ORDER BY seq`,

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
    WHERE seq = (${NEXT_DUE})
    RETURNING *`,

  ExecutionRenewLease: `
    UPDATE executions SET lease_expires_at = @leaseExpiresAt
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner`,

  ExecutionFinish: `
    UPDATE executions
    SET status = @status, result = @result, finished_at = @now, lease_owner = NULL, lease_expires_at = NULL
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner`,

  // One UPDATE of two rows (SQLite has no data-changing WITH): each column takes the finish's
  // value on the finished row and the claim's on the other. The planner looks both rows up by
  // index (MULTI-INDEX OR: id, and the claim index's oldest due seq), never a scan.
  ExecutionFinishAndClaimNext: `
    UPDATE executions
    SET status = CASE WHEN id = @id THEN @status ELSE 'RUNNING' END,
        result = CASE WHEN id = @id THEN @result ELSE result END,
        finished_at = CASE WHEN id = @id THEN @now ELSE finished_at END,
        attempt = CASE WHEN id = @id THEN attempt ELSE attempt + 1 END,
        lease_owner = CASE WHEN id = @id THEN NULL ELSE @owner END,
        lease_expires_at = CASE WHEN id = @id THEN NULL ELSE @leaseExpiresAt END,
        started_at = CASE WHEN id = @id THEN started_at ELSE @now END
    WHERE (id = @id AND status = 'RUNNING' AND lease_owner = @owner)
       OR seq = (${NEXT_DUE})
    RETURNING *`,

  ExecutionFinishCanceled: `
    UPDATE executions
    SET status = 'FAILED', result = @result, finished_at = @now, lease_owner = NULL, lease_expires_at = NULL
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner AND cancel_requested_at IS NOT NULL`,

  ExecutionRequeueAfterFailure: `
    UPDATE executions
    SET status = 'QUEUED', run_after = @runAfter, lease_owner = NULL, lease_expires_at = NULL,
        errors = json_insert(errors, '$[#]', json(@error))
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner AND attempt < max_attempts
      AND cancel_requested_at IS NULL`,

  ExecutionFailAfterFailure: `
    UPDATE executions
    SET status = 'FAILED', result = @result, finished_at = @now, lease_owner = NULL, lease_expires_at = NULL,
        errors = json_insert(errors, '$[#]', json(@error))
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner`,

  /** run_after is kept (it is in the past), so the job keeps its place at the head of the queue. */
  ExecutionRelease: `
    UPDATE executions
    SET status = 'QUEUED', attempt = attempt - 1, lease_owner = NULL, lease_expires_at = NULL,
        started_at = CASE WHEN attempt - 1 = 0 THEN NULL ELSE started_at END
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner AND cancel_requested_at IS NULL`,

  ExecutionListExpiredLeases: `
    SELECT * FROM executions
    WHERE status = 'RUNNING' AND lease_expires_at < @now
    ORDER BY lease_expires_at`,

  ExecutionCancelQueued: `
    UPDATE executions
    SET status = 'FAILED', result = @result, finished_at = @now
    WHERE id = @id AND status = 'QUEUED'`,

  ExecutionRequestCancel: `
    UPDATE executions SET cancel_requested_at = @now
    WHERE id = @id AND status = 'RUNNING' AND cancel_requested_at IS NULL`,

  ExecutionCancelQueuedForSession: `
    UPDATE executions
    SET status = 'FAILED', result = @result, finished_at = @now
    WHERE session_id = @sessionId AND status = 'QUEUED'`,

  ExecutionSetPlan: `UPDATE executions SET plan = @plan WHERE id = @id AND plan IS NULL`,

  /** Small batches keep each write transaction short, so claims are never held up behind a big delete. */
  ExecutionPruneBatch: `
    DELETE FROM executions
    WHERE seq IN (
      SELECT seq FROM executions
      WHERE finished_at IS NOT NULL AND finished_at < @before -- terminal: a CHECK ties finished_at to it
      LIMIT @batch
    )`,

  /** Events published before @before, @batch at a time (oldest first, on job_events_at). */
  EventPruneBatch: `DELETE FROM job_events WHERE seq IN (SELECT seq FROM job_events WHERE at < @before ORDER BY at LIMIT @batch)`,

  /** Kept by the table's triggers (migration 5): five rows, not a scan of every execution kept. */
  StatsCountByStatus: `SELECT status, n FROM execution_counts`,

  StatsCountLive: `SELECT status, n FROM execution_counts WHERE status IN ('QUEUED', 'RUNNING')`,

  StatsOldestQueuedAt: `SELECT MIN(queued_at) AS queuedAt FROM executions INDEXED BY executions_queued_oldest WHERE status = 'QUEUED'`,

  StatsRecentFailures: `
    SELECT id, finished_at AS finishedAt, json_extract(result, '$.failureReason') AS failureReason
    -- Walks the partial index backwards and stops after @limit rows; left to itself the planner
    -- may pick executions_claim and sort every failure ever kept.
    FROM executions INDEXED BY executions_failures
    WHERE status IN ('FAILED', 'TIMEOUT')
    ORDER BY finished_at DESC, seq DESC
    LIMIT @limit`,

  ExecutorUpsert: `
    INSERT INTO executors (id, hostname, pid, slots, busy, started_at, heartbeat_at)
    VALUES (@id, @hostname, @pid, @slots, @busy, @startedAt, @heartbeatAt)
    ON CONFLICT (id) DO UPDATE SET
      hostname = excluded.hostname, pid = excluded.pid, slots = excluded.slots, busy = excluded.busy,
      started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,

  ExecutorDeleteStale: `DELETE FROM executors WHERE heartbeat_at < @staleBefore AND id <> @id`,

  ExecutorDelete: `DELETE FROM executors WHERE id = @id`,

  ExecutorListAlive: `
    SELECT id, hostname, pid, slots, busy, started_at AS startedAt, heartbeat_at AS heartbeatAt
    FROM executors WHERE heartbeat_at >= @staleBefore ORDER BY id`,

  ApiNodeUpsert: `
    INSERT INTO api_nodes (id, hostname, pid, version, address, executors, started_at, heartbeat_at)
    VALUES (@id, @hostname, @pid, @version, @address, @executors, @startedAt, @heartbeatAt)
    ON CONFLICT (id) DO UPDATE SET
      hostname = excluded.hostname, pid = excluded.pid, version = excluded.version, address = excluded.address,
      executors = excluded.executors, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,

  ApiNodeDeleteStale: `DELETE FROM api_nodes WHERE heartbeat_at < @staleBefore AND id <> @id`,

  ApiNodeDelete: `DELETE FROM api_nodes WHERE id = @id`,

  ApiNodeListAlive: `
    SELECT id, hostname, pid, version, address, executors, started_at AS startedAt, heartbeat_at AS heartbeatAt
    FROM api_nodes WHERE heartbeat_at >= @staleBefore ORDER BY id`,
} as const satisfies Partial<DialectSql>;

/** Every statement of the dialect: the queue's own, live output's and the webhook outbox's. */
export const SQL = { ...QUEUE_SQL, ...OUTPUT_SQL, ...WEBHOOK_SQL } as const satisfies DialectSql;

/** Reads events after a cursor (events.ts); not a queue statement. */
export const EVENTS_AFTER = `SELECT seq, kind, execution_id AS id FROM job_events WHERE seq > @cursor ORDER BY seq LIMIT @limit`;
export const EVENTS_MAX_SEQ = `SELECT COALESCE(MAX(seq), 0) AS seq FROM job_events`;
