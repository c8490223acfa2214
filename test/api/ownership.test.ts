import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addKey, bearer } from '../keys/helpers.js';
import { call, startHarness, type Harness } from './harness.js';

// A stolen id: key A's sessions and executions, asked for by key B on every route that takes an
// id (sessions, runs, list, executions, cancel, events, batch items, Judge0 tokens), answer 404
// as an unknown id would, and nothing of A's changes. A sees all of its own.

const JUDGE0_PYTHON = 71;

describe('CODEXEC_AUTH=keys: a key sees only its own sessions and executions', () => {
  let h: Harness;
  let A: Record<string, string>;
  let B: Record<string, string>;
  let sessionId: string;
  let executionId: string;
  let inlineId: string;
  let token: string;

  beforeAll(async () => {
    h = await startHarness({ config: { auth: 'keys', compat: ['judge0', 'piston'], authCacheMs: 0 } });
    A = bearer((await addKey(h.keys, {}, 'A')).secret);
    B = bearer((await addKey(h.keys, {}, 'B')).secret);
    sessionId = (await call(h, 'POST', '/code-sessions', { language: 'python', source_code: 'print("A")' }, A)).json.session_id;
    const run = await call(h, 'POST', `/code-sessions/${sessionId}/run`, {}, A);
    expect(run.status).toBe(202);
    executionId = run.json.execution_id;
    const batch = await call(h, 'POST', '/executions/batch', { runs: [{ language: 'python', source_code: 'print(1)' }] }, { ...A, 'idempotency-key': 'shared-key' });
    inlineId = batch.json.results[0].execution.execution_id;
    token = (await call(h, 'POST', '/judge0/submissions', { language_id: JUDGE0_PYTHON, source_code: 'print(2)' }, A)).json.token;
    expect(token).toMatch(/^[0-9a-f-]{36}$/);
  });
  afterAll(async () => {
    await h?.close();
  });

  const sessionNotFound = { status: 404, code: 'session_not_found' };
  const executionNotFound = { status: 404, code: 'execution_not_found' };
  const expectNotFound = (res: { status: number; json: any }, want: { status: number; code: string }) => {
    expect(res.status).toBe(want.status);
    expect(res.json.error.code).toBe(want.code);
  };

  it('sessions: GET, PATCH, DELETE, run and list are 404 for B; the session is untouched', async () => {
    expectNotFound(await call(h, 'GET', `/code-sessions/${sessionId}`, undefined, B), sessionNotFound);
    expectNotFound(await call(h, 'PATCH', `/code-sessions/${sessionId}`, { source_code: 'stolen' }, B), sessionNotFound);
    expectNotFound(await call(h, 'PATCH', `/code-sessions/${sessionId}`, { source_code: 'stolen' }, { ...B, 'if-match': '"0"' }), sessionNotFound);
    expectNotFound(await call(h, 'DELETE', `/code-sessions/${sessionId}`, undefined, B), sessionNotFound);
    expectNotFound(await call(h, 'POST', `/code-sessions/${sessionId}/run`, {}, B), sessionNotFound);
    expectNotFound(await call(h, 'GET', `/code-sessions/${sessionId}/executions`, undefined, B), sessionNotFound);
    const mine = await call(h, 'GET', `/code-sessions/${sessionId}`, undefined, A);
    expect(mine.json).toMatchObject({ status: 'ACTIVE', source_code: 'print("A")', revision: 0 });
    expect((await h.jobs.listBySession(sessionId, 10)).map((e) => e.id)).toEqual([executionId]);
    expect((await call(h, 'GET', `/code-sessions/${sessionId}/executions`, undefined, A)).json.executions).toHaveLength(1);
  });

  it('executions: GET (also long polling), cancel and events are 404 for B; nothing is canceled', async () => {
    for (const id of [executionId, inlineId, token]) {
      expectNotFound(await call(h, 'GET', `/executions/${id}`, undefined, B), executionNotFound);
      expectNotFound(await call(h, 'GET', `/executions/${id}?wait_ms=30000`, undefined, B), executionNotFound);
      expectNotFound(await call(h, 'POST', `/executions/${id}/cancel`, undefined, B), executionNotFound);
      expectNotFound(await call(h, 'GET', `/executions/${id}/events`, undefined, B), executionNotFound);
      expect((await h.jobs.get(id))?.status).toBe('QUEUED');
      expect((await call(h, 'GET', `/executions/${id}`, undefined, A)).status).toBe(200);
    }
  });

  it('batch: an item naming A\'s session is 404 for B, the others are B\'s own; an Idempotency-Key is per key', async () => {
    const res = await call(
      h,
      'POST',
      '/executions/batch',
      { runs: [{ session_id: sessionId }, { language: 'python', source_code: 'print(1)' }] },
      { ...B, 'idempotency-key': 'shared-key' },
    );
    expect(res.status).toBe(200);
    expect(res.json.results[0]).toMatchObject({ index: 0, status: 404, error: { code: 'session_not_found' } });
    // The same key and body as A's batch: B gets a run of its own, not A's execution.
    expect(res.json.results[1].status).toBe(202);
    const bInline = res.json.results[1].execution.execution_id;
    expect(bInline).not.toBe(inlineId);
    expect(res.json.results[1].idempotent_replayed).toBeUndefined();
    expect((await h.jobs.get(bInline))?.owner).toMatch(/^key_/);
    expect((await h.jobs.get(bInline))?.owner).not.toBe((await h.jobs.get(inlineId))?.owner);
    expectNotFound(await call(h, 'GET', `/executions/${bInline}`, undefined, A), executionNotFound);
  });

  it('Judge0: a token of A is unknown to B (404; null in a batch GET)', async () => {
    const one = await call(h, 'GET', `/judge0/submissions/${token}`, undefined, B);
    expect(one.status).toBe(404);
    expect(one.headers['codexec-error-code']).toBe('execution_not_found');
    const many = await call(h, 'GET', `/judge0/submissions/batch?tokens=${token}`, undefined, B);
    expect(many.json.submissions).toEqual([null]);
    expect((await call(h, 'GET', `/judge0/submissions/${token}`, undefined, A)).status).toBe(200);
    expect((await call(h, 'GET', `/judge0/submissions/batch?tokens=${token}`, undefined, A)).json.submissions[0]).not.toBeNull();
  });

  it('every execution a key submits carries it as owner: runs, batch items and compatible APIs', async () => {
    const owners = await Promise.all([executionId, inlineId, token].map(async (id) => (await h.jobs.get(id))?.owner));
    expect(new Set(owners).size).toBe(1);
    expect(owners[0]).toMatch(/^key_[0-9a-f]{12}$/);
  });

  it('a session made without a key (before CODEXEC_AUTH=keys) is no key\'s', async () => {
    const s = await h.sessions.create({ language: 'python', sourceCode: 'old' });
    expectNotFound(await call(h, 'GET', `/code-sessions/${s.id}`, undefined, A), sessionNotFound);
    expectNotFound(await call(h, 'POST', `/code-sessions/${s.id}/run`, {}, A), sessionNotFound);
  });

  it('A closes its own session: 200, and its queued run is canceled', async () => {
    const res = await call(h, 'DELETE', `/code-sessions/${sessionId}`, undefined, A);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'CLOSED', cancelled_executions: 1 });
  });
});
