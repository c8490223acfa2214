import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { call, createSession, startHarness, type Harness } from './harness.js';

describe('seed flow up to QUEUED', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('create -> autosave -> run -> QUEUED with the snapshot; a later autosave leaves the job alone', async () => {
    const created = await call(h, 'POST', '/code-sessions', { language: 'python' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ status: 'ACTIVE', language: 'python', revision: 0, source_code: "print('Hello World')\n" });
    expect(created.json.session_id).toMatch(/^[0-9a-f-]{36}$/);
    const id = created.json.session_id;

    const saved = await call(h, 'PATCH', `/code-sessions/${id}`, { language: 'python', source_code: "print('Hello World')" });
    expect(saved.status).toBe(200);
    expect(saved.json).toMatchObject({ session_id: id, status: 'ACTIVE', revision: 1 });
    expect(saved.headers.etag).toBe('"1"');

    const run = await call(h, 'POST', `/code-sessions/${id}/run`);
    expect(run.status).toBe(202);
    expect(run.json).toMatchObject({ status: 'QUEUED', session_id: id });
    await expect.poll(() => h.wakes.count).toBe(1);

    await call(h, 'PATCH', `/code-sessions/${id}`, { source_code: 'print("changed later")' });
    const job = await h.jobs.get(run.json.execution_id);
    expect(job).toMatchObject({ status: 'QUEUED', sourceCode: "print('Hello World')", language: 'python', sessionId: id, plan: { stdin: '' } });

    const polled = await call(h, 'GET', `/executions/${run.json.execution_id}`);
    expect(polled.status).toBe(200);
    expect(polled.json).toMatchObject({
      execution_id: run.json.execution_id,
      session_id: id,
      language: 'python',
      status: 'QUEUED',
      stdout: '',
      stderr: '',
      exit_code: null,
      failure_reason: null,
      execution_time_ms: null,
      started_at: null,
      finished_at: null,
      attempts: 0,
      warnings: [],
    });
    expect(polled.json.timestamps.queued_at).toBe(polled.json.queued_at);
    expect(new Date(polled.json.queued_at).toISOString()).toBe(polled.json.queued_at);

    const got = await call(h, 'GET', `/code-sessions/${id}`);
    expect(got.json).toMatchObject({ source_code: 'print("changed later")', revision: 2, status: 'ACTIVE' });
    expect(got.json.last_run_at).not.toBeNull();
  });

  it('a finished execution shows its result fields', async () => {
    const s = await createSession(h);
    const run = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, { stdin: 'x', expected_output: 'Hello World' });
    const claimed = await h.jobs.claim('test-executor', 10_000);
    expect(claimed?.id).toBe(run.json.execution_id);
    await h.jobs.finish(claimed!.id, 'test-executor', 'COMPLETED', {
      failureReason: null,
      exitCode: 0,
      signal: null,
      stdout: 'Hello World\n',
      stderr: '',
      stdoutTruncated: false,
      stderrTruncated: false,
      outputNotUtf8: false,
      executionTimeMs: 120,
      cpuTimeMs: 30,
      memoryPeakKb: 9000,
      compileOutput: null,
      compileTimeMs: null,
      verdict: 'passed',
      feedback: 'Output matches the expected output.',
      warnings: [],
    });
    const res = await call(h, 'GET', `/executions/${run.json.execution_id}`);
    expect(res.json).toMatchObject({
      status: 'COMPLETED',
      stdout: 'Hello World\n',
      stderr: '',
      exit_code: 0,
      execution_time_ms: 120,
      cpu_time_ms: 30,
      memory_peak_kb: 9000,
      verdict: 'passed',
      attempts: 1,
    });
    expect(res.json.started_at).not.toBeNull();
    expect(res.json.finished_at).not.toBeNull();
    expect(res.json.timestamps.finished_at).toBe(res.json.finished_at);

    const list = await call(h, 'GET', `/code-sessions/${s.session_id}/executions`);
    expect(list.status).toBe(200);
    expect(list.json.executions).toHaveLength(1);
    expect(list.json.executions[0]).toMatchObject({ execution_id: run.json.execution_id, status: 'COMPLETED', exit_code: 0 });
  });
});

describe('sessions', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('creates with given code, resolves aliases, and rejects unknown or unavailable languages with 422', async () => {
    const s = await call(h, 'POST', '/code-sessions', { language: 'PY', source_code: 'print(1)' });
    expect(s.status).toBe(201);
    expect(s.json).toMatchObject({ language: 'python', source_code: 'print(1)' });

    const unknown = await call(h, 'POST', '/code-sessions', { language: 'cobol' });
    expect(unknown.status).toBe(422);
    expect(unknown.json.error).toMatchObject({ code: 'unsupported_language', details: { reason: 'unknown' } });

    const missing = await call(h, 'POST', '/code-sessions', { language: 'ghostlang' });
    expect(missing.status).toBe(422);
    expect(missing.json.error).toMatchObject({ code: 'unsupported_language', details: { reason: 'toolchain_missing' } });

    const patch = await call(h, 'PATCH', `/code-sessions/${s.json.session_id}`, { language: 'cobol' });
    expect(patch.status).toBe(422);
  });

  it('GET of an unknown or non-UUID id is 404', async () => {
    const unknown = await call(h, 'GET', '/code-sessions/00000000-0000-4000-8000-000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('session_not_found');
    for (const bad of ['abc', '123', 'x'.repeat(150), '..%2f..%2fetc', "1'%20OR%201=1"]) {
      const res = await call(h, 'GET', `/code-sessions/${bad}`);
      expect(res.status, bad).toBe(404);
      expect(res.json.error.code, bad).toBe('session_not_found');
      const ex = await call(h, 'GET', `/executions/${bad}`);
      expect(ex.status, bad).toBe(404);
      expect(ex.json.error.code, bad).toBe('execution_not_found');
    }
    const tooLong = await call(h, 'GET', `/code-sessions/${'x'.repeat(500)}`);
    expect(tooLong.status).toBe(404);
    const patch = await call(h, 'PATCH', '/code-sessions/nope', { source_code: 'x' });
    expect(patch.status).toBe(404);
    const run = await call(h, 'POST', '/code-sessions/nope/run');
    expect(run.status).toBe(404);
    const del = await call(h, 'DELETE', '/code-sessions/00000000-0000-4000-8000-000000000000');
    expect(del.status).toBe(404);
    const list = await call(h, 'GET', '/code-sessions/00000000-0000-4000-8000-000000000000/executions');
    expect(list.status).toBe(404);
  });

  it('accepts an uppercase UUID as the same session', async () => {
    const s = await createSession(h);
    const res = await call(h, 'GET', `/code-sessions/${s.session_id.toUpperCase()}`);
    expect(res.status).toBe(200);
    expect(res.json.session_id).toBe(s.session_id);
  });

  it('close: 200 CLOSED, idempotent, cancels queued runs, refuses autosave and run with session_closed', async () => {
    const s = await createSession(h);
    const run = await call(h, 'POST', `/code-sessions/${s.session_id}/run`);
    const del = await call(h, 'DELETE', `/code-sessions/${s.session_id}`);
    expect(del.status).toBe(200);
    expect(del.json).toEqual({ session_id: s.session_id, status: 'CLOSED', cancelled_executions: 1 });
    const job = await h.jobs.get(run.json.execution_id);
    expect(job?.status).toBe('FAILED');
    expect(job?.result?.failureReason).toBe('canceled');

    const again = await call(h, 'DELETE', `/code-sessions/${s.session_id}`);
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ status: 'CLOSED', cancelled_executions: 0 });

    const patch = await call(h, 'PATCH', `/code-sessions/${s.session_id}`, { source_code: 'x' });
    expect(patch.status).toBe(409);
    expect(patch.json.error).toMatchObject({ code: 'session_closed', details: { status: 'CLOSED' } });
    const rerun = await call(h, 'POST', `/code-sessions/${s.session_id}/run`);
    expect(rerun.status).toBe(409);
    expect(rerun.json.error.code).toBe('session_closed');
    const got = await call(h, 'GET', `/code-sessions/${s.session_id}`);
    expect(got.json).toMatchObject({ status: 'CLOSED', expires_at: null });
  });
});

describe('session expiry', () => {
  it('an idle session is EXPIRED: readable, but no autosave and no run', async () => {
    const h = await startHarness({ config: { sessionIdleTtlMs: 1000 } });
    try {
      const s = await createSession(h);
      // Age the session by writing an older record through the store's own clock parameter.
      const old = Date.now() - 5000;
      const stored = await h.sessions.create({ language: 'python', sourceCode: 'print(1)' }, old);
      const got = await call(h, 'GET', `/code-sessions/${stored.id}`);
      expect(got.json.status).toBe('EXPIRED');
      const patch = await call(h, 'PATCH', `/code-sessions/${stored.id}`, { source_code: 'x' });
      expect(patch.status).toBe(409);
      expect(patch.json.error).toMatchObject({ code: 'session_closed', details: { status: 'EXPIRED' } });
      const run = await call(h, 'POST', `/code-sessions/${stored.id}/run`);
      expect(run.status).toBe(409);
      // The fresh one is still active.
      expect((await call(h, 'GET', `/code-sessions/${s.session_id}`)).json.status).toBe('ACTIVE');
    } finally {
      await h.close();
    }
  });
});
