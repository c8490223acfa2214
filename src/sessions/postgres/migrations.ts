import type pg from 'pg';
import type { Ledger, Migration } from '../../queue/migration.js';
import { applyMigrations } from '../../queue/postgres/ledger.js';

export type { Migration };

// Numbered migrations of the session tables, in the same database (and schema) as the job
// queue. A migration is never edited once written: a change is a new entry at the end. Applied
// versions are recorded in `session_schema_migrations`, apart from the job store's
// `schema_migrations`, so that each store knows exactly its own versions (each refuses a
// database that a newer codexec migrated).
//
// `migrate` applies the missing ones in one transaction after taking the same transaction-scoped
// advisory lock as the job store's migrations: processes starting at once on several hosts apply
// them once, one after the other, and the job and session migrations never run concurrently.

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'sessions',
    // Times are epoch ms in BIGINT; source_code is BYTEA holding UTF-8, because a TEXT value
    // cannot contain a NUL character, which a learner's code may. The status is not stored:
    // CLOSED is closed_at, EXPIRED is derived from the last activity (see sql.ts).
    sql: `
CREATE TABLE sessions (
  id           TEXT    PRIMARY KEY CHECK (length(id) > 0),
  language     TEXT    NOT NULL CHECK (length(language) > 0),
  source_code  BYTEA   NOT NULL,
  -- Starts at 0; +1 per accepted autosave, or the client's own (strictly increasing) revision.
  revision     BIGINT  NOT NULL CHECK (revision >= 0),
  created_at   BIGINT  NOT NULL,
  updated_at   BIGINT  NOT NULL, -- last accepted autosave (or creation)
  last_run_at  BIGINT,
  closed_at    BIGINT,
  -- When the record may be deleted: its last write plus the idle TTL and retention (retention
  -- only, once closed). Readers treat a record past it as gone; pruning deletes it.
  expires_at   BIGINT  NOT NULL,
  -- The hour expires_at falls in, which the pruner's index holds instead of expires_at: every
  -- autosave moves expires_at, but this at most once an hour, so an autosave changes no indexed
  -- column and PostgreSQL updates the row in place, in free space kept on its page (a HOT
  -- update: no new index entries, half the WAL of an update that moves the index).
  expires_hour BIGINT  GENERATED ALWAYS AS (expires_at / 3600000) STORED
) WITH (fillfactor = 70);

-- The pruner's scan (SessionPruneBatch), oldest first.
CREATE INDEX sessions_expires_hour ON sessions (expires_hour);
`,
  },
  {
    version: 2,
    name: 'rate-limit windows',
    // UNLOGGED: no WAL, so a hit commits without waiting for a disk flush. PostgreSQL empties the
    // table after a crash (not after a clean restart) and standbys do not have it: rate-limit
    // windows then start again from zero, which only lets a client in a little early.
    sql: `
CREATE UNLOGGED TABLE rate_limit_windows (
  key             TEXT    PRIMARY KEY,
  hits            BIGINT  NOT NULL CHECK (hits >= 1),
  window_ends_at  BIGINT  NOT NULL
);

-- The pruner's scan (RateLimitPruneBatch).
CREATE INDEX rate_limit_windows_ends ON rate_limit_windows (window_ends_at);
`,
  },
  {
    version: 3,
    name: 'session owners',
    // The API key that created a session (CODEXEC_AUTH=keys); NULL without authentication. The
    // index serves the quota of open sessions per key (SessionCountOpenOfOwner) and holds only
    // open sessions of keys. An autosave changes neither owner nor closed_at, so it stays a HOT
    // update (see migration 1).
    sql: `
ALTER TABLE sessions ADD COLUMN owner TEXT CHECK (owner IS NULL OR length(owner) > 0);

CREATE INDEX sessions_owner_open ON sessions (owner) WHERE owner IS NOT NULL AND closed_at IS NULL;
`,
  },
  {
    version: 4,
    name: 'session owners by expiry hour',
    // The quota's count walked every session of the key not closed, idle-expired ones included
    // until the prune deletes them after the retention: 400 ms under the key's lock, for each
    // create of a key with 1,000,000 (2.5 creates/s for that key, from all nodes together). An
    // open session's last write set expires_at to its last activity + idle TTL + retention, so
    // it is open only if expires_at >= now + retention: by expires_hour, a range of this index.
    // expires_hour is already indexed (the pruner's index): an autosave that moves it is not a
    // HOT update anyway, so this costs no HOT update.
    sql: `
CREATE INDEX sessions_owner_open_hour ON sessions (owner, expires_hour) WHERE owner IS NOT NULL AND closed_at IS NULL;
DROP INDEX sessions_owner_open;
`,
  },
];

const LEDGER: Ledger = { table: 'session_schema_migrations', holder: 'the session tables have' };

/** Applies the migrations the database lacks on `client`; returns the versions applied now. */
export function migrate(client: pg.ClientBase, migrations: readonly Migration[] = MIGRATIONS, now = Date.now()): Promise<number[]> {
  return applyMigrations(client, LEDGER, migrations, now);
}
