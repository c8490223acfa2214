import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxRequest, SandboxResult, SandboxRunner } from '../../src/executor/sandbox-port.js';
import { isRoot, openTestSandbox, rig, type Rig } from './helpers.js';

// Test cases through the real executor and the real sandbox: the program compiles once, in a
// sandbox of its own, and each case runs in a fresh one. What happened is observed, not assumed:
// every request the executor makes is recorded with the phases the launcher reported running
// (a result's `compile` comes only from the launcher's "phase compile" status line), and the
// programs themselves report what they found in their sandbox.

interface Seen {
  executionId: string;
  phases: SandboxRequest['phases'];
  exportWorkdir: boolean;
  /** The launcher ran a compile phase in this sandbox (its status said so). */
  compiled: boolean;
  ranCase: boolean;
  /** Live output the sandbox passed to the executor's onOutput, by stream (undefined: none was asked for). */
  live: { stdout: string; stderr: string } | undefined;
  result: SandboxResult;
}

/** The real sandbox, with every request and result recorded. */
function observed(inner: SandboxRunner): SandboxRunner & { seen: Seen[] } {
  const seen: Seen[] = [];
  return {
    seen,
    async run(req) {
      const live = req.onOutput ? { stdout: '', stderr: '' } : undefined;
      const onOutput =
        req.onOutput &&
        ((stream: 'stdout' | 'stderr', chunk: Buffer) => {
          live![stream] += chunk.toString();
          req.onOutput!(stream, chunk);
        });
      const result = await inner.run({ ...req, onOutput });
      seen.push({ executionId: req.executionId, phases: req.phases, exportWorkdir: req.exportWorkdir === true, compiled: result.compile !== undefined, ranCase: req.phases.includes('run'), live, result });
      return result;
    },
    close: () => inner.close(),
  };
}

// Each case: doubles its input. It also says on stderr which uid it runs as and whether anything
// of an earlier case is left in /work or /tmp (a marker it leaves itself); stale state fails the case.
const C_DOUBLER = String.raw`#include <stdio.h>
#include <unistd.h>
int main(void) {
  long n;
  if (scanf("%ld", &n) != 1) return 2;
  int stale = access("/tmp/marker", F_OK) == 0 || access("/work/marker", F_OK) == 0;
  fclose(fopen("/tmp/marker", "w"));
  fclose(fopen("/work/marker", "w"));
  fprintf(stderr, "uid=%d\n", (int)getuid());
  if (stale) { puts("stale"); return 0; }
  printf("%ld\n", n * 2);
  return 0;
}
`;

const JAVA_HELLO = `import java.util.Scanner;

public class HelloWorld {
  public static void main(String[] args) {
    String name = new Scanner(System.in).nextLine().trim();
    System.out.println("Hello, " + name);
  }
}
`;

describe.skipIf(!isRoot)('test cases through the executor (needs root for the sandbox)', () => {
  let real: SandboxRunner;
  let r: Rig | null = null;
  beforeAll(async () => {
    real = await openTestSandbox();
  });
  afterAll(async () => real.close());
  afterEach(async () => {
    await r?.close();
    r = null;
  });

  it('C: compiles once, then each case runs in a fresh sandbox (new uid, nothing left of the last case), live output reaching the executor', async () => {
    const sandbox = observed(real);
    r = await rig(sandbox);
    const id = await r.submit({
      language: 'c',
      sourceCode: C_DOUBLER,
      testCases: [
        { name: 'one', stdin: '1\n', expectedOutput: '2\n' },
        { name: 'two', stdin: '21\n', expectedOutput: '42\n' },
        { name: 'secret', stdin: '50\n', expectedOutput: '100\n', hidden: true },
      ],
    });
    const rec = await r.settle(id, 60_000);
    expect(rec.status, JSON.stringify(rec.result)).toBe('COMPLETED');
    expect(rec.result?.summary).toEqual({ passed: 3, total: 3, firstFailing: null });

    const mine = sandbox.seen.filter((s) => s.executionId.startsWith(id));
    // One compile phase in all, in a sandbox that ran nothing else and handed back its working directory.
    expect(mine.filter((s) => s.compiled).map((s) => [s.executionId, s.phases, s.exportWorkdir])).toEqual([[`${id}-c`, ['compile'], true]]);
    expect(mine[0]!.result.artifacts?.map((f) => [f.path, f.executable])).toContainEqual(['main', true]);
    // Then one sandbox per case, each with the run phase only.
    const cases = mine.filter((s) => s.ranCase);
    expect(cases.map((s) => [s.executionId, s.phases, s.compiled])).toEqual([1, 2, 3].map((i) => [`${id}-t${i}`, ['run'], false]));
    // Each case ran as a uid of its own (stderr of the visible cases; the hidden one's from the sandbox's result).
    const uids = cases.map((s) => /uid=(\d+)/.exec(s.result.stderr)?.[1]);
    expect(new Set(uids).size).toBe(3);
    // Live output: the sandbox passed each visible case's output to the executor as it came; the hidden case was given no way to pass any.
    expect(cases.map((s) => s.live)).toEqual([
      { stdout: '2\n', stderr: `uid=${uids[0]}\n` },
      { stdout: '42\n', stderr: `uid=${uids[1]}\n` },
      undefined,
    ]);
  }, 90_000);

  it('Java: a public class HelloWorld with test cases compiles once and runs each case in a fresh sandbox', async () => {
    const sandbox = observed(real);
    r = await rig(sandbox);
    if (!r.languages.find('java')?.available) throw new Error('java is not installed: run .ci/install-toolchains.sh');
    const id = await r.submit({
      language: 'java',
      sourceCode: JAVA_HELLO,
      testCases: [
        { name: 'ada', stdin: 'Ada\n', expectedOutput: 'Hello, Ada\n' },
        { name: 'alan', stdin: 'Alan\n', expectedOutput: 'Hello, Alan\n' },
        { name: 'wrong', stdin: 'Grace\n', expectedOutput: 'Hello, Barbara\n' },
      ],
    });
    const rec = await r.settle(id, 120_000);
    expect(rec.status, JSON.stringify(rec.result)).toBe('COMPLETED');
    expect(rec.result?.summary).toEqual({ passed: 2, total: 3, firstFailing: 'wrong' });
    expect(rec.result?.testCases?.map((c) => [c.name, c.status, c.stdout])).toEqual([
      ['ada', 'passed', 'Hello, Ada\n'],
      ['alan', 'passed', 'Hello, Alan\n'],
      ['wrong', 'wrong_answer', 'Hello, Grace\n'],
    ]);
    const mine = sandbox.seen.filter((s) => s.executionId.startsWith(id));
    expect(mine.filter((s) => s.compiled).map((s) => s.executionId)).toEqual([`${id}-c`]);
    expect(mine[0]!.result.artifacts?.map((f) => f.path)).toContain('HelloWorld.class');
    expect(mine.filter((s) => s.ranCase).map((s) => [s.executionId, s.phases, s.compiled])).toEqual([1, 2, 3].map((i) => [`${id}-t${i}`, ['run'], false]));
  }, 150_000);

  it('a compile error with test cases ends FAILED compile_error and runs no case', async () => {
    const sandbox = observed(real);
    r = await rig(sandbox);
    const id = await r.submit({
      language: 'c',
      sourceCode: 'int main(void) { return missing; }\n',
      testCases: [
        { name: 'one', stdin: '1\n', expectedOutput: '2\n' },
        { name: 'two', stdin: '2\n', expectedOutput: '4\n' },
      ],
    });
    const rec = await r.settle(id, 60_000);
    expect(rec.status, JSON.stringify(rec.result)).toBe('FAILED');
    expect(rec.result?.failureReason).toBe('compile_error');
    expect(rec.result?.compileOutput).toMatch(/missing/);
    const mine = sandbox.seen.filter((s) => s.executionId.startsWith(id));
    expect(mine.map((s) => [s.executionId, s.phases, s.compiled, s.result.artifacts])).toEqual([[`${id}-c`, ['compile'], true, null]]);
  }, 90_000);
});
