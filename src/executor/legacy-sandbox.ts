// TEMPORARY bridge while src/sandbox grows runSandbox(): runs a SandboxRequest through the
// runners of today (one source file, compile + run in one sandbox, no export).
import type { LanguageProfile } from '../languages/profile.js';
import type { JobRunner } from '../worker/executor.js';
import type { SandboxRequest, SandboxResult, SandboxRunner } from './sandbox-port.js';

export function legacySandbox(runner: JobRunner): SandboxRunner {
  return {
    async run(req: SandboxRequest): Promise<SandboxResult> {
      const { plan } = req;
      const compile = req.phases.includes('compile') && plan.compile ? plan.compile : null;
      const fail = (message: string): SandboxResult => ({
        kind: 'sandbox_error', exitCode: null, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false,
        outputNotUtf8: false, executionTimeMs: 0, cpuTimeMs: null, memoryPeakKb: null, sandboxErrorStep: 'bridge', message, warnings: [],
        artifacts: null, seccompDigest: plan.seccomp.digest,
      });
      if (req.exportWorkdir || req.files.length !== 1 || !req.phases.includes('run')) return fail('the sandbox cannot export a working directory yet');
      const profile = {
        id: plan.language.id, name: plan.language.name, aliases: [], extensions: [], sourceFile: req.files[0]!.path, toolchain: {},
        available: true, missing: [], version: plan.language.version, compile, run: { argv: plan.run.argv }, env: plan.env, binds: plan.binds,
        seccomp: plan.seccomp.name, template: '', limits: { default: plan.run.limits, maximum: plan.run.limits }, entryPoint: null, file: '',
        digest: plan.language.profileDigest, seccompDigest: plan.seccomp.digest,
      } satisfies LanguageProfile;
      const out = await runner.run(
        { executionId: req.executionId, profile, sourceCode: req.files[0]!.content.toString('utf8'), stdin: req.stdin, runLimits: plan.run.limits, compileLimits: compile?.limits ?? null },
        req.signal ?? new AbortController().signal,
      );
      return { ...out, artifacts: null, seccompDigest: plan.seccomp.digest };
    },
    close: () => runner.close(),
  };
}
