// The named statements of the job queue: what each one does, once. Each dialect writes the SQL
// for every name (sqlite/sql.ts, postgres/sql.ts; the compiler checks that both have exactly
// these names), and holds no rules: deciding (retry or fail, cancel, replay) is the core's
// (core/job-queue.ts). Parameters are bound by @name from one params object; times are epoch ms;
// JSON columns are passed as JSON text.
//
// Status changes announce themselves: the schema of each dialect has triggers that publish an
// event (available / started / finished / cancel, with the job's id) for every change, so no
// statement can forget to, and that refuse any change of status the state machine does not allow.
// Since migration 3 they also announce a watched run's output ("output"), a new watcher
// ("watch") and a webhook to deliver ("webhook").

export const STATEMENT_NAMES = [
  // ---- executions: create and read
  // The enqueue, in one statement (one round trip): a QUEUED job is inserted only when no job
  // has the idempotency key in its scope and the counts are below the limits given (null: no
  // limit); returns the new row, or (PostgreSQL) the one that holds the key, or nothing. The
  // core reads why when nothing comes back. PostgreSQL takes advisory locks first (scope,
  // session, owner, depth: always in this order), SQLite's write lock excludes every other writer.
  'ExecutionEnqueue', // @id, @sessionId, @owner, @scope, @language, @sourceCode, @plan, @callbackUrl, @maxAttempts, @idempotencyKey, @requestHash, @now, @sessionLimit, @ownerLimit, @depthLimit
  'ExecutionGetById', // @id
  'ExecutionGetByIdForUpdate', // @id, locked until the transaction ends (PostgreSQL)
  'ExecutionGetByIdempotencyKey', // @scope, @idempotencyKey
  'ExecutionListBySession', // @sessionId, @limit; newest first
  'ExecutionListInFlightForSession', // @sessionId, @limit: ids of QUEUED/RUNNING, oldest first (why an enqueue was refused)
  'ExecutionListInFlightForOwner', // @owner, @limit
  'ExecutionCountQueuedUpTo', // @limit: min(QUEUED count, limit) as n (bounded: O(limit), not O(queue))
  'ExecutionListCancelRequested', // @ids (JSON array text): those RUNNING with a cancel asked for
  'ExecutionListLegacyUnplanned', // QUEUED/RUNNING rows without a plan (a codexec before plans)

  // ---- executions: the lifecycle
  'ExecutionClaimNext', // @owner, @leaseExpiresAt, @now: the oldest runnable QUEUED job -> RUNNING; returns the row
  'ExecutionRenewLease', // @id, @owner, @leaseExpiresAt
  'ExecutionFinish', // @id, @owner, @status, @result, @failureReason, @now: RUNNING -> terminal by the lease holder
  // ExecutionFinish and ExecutionClaimNext in one statement, so in one commit: an executor's
  // slot passes from the job it finished to the next one. Returns up to two rows, each told by its
  // id: the finished job (when the finish was ours to make) and the claimed one (when one was due).
  'ExecutionFinishAndClaimNext', // @id, @owner, @status, @result, @failureReason, @now, @leaseExpiresAt
  'ExecutionFinishCanceled', // @id, @owner, @result, @now: RUNNING -> FAILED by the lease holder, only if a cancel was asked for
  'ExecutionRequeueAfterFailure', // @id, @owner, @runAfter, @error: RUNNING -> QUEUED, the error appended
  'ExecutionFailAfterFailure', // @id, @owner, @result, @failureReason, @error, @now: RUNNING -> FAILED, the error appended
  'ExecutionRelease', // @id, @owner: RUNNING -> QUEUED, the attempt given back
  'ExecutionListExpiredLeases', // @now: RUNNING rows past their lease (locked, skipping locked ones, on PostgreSQL)
  'ExecutionCancelQueued', // @id, @result, @failureReason, @now: QUEUED -> FAILED(canceled)
  'ExecutionRequestCancel', // @id, @now: flag a RUNNING job (first request wins)
  'ExecutionCancelQueuedForSession', // @sessionId, @result, @failureReason, @now: returns n
  'ExecutionSetPlan', // @id, @plan: a legacy row gets its plan
  'ExecutionPruneBatch', // @before, @batch: delete terminal rows finished before @before
  'EventPruneBatch', // @before, @batch: drop published events older than @before, @batch at a time (SQLite's event table)

  // ---- live output (sqlite/output-sql.ts, postgres/output-sql.ts): what a watched run prints
  'ExecutionWatch', // @id, @until: someone follows a QUEUED/RUNNING job until @until (never shortened); fires "watch"
  'ExecutionListWatched', // @ids (JSON array text), @now: those RUNNING with watched_until > @now
  'OutputInsert', // @executionId, @attempt, @owner, @events (JSON array text), @now: one flush, if the lease is still ours; fires "output"
  'OutputListAfter', // @executionId, @after, @limit: rows with seq > @after, in seq order
  'OutputExistsForAttempt', // @executionId, @attempt: n = 1 when that attempt recorded any output

  // ---- webhooks (sqlite/webhook-sql.ts, postgres/webhook-sql.ts): the outbox that a terminal
  //      status change of a job with a callback URL fills (a trigger, in the same transaction)
  'WebhookClaimNext', // @owner, @now, @leaseUntil: the oldest due pending delivery, attempt_count + 1, leased until @leaseUntil
  'WebhookRecord', // @seq, @owner, @attemptCount, @state, @nextAttemptAt, @attempts (JSON), @now: the claim's outcome, if still ours
  'WebhookGetByExecution', // @executionId

  // ---- stats
  'StatsCountByStatus',
  'StatsCountLive', // QUEUED and RUNNING only
  'StatsOldestQueuedAt',
  'StatsRecentFailures', // @limit

  // ---- executors
  'ExecutorUpsert',
  'ExecutorDeleteStale', // @id, @staleBefore (never @id itself)
  'ExecutorDelete', // @id
  'ExecutorListAlive', // @staleBefore

  // ---- API nodes (migration 4): `codexec serve` processes, recorded with a heartbeat like executors
  'ApiNodeUpsert', // @id, @hostname, @pid, @version, @address, @executors, @startedAt, @heartbeatAt
  'ApiNodeDeleteStale', // @id, @staleBefore (never @id itself)
  'ApiNodeDelete', // @id
  'ApiNodeListAlive', // @staleBefore
] as const;

export type StatementName = (typeof STATEMENT_NAMES)[number];

/** One dialect's SQL: every statement name, nothing else. */
export type DialectSql = { readonly [K in StatementName]: string };
