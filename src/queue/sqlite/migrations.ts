import type Database from 'better-sqlite3';
import { TERMINAL_SQL, refuseNewerSchema, type Migration } from '../store-common.js';

// Numbered migrations of the SQLite job database. A migration is never edited once written: a
// change to the schema is a new entry at the end. Each applied version is recorded in
// `schema_migrations`; `migrate` applies the missing ones in one IMMEDIATE transaction, so two
// processes opening a fresh file at once cannot both apply the same migration (the second waits
// for the write lock, then finds the versions recorded).

export type { Migration };

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'executions and executors',
    // The table's invariants live here, not only in the code that writes it: a bug that tries to
    // store an impossible state fails loudly with "CHECK constraint failed" instead of leaving a
    // row no executor will ever pick up. Times are epoch milliseconds.
    sql: `
CREATE TABLE executions (
  -- Insertion order. Breaks claim-order ties; never reused for a smaller value (new rowids are
  -- max + 1), so the claim stays first-in first-out after prunes.
  seq               INTEGER PRIMARY KEY,
  id                TEXT    NOT NULL UNIQUE CHECK (length(id) > 0),
  session_id        TEXT    NOT NULL CHECK (length(session_id) > 0),
  language          TEXT    NOT NULL,
  source_code       TEXT    NOT NULL,
  stdin             TEXT    NOT NULL DEFAULT '',
  expected_output   TEXT,
  limit_overrides   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(limit_overrides) AND json_type(limit_overrides) = 'object'),
  status            TEXT    NOT NULL DEFAULT 'QUEUED'
                            CHECK (status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'TIMEOUT')),
  attempt           INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  max_attempts      INTEGER NOT NULL CHECK (max_attempts >= 1),
  idempotency_key   TEXT,
  request_hash      TEXT,
  lease_owner       TEXT,
  lease_expires_at  INTEGER,
  run_after         INTEGER NOT NULL,
  queued_at         INTEGER NOT NULL,
  started_at        INTEGER, -- start of the latest attempt; earlier attempts are in errors
  finished_at       INTEGER,
  result            TEXT    CHECK (result IS NULL OR (json_valid(result) AND json_type(result) = 'object')),
  errors            TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(errors) AND json_type(errors) = 'array'),

  CHECK (attempt <= max_attempts),
  -- A queued job always has an attempt left: the last failure goes to FAILED, not back to QUEUED.
  CHECK (status <> 'QUEUED' OR attempt < max_attempts),
  -- finished_at and result are set exactly when the state is terminal.
  CHECK ((finished_at IS NOT NULL) = (status IN ${TERMINAL_SQL})),
  CHECK ((result IS NOT NULL) = (status IN ${TERMINAL_SQL})),
  -- A lease (who, until when) exists exactly while the job runs.
  CHECK ((lease_owner IS NOT NULL) = (status = 'RUNNING')),
  CHECK ((lease_expires_at IS NOT NULL) = (status = 'RUNNING')),
  -- started_at is set exactly when an attempt has started (release gives an attempt back).
  -- (No CHECK orders the timestamps: a wall clock stepped back by NTP must not make a finish fail.)
  CHECK ((started_at IS NOT NULL) = (attempt > 0))
);

-- Ordered like the claim query (ExecutionClaimNext): status, then run_after, then seq.
CREATE INDEX executions_claim ON executions (status, run_after, seq);

-- A session's runs newest first, and its in-flight ones (a small partial index).
CREATE INDEX executions_session ON executions (session_id, seq);
CREATE INDEX executions_session_in_flight ON executions (session_id, seq) WHERE status IN ('QUEUED', 'RUNNING');

-- Idempotent runs: one execution per (session, key).
CREATE UNIQUE INDEX executions_idempotency ON executions (session_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- (The rescuer's scan of RUNNING rows uses executions_claim: there are at most a few per executor.)
-- The pruner's scan of old finished rows, and the last failures for \`codexec status\`.
CREATE INDEX executions_finished ON executions (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX executions_failures ON executions (finished_at) WHERE status IN ('FAILED', 'TIMEOUT');

-- Executors alive, by heartbeat; a row whose heartbeat is too old is an executor gone.
CREATE TABLE executors (
  id            TEXT    PRIMARY KEY CHECK (length(id) > 0),
  hostname      TEXT    NOT NULL,
  pid           INTEGER NOT NULL,
  slots         INTEGER NOT NULL CHECK (slots >= 0),
  busy          INTEGER NOT NULL CHECK (busy >= 0 AND busy <= slots),
  started_at    INTEGER NOT NULL,
  heartbeat_at  INTEGER NOT NULL
);
`,
  },
];

/** Applies the migrations the database lacks; returns the versions applied now. */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS, now = Date.now()): number[] {
  const apply = db.transaction((): number[] => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version     INTEGER PRIMARY KEY,
      name        TEXT    NOT NULL,
      applied_at  INTEGER NOT NULL
    )`);
    const applied = new Set(
      (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
    );
    refuseNewerSchema(applied, migrations);
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    const done: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, now);
      done.push(m.version);
    }
    return done;
  });
  return apply.immediate();
}
