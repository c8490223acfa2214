import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ExecutionRecord } from '../../domain/execution.js';
import type { Body, OpResult, QueueDriver, RunMode } from '../driver.js';
import type { EventTransport } from '../events.js';
import type { StatementName } from '../statements.js';
import { sqliteEventTransport } from './events.js';
import { migrate } from './migrations.js';
import { rowToRecord } from './rows.js';
import { SQL } from './sql.js';
import { enableWal } from './wal.js';

/** Page cache of the job database connection (each process has one). */
export const JOB_DB_CACHE_KIB = 4096;
/** How often each process checkpoints the WAL (outside any commit). */
const CHECKPOINT_EVERY_MS = 1000;

export interface SqliteDriverOptions {
  /** How long a write waits for another connection's write lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
}

// The job queue's driver for one SQLite file, shared by every process on the machine (API,
// embedded and standalone executors, the CLI). better-sqlite3 is synchronous: a body of the core
// runs from start to end inside one transaction without yielding the event loop, so nothing
// else of this process can interleave with it, and SQLite's write lock keeps other processes out.
export class SqliteDriver implements QueueDriver {
  readonly dialect = 'sqlite' as const;
  readonly events: EventTransport;
  private readonly statements: { [K in StatementName]: Database.Statement };
  private readonly checkpoints: NodeJS.Timeout;
  private closed = false;

  /** Opens (creating the directory and file if needed) and migrates the database at `file`. */
  static open(file: string, opts: SqliteDriverOptions = {}): SqliteDriver {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    // `timeout` is SQLite's busy_timeout: a writer waits this long for the lock instead of failing
    // at once with SQLITE_BUSY when another process is writing.
    const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    const db = new Database(file, { timeout: busyTimeoutMs });
    try {
      // WAL: readers never block the writer nor the writer readers, and a commit is one append.
      enableWal(db, busyTimeoutMs);
      // synchronous=NORMAL under WAL fsyncs the WAL only at checkpoints, not at every commit. A
      // commit is complete once written to the WAL file (in the OS page cache), so kill -9 of any
      // process, at any moment, loses nothing committed and never corrupts the database: the OS
      // still holds the written pages. Only an OS crash or power loss can drop the last commits
      // (rolled back to a consistent earlier state, never corrupt). FULL would fsync every commit
      // for that case, at a large cost in claim and enqueue throughput.
      db.pragma('synchronous = NORMAL');
      // SQLite's page cache is memory of this process that only grows until full: better-sqlite3
      // defaults it to 16 MiB, so RSS rose ~1 KiB per run (a result row) for the first ~16k runs
      // (bench/memory.mjs, 20,000 runs). The queue's hot set is small (the claim index and
      // recent rows); older rows come from the OS page cache. Negative: KiB.
      db.pragma(`cache_size = -${JOB_DB_CACHE_KIB}`);
      db.pragma('foreign_keys = ON');
      // Checkpoints happen on a timer (below), never inside a commit: SQLite's automatic one runs
      // in whichever connection's commit pushes the WAL past 1,000 pages, adding its copy of the
      // WAL into the database to that claim's or result's latency.
      db.pragma('wal_autocheckpoint = 0');
      migrate(db);
      return new SqliteDriver(db, file);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
  ) {
    // Every statement is prepared once, here.
    this.statements = Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as typeof this.statements;
    this.events = sqliteEventTransport(db, file);
    // PASSIVE: copies what it can without waiting for readers or writers, so it never blocks the
    // queue; every process sharing the file runs one, so the WAL stays small with or without a
    // server running.
    this.checkpoints = setInterval(() => {
      try {
        db.pragma('wal_checkpoint(PASSIVE)');
      } catch {
        // busy or closing: the next tick tries again
      }
    }, CHECKPOINT_EVERY_MS);
    this.checkpoints.unref();
  }

  run<T>(body: () => Body<T>, mode: RunMode): Promise<T> {
    try {
      const exec = (): T => {
        const gen = body();
        let step = gen.next(undefined as unknown as OpResult);
        while (!step.done) step = gen.next(this.exec(step.value.name, step.value.params));
        return step.value;
      };
      if (mode === 'single') return Promise.resolve(exec());
      const tx = this.db.transaction(exec);
      // IMMEDIATE: the write lock is taken before the first statement, so the checks a body
      // makes and the writes that follow see one state (a deferred transaction could read, then
      // lose the race to upgrade to a writer).
      return Promise.resolve(mode === 'write' ? tx.immediate() : tx.deferred());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private exec(name: StatementName, params: Record<string, unknown>): OpResult {
    const st = this.statements[name];
    if (st.reader) {
      const rows = st.all(params) as Record<string, unknown>[];
      return { rows, changes: rows.length };
    }
    return { rows: [], changes: st.run(params).changes };
  }

  toRecord(row: Record<string, unknown>): ExecutionRecord {
    return rowToRecord(row);
  }

  /** For tests and tools: the underlying connection. */
  get database(): Database.Database {
    return this.db;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.checkpoints);
    this.events.close();
    // Lets SQLite refresh its planner statistics if this connection's queries would benefit.
    this.db.pragma('optimize');
    this.db.close();
  }
}
