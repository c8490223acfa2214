import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import { srcModule, TS_CHILD_EXEC_ARGV } from '../support/ts-child.js';
import { completedResult, makeTempDir, newExecution, nextMessage, removeDir } from './helpers.js';

// Two claimers must never get the same job: the claim is one UPDATE ... RETURNING under SQLite's
// single write lock. These races run real concurrent connections, in one process and across
// processes, on one database file.

const JOBS = 500;
const fixture = fileURLToPath(new URL('./fixtures/claim-worker.mjs', import.meta.url));

describe('claim race', () => {
  let dir: string;
  let file: string;
  let ids: string[];
  let store: JobQueue;
  beforeEach(async () => {
    dir = makeTempDir();
    file = path.join(dir, 'data', 'codexec.db');
    store = openSqliteQueue(file);
    ids = [];
    for (let i = 0; i < JOBS; i++) ids.push((await store.enqueue(newExecution({ sessionId: `s${i}` }))).execution.id);
  });
  afterEach(async () => {
    await store.close();
    removeDir(dir);
  });

  async function expectEachClaimedOnce(claims: string[]): Promise<void> {
    expect(claims).toHaveLength(JOBS);
    expect(new Set(claims).size).toBe(JOBS);
    expect([...claims].sort()).toEqual([...ids].sort());
    const stats = await store.stats();
    expect(stats.counts).toEqual({ QUEUED: 0, RUNNING: 0, COMPLETED: JOBS, FAILED: 0, TIMEOUT: 0 });
    for (const id of ids) expect((await store.get(id))?.attempt).toBe(1);
  }

  it(`4 processes claim ${JOBS} jobs: each exactly once, no SQLITE_BUSY`, async () => {
    const storeModule = srcModule('src/queue/open.ts');
    const children = Array.from({ length: 4 }, (_, i) => {
      const child = fork(fixture, [storeModule, file, `proc${i}`], { execArgv: TS_CHILD_EXEC_ARGV, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      return { child, stderr: () => stderr };
    });
    try {
      // Everyone opens the database first; then all start claiming at the same moment.
      await Promise.all(children.map(({ child, stderr }) => nextMessage(child, stderr)));
      const done = children.map(({ child, stderr }) => nextMessage(child, stderr));
      for (const { child } of children) child.send('go');
      const results = (await Promise.all(done)) as { type: 'done'; claimed: string[] }[];
      const exits = await Promise.all(
        children.map(({ child }) => (child.exitCode !== null ? child.exitCode : new Promise((r) => child.once('exit', r)))),
      );
      expect(exits).toEqual([0, 0, 0, 0]);
      console.log(`claims per process: ${results.map((r) => r.claimed.length).join(', ')}`);
      await expectEachClaimedOnce(results.flatMap((r) => r.claimed));
      for (const id of ids) expect((await store.get(id))?.result?.stdout).toMatch(/^run by proc\d\n$/);
    } finally {
      for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it(`8 connections in one process claim ${JOBS} jobs concurrently: each exactly once`, async () => {
    const stores = Array.from({ length: 8 }, () => openSqliteQueue(file));
    try {
      const perStore = await Promise.all(
        stores.map(async (s, i) => {
          const claimed: string[] = [];
          for (;;) {
            const job = await s.claim(`conn${i}`, 60_000);
            if (job === null) return claimed;
            claimed.push(job.id);
            // Yield so the other connections interleave with this one.
            await new Promise((r) => setImmediate(r));
            expect(await s.finish(job.id, `conn${i}`, 'COMPLETED', completedResult())).toBe(true);
          }
        }),
      );
      await expectEachClaimedOnce(perStore.flat());
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('many concurrent claims on one store: each job once, then nulls', async () => {
    const claims = await Promise.all(Array.from({ length: JOBS + 100 }, (_, i) => store.claim(`c${i % 7}`, 60_000)));
    const got = claims.filter((c) => c !== null);
    expect(claims.filter((c) => c === null)).toHaveLength(100);
    for (const job of got) expect(await store.finish(job.id, job.leaseOwner!, 'COMPLETED', completedResult())).toBe(true);
    await expectEachClaimedOnce(got.map((j) => j.id));
  });
});
