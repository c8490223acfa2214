// Every SQL statement of the API key store on SQLite, named as in ../postgres/sql.ts, bound by
// @name (better-sqlite3's named parameters). The schema is in migrations.ts.

export const SQL = {
  KeyInsert: `
    INSERT INTO api_keys (id, name, prefix, secret_hash, created_at, runs_per_minute, max_in_flight, max_sessions)
    VALUES (@id, @name, @prefix, @secretHash, @createdAt, @runsPerMinute, @maxInFlight, @maxSessions)
    RETURNING *`,

  KeyList: `SELECT * FROM api_keys ORDER BY created_at, id`,

  KeyGetById: `SELECT * FROM api_keys WHERE id = @id`,

  /** The lookup of every request that is not cached: one probe of the UNIQUE index. */
  KeyGetBySecretHash: `SELECT * FROM api_keys WHERE secret_hash = @secretHash`,

  KeyListByPrefix: `SELECT * FROM api_keys WHERE prefix = @prefix ORDER BY created_at, id`,

  /** Revoking twice keeps the first time. */
  KeyRevoke: `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, @now) WHERE id = @id RETURNING *`,

  /** At most one write per key and interval, whatever the number of nodes and requests. */
  KeyTouch: `
    UPDATE api_keys SET last_used_at = @now
    WHERE id = @id AND (last_used_at IS NULL OR last_used_at <= @now - @minIntervalMs)`,
} as const;

export type StatementName = keyof typeof SQL;
