import { afterAll, describe, expect, it } from 'vitest';
import type { RunOutcome } from '../../src/domain/execution.js';
import type { LanguageProfile } from '../../src/languages/profile.js';
import { describeOutcome, loadRegistry, openIsolatedHost, run } from './helpers.js';
import { PROGRAMS } from './programs.js';

// Every shipped language through the real sandbox (launcher, namespaces, seccomp, cgroups), with
// the profile's own default limits except where a test says otherwise. A language whose toolchain
// this machine lacks is skipped under a name that says which binary is missing; .ci/run installs
// them all (.ci/install-toolchains.sh), so CI runs every language. Tests in this file run one at a
// time: compilers are heavy and the machine has two cores.

const registry = await loadRegistry();
const sandbox = await openIsolatedHost();
afterAll(() => sandbox.close());

const MiB = 1024 * 1024;
// Short limits for the runaway programs, so that each ends in about a second.
const LOOP_LIMITS = { wallTimeMs: 1500, cpuTimeMs: 1000 };
// The memory bombs must end on the memory limit, never on time: the wall and CPU limits are far
// above what reaching 128 MiB takes, even on a loaded machine where the program gets little CPU.
const BOMB_LIMITS = { memoryBytes: 128 * MiB, wallTimeMs: 15_000, cpuTimeMs: 15_000 };
// Per test: the compile phase's own wall-clock limit plus the run's, plus room for a busy machine.
const testTimeoutMs = (p: LanguageProfile) => (p.compile?.limits.wallTimeMs ?? 0) + Math.max(p.limits.default.wallTimeMs, BOMB_LIMITS.wallTimeMs) + 30_000;

function expectKind(outcome: RunOutcome, kinds: RunOutcome['kind'][]): void {
  expect(kinds, describeOutcome(outcome)).toContain(outcome.kind);
}

if (!sandbox.host) {
  describe(`languages (skipped: no isolated sandbox on this host: ${sandbox.reason})`, () => {
    it.skip('every language', () => {});
  });
}

for (const profile of registry.list()) {
  const programs = PROGRAMS[profile.id];
  const host = sandbox.host;
  if (!host || !programs) continue; // profiles.test.ts fails for a profile without programs
  if (!profile.available) {
    describe(`${profile.id} (skipped: toolchain missing: ${profile.missing.join('; ')})`, () => {
      it.skip('every test of this language', () => {});
    });
    continue;
  }

  describe(`${profile.id} ${profile.version ?? ''}`.trim(), { timeout: testTimeoutMs(profile) }, () => {
    it('runs the template: Hello World within the default limits, with its peak memory measured', async () => {
      const o = await run(host, profile, profile.template);
      expectKind(o, ['completed']);
      expect(o.stdout).toBe('Hello World\n');
      // Nothing on stderr: a runtime that warns about the sandbox (a denied system call, a
      // read-only path, a missing /etc file) would confuse every learner.
      expect(o.stderr).toBe('');
      expect(o.exitCode).toBe(0);
      expect(o.memoryPeakKb, describeOutcome(o)).toBeGreaterThan(0);
      if (profile.compile) expect(o.compile?.ok).toBe(true);
    });

    it('echoes a line read from stdin', async () => {
      const o = await run(host, profile, programs.echo, { stdin: 'a line from stdin\nsecond line\n' });
      expectKind(o, ['completed']);
      expect(o.stdout).toBe('a line from stdin\n');
    });

    if (profile.compile) {
      it('reports a compile error with the compiler output, and does not run anything', async () => {
        expect(programs.compileError, `test/languages/programs.ts has no compileError for ${profile.id}`).toBeDefined();
        const o = await run(host, profile, programs.compileError!);
        expectKind(o, ['compile_error']);
        expect(o.compile?.ok).toBe(false);
        // Every compiler here names the file and line of the error.
        expect(o.compile?.output, describeOutcome(o)).toContain(profile.sourceFile);
        expect(o.stdout).toBe('');
      });
    }

    if (profile.compile) {
      it('compiles a program using much of the standard library within the compile limits', async () => {
        expect(programs.stdlib, `test/languages/programs.ts has no stdlib program for ${profile.id}`).toBeDefined();
        const o = await run(host, profile, programs.stdlib!);
        expectKind(o, ['completed']);
        expect(o.stdout).toBe('ok\n');
      });
    }

    it('reports an uncaught error or non-zero exit as runtime_error, with stderr', async () => {
      const o = await run(host, profile, programs.runtimeError);
      expectKind(o, ['runtime_error']);
      expect(o.stderr, describeOutcome(o)).toContain('boom');
    });

    it('stops an infinite loop on the wall-clock or CPU limit', async () => {
      const o = await run(host, profile, programs.infiniteLoop, { limits: LOOP_LIMITS });
      expectKind(o, ['wall_timeout', 'cpu_timeout']);
    });

    it('stops a memory bomb on the memory limit', async () => {
      const o = await run(host, profile, programs.memoryBomb, { limits: BOMB_LIMITS });
      if (profile.id === 'java' && o.kind === 'runtime_error') {
        // The JVM's own heap limit (75% of the memory limit, from the profile) may be reached
        // before the cgroup's: then the program ends with java.lang.OutOfMemoryError, which is as
        // clear to a learner.
        expect(o.stderr, describeOutcome(o)).toContain('OutOfMemoryError');
        return;
      }
      expectKind(o, ['memory_limit']);
      // The peak is the cgroup's, so it is close to the limit, not the few MiB the process had before.
      expect(o.memoryPeakKb, describeOutcome(o)).toBeGreaterThan(64 * 1024);
    });

    if (profile.id === 'java') {
      // The heap follows the run's memory limit ({memory_mib} in the profile), not a number fixed
      // in the profile: 600 MiB of arrays fit under a 1 GiB limit and not under the 512 MiB default.
      const bigArrays = 'public class Main {\n  public static void main(String[] args) {\n    byte[][] a = new byte[6][];\n    for (int i = 0; i < 6; i++) { a[i] = new byte[100 << 20]; java.util.Arrays.fill(a[i], (byte) i); }\n    System.out.println("ok " + Runtime.getRuntime().maxMemory() / (1 << 20));\n  }\n}\n';
      it('sizes the JVM heap from the memory limit of the run', async () => {
        const big = await run(host, profile, bigArrays, { limits: { memoryBytes: 1024 * MiB } });
        expectKind(big, ['completed']);
        expect(big.stdout, describeOutcome(big)).toMatch(/^ok \d+\n$/);
        expect(Number(big.stdout.split(' ')[1]), describeOutcome(big)).toBeGreaterThan(700);
        const small = await run(host, profile, bigArrays);
        expectKind(small, ['runtime_error', 'memory_limit']);
        if (small.kind === 'runtime_error') expect(small.stderr, describeOutcome(small)).toContain('OutOfMemoryError');
      });
    }
  });
}
