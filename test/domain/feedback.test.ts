import { describe, expect, it } from 'vitest';
import { compareOutput } from '../../src/domain/compare.js';
import { toStoredResult } from '../../src/domain/feedback.js';
import type { RunOutcome } from '../../src/domain/execution.js';
import type { Limits } from '../../src/domain/limits.js';

const limits: Limits = { wallTimeMs: 5000, cpuTimeMs: 5000, memoryBytes: 256 << 20, processes: 64, stdoutBytes: 65536, stderrBytes: 65536, fileSizeBytes: 1 << 24, tmpfsBytes: 1 << 25, openFiles: 64 };
const outcome = (o: Partial<RunOutcome>): RunOutcome => ({
  kind: 'completed', exitCode: 0, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false,
  outputNotUtf8: false, executionTimeMs: 12, cpuTimeMs: 10, memoryPeakKb: 9000, warnings: [], ...o,
});

describe('compareOutput', () => {
  it('by default ignores trailing whitespace on lines and at the end, and \\r\\n', () => {
    expect(compareOutput('1 2 \n3\n\n\n', '1 2\n3').passed).toBe(true);
    expect(compareOutput('a\r\nb\r\n', 'a\nb\n').passed).toBe(true);
  });
  it('reports the first differing line', () => {
    expect(compareOutput('a\nb\nc\n', 'a\nx\nc\n')).toEqual({ passed: false, where: 'line 2', expected: 'x', actual: 'b' });
    expect(compareOutput('a\n', 'a\nb\n')).toEqual({ passed: false, where: 'line 2', expected: 'b', actual: null });
    expect(compareOutput(' a', 'a').passed).toBe(false);
  });
  it('exact compares every character', () => {
    expect(compareOutput('a\n', 'a\n', 'exact').passed).toBe(true);
    expect(compareOutput('a\r\n', 'a\n', 'exact')).toMatchObject({ passed: false, where: 'character 2' });
    expect(compareOutput('a', 'a\n', 'exact').passed).toBe(false);
  });
  it('tokens ignores how whitespace-separated tokens are spaced', () => {
    expect(compareOutput('1   2\n\n3', '1 2 3', 'tokens').passed).toBe(true);
    expect(compareOutput('1 2 4', '1 2 3', 'tokens')).toEqual({ passed: false, where: 'token 3', expected: '3', actual: '4' });
  });
});

describe('toStoredResult', () => {
  it('maps each outcome to exactly one status and failure reason', () => {
    const cases: [RunOutcome['kind'], string, string | null][] = [
      ['completed', 'COMPLETED', null],
      ['runtime_error', 'FAILED', 'runtime_error'],
      ['compile_error', 'FAILED', 'compile_error'],
      ['wall_timeout', 'TIMEOUT', 'wall_time_limit'],
      ['cpu_timeout', 'TIMEOUT', 'cpu_time_limit'],
      ['memory_limit', 'FAILED', 'memory_limit'],
      ['output_limit', 'FAILED', 'output_limit'],
      ['sandbox_error', 'FAILED', 'sandbox_error'],
    ];
    for (const [kind, status, reason] of cases) {
      const r = toStoredResult(outcome({ kind, exitCode: kind === 'completed' ? 0 : 1 }), limits, null);
      expect(r.status, kind).toBe(status);
      expect(r.result.failureReason, kind).toBe(reason);
      expect(r.result.feedback, kind).toBeTruthy();
      expect(r.result.verdict).toBeNull();
    }
  });
  it('gives a hint about infinite loops on a timeout, and the limit', () => {
    const r = toStoredResult(outcome({ kind: 'wall_timeout' }), { ...limits, wallTimeMs: 2000 }, null);
    expect(r.result.feedback).toMatch(/2 s/);
    expect(r.result.feedback).toMatch(/infinite loop/);
  });
  it('names the memory limit', () => {
    expect(toStoredResult(outcome({ kind: 'memory_limit' }), limits, null).result.feedback).toMatch(/256 MiB/);
  });
  it('passes and fails against expected output, naming the first different line', () => {
    const ok = toStoredResult(outcome({ stdout: '3\n' }), limits, '3');
    expect(ok.result.verdict).toBe('passed');
    const wrong = toStoredResult(outcome({ stdout: '1\n2\n' }), limits, '1\n3\n');
    expect(wrong.status).toBe('COMPLETED');
    expect(wrong.result.verdict).toBe('wrong_answer');
    expect(wrong.result.feedback).toMatch(/line 2/);
    expect(wrong.result.feedback).toMatch(/"3"/);
  });
  it('a truncated output never passes, even when what was kept matches', () => {
    const r = toStoredResult(outcome({ stdout: '42\n', stdoutTruncated: true }), limits, '42\n');
    expect(r.result.verdict).toBe('wrong_answer');
    expect(r.result.feedback).toMatch(/truncated/);
  });
  it('a failed run is a wrong answer when an expected output was given', () => {
    expect(toStoredResult(outcome({ kind: 'runtime_error', exitCode: 1 }), limits, 'x').result.verdict).toBe('wrong_answer');
  });
});
