import os from 'node:os';
import type { RunOutcome } from '../domain/execution.js';
import type { LauncherStatus, PhaseReport } from './launcher-status.js';

export interface GroupStats {
  cpuTimeMs: number | null;
  memoryPeakKb: number | null;
  oomKilled: boolean;
}

type Text = { text: string; notUtf8: boolean; truncated: boolean };

export interface OutcomeInput {
  status: LauncherStatus;
  /** The run phase's limits (its outcome is judged against them). */
  runLimits: { wallTimeMs: number; cpuTimeMs: number };
  /** Set when the worker killed the execution; the first reason wins. */
  killedFor: 'output_limit' | 'wall_timeout' | null;
  /** null: the request ran no run phase (compile only). */
  run: { stats: GroupStats | null; stdout: Text; stderr: Text } | null;
  /** null: the request ran no compile phase. */
  compile: { stats: GroupStats | null; output: Text } | null;
  /** init's exit code when it ended; null when killed. */
  launcherExitCode: number | null;
  warnings: string[];
}

const NO_TEXT: Text = { text: '', notUtf8: false, truncated: false };

const SIGXCPU = os.constants.signals.SIGXCPU;
const SIGKILL = os.constants.signals.SIGKILL;

export function signalName(n: number): string {
  const entry = Object.entries(os.constants.signals).find(([, v]) => v === n);
  return entry ? entry[0] : `SIG${n}`;
}

const ms = (us: number) => Math.round(us / 1000);

/** One outcome for one execution: sandbox failure, compile failure, or how the program ended. */
export function classifyOutcome(input: OutcomeInput): RunOutcome {
  const { status } = input;
  const run = input.run ?? { stats: input.compile?.stats ?? null, stdout: NO_TEXT, stderr: NO_TEXT };
  const base: RunOutcome = {
    kind: 'completed',
    exitCode: null,
    signal: null,
    stdout: run.stdout.text,
    stderr: run.stderr.text,
    stdoutTruncated: run.stdout.truncated,
    stderrTruncated: run.stderr.truncated,
    outputNotUtf8: run.stdout.notUtf8 || run.stderr.notUtf8,
    executionTimeMs: 0,
    cpuTimeMs: run.stats?.cpuTimeMs ?? null,
    memoryPeakKb: run.stats?.memoryPeakKb ?? null,
    warnings: [...input.warnings],
  };

  const compileReport = status.phases.find((p) => p.phase === 'compile');
  if (input.compile && compileReport) {
    base.compile = {
      ok: compileReport.kind === 'exit' && compileReport.code === 0,
      output: input.compile.output.text,
      timeMs: 'wallUs' in compileReport ? ms(compileReport.wallUs) : 0,
      exitCode: compileReport.kind === 'exit' ? compileReport.code : null,
    };
  }

  const sandboxError = (step: string, message: string): RunOutcome => ({ ...base, kind: 'sandbox_error', sandboxErrorStep: step, message });
  if (status.setupError) return sandboxError(status.setupError.step, `errno ${status.setupError.errno}`);
  const setupInPhase = status.phases.find((p): p is Extract<PhaseReport, { kind: 'setup_error' }> => p.kind === 'setup_error');
  if (setupInPhase) return sandboxError(`${setupInPhase.phase}:${setupInPhase.step}`, `errno ${setupInPhase.errno}`);

  if (input.compile) {
    if (!compileReport) {
      if (input.killedFor === 'wall_timeout') return { ...base, kind: 'wall_timeout', message: 'compilation did not finish in time' };
      if (input.killedFor === 'output_limit') return { ...base, kind: 'output_limit', message: 'the compiler wrote too much output' };
      return sandboxError('compile', launcherGone(input));
    }
    if (!base.compile!.ok) {
      const why =
        compileReport.kind === 'timeout'
          ? 'the compiler ran out of time'
          : input.compile.stats?.oomKilled
            ? 'the compiler ran out of memory'
            : compileReport.kind === 'signal'
              ? `the compiler was killed by ${signalName(compileReport.signal)}`
              : undefined;
      return { ...base, kind: 'compile_error', exitCode: base.compile!.exitCode, message: why };
    }
  }
  if (!input.run) return base;

  const report = status.phases.find((p) => p.phase === 'run');
  if (input.killedFor === 'output_limit') return { ...base, kind: 'output_limit', executionTimeMs: report && 'wallUs' in report ? ms(report.wallUs) : 0 };
  if (!report) {
    if (input.killedFor === 'wall_timeout') return { ...base, kind: 'wall_timeout', executionTimeMs: input.runLimits.wallTimeMs };
    return sandboxError('run', launcherGone(input));
  }
  if (report.kind === 'setup_error') return sandboxError(report.step, `errno ${report.errno}`);
  const out: RunOutcome = { ...base, executionTimeMs: ms(report.wallUs) };
  // On cgroup v1 (no oom.group) an OOM kill ends one process and the rest may then hang until the
  // wall limit: the memory limit is what the program hit first.
  if (report.kind === 'timeout') return { ...out, kind: run.stats?.oomKilled ? 'memory_limit' : 'wall_timeout' };
  const cpuMs = run.stats?.cpuTimeMs ?? ms(report.cpuUs);
  if (report.kind === 'signal') {
    out.signal = signalName(report.signal);
    if (report.signal === SIGXCPU || (report.signal === SIGKILL && cpuMs >= input.runLimits.cpuTimeMs)) return { ...out, kind: 'cpu_timeout' };
    if (run.stats?.oomKilled) return { ...out, kind: 'memory_limit' };
    return { ...out, kind: 'runtime_error' };
  }
  out.exitCode = report.code;
  if (run.stats?.oomKilled) return { ...out, kind: 'memory_limit' };
  return { ...out, kind: report.code === 0 ? 'completed' : 'runtime_error' };
}

function launcherGone(input: OutcomeInput): string {
  return `the launcher ended without a report (exit ${input.launcherExitCode ?? 'killed'})`;
}
