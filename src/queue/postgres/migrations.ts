import type pg from 'pg';
import { JOBS_LEDGER, TERMINAL_SQL, type Migration } from '../migration.js';
import { applyMigrations } from './ledger.js';
import {
  ADVISORY_KEY_QUEUE_DEPTH,
  ADVISORY_NAMESPACE,
  ADVISORY_OWNER_NAMESPACE,
  ADVISORY_SCOPE_NAMESPACE,
  ADVISORY_SESSION_NAMESPACE,
  DEPTH_NEAR_LIMIT_SQLSTATE,
  JOBS_CHANNEL,
  LIVE_COUNT_SHARDS,
} from './sql.js';

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
  {
    version: 2,
    name: 'plans, inline runs, owners, cancel, events, transitions enforced',
    // The same change as the SQLite store's migration 2 (read its comment), in place: PostgreSQL
    // can relax NOT NULL and add columns without rebuilding the table. `plan` is `json` (not
    // jsonb) for the reason given in migration 1: a test case's input may hold a NUL.
    //
    // Events: a trigger NOTIFYs every status change on the jobs channel with the payload
    // "<kind>:<execution id>" (kind: available / started / finished / cancel), delivered to every
    // LISTENing process at commit; identical notifications of one transaction are folded into one.
    sql: `
ALTER TABLE executions ALTER COLUMN session_id DROP NOT NULL;
ALTER TABLE executions DROP CONSTRAINT executions_session_id_check;
ALTER TABLE executions ADD CONSTRAINT executions_session_id_check CHECK (session_id IS NULL OR length(session_id) > 0);
ALTER TABLE executions
  ADD COLUMN owner TEXT CHECK (owner IS NULL OR length(owner) > 0),
  ADD COLUMN idempotency_scope TEXT,
  ADD COLUMN plan JSON CHECK (plan IS NULL OR json_typeof(plan) = 'object'),
  ADD COLUMN cancel_requested_at BIGINT;
UPDATE executions SET idempotency_scope = 'session:' || session_id;
ALTER TABLE executions ALTER COLUMN idempotency_scope SET NOT NULL;
ALTER TABLE executions ADD CONSTRAINT executions_idempotency_scope_check CHECK (length(idempotency_scope) > 0);
ALTER TABLE executions ADD CONSTRAINT executions_cancel_flag CHECK (cancel_requested_at IS NULL OR status <> 'QUEUED');
UPDATE executions
SET failure_reason = 'canceled',
    result = replace(result::text, '"failureReason":"cancelled"', '"failureReason":"canceled"')::json
WHERE failure_reason = 'cancelled';

DROP INDEX executions_session;
DROP INDEX executions_session_in_flight;
DROP INDEX executions_idempotency;
CREATE INDEX executions_session ON executions (session_id, seq) WHERE session_id IS NOT NULL;
CREATE INDEX executions_session_in_flight ON executions (session_id, seq) WHERE session_id IS NOT NULL AND status IN ('QUEUED', 'RUNNING');
CREATE INDEX executions_owner_in_flight ON executions (owner, seq) WHERE owner IS NOT NULL AND status IN ('QUEUED', 'RUNNING');
CREATE UNIQUE INDEX executions_idempotency ON executions (idempotency_scope, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX executions_unplanned ON executions (seq) WHERE plan IS NULL AND status IN ('QUEUED', 'RUNNING');

-- The state machine of domain/states.ts: any other change of status is refused.
CREATE FUNCTION codexec_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT ((OLD.status = 'QUEUED'  AND NEW.status IN ('RUNNING', 'FAILED'))
       OR (OLD.status = 'RUNNING' AND NEW.status IN ('COMPLETED', 'FAILED', 'TIMEOUT', 'QUEUED'))) THEN
    RAISE EXCEPTION 'forbidden execution status transition % -> %', OLD.status, NEW.status USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER executions_transitions BEFORE UPDATE OF status ON executions
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION codexec_check_transition();

-- Every status change (and a cancel request on a running job), told to every listener.
CREATE FUNCTION codexec_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE kind TEXT;
BEGIN
  IF TG_OP = 'INSERT' THEN kind := 'available';
  ELSIF OLD.status IS DISTINCT FROM NEW.status THEN
    kind := CASE NEW.status WHEN 'QUEUED' THEN 'available' WHEN 'RUNNING' THEN 'started' ELSE 'finished' END;
  ELSIF OLD.cancel_requested_at IS NULL AND NEW.cancel_requested_at IS NOT NULL AND NEW.status = 'RUNNING' THEN kind := 'cancel';
  ELSE RETURN NULL;
  END IF;
  PERFORM pg_notify('${JOBS_CHANNEL}', kind || ':' || NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER executions_notify_insert AFTER INSERT ON executions
  FOR EACH ROW EXECUTE FUNCTION codexec_notify_job();
CREATE TRIGGER executions_notify_update AFTER UPDATE OF status, cancel_requested_at ON executions
  FOR EACH ROW EXECUTE FUNCTION codexec_notify_job();
`,
  },
  {
    version: 3,
    name: 'live output, watches, webhook outbox',
    // The same change as the SQLite store's migration 3 (read its comment). Events go out as
    // NOTIFY on the jobs channel like the others: "output:<id>" for each flush of a watched run's
    // output, "watch:<id>" when someone starts or keeps following a job, "webhook:<id>" when a
    // finished job's delivery is written. `events` and `attempts` are json (not jsonb) for the
    // reason given in migration 1: a program's output may hold a NUL.
    sql: `
ALTER TABLE executions
  ADD COLUMN callback_url TEXT CHECK (callback_url IS NULL OR length(callback_url) BETWEEN 1 AND 2048),
  ADD COLUMN watched_until BIGINT;

CREATE TABLE execution_output (
  seq           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  execution_id  TEXT    NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
  attempt       INTEGER NOT NULL CHECK (attempt >= 1),
  events        JSON    NOT NULL CHECK (json_typeof(events) = 'array'),
  at            BIGINT  NOT NULL
);
CREATE INDEX execution_output_by_execution ON execution_output (execution_id, seq);

CREATE TABLE webhook_deliveries (
  seq              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  execution_id     TEXT    NOT NULL UNIQUE REFERENCES executions (id) ON DELETE CASCADE,
  url              TEXT    NOT NULL,
  state            TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  attempt_count    INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
  attempts         JSON    NOT NULL DEFAULT '[]' CHECK (json_typeof(attempts) = 'array'),
  next_attempt_at  BIGINT,
  lease_owner      TEXT,
  created_at       BIGINT  NOT NULL,
  finished_at      BIGINT,
  CHECK ((next_attempt_at IS NOT NULL) = (state = 'pending')),
  CHECK ((finished_at IS NOT NULL) = (state <> 'pending')),
  CHECK (lease_owner IS NULL OR state = 'pending')
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, seq) WHERE state = 'pending';

CREATE FUNCTION codexec_notify_output() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('${JOBS_CHANNEL}', 'output:' || NEW.execution_id);
  RETURN NULL;
END $$;
CREATE TRIGGER execution_output_notify AFTER INSERT ON execution_output
  FOR EACH ROW EXECUTE FUNCTION codexec_notify_output();

CREATE FUNCTION codexec_notify_watch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('${JOBS_CHANNEL}', 'watch:' || NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER executions_notify_watch AFTER UPDATE OF watched_until ON executions
  FOR EACH ROW WHEN (NEW.watched_until IS NOT NULL AND NEW.status IN ('QUEUED', 'RUNNING'))
  EXECUTE FUNCTION codexec_notify_watch();

-- The outbox row is written in the transaction of the terminal status change itself.
CREATE FUNCTION codexec_webhook_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_deliveries (execution_id, url, next_attempt_at, created_at)
  VALUES (NEW.id, NEW.callback_url, NEW.finished_at, NEW.finished_at)
  ON CONFLICT (execution_id) DO NOTHING;
  PERFORM pg_notify('${JOBS_CHANNEL}', 'webhook:' || NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER executions_webhook_outbox AFTER UPDATE OF status ON executions
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ${TERMINAL_SQL} AND NEW.callback_url IS NOT NULL)
  EXECUTE FUNCTION codexec_webhook_outbox();
`,
  },
  {
    version: 4,
    name: 'API nodes, the enqueue in one round trip',
    // API nodes: the same table as the SQLite store's migration 4 (read its comment).
    //
    // codexec_enqueue: what ExecutionEnqueue runs (sql.ts, statements.ts say what it does). A
    // function, because the checks must see every enqueue committed before their lock was
    // granted: one plain statement reads with the snapshot of its start, taken before it waits
    // for a lock, while a VOLATILE function takes a fresh snapshot for each statement it runs.
    // So each count below, made after its lock, sees the rows of every enqueue that held the lock
    // before; the insert comes last, and the locks (transaction-scoped) are held until the
    // calling statement commits. Called alone (no BEGIN), it is one round trip for the whole
    // enqueue, which took seven to nine as a transaction of separate statements. It only checks
    // the limits it is given and says nothing of why it inserted nothing: the core reads that (the
    // rules stay in core/enqueue.ts). The locks are taken in the one order of sql.ts: scope,
    // session, owner, queue depth.
    sql: `
CREATE TABLE api_nodes (
  id            TEXT    PRIMARY KEY CHECK (length(id) > 0),
  hostname      TEXT    NOT NULL,
  pid           INTEGER NOT NULL,
  version       TEXT    NOT NULL,
  address       TEXT    NOT NULL,
  executors     INTEGER NOT NULL CHECK (executors >= 0),
  started_at    BIGINT  NOT NULL,
  heartbeat_at  BIGINT  NOT NULL
);

CREATE FUNCTION codexec_enqueue(
  p_id TEXT, p_session_id TEXT, p_owner TEXT, p_scope TEXT, p_language TEXT, p_source_code BYTEA, p_plan JSON,
  p_callback_url TEXT, p_max_attempts INTEGER, p_idempotency_key TEXT, p_request_hash TEXT, p_now BIGINT,
  p_session_limit INTEGER, p_owner_limit INTEGER, p_depth_limit INTEGER
) RETURNS SETOF executions LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF p_idempotency_key IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(${ADVISORY_SCOPE_NAMESPACE}, hashtext(p_scope));
    RETURN QUERY SELECT * FROM executions WHERE idempotency_scope = p_scope AND idempotency_key = p_idempotency_key;
    IF FOUND THEN RETURN; END IF;
  END IF;
  IF p_session_limit IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(${ADVISORY_SESSION_NAMESPACE}, hashtext(p_session_id));
    IF (SELECT COUNT(*) FROM (SELECT 1 FROM executions WHERE session_id = p_session_id AND status IN ('QUEUED', 'RUNNING')
        LIMIT p_session_limit) AS q) >= p_session_limit THEN RETURN; END IF;
  END IF;
  IF p_owner_limit IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(${ADVISORY_OWNER_NAMESPACE}, hashtext(p_owner));
    IF (SELECT COUNT(*) FROM (SELECT 1 FROM executions WHERE owner = p_owner AND status IN ('QUEUED', 'RUNNING')
        LIMIT p_owner_limit) AS q) >= p_owner_limit THEN RETURN; END IF;
  END IF;
  IF p_depth_limit IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(${ADVISORY_NAMESPACE}, ${ADVISORY_KEY_QUEUE_DEPTH});
    IF (SELECT COUNT(*) FROM (SELECT 1 FROM executions WHERE status = 'QUEUED' LIMIT p_depth_limit) AS q) >= p_depth_limit THEN
      RETURN;
    END IF;
  END IF;
  RETURN QUERY
    INSERT INTO executions (id, session_id, owner, idempotency_scope, language, source_code, plan, callback_url,
                            status, attempt, max_attempts, idempotency_key, request_hash, run_after, queued_at)
    VALUES (p_id, p_session_id, p_owner, p_scope, p_language, p_source_code, p_plan, p_callback_url,
            'QUEUED', 0, p_max_attempts, p_idempotency_key, p_request_hash, p_now, p_now)
    RETURNING *;
END $$;
`,
  },
  {
    version: 5,
    name: 'a session run in one round trip',
    // codexec_session_run: what SessionRunEnqueue runs (src/sessions/postgres/sql.ts says when).
    // A run of a live session as one statement: lock the session's row, check that it is still
    // exactly as the caller read it a moment before (same revision, same last autosave and last
    // run, not closed), enqueue through codexec_enqueue (migration 4: its locks, checks and
    // insert), and when that inserted the job, record the run on the session. It returns the new
    // job, or nothing: the session changed, or the enqueue inserted nothing or found an earlier
    // job with the key; the caller then takes the locked path, which explains each case. The
    // caller decided that the session was ACTIVE from what it read (sessionStatus, one rule in
    // TypeScript), and the row being unchanged keeps that true at the same instant. The expiry
    // after the run is computed by the calling statement (sql.ts), so no session rule is written
    // here. The sessions table belongs to the session store's migrations: a PL/pgSQL body is
    // resolved when it runs, and only the PostgreSQL session store calls this, on the database it
    // shares with the queue. Locks: the session's row, then the enqueue's advisory locks, the
    // order of the locked path (whose transaction holds the row while it enqueues), so this adds
    // no wait-for cycle.
    sql: `
CREATE FUNCTION codexec_session_run(
  p_revision BIGINT, p_updated_at BIGINT, p_last_run_at BIGINT, p_expires_at BIGINT,
  p_id TEXT, p_session_id TEXT, p_owner TEXT, p_scope TEXT, p_language TEXT, p_source_code BYTEA, p_plan JSON,
  p_callback_url TEXT, p_max_attempts INTEGER, p_idempotency_key TEXT, p_request_hash TEXT, p_now BIGINT,
  p_session_limit INTEGER, p_owner_limit INTEGER, p_depth_limit INTEGER
) RETURNS SETOF executions LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  r executions;
BEGIN
  PERFORM 1 FROM sessions s
    WHERE s.id = p_session_id AND s.closed_at IS NULL AND s.revision = p_revision AND s.updated_at = p_updated_at
      AND s.last_run_at IS NOT DISTINCT FROM p_last_run_at
    FOR UPDATE;
  IF NOT FOUND THEN RETURN; END IF;
  FOR r IN SELECT * FROM codexec_enqueue(
      p_id => p_id, p_session_id => p_session_id, p_owner => p_owner, p_scope => p_scope, p_language => p_language,
      p_source_code => p_source_code, p_plan => p_plan, p_callback_url => p_callback_url, p_max_attempts => p_max_attempts,
      p_idempotency_key => p_idempotency_key, p_request_hash => p_request_hash, p_now => p_now,
      p_session_limit => p_session_limit, p_owner_limit => p_owner_limit, p_depth_limit => p_depth_limit) LOOP
    IF r.id = p_id THEN
      UPDATE sessions SET last_run_at = p_now, expires_at = p_expires_at WHERE id = p_session_id;
      RETURN NEXT r;
    END IF;
  END LOOP;
END $$;
`,
  },
  {
    version: 6,
    name: 'enqueues far below the queue depth limit do not wait for each other',
    // codexec_enqueue of migration 4 again, but for its depth check. There every enqueue took the
    // queue-depth lock exclusively and held it through its commit (the WAL flush included): every
    // enqueue of every API node waited for the one before, on a lock that only the last places
    // below the limit need. Now an enqueue first takes that lock shared (enqueues share it and do
    // not wait for each other) and counts the queued jobs after it is granted. It goes on only
    // if they are fewer than the limit minus max_connections: each enqueue in flight holds a
    // connection, so even all of them at once cannot pass the limit. Nearer the limit, the shared
    // lock is given back (the inner block's subtransaction ends with it) and the enqueue takes the
    // lock exclusively as before, which waits for every enqueue holding it shared to commit: the
    // count after it is exact. So the limit still admits exactly as many as it says. The rest of
    // the function is unchanged (read migration 4's comment).
    sql: `
${enqueueWithSharedDepthLock("(SELECT COUNT(*) FROM (SELECT 1 FROM executions WHERE status = 'QUEUED' LIMIT p_depth_limit) AS q)")}`,
  },
  {
    version: 7,
    name: 'the oldest queued job found by an index',
    // The age of the oldest queued job (GET /readyz, /metrics, GET /status) read every queued row:
    // 22 ms with a backlog of 100,000, 0.34 ms from this index (a round trip included). It holds
    // only the queued rows, so it costs each job one entry while it waits, and MIN(queued_at)
    // reads its first entry. The same index as the SQLite store's migration 6.
    sql: `
CREATE INDEX executions_queued_oldest ON executions (queued_at) WHERE status = 'QUEUED';
`,
  },
  {
    version: 8,
    name: 'queued and running jobs counted at commit, in shards',
    // The queued and running jobs were counted by walking their rows: each enqueue's depth check
    // walked up to CODEXEC_QUEUE_MAX_DEPTH index entries, and GET /readyz every queued one (with
    // 100,000 queued: 9-13 ms of the database's CPU per enqueue, 16-66 ms per probe). The SQLite
    // store keeps the counts in one row per status (its migration 5), which every enqueue, claim
    // and finish here would queue on, from every host, through each commit. So the counts are kept
    // in shards: a transaction adds its changes to the row of its connection's backend (pid mod
    // 64), and a count is the sum of the 64 rows. Two transactions wait for each other only when
    // their backends share a row and they commit at the same moment.
    //
    // The triggers are constraint triggers deferred to the commit: a transaction takes its shard's
    // row lock only as it commits, after every other lock it takes, so the row can never be part
    // of a wait-for cycle (an immediate trigger would hold it from its first status change, while
    // the transaction may still wait for an execution row). A sum therefore sees what committed,
    // as a count of the rows does from another transaction; codexec_enqueue counts before it
    // inserts, so it never needed its own uncommitted rows. Its depth check now sums the shards
    // (same locks, same reasoning as migration 6: the exact path waits for the commit of every
    // enqueue that held the lock shared, their counts included).
    //
    // Each change of a count is a new version of a shard row. The table's pages are filled to 10%,
    // so a new version fits on its row's page (a HOT update: no index entry) and the dead ones are
    // pruned as the page is read; autovacuum comes after 1,000 of them, not after a fifth of the
    // table. Only the live statuses are counted: a prune or any bulk change of finished rows
    // touches no count (versions made in one transaction cannot be pruned before its commit).
    // While a long transaction holds back the horizon (a pg_dump, a session idle in a
    // transaction), the versions pile up until it ends, and each sum reads them.
    //
    // The counts start from the rows there, counted while the table is locked against writes
    // (processes of an older codexec may be running), so none is missed or counted twice.
    sql: `
CREATE TABLE execution_live_counts (
  shard    INTEGER PRIMARY KEY CHECK (shard >= 0 AND shard < ${LIVE_COUNT_SHARDS}),
  queued   BIGINT  NOT NULL,
  running  BIGINT  NOT NULL
) WITH (fillfactor = 10, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
INSERT INTO execution_live_counts (shard, queued, running) SELECT g, 0, 0 FROM generate_series(0, ${LIVE_COUNT_SHARDS - 1}) AS g;

CREATE FUNCTION codexec_count_live() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was TEXT := CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.status END;
  now_is TEXT := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.status END;
BEGIN
  UPDATE execution_live_counts SET
    queued  = queued  + (now_is IS NOT DISTINCT FROM 'QUEUED')::int  - (was IS NOT DISTINCT FROM 'QUEUED')::int,
    running = running + (now_is IS NOT DISTINCT FROM 'RUNNING')::int - (was IS NOT DISTINCT FROM 'RUNNING')::int
  WHERE shard = pg_backend_pid() % ${LIVE_COUNT_SHARDS};
  RETURN NULL;
END $$;

LOCK TABLE executions IN SHARE ROW EXCLUSIVE MODE;
CREATE CONSTRAINT TRIGGER executions_count_live_insert AFTER INSERT ON executions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (NEW.status IN ('QUEUED', 'RUNNING')) EXECUTE FUNCTION codexec_count_live();
CREATE CONSTRAINT TRIGGER executions_count_live_update AFTER UPDATE OF status ON executions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status AND (OLD.status IN ('QUEUED', 'RUNNING') OR NEW.status IN ('QUEUED', 'RUNNING')))
  EXECUTE FUNCTION codexec_count_live();
CREATE CONSTRAINT TRIGGER executions_count_live_delete AFTER DELETE ON executions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (OLD.status IN ('QUEUED', 'RUNNING')) EXECUTE FUNCTION codexec_count_live();
UPDATE execution_live_counts SET
  queued  = (SELECT COUNT(*) FROM executions WHERE status = 'QUEUED'),
  running = (SELECT COUNT(*) FROM executions WHERE status = 'RUNNING')
WHERE shard = 0;

${enqueueWithSharedDepthLock('(SELECT SUM(queued) FROM execution_live_counts)')}`,
  },
];

/** Applies the migrations the database lacks, on `client` (a connection of its own); returns the versions applied now. */
export function migrate(client: pg.ClientBase, migrations: readonly Migration[] = MIGRATIONS, now = Date.now()): Promise<number[]> {
  return applyMigrations(client, JOBS_LEDGER, migrations, now);
}

/**
 * codexec_enqueue as migrations 6 and 8 define it: the same body but for how its depth check
 * counts the queued jobs (`queued`, an SQL expression). The text a migration produces never
 * changes once written, so this is never edited: a new body is a new function here.
 */
function enqueueWithSharedDepthLock(queued: string): string {
  return `CREATE OR REPLACE FUNCTION codexec_enqueue(
  p_id TEXT, p_session_id TEXT, p_owner TEXT, p_scope TEXT, p_language TEXT, p_source_code BYTEA, p_plan JSON,
  p_callback_url TEXT, p_max_attempts INTEGER, p_idempotency_key TEXT, p_request_hash TEXT, p_now BIGINT,
  p_session_limit INTEGER, p_owner_limit INTEGER, p_depth_limit INTEGER
) RETURNS SETOF executions LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF p_idempotency_key IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(${ADVISORY_SCOPE_NAMESPACE}, hashtext(p_scope));
    RETURN QUERY SELECT * FROM executions WHERE idempotency_scope = p_scope AND idempotency_key = p_idempotency_key;
    IF FOUND THEN RETURN; END IF;
  END IF;
  IF p_session_limit IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(${ADVISORY_SESSION_NAMESPACE}, hashtext(p_session_id));
    IF (SELECT COUNT(*) FROM (SELECT 1 FROM executions WHERE session_id = p_session_id AND status IN ('QUEUED', 'RUNNING')
        LIMIT p_session_limit) AS q) >= p_session_limit THEN RETURN; END IF;
  END IF;
  IF p_owner_limit IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(${ADVISORY_OWNER_NAMESPACE}, hashtext(p_owner));
    IF (SELECT COUNT(*) FROM (SELECT 1 FROM executions WHERE owner = p_owner AND status IN ('QUEUED', 'RUNNING')
        LIMIT p_owner_limit) AS q) >= p_owner_limit THEN RETURN; END IF;
  END IF;
  IF p_depth_limit IS NOT NULL THEN
    BEGIN
      PERFORM pg_advisory_xact_lock_shared(${ADVISORY_NAMESPACE}, ${ADVISORY_KEY_QUEUE_DEPTH});
      IF ${queued}
          >= p_depth_limit - current_setting('max_connections')::int THEN
        RAISE EXCEPTION USING ERRCODE = '${DEPTH_NEAR_LIMIT_SQLSTATE}';
      END IF;
    EXCEPTION WHEN SQLSTATE '${DEPTH_NEAR_LIMIT_SQLSTATE}' THEN
      PERFORM pg_advisory_xact_lock(${ADVISORY_NAMESPACE}, ${ADVISORY_KEY_QUEUE_DEPTH});
      IF ${queued} >= p_depth_limit THEN
        RETURN;
      END IF;
    END;
  END IF;
  RETURN QUERY
    INSERT INTO executions (id, session_id, owner, idempotency_scope, language, source_code, plan, callback_url,
                            status, attempt, max_attempts, idempotency_key, request_hash, run_after, queued_at)
    VALUES (p_id, p_session_id, p_owner, p_scope, p_language, p_source_code, p_plan, p_callback_url,
            'QUEUED', 0, p_max_attempts, p_idempotency_key, p_request_hash, p_now, p_now)
    RETURNING *;
END $$;
`;
}
