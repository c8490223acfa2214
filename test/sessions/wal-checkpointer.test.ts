import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteKeyvStore } from '../../src/sessions/sqlite-keyv-store.js';
import { WalCheckpointer } from '../../src/sessions/wal-checkpointer.js';

// Checkpoints of sessions.db run on a thread of their own (wal-checkpointer.ts): a commit never
// copies the WAL into the database on the event loop, and under a steady load the WAL still starts
// over, so it stays bounded.

const PAGE = 4096;
/** A record of about one page, as Keyv stores it: each upsert adds at least one page to the WAL. */
const value = (i: number) => JSON.stringify({ value: `${i}:`.padEnd(PAGE - 200, 'x'), expires: null });

/** Blocks this thread (the event loop) for `ms`, as a long synchronous task would. */
function blockEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('sessions.db checkpoints', () => {
  let dir: string;
  let file: string;
  const stores: SqliteKeyvStore[] = [];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-checkpoints-'));
    file = path.join(dir, 'sessions.db');
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.disconnect();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  function open(checkpoints?: ConstructorParameters<typeof SqliteKeyvStore>[0]['checkpoints']): SqliteKeyvStore {
    const store = new SqliteKeyvStore({ file, table: 'sessions', exclusive: true, checkpoints });
    stores.push(store);
    return store;
  }

  it('a commit leaves the WAL to the checkpoint thread, which copies it while the event loop is blocked', async () => {
    // Its first checkpoint comes long after the commit below.
    const store = open({ everyMs: 300, capFrames: 16_384, tailFrames: 256 });
    const before = fs.statSync(file).size;
    // One commit of ~3,000 pages, three times what makes SQLite's own checkpoint run in a commit.
    await Promise.all(Array.from({ length: 3000 }, (_, i) => store.set(`k${i}`, value(i))));
    expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(3000 * PAGE);
    expect(fs.statSync(file).size, 'the commit copied nothing into the database').toBe(before);
    blockEventLoop(1200);
    expect(fs.statSync(file).size, 'copied while this thread was blocked').toBeGreaterThan(before + 2000 * PAGE);
    await store.disconnect();
    const again = open();
    expect(await again.get('k2999')).toBe(value(2999));
  });

  it('under a steady load the WAL starts over: writes are held while the thread copies the rest', async () => {
    const capFrames = 200;
    const store = open({ everyMs: 5, capFrames, tailFrames: 50 });
    // Once the thread has started: a first record is copied into the database.
    const empty = fs.statSync(file).size;
    await store.set('first', value(-1));
    await expect.poll(() => fs.statSync(file).size, { timeout: 10_000 }).toBeGreaterThan(empty);
    let largest = 0;
    // Enough to fill the WAL many times over (each record takes a page), however slow the machine:
    // the loop ends on the volume written, and the time limit only bounds a machine that stalls.
    const records = 125 * capFrames;
    const deadline = Date.now() + 30_000;
    let n = 0;
    // Commits back to back, each as soon as the one before is acknowledged, so the thread never
    // finds the WAL idle: it can only start over because writes are held.
    while (n < records && Date.now() < deadline) {
      await Promise.all(Array.from({ length: 20 }, () => store.set(`k${n % 500}`, value(n++))));
      largest = Math.max(largest, fs.statSync(`${file}-wal`).size);
    }
    expect(n * PAGE, 'enough written to fill the WAL many times over').toBeGreaterThan(100 * capFrames * PAGE);
    // Twice the cap, and the commits made while the hold was on its way: ~800 frames on an idle
    // machine, more when the thread waits for a CPU (2,030 frames once, with other test files
    // running on both cores). Without the hold it grew to 9,700-72,000 frames (40-300 MB).
    expect(largest).toBeLessThan(25 * capFrames * PAGE);
    for (let i = n - 500; i < n; i++) expect(await store.get(`k${i % 500}`)).toBe(value(i));
  });

  it('a store closed last in its process finishes closing: the wait for the thread keeps the process alive', () => {
    const register = path.resolve('scripts/ts-register.mjs');
    const store = path.resolve('src/sessions/sqlite-keyv-store.ts');
    const script = `const { SqliteKeyvStore } = await import(${JSON.stringify(store)});
      const s = new SqliteKeyvStore({ file: ${JSON.stringify(file)}, table: 'sessions' });
      await s.set('k', 'v');
      await s.disconnect();
      console.log('closed');`;
    const r = spawnSync(process.execPath, ['--import', register, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect({ status: r.status, stdout: r.stdout.trim() }).toEqual({ status: 0, stdout: 'closed' });
    // Closed in full: the last connection checkpointed and removed the WAL.
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
  });

  it('a thread that fails hands the checkpoints back to SQLite and never holds writes', async () => {
    fs.writeFileSync(file, 'not a database, so the thread fails as it starts');
    const events: string[] = [];
    const failed = new Promise<Error>((resolve) => {
      const c = new WalCheckpointer({
        file,
        busyTimeoutMs: 100,
        everyMs: 5,
        capFrames: 1,
        tailFrames: 0,
        onHold: (held) => events.push(`held ${held}`),
        onFailure: (err) => {
          resolve(err);
          void c.close(() => {});
        },
      });
    });
    expect((await failed).message).toMatch(/SQLITE_NOTADB/);
    expect(events).toEqual([]);
  });
});
