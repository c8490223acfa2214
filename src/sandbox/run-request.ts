import type { RunOutcome } from '../domain/execution.js';
import type { Limits } from '../domain/limits.js';
import { PLAN_VERSION, type ExecutionPlan } from '../domain/plan.js';
import { detectEntryPoint } from '../languages/entry-point.js';
import { fillPlaceholders } from '../languages/placeholders.js';
import type { LanguageProfile } from '../languages/profile.js';
import type { SandboxHost } from './request.js';
import { runSandbox } from './run.js';

// A shortcut for tests and benchmarks (test/languages, test/security, bench/): a language profile,
// one source file and one stdin, planned here the way executions/plan.ts plans them, run through
// runSandbox. Production never comes here: the executor runs each job's stored plan through
// runSandbox (executor/run-plan.ts).

export interface RunRequest {
  executionId: string;
  profile: LanguageProfile;
  sourceCode: string;
  stdin: string;
  runLimits: Limits;
  compileLimits: Limits | null;
  /** Aborting kills the execution at once (shutdown hand-back, lost lease). */
  signal?: AbortSignal;
}

/** Run one execution in a fresh sandbox and say how it ended. Never throws for the program's behaviour. */
export async function runInSandbox(host: SandboxHost, req: RunRequest): Promise<RunOutcome> {
  const { profile } = req;
  // As executions/plan.ts plans it (the layer above: not imported here).
  const fallback = { sourceFile: profile.sourceFile, mainClass: profile.sourceFile.replace(/\.[^.]+$/, '') };
  const entry = profile.entryPoint ? detectEntryPoint(profile.entryPoint.detect, req.sourceCode, fallback) : fallback;
  const fill = (argv: string[], limits: Limits) => fillPlaceholders(argv, { limits, ...entry });
  const compile = profile.compile && req.compileLimits ? { argv: fill(profile.compile.argv, req.compileLimits), limits: req.compileLimits } : null;
  const plan: ExecutionPlan = {
    version: PLAN_VERSION,
    language: { id: profile.id, name: profile.name, version: profile.version, profileDigest: '' },
    sourceFile: entry.sourceFile,
    compile,
    run: { argv: fill(profile.run.argv, req.runLimits), limits: req.runLimits },
    env: profile.env,
    binds: profile.binds,
    seccomp: { name: profile.seccomp, digest: '' },
    stdin: req.stdin,
    expectedOutput: null,
    testCases: null,
    comparison: 'trailing_whitespace',
  };
  const { artifacts: _artifacts, seccompDigest: _digest, ...outcome } = await runSandbox(host, {
    executionId: req.executionId,
    plan,
    files: [{ path: entry.sourceFile, content: Buffer.from(req.sourceCode, 'utf8'), executable: false }],
    phases: compile ? ['compile', 'run'] : ['run'],
    stdin: req.stdin,
    signal: req.signal,
  });
  return outcome;
}
