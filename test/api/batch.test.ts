import { afterEach, describe, expect, it } from 'vitest';
import { call, createSession, startHarness, type Harness } from './harness.js';

// POST /executions/batch through the real app: each run goes through the one submit path with
// every check of a single run, each is accepted or refused on its own, each counts against the
// client's runs-per-minute limit, and each is idempotent on its own.

describe('POST /executions/batch', () => {
  let h: Harness;
  afterEach(async () => h.close());

  it('accepts session runs and inline runs together, refusing the bad ones one by one', async () => {
    h = await startHarness({ config: { rateLimitRunsPerMinute: 0 } });
    const a = await createSession(h);
    const busy = await createSession(h);
    const res = await call(h, 'POST', '/executions/batch', {
      runs: [
        { session_id: a.session_id, stdin: 'x' },
        { language: 'python', source_code: 'print(1)\n', test_cases: [{ stdin: '', expected_output: '1' }] },
        { session_id: busy.session_id },
        { session_id: busy.session_id }, // the session's one run in flight is the one just above
        { language: 'cobol', source_code: 'x' },
        { language: 'python' },
        { session_id: a.session_id, language: 'python', source_code: 'x' },
        { session_id: '00000000-0000-4000-8000-000000000000' },
        { language: 'python', source_code: 'x'.repeat(h.config.maxSourceBytes + 1) },
      ],
    });
    expect(res.status, res.body).toBe(200);
    const results = res.json.results as { index: number; status: number; error?: { code: string }; execution?: { execution_id: string; session_id: string | null; status: string } }[];
    expect(results.map((r) => [r.index, r.status, r.error?.code ?? null])).toEqual([
      [0, 202, null],
      [1, 202, null],
      [2, 202, null],
      [3, 429, 'session_busy'],
      [4, 422, 'unsupported_language'],
      [5, 400, 'invalid_request'],
      [6, 400, 'invalid_request'],
      [7, 404, 'session_not_found'],
      [8, 413, 'source_too_large'],
    ]);
    expect(res.json).toMatchObject({ accepted: 3, refused: 6 });
    expect(results[0]!.execution).toMatchObject({ session_id: a.session_id, status: 'QUEUED' });
    expect(results[1]!.execution!.session_id).toBeNull();
    const inline = await h.jobs.get(results[1]!.execution!.execution_id);
    expect(inline?.plan?.testCases).toHaveLength(1);
    expect((await h.jobs.get(results[0]!.execution!.execution_id))?.plan?.stdin).toBe('x');
  });

  it('refuses a batch over CODEXEC_MAX_BATCH_RUNS as a whole, and an empty one', async () => {
    h = await startHarness({ config: { maxBatchRuns: 3, rateLimitRunsPerMinute: 0 } });
    const run = { language: 'python', source_code: 'print(1)' };
    const over = await call(h, 'POST', '/executions/batch', { runs: [run, run, run, run] });
    expect(over.status).toBe(400);
    expect(over.json.error).toMatchObject({ code: 'invalid_request', details: { limit: 3 } });
    expect((await call(h, 'POST', '/executions/batch', { runs: Array(101).fill(run) })).status).toBe(400);
    expect((await call(h, 'POST', '/executions/batch', { runs: [] })).status).toBe(400);
    expect((await call(h, 'POST', '/executions/batch', { runs: [{ ...run, bogus: 1 }] })).status).toBe(400);
    expect((await h.jobs.stats()).counts.QUEUED).toBe(0);
  });

  it('counts each run against the runs-per-minute limit: some accepted, the rest 429 with retry_after_seconds', async () => {
    h = await startHarness({ config: { rateLimitRunsPerMinute: 5 } });
    const run = { language: 'python', source_code: 'print(1)' };
    const first = await call(h, 'POST', '/executions/batch', { runs: Array(3).fill(run) });
    expect(first.json.accepted).toBe(3);
    const second = await call(h, 'POST', '/executions/batch', { runs: Array(4).fill(run) });
    expect(second.json.results.map((r: { status: number }) => r.status)).toEqual([202, 202, 429, 429]);
    expect(second.json.results[2]).toMatchObject({ error: { code: 'rate_limited' } });
    expect(second.json.results[2].retry_after_seconds).toBeGreaterThanOrEqual(1);
    // Another client (X-Api-Key) has its own budget.
    expect((await call(h, 'POST', '/executions/batch', { runs: [run] }, { 'x-api-key': 'other' })).json.accepted).toBe(1);
  });

  it('single runs and batch items draw on one budget: a client cannot double its limit by using both routes', async () => {
    h = await startHarness({ config: { rateLimitRunsPerMinute: 3, sessionMaxInFlight: 100 } });
    const s = await createSession(h);
    for (let i = 0; i < 2; i++) expect((await call(h, 'POST', `/code-sessions/${s.session_id}/run`, {})).status).toBe(202);
    const batch = await call(h, 'POST', '/executions/batch', { runs: [{ language: 'python', source_code: 'print(1)' }, { language: 'python', source_code: 'print(2)' }] });
    expect(batch.json.results.map((r: { status: number }) => r.status)).toEqual([202, 429]);
    expect((await call(h, 'POST', `/code-sessions/${s.session_id}/run`, {})).status).toBe(429);
  });

  it('queue_full for the runs past the queue depth, with the others accepted', async () => {
    h = await startHarness({ config: { queueMaxDepth: 2, rateLimitRunsPerMinute: 0 } });
    const run = { language: 'python', source_code: 'print(1)' };
    const res = await call(h, 'POST', '/executions/batch', { runs: Array(4).fill(run) });
    expect(res.json.results.map((r: { status: number; error?: { code: string } }) => r.error?.code ?? r.status)).toEqual([202, 202, 'queue_full', 'queue_full']);
  });

  it('Idempotency-Key: each run is idempotent on its own; a retry replays the accepted and retries the refused', async () => {
    h = await startHarness({ config: { rateLimitRunsPerMinute: 0 } });
    const s = await createSession(h);
    const runs = [{ session_id: s.session_id }, { session_id: s.session_id }, { language: 'python', source_code: 'print(2)' }];
    const key = { 'idempotency-key': 'batch-7' };
    const first = await call(h, 'POST', '/executions/batch', { runs }, key);
    expect(first.json.results.map((r: { status: number }) => r.status)).toEqual([202, 429, 202]); // the session is busy for the second
    const again = await call(h, 'POST', '/executions/batch', { runs }, key);
    expect(again.json.results.map((r: { status: number; idempotent_replayed?: boolean }) => [r.status, r.idempotent_replayed ?? false])).toEqual([
      [202, true],
      [429, false],
      [202, true],
    ]);
    expect(again.json.results[0].execution.execution_id).toBe(first.json.results[0].execution.execution_id);
    expect(again.json.results[2].execution.execution_id).toBe(first.json.results[2].execution.execution_id);
    // The same key with a different run at an index: that run alone is a conflict.
    const changed = await call(h, 'POST', '/executions/batch', { runs: [runs[0], runs[1], { language: 'python', source_code: 'print(3)' }] }, key);
    expect(changed.json.results[2]).toMatchObject({ status: 409, error: { code: 'idempotency_key_reused' } });
    expect(changed.json.results[0].idempotent_replayed).toBe(true);
  });
});
