import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { call, createSession, startHarness, type Harness } from './harness.js';

describe('autosave revisions', () => {
  let h: Harness;
  let id: string;
  beforeEach(async () => {
    h = await startHarness();
    id = (await createSession(h)).session_id;
  });
  afterEach(async () => {
    await h.close();
  });

  it('without a revision, each autosave adds one', async () => {
    for (let i = 1; i <= 3; i++) {
      const res = await call(h, 'PATCH', `/code-sessions/${id}`, { source_code: `print(${i})` });
      expect(res.json.revision).toBe(i);
    }
  });

  it('a client revision must increase; a late one is 409 stale_revision naming the stored revision, and overwrites nothing', async () => {
    const a = await call(h, 'PATCH', `/code-sessions/${id}`, { source_code: 'v10', revision: 10 });
    expect(a.status).toBe(200);
    expect(a.json.revision).toBe(10);
    const late = await call(h, 'PATCH', `/code-sessions/${id}`, { source_code: 'v7', revision: 7 });
    expect(late.status).toBe(409);
    expect(late.json.error).toMatchObject({ code: 'stale_revision', details: { revision: 10 } });
    const same = await call(h, 'PATCH', `/code-sessions/${id}`, { source_code: 'v10 again', revision: 10 });
    expect(same.status).toBe(409);
    const got = await call(h, 'GET', `/code-sessions/${id}`);
    expect(got.json).toMatchObject({ source_code: 'v10', revision: 10 });
    const next = await call(h, 'PATCH', `/code-sessions/${id}`, { source_code: 'v11', revision: 11 });
    expect(next.json.revision).toBe(11);
  });

  it('If-Match applies only against the stored revision', async () => {
    const first = await call(h, 'PATCH', `/code-sessions/${id}`, { source_code: 'a' }, { 'if-match': '"0"' });
    expect(first.status).toBe(200);
    expect(first.json.revision).toBe(1);
    expect(first.headers.etag).toBe('"1"');
    const stale = await call(h, 'PATCH', `/code-sessions/${id}`, { source_code: 'b' }, { 'if-match': '"0"' });
    expect(stale.status).toBe(409);
    expect(stale.json.error).toMatchObject({ code: 'stale_revision', details: { revision: 1 } });
    const weak = await call(h, 'PATCH', `/code-sessions/${id}`, { source_code: 'c' }, { 'if-match': 'W/"1"' });
    expect(weak.json.revision).toBe(2);
    const any = await call(h, 'PATCH', `/code-sessions/${id}`, { source_code: 'd' }, { 'if-match': '*' });
    expect(any.json.revision).toBe(3);
    const bad = await call(h, 'PATCH', `/code-sessions/${id}`, { source_code: 'e' }, { 'if-match': 'banana' });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('invalid_request');
    expect((await call(h, 'GET', `/code-sessions/${id}`)).json.source_code).toBe('d');
  });

  it('many concurrent autosaves to one session: none lost, the last one sent wins, revisions count them all', async () => {
    const n = 200;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => call(h, 'PATCH', `/code-sessions/${id}`, { source_code: `print(${i})` })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(new Set(results.map((r) => r.json.revision)).size).toBe(n);
    const got = await call(h, 'GET', `/code-sessions/${id}`);
    expect(got.json.revision).toBe(n);
    expect(got.json.source_code).toBe(`print(${n - 1})`);
  });

  it('concurrent autosaves with client revisions arriving out of order keep the newest', async () => {
    const revisions = Array.from({ length: 100 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
    const results = await Promise.all(
      revisions.map((r) => call(h, 'PATCH', `/code-sessions/${id}`, { source_code: `rev ${r}`, revision: r })),
    );
    for (const r of results) expect([200, 409]).toContain(r.status);
    const got = await call(h, 'GET', `/code-sessions/${id}`);
    expect(got.json).toMatchObject({ revision: 100, source_code: 'rev 100' });
  });

  it('changes the language; the language is validated', async () => {
    const res = await call(h, 'PATCH', `/code-sessions/${id}`, { language: 'shellc' });
    expect(res.json.language).toBe('shellc');
    expect((await call(h, 'GET', `/code-sessions/${id}`)).json.source_code).toBe("print('Hello World')\n");
    const bad = await call(h, 'PATCH', `/code-sessions/${id}`, { language: 'ghostlang' });
    expect(bad.status).toBe(422);
  });

  it('an empty autosave is a keep-alive: accepted, revision +1', async () => {
    const res = await call(h, 'PATCH', `/code-sessions/${id}`, {});
    expect(res.status).toBe(200);
    expect(res.json.revision).toBe(1);
  });
});
