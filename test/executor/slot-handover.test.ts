import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { ExecutionRecord } from '../../src/domain/execution.js';
import { isTerminal } from '../../src/domain/states.js';
import { Executor } from '../../src/executor/executor.js';
import type { SandboxRunner } from '../../src/executor/sandbox-port.js';
import { submitRun } from '../../src/executions/submit.js';
import { LanguageRegistry, defaultProfilesDir } from '../../src/languages/registry.js';
import type { JobQueue } from '../../src/queue/core/job-queue.js';
import type { FinishAndClaim, JobStore } from '../../src/queue/job-store.js';
import { openSqliteQueue } from '../../src/queue/open.js';
import { isRoot, logger, openTestSandbox } from './helpers.js';

// An executor's slot passes from the job it finished to the next due one in the statement that
// records the result (finishAndClaim: one commit instead of two). The real executor, queue and
// sandbox; the store is the real one, seen through a proxy that counts (and, for one test, holds)
// its calls.

describe.skipIf(!isRoot)('executor: a slot passes from one job to the next with the result', () => {
  const config = loadConfig({});
  let sandbox: SandboxRunner;
  let dir: string;
  let store: JobQueue;
  let executor: Executor | null = null;
  beforeAll(async () => {
    sandbox = await openTestSandbox(config);
  });
  afterAll(async () => {
    await sandbox.close();
  });
  afterEach(async () => {
    await executor?.stop(1000);
    executor = null;
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const setup = async (hold?: Promise<void>) => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-handover-'));
    store = openSqliteQueue(path.join(dir, 'codexec.db'), { eventsPollMs: 0 });
    const languages = await LanguageRegistry.load(defaultProfilesDir(), config, { probeVersions: false });
    const calls = { claimed: 0, claimedNone: 0, finishAndClaim: 0, handedOver: 0, finishAndClaimStarted: 0 };
    let started: () => void = () => {};
    const firstFinishAndClaim = new Promise<void>((r) => (started = r));
    const spied = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'claim') {
          return async (...args: Parameters<JobStore['claim']>) => {
            const job = await target.claim(...args);
            if (job) calls.claimed++;
            else calls.claimedNone++;
            return job;
          };
        }
        if (prop === 'finishAndClaim') {
          return async (...args: Parameters<JobStore['finishAndClaim']>): Promise<FinishAndClaim> => {
            calls.finishAndClaimStarted++;
            started();
            if (hold) await hold;
            const r = await target.finishAndClaim(...args);
            calls.finishAndClaim++;
            if (r.next) calls.handedOver++;
            return r;
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const submit = async (code: string) => (await submitRun({ config, jobs: store, languages }, { source: { language: 'python', sourceCode: code } })).execution.id;
    const start = () => {
      executor = new Executor({ store: spied, sandbox, logger, slots: 1, leaseMs: 5000, retryBaseMs: 10 });
      executor.start();
      return executor;
    };
    return { calls, submit, start, firstFinishAndClaim };
  };

  const settle = async (id: string): Promise<ExecutionRecord> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const rec = (await store.get(id))!;
      if (isTerminal(rec.status)) return rec;
      if (Date.now() > deadline) throw new Error(`execution ${id} still ${rec.status}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('five queued jobs through one slot: one claim, then each result claims the next', async () => {
    const { calls, submit, start } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await submit(`print(${i})`));
    start();
    const recs = await Promise.all(ids.map(settle));
    expect(recs.map((r) => [r.status, r.attempt, r.result?.stdout])).toEqual(ids.map((_, i) => ['COMPLETED', 1, `${i}\n`]));
    // In queue order, one at a time in the one slot.
    for (let i = 1; i < recs.length; i++) expect(recs[i]!.startedAt!).toBeGreaterThanOrEqual(recs[i - 1]!.finishedAt!);
    expect(calls.claimed).toBe(1);
    expect(calls.finishAndClaim).toBe(5);
    expect(calls.handedOver).toBe(4);
  });

  it('a job claimed with a result while the executor stops is handed back, its attempt not spent', async () => {
    let release: () => void = () => {};
    const hold = new Promise<void>((r) => (release = r));
    const { calls, submit, start, firstFinishAndClaim } = await setup(hold);
    const first = await submit('print("first")');
    const second = await submit('print("second")');
    const ex = start();
    // The first result's statement is on its way (held); the executor is told to stop meanwhile.
    await firstFinishAndClaim;
    const stopping = ex.stop(5000);
    release();
    const r = await stopping;
    executor = null;
    expect(r).toEqual({ finished: 1, handedBack: 0 });
    expect(calls.handedOver).toBe(1);
    expect(await store.get(first)).toMatchObject({ status: 'COMPLETED', attempt: 1 });
    expect(await store.get(second)).toMatchObject({ status: 'QUEUED', attempt: 0, leaseOwner: null, startedAt: null });
  });
});
