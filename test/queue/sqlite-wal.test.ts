import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { enableWal } from '../../src/queue/sqlite/wal.js';

// Another connection holds the file's exclusive lock for `holdMs` from a thread of its own (the
// main thread's wait is synchronous, as at startup), as a second process does while it switches
// a fresh file to WAL.
function holdExclusiveLock(file: string, holdMs: number): Promise<Worker> {
  const worker = new Worker(
    `const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))});
     const { parentPort, workerData } = require('node:worker_threads');
     const db = new Database(workerData.file);
     db.exec('BEGIN EXCLUSIVE');
     parentPort.postMessage('locked');
     setTimeout(() => { db.exec('COMMIT'); db.close(); }, workerData.holdMs);`,
    { eval: true, workerData: { file, holdMs } },
  );
  return new Promise((resolve, reject) => {
    worker.once('message', () => resolve(worker));
    worker.once('error', reject);
  });
}

describe('enableWal', () => {
  let dir: string;
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function freshFile(): string {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-wal-'));
    return path.join(dir, 'jobs.db');
  }

  it('waits out a lock held by another connection, then switches to WAL', async () => {
    const file = freshFile();
    const worker = await holdExclusiveLock(file, 300);
    // busy_timeout 0: SQLite itself does not wait, so only enableWal's own retries can succeed.
    const db = new Database(file, { timeout: 0 });
    const started = Date.now();
    enableWal(db, 5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    await worker.terminate();
  });

  it('gives up with SQLITE_BUSY once its time is spent', async () => {
    const file = freshFile();
    const worker = await holdExclusiveLock(file, 2000);
    const db = new Database(file, { timeout: 0 });
    expect(() => enableWal(db, 100)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^SQLITE_BUSY/) }));
    db.close();
    await worker.terminate();
  });
});
