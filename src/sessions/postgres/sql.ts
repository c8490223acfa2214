import { bindValues, compileNamed, type CompiledStatement } from '../../queue/postgres/sql.js';

/** 'cdxa' as an int4: the advisory locks of an API key's session creates (SessionLockOwner), keyed by hashtext(owner). */
export const ADVISORY_SESSION_OWNER_NAMESPACE = 0x63647861;

// Every SQL statement of the PostgreSQL session store and of the shared rate-limit counters, in
// one place, bound by @name like the job store's (src/queue/postgres/sql.ts). The schema is in
// migrations.ts. Times are epoch ms in BIGINT columns, passed by the caller (`now`), like the
// SQLite store's; the lifetimes (idle TTL, retention) are parameters, not stored.
//
// How writes stay correct across API nodes, with no lock held between statements:
// - An autosave is one UPDATE whose WHERE is the whole decision (the session is ACTIVE, the
//   If-Match or the client's revision fits the stored one): a compare-and-set. PostgreSQL
//   row-locks the row for the UPDATE and, under READ COMMITTED, re-evaluates the WHERE on the
//   newest committed version when it had to wait for another writer, so two autosaves from two
//   nodes can never both apply to the same stored revision.
// - A run locks the row (SessionLockForRun: FOR UPDATE) in a transaction that lasts while the
//   caller decides, so autosaves, closes and other runs of that session wait; nothing else.
// - A batch of autosaves (SessionAutosaveBatch) and the prunes lock with SKIP LOCKED: they never
//   wait for a lock, and two nodes pruning at once delete disjoint rows.
// So a statement that waits for a session row holds no other: no two can deadlock. Rate-limit
// windows lock several rows, always in key order (RateLimitHits). None of these statements takes
// the job store's advisory locks (why that matters: postgres-session-store.ts).

/**
 * ACTIVE, in SQL, at time `now` (an SQL expression): not closed and not idle past the TTL. The
 * same rule as sessionStatus() in session.ts; the conformance suite checks that both stores
 * expire a session at the same instant.
 */
const active = (now: string) => `s.closed_at IS NULL AND GREATEST(s.updated_at, COALESCE(s.last_run_at, 0)) + @idleTtlMs::bigint >= ${now}`;
/** The record still exists for readers (its lifetime from its last write has not passed). */
const alive = (now: string) => `s.expires_at >= ${now}`;
/** Lifetime of a record written at `now` that is not closed: idle TTL, then retention. */
const openExpiresAt = (now: string) => `${now} + @idleTtlMs::bigint + @retentionMs::bigint`;

/**
 * The autosave's compare-and-set on session `s` with input `i` (language, source_code, revision,
 * if_match_revision, now): the SET list, the WHERE conditions and what it returns. One definition
 * for the single and the batched statement.
 */
const AUTOSAVE = {
  set: `
      language    = COALESCE(i.language, s.language),
      source_code = COALESCE(i.source_code, s.source_code),
      revision    = COALESCE(i.revision, s.revision + 1),
      updated_at  = i.now,
      expires_at  = ${openExpiresAt('i.now')}`,
  where: `s.id = i.id AND ${alive('i.now')} AND ${active('i.now')}
      AND (i.if_match_revision IS NULL OR s.revision = i.if_match_revision)
      AND (i.revision IS NULL OR s.revision < i.revision)
      AND (i.owner IS NULL OR s.owner = i.owner)`,
  // The code only when the caller did not send it: it has it already.
  returning: `s.id, s.language, s.revision, s.created_at, s.updated_at, s.last_run_at, s.closed_at, s.expires_at, s.owner,
      CASE WHEN i.source_code IS NULL THEN s.source_code END AS source_code`,
};

export const SQL = {
  SessionInsert: `
    INSERT INTO sessions (id, language, source_code, revision, created_at, updated_at, expires_at, owner)
    VALUES (@id, @language, @sourceCode, 0, @now, @now, ${openExpiresAt('@now::bigint')}, @owner)
    RETURNING *`,

  /**
   * Serialises the session creates of one API key, on every node, until the transaction ends:
   * the count that follows (a statement of its own, so a snapshot taken after the lock) sees every
   * create of that key committed before, and none can commit between it and the insert.
   */
  SessionLockOwner: `SELECT pg_advisory_xact_lock(${ADVISORY_SESSION_OWNER_NAMESPACE}, hashtext(@owner))`,

  /**
   * An API key's open (ACTIVE) sessions, counted up to @limit, among those written within the idle
   * TTL (migration 4: expires_at is the last write + idle TTL + retention), a range of
   * sessions_owner_open_hour. A session written before the TTL or the retention was raised may be
   * missed until its next write.
   */
  SessionCountOpenOfOwner: `
    SELECT COUNT(*) AS n FROM (
      SELECT 1 FROM sessions s
      WHERE s.owner = @owner AND s.closed_at IS NULL AND s.expires_hour >= (@now::bigint + @retentionMs::bigint) / 3600000
        AND ${alive('@now::bigint')} AND ${active('@now::bigint')}
      LIMIT @limit) AS open`,

  SessionGet: `SELECT * FROM sessions s WHERE s.id = @id AND ${alive('@now::bigint')}`,

  /**
   * One autosave, as a compare-and-set: applies only when the session is ACTIVE and the revision
   * rules hold (If-Match equals the stored revision; a client revision is greater than it). No row
   * back means refused: the caller reads the row to say why. Waits for the row lock of a run.
   */
  SessionAutosave: `
    UPDATE sessions s SET ${AUTOSAVE.set}
    FROM (SELECT @id::text AS id, @language::text AS language, @sourceCode::bytea AS source_code, @revision::bigint AS revision,
                 @ifMatchRevision::bigint AS if_match_revision, @now::bigint AS now, @owner::text AS owner) AS i
    WHERE ${AUTOSAVE.where}
    RETURNING ${AUTOSAVE.returning}`,

  /**
   * Autosaves of several sessions (at most one each) in one statement and one commit: the same
   * compare-and-set per row. Rows another transaction holds (a run being decided, another node's
   * batch) are skipped, not waited for, so a batch never waits on a lock and batches can never
   * deadlock; the caller sends what was not applied again on its own (SessionAutosave).
   */
  SessionAutosaveBatch: `
    WITH i AS (
      SELECT * FROM unnest(@ids::text[], @languages::text[], @sourceCodes::bytea[], @revisions::bigint[], @ifMatchRevisions::bigint[], @nows::bigint[],
                           @owners::text[])
        AS i (id, language, source_code, revision, if_match_revision, now, owner)
    ), locked AS (
      SELECT id FROM sessions WHERE id = ANY(@ids::text[]) FOR UPDATE SKIP LOCKED
    )
    UPDATE sessions s SET ${AUTOSAVE.set}
    FROM i
    WHERE s.id IN (SELECT id FROM locked) AND ${AUTOSAVE.where}
    RETURNING ${AUTOSAVE.returning}`,

  /** Closes an open session (of @owner, when not null); no row back when it is already closed, gone, or another owner's. */
  SessionClose: `
    UPDATE sessions s SET closed_at = @now::bigint, expires_at = @now::bigint + @retentionMs::bigint
    WHERE s.id = @id AND ${alive('@now::bigint')} AND s.closed_at IS NULL AND (@owner::text IS NULL OR s.owner = @owner::text)
    RETURNING *`,

  /** The session a run is decided on, locked until the run's transaction ends. */
  SessionLockForRun: `SELECT * FROM sessions s WHERE s.id = @id AND ${alive('@now::bigint')} FOR UPDATE`,

  /** An accepted run counts as activity: it pushes expiry back like an autosave. */
  SessionRecordRun: `
    UPDATE sessions SET last_run_at = @now::bigint, expires_at = ${openExpiresAt('@now::bigint')}
    WHERE id = @id`,

  /**
   * A run in one statement, with no lock held between round trips: the caller read the session
   * (SessionGet), found it ACTIVE and built the job from its code; codexec_session_run (the job
   * store's migration 5) locks the row, and only if it is unchanged since that read, enqueues the
   * job (codexec_enqueue, with ExecutionEnqueue's parameters) and records the run like
   * SessionRecordRun. Returns the new job, or no row: the caller takes the locked path.
   */
  SessionRunEnqueue: `
    SELECT * FROM codexec_session_run(
      p_revision => @revision, p_updated_at => @updatedAt, p_last_run_at => @lastRunAt::bigint, p_expires_at => ${openExpiresAt('@now::bigint')},
      p_id => @id, p_session_id => @sessionId, p_owner => @owner, p_scope => @scope, p_language => @language,
      p_source_code => @sourceCode, p_plan => @plan, p_callback_url => @callbackUrl, p_max_attempts => @maxAttempts,
      p_idempotency_key => @idempotencyKey, p_request_hash => @requestHash, p_now => @now,
      p_session_limit => @sessionLimit, p_owner_limit => @ownerLimit, p_depth_limit => @depthLimit)`,

  /** Expired records, found through the index on their expiry hour (see migrations.ts). */
  SessionPruneBatch: `
    DELETE FROM sessions WHERE id IN (
      SELECT id FROM sessions
      WHERE expires_hour <= @now::bigint / 3600000 AND expires_at < @now::bigint
      ORDER BY expires_hour LIMIT @batch
      FOR UPDATE SKIP LOCKED
    )`,

  SessionCount: `SELECT COUNT(*) AS n FROM sessions`,

  SessionPing: `SELECT 1`,

  /**
   * Counts hits of several keys (`hits` more for each) in their current windows, or starts a new
   * window where one ended; returns each key's count after them. One statement: ON CONFLICT DO
   * UPDATE row-locks each key's window, so the hits of one key from every node are serialised.
   * Rows are written in key order (ORDER BY: the insert takes them one by one as the sort emits
   * them), so two statements that share keys lock them in the same order and cannot deadlock.
   * `now` is one for the statement: the newest of the hits it counts.
   */
  RateLimitHits: `
    INSERT INTO rate_limit_windows AS w (key, hits, window_ends_at)
    SELECT key, hits, @now::bigint + window_ms
    FROM unnest(@keys::text[], @hits::bigint[], @windowMs::bigint[]) AS i (key, hits, window_ms)
    ORDER BY key
    ON CONFLICT (key) DO UPDATE SET
      hits           = CASE WHEN w.window_ends_at <= @now::bigint THEN excluded.hits ELSE w.hits + excluded.hits END,
      window_ends_at = CASE WHEN w.window_ends_at <= @now::bigint THEN excluded.window_ends_at ELSE w.window_ends_at END
    RETURNING key, hits, window_ends_at AS "windowEndsAt"`,

  /** Windows that ended: any node may delete them (SKIP LOCKED: never twice, never waiting). */
  RateLimitPruneBatch: `
    DELETE FROM rate_limit_windows WHERE key IN (
      SELECT key FROM rate_limit_windows WHERE window_ends_at < @now::bigint
      LIMIT @batch
      FOR UPDATE SKIP LOCKED
    )`,
} as const;

export type StatementName = keyof typeof SQL;

/** Runs one named statement on a connection, lost connections rejected as QueueUnavailableError. */
export type RunStatement = <R extends object>(name: StatementName, params: Record<string, unknown>) => Promise<{ rows: R[]; rowCount: number | null }>;

export const STATEMENTS: { readonly [K in StatementName]: CompiledStatement } = Object.fromEntries(
  Object.entries(SQL).map(([name, sql]) => [name, compileNamed(name, sql)]),
) as { [K in StatementName]: CompiledStatement };

export { bindValues };
