import { compileNamed, type CompiledStatement } from '../../queue/postgres/sql.js';

// Every SQL statement of the API key store on PostgreSQL, named as in ../sqlite/sql.ts, bound by
// @name like the job store's (compiled to $1, $2, ...). The schema is in migrations.ts.

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
  KeyRevoke: `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, @now::bigint) WHERE id = @id RETURNING *`,

  /** At most one write per key and interval, whatever the number of nodes and requests. */
  KeyTouch: `
    UPDATE api_keys SET last_used_at = @now::bigint
    WHERE id = @id AND (last_used_at IS NULL OR last_used_at <= @now::bigint - @minIntervalMs::bigint)`,
} as const;

export type StatementName = keyof typeof SQL;

export const STATEMENTS: { readonly [K in StatementName]: CompiledStatement } = Object.fromEntries(
  // Prefixed apart from the queue's prepared statements (codexec_<Name>): distinct names per connection.
  Object.entries(SQL).map(([name, sql]) => [name, compileNamed(`keys_${name}`, sql)]),
) as { [K in StatementName]: CompiledStatement };
