import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { KeyvStoreAdapter, StoredData } from 'keyv';
import { DataDirInUseError } from '../domain/errors.js';
import { enableWal } from '../queue/sqlite/wal.js';

// Keyv's storage adapter on better-sqlite3, with the table layout of @keyv/sqlite
// (`key VARCHAR(255) PRIMARY KEY, value TEXT`, value = Keyv's JSON `{"value":…,"expires":…}`), so
// a sessions.db written by either opens with the other.
//
// Why not @keyv/sqlite itself: it runs on node-sqlite3, which prepares, runs and finalizes a new
// statement for every query on libuv's thread pool. At the autosave load of issue 7 (PATCH from 100
// connections) that wrapper alone took 17% of the HTTP thread, and the thread-pool round trip
// set the p99. better-sqlite3 (already the job store's driver) runs prepared statements
// synchronously. Every SQL statement of the session database is in this file.
//
// Writes are group-committed: set() queues the upsert, and every upsert queued during one turn of
// the event loop is committed in one transaction, after which their promises resolve (nothing is
// acknowledged before it is committed). A commit costs ~80 µs on the benchmark VM whatever it
// holds, and at 100 concurrent autosaves each turn brings many.

const SQL = {
  createTable: (t: string) => `CREATE TABLE IF NOT EXISTS ${t} (key VARCHAR(255) PRIMARY KEY, value TEXT)`,
  // Lets pruneExpired find expired rows without reading every session.
  createExpiresIndex: (t: string) => `CREATE INDEX IF NOT EXISTS ${t}_expires ON ${t} (json_extract(value, '$.expires'))`,
  get: (t: string) => `SELECT value FROM ${t} WHERE key = ?`,
  upsert: (t: string) => `INSERT INTO ${t} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
  delete: (t: string) => `DELETE FROM ${t} WHERE key = ?`,
  clear: (t: string) => `DELETE FROM ${t} WHERE key LIKE ? ESCAPE '\\'`,
  pruneExpired: (t: string) => `DELETE FROM ${t} WHERE json_extract(value, '$.expires') < ? AND key LIKE ? ESCAPE '\\' RETURNING key`,
  count: (t: string) => `SELECT count(*) AS n FROM ${t} WHERE key LIKE ? ESCAPE '\\'`,
  // Who owns each session of an API key, in a table of its own beside the Keyv table: written when
  // a session is made, never by an autosave (an index over the JSON value would be rewritten by
  // every autosave: about 50 µs of CPU more per autosave, measured). Serves the per-key quota of
  // open sessions.
  createOwnersTable: (t: string) => `CREATE TABLE IF NOT EXISTS ${t}_owners (key VARCHAR(255) PRIMARY KEY, owner TEXT NOT NULL)`,
  createOwnersIndex: (t: string) => `CREATE INDEX IF NOT EXISTS ${t}_owners_owner ON ${t}_owners (owner)`,
  recordOwner: (t: string) => `INSERT OR REPLACE INTO ${t}_owners (key, owner) VALUES (?, ?)`,
  // ACTIVE as sessionStatus() (session.ts) says: not closed, and active within the idle TTL.
  countOpenOfOwner: (t: string) => `
    SELECT count(*) AS n FROM (
      SELECT 1 FROM ${t}_owners o JOIN ${t} s ON s.key = o.key
      WHERE o.owner = @owner
        AND json_extract(s.value, '$.value.closedAt') IS NULL
        AND max(json_extract(s.value, '$.value.updatedAt'), coalesce(json_extract(s.value, '$.value.lastRunAt'), 0)) + @idleTtlMs >= @now
      LIMIT @limit)`,
  // Owners of records that are gone (pruned, or dropped by Keyv when read after their expiry).
  pruneOwners: (t: string) => `DELETE FROM ${t}_owners WHERE NOT EXISTS (SELECT 1 FROM ${t} s WHERE s.key = ${t}_owners.key)`,
  ping: 'SELECT 1',
} as const;

const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;

function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class SqliteKeyvStore extends EventEmitter implements KeyvStoreAdapter {
  readonly opts: { table: string; file: string };
  namespace?: string;
  private readonly db: Database.Database;
  private queued: { key: string; value: string; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private readonly commitBatch: (batch: { key: string; value: string }[]) => void;
  private readonly stmt: {
    get: Database.Statement<[string], { value: string }>;
    upsert: Database.Statement<[string, string]>;
    delete: Database.Statement<[string]>;
    clear: Database.Statement<[string]>;
    pruneExpired: Database.Statement<[number, string], { key: string }>;
    count: Database.Statement<[string], { n: number }>;
    recordOwner: Database.Statement<[string, string]>;
    countOpenOfOwner: Database.Statement<[{ owner: string; idleTtlMs: number; now: number; limit: number }], { n: number }>;
    pruneOwners: Database.Statement<[]>;
    ping: Database.Statement<[]>;
  };

  /**
   * Opens (creating it if needed) the database `file` (':memory:' for a throwaway one). WAL with
   * synchronous=NORMAL: a commit is an append to the WAL without an fsync, so kill -9 loses
   * nothing committed; only an OS crash or power loss can drop the last few autosaves, which the
   * editor sends again a moment later anyway.
   */
  /**
   * `exclusive`: hold SQLite's lock on the file for as long as this store is open
   * (locking_mode=EXCLUSIVE), so that a second process opening it fails at once instead of
   * writing beside this one: session writes are serialised only inside one process.
   */
  constructor(opts: { file: string; table: string; busyTimeoutMs?: number; exclusive?: boolean }) {
    super();
    if (!TABLE_NAME.test(opts.table)) throw new Error(`invalid table name ${JSON.stringify(opts.table)}`);
    if (opts.file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(opts.file)), { recursive: true });
    this.opts = { table: opts.table, file: opts.file };
    const t = opts.table;
    const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    this.db = new Database(opts.file, { timeout: busyTimeoutMs });
    try {
      if (opts.exclusive && opts.file !== ':memory:') this.lockExclusively(opts.file, busyTimeoutMs);
      enableWal(this.db, busyTimeoutMs);
      this.db.pragma('synchronous = NORMAL');
      // The session store keeps its own cache of recent sessions: SQLite's can stay small (the
      // better-sqlite3 default, 16 MiB, would only add RSS as sessions.db grows).
      this.db.pragma('cache_size = -2048');
      this.db.exec(SQL.createTable(t));
      this.db.exec(SQL.createExpiresIndex(t));
      this.db.exec(SQL.createOwnersTable(t));
      this.db.exec(SQL.createOwnersIndex(t));
      this.stmt = {
        get: this.db.prepare(SQL.get(t)),
        upsert: this.db.prepare(SQL.upsert(t)),
        delete: this.db.prepare(SQL.delete(t)),
        clear: this.db.prepare(SQL.clear(t)),
        pruneExpired: this.db.prepare(SQL.pruneExpired(t)),
        count: this.db.prepare(SQL.count(t)),
        recordOwner: this.db.prepare(SQL.recordOwner(t)),
        countOpenOfOwner: this.db.prepare(SQL.countOpenOfOwner(t)),
        pruneOwners: this.db.prepare(SQL.pruneOwners(t)),
        ping: this.db.prepare(SQL.ping),
      };
      this.commitBatch = this.db.transaction((batch: { key: string; value: string }[]) => {
        for (const w of batch) this.stmt.upsert.run(w.key, w.value);
      });
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return this.stmt.get.get(key)?.value as StoredData<Value> | undefined;
  }

  // Taken at once or refused: the first write transaction takes the lock, which EXCLUSIVE mode
  // then keeps until the connection closes (the OS drops it if the process dies).
  private lockExclusively(file: string, busyTimeoutMs: number): void {
    this.db.pragma('locking_mode = EXCLUSIVE');
    this.db.pragma('busy_timeout = 0');
    try {
      this.db.exec('BEGIN IMMEDIATE; COMMIT');
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) throw new DataDirInUseError(file);
      throw err;
    }
    this.db.pragma(`busy_timeout = ${Math.floor(busyTimeoutMs)}`);
  }

  /** Resolves once the value is committed, together with the other writes of this event-loop turn. */
  set(key: string, value: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ key, value: typeof value === 'string' ? value : JSON.stringify(value), resolve, reject });
      if (this.queued.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queued;
    this.queued = [];
    try {
      this.commitBatch(batch);
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    for (const w of batch) w.resolve();
  }

  async delete(key: string): Promise<boolean> {
    return this.stmt.delete.run(key).changes > 0;
  }

  async clear(): Promise<void> {
    this.stmt.clear.run(likePrefix(this.namespace ? `${this.namespace}:` : ''));
  }

  /** Deletes records of `prefix` whose Keyv expiry is before `now`; returns their keys. */
  pruneExpired(now: number, prefix: string): string[] {
    return this.stmt.pruneExpired.all(now, likePrefix(prefix)).map((r) => r.key);
  }

  /** Records whose key starts with `prefix`. */
  count(prefix: string): number {
    return this.stmt.count.get(likePrefix(prefix))?.n ?? 0;
  }

  /** Records that `key` belongs to `owner` (committed at once, before the record itself). */
  recordOwner(key: string, owner: string): void {
    this.stmt.recordOwner.run(key, owner);
  }

  /**
   * Records of this owner that are open (not closed, active within `idleTtlMs` at `now`), counted
   * up to `limit`. Reads what is committed: writes still queued are not in it.
   */
  countOpenOfOwner(owner: string, idleTtlMs: number, now: number, limit: number): number {
    return this.stmt.countOpenOfOwner.get({ owner, idleTtlMs, now, limit })?.n ?? 0;
  }

  /** Forgets the owners of records that no longer exist. */
  pruneOwners(): void {
    this.stmt.pruneOwners.run();
  }

  /** Throws when the database cannot be read. */
  ping(): void {
    this.stmt.ping.get();
  }

  async disconnect(): Promise<void> {
    if (this.queued.length > 0) this.flush();
    if (this.db.open) this.db.close();
  }
}
