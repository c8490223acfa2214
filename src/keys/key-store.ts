import type { Config } from '../config/schema.js';
import { CodexecError } from '../domain/errors.js';
import type { Ledger } from '../queue/migration.js';
import { jobDatabasePath } from '../queue/open.js';
import type { ProcessRole } from '../queue/postgres/application-name.js';
import type { ApiKey, KeyQuotas } from './api-key.js';

// Where API keys live: in the job database (CODEXEC_DATA_DIR/codexec.db, or the PostgreSQL
// database of CODEXEC_DATABASE_URL), so every API node and every `codexec keys` command sees the
// same keys. One implementation per dialect holds the SQL (sqlite/, postgres/); the rules (what a
// key is, how one is found, created or revoked) are in api-key.ts and keys.ts.

export interface NewKey {
  id: string;
  name: string;
  prefix: string;
  secretHash: string;
  createdAt: number;
  quotas: KeyQuotas;
}

export interface KeyStore {
  insert(key: NewKey): Promise<ApiKey>;
  /** Every key, revoked ones included, oldest first. */
  list(): Promise<ApiKey[]>;
  getById(id: string): Promise<ApiKey | null>;
  getBySecretHash(secretHash: string): Promise<ApiKey | null>;
  /** Keys whose display prefix is exactly `prefix`. */
  listByPrefix(prefix: string): Promise<ApiKey[]>;
  /** Sets revoked_at (kept when already set); null when no key has this id. */
  revoke(id: string, now: number): Promise<ApiKey | null>;
  /** Sets last_used_at to `now` unless it was set less than `minIntervalMs` ago (by any node). */
  touch(id: string, now: number, minIntervalMs: number): Promise<void>;
  close(): Promise<void>;
}

/** A row of api_keys, as both dialects return it (times as numbers). */
export interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  runs_per_minute: number | null;
  max_in_flight: number | null;
  max_sessions: number | null;
}

export function rowToKey(row: KeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    quotas: { runsPerMinute: row.runs_per_minute, executionsInFlight: row.max_in_flight, sessions: row.max_sessions },
  };
}

/** The parameters of KeyInsert, in both dialects. */
export function insertParams(key: NewKey): Record<string, unknown> {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    secretHash: key.secretHash,
    createdAt: key.createdAt,
    runsPerMinute: key.quotas.runsPerMinute,
    maxInFlight: key.quotas.executionsInFlight,
    maxSessions: key.quotas.sessions,
  };
}

/** The ledger of the key tables' migrations (sqlite/ and postgres/ migrations.ts), apart from the queue's. */
export const KEYS_LEDGER: Ledger = { table: 'keys_schema_migrations', holder: 'the API key tables have' };

/** Opens (and migrates) the key tables of the job database this configuration names. */
export async function openKeyStore(config: Pick<Config, 'dataDir' | 'databaseUrl'>, opts: { role?: ProcessRole } = {}): Promise<KeyStore> {
  const url = config.databaseUrl.trim();
  if (url === '') {
    const { SqliteKeyStore } = await import('./sqlite/sqlite-key-store.js');
    return SqliteKeyStore.open(jobDatabasePath(config));
  }
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new CodexecError('unsupported_database', 500, 'CODEXEC_DATABASE_URL must be empty (SQLite in CODEXEC_DATA_DIR) or a postgres:// URL', {
      details: { scheme: url.split(':')[0] },
    });
  }
  // Loaded only here, so that a SQLite install never loads the PostgreSQL client.
  const { PostgresKeyStore } = await import('./postgres/postgres-key-store.js');
  return PostgresKeyStore.open(url, { role: opts.role });
}
