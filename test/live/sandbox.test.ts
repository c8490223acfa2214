import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { SandboxRunner } from '../../src/executor/sandbox-port.js';
import { defaultProfilesDir } from '../../src/languages/registry.js';
import { detectCgroups, releaseWorkerDir } from '../../src/sandbox/cgroups/index.js';
import { openSandboxHost, probeIsolation } from '../../src/sandbox/host.js';
import { runSandbox } from '../../src/sandbox/run.js';
import { call, createSession } from '../api/harness.js';
import { isRoot } from '../executor/helpers.js';
import { liveRig, openStream, textOf, type LiveRig } from './helpers.js';

// Live output from the real sandbox (src/sandbox/run.ts runSandbox, which passes the run phase's
// output on as the launcher reads it): a Python program that prints, sleeps and prints again is
// seen line by line while it runs; test cases give per-case events; the hidden case's output
// never leaves the executor.

describe.skipIf(!isRoot)('live output from the real sandbox (needs root)', () => {
  let sandbox: SandboxRunner;
  let settingsParent = '';
  let r: LiveRig;
  beforeAll(async () => {
    const { settings, report } = await probeIsolation(loadConfig({}), defaultProfilesDir());
    if (report.level !== 'full') throw new Error(`the sandbox cannot isolate here: ${report.problems.join('; ')}`);
    settingsParent = settings.cgroupParent;
    const host = await openSandboxHost(settings);
    sandbox = { run: (req) => runSandbox(host, req), close: () => host.close() };
  }, 60_000);
  afterAll(async () => {
    await sandbox?.close();
    await releaseWorkerDir(detectCgroups({ parent: settingsParent }));
  });
  beforeEach(async () => {
    r = await liveRig(sandbox, { shippedProfiles: true });
  });
  afterEach(async () => r.close());

  it('a program that prints, sleeps and prints: each line comes while it runs, in order, then the result', async () => {
    const src = 'import time, sys\nfor i in range(5):\n    print(f"tick {i}", flush=True)\n    print(f"err {i}", file=sys.stderr, flush=True)\n    time.sleep(0.15)\n';
    const s0 = await createSession(r.h, { language: 'python', source_code: src });
    const run = await call(r.h, 'POST', `/code-sessions/${s0.session_id}/run`, {});
    expect(run.status, run.body).toBe(202);
    const s = await openStream(r.url, run.json.execution_id);
    await s.ended;
    const result = s.events.at(-1)!.data;
    expect(result).toMatchObject({ status: 'COMPLETED', exit_code: 0 });
    expect(textOf(s.events, 'stdout')).toBe(result.stdout);
    expect(textOf(s.events, 'stderr')).toBe(result.stderr);
    expect(result.stdout).toBe('tick 0\ntick 1\ntick 2\ntick 3\ntick 4\n');
    // Recorded while it ran (rows), in more than one piece.
    const outputs = s.events.filter((e) => e.event === 'output' && e.data.stream === 'stdout');
    expect(outputs.length).toBeGreaterThan(1);
    expect(outputs.every((e) => /^\d+\.\d+$/.test(e.id!))).toBe(true);
  }, 60_000);

  it('test cases from the real sandbox: per-case events; a hidden case shows only its status', async () => {
    const src = 'import time\nline = input()\nprint(line.upper(), flush=True)\ntime.sleep(0.1)\n';
    const s0 = await createSession(r.h, { language: 'python', source_code: src });
    const run = await call(r.h, 'POST', `/code-sessions/${s0.session_id}/run`, {
      test_cases: [
        { name: 'a', stdin: 'abc', expected_output: 'ABC' },
        { name: 'h', stdin: 'secret-7d1e', expected_output: 'SECRET-7D1E', hidden: true },
      ],
    });
    const s = await openStream(r.url, run.json.execution_id);
    await s.ended;
    const seq = s.events.filter((e) => e.event !== 'state').map((e) => `${e.event}:${e.data.case ?? ''}`);
    expect(seq).toEqual(['case_started:0', 'output:0', 'case_finished:0', 'case_started:1', 'case_finished:1', 'result:']);
    expect(textOf(s.events, 'stdout', 0)).toBe('ABC\n');
    expect(s.events.filter((e) => e.event === 'case_finished').map((e) => e.data.status)).toEqual(['passed', 'passed']);
    expect(JSON.stringify(s.events)).not.toMatch(/secret-7d1e/i);
  }, 60_000);
});
