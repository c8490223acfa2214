import { describe, expect, it } from 'vitest';
import { call, createSession, startHarness, type Harness } from './harness.js';

async function withHarness(config: Parameters<typeof startHarness>[0], fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness(config);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

describe('abuse limits', () => {
  it('cooldown: a second run within CODEXEC_RUN_COOLDOWN_MS is 429 run_cooldown with Retry-After; an idempotent retry is answered', () =>
    withHarness({ config: { runCooldownMs: 60_000, sessionMaxInFlight: 10 } }, async (h) => {
      const s = await createSession(h);
      const url = `/code-sessions/${s.session_id}/run`;
      const first = await call(h, 'POST', url, {}, { 'idempotency-key': 'once' });
      expect(first.status).toBe(202);
      const second = await call(h, 'POST', url);
      expect(second.status).toBe(429);
      expect(second.json.error.code).toBe('run_cooldown');
      const retryAfter = Number(second.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      const replay = await call(h, 'POST', url, {}, { 'idempotency-key': 'once' });
      expect(replay.status).toBe(202);
      expect(replay.json.execution_id).toBe(first.json.execution_id);
      const reused = await call(h, 'POST', url, { stdin: 'other' }, { 'idempotency-key': 'once' });
      expect(reused.status).toBe(409);
      // Another session is not affected.
      const other = await createSession(h);
      expect((await call(h, 'POST', `/code-sessions/${other.session_id}/run`)).status).toBe(202);
    }));

  it('a refused run does not start a cooldown', () =>
    withHarness({ config: { runCooldownMs: 60_000 } }, async (h) => {
      const s = await createSession(h);
      const tooBig = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, { stdin: 'x'.repeat(h.config.maxStdinBytes + 1) });
      expect(tooBig.status).toBe(413);
      expect((await call(h, 'POST', `/code-sessions/${s.session_id}/run`)).status).toBe(202);
    }));

  it('in flight: with the default of one, a second run while the first is queued is 429 session_busy', () =>
    withHarness({}, async (h) => {
      const s = await createSession(h);
      const url = `/code-sessions/${s.session_id}/run`;
      const first = await call(h, 'POST', url);
      const second = await call(h, 'POST', url);
      expect(second.status).toBe(429);
      expect(second.json.error).toMatchObject({ code: 'session_busy', details: { execution_id: first.json.execution_id } });
      expect(second.headers['retry-after']).toBeDefined();
      // Once it has finished, the session may run again.
      const claimed = await h.jobs.claim('ex', 10_000);
      await h.jobs.finish(claimed!.id, 'ex', 'FAILED', {
        failureReason: 'runtime_error', exitCode: 1, signal: null, stdout: '', stderr: 'boom', stdoutTruncated: false, stderrTruncated: false,
        outputNotUtf8: false, executionTimeMs: 5, cpuTimeMs: 1, memoryPeakKb: 100, compileOutput: null, compileTimeMs: null, verdict: null,
        feedback: null, warnings: [],
      });
      expect((await call(h, 'POST', url)).status).toBe(202);
    }));

  it('queue depth: beyond CODEXEC_QUEUE_MAX_DEPTH queued runs, 503 queue_full with Retry-After', () =>
    withHarness({ config: { queueMaxDepth: 3 } }, async (h) => {
      for (let i = 0; i < 3; i++) {
        const s = await createSession(h);
        expect((await call(h, 'POST', `/code-sessions/${s.session_id}/run`)).status).toBe(202);
      }
      const s = await createSession(h);
      const full = await call(h, 'POST', `/code-sessions/${s.session_id}/run`);
      expect(full.status).toBe(503);
      expect(full.json.error).toMatchObject({ code: 'queue_full', details: { depth: 3 } });
      expect(Number(full.headers['retry-after'])).toBeGreaterThan(0);
      // The refused run did not count as a run of the session.
      expect((await call(h, 'GET', `/code-sessions/${s.session_id}`)).json.last_run_at).toBeNull();
    }));

  it('per-client rate limit on runs: 429 rate_limited in our JSON shape with Retry-After; X-Api-Key clients are counted apart', () =>
    withHarness({ config: { rateLimitRunsPerMinute: 2, sessionMaxInFlight: 100 } }, async (h) => {
      const s = await createSession(h);
      const url = `/code-sessions/${s.session_id}/run`;
      expect((await call(h, 'POST', url)).status).toBe(202);
      expect((await call(h, 'POST', url)).status).toBe(202);
      const limited = await call(h, 'POST', url);
      expect(limited.status).toBe(429);
      expect(limited.json.error.code).toBe('rate_limited');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(Object.keys(limited.json)).toEqual(['error']);
      expect((await call(h, 'POST', url, undefined, { 'x-api-key': 'learner-1' })).status).toBe(202);
      // Autosaves have their own budget.
      expect((await call(h, 'PATCH', `/code-sessions/${s.session_id}`, { source_code: 'x' })).status).toBe(200);
    }));

  it('per-client rate limit on autosaves', () =>
    withHarness({ config: { rateLimitAutosavesPerMinute: 3 } }, async (h) => {
      const s = await createSession(h);
      for (let i = 0; i < 3; i++) expect((await call(h, 'PATCH', `/code-sessions/${s.session_id}`, { source_code: `${i}` })).status).toBe(200);
      const limited = await call(h, 'PATCH', `/code-sessions/${s.session_id}`, { source_code: 'x' });
      expect(limited.status).toBe(429);
      expect(limited.json.error.code).toBe('rate_limited');
      expect(limited.headers['retry-after']).toBeDefined();
      expect((await call(h, 'GET', `/code-sessions/${s.session_id}`)).json.source_code).toBe('2');
    }));

  it('per-client rate limit on session creation', () =>
    withHarness({ config: { rateLimitSessionsPerMinute: 2 } }, async (h) => {
      await createSession(h);
      await createSession(h);
      const limited = await call(h, 'POST', '/code-sessions', { language: 'python' });
      expect(limited.status).toBe(429);
      expect(limited.json.error.code).toBe('rate_limited');
      expect((await call(h, 'POST', '/code-sessions', { language: 'python' }, { 'x-api-key': 'other' })).status).toBe(201);
    }));

  it('a rate limit of 0 means unlimited', () =>
    withHarness({ config: { rateLimitAutosavesPerMinute: 0 } }, async (h) => {
      const s = await createSession(h);
      for (let i = 0; i < 30; i++) expect((await call(h, 'PATCH', `/code-sessions/${s.session_id}`, { source_code: `${i}` })).status).toBe(200);
      expect((await h.app.inject({ method: 'PATCH', url: `/code-sessions/${s.session_id}`, payload: {} })).headers['x-ratelimit-limit']).toBeUndefined();
    }));
});

describe('size limits', () => {
  it('source_code over CODEXEC_MAX_SOURCE_BYTES is 413 source_too_large, counted in UTF-8 bytes', () =>
    withHarness({ config: { maxSourceBytes: 1024 } }, async (h) => {
      const ok = await call(h, 'POST', '/code-sessions', { language: 'python', source_code: 'x'.repeat(1024) });
      expect(ok.status).toBe(201);
      const big = await call(h, 'POST', '/code-sessions', { language: 'python', source_code: 'x'.repeat(1025) });
      expect(big.status).toBe(413);
      expect(big.json.error).toMatchObject({ code: 'source_too_large', details: { limit_bytes: 1024 } });
      // 342 three-byte characters are 1026 bytes.
      const wide = await call(h, 'PATCH', `/code-sessions/${ok.json.session_id}`, { source_code: '€'.repeat(342) });
      expect(wide.status).toBe(413);
      expect((await call(h, 'PATCH', `/code-sessions/${ok.json.session_id}`, { source_code: '€'.repeat(341) })).status).toBe(200);
    }));

  it('stdin over CODEXEC_MAX_STDIN_BYTES is 413 stdin_too_large; expected_output over the output limit is 413', () =>
    withHarness({ config: { maxStdinBytes: 100, outputBytes: 2048 } }, async (h) => {
      const s = await createSession(h);
      const url = `/code-sessions/${s.session_id}/run`;
      const big = await call(h, 'POST', url, { stdin: 'x'.repeat(101) });
      expect(big.status).toBe(413);
      expect(big.json.error.code).toBe('stdin_too_large');
      const expected = await call(h, 'POST', url, { expected_output: 'x'.repeat(2049) });
      expect(expected.status).toBe(413);
      expect(expected.json.error.code).toBe('expected_output_too_large');
      expect((await call(h, 'POST', url, { stdin: 'x'.repeat(100) })).status).toBe(202);
    }));

  it('a body over CODEXEC_MAX_BODY_BYTES is 413 body_too_large', () =>
    withHarness({ config: { maxBodyBytes: 8192, maxSourceBytes: 64 * 1024 } }, async (h) => {
      const res = await call(h, 'POST', '/code-sessions', { language: 'python', source_code: 'x'.repeat(10_000) });
      expect(res.status).toBe(413);
      expect(res.json.error).toMatchObject({ code: 'body_too_large', details: { limit_bytes: 8192 } });
    }));
});
