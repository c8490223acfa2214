import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { call, createSession, startHarness, type Harness } from './harness.js';

describe('runs', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ config: { sessionMaxInFlight: 100 } });
  });
  afterEach(async () => {
    await h.close();
  });

  it('accepts no body, an empty JSON body, and {}', async () => {
    const s = await createSession(h);
    const none = await h.app.inject({ method: 'POST', url: `/code-sessions/${s.session_id}/run` });
    expect(none.statusCode).toBe(202);
    const empty = await h.app.inject({ method: 'POST', url: `/code-sessions/${s.session_id}/run`, headers: { 'content-type': 'application/json' }, payload: '' });
    expect(empty.statusCode).toBe(202);
    const obj = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, {});
    expect(obj.status).toBe(202);
    await expect.poll(() => h.wakes.count).toBe(3);
  });

  it('stores the plan with the job: stdin, expected output, effective limits, commands', async () => {
    const s = await createSession(h);
    const run = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, {
      stdin: '3\n4\n',
      expected_output: '7',
      time_limit_ms: 1500,
      memory_limit_bytes: 64 * 1024 * 1024,
    });
    expect(run.status).toBe(202);
    const job = await h.jobs.get(run.json.execution_id);
    expect(job).toMatchObject({
      language: 'python',
      maxAttempts: h.config.maxAttempts,
      plan: {
        stdin: '3\n4\n',
        expectedOutput: '7',
        testCases: null,
        comparison: 'trailing_whitespace',
        sourceFile: 'main.py',
        run: { argv: [expect.stringMatching(/python3$/), 'main.py'], limits: { wallTimeMs: 1500, cpuTimeMs: 1500, memoryBytes: 64 * 1024 * 1024 } },
        language: { id: 'python', profileDigest: expect.stringMatching(/^[0-9a-f]{64}$/) },
        seccomp: { name: 'default', digest: expect.stringMatching(/^[0-9a-f]{64}$/) },
      },
    });
    const got = await call(h, 'GET', `/executions/${run.json.execution_id}`);
    expect(got.json).toMatchObject({
      time_limit_ms: 1500,
      memory_limit_bytes: 64 * 1024 * 1024,
      limits: { wall_time_ms: 1500, cpu_time_ms: 1500, memory_bytes: 64 * 1024 * 1024, processes: 64 },
      max_attempts: h.config.maxAttempts,
      test_cases: null,
      summary: null,
      cancel_requested: false,
    });
    // Above the language maximum: clamped, not refused.
    const big = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, { time_limit_ms: 600_000 });
    expect(big.status).toBe(202);
    expect((await call(h, 'GET', `/executions/${big.json.execution_id}`)).json.time_limit_ms).toBe(20_000);
  });

  it('lists a session\'s executions newest first, with a limit', async () => {
    const s = await createSession(h);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await call(h, 'POST', `/code-sessions/${s.session_id}/run`, { stdin: String(i) })).json.execution_id);
    const all = await call(h, 'GET', `/code-sessions/${s.session_id}/executions`);
    expect(all.json.executions.map((e: { execution_id: string }) => e.execution_id)).toEqual([...ids].reverse());
    const two = await call(h, 'GET', `/code-sessions/${s.session_id}/executions?limit=2`);
    expect(two.json.executions).toHaveLength(2);
    for (const bad of ['0', '101', 'abc', '-1', '']) {
      const res = await call(h, 'GET', `/code-sessions/${s.session_id}/executions?limit=${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.json.error.code).toBe('invalid_request');
      expect(res.json.error.message).toContain('limit');
    }
    const empty = await createSession(h);
    const none = await call(h, 'GET', `/code-sessions/${empty.session_id}/executions`);
    expect(none.status).toBe(200);
    expect(none.json.executions).toEqual([]);
  });
});

describe('idempotency', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('same key + same body -> same execution (even while it is in flight); different body -> 409', async () => {
    const s = await createSession(h);
    const url = `/code-sessions/${s.session_id}/run`;
    const first = await call(h, 'POST', url, { stdin: 'a' }, { 'idempotency-key': 'k1' });
    expect(first.status).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await call(h, 'POST', url, { stdin: 'a' }, { 'idempotency-key': 'k1' });
    expect(again.status).toBe(202);
    expect(again.json.execution_id).toBe(first.json.execution_id);
    expect(again.headers['idempotent-replayed']).toBe('true');
    await new Promise((r) => setTimeout(r, 20));
    expect(h.wakes.count).toBe(1);

    const other = await call(h, 'POST', url, { stdin: 'b' }, { 'idempotency-key': 'k1' });
    expect(other.status).toBe(409);
    expect(other.json.error.code).toBe('idempotency_key_reused');

    // A new key while one is in flight: the session is busy (default: one in flight).
    const busy = await call(h, 'POST', url, { stdin: 'a' }, { 'idempotency-key': 'k2' });
    expect(busy.status).toBe(429);
    expect(busy.json.error).toMatchObject({ code: 'session_busy', details: { execution_id: first.json.execution_id } });
    expect(busy.headers['retry-after']).toBeDefined();
  });

  it('the key is bound to the code: after an autosave the same key is a different request', async () => {
    const s = await createSession(h);
    const url = `/code-sessions/${s.session_id}/run`;
    const first = await call(h, 'POST', url, undefined, { 'idempotency-key': 'k' });
    expect(first.status).toBe(202);
    await call(h, 'PATCH', `/code-sessions/${s.session_id}`, { source_code: 'print(2)' });
    const after = await call(h, 'POST', url, undefined, { 'idempotency-key': 'k' });
    expect(after.status).toBe(409);
    expect(after.json.error.code).toBe('idempotency_key_reused');
  });

  it('{} and no body and {"stdin": ""} are the same request', async () => {
    const s = await createSession(h);
    const url = `/code-sessions/${s.session_id}/run`;
    const a = await call(h, 'POST', url, undefined, { 'idempotency-key': 'same' });
    const b = await call(h, 'POST', url, {}, { 'idempotency-key': 'same' });
    const c = await call(h, 'POST', url, { stdin: '' }, { 'idempotency-key': 'same' });
    expect(new Set([a.json.execution_id, b.json.execution_id, c.json.execution_id]).size).toBe(1);
  });

  it('keys are per session, and concurrent retries with one key create one execution', async () => {
    const s1 = await createSession(h);
    const s2 = await createSession(h);
    const r1 = await call(h, 'POST', `/code-sessions/${s1.session_id}/run`, {}, { 'idempotency-key': 'shared' });
    const r2 = await call(h, 'POST', `/code-sessions/${s2.session_id}/run`, {}, { 'idempotency-key': 'shared' });
    expect(r1.json.execution_id).not.toBe(r2.json.execution_id);

    const s3 = await createSession(h);
    const burst = await Promise.all(
      Array.from({ length: 20 }, () => call(h, 'POST', `/code-sessions/${s3.session_id}/run`, { stdin: 'x' }, { 'idempotency-key': 'retry' })),
    );
    expect(burst.every((r) => r.status === 202)).toBe(true);
    expect(new Set(burst.map((r) => r.json.execution_id)).size).toBe(1);
    expect((await h.jobs.listBySession(s3.session_id, 100)).length).toBe(1);
  });

  it('rejects an empty or over-long key', async () => {
    const s = await createSession(h);
    const url = `/code-sessions/${s.session_id}/run`;
    expect((await call(h, 'POST', url, {}, { 'idempotency-key': 'x'.repeat(201) })).status).toBe(400);
    expect((await call(h, 'POST', url, {}, { 'idempotency-key': '' })).status).toBe(400);
    expect((await call(h, 'POST', url, {}, { 'idempotency-key': 'x'.repeat(200) })).status).toBe(202);
  });
});
