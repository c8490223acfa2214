import type pg from 'pg';
import type { Migration } from '../../queue/migration.js';
import { applyMigrations } from '../../queue/postgres/ledger.js';
import { KEYS_LEDGER } from '../key-store.js';

// Numbered migrations of the API key tables, in the same database (and schema) as the job queue,
// with a ledger of their own (`keys_schema_migrations`), as the session tables have theirs. Never
// edited once written: a change is a new entry at the end.
//
// `migrate` applies the missing ones in one transaction after taking the advisory lock of the
// job and session migrations: processes starting at once on several hosts apply them once, one
// after the other, and never beside another store's migrations.

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'api keys',
    // Times are epoch ms in BIGINT. The secret is not stored: its SHA-256 (api-key.ts says why
    // that hash), and its first characters for people. A quota of NULL is "none of its own".
    sql: `
CREATE TABLE api_keys (
  id               TEXT    PRIMARY KEY CHECK (id LIKE 'key\\_%'),
  name             TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  prefix           TEXT    NOT NULL CHECK (prefix LIKE 'cdx\\_%'),
  secret_hash      TEXT    NOT NULL UNIQUE CHECK (length(secret_hash) = 64),
  created_at       BIGINT  NOT NULL,
  last_used_at     BIGINT,
  revoked_at       BIGINT,
  runs_per_minute  INTEGER CHECK (runs_per_minute IS NULL OR runs_per_minute > 0),
  max_in_flight    INTEGER CHECK (max_in_flight IS NULL OR max_in_flight > 0),
  max_sessions     INTEGER CHECK (max_sessions IS NULL OR max_sessions > 0)
);

-- codexec keys revoke cdx_AbCd1234
CREATE INDEX api_keys_prefix ON api_keys (prefix);
`,
  },
];

/** Applies the migrations the database lacks on `client`; returns the versions applied now. */
export function migrate(client: pg.ClientBase, migrations: readonly Migration[] = MIGRATIONS, now = Date.now()): Promise<number[]> {
  return applyMigrations(client, KEYS_LEDGER, migrations, now);
}
