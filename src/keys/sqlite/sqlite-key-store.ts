import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ApiKey } from '../api-key.js';
import { insertParams, rowToKey, type KeyRow, type KeyStore, type NewKey } from '../key-store.js';
import { migrate } from './migrations.js';
import { SQL, type StatementName } from './sql.js';
import { enableWal } from '../../queue/sqlite/wal.js';

// API keys in the SQLite job database (codexec.db), on a connection of their own: the queue's
// driver is not shared, and the file is shared with `codexec worker`s and `codexec keys`
// commands the way the queue shares it (WAL; a writer waits for the lock up to the busy
// timeout). Reads are one index probe; the only write on the request path is last_used_at, at
// most once a minute per key (authenticator.ts).

export class SqliteKeyStore implements KeyStore {
  private readonly statements: { [K in StatementName]: Database.Statement };

  private constructor(private readonly db: Database.Database) {
    this.statements = Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as typeof this.statements;
  }

  /** Opens (creating the directory and file if needed) and migrates the key tables of `file`. */
  static open(file: string, opts: { busyTimeoutMs?: number } = {}): SqliteKeyStore {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    const db = new Database(file, { timeout: busyTimeoutMs });
    try {
      // The job database's own settings (queue/sqlite/driver.ts says why): WAL, and commits
      // without an fsync each.
      enableWal(db, busyTimeoutMs);
      db.pragma('synchronous = NORMAL');
      migrate(db);
      return new SqliteKeyStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private one(name: StatementName, params: Record<string, unknown>): ApiKey | null {
    const row = this.statements[name].get(params) as KeyRow | undefined;
    return row ? rowToKey(row) : null;
  }

  private all(name: StatementName, params: Record<string, unknown> = {}): ApiKey[] {
    return (this.statements[name].all(params) as KeyRow[]).map(rowToKey);
  }

  async insert(key: NewKey): Promise<ApiKey> {
    return this.one('KeyInsert', insertParams(key))!;
  }

  async list(): Promise<ApiKey[]> {
    return this.all('KeyList');
  }

  async getById(id: string): Promise<ApiKey | null> {
    return this.one('KeyGetById', { id });
  }

  async getBySecretHash(secretHash: string): Promise<ApiKey | null> {
    return this.one('KeyGetBySecretHash', { secretHash });
  }

  async listByPrefix(prefix: string): Promise<ApiKey[]> {
    return this.all('KeyListByPrefix', { prefix });
  }

  async revoke(id: string, now: number): Promise<ApiKey | null> {
    return this.one('KeyRevoke', { id, now });
  }

  async touch(id: string, now: number, minIntervalMs: number): Promise<void> {
    this.statements.KeyTouch.run({ id, now, minIntervalMs });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
