import { describe, expect, it } from 'vitest';
import type { ExecutionPlan } from '../../src/domain/plan.js';
import type { SandboxHost, SandboxRequest } from '../../src/sandbox/request.js';
import { runSandbox } from '../../src/sandbox/run.js';
import { INSECURE_WARNING, UnisolatedHost } from '../../src/sandbox/unisolated-host.js';
import { UnisolatedPool } from '../../src/sandbox/unisolated-pool.js';
import { slowFactor } from '../security/helpers.js';

// The development host (CODEXEC_INSECURE_ALLOW_UNISOLATED=1): no isolation, but the same contract
// as the isolated host: phases, stdin, live output within the caps, the exported working
// directory, abort. On threads (UnisolatedPool) the same, across the thread boundary; from src/ its
// threads load the TypeScript entry through scripts/ts-register.mjs, so no build is needed (and a
// thread takes about a second to start here, far longer in the emulated cgroup v2 VM: the
// timeout follows the host's speed).

const MiB = 1024 * 1024;
const limits = { wallTimeMs: 10_000, cpuTimeMs: 10_000, memoryBytes: 256 * MiB, processes: 64, stdoutBytes: 1024, stderrBytes: 1024, fileSizeBytes: MiB, tmpfsBytes: MiB, openFiles: 64 };
const plan: ExecutionPlan = {
  version: 1,
  language: { id: 'python', name: 'Python', version: null, profileDigest: '' },
  sourceFile: 'main.py',
  compile: null,
  run: { argv: ['/usr/bin/python3', '-I', '/work/main.py'], limits },
  env: {},
  binds: [],
  seccomp: { name: 'default', digest: '' },
  stdin: '',
  expectedOutput: null,
  testCases: null,
  comparison: 'exact',
} as ExecutionPlan;
const source = (code: string) => [{ path: 'main.py', content: Buffer.from(code), executable: false }];

function contract(name: string, open: () => SandboxHost, timeoutMs?: number) {
  describe(name, () => {
    it('runs with stdin, passes output on live within the caps, and exports the working directory (relative paths)', async () => {
      const host = open();
      try {
        const live: string[] = [];
        const req: SandboxRequest = {
          executionId: 'dev-1',
          plan,
          files: source('import sys\nprint("hi", input())\nsys.stdout.write("x" * 5000)\nopen("out.txt", "w").write("made")\n'),
          phases: ['run'],
          stdin: 'there\n',
          exportWorkdir: true,
          onOutput: (stream, chunk) => live.push(`${stream}:${chunk.toString()}`),
        };
        const r = await runSandbox(host, req);
        expect(r.kind, r.message ?? r.stderr).toBe('output_limit');
        expect(r.warnings).toContain(INSECURE_WARNING);
        expect(live.join('').length).toBeLessThanOrEqual('stdout:'.length * live.length + 1024);
        expect(live.join('')).toMatch(/^stdout:hi there\n/);
        const ok = await runSandbox(host, { ...req, files: source('print(input())\nopen("out.txt", "w").write("made")\n'), onOutput: undefined });
        expect([ok.kind, ok.stdout]).toEqual(['completed', 'there\n']);
        expect(ok.artifacts?.map((f) => [f.path, Buffer.isBuffer(f.content), f.content.toString()])).toContainEqual(['out.txt', true, 'made']);
      } finally {
        await host.close();
      }
    }, timeoutMs);

    // Its wall limit is far beyond the test's timeout: only the abort can end it in time.
    it('an abort kills the program', async () => {
      const host = open();
      try {
        const abort = new AbortController();
        setTimeout(() => abort.abort(), 200);
        const long = { ...plan, run: { ...plan.run, limits: { ...limits, wallTimeMs: 3_600_000 } } };
        const r = await runSandbox(host, { executionId: 'dev-2', plan: long, files: source('import time\ntime.sleep(100)\n'), phases: ['run'], stdin: '', signal: abort.signal });
        expect(r.kind).toBe('wall_timeout');
      } finally {
        await host.close();
      }
    }, timeoutMs);
  });
}

contract('the development host', () => new UnisolatedHost());
contract('the development host on threads', () => new UnisolatedPool(2), 30_000 * slowFactor());
