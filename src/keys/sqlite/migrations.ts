import type Database from 'better-sqlite3';
import type { Migration } from '../../queue/migration.js';
import { applyMigrations } from '../../queue/sqlite/ledger.js';
import { KEYS_LEDGER } from '../key-store.js';

// Numbered migrations of the API key tables in the SQLite job database (codexec.db), with a
// ledger of their own (`keys_schema_migrations`) beside the queue's `schema_migrations`: each
// knows exactly its own versions, and neither numbers the other's. Never edited once written: a
// change is a new entry at the end. `migrate` applies the missing ones in one IMMEDIATE
// transaction, so two processes opening the file at once apply each one once.

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'api keys',
    // Times are epoch ms. The secret is not stored: its SHA-256 (api-key.ts says why that hash),
    // and its first characters for people. A quota of NULL is "none of its own".
    sql: `
CREATE TABLE api_keys (
  id               TEXT    PRIMARY KEY CHECK (id GLOB 'key_*' AND length(id) > 4),
  name             TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  prefix           TEXT    NOT NULL CHECK (prefix GLOB 'cdx_*'),
  secret_hash      TEXT    NOT NULL UNIQUE CHECK (length(secret_hash) = 64),
  created_at       INTEGER NOT NULL,
  last_used_at     INTEGER,
  revoked_at       INTEGER,
  runs_per_minute  INTEGER CHECK (runs_per_minute IS NULL OR runs_per_minute > 0),
  max_in_flight    INTEGER CHECK (max_in_flight IS NULL OR max_in_flight > 0),
  max_sessions     INTEGER CHECK (max_sessions IS NULL OR max_sessions > 0)
);

-- \`codexec keys revoke cdx_AbCd1234\`.
CREATE INDEX api_keys_prefix ON api_keys (prefix);
`,
  },
];

/** Applies the migrations the database lacks; returns the versions applied now. */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS, now = Date.now()): number[] {
  return applyMigrations(db, KEYS_LEDGER, migrations, now);
}
