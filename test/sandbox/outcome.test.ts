import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { classifyOutcome, type OutcomeInput } from '../../src/sandbox/outcome.js';
import { parseLauncherStatus } from '../../src/sandbox/launcher-status.js';
import type { Limits } from '../../src/domain/limits.js';

const limits: Limits = { wallTimeMs: 2000, cpuTimeMs: 1000, memoryBytes: 64 << 20, processes: 16, stdoutBytes: 1024, stderrBytes: 1024, fileSizeBytes: 1 << 20, tmpfsBytes: 1 << 20, openFiles: 32 };
const text = (t = '') => ({ text: t, notUtf8: false, truncated: false });
const input = (status: string, over: Partial<OutcomeInput> = {}): OutcomeInput => ({
  status: parseLauncherStatus(status),
  runLimits: limits,
  killedFor: null,
  run: { stats: { cpuTimeMs: 5, memoryPeakKb: 1000, oomKilled: false }, stdout: text('hi\n'), stderr: text() },
  compile: null,
  launcherExitCode: 0,
  warnings: [],
  ...over,
});

describe('parseLauncherStatus', () => {
  it('reads every kind of line', () => {
    const s = parseLauncherStatus('ready\nphase compile exit 0 wall_us 1000 cpu_us 900\nphase run signal 9 wall_us 5 cpu_us 4\n');
    expect(s.ready).toBe(true);
    expect(s.phases).toEqual([
      { phase: 'compile', kind: 'exit', code: 0, wallUs: 1000, cpuUs: 900 },
      { phase: 'run', kind: 'signal', signal: 9, wallUs: 5, cpuUs: 4 },
    ]);
    expect(parseLauncherStatus('setup_error pivot_root 1\n').setupError).toEqual({ step: 'pivot_root', errno: 1 });
    expect(parseLauncherStatus('phase run setup_error seccomp 22').phases[0]).toEqual({ phase: 'run', kind: 'setup_error', step: 'seccomp', errno: 22 });
  });
});

describe('classifyOutcome', () => {
  it('completed', () => {
    const o = classifyOutcome(input('ready\nphase run exit 0 wall_us 12000 cpu_us 9000'));
    expect(o.kind).toBe('completed');
    expect(o.executionTimeMs).toBe(12);
    expect(o.stdout).toBe('hi\n');
  });
  it('runtime error by exit code and by signal', () => {
    expect(classifyOutcome(input('phase run exit 3 wall_us 1 cpu_us 1')).kind).toBe('runtime_error');
    const sig = classifyOutcome(input(`phase run signal ${os.constants.signals.SIGSEGV} wall_us 1 cpu_us 1`));
    expect(sig.kind).toBe('runtime_error');
    expect(sig.signal).toBe('SIGSEGV');
  });
  it('wall timeout from the launcher, and from the worker\'s backstop', () => {
    expect(classifyOutcome(input('phase run timeout wall_us 2000000')).kind).toBe('wall_timeout');
    expect(classifyOutcome(input('ready', { killedFor: 'wall_timeout', launcherExitCode: null })).kind).toBe('wall_timeout');
  });
  it('cpu timeout: SIGXCPU, or SIGKILL after the CPU limit was used', () => {
    expect(classifyOutcome(input(`phase run signal ${os.constants.signals.SIGXCPU} wall_us 1 cpu_us 1`)).kind).toBe('cpu_timeout');
    const run = { stats: { cpuTimeMs: 1000, memoryPeakKb: 1, oomKilled: false }, stdout: text(), stderr: text() };
    expect(classifyOutcome(input('phase run signal 9 wall_us 1 cpu_us 1', { run })).kind).toBe('cpu_timeout');
  });
  it('memory limit when the cgroup recorded an OOM kill', () => {
    const run = { stats: { cpuTimeMs: 1, memoryPeakKb: 65536, oomKilled: true }, stdout: text(), stderr: text() };
    expect(classifyOutcome(input('phase run signal 9 wall_us 1 cpu_us 1', { run })).kind).toBe('memory_limit');
    // cgroup v1 has no oom.group: the OOM killer ends one process, and the rest (e.g. a parent
    // waiting for it) may run into the wall limit. The memory limit is the cause to report.
    const timedOut = classifyOutcome(input('phase run timeout wall_us 2000000', { run }));
    expect(timedOut.kind).toBe('memory_limit');
    expect(timedOut.executionTimeMs).toBe(2000);
    const noOom = { stats: { cpuTimeMs: 1, memoryPeakKb: 1, oomKilled: false }, stdout: text(), stderr: text() };
    expect(classifyOutcome(input('phase run timeout wall_us 2000000', { run: noOom })).kind).toBe('wall_timeout');
  });
  it('the first termination reason wins: an output flood beats the signal it caused', () => {
    expect(classifyOutcome(input('phase run signal 9 wall_us 1 cpu_us 1', { killedFor: 'output_limit' })).kind).toBe('output_limit');
  });
  it('sandbox error when setup failed, at any level, or the launcher vanished', () => {
    expect(classifyOutcome(input('setup_error pivot_root 1')).kind).toBe('sandbox_error');
    const o = classifyOutcome(input('ready\nphase run setup_error seccomp 22'));
    expect(o.kind).toBe('sandbox_error');
    expect(o.sandboxErrorStep).toBe('run:seccomp');
    expect(classifyOutcome(input('', { launcherExitCode: 125 })).kind).toBe('sandbox_error');
  });
  it('compile error stops before the run and keeps the compiler output', () => {
    const o = classifyOutcome(
      input('ready\nphase compile exit 1 wall_us 300000 cpu_us 1', {
        compile: { stats: null, output: text('main.c:1: error: expected ;') },
      }),
    );
    expect(o.kind).toBe('compile_error');
    expect(o.compile).toMatchObject({ ok: false, exitCode: 1, timeMs: 300, output: 'main.c:1: error: expected ;' });
  });
  it('a successful compile reports its time apart from the run', () => {
    const o = classifyOutcome(input('ready\nphase compile exit 0 wall_us 300000 cpu_us 1\nphase run exit 0 wall_us 5000 cpu_us 1', { compile: { stats: null, output: text() } }));
    expect(o.kind).toBe('completed');
    expect(o.compile?.timeMs).toBe(300);
    expect(o.executionTimeMs).toBe(5);
  });
  it('a compile-only sandbox is completed with the compiler\'s stats, or a compile error', () => {
    const stats = { cpuTimeMs: 120, memoryPeakKb: 9000, oomKilled: false };
    const ok = classifyOutcome(input('ready\nphase compile exit 0 wall_us 300000 cpu_us 1', { run: null, compile: { stats, output: text('warning: x') } }));
    expect([ok.kind, ok.compile?.ok, ok.cpuTimeMs, ok.stdout]).toEqual(['completed', true, 120, '']);
    const bad = classifyOutcome(input('ready\nphase compile exit 1 wall_us 1 cpu_us 1', { run: null, compile: { stats, output: text() } }));
    expect(bad.kind).toBe('compile_error');
    const flood = classifyOutcome(input('ready', { run: null, compile: { stats, output: text() }, killedFor: 'output_limit', launcherExitCode: null }));
    expect(flood.kind).toBe('output_limit');
  });
});

describe('parseLauncherStatus: the export', () => {
  it('reads what was exported, or why nothing was', () => {
    expect(parseLauncherStatus('ready\nexport files 3 bytes 1024\n').export).toEqual({ files: 3, bytes: 1024 });
    expect(parseLauncherStatus('export_error files\n').export).toEqual({ error: 'files' });
    expect(parseLauncherStatus('ready\n').export).toBeNull();
  });
});
