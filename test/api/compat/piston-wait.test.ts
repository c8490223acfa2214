import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QUEUE_ALLOWANCE_MS } from '../../../src/api/compat/runs.js';
import { call, startHarness, type Harness } from '../harness.js';

// Piston's execute answers synchronously, so its wait on the queue is bounded: the run's limits
// plus QUEUE_ALLOWANCE_MS. No executor runs here, so nothing ever finishes: past the bound (or
// at shutdown) the answer is an error and the run is canceled, since no one can ask for it later.

const CODE = 'codexec-error-code';

describe('piston execute: the bounded wait', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ shippedProfiles: true, config: { compat: ['piston'] } });
  });
  afterEach(async () => h.close());

  const queued = async () => {
    while ((await h.jobs.stats()).counts.QUEUED === 0) await new Promise((r) => setTimeout(r, 10));
  };
  const canceledCount = async () => (await h.jobs.stats()).recentFailures.filter((f) => f.failureReason === 'canceled').length;

  it(`past the run's limits plus ${QUEUE_ALLOWANCE_MS / 1000} s: 504 result_wait_timeout, and the run is canceled`, async () => {
    const res = await call(h, 'POST', '/api/v2/execute', { language: 'python', files: [{ content: 'print(1)' }], run_timeout: 100 });
    expect(res.status).toBe(504);
    expect(res.json).toEqual({ message: expect.stringMatching(/did not finish within 30 s/) });
    expect(res.headers[CODE]).toBe('result_wait_timeout');
    expect(await canceledCount()).toBe(1);
    expect((await h.jobs.stats()).counts.QUEUED).toBe(0);
  }, 60_000);

  it('at shutdown: 503 shutting_down in Piston\'s shape, and the run is canceled', async () => {
    const pending = call(h, 'POST', '/api/v2/execute', { language: 'python', files: [{ content: 'print(1)' }] });
    await queued();
    h.app.codexec.beginShutdown();
    const res = await pending;
    expect(res.status).toBe(503);
    expect(res.json).toEqual({ message: 'the server is shutting down' });
    expect(res.headers[CODE]).toBe('shutting_down');
    expect(res.headers['retry-after']).toBe('5');
    expect(await canceledCount()).toBe(1);
  }, 30_000);
});
