import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExecutionRecord } from '../../src/domain/execution.js';
import type { JobEvent } from '../../src/queue/events.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { srcModule, TS_CHILD_EXEC_ARGV } from '../support/ts-child.js';
import { completedResult, makeTempDir, newExecution, removeDir } from './helpers.js';

// Events of the SQLite queue between processes: the job table's triggers append every status
// change to job_events; a process reads what follows its cursor when the WAL changes (inotify),
// so an idle executor wakes on another process's enqueue, and a long poll on its own job's
// finish, with no poll at all.

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('SQLite queue events', () => {
  let dir: string;
  let file: string;
  let store: JobQueue;
  beforeEach(() => {
    dir = makeTempDir();
    fs.mkdirSync(path.join(dir, 'data'));
    file = path.join(dir, 'data', 'codexec.db');
    store = openSqliteQueue(file);
  });
  afterEach(async () => {
    await store.close();
    removeDir(dir);
  });

  it('wakes an idle claimer when another process enqueues, by the watch alone', async () => {
    // No periodic look in this store: only a watched commit can wake it.
    await store.close();
    store = openSqliteQueue(file, { eventsPollMs: 0 });
    const events = store.events;
    {
      const claimed = new Promise<ExecutionRecord>((resolve) => {
        const off = events.onAvailable(() => {
          void store.claim('idle-executor', 10_000).then((job) => {
            if (job) {
              off();
              resolve(job);
            }
          });
        });
      });
      expect(events.watching).toBe(true);
      expect(await store.claim('idle-executor', 10_000)).toBeNull();
      const openModule = srcModule('src/queue/open.ts');
      const child = fork(fileURLToPath(new URL('./fixtures/enqueue-one.mjs', import.meta.url)), [openModule, file, 'ex_from_child'], { execArgv: TS_CHILD_EXEC_ARGV });
      const exitCode = new Promise((r) => child.once('exit', r));
      expect((await claimed).id).toBe('ex_from_child');
      expect(await exitCode).toBe(0);
    }
  });

  it("tells a job's listeners of its own events only, in commit order", async () => {
    const a = (await store.enqueue(newExecution())).execution;
    const b = (await store.enqueue(newExecution())).execution;
    const ofA: JobEvent[] = [];
    const all: JobEvent[] = [];
    store.events.onJob(a.id, (e) => ofA.push(e));
    store.events.onEvent((e) => all.push(e));
    await tick();
    await store.claim('w', 10_000);
    await store.claim('w', 10_000);
    await store.finish(a.id, 'w', 'COMPLETED', completedResult());
    await expect.poll(() => ofA.map((e) => e.kind)).toEqual(['started', 'finished']);
    expect(all.map((e) => `${e.kind}:${e.id}`)).toEqual([`started:${a.id}`, `started:${b.id}`, `finished:${a.id}`]);
  });

  it("another process's changes arrive too: a second store on the same file hears the first's finish", async () => {
    const other = openSqliteQueue(file);
    try {
      const seen: string[] = [];
      other.events.onEvent((e) => seen.push(`${e.kind}:${e.id}`));
      await tick();
      const { execution } = await store.enqueue(newExecution());
      await store.claim('w', 10_000);
      await store.finish(execution.id, 'w', 'COMPLETED', completedResult());
      await expect.poll(() => seen, { timeout: 5000 }).toEqual([`available:${execution.id}`, `started:${execution.id}`, `finished:${execution.id}`]);
    } finally {
      await other.close();
    }
  });

  it('coalesces "available" per tick, and stops after close', async () => {
    let calls = 0;
    store.events.onAvailable(() => calls++);
    await tick();
    for (let i = 0; i < 5; i++) await store.enqueue(newExecution({ sessionId: `s${i}` }));
    await expect.poll(() => calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThan(5);
    const before = calls;
    store.events.close();
    await store.enqueue(newExecution({ sessionId: 'late' }));
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(before);
  });

  it('keeps events for a while and prunes the old ones with the finished jobs', async () => {
    const { execution } = await store.enqueue(newExecution(), { now: 1000 });
    const raw = (await import('better-sqlite3')).default;
    const db = new raw(file);
    const count = () => (db.prepare('SELECT COUNT(*) AS n FROM job_events').get() as { n: number }).n;
    expect(count()).toBe(1);
    await store.prune(0, Date.now() + 11 * 60_000);
    expect(count()).toBe(0);
    db.close();
    expect(await store.get(execution.id)).not.toBeNull();
  });
});
