import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addKey, bearer } from '../keys/helpers.js';
import { call, startHarness, type Harness } from './harness.js';

// Each quota of an API key used up, through the real app on SQLite: runs per minute (every route
// that submits runs shares it), executions in flight, sessions open at once. Each refusal is 429
// quota_exceeded with details.quota and Retry-After; other keys are not affected; the metrics
// count them per key id.

const JUDGE0_PYTHON = 71;
const inline = (n: number) => ({ language: 'python', source_code: `print(${n})` });

describe('API key quotas', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ config: { auth: 'keys', compat: ['judge0', 'piston'] } });
  });
  afterEach(async () => {
    await h.close();
  });

  it('runs per minute: one budget over runs, batch items and Judge0; then 429 quota_exceeded with Retry-After', async () => {
    const { key, secret } = await addKey(h.keys, { runsPerMinute: 4 });
    const K = bearer(secret);
    const other = bearer((await addKey(h.keys, { runsPerMinute: 4 })).secret);
    const s = (await call(h, 'POST', '/code-sessions', { language: 'python' }, K)).json.session_id;
    expect((await call(h, 'POST', `/code-sessions/${s}/run`, {}, K)).status).toBe(202);
    expect((await call(h, 'POST', '/judge0/submissions', { language_id: JUDGE0_PYTHON, source_code: 'print(1)' }, K)).status).toBe(201);
    const batch = await call(h, 'POST', '/executions/batch', { runs: [inline(1), inline(2), inline(3)] }, K);
    expect(batch.json.results.map((r: { status: number }) => r.status)).toEqual([202, 202, 429]);
    expect(batch.json.results[2]).toMatchObject({ error: { code: 'quota_exceeded', details: { quota: 'runs_per_minute', limit: 4 } } });
    expect(batch.json.results[2].retry_after_seconds).toBeGreaterThan(0);

    const refused = await call(h, 'POST', '/executions/batch', { runs: [inline(4)] }, K);
    expect(refused.json.results[0].status).toBe(429);
    const judge0 = await call(h, 'POST', '/judge0/submissions', { language_id: JUDGE0_PYTHON, source_code: 'print(1)' }, K);
    expect(judge0.status).toBe(429);
    expect(judge0.headers['codexec-error-code']).toBe('quota_exceeded');
    const s2 = (await call(h, 'POST', '/code-sessions', { language: 'python' }, K)).json.session_id;
    const run = await call(h, 'POST', `/code-sessions/${s2}/run`, {}, K);
    expect(run.status).toBe(429);
    expect(run.json.error).toMatchObject({ code: 'quota_exceeded', details: { quota: 'runs_per_minute', limit: 4 } });
    expect(Number(run.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(run.headers['retry-after'])).toBeLessThanOrEqual(60);

    // Another key has its own budget.
    expect((await call(h, 'POST', '/executions/batch', { runs: [inline(5)] }, other)).json.results[0].status).toBe(202);

    const metrics = (await call(h, 'GET', '/metrics')).body;
    expect(metrics).toContain(`codexec_key_runs_submitted_total{key_id="${key.id}"} 4`);
    expect(metrics).toContain(`codexec_key_quota_refusals_total{key_id="${key.id}",quota="runs_per_minute"} 4`);
    expect(metrics).not.toContain(secret.slice(4));
  });

  it('executions in flight: refused at the quota, accepted again once one ends', async () => {
    const { key, secret } = await addKey(h.keys, { executionsInFlight: 2 });
    const K = bearer(secret);
    const first = await call(h, 'POST', '/executions/batch', { runs: [inline(1), inline(2), inline(3)] }, K);
    expect(first.json.results.map((r: { status: number }) => r.status)).toEqual([202, 202, 429]);
    expect(first.json.results[2].error).toMatchObject({ code: 'quota_exceeded', details: { quota: 'executions_in_flight', limit: 2 } });
    // A session's run counts too, and is refused the same way.
    const s = (await call(h, 'POST', '/code-sessions', { language: 'python' }, K)).json.session_id;
    const run = await call(h, 'POST', `/code-sessions/${s}/run`, {}, K);
    expect(run.status).toBe(429);
    expect(run.json.error.details.quota).toBe('executions_in_flight');
    expect(run.headers['retry-after']).toBeDefined();
    // Another key is not affected.
    const other = bearer((await addKey(h.keys, { executionsInFlight: 2 })).secret);
    expect((await call(h, 'POST', '/executions/batch', { runs: [inline(4)] }, other)).json.results[0].status).toBe(202);
    // One ends (canceled): there is a place again.
    const id = first.json.results[0].execution.execution_id;
    expect((await call(h, 'POST', `/executions/${id}/cancel`, undefined, K)).status).toBe(200);
    expect((await call(h, 'POST', `/code-sessions/${s}/run`, {}, K)).status).toBe(202);
    const metrics = (await call(h, 'GET', '/metrics')).body;
    expect(metrics).toContain(`codexec_key_quota_refusals_total{key_id="${key.id}",quota="executions_in_flight"} 2`);
  });

  it('sessions open at once: refused at the quota (also when created at once); closing one frees a place', async () => {
    const { key, secret } = await addKey(h.keys, { sessions: 3 });
    const K = bearer(secret);
    const created = await Promise.all(Array.from({ length: 10 }, () => call(h, 'POST', '/code-sessions', { language: 'python' }, K)));
    const ok = created.filter((r) => r.status === 201);
    expect(ok).toHaveLength(3);
    const refused = created.find((r) => r.status === 429)!;
    expect(refused.json.error).toMatchObject({ code: 'quota_exceeded', details: { quota: 'sessions', limit: 3 } });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    const other = bearer((await addKey(h.keys, { sessions: 1 })).secret);
    expect((await call(h, 'POST', '/code-sessions', { language: 'python' }, other)).status).toBe(201);
    expect((await call(h, 'DELETE', `/code-sessions/${ok[0].json.session_id}`, undefined, K)).status).toBe(200);
    expect((await call(h, 'POST', '/code-sessions', { language: 'python' }, K)).status).toBe(201);
    expect((await call(h, 'POST', '/code-sessions', { language: 'python' }, K)).status).toBe(429);
    const metrics = (await call(h, 'GET', '/metrics')).body;
    expect(metrics).toContain(`codexec_key_quota_refusals_total{key_id="${key.id}",quota="sessions"} 8`);
  });

  it('the server-wide limits count per key: X-Api-Key no longer names new buckets', async () => {
    await h.close();
    h = await startHarness({ config: { auth: 'keys', rateLimitRunsPerMinute: 2 } });
    const K = bearer((await addKey(h.keys)).secret);
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const res = await call(h, 'POST', '/executions/batch', { runs: [inline(i)] }, { ...K, 'x-api-key': `learner-${i}` });
      statuses.push(res.json.results[0].status);
      if (i === 2) expect(res.json.results[0].error.code).toBe('rate_limited');
    }
    expect(statuses).toEqual([202, 202, 429]);
  });

  it('the per-route limits (sessions per minute) count per key too', async () => {
    await h.close();
    h = await startHarness({ config: { auth: 'keys', rateLimitSessionsPerMinute: 2 } });
    const K = bearer((await addKey(h.keys)).secret);
    const other = bearer((await addKey(h.keys)).secret);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(h, 'POST', '/code-sessions', { language: 'python' }, { ...K, 'x-api-key': `learner-${i}` })).status);
    expect(statuses).toEqual([201, 201, 429]);
    expect((await call(h, 'POST', '/code-sessions', { language: 'python' }, other)).status).toBe(201);
  });
});
