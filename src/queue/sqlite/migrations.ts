import type Database from 'better-sqlite3';
import { JOBS_LEDGER, TERMINAL_SQL, type Migration } from '../migration.js';
import { applyMigrations } from './ledger.js';

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
  {
    version: 2,
    name: 'plans, inline runs, owners, cancel, events, transitions enforced',
    // What a job means is stored with it (plan: the resolved commands, limits and test cases);
    // a run may have no session (session_id NULL: code submitted inline) and an owner (an API key);
    // idempotency keys are unique per scope (the session, else the owner, else 'anonymous'); a
    // RUNNING job may carry a cancel request. SQLite cannot relax NOT NULL in place, so the table
    // is rebuilt (one transaction, with the rest of the migration). Rows from migration 1 keep
    // their request's pieces (stdin, expected_output, limit_overrides) and get a plan at the next
    // start of a process that has the language profiles (JobQueue.planLegacy); new rows leave
    // those columns at their defaults. The failure reason 'cancelled' becomes 'canceled'.
    //
    // The schema now also enforces the state machine (domain/states.ts) with a trigger that
    // refuses any other change of status, and publishes every status change as an event in
    // job_events, which other processes tail when the WAL changes (sqlite/events.ts).
    sql: `
CREATE TABLE executions_v2 (
  seq                  INTEGER PRIMARY KEY,
  id                   TEXT    NOT NULL UNIQUE CHECK (length(id) > 0),
  session_id           TEXT    CHECK (session_id IS NULL OR length(session_id) > 0),
  owner                TEXT    CHECK (owner IS NULL OR length(owner) > 0),
  idempotency_scope    TEXT    NOT NULL CHECK (length(idempotency_scope) > 0),
  language             TEXT    NOT NULL,
  source_code          TEXT    NOT NULL,
  plan                 TEXT    CHECK (plan IS NULL OR (json_valid(plan) AND json_type(plan) = 'object')),
  stdin                TEXT    NOT NULL DEFAULT '',
  expected_output      TEXT,
  limit_overrides      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(limit_overrides) AND json_type(limit_overrides) = 'object'),
  status               TEXT    NOT NULL DEFAULT 'QUEUED'
                               CHECK (status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'TIMEOUT')),
  attempt              INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  max_attempts         INTEGER NOT NULL CHECK (max_attempts >= 1),
  idempotency_key      TEXT,
  request_hash         TEXT,
  lease_owner          TEXT,
  lease_expires_at     INTEGER,
  run_after            INTEGER NOT NULL,
  queued_at            INTEGER NOT NULL,
  started_at           INTEGER,
  finished_at          INTEGER,
  cancel_requested_at  INTEGER,
  result               TEXT    CHECK (result IS NULL OR (json_valid(result) AND json_type(result) = 'object')),
  errors               TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(errors) AND json_type(errors) = 'array'),

  CHECK (attempt <= max_attempts),
  CHECK (status <> 'QUEUED' OR attempt < max_attempts),
  CHECK ((finished_at IS NOT NULL) = (status IN ${TERMINAL_SQL})),
  CHECK ((result IS NOT NULL) = (status IN ${TERMINAL_SQL})),
  CHECK ((lease_owner IS NOT NULL) = (status = 'RUNNING')),
  CHECK ((lease_expires_at IS NOT NULL) = (status = 'RUNNING')),
  CHECK ((started_at IS NOT NULL) = (attempt > 0)),
  -- A queued job is canceled at once, never flagged: a flag exists only on a running or ended job.
  CHECK (cancel_requested_at IS NULL OR status <> 'QUEUED')
);

INSERT INTO executions_v2 (seq, id, session_id, owner, idempotency_scope, language, source_code, plan, stdin, expected_output,
                           limit_overrides, status, attempt, max_attempts, idempotency_key, request_hash, lease_owner,
                           lease_expires_at, run_after, queued_at, started_at, finished_at, cancel_requested_at, result, errors)
SELECT seq, id, session_id, NULL, 'session:' || session_id, language, source_code, NULL, stdin, expected_output,
       limit_overrides, status, attempt, max_attempts, idempotency_key, request_hash, lease_owner,
       lease_expires_at, run_after, queued_at, started_at, finished_at, NULL,
       CASE WHEN json_extract(result, '$.failureReason') = 'cancelled' THEN json_set(result, '$.failureReason', 'canceled') ELSE result END,
       errors
FROM executions;

DROP TABLE executions;
ALTER TABLE executions_v2 RENAME TO executions;

CREATE INDEX executions_claim ON executions (status, run_after, seq);
CREATE INDEX executions_session ON executions (session_id, seq) WHERE session_id IS NOT NULL;
CREATE INDEX executions_session_in_flight ON executions (session_id, seq) WHERE session_id IS NOT NULL AND status IN ('QUEUED', 'RUNNING');
CREATE INDEX executions_owner_in_flight ON executions (owner, seq) WHERE owner IS NOT NULL AND status IN ('QUEUED', 'RUNNING');
CREATE UNIQUE INDEX executions_idempotency ON executions (idempotency_scope, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX executions_finished ON executions (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX executions_failures ON executions (finished_at) WHERE status IN ('FAILED', 'TIMEOUT');
CREATE INDEX executions_unplanned ON executions (seq) WHERE plan IS NULL AND status IN ('QUEUED', 'RUNNING');

-- The state machine of domain/states.ts: any other change of status is refused.
CREATE TRIGGER executions_transitions BEFORE UPDATE OF status ON executions
WHEN OLD.status <> NEW.status AND NOT (
     (OLD.status = 'QUEUED'  AND NEW.status IN ('RUNNING', 'FAILED'))
  OR (OLD.status = 'RUNNING' AND NEW.status IN ('COMPLETED', 'FAILED', 'TIMEOUT', 'QUEUED'))
)
BEGIN
  SELECT RAISE(ABORT, 'forbidden execution status transition');
END;

-- Every status change, as an event other processes read (events.ts). AUTOINCREMENT: a seq is
-- never reused after old events are pruned, so a reader's cursor never skips a new event.
CREATE TABLE job_events (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  kind          TEXT    NOT NULL CHECK (kind IN ('available', 'started', 'finished', 'cancel')),
  execution_id  TEXT    NOT NULL,
  at            INTEGER NOT NULL
);
CREATE INDEX job_events_at ON job_events (at);

CREATE TRIGGER executions_event_insert AFTER INSERT ON executions
BEGIN
  INSERT INTO job_events (kind, execution_id, at) VALUES ('available', NEW.id, NEW.queued_at);
END;

CREATE TRIGGER executions_event_status AFTER UPDATE OF status ON executions
WHEN OLD.status <> NEW.status
BEGIN
  INSERT INTO job_events (kind, execution_id, at)
  VALUES (CASE NEW.status WHEN 'QUEUED' THEN 'available' WHEN 'RUNNING' THEN 'started' ELSE 'finished' END,
          NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER executions_event_cancel AFTER UPDATE OF cancel_requested_at ON executions
WHEN OLD.cancel_requested_at IS NULL AND NEW.cancel_requested_at IS NOT NULL AND NEW.status = 'RUNNING'
BEGIN
  INSERT INTO job_events (kind, execution_id, at) VALUES ('cancel', NEW.id, NEW.cancel_requested_at);
END;
`,
  },
  {
    version: 3,
    name: 'live output, watches, webhook outbox',
    // Issue 17. An execution may carry a callback URL, and may be watched (someone follows
    // GET /executions/{id}/events until watched_until; its executor then records what the run
    // prints in execution_output, which every process tails through job_events). A terminal
    // status change of an execution with a callback URL writes its webhook delivery in the same
    // transaction (a trigger), so no finished run can lose its webhook, whichever statement ended it.
    //
    // job_events takes three more kinds (output, watch, webhook). SQLite cannot change a CHECK in
    // place: the table is rebuilt with its rows and its AUTOINCREMENT sequence (a running
    // process's cursor must never pass a new event), and the triggers that write it are dropped
    // first and made again (a rename refuses to run while a trigger names a missing table).
    sql: `
ALTER TABLE executions ADD COLUMN callback_url TEXT CHECK (callback_url IS NULL OR length(callback_url) BETWEEN 1 AND 2048);
ALTER TABLE executions ADD COLUMN watched_until INTEGER;

DROP TRIGGER executions_event_insert;
DROP TRIGGER executions_event_status;
DROP TRIGGER executions_event_cancel;

CREATE TABLE job_events_v3 (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  kind          TEXT    NOT NULL CHECK (kind IN ('available', 'started', 'finished', 'cancel', 'output', 'watch', 'webhook')),
  execution_id  TEXT    NOT NULL,
  at            INTEGER NOT NULL
);
INSERT INTO job_events_v3 (seq, kind, execution_id, at) SELECT seq, kind, execution_id, at FROM job_events;
DELETE FROM sqlite_sequence WHERE name = 'job_events_v3';
INSERT INTO sqlite_sequence (name, seq) SELECT 'job_events_v3', seq FROM sqlite_sequence WHERE name = 'job_events';
DROP TABLE job_events;
ALTER TABLE job_events_v3 RENAME TO job_events;
CREATE INDEX job_events_at ON job_events (at);

CREATE TRIGGER executions_event_insert AFTER INSERT ON executions
BEGIN
  INSERT INTO job_events (kind, execution_id, at) VALUES ('available', NEW.id, NEW.queued_at);
END;

CREATE TRIGGER executions_event_status AFTER UPDATE OF status ON executions
WHEN OLD.status <> NEW.status
BEGIN
  INSERT INTO job_events (kind, execution_id, at)
  VALUES (CASE NEW.status WHEN 'QUEUED' THEN 'available' WHEN 'RUNNING' THEN 'started' ELSE 'finished' END,
          NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER executions_event_cancel AFTER UPDATE OF cancel_requested_at ON executions
WHEN OLD.cancel_requested_at IS NULL AND NEW.cancel_requested_at IS NOT NULL AND NEW.status = 'RUNNING'
BEGIN
  INSERT INTO job_events (kind, execution_id, at) VALUES ('cancel', NEW.id, NEW.cancel_requested_at);
END;

CREATE TRIGGER executions_event_watch AFTER UPDATE OF watched_until ON executions
WHEN NEW.watched_until IS NOT NULL AND NEW.status IN ('QUEUED', 'RUNNING')
BEGIN
  INSERT INTO job_events (kind, execution_id, at) VALUES ('watch', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

-- What a watched run printed, one row per flush of its executor: a JSON array of events (output
-- text, test case started / finished). Deleted with its execution.
CREATE TABLE execution_output (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  execution_id  TEXT    NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
  attempt       INTEGER NOT NULL CHECK (attempt >= 1),
  events        TEXT    NOT NULL CHECK (json_valid(events) AND json_type(events) = 'array'),
  at            INTEGER NOT NULL
);
CREATE INDEX execution_output_by_execution ON execution_output (execution_id, seq);

CREATE TRIGGER execution_output_event AFTER INSERT ON execution_output
BEGIN
  INSERT INTO job_events (kind, execution_id, at) VALUES ('output', NEW.execution_id, NEW.at);
END;

-- The webhook outbox: one delivery per finished execution that has a callback URL. A pending
-- delivery is claimed like a job: the claim moves next_attempt_at past its lease, so a process
-- that dies while delivering leaves it to be claimed again.
CREATE TABLE webhook_deliveries (
  seq              INTEGER PRIMARY KEY,
  execution_id     TEXT    NOT NULL UNIQUE REFERENCES executions (id) ON DELETE CASCADE,
  url              TEXT    NOT NULL,
  state            TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  attempt_count    INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
  attempts         TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(attempts) AND json_type(attempts) = 'array'),
  next_attempt_at  INTEGER,
  lease_owner      TEXT,
  created_at       INTEGER NOT NULL,
  finished_at      INTEGER,
  -- Pending exactly while it has a next attempt; finished exactly when delivered or failed.
  CHECK ((next_attempt_at IS NOT NULL) = (state = 'pending')),
  CHECK ((finished_at IS NOT NULL) = (state <> 'pending')),
  CHECK (lease_owner IS NULL OR state = 'pending')
);
-- Ordered like the claim (WebhookClaimNext).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, seq) WHERE state = 'pending';

-- In the transaction of the terminal status change itself. OR IGNORE: an execution ends once
-- (the transitions trigger), so a second row could only come from a bug, never worth a failed finish.
CREATE TRIGGER executions_webhook_outbox AFTER UPDATE OF status ON executions
WHEN OLD.status <> NEW.status AND NEW.status IN ${TERMINAL_SQL} AND NEW.callback_url IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO webhook_deliveries (execution_id, url, next_attempt_at, created_at)
  VALUES (NEW.id, NEW.callback_url, NEW.finished_at, NEW.finished_at);
  INSERT INTO job_events (kind, execution_id, at) VALUES ('webhook', NEW.id, NEW.finished_at);
END;
`,
  },
  {
    version: 4,
    name: 'API nodes',
    // `codexec serve` processes, recorded with a heartbeat as executors are, so that `codexec
    // status` lists every API node on this database and flags one that went quiet. The same
    // table as the PostgreSQL store's migration 4.
    sql: `
CREATE TABLE api_nodes (
  id            TEXT    PRIMARY KEY CHECK (length(id) > 0),
  hostname      TEXT    NOT NULL,
  pid           INTEGER NOT NULL,
  version       TEXT    NOT NULL,
  address       TEXT    NOT NULL, -- host:port it listens on (its host name for a wildcard address)
  executors     INTEGER NOT NULL CHECK (executors >= 0), -- embedded executor slots (0: API only)
  started_at    INTEGER NOT NULL,
  heartbeat_at  INTEGER NOT NULL
);
`,
  },
  {
    version: 5,
    name: 'execution counts kept by triggers',
    // Executions per status, kept in the transaction of every change to the table, so that the
    // counts every GET /readyz, /metrics scrape and GET /status reads are five rows instead of a
    // scan of the whole claim index: 56-63 ms of the event loop per read with 1,000,000 executions
    // kept (1.65 runs/s over the default retention of 7 days), for each probe of a load balancer.
    // SQLite has one writer at a time, so these rows are no point of contention; the PostgreSQL
    // store counts instead (several writers would queue on the same rows). A later migration that
    // rebuilds the executions table must create these triggers again.
    sql: `
CREATE TABLE execution_counts (
  status  TEXT    PRIMARY KEY CHECK (status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'TIMEOUT')),
  n       INTEGER NOT NULL CHECK (n >= 0)
) WITHOUT ROWID;
INSERT INTO execution_counts (status, n)
SELECT s.status, (SELECT COUNT(*) FROM executions e WHERE e.status = s.status)
FROM (SELECT 'QUEUED' AS status UNION ALL SELECT 'RUNNING' UNION ALL SELECT 'COMPLETED' UNION ALL SELECT 'FAILED' UNION ALL SELECT 'TIMEOUT') s;

CREATE TRIGGER executions_count_insert AFTER INSERT ON executions
BEGIN
  UPDATE execution_counts SET n = n + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER executions_count_status AFTER UPDATE OF status ON executions
WHEN OLD.status <> NEW.status
BEGIN
  UPDATE execution_counts SET n = n - 1 WHERE status = OLD.status;
  UPDATE execution_counts SET n = n + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER executions_count_delete AFTER DELETE ON executions
BEGIN
  UPDATE execution_counts SET n = n - 1 WHERE status = OLD.status;
END;
`,
  },
  {
    version: 6,
    name: 'the oldest queued job found by an index',
    // The age of the oldest queued job, which every GET /readyz, /metrics scrape and GET /status
    // shows, was a read of every queued row (queued_at is in no index): 73 ms of the event loop
    // with a backlog of 100,000. This index holds only the queued rows, so it costs each job one
    // entry while it waits. StatsOldestQueuedAt names it (INDEXED BY): without statistics the
    // planner would take the claim index, which also starts with the status.
    sql: `
CREATE INDEX executions_queued_oldest ON executions (queued_at) WHERE status = 'QUEUED';
`,
  },
];

/** Applies the migrations the database lacks; returns the versions applied now. */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS, now = Date.now()): number[] {
  return applyMigrations(db, JOBS_LEDGER, migrations, now);
}
