import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Executor } from '../../../src/executor/executor.js';
import type { SandboxRunner } from '../../../src/executor/sandbox-port.js';
import { isRoot, logger, openTestSandbox } from '../../executor/helpers.js';
import { call, startHarness, type Harness } from '../harness.js';
import { JUDGE0 } from './fixtures.js';

// Judge0 clients' requests run for real: the real app, a real executor and the real sandbox (as
// root). The documentation's examples (as our fixtures), then one program per Judge0 status.

const C = 50;
// Polls must give the event loop to the executor (app.inject and SQLite reads never wait on I/O).
const pause = () => new Promise((r) => setTimeout(r, 50));
const PYTHON = 71;

describe.skipIf(!isRoot)('judge0 API end to end (needs root for the sandbox)', () => {
  let sandbox: SandboxRunner;
  let h: Harness;
  let executor: Executor;
  beforeAll(async () => {
    sandbox = await openTestSandbox();
    h = await startHarness({ shippedProfiles: true, config: { compat: ['judge0'] } });
    executor = new Executor({ store: h.jobs, sandbox, logger, slots: 2, leaseMs: 10_000, retryBaseMs: 10 });
    executor.start();
  });
  afterAll(async () => {
    await executor.stop(1000);
    await h.close();
    await sandbox.close();
  });

  const waitFor = async (body: unknown, query = '') => {
    const res = await call(h, 'POST', `/judge0/submissions?wait=true${query}`, body);
    expect(res.status, res.body).toBe(201);
    return res.json;
  };

  it('the documentation\'s examples: create then poll; wait=true; base64 both ways; a batch', async () => {
    const created = await call(h, 'POST', '/judge0/submissions', JUDGE0.create.body);
    expect(created.status).toBe(201);
    let got;
    do got = await pause().then(() => call(h, 'GET', `/judge0/submissions/${created.json.token}`));
    while (got.json.status.id <= 2);
    expect(got.json).toMatchObject({ token: created.json.token, stdout: 'hello, world\n', stderr: null, status: { id: 3, description: 'Accepted' } });
    expect(got.json.time).toMatch(/^\d+\.\d{3}$/);
    expect(got.json.memory).toBeGreaterThan(0);

    const waited = await waitFor(JUDGE0.waitAccepted.body);
    expect(waited).toMatchObject(JUDGE0.waitAccepted.answer);
    expect(Object.keys(waited).sort()).toEqual(['compile_output', 'memory', 'message', 'status', 'stderr', 'stdout', 'time', 'token']);

    const b64 = await waitFor(JUDGE0.base64.body, '&base64_encoded=true');
    expect(Buffer.from(b64.stdout, 'base64').toString()).toBe(JUDGE0.base64.stdout);
    expect(b64.status.id).toBe(3);

    const batch = await call(h, 'POST', '/judge0/submissions/batch', JUDGE0.batch.body);
    expect(batch.status).toBe(201);
    const tokens = batch.json.map((t: { token: string }) => t.token).join(',');
    let all;
    do all = await pause().then(() => call(h, 'GET', `/judge0/submissions/batch?tokens=${tokens}&fields=stdout,status_id`));
    while (all.json.submissions.some((s: { status_id: number }) => s.status_id <= 2));
    expect(all.json.submissions).toEqual(JUDGE0.batch.stdouts.map((stdout) => ({ stdout, status_id: 3 })));
  }, 120_000);

  it('a status for each way a program ends', async () => {
    const cProgram = (body: string) => `#include <stdio.h>\n#include <stdlib.h>\n#include <signal.h>\nint main(void) {\n${body}\n}\n`;
    const cases: [string, Record<string, unknown>, number][] = [
      ['wrong answer', { language_id: PYTHON, source_code: 'print(41)', expected_output: '42' }, 4],
      ['time limit (CPU)', { language_id: PYTHON, source_code: 'while True: pass', cpu_time_limit: 0.5, wall_time_limit: 25 }, 5],
      ['time limit (wall)', { language_id: PYTHON, source_code: 'import time\ntime.sleep(10)', wall_time_limit: 0.5 }, 5],
      ['compilation error', { language_id: C, source_code: 'int main(void) { return x; }' }, 6],
      ['SIGSEGV', { language_id: C, source_code: cProgram('volatile int *p = 0; *p = 1; return 0;') }, 7],
      ['SIGFPE', { language_id: C, source_code: cProgram('raise(SIGFPE); return 0;') }, 9],
      ['SIGABRT', { language_id: C, source_code: cProgram('abort();') }, 10],
      ['NZEC', { language_id: PYTHON, source_code: 'import sys\nprint("bye")\nsys.exit(3)' }, 11],
      ['output limit', { language_id: PYTHON, source_code: 'while True: print("x" * 4096)' }, 8],
      ['memory limit', { language_id: PYTHON, source_code: 'blocks = []\nwhile True: blocks.append(bytearray(8 << 20))', memory_limit: 65536 }, 12],
    ];
    const answers = await Promise.all(cases.map(([, body]) => waitFor(body, '&fields=*')));
    for (const [i, [name, , status]] of cases.entries()) expect(answers[i].status.id, `${name}: ${JSON.stringify(answers[i]).slice(0, 400)}`).toBe(status);
    const [wrong, cpu, , compile, segv, , , nzec, , memory] = answers;
    expect(wrong).toMatchObject({ stdout: '41\n', expected_output: '42', message: null, exit_code: 0 });
    expect(cpu.message, JSON.stringify(cpu)).toMatch(/CPU time limit/);
    expect(cpu.cpu_time_limit).toBe('0.5');
    expect(compile.compile_output).toMatch(/error/);
    expect(compile.stdout).toBeNull();
    expect(segv.exit_signal).toBe(11);
    expect(nzec).toMatchObject({ exit_code: 3, stdout: 'bye\n', exit_signal: null });
    expect(nzec.message).toMatch(/exited with code 3/);
    expect(memory).toMatchObject({ memory_limit: 65536 });
    expect(memory.message).toMatch(/Memory limit exceeded/);
  }, 120_000);

  it('command_line_arguments reach the program as words', async () => {
    const res = await waitFor({ language_id: PYTHON, source_code: 'import sys\nprint(sys.argv[1:])', command_line_arguments: 'one two=2' });
    expect(res).toMatchObject({ stdout: "['one', 'two=2']\n", status: { id: 3 } });
  }, 60_000);
});
