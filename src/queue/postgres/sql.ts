import type { DialectSql } from '../statements.js';
import { OUTPUT_SQL } from './output-sql.js';
import { WEBHOOK_SQL } from './webhook-sql.js';

// Every SQL statement of the job queue on PostgreSQL, named as in ../statements.ts (which says
// what each does), bound by @name (compiled to $1, $2, ... below) and prepared once per
// connection. Times are epoch ms in BIGINT columns. The schema, its invariants and the NOTIFY
// trigger are in migrations.ts.
//
// Locks: a transaction that waits for more than one lock takes them in one fixed order (the
// advisory locks scope, session, owner, queue depth (shared far below the limit, migration 6);
// then rows by seq), and every other
// multi-row lock is taken with SKIP LOCKED, which never waits. So no two transactions of the
// queue can deadlock, and it needs no retry loop.

/** The LISTEN/NOTIFY channel on which every status change of a job is announced ("<kind>:<id>"). */
export const JOBS_CHANNEL = 'codexec_jobs';

// Advisory locks use the two-int form: the first key is codexec's namespace, so they cannot
// collide with other applications' single-bigint advisory locks in the same database.
/** 'cdxq' as an int4: the namespace of codexec's advisory locks. */
export const ADVISORY_NAMESPACE = 0x63647871;
export const ADVISORY_KEY_MIGRATIONS = 1;
export const ADVISORY_KEY_QUEUE_DEPTH = 2;
/** Raised and caught inside codexec_enqueue (migration 6) when the queue is near its depth limit; never reaches a client. */
export const DEPTH_NEAR_LIMIT_SQLSTATE = 'CXQ01';
/** Rows of execution_live_counts (migration 8): a transaction adds its changes to row pg_backend_pid() % this. */
export const LIVE_COUNT_SHARDS = 64;
/** 'cdxs', 'cdxo', 'cdxi': per-session, per-owner and per-idempotency-scope locks, keyed by hashtext (a collision only serialises two keys). */
export const ADVISORY_SESSION_NAMESPACE = 0x63647873;
export const ADVISORY_OWNER_NAMESPACE = 0x6364786f;
export const ADVISORY_SCOPE_NAMESPACE = 0x63647869;

/** Serialises migrations of processes starting at once (see migrations.ts). */
export const LOCK_MIGRATIONS = `SELECT pg_advisory_xact_lock(${ADVISORY_NAMESPACE}, ${ADVISORY_KEY_MIGRATIONS})`;

// The claim and the finish, each once: alone (ExecutionClaimNext, ExecutionFinish) and together in
// ExecutionFinishAndClaimNext.
const CLAIM_NEXT = `
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
    RETURNING *`;
const FINISH = `
    UPDATE executions
    SET status = @status, result = @result, failure_reason = @failureReason, finished_at = @now,
        lease_owner = NULL, lease_expires_at = NULL
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner`;

const QUEUE_SQL = {
  /**
   * The enqueue: codexec_enqueue (migrations.ts, migration 4) takes the advisory locks its checks
   * need (transaction-scoped: held until this statement commits), checks with a fresh snapshot
   * after each lock, and inserts. Called without BEGIN: one round trip. Named arguments, so the
   * call cannot bind a value to the wrong parameter.
   */
  ExecutionEnqueue: `
    SELECT * FROM codexec_enqueue(
      p_id => @id, p_session_id => @sessionId, p_owner => @owner, p_scope => @scope, p_language => @language,
      p_source_code => @sourceCode, p_plan => @plan, p_callback_url => @callbackUrl, p_max_attempts => @maxAttempts,
      p_idempotency_key => @idempotencyKey, p_request_hash => @requestHash, p_now => @now,
      p_session_limit => @sessionLimit, p_owner_limit => @ownerLimit, p_depth_limit => @depthLimit)`,

  ExecutionGetById: `SELECT * FROM executions WHERE id = @id`,

  /** The row, locked until the transaction ends: a decision about it is not raced by another writer. */
  ExecutionGetByIdForUpdate: `SELECT * FROM executions WHERE id = @id FOR UPDATE`,

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

  /** From the shards the triggers keep (migration 8): O(shards), whatever the queue. */
  ExecutionCountQueuedUpTo: `SELECT LEAST(SUM(queued), @limit)::bigint AS n FROM execution_live_counts`,

  ExecutionListCancelRequested: `
    SELECT id FROM executions
    WHERE id IN (SELECT json_array_elements_text(@ids::json)) AND status = 'RUNNING' AND cancel_requested_at IS NOT NULL`,

  ExecutionListLegacyUnplanned: `
    SELECT id, language, stdin, expected_output, limit_overrides FROM executions
    WHERE plan IS NULL AND status IN ('QUEUED', 'RUNNING') ORDER BY seq`,

  /**
   * Claim the oldest runnable job, in one statement (one round trip): the subquery walks
   * executions_claim in claim order and locks the first QUEUED row no other transaction holds
   * (FOR UPDATE SKIP LOCKED), so concurrent claimers, in any process on any host, each get a
   * different row and never wait for one another. Under READ COMMITTED a row claimed and committed
   * by someone else after this statement's snapshot is re-checked once locked, no longer matches
   * status = 'QUEUED', and is passed over. The subquery is uncorrelated, so it runs once.
   */
  ExecutionClaimNext: CLAIM_NEXT,

  ExecutionRenewLease: `
    UPDATE executions SET lease_expires_at = @leaseExpiresAt
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner`,

  /**
   * One statement, one round trip. failure_reason repeats result.failureReason for
   * StatsRecentFailures (migrations.ts says why it cannot be read out of the JSON).
   */
  ExecutionFinish: FINISH,

  /**
   * ExecutionFinish and ExecutionClaimNext in one statement: one round trip and one commit (one
   * WAL flush where there were two). The two data-changing WITH parts see one snapshot and touch
   * different rows (a RUNNING one and a QUEUED one); their AFTER triggers fire at the end of the
   * statement, as for two statements.
   */
  ExecutionFinishAndClaimNext: `
    WITH finished AS (${FINISH}
      RETURNING *
    ), claimed AS (${CLAIM_NEXT})
    SELECT * FROM finished UNION ALL SELECT * FROM claimed`,

  ExecutionFinishCanceled: `
    UPDATE executions
    SET status = 'FAILED', result = @result, failure_reason = @failureReason, finished_at = @now,
        lease_owner = NULL, lease_expires_at = NULL
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner AND cancel_requested_at IS NOT NULL`,

  ExecutionRequeueAfterFailure: `
    UPDATE executions
    SET status = 'QUEUED', run_after = @runAfter, lease_owner = NULL, lease_expires_at = NULL,
        errors = ${appendError('errors', '@error')}
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner AND attempt < max_attempts
      AND cancel_requested_at IS NULL`,

  ExecutionFailAfterFailure: `
    UPDATE executions
    SET status = 'FAILED', result = @result, failure_reason = @failureReason, finished_at = @now,
        lease_owner = NULL, lease_expires_at = NULL,
        errors = ${appendError('errors', '@error')}
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner`,

  /** run_after is kept (it is in the past), so the job keeps its place at the head of the queue. */
  ExecutionRelease: `
    UPDATE executions
    SET status = 'QUEUED', attempt = attempt - 1, lease_owner = NULL, lease_expires_at = NULL,
        started_at = CASE WHEN attempt - 1 = 0 THEN NULL ELSE started_at END
    WHERE id = @id AND status = 'RUNNING' AND lease_owner = @owner AND cancel_requested_at IS NULL`,

  /**
   * Leases past expiry, locked for the rescuing transaction. SKIP LOCKED: a row another
   * transaction holds (its executor finishing it just now, or the rescuer of another host) is
   * left to that transaction; if it is still expired afterwards, the next rescue takes it.
   */
  ExecutionListExpiredLeases: `
    SELECT * FROM executions
    WHERE status = 'RUNNING' AND lease_expires_at < @now
    ORDER BY lease_expires_at, seq
    FOR UPDATE SKIP LOCKED`,

  ExecutionCancelQueued: `
    UPDATE executions
    SET status = 'FAILED', result = @result, failure_reason = @failureReason, finished_at = @now
    WHERE id = @id AND status = 'QUEUED'`,

  ExecutionRequestCancel: `
    UPDATE executions SET cancel_requested_at = @now
    WHERE id = @id AND status = 'RUNNING' AND cancel_requested_at IS NULL`,

  /**
   * The rows are locked in seq order (a claimer holding one makes this wait, then the row,
   * RUNNING by then, is re-checked and left alone), so two cancels of one session cannot deadlock.
   */
  ExecutionCancelQueuedForSession: `
    UPDATE executions
    SET status = 'FAILED', result = @result, failure_reason = @failureReason, finished_at = @now
    WHERE seq IN (
      SELECT seq FROM executions
      WHERE session_id = @sessionId AND status = 'QUEUED'
      ORDER BY seq
      FOR UPDATE
    ) AND status = 'QUEUED'`,

  ExecutionSetPlan: `UPDATE executions SET plan = @plan WHERE id = @id AND plan IS NULL`,

  /** SKIP LOCKED: two pruners (two hosts) take disjoint batches instead of waiting on each other. */
  ExecutionPruneBatch: `
    DELETE FROM executions
    WHERE seq IN (
      SELECT seq FROM executions
      WHERE finished_at IS NOT NULL AND finished_at < @before -- terminal: a CHECK ties finished_at to it
      LIMIT @batch
      FOR UPDATE SKIP LOCKED
    )`,

  /** NOTIFY keeps no events: nothing to prune (no row: the prune's loop ends at once). */
  EventPruneBatch: `SELECT @before::bigint AS before, @batch::int AS batch WHERE false`,

  // Quoted aliases: PostgreSQL folds unquoted names to lower case.
  StatsCountByStatus: `SELECT status, COUNT(*) AS n FROM executions GROUP BY status`,

  /**
   * What a readiness probe counts, from the shards of migration 8. Every status took 150 ms (and
   * three parallel workers' CPU) with 1,000,000 executions kept, at each probe of each API node;
   * the queued rows alone 16 ms with 100,000 queued.
   */
  StatsCountLive: `
    SELECT 'QUEUED' AS status, SUM(queued)::bigint AS n FROM execution_live_counts
    UNION ALL
    SELECT 'RUNNING', SUM(running)::bigint FROM execution_live_counts`,

  StatsOldestQueuedAt: `SELECT MIN(queued_at) AS "queuedAt" FROM executions WHERE status = 'QUEUED'`,

  /** Walks the partial index executions_failures backwards and stops after @limit rows. */
  StatsRecentFailures: `
    SELECT id, finished_at AS "finishedAt", failure_reason AS "failureReason"
    FROM executions
    WHERE status IN ('FAILED', 'TIMEOUT')
    ORDER BY finished_at DESC, seq DESC
    LIMIT @limit`,

  ExecutorUpsert: `
    INSERT INTO executors (id, hostname, pid, slots, busy, started_at, heartbeat_at)
    VALUES (@id, @hostname, @pid, @slots, @busy, @startedAt, @heartbeatAt)
    ON CONFLICT (id) DO UPDATE SET
      hostname = excluded.hostname, pid = excluded.pid, slots = excluded.slots, busy = excluded.busy,
      started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,

  /**
   * SKIP LOCKED and not ourselves: two executors heartbeating at once after a pause (each stale
   * in the other's eyes) would otherwise wait for each other's upserted row, a deadlock.
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

  ApiNodeUpsert: `
    INSERT INTO api_nodes (id, hostname, pid, version, address, executors, started_at, heartbeat_at)
    VALUES (@id, @hostname, @pid, @version, @address, @executors, @startedAt, @heartbeatAt)
    ON CONFLICT (id) DO UPDATE SET
      hostname = excluded.hostname, pid = excluded.pid, version = excluded.version, address = excluded.address,
      executors = excluded.executors, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,

  /** SKIP LOCKED and not ourselves, for the reason given at ExecutorDeleteStale. */
  ApiNodeDeleteStale: `
    DELETE FROM api_nodes
    WHERE id IN (
      SELECT id FROM api_nodes
      WHERE heartbeat_at < @staleBefore AND id <> @id
      FOR UPDATE SKIP LOCKED
    )`,

  ApiNodeDelete: `DELETE FROM api_nodes WHERE id = @id`,

  ApiNodeListAlive: `
    SELECT id, hostname, pid, version, address, executors, started_at AS "startedAt", heartbeat_at AS "heartbeatAt"
    FROM api_nodes WHERE heartbeat_at >= @staleBefore ORDER BY id`,
} as const satisfies Partial<DialectSql>;

/** Every statement of the dialect: the queue's own, live output's and the webhook outbox's. */
export const SQL = { ...QUEUE_SQL, ...OUTPUT_SQL, ...WEBHOOK_SQL } as const satisfies DialectSql;

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

export const STATEMENTS: { readonly [K in keyof typeof SQL]: CompiledStatement } = Object.fromEntries(
  Object.entries(SQL).map(([name, sql]) => [name, compileNamed(name, sql)]),
) as { [K in keyof typeof SQL]: CompiledStatement };

/** The values of `statement`'s parameters, in order; a missing one is a bug, not a NULL. */
export function bindValues(statement: CompiledStatement, params: Record<string, unknown>): unknown[] {
  return statement.params.map((p) => {
    if (!(p in params) || params[p] === undefined) throw new Error(`${statement.name}: parameter @${p} is missing`);
    return params[p];
  });
}
