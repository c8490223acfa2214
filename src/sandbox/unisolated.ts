import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { RunOutcome } from '../domain/execution.js';
import { fillLimits } from '../languages/limit-placeholders.js';
import { programEnv } from './command.js';
import { decodeOutput } from './output.js';
import type { RunRequest } from './run.js';
import { signalName } from './outcome.js';

export const INSECURE_WARNING = 'codexec ran this program WITHOUT isolation (CODEXEC_INSECURE_ALLOW_UNISOLATED=1): development use only';

// Development fallback when the host cannot isolate and the operator said so explicitly: the
// program runs as the worker's user, in a temporary directory, with only a wall-clock limit and
// an output cap. Every result carries a warning. Never used unless CODEXEC_INSECURE_ALLOW_UNISOLATED=1.
export async function runUnisolated(req: RunRequest): Promise<RunOutcome> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'codexec-unisolated-'));
  const env = Object.fromEntries(programEnv({ ...req.profile.env, HOME: dir, TMPDIR: dir }).map((kv) => kv.split(/=(.*)/s, 2) as [string, string]));
  const opts = { cwd: dir, env, extendEnv: false, reject: false, encoding: 'buffer', stripFinalNewline: false, killSignal: 'SIGKILL', cancelSignal: req.signal } as const;
  const base: RunOutcome = {
    kind: 'completed', exitCode: null, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false,
    outputNotUtf8: false, executionTimeMs: 0, cpuTimeMs: null, memoryPeakKb: null, warnings: [INSECURE_WARNING],
  };
  try {
    await fs.writeFile(path.join(dir, req.profile.sourceFile), req.sourceCode);
    if (req.profile.compile && req.compileLimits) {
      const t0 = Date.now();
      const [cmd, ...args] = fillLimits(req.profile.compile.argv, req.compileLimits);
      const c = await execa(cmd!, args, { ...opts, all: true, timeout: req.compileLimits.wallTimeMs, maxBuffer: req.compileLimits.stdoutBytes, stdin: 'ignore' });
      const output = decodeOutput(Buffer.from(c.all ?? []), false).text;
      base.compile = { ok: c.exitCode === 0, output, timeMs: Date.now() - t0, exitCode: c.exitCode ?? null };
      if (c.exitCode !== 0) return { ...base, kind: 'compile_error', exitCode: c.exitCode ?? null };
    }
    const t0 = Date.now();
    const limits = req.runLimits;
    const [cmd, ...args] = fillLimits(req.profile.run.argv, limits);
    const r = await execa(cmd!, args, { ...opts, input: req.stdin, timeout: limits.wallTimeMs, maxBuffer: { stdout: limits.stdoutBytes, stderr: limits.stderrBytes } });
    const out = decodeOutput(Buffer.from(r.stdout ?? []), r.isMaxBuffer);
    const err = decodeOutput(Buffer.from(r.stderr ?? []), r.isMaxBuffer);
    const result: RunOutcome = {
      ...base,
      stdout: out.text, stderr: err.text, outputNotUtf8: out.notUtf8 || err.notUtf8,
      stdoutTruncated: r.isMaxBuffer, stderrTruncated: false, executionTimeMs: Date.now() - t0,
      exitCode: r.exitCode ?? null, signal: r.signal ?? null,
    };
    if (r.timedOut) return { ...result, kind: 'wall_timeout' };
    if (r.isMaxBuffer) return { ...result, kind: 'output_limit' };
    if (r.signal) return { ...result, kind: 'runtime_error', signal: signalName(os.constants.signals[r.signal as keyof typeof os.constants.signals] ?? 0) };
    return { ...result, kind: r.exitCode === 0 ? 'completed' : 'runtime_error' };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
