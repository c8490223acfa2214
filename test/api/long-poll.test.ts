import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteQueue } from '../../src/queue/open.js';
import { completedResult } from '../queue/helpers.js';
import { MAX_WAITERS } from '../../src/api/execution-waiter.js';
import { call, createSession, startHarness, type Harness } from './harness.js';

// GET /executions/{id}?wait_ms=N: answered when the execution is terminal (woken by the queue's
// "finished" event for that execution, from this process or any other) or after N ms with its
// state then.

describe('GET /executions/{id}?wait_ms= (long polling)', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ config: { sessionMaxInFlight: 100 } });
  });
  afterEach(async () => {
    await h.close();
  });

  async function queuedExecution(): Promise<string> {
    const s = await createSession(h);
    const run = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, {});
    expect(run.status).toBe(202);
    return run.json.execution_id as string;
  }

  async function finish(id: string): Promise<void> {
    const claimed = await h.jobs.claim('test-executor', 10_000);
    expect(claimed?.id).toBe(id);
    expect(await h.jobs.finish(id, 'test-executor', 'COMPLETED', completedResult('waited\n'))).toBe(true);
  }

  it('answers as soon as the execution finishes, not at the end of the wait', async () => {
    const id = await queuedExecution();
    const t0 = performance.now();
    const pending = call(h, 'GET', `/executions/${id}?wait_ms=20000`);
    await new Promise((r) => setTimeout(r, 100));
    await finish(id);
    const got = await pending;
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ execution_id: id, status: 'COMPLETED', stdout: 'waited\n' });
    expect(performance.now() - t0).toBeLessThan(10_000);
  });

  it('answers a finish this process committed (an embedded executor\'s) from its row, without reading the execution again', async () => {
    const id = await queuedExecution();
    const pending = call(h, 'GET', `/executions/${id}?wait_ms=20000`);
    await new Promise((r) => setTimeout(r, 100));
    expect((await h.jobs.claim('test-executor', 10_000))?.id).toBe(id);
    // Reads of the execution from here on.
    const get = h.jobs.get.bind(h.jobs);
    let reads = 0;
    h.jobs.get = (...args: Parameters<typeof get>) => {
      reads++;
      return get(...args);
    };
    const r = await h.jobs.finishAndClaim(id, 'test-executor', 'COMPLETED', completedResult('own\n'), 10_000);
    expect(r.finished).toBe(true);
    const got = await pending;
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ execution_id: id, status: 'COMPLETED', stdout: 'own\n' });
    expect(reads).toBe(0);
  });

  it('wakes on a finish recorded by another process (another connection to the database)', async () => {
    const id = await queuedExecution();
    const pending = call(h, 'GET', `/executions/${id}?wait_ms=20000`);
    await new Promise((r) => setTimeout(r, 50));
    const other = openSqliteQueue(path.join(h.dir, 'codexec.db'), { eventsPollMs: 0 });
    try {
      expect((await other.claim('w', 10_000))?.id).toBe(id);
      expect(await other.finish(id, 'w', 'COMPLETED', completedResult('from afar\n'))).toBe(true);
    } finally {
      await other.close();
    }
    const got = await pending;
    expect(got.json).toMatchObject({ status: 'COMPLETED', stdout: 'from afar\n' });
  });

  it('waits as long as asked over a real connection, past twice the request timeout (the idle timeout)', async () => {
    const real = await startHarness({ config: { requestTimeoutMs: 500 } });
    try {
      await real.app.listen({ port: 0, host: '127.0.0.1' });
      const port = (real.app.server.address() as AddressInfo).port;
      const s = await createSession(real);
      const run = await call(real, 'POST', `/code-sessions/${s.session_id}/run`, {});
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/executions/${run.json.execution_id}?wait_ms=2500`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { status: string }).status).toBe('QUEUED');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(2400);
    } finally {
      await real.close();
    }
  });

  it('answers with the current state when the wait is over', async () => {
    const id = await queuedExecution();
    const t0 = performance.now();
    const got = await call(h, 'GET', `/executions/${id}?wait_ms=300`);
    expect(got.status).toBe(200);
    expect(got.json.status).toBe('QUEUED');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('answers at once for a terminal execution, wait_ms=0, and an unknown id', async () => {
    const id = await queuedExecution();
    expect((await call(h, 'GET', `/executions/${id}?wait_ms=0`)).json.status).toBe('QUEUED');
    await finish(id);
    expect((await call(h, 'GET', `/executions/${id}?wait_ms=30000`)).json.status).toBe('COMPLETED');
    const missing = await call(h, 'GET', '/executions/00000000-0000-4000-8000-000000000000?wait_ms=30000');
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('execution_not_found');
  });

  it('refuses a wait_ms out of range or not a number with 400 invalid_request', async () => {
    const id = await queuedExecution();
    for (const bad of ['-1', '30001', 'soon', '1.5', '1e3']) {
      const r = await call(h, 'GET', `/executions/${id}?wait_ms=${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.json.error.code, bad).toBe('invalid_request');
    }
  });

  it('answers waiting requests at once when shutdown begins', async () => {
    const id = await queuedExecution();
    const pending = call(h, 'GET', `/executions/${id}?wait_ms=30000`);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    h.app.codexec.beginShutdown();
    const got = await pending;
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(got.json.status).toBe('QUEUED');
  });

  it('bounds the waiting requests: beyond the limit they are answered at once', async () => {
    expect(MAX_WAITERS).toBeGreaterThan(0);
    const id = await queuedExecution();
    const waiting = Array.from({ length: MAX_WAITERS }, () => call(h, 'GET', `/executions/${id}?wait_ms=30000`));
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    const extra = await call(h, 'GET', `/executions/${id}?wait_ms=30000`);
    expect(extra.json.status).toBe('QUEUED');
    expect(performance.now() - t0).toBeLessThan(5_000);
    await finish(id);
    const all = await Promise.all(waiting);
    expect(all.every((r) => r.json.status === 'COMPLETED')).toBe(true);
  });
});

// POST /code-sessions/{id}/run?wait_ms=N: the run and its result in one request, 200 with the
// execution as GET shows it when it ends in time, else 202 as without wait_ms.
describe('POST /code-sessions/{id}/run?wait_ms= (the result in the answer)', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ config: { sessionMaxInFlight: 100 } });
  });
  afterEach(async () => {
    await h.close();
  });

  async function finishNext(stdout: string): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const claimed = await h.jobs.claim('test-executor', 10_000);
      if (claimed) {
        expect(await h.jobs.finish(claimed.id, 'test-executor', 'COMPLETED', completedResult(stdout))).toBe(true);
        return claimed.id;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('no run was queued');
  }

  it('answers 200 with the result as soon as the run ends, as GET /executions/{id} shows it', async () => {
    const s = await createSession(h);
    const t0 = performance.now();
    const pending = call(h, 'POST', `/code-sessions/${s.session_id}/run?wait_ms=20000`, {});
    const id = await finishNext('in one request\n');
    const got = await pending;
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ execution_id: id, session_id: s.session_id, status: 'COMPLETED', stdout: 'in one request\n', webhook: null });
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(got.json).toEqual((await call(h, 'GET', `/executions/${id}`)).json);
  });

  it('answers 202 with the run as without wait_ms when the wait is over first, and the run goes on', async () => {
    const s = await createSession(h);
    const t0 = performance.now();
    const got = await call(h, 'POST', `/code-sessions/${s.session_id}/run?wait_ms=300`, {});
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(got.status).toBe(202);
    expect(Object.keys(got.json).sort()).toEqual(['execution_id', 'queued_at', 'session_id', 'status']);
    expect(got.json.status).toBe('QUEUED');
    expect(await finishNext('later\n')).toBe(got.json.execution_id);
    expect((await call(h, 'GET', `/executions/${got.json.execution_id}`)).json.stdout).toBe('later\n');
  });

  it('a replay of a finished run with its Idempotency-Key answers 200 with its result at once', async () => {
    const s = await createSession(h);
    const first = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, {}, { 'idempotency-key': 'k1' });
    expect(first.status).toBe(202);
    await finishNext('once\n');
    const t0 = performance.now();
    const again = await call(h, 'POST', `/code-sessions/${s.session_id}/run?wait_ms=20000`, {}, { 'idempotency-key': 'k1' });
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(again.status).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json).toMatchObject({ execution_id: first.json.execution_id, status: 'COMPLETED', stdout: 'once\n' });
  });

  it('refuses a wait_ms out of range or not a number with 400 invalid_request, and queues nothing', async () => {
    const s = await createSession(h);
    for (const bad of ['-1', '30001', 'soon', '1.5']) {
      const r = await call(h, 'POST', `/code-sessions/${s.session_id}/run?wait_ms=${bad}`, {});
      expect(r.status, bad).toBe(400);
      expect(r.json.error.code, bad).toBe('invalid_request');
    }
    expect(await h.jobs.claim('test-executor', 10_000)).toBeNull();
  });
});
