import { InternalError } from '../../../domain/errors.js';
import type { ExecutionRecord, ExecutionResult } from '../../../domain/execution.js';
import { numericVersion } from '../version.js';
import { pistonNameOf } from './runtimes.js';
import type { ExecuteResponse, Stage } from './schemas.js';

// A finished execution as Piston's answer: a `compile` stage for a compiled language, and a `run`
// stage unless compilation failed (Piston then has no run stage either). codexec keeps stdout and
// stderr apart, so `output` is stdout followed by stderr, and a compile stage's output (one
// stream, merged by the compiler's sandbox) is its stderr. A run stopped by a limit reads as
// Piston's: signal SIGKILL and status TO (time), OL (output) or SG (memory, like a kill).

const KILLED: Record<string, { status: string }> = {
  wall_time_limit: { status: 'TO' },
  cpu_time_limit: { status: 'TO' },
  output_limit: { status: 'OL' },
  memory_limit: { status: 'SG' },
};

function runStage(r: ExecutionResult): Stage {
  const killed = r.failureReason ? KILLED[r.failureReason] : undefined;
  const stage = {
    stdout: r.stdout,
    stderr: r.stderr,
    output: r.stdout + r.stderr,
    cpu_time: r.cpuTimeMs,
    wall_time: r.executionTimeMs,
    memory: r.memoryPeakKb === null ? null : r.memoryPeakKb * 1024,
  };
  if (killed) return { ...stage, code: null, signal: 'SIGKILL', status: killed.status, message: r.feedback };
  if (r.signal) return { ...stage, code: null, signal: r.signal, status: 'SG', message: r.feedback };
  if (r.exitCode !== null && r.exitCode !== 0) return { ...stage, code: r.exitCode, signal: null, status: 'RE', message: r.feedback };
  return { ...stage, code: r.exitCode ?? 0, signal: null, status: null, message: null };
}

function compileStage(r: ExecutionResult): Stage {
  const output = r.compileOutput ?? '';
  const stage = { stdout: '', stderr: output, output, cpu_time: null, wall_time: r.compileTimeMs, memory: null };
  if (r.failureReason !== 'compile_error') return { ...stage, code: 0, signal: null, status: null, message: null };
  if (r.exitCode !== null) return { ...stage, code: r.exitCode, signal: null, status: 'RE', message: r.feedback };
  return { ...stage, code: null, signal: 'SIGKILL', status: 'TO', message: r.feedback };
}

/** The answer of POST /api/v2/execute for a terminal execution. */
export function pistonAnswer(e: ExecutionRecord): ExecuteResponse {
  const r = e.result;
  if (!r || r.failureReason === 'internal_error' || r.failureReason === 'sandbox_error' || r.failureReason === 'canceled') {
    // Nothing the program did: codexec could not run it (or it was canceled by someone else).
    throw new InternalError(`the run could not be completed (${r?.failureReason ?? 'no result'}); retry`);
  }
  const answer: ExecuteResponse = { language: pistonNameOf(e.language), version: numericVersion(e.plan?.language.version ?? null) };
  if (e.plan?.compile) answer.compile = compileStage(r);
  if (r.failureReason !== 'compile_error') answer.run = runStage(r);
  return answer;
}
