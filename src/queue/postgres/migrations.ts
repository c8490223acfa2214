import type pg from 'pg';
import { TERMINAL_SQL, refuseNewerSchema, type Migration } from '../store-common.js';
import { SQL } from './sql.js';

// Numbered migrations of the PostgreSQL job database. A migration is never edited once written: a
// change to the schema is a new entry at the end. Each applied version is recorded in
// `schema_migrations`. Tables are unqualified, so they live in the first schema of the
// connection's search_path.
//
// `migrate` applies the missing ones in one transaction (PostgreSQL's DDL is transactional: a
// failed migration leaves nothing behind) after taking a transaction-scoped advisory lock, so
// processes on several hosts starting at once cannot race: the first applies, the others wait
// for its commit and then find the versions recorded. The lock comes before even
// `CREATE TABLE IF NOT EXISTS schema_migrations`, which is not safe against a concurrent twin.

export type { Migration };

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'executions and executors',
    // The same table and invariants as the SQLite store's migration 1, in PostgreSQL's types:
    // - times are epoch milliseconds in BIGINT (callers pass explicit `now` values);
    // - source_code, stdin and expected_output are BYTEA holding UTF-8: a PostgreSQL TEXT value
    //   cannot contain a NUL character, which a learner's program or input may;
    // - JSON columns are `json`, not `jsonb`: jsonb cannot hold the "\u0000" escape that
    //   JSON.stringify writes for a NUL in a program's output. json keeps the text as written;
    // - failure_reason repeats result.failureReason for StatsRecentFailures, because reading a
    //   field out of a json value de-escapes every string in it and fails on "\u0000".
    sql: `
CREATE TABLE executions (
  -- Insertion order. Breaks claim-order ties; an identity never hands out a smaller value, so
  -- the claim stays first-in first-out after prunes.
  seq               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id                TEXT    NOT NULL UNIQUE CHECK (length(id) > 0),
  session_id        TEXT    NOT NULL CHECK (length(session_id) > 0),
  language          TEXT    NOT NULL,
  source_code       BYTEA   NOT NULL,
  stdin             BYTEA   NOT NULL DEFAULT '',
  expected_output   BYTEA,
  limit_overrides   JSON    NOT NULL DEFAULT '{}' CHECK (json_typeof(limit_overrides) = 'object'),
  status            TEXT    NOT NULL DEFAULT 'QUEUED'
                            CHECK (status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'TIMEOUT')),
  attempt           INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  max_attempts      INTEGER NOT NULL CHECK (max_attempts >= 1),
  idempotency_key   TEXT,
  request_hash      TEXT,
  lease_owner       TEXT,
  lease_expires_at  BIGINT,
  run_after         BIGINT  NOT NULL,
  queued_at         BIGINT  NOT NULL,
  started_at        BIGINT, -- start of the latest attempt; earlier attempts are in errors
  finished_at       BIGINT,
  result            JSON    CHECK (result IS NULL OR json_typeof(result) = 'object'),
  failure_reason    TEXT,
  errors            JSON    NOT NULL DEFAULT '[]' CHECK (json_typeof(errors) = 'array'),

  CHECK (attempt <= max_attempts),
  -- A queued job always has an attempt left: the last failure goes to FAILED, not back to QUEUED.
  CHECK (status <> 'QUEUED' OR attempt < max_attempts),
  -- finished_at and result are set exactly when the state is terminal.
  CHECK ((finished_at IS NOT NULL) = (status IN ${TERMINAL_SQL})),
  CHECK ((result IS NOT NULL) = (status IN ${TERMINAL_SQL})),
  CHECK (failure_reason IS NULL OR status IN ${TERMINAL_SQL}),
  -- A lease (who, until when) exists exactly while the job runs.
  CHECK ((lease_owner IS NOT NULL) = (status = 'RUNNING')),
  CHECK ((lease_expires_at IS NOT NULL) = (status = 'RUNNING')),
  -- started_at is set exactly when an attempt has started (release gives an attempt back).
  -- (No CHECK orders the timestamps: a wall clock stepped back by NTP must not make a finish fail.)
  CHECK ((started_at IS NOT NULL) = (attempt > 0))
);

-- Ordered like the claim query (ExecutionClaimNext): run_after, then seq, over QUEUED rows only,
-- so a claim reads the head of this index and skips no finished rows.
CREATE INDEX executions_claim ON executions (run_after, seq) WHERE status = 'QUEUED';

-- The rescuer's scan of expired leases (ExecutionListExpiredLeases).
CREATE INDEX executions_running ON executions (lease_expires_at, seq) WHERE status = 'RUNNING';

-- A session's runs newest first, and its in-flight ones (a small partial index).
CREATE INDEX executions_session ON executions (session_id, seq);
CREATE INDEX executions_session_in_flight ON executions (session_id, seq) WHERE status IN ('QUEUED', 'RUNNING');

-- Idempotent runs: one execution per (session, key).
CREATE UNIQUE INDEX executions_idempotency ON executions (session_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The pruner's scan of old finished rows, and the last failures for \`codexec status\`.
CREATE INDEX executions_finished ON executions (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX executions_failures ON executions (finished_at, seq) WHERE status IN ('FAILED', 'TIMEOUT');

-- Executors alive, by heartbeat; a row whose heartbeat is too old is an executor gone.
CREATE TABLE executors (
  id            TEXT    PRIMARY KEY CHECK (length(id) > 0),
  hostname      TEXT    NOT NULL,
  pid           INTEGER NOT NULL,
  slots         INTEGER NOT NULL CHECK (slots >= 0),
  busy          INTEGER NOT NULL CHECK (busy >= 0 AND busy <= slots),
  started_at    BIGINT  NOT NULL,
  heartbeat_at  BIGINT  NOT NULL
);
`,
  },
];

/**
 * Applies the migrations the database lacks, on `client` (a connection of its own: the
 * transaction spans several statements); returns the versions applied now.
 */
export async function migrate(
  client: pg.ClientBase,
  migrations: readonly Migration[] = MIGRATIONS,
  now = Date.now(),
): Promise<number[]> {
  await client.query('BEGIN');
  try {
    await client.query(SQL.LockMigrations);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version     INTEGER PRIMARY KEY,
      name        TEXT    NOT NULL,
      applied_at  BIGINT  NOT NULL
    )`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.version));
    refuseNewerSchema(applied, migrations);
    const done: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now]);
      done.push(m.version);
    }
    await client.query('COMMIT');
    return done;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined); // the caller discards a broken connection
    throw err;
  }
}
