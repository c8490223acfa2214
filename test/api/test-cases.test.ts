import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Executor } from '../../src/executor/executor.js';
import type { SandboxRunner } from '../../src/executor/sandbox-port.js';
import { isRoot, openTestSandbox } from '../executor/helpers.js';
import { call, createSession, startHarness, type Harness } from './harness.js';

// Runs with test cases, through the public API, run by a real executor in the real sandbox: the
// program is compiled once and each case runs in a fresh sandbox; each case gets a status, the
// run a summary; hidden cases show only their name and status, in GET, in lists and in logs.

const SECRET_IN = 'hidden-input-7f3a';
const SECRET_OUT = 'hidden-output-9c1e';
const DOUBLER = 'import time\nline = input()\nif line == "loop":\n    while True: pass\nif line.startswith("hidden"):\n    print(line)\nelse:\n    print(int(line) * 2)\n';

describe('run validation of test cases', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ config: { maxTestCases: 5 } });
  });
  afterEach(async () => h.close());

  it('refuses too many cases, stdin beside cases, duplicate or bad names, oversized inputs', async () => {
    const s = await createSession(h);
    const url = `/code-sessions/${s.session_id}/run`;
    const cases = (n: number) => Array.from({ length: n }, (_, i) => ({ stdin: String(i), expected_output: String(i * 2) }));
    const tooMany = await call(h, 'POST', url, { test_cases: cases(6) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error.message).toMatch(/at most 5 test cases/);
    expect((await call(h, 'POST', url, { test_cases: cases(2), stdin: 'x' })).json.error.code).toBe('invalid_request');
    expect((await call(h, 'POST', url, { test_cases: [] })).status).toBe(400);
    expect((await call(h, 'POST', url, { test_cases: [{ name: 'a', expected_output: '1' }, { name: 'a', expected_output: '2' }] })).json.error.message).toMatch(/used twice/);
    expect((await call(h, 'POST', url, { test_cases: [{ name: '../x', expected_output: '1' }] })).status).toBe(400);
    expect((await call(h, 'POST', url, { test_cases: [{ stdin: 'x' }] })).status).toBe(400); // expected_output is required
    const big = await call(h, 'POST', url, { test_cases: [{ stdin: 'x'.repeat(h.config.maxStdinBytes + 1), expected_output: '' }] });
    expect([413, 400]).toContain(big.status); // the body limit may answer first
    expect((await call(h, 'POST', url, { test_cases: [{ expected_output: '\ud800' }] })).json.error.code).toBe('invalid_text');
    const ok = await call(h, 'POST', url, { test_cases: cases(5), comparison: 'tokens' });
    expect(ok.status).toBe(202);
    const job = await h.jobs.get(ok.json.execution_id);
    expect(job?.plan).toMatchObject({ comparison: 'tokens', stdin: '', expectedOutput: null });
    expect(job?.plan?.testCases).toEqual(cases(5).map((c, i) => ({ name: String(i + 1), stdin: c.stdin, expectedOutput: c.expected_output, hidden: false })));
  });
});

describe.skipIf(!isRoot)('test cases end to end (needs root for the sandbox)', () => {
  let sandbox: SandboxRunner;
  let h: Harness;
  let executor: Executor;
  let logs: string;
  beforeAll(async () => {
    sandbox = await openTestSandbox();
  });
  afterAll(async () => sandbox.close());
  beforeEach(async () => {
    logs = '';
    const sink = new Writable({
      write(chunk, _enc, done) {
        logs += chunk.toString();
        done();
      },
    });
    const logger = pino({ level: 'trace' }, sink);
    h = await startHarness({ config: { sessionMaxInFlight: 10, maxTestCases: 20 }, deps: { logger }, shippedProfiles: true });
    executor = new Executor({ store: h.jobs, sandbox, logger, slots: 2, leaseMs: 10_000, retryBaseMs: 10 });
    executor.start();
  });
  afterEach(async () => {
    await executor.stop(1000);
    await h.close();
  });

  async function runToEnd(sessionId: string, body: unknown) {
    const run = await call(h, 'POST', `/code-sessions/${sessionId}/run`, body);
    expect(run.status, run.body).toBe(202);
    for (;;) {
      const got = await call(h, 'GET', `/executions/${run.json.execution_id}?wait_ms=20000`);
      if (['COMPLETED', 'FAILED', 'TIMEOUT'].includes(got.json.status)) return got;
    }
  }

  it('20 cases, some wrong, some timing out, two hidden: per-case statuses, a summary, nothing hidden leaks', async () => {
    const s = await createSession(h, { language: 'python', source_code: DOUBLER });
    const cases = Array.from({ length: 20 }, (_, i) => {
      if (i % 7 === 3) return { name: `t${i}`, stdin: 'loop', expected_output: '0' }; // time limit
      if (i % 5 === 4) return { name: `t${i}`, stdin: String(i), expected_output: String(i * 2 + 1) }; // wrong
      return { name: `t${i}`, stdin: String(i), expected_output: String(i * 2) };
    });
    cases.push({ name: 'secret-pass', stdin: SECRET_IN, expected_output: SECRET_IN, hidden: true } as never);
    cases.push({ name: 'secret-fail', stdin: SECRET_IN, expected_output: SECRET_OUT, hidden: true } as never);
    cases.splice(0, 2); // 20 in all
    const got = await runToEnd(s.session_id, { test_cases: cases, time_limit_ms: 500 });
    expect(got.json.status).toBe('COMPLETED');
    const results = got.json.test_cases as { name: string; status: string; hidden: boolean; stdout: string; time_ms: number | null }[];
    expect(results.map((c) => c.name)).toEqual(cases.map((c) => c.name));
    for (const [i, c] of cases.entries()) {
      const r = results[i]!;
      const want = c.name === 'secret-pass' ? 'passed' : c.name === 'secret-fail' ? 'wrong_answer' : c.stdin === 'loop' ? 'time_limit' : c.expected_output === String(Number(c.stdin) * 2) ? 'passed' : 'wrong_answer';
      expect(r.status, c.name).toBe(want);
    }
    const passed = results.filter((r) => r.status === 'passed').length;
    expect(got.json.summary).toEqual({ passed, total: 20, first_failing: results.find((r) => r.status !== 'passed')!.name });
    expect(got.json.verdict).toBe('wrong_answer');
    expect(got.json.feedback).toMatch(new RegExp(`${passed}/20 test cases passed`));
    const hidden = results.filter((r) => r.hidden);
    expect(hidden).toHaveLength(2);
    for (const r of hidden) expect(r).toMatchObject({ stdout: '', stderr: '', time_ms: null, exit_code: null, feedback: null });
    const visible = results.find((r) => r.name === 't2')!;
    expect(visible).toMatchObject({ status: 'passed', stdout: '4\n' });
    expect(visible.time_ms).toBeGreaterThan(0);

    const list = await call(h, 'GET', `/code-sessions/${s.session_id}/executions`);
    expect(list.json.executions[0].summary).toEqual(got.json.summary);
    for (const text of [got.body, list.body, logs]) {
      expect(text).not.toContain(SECRET_IN);
      expect(text).not.toContain(SECRET_OUT);
    }
  }, 60_000);

  it('comparison modes: exact, trailing whitespace (default), tokens', async () => {
    const s = await createSession(h, { language: 'python', source_code: 'print("1  2 ")\nprint()' });
    const one = (comparison: string | undefined, expected: string) => runToEnd(s.session_id, { test_cases: [{ expected_output: expected }], ...(comparison ? { comparison } : {}) });
    expect((await one(undefined, '1  2')).json.test_cases[0].status).toBe('passed');
    expect((await one('exact', '1  2')).json.test_cases[0].status).toBe('wrong_answer');
    expect((await one('exact', '1  2 \n\n')).json.test_cases[0].status).toBe('passed');
    expect((await one('tokens', '1\n2')).json.test_cases[0].status).toBe('passed');
    expect((await one(undefined, '1 2')).json.test_cases[0].feedback).toMatch(/line 1 differs/);
  }, 60_000);

  it('each case runs in a fresh sandbox: a file written by one case is not there for the next', async () => {
    const code = 'import os\nseen = os.path.exists("mark") or os.path.exists("/tmp/mark")\nopen("mark", "w").write("x")\nopen("/tmp/mark", "w").write("x")\nprint("seen" if seen else "fresh")';
    const s = await createSession(h, { language: 'python', source_code: code });
    const got = await runToEnd(s.session_id, { test_cases: [1, 2, 3].map(() => ({ expected_output: 'fresh' })) });
    expect(got.json.test_cases.map((c: { status: string }) => c.status)).toEqual(['passed', 'passed', 'passed']);
    expect(got.json.summary).toEqual({ passed: 3, total: 3, first_failing: null });
    expect(got.json.verdict).toBe('passed');
  }, 60_000);

  it('cancel through the API: a queued one at once (200), a running one (202) ends FAILED/canceled, a finished one 409', async () => {
    const s = await createSession(h, { language: 'python', source_code: 'import time\ntime.sleep(30)' });
    const run = await call(h, 'POST', `/code-sessions/${s.session_id}/run`, { time_limit_ms: 20_000 });
    for (let i = 0; i < 500 && (await call(h, 'GET', `/executions/${run.json.execution_id}`)).json.status !== 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 10));
    const cancel = await call(h, 'POST', `/executions/${run.json.execution_id}/cancel`);
    expect(cancel.status).toBe(202);
    expect(cancel.json).toMatchObject({ status: 'RUNNING', cancel_requested: true });
    const done = await call(h, 'GET', `/executions/${run.json.execution_id}?wait_ms=10000`);
    expect(done.json).toMatchObject({ status: 'FAILED', failure_reason: 'canceled', cancel_requested: true });
    const again = await call(h, 'POST', `/executions/${run.json.execution_id}/cancel`);
    expect(again.status).toBe(200);

    const quick = await createSession(h, { language: 'python', source_code: 'print(1)' });
    const finished = await runToEnd(quick.session_id, {});
    const late = await call(h, 'POST', `/executions/${finished.json.execution_id}/cancel`);
    expect(late.status).toBe(409);
    expect(late.json.error).toMatchObject({ code: 'execution_finished', details: { status: 'COMPLETED' } });
    expect((await call(h, 'POST', '/executions/00000000-0000-4000-8000-000000000000/cancel')).status).toBe(404);
  }, 60_000);
});
