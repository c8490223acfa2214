import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { RunOutcome } from '../domain/execution.js';
import { NO_OUTPUT } from '../domain/program-output.js';
import { signalName } from './outcome.js';
import { decodeOutput } from './output.js';
import { FILE_LIMITS, isSafeRelativePath } from './protocol.js';
import type { SandboxFile, SandboxHost, SandboxRequest, SandboxResult } from './request.js';
import { sandboxFailure } from './failure.js';
import { BASE_ENV, WORKDIR } from './spec.js';

export const INSECURE_WARNING = 'codexec ran this program WITHOUT isolation (CODEXEC_INSECURE_ALLOW_UNISOLATED=1): development use only';

// The development host, for when this machine cannot isolate and the operator said so explicitly
// (CODEXEC_INSECURE_ALLOW_UNISOLATED=1): each request runs as the worker's own user in a
// temporary directory (standing in for /work in the plan's commands), with only the wall-clock
// limits and the output caps. No namespaces, cgroups or seccomp: every result carries a warning.

export class UnisolatedHost implements SandboxHost {
  readonly isolated = false;

  async run(req: SandboxRequest): Promise<SandboxResult> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'codexec-unisolated-'));
    const local = (s: string) => (s === WORKDIR || s.startsWith(`${WORKDIR}/`) ? dir + s.slice(WORKDIR.length) : s);
    const env = { ...BASE_ENV, ...req.plan.env, HOME: dir, TMPDIR: dir };
    const opts = { cwd: dir, env, extendEnv: false, reject: false, encoding: 'buffer', stripFinalNewline: false, killSignal: 'SIGKILL', cancelSignal: req.signal } as const;
    let out: RunOutcome = {
      kind: 'completed', ...NO_OUTPUT,
      outputNotUtf8: false, executionTimeMs: 0, cpuTimeMs: null, memoryPeakKb: null, warnings: [INSECURE_WARNING],
    };
    try {
      for (const f of req.files) {
        const file = path.join(dir, f.path);
        await fs.mkdir(path.dirname(file), { recursive: true });
        await fs.writeFile(file, f.content, { mode: f.executable ? 0o755 : 0o644 });
      }
      for (const phase of req.phases) {
        const t0 = Date.now();
        if (phase === 'compile') {
          const c = req.plan.compile;
          if (!c) throw new Error('the plan has no compile phase');
          const [cmd, ...args] = c.argv.map(local);
          const r = await execa(cmd!, args, { ...opts, all: true, timeout: c.limits.wallTimeMs, maxBuffer: c.limits.stdoutBytes, stdin: 'ignore' });
          const ok = r.exitCode === 0 && !r.timedOut;
          out = { ...out, compile: { ok, output: decodeOutput(Buffer.from(r.all ?? []), r.isMaxBuffer).text, timeMs: Date.now() - t0, exitCode: r.exitCode ?? null } };
          if (!ok) return finish({ ...out, kind: r.timedOut ? 'wall_timeout' : 'compile_error', exitCode: r.exitCode ?? null }, null, dir);
          continue;
        }
        const l = req.plan.run.limits;
        const [cmd, ...args] = req.plan.run.argv.map(local);
        const child = execa(cmd!, args, { ...opts, input: req.stdin, timeout: l.wallTimeMs, maxBuffer: { stdout: l.stdoutBytes, stderr: l.stderrBytes } });
        if (req.onOutput) forwardOutput(child, l.stdoutBytes, l.stderrBytes, req.onOutput);
        const r = await child;
        const o = decodeOutput(Buffer.from(r.stdout ?? []), r.isMaxBuffer);
        const e = decodeOutput(Buffer.from(r.stderr ?? []), r.isMaxBuffer);
        out = { ...out, stdout: o.text, stderr: e.text, outputNotUtf8: o.notUtf8 || e.notUtf8, stdoutTruncated: r.isMaxBuffer, executionTimeMs: Date.now() - t0, exitCode: r.exitCode ?? null };
        if (r.timedOut || r.isCanceled) return finish({ ...out, kind: 'wall_timeout' }, null, dir);
        if (r.isMaxBuffer) return finish({ ...out, kind: 'output_limit' }, null, dir);
        if (r.signal) return finish({ ...out, kind: 'runtime_error', signal: signalName(os.constants.signals[r.signal as keyof typeof os.constants.signals] ?? 0) }, null, dir);
        if (r.exitCode !== 0) return finish({ ...out, kind: 'runtime_error' }, null, dir);
      }
      const artifacts = req.exportWorkdir ? await exportDir(dir, req.plan.run.limits.tmpfsBytes) : null;
      return finish(out, artifacts, dir);
    } catch (err) {
      return finish({ ...sandboxFailure(err), warnings: [INSECURE_WARNING] }, null, dir);
    }
  }

  async close(): Promise<void> {}
}

async function finish(outcome: RunOutcome, artifacts: SandboxFile[] | null, dir: string): Promise<SandboxResult> {
  await fs.rm(dir, { recursive: true, force: true });
  return { ...outcome, artifacts, seccompDigest: '' };
}

function forwardOutput(child: ReturnType<typeof execa>, stdoutBytes: number, stderrBytes: number, onOutput: NonNullable<SandboxRequest['onOutput']>): void {
  const left = { stdout: stdoutBytes, stderr: stderrBytes };
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]?.on('data', (chunk: Buffer) => {
      const part = chunk.subarray(0, Math.max(0, left[stream]));
      left[stream] -= part.length;
      if (part.length > 0) onOutput(stream, Buffer.from(part));
    });
  }
}

/** The directory's regular files, with the launcher's bounds; symlinks and special files are skipped. */
async function exportDir(dir: string, maxBytes: number): Promise<SandboxFile[]> {
  const out: SandboxFile[] = [];
  let bytes = 0;
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    const rel = path.relative(dir, full);
    if (!isSafeRelativePath(rel) || out.length >= FILE_LIMITS.files) throw new Error(`cannot export ${JSON.stringify(rel)}: outside the launcher's bounds`);
    const st = await fs.stat(full);
    bytes += st.size;
    if (bytes > maxBytes) throw new Error('the working directory exceeds its size');
    out.push({ path: rel, content: await fs.readFile(full), executable: (st.mode & 0o100) !== 0 });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}
