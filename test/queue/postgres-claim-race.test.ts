import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openPostgresQueue } from '../../src/queue/open.js';
import { srcModule } from '../support/ts-child.js';
import { claimAllAtOnce, claimInProcesses, drain, expectEachClaimedOnce } from './claim-race.js';
import { newExecution } from './helpers.js';
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

  it(`4 processes, 2 claimers each, claim ${JOBS} jobs: each exactly once`, async () => {
    const storeModule = srcModule('src/queue/open.ts');
    const claims = await claimInProcesses(fixture, [0, 1, 2, 3].map((i) => [storeModule, schema.url, `proc${i}`, '2']));
    await expectEachClaimedOnce(store, ids, claims.flat());
    for (const id of ids) expect((await store.get(id))?.result?.stdout).toMatch(/^run by proc\d\n$/);
  });

  it(`4 stores (separate pools) with 3 claimers each claim ${JOBS} jobs concurrently: each exactly once`, async () => {
    const others = await Promise.all(Array.from({ length: 4 }, () => openPostgresQueue(schema.url, { poolSize: 3 })));
    try {
      const perClaimer = await Promise.all(others.flatMap((s, i) => [0, 1, 2].map((j) => drain(s, `store${i}.${j}`))));
      console.log(`claims per claimer: ${perClaimer.map((c) => c.length).join(', ')}`);
      await expectEachClaimedOnce(store, ids, perClaimer.flat());
    } finally {
      await Promise.all(others.map((s) => s.close()));
    }
  });

  it('many concurrent claims on one store: each job once, then nulls', async () => {
    await claimAllAtOnce(store, ids, 100);
  });
});
