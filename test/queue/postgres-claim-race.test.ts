import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import type { JobStore } from '../../src/queue/job-store.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openPostgresQueue } from '../../src/queue/open.js';
import { srcModule, TS_CHILD_EXEC_ARGV } from '../support/ts-child.js';
import { completedResult, makeTempDir, newExecution, nextMessage, removeDir } from './helpers.js';
import { createSchema, describePostgres, withClient, type TestSchema } from './postgres-helpers.js';

describePostgres('PostgreSQL claim race', () => {
  // Claimers must never get the same job: FOR UPDATE SKIP LOCKED hands each a different row.
  // Real concurrent connections, in one process (separate pools, as separate hosts would have)
  // and across processes.
  const JOBS = 320;
  const fixture = fileURLToPath(new URL('./fixtures/pg-claim-worker.mjs', import.meta.url));
  let schema: TestSchema;
  let store: JobQueue;
  let ids: string[];
  beforeAll(async () => {
    schema = await createSchema();
  });
  afterAll(async () => {
    await schema?.drop();
  });
  beforeEach(async () => {
    store = await openPostgresQueue(schema.url, { poolSize: 10 });
    await withClient(schema.url, (c) => c.query('TRUNCATE executions CASCADE'));
    ids = [];
    for (let i = 0; i < JOBS; i++) ids.push((await store.enqueue(newExecution({ sessionId: `s${i}` }))).execution.id);
  });
  afterEach(async () => {
    await store.close();
  });

  async function expectEachClaimedOnce(claims: string[]): Promise<void> {
    expect(claims).toHaveLength(JOBS);
    expect(new Set(claims).size).toBe(JOBS);
    expect([...claims].sort()).toEqual([...ids].sort());
    const stats = await store.stats();
    expect(stats.counts).toEqual({ QUEUED: 0, RUNNING: 0, COMPLETED: JOBS, FAILED: 0, TIMEOUT: 0 });
    for (const id of ids) expect((await store.get(id))?.attempt).toBe(1);
  }

  async function drain(s: JobStore, owner: string): Promise<string[]> {
    const claimed: string[] = [];
    for (;;) {
      const job = await s.claim(owner, 60_000);
      if (job === null) return claimed;
      claimed.push(job.id);
      await new Promise((r) => setImmediate(r));
      expect(await s.finish(job.id, owner, 'COMPLETED', completedResult())).toBe(true);
    }
  }

  it(`4 processes, 2 claimers each, claim ${JOBS} jobs: each exactly once`, async () => {
    const dir = makeTempDir();
    const children: { child: ChildProcess; stderr: () => string }[] = [];
    try {
      const storeModule = srcModule('src/queue/open.ts');
      for (let i = 0; i < 4; i++) {
        const child = fork(fixture, [storeModule, schema.url, `proc${i}`, '2'], { execArgv: TS_CHILD_EXEC_ARGV, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
        let stderr = '';
        child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
        children.push({ child, stderr: () => stderr });
      }
      // Everyone connects first; then all start claiming at the same moment.
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
      removeDir(dir);
    }
  });

  it(`4 stores (separate pools) with 3 claimers each claim ${JOBS} jobs concurrently: each exactly once`, async () => {
    const others = await Promise.all(Array.from({ length: 4 }, () => openPostgresQueue(schema.url, { poolSize: 3 })));
    try {
      const perClaimer = await Promise.all(others.flatMap((s, i) => [0, 1, 2].map((j) => drain(s, `store${i}.${j}`))));
      console.log(`claims per claimer: ${perClaimer.map((c) => c.length).join(', ')}`);
      await expectEachClaimedOnce(perClaimer.flat());
    } finally {
      await Promise.all(others.map((s) => s.close()));
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
