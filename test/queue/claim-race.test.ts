import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import { srcModule } from '../support/ts-child.js';
import { claimAllAtOnce, claimInProcesses, drain, expectEachClaimedOnce } from './claim-race.js';
import { makeTempDir, newExecution, removeDir } from './helpers.js';

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

  it(`4 processes claim ${JOBS} jobs: each exactly once, no SQLITE_BUSY`, async () => {
    const storeModule = srcModule('src/queue/open.ts');
    const claims = await claimInProcesses(fixture, [0, 1, 2, 3].map((i) => [storeModule, file, `proc${i}`]));
    await expectEachClaimedOnce(store, ids, claims.flat());
    for (const id of ids) expect((await store.get(id))?.result?.stdout).toMatch(/^run by proc\d\n$/);
  });

  it(`8 connections in one process claim ${JOBS} jobs concurrently: each exactly once`, async () => {
    const stores = Array.from({ length: 8 }, () => openSqliteQueue(file));
    try {
      const perStore = await Promise.all(stores.map((s, i) => drain(s, `conn${i}`)));
      await expectEachClaimedOnce(store, ids, perStore.flat());
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('many concurrent claims on one store: each job once, then nulls', async () => {
    await claimAllAtOnce(store, ids, 100);
  });
});
