import type Database from 'better-sqlite3';

/**
 * Puts `db` in WAL mode. Switching a fresh file to WAL takes an exclusive lock, and SQLite does
 * not call the busy handler for it when another process is opening the same file at that moment:
 * one in ~200 of six processes starting together got `database is locked` at once (four workers
 * and an API started on one new file). So this retries SQLITE_BUSY itself, for up to
 * `busyTimeoutMs`, like any other statement waits. Every SQLite file codexec opens goes through
 * here (jobs, sessions, keys).
 */
export function enableWal(db: Database.Database, busyTimeoutMs: number): void {
  const deadline = Date.now() + busyTimeoutMs;
  for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if (!(err as { code?: string }).code?.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw err;
      // Synchronous on purpose: opening a database is startup, before the event loop serves anything.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
    }
  }
}
