import { caseResult, casesResult } from '../domain/cases.js';
import type { CaseResult, ExecutionRecord, ExecutionResult } from '../domain/execution.js';
import { toStoredResult, type TerminalStatus } from '../domain/feedback.js';
import type { ExecutionPlan } from '../domain/plan.js';
import type { SandboxFile, SandboxRequest, SandboxResult, SandboxRunner } from './sandbox-port.js';

// Runs one job's stored plan, the same way on every host:
//   - a single run: one sandbox runs the compile phase (if any) and the run phase;
//   - test cases: the program is compiled once in a sandbox of its own, which hands back its
//     working directory (the compiled program); then each case runs in a fresh sandbox (new
//     namespaces, filesystem, cgroup and uid) with the run's limits, so nothing one case does
//     (files, processes, shared memory) can reach the next, and no case sees another's input.

export type PlanOutcome =
  | { kind: 'result'; status: TerminalStatus; result: ExecutionResult }
  /** A failure on our side (the sandbox could not be set up): the attempt is retried. */
  | { kind: 'transient'; code: string; message: string }
  /** Aborted (cancel, shutdown, lost lease): the caller decides what it means. */
  | { kind: 'aborted' };

/** What a run tells its watchers while it runs (live/recorder.ts records it). Hidden cases' output never reaches it. */
export interface PlanProgress {
  output(stream: 'stdout' | 'stderr', chunk: Buffer, caseIndex: number | null): void;
  caseStarted(index: number, name: string, hidden: boolean): void;
  caseFinished(index: number, result: CaseResult): void;
}

export interface RunPlanOptions {
  signal: AbortSignal;
  warnings: string[];
  progress?: PlanProgress;
}

function transient(r: SandboxResult): PlanOutcome {
  return { kind: 'transient', code: 'sandbox_error', message: `${r.sandboxErrorStep ?? 'setup'}: ${r.message ?? ''}` };
}

export async function runPlan(job: ExecutionRecord & { plan: ExecutionPlan }, sandbox: SandboxRunner, o: RunPlanOptions): Promise<PlanOutcome> {
  const { plan } = job;
  const source: SandboxFile = { path: plan.sourceFile, content: Buffer.from(job.sourceCode, 'utf8'), executable: false };
  const base = { plan, signal: o.signal };

  if (!plan.testCases) {
    const progress = o.progress;
    const onOutput: SandboxRequest['onOutput'] = progress ? (stream, chunk) => progress.output(stream, chunk, null) : undefined;
    const r = await sandbox.run({ ...base, executionId: job.id, files: [source], phases: plan.compile ? ['compile', 'run'] : ['run'], stdin: plan.stdin, onOutput });
    if (o.signal.aborted) return { kind: 'aborted' };
    if (r.kind === 'sandbox_error') return transient(r);
    r.warnings.push(...o.warnings);
    const stored = toStoredResult(r, plan.run.limits, plan.expectedOutput, plan.comparison);
    return { kind: 'result', status: stored.status, result: { ...stored.result, seccompDigest: r.seccompDigest } };
  }

  let files = [source];
  let compile: { output: string; timeMs: number } | null = null;
  let seccompDigest = '';
  if (plan.compile) {
    const r = await sandbox.run({ ...base, executionId: `${job.id}-c`, files, phases: ['compile'], stdin: '', exportWorkdir: true });
    if (o.signal.aborted) return { kind: 'aborted' };
    if (r.kind === 'sandbox_error') return transient(r);
    seccompDigest = r.seccompDigest;
    if (r.kind !== 'completed' || !r.artifacts) {
      // The program did not compile (or the compiler was stopped by a limit): no case can run.
      r.warnings.push(...o.warnings);
      const stored = toStoredResult(r.kind === 'completed' ? { ...r, kind: 'compile_error' } : r, plan.compile.limits, null, plan.comparison);
      return { kind: 'result', status: stored.status, result: { ...stored.result, seccompDigest } };
    }
    files = r.artifacts;
    compile = r.compile ? { output: r.compile.output, timeMs: r.compile.timeMs } : null;
  }

  const cases: CaseResult[] = [];
  let outputNotUtf8 = false;
  const progress = o.progress;
  for (const [i, tc] of plan.testCases.entries()) {
    progress?.caseStarted(i, tc.name, tc.hidden);
    // A hidden case's output is never passed on: only its verdict is ever shown.
    const onOutput: SandboxRequest['onOutput'] = progress && !tc.hidden ? (stream, chunk) => progress.output(stream, chunk, i) : undefined;
    const r = await sandbox.run({ ...base, executionId: `${job.id}-t${i + 1}`, files, phases: ['run'], stdin: tc.stdin, onOutput });
    if (o.signal.aborted) return { kind: 'aborted' };
    if (r.kind === 'sandbox_error') return transient(r);
    seccompDigest = r.seccompDigest;
    if (!tc.hidden) outputNotUtf8 ||= r.outputNotUtf8;
    const result = caseResult(tc, r, plan.run.limits, plan.comparison);
    progress?.caseFinished(i, result);
    cases.push(result);
  }
  const stored = casesResult(cases, compile, [...o.warnings], outputNotUtf8);
  return { kind: 'result', status: stored.status, result: { ...stored.result, seccompDigest } };
}
