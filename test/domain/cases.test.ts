import { describe, expect, it } from 'vitest';
import { caseResult, casesResult, summarize } from '../../src/domain/cases.js';
import type { RunOutcome } from '../../src/domain/execution.js';
import type { Limits } from '../../src/domain/limits.js';
import type { TestCase } from '../../src/domain/plan.js';

const limits: Limits = { wallTimeMs: 1000, cpuTimeMs: 1000, memoryBytes: 64 << 20, processes: 8, stdoutBytes: 1024, stderrBytes: 1024, fileSizeBytes: 1024, tmpfsBytes: 1 << 20, openFiles: 16 };
const outcome = (o: Partial<RunOutcome>): RunOutcome => ({
  kind: 'completed', exitCode: 0, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false,
  outputNotUtf8: false, executionTimeMs: 12, cpuTimeMs: 10, memoryPeakKb: 900, warnings: [], ...o,
});
const tc = (o: Partial<TestCase> = {}): TestCase => ({ name: 'a', stdin: 'in', expectedOutput: '2\n', hidden: false, ...o });

describe('test case results', () => {
  it('maps each outcome to one case status', () => {
    const cases: [Partial<RunOutcome>, string][] = [
      [{ stdout: '2\n' }, 'passed'],
      [{ stdout: '3\n' }, 'wrong_answer'],
      [{ stdout: '2\n', stdoutTruncated: true }, 'wrong_answer'],
      [{ kind: 'runtime_error', exitCode: 1 }, 'runtime_error'],
      [{ kind: 'wall_timeout' }, 'time_limit'],
      [{ kind: 'cpu_timeout' }, 'time_limit'],
      [{ kind: 'memory_limit' }, 'memory_limit'],
      [{ kind: 'output_limit' }, 'output_limit'],
    ];
    for (const [o, status] of cases) expect(caseResult(tc(), outcome(o), limits, 'trailing_whitespace').status, JSON.stringify(o)).toBe(status);
    expect(() => caseResult(tc(), outcome({ kind: 'sandbox_error' }), limits, 'exact')).toThrow();
  });

  it('a hidden case keeps only its name and status', () => {
    const r = caseResult(tc({ hidden: true, name: 'h' }), outcome({ stdout: 'secret\n', stderr: 'secret' }), limits, 'exact');
    expect(r).toEqual({ name: 'h', hidden: true, status: 'wrong_answer', timeMs: null, cpuTimeMs: null, memoryPeakKb: null, exitCode: null, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, feedback: null });
  });

  it('the run is COMPLETED whatever the verdicts; its verdict passes only when every case does; hidden cases add nothing to times', () => {
    const results = [
      caseResult(tc({ name: 'one' }), outcome({ stdout: '2\n', executionTimeMs: 5 }), limits, 'exact'),
      caseResult(tc({ name: 'two', hidden: true }), outcome({ kind: 'wall_timeout', executionTimeMs: 1000 }), limits, 'exact'),
      caseResult(tc({ name: 'three' }), outcome({ stdout: '2\n', executionTimeMs: 7 }), limits, 'exact'),
    ];
    expect(summarize(results)).toEqual({ passed: 2, total: 3, firstFailing: 'two' });
    const { status, result } = casesResult(results, null, [], false);
    expect(status).toBe('COMPLETED');
    expect(result).toMatchObject({ verdict: 'wrong_answer', executionTimeMs: 12, failureReason: null, summary: { passed: 2, total: 3, firstFailing: 'two' } });
    expect(result.feedback).toBe('2/3 test cases passed. First failing: "two" (hidden): time limit exceeded.');
    const all = casesResult([results[0]!, results[2]!], { output: '', timeMs: 3 }, [], false);
    expect(all.result).toMatchObject({ verdict: 'passed', compileTimeMs: 3, feedback: 'All 2 test cases passed.' });
  });
});
