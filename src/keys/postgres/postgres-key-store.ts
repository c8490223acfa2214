import pg from 'pg';
import { CodexecError } from '../../domain/errors.js';
import { where } from '../../queue/open.js';
import type { ProcessRole } from '../../queue/postgres/application-name.js';
import { rethrowUnavailable } from '../../queue/postgres/connection-errors.js';
import { guardPool, migrateOn } from '../../queue/postgres/pool.js';
import { PG_TYPES } from '../../queue/postgres/rows.js';
import { bindValues } from '../../queue/postgres/sql.js';
import type { ApiKey } from '../api-key.js';
import { insertParams, rowToKey, type KeyRow, type KeyStore, type NewKey } from '../key-store.js';
import { migrate } from './migrations.js';
import { STATEMENTS, type StatementName } from './sql.js';

// API keys in the PostgreSQL database of the job queue, shared by every API node. A small pool
// of its own: lookups are rare (each node caches a key for CODEXEC_AUTH_CACHE_MS) and never hold
// a connection across statements. A lost connection is a 503 queue_unavailable, like the queue's.

const POOL_SIZE = 2;
const CONNECT_TIMEOUT_MS = 10_000;

export class PostgresKeyStore implements KeyStore {
  private closed = false;

  private constructor(private readonly pool: pg.Pool) {}

  /** Connects to `url` and migrates the key tables (the first schema of its search_path). */
  static async open(url: string, opts: { role?: ProcessRole; poolSize?: number } = {}): Promise<PostgresKeyStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.poolSize ?? POOL_SIZE,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
      // As queue/postgres/application-name.ts names every connection: role, then pool.
      fallback_application_name: `codexec-${opts.role ?? 'cli'}/keys`,
    });
    guardPool(pool);
    try {
      await migrateOn(pool, migrate);
      return new PostgresKeyStore(pool);
    } catch (err) {
      await pool.end().catch(() => undefined);
      if (err instanceof CodexecError) throw err;
      throw new CodexecError('database_unavailable', 500, `cannot open the API key tables in the PostgreSQL database at ${where(url)}: ${(err as Error).message}`, {
        details: { at: where(url) },
        cause: err,
      });
    }
  }

  private async rows(name: StatementName, params: Record<string, unknown>): Promise<ApiKey[]> {
    const statement = STATEMENTS[name];
    const res = await this.pool
      .query<KeyRow>({ name: statement.name, text: statement.text, values: bindValues(statement, params), types: PG_TYPES })
      .catch(rethrowUnavailable);
    return res.rows.map(rowToKey);
  }

  async insert(key: NewKey): Promise<ApiKey> {
    return (await this.rows('KeyInsert', insertParams(key)))[0]!;
  }

  list(): Promise<ApiKey[]> {
    return this.rows('KeyList', {});
  }

  async getById(id: string): Promise<ApiKey | null> {
    return (await this.rows('KeyGetById', { id }))[0] ?? null;
  }

  async getBySecretHash(secretHash: string): Promise<ApiKey | null> {
    return (await this.rows('KeyGetBySecretHash', { secretHash }))[0] ?? null;
  }

  listByPrefix(prefix: string): Promise<ApiKey[]> {
    return this.rows('KeyListByPrefix', { prefix });
  }

  async revoke(id: string, now: number): Promise<ApiKey | null> {
    return (await this.rows('KeyRevoke', { id, now }))[0] ?? null;
  }

  async touch(id: string, now: number, minIntervalMs: number): Promise<void> {
    await this.rows('KeyTouch', { id, now, minIntervalMs });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
