import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { KeyvStoreAdapter, StoredData } from 'keyv';
import { DataDirInUseError } from '../domain/errors.js';
import { enableWal } from '../queue/sqlite/wal.js';
import { WalCheckpointer, type WalCheckpointerOptions } from './wal-checkpointer.js';

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

/** ACTIVE as sessionStatus() (session.ts) says, of the record `s`: not closed, and active within @idleTtlMs at @now. */
const openRecord = (s: string) =>
  `json_extract(${s}.value, '$.value.closedAt') IS NULL
   AND max(json_extract(${s}.value, '$.value.updatedAt'), coalesce(json_extract(${s}.value, '$.value.lastRunAt'), 0)) + @idleTtlMs >= @now`;
const notOpenOwnerRow = (t: string) =>
  `key NOT IN (SELECT value FROM json_each(@queued)) AND NOT EXISTS (SELECT 1 FROM ${t} s WHERE s.key = ${t}_owners.key AND ${openRecord('s')})`;

const SQL = {
  createTable: (t: string) => `CREATE TABLE IF NOT EXISTS ${t} (key VARCHAR(255) PRIMARY KEY, value TEXT)`,
  // No index on the expiry: every autosave renews it, and keeping an index of
  // json_extract(value, '$.expires') took 14 of the 23 µs of an upsert with 1,000,000 sessions
  // stored (two JSON parses, and one more page written anywhere in the file). The hourly prune
  // reads the table instead, a chunk of rows at a time. Files of earlier versions have the index.
  dropExpiresIndex: (t: string) => `DROP INDEX IF EXISTS ${t}_expires`,
  get: (t: string) => `SELECT value FROM ${t} WHERE key = ?`,
  upsert: (t: string) => `INSERT INTO ${t} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
  delete: (t: string) => `DELETE FROM ${t} WHERE key = ?`,
  clear: (t: string) => `DELETE FROM ${t} WHERE key LIKE ? ESCAPE '\\'`,
  // The last rowid of the next chunk of `limit` rows of table `t` after `after` (NULL past the end).
  chunkEnd: (t: string) => `SELECT max(rowid) AS upto FROM (SELECT rowid FROM ${t} WHERE rowid > ? ORDER BY rowid LIMIT ?)`,
  pruneExpired: (t: string) =>
    `DELETE FROM ${t} WHERE rowid > ? AND rowid <= ? AND json_extract(value, '$.expires') < ? AND key LIKE ? ESCAPE '\\' RETURNING key`,
  count: (t: string) => `SELECT count(*) AS n FROM ${t} WHERE key LIKE ? ESCAPE '\\'`,
  // Who owns each open session of an API key, in a table of its own beside the Keyv table: written
  // when a session is made, never by an autosave (an index over the JSON value would be rewritten
  // by every autosave: about 50 µs of CPU more per autosave, measured). Serves the per-key quota of
  // open sessions. A session that is no longer open (closed, or idle past its TTL) never opens again
  // (autosaves and runs need it ACTIVE), so its row goes: before each count of its owner, and in the
  // hourly prune. Kept, those rows made each count walk every session the key had made over the
  // retention period (5.4 s for a key with 1,000,000). Raising CODEXEC_SESSION_IDLE_TTL_MS does not
  // bring back rows already gone: a session that the longer TTL revives no longer counts.
  createOwnersTable: (t: string) => `CREATE TABLE IF NOT EXISTS ${t}_owners (key VARCHAR(255) PRIMARY KEY, owner TEXT NOT NULL)`,
  createOwnersIndex: (t: string) => `CREATE INDEX IF NOT EXISTS ${t}_owners_owner ON ${t}_owners (owner)`,
  recordOwner: (t: string) => `INSERT OR REPLACE INTO ${t}_owners (key, owner) VALUES (?, ?)`,
  countOpenOfOwner: (t: string) => `
    SELECT count(*) AS n FROM (
      SELECT 1 FROM ${t}_owners o JOIN ${t} s ON s.key = o.key
      WHERE o.owner = @owner AND ${openRecord('s')}
      LIMIT @limit)`,
  // The rows of one owner (releaseOwner, @batch at most) or of one chunk of the table (pruneOwners) whose record is
  // gone or no longer open; never those of the keys in the JSON array @queued (writes still queued:
  // a new session's owner is committed before its record).
  releaseOwner: (t: string) =>
    `DELETE FROM ${t}_owners WHERE rowid IN (SELECT rowid FROM ${t}_owners WHERE owner = @owner AND ${notOpenOwnerRow(t)} LIMIT @batch)`,
  pruneOwners: (t: string) => `DELETE FROM ${t}_owners WHERE rowid > @after AND rowid <= @upto AND ${notOpenOwnerRow(t)}`,
  ping: 'SELECT 1',
} as const;

const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;

/**
 * Rows each prune reads per turn of the event loop, a few milliseconds of work with 1,000,000
 * sessions stored: records 2,000 (4-8 ms), owners 500 (each looks its record up in the other
 * table's index: ~2 ms; the whole owners table in one statement held the event loop 4 s). An
 * owner's count first deletes its rows no longer open, `release` per turn (~30 µs each).
 */
const PRUNE_CHUNK_ROWS = { records: 2000, owners: 500, release: 200 } as const;

/**
 * Checkpoints (wal-checkpointer.ts): every 100 ms on their thread, or at once while more than 256
 * pages are left to copy; writes are held while the rest is copied once the WAL holds 64 MiB
 * (16,384 pages of 4 KiB). The WAL file keeps the largest size it reached (at most about twice
 * that) until the store closes: cutting it back when it starts over is an ftruncate on the event
 * loop, 24-26 ms for ~50 MiB here.
 */
const WAL_CHECKPOINT: WalCheckpointSettings = { everyMs: 100, capFrames: 16_384, tailFrames: 256 };

/** When the checkpoint thread copies the WAL, and how large the WAL may grow (defaults above). */
export type WalCheckpointSettings = Pick<WalCheckpointerOptions, 'everyMs' | 'capFrames' | 'tailFrames'>;

/** SQLite's automatic checkpoint, in pages, for when the thread has failed: SQLite's default. */
const FALLBACK_AUTOCHECKPOINT_PAGES = 1000;

function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class SqliteKeyvStore extends EventEmitter implements KeyvStoreAdapter {
  readonly opts: { table: string; file: string };
  namespace?: string;
  private readonly db: Database.Database;
  /** Holds SQLite's lock on `<file>-lock` while the store is open (`exclusive`). */
  private readonly lock: Database.Database | null = null;
  private readonly checkpointer: WalCheckpointer | null = null;
  private queued: { key: string; value: string; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private readonly commitBatch: (batch: { key: string; value: string }[]) => void;
  private readonly stmt: {
    get: Database.Statement<[string], { value: string }>;
    upsert: Database.Statement<[string, string]>;
    delete: Database.Statement<[string]>;
    clear: Database.Statement<[string]>;
    recordsChunkEnd: Database.Statement<[number, number], { upto: number | null }>;
    ownersChunkEnd: Database.Statement<[number, number], { upto: number | null }>;
    pruneExpired: Database.Statement<[number, number, number, string], { key: string }>;
    count: Database.Statement<[string], { n: number }>;
    recordOwner: Database.Statement<[string, string]>;
    countOpenOfOwner: Database.Statement<[{ owner: string; idleTtlMs: number; now: number; limit: number }], { n: number }>;
    releaseOwner: Database.Statement<[{ owner: string; idleTtlMs: number; now: number; queued: string; batch: number }]>;
    pruneOwners: Database.Statement<[{ after: number; upto: number; idleTtlMs: number; now: number; queued: string }]>;
    ping: Database.Statement<[]>;
  };

  /**
   * Opens (creating it if needed) the database `file` (':memory:' for a throwaway one). WAL with
   * synchronous=NORMAL: a commit is an append to the WAL without an fsync, so kill -9 loses
   * nothing committed; only an OS crash or power loss can drop the last few autosaves, which the
   * editor sends again a moment later anyway.
   */
  /**
   * `exclusive`: hold SQLite's lock on `<file>-lock` for as long as this store is open
   * (locking_mode=EXCLUSIVE), so that a second process opening the file fails at once instead of
   * writing beside this one: session writes are serialised only inside one process. The lock is
   * on a file of its own because the database itself is also open in the checkpoint thread.
   */
  constructor(opts: {
    file: string;
    table: string;
    busyTimeoutMs?: number;
    exclusive?: boolean;
    checkpoints?: WalCheckpointSettings;
    /** Told if the checkpoint thread fails; this store then lets SQLite checkpoint in commits. */
    onCheckpointFailure?: (err: Error) => void;
  }) {
    super();
    if (!TABLE_NAME.test(opts.table)) throw new Error(`invalid table name ${JSON.stringify(opts.table)}`);
    if (opts.file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(opts.file)), { recursive: true });
    this.opts = { table: opts.table, file: opts.file };
    const t = opts.table;
    const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    this.db = new Database(opts.file, { timeout: busyTimeoutMs });
    try {
      if (opts.exclusive && opts.file !== ':memory:') this.lock = lockExclusively(`${opts.file}-lock`, opts.file);
      enableWal(this.db, busyTimeoutMs);
      this.db.pragma('synchronous = NORMAL');
      // The session store keeps its own cache of recent sessions: SQLite's can stay small (the
      // better-sqlite3 default, 16 MiB, would only add RSS as sessions.db grows).
      this.db.pragma('cache_size = -2048');
      this.db.exec(SQL.createTable(t));
      this.db.exec(SQL.dropExpiresIndex(t));
      this.db.exec(SQL.createOwnersTable(t));
      this.db.exec(SQL.createOwnersIndex(t));
      this.stmt = {
        get: this.db.prepare(SQL.get(t)),
        upsert: this.db.prepare(SQL.upsert(t)),
        delete: this.db.prepare(SQL.delete(t)),
        clear: this.db.prepare(SQL.clear(t)),
        recordsChunkEnd: this.db.prepare(SQL.chunkEnd(t)),
        ownersChunkEnd: this.db.prepare(SQL.chunkEnd(`${t}_owners`)),
        pruneExpired: this.db.prepare(SQL.pruneExpired(t)),
        count: this.db.prepare(SQL.count(t)),
        recordOwner: this.db.prepare(SQL.recordOwner(t)),
        countOpenOfOwner: this.db.prepare(SQL.countOpenOfOwner(t)),
        releaseOwner: this.db.prepare(SQL.releaseOwner(t)),
        pruneOwners: this.db.prepare(SQL.pruneOwners(t)),
        ping: this.db.prepare(SQL.ping),
      };
      this.commitBatch = this.db.transaction((batch: { key: string; value: string }[]) => {
        for (const w of batch) this.stmt.upsert.run(w.key, w.value);
      });
      if (opts.file !== ':memory:') {
        this.db.pragma('wal_autocheckpoint = 0');
        this.checkpointer = new WalCheckpointer({
          file: opts.file,
          busyTimeoutMs,
          ...(opts.checkpoints ?? WAL_CHECKPOINT),
          onHold: (held) => {
            if (!held && this.queued.length > 0) setImmediate(() => this.flush());
          },
          onFailure: (err) => {
            if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
            opts.onCheckpointFailure?.(err);
          },
        });
      }
    } catch (err) {
      this.db.close();
      this.lock?.close();
      throw err;
    }
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return this.stmt.get.get(key)?.value as StoredData<Value> | undefined;
  }

  /** Resolves once the value is committed, together with the other writes of this event-loop turn. */
  set(key: string, value: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ key, value: typeof value === 'string' ? value : JSON.stringify(value), resolve, reject });
      if (this.queued.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    // Held while the checkpoint thread copies the end of a full WAL; it flushes again after.
    if (this.checkpointer?.held || this.queued.length === 0) return;
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

  /**
   * Deletes records of `prefix` whose Keyv expiry is before `now`, a chunk of rows at a time with a
   * turn of the event loop between chunks, and passes the keys of each chunk to `onPruned`.
   * Returns how many were deleted.
   */
  async pruneExpired(now: number, prefix: string, onPruned: (keys: string[]) => void): Promise<number> {
    const like = likePrefix(prefix);
    let pruned = 0;
    await this.inChunks(this.stmt.recordsChunkEnd, PRUNE_CHUNK_ROWS.records, (after, upto) => {
      const keys = this.stmt.pruneExpired.all(after, upto, now, like).map((r) => r.key);
      pruned += keys.length;
      if (keys.length > 0) onPruned(keys);
    });
    return pruned;
  }

  /** Runs `chunk(after, upto)` over a table's rowids, `rows` at a time, a turn of the event loop between chunks. */
  private async inChunks(chunkEnd: Database.Statement<[number, number], { upto: number | null }>, rows: number, chunk: (after: number, upto: number) => void): Promise<void> {
    for (let after = 0; this.db.open; ) {
      const upto = chunkEnd.get(after, rows)?.upto ?? null;
      if (upto === null) return;
      chunk(after, upto);
      after = upto;
      await nextTurn();
    }
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
   * up to `limit`, after forgetting the owner's records that are no longer open (a batch per turn
   * of the event loop). Reads what is committed: writes still queued are not in it.
   */
  async countOpenOfOwner(owner: string, idleTtlMs: number, now: number, limit: number): Promise<number> {
    const batch = PRUNE_CHUNK_ROWS.release;
    while (this.stmt.releaseOwner.run({ owner, idleTtlMs, now, queued: this.queuedKeys(), batch }).changes === batch) {
      await nextTurn();
    }
    return this.stmt.countOpenOfOwner.get({ owner, idleTtlMs, now, limit })?.n ?? 0;
  }

  /** Forgets the owners of records that are gone or no longer open at `now`, a chunk at a time; returns how many. */
  async pruneOwners(idleTtlMs: number, now: number): Promise<number> {
    let pruned = 0;
    await this.inChunks(this.stmt.ownersChunkEnd, PRUNE_CHUNK_ROWS.owners, (after, upto) => {
      pruned += this.stmt.pruneOwners.run({ after, upto, idleTtlMs, now, queued: this.queuedKeys() }).changes;
    });
    return pruned;
  }

  /** The keys of the writes not committed yet, as a JSON array. */
  private queuedKeys(): string {
    return JSON.stringify(this.queued.map((w) => w.key));
  }

  /** Throws when the database cannot be read. */
  ping(): void {
    this.stmt.ping.get();
  }

  async disconnect(): Promise<void> {
    // The thread's connection goes first, so that closing this one, the last, checkpoints the
    // WAL into the database and removes it.
    const close = () => {
      this.flush();
      if (this.db.open) this.db.close();
    };
    if (this.checkpointer) await this.checkpointer.close(close);
    else close();
    this.lock?.close();
  }
}

/**
 * Takes SQLite's lock on the file `lockFile` and keeps it until the returned connection closes (the
 * OS drops it if the process dies), or throws DataDirInUseError at once: EXCLUSIVE locking mode
 * keeps the lock the first write transaction takes.
 */
function lockExclusively(lockFile: string, dataFile: string): Database.Database {
  const lock = new Database(lockFile, { timeout: 0 });
  try {
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('BEGIN IMMEDIATE; COMMIT');
    return lock;
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) throw new DataDirInUseError(dataFile);
    throw err;
  }
}
